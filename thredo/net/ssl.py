"""Cancellable TLS: the stdlib ``ssl`` module with a cancellable SSLSocket.

Every name of the stdlib module is here.  :class:`SSLSocket` subclasses
``ssl.SSLSocket``: the OS socket (and the C-level socket timeout the TLS
engine looks at) stays non-blocking, and each handshake, read, write,
``sendall`` and ``unwrap`` retries on ``SSLWantReadError`` /
``SSLWantWriteError`` after waiting for the socket in
:func:`thredo._fdwait.wait_fd` -- so it is cancellable and obeys
``timeout_after`` in a thredo thread, while the user-visible timeout
(``settimeout``) behaves as the stdlib's.  A peer that stalls the handshake
blocks only its own thread, and that thread can be cancelled.

:class:`SSLContext` makes these sockets; :func:`wrap` wraps a socket with
*any* ``SSLContext`` (the stdlib's included) this way, which is what
``tcp_server(ssl=...)`` and ``open_connection(ssl=...)`` use.
Certificate verification is on by default for clients, as in the stdlib.
"""

from __future__ import annotations

import _socket
import errno as _errno
import os as _os
import ssl as _stdssl
from socket import SO_ERROR as _SO_ERROR
from socket import SOL_SOCKET as _SOL_SOCKET
from ssl import *  # noqa: F403
from typing import Any

from .._fdwait import POLLIN as _IN
from .._fdwait import POLLOUT as _OUT
from . import socket as _tsocket
from ._usertimeout import UserTimeout

__all__ = sorted({*(n for n in dir(_stdssl) if not n.startswith("_")), "wrap"})


class SSLSocket(UserTimeout, _stdssl.SSLSocket):
    """An ``ssl.SSLSocket`` whose blocking calls are cancellable in thredo threads."""

    _tmo: float | None = None  # see _usertimeout.UserTimeout

    def _retry(self, events: int, op: Any, *args: Any) -> Any:
        """``op(*args)`` until it stops asking to wait; ``events`` for BlockingIOError."""
        if self._tmo == 0.0:
            return op(*args)
        endtime = self._endtime()
        while True:
            try:
                return op(*args)
            except SSLWantReadError:  # noqa: F405
                self._wait(_IN, endtime)
            except SSLWantWriteError:  # noqa: F405
                self._wait(_OUT, endtime)
            except BlockingIOError:
                self._wait(events, endtime)

    # -- TLS ---------------------------------------------------------------

    def do_handshake(self, block: bool = False) -> None:
        self._check_connected()  # type: ignore[attr-defined]
        self._retry(_IN, self._sslobj.do_handshake)  # type: ignore[attr-defined]

    def read(self, len: int = 1024, buffer: Any = None) -> Any:
        return self._retry(_IN, super().read, len, buffer)

    def write(self, data: Any) -> int:
        return self._retry(_OUT, super().write, data)  # type: ignore[no-any-return]

    def recv(self, buflen: int = 1024, flags: int = 0) -> bytes:
        return self._retry(_IN, super().recv, buflen, flags)  # type: ignore[no-any-return]

    def recv_into(self, buffer: Any, nbytes: int | None = None, flags: int = 0) -> int:
        return self._retry(_IN, super().recv_into, buffer, nbytes, flags)  # type: ignore[no-any-return]

    def send(self, data: Any, flags: int = 0) -> int:
        return self._retry(_OUT, super().send, data, flags)  # type: ignore[no-any-return]

    def sendall(self, data: Any, flags: int = 0) -> None:
        """Send all of ``data``.  On cancel or timeout, ``e.bytes_sent`` is what went out."""
        sent = 0
        with memoryview(data) as view, view.cast("B") as mv:
            try:
                while sent < len(mv):
                    sent += self.send(mv[sent:], flags)
            except BaseException as e:
                e.bytes_sent = sent  # type: ignore[attr-defined]
                raise

    def unwrap(self) -> Any:
        if not self._sslobj:  # type: ignore[attr-defined]
            raise ValueError("No SSL wrapper around " + str(self))
        s = self._retry(_IN, self._sslobj.shutdown)  # type: ignore[attr-defined]
        self._sslobj = None
        return s

    # -- connections -----------------------------------------------------------

    def accept(self) -> tuple[SSLSocket, Any]:
        fd, addr = self._retry(_IN, self._accept)  # type: ignore[attr-defined]
        sock = _tsocket.socket(self.family, self.type, self.proto, fileno=fd)
        new = wrap(
            sock,
            self.context,
            server_side=True,
            do_handshake_on_connect=self.do_handshake_on_connect,
            suppress_ragged_eofs=self.suppress_ragged_eofs,
        )
        return new, addr

    def _real_connect(self, addr: Any, connect_ex: bool) -> int | None:
        if self.server_side:
            raise ValueError("can't connect in server-side mode")
        if self._connected or self._sslobj is not None:  # type: ignore[has-type]
            raise ValueError("attempt to connect already-connected SSLSocket!")
        self._sslobj = self.context._wrap_socket(  # type: ignore[attr-defined]
            self, False, self.server_hostname, owner=self, session=self._session
        )
        try:
            err = _socket.socket.connect_ex(self, addr)
            if err in (_errno.EINPROGRESS, _errno.EAGAIN) and self._tmo != 0.0:
                self._wait(_OUT, self._endtime())
                err = self.getsockopt(_SOL_SOCKET, _SO_ERROR)
            if err:
                if connect_ex:
                    return err
                raise OSError(err, _os.strerror(err))
            self._connected = True
            if self.do_handshake_on_connect:
                self.do_handshake()
            return 0 if connect_ex else None
        except (OSError, ValueError):
            self._sslobj = None
            raise


class SSLContext(_stdssl.SSLContext):
    """An ``ssl.SSLContext`` whose ``wrap_socket`` makes cancellable sockets."""

    sslsocket_class = SSLSocket

    def wrap_socket(self, sock: Any, *args: Any, **kwargs: Any) -> SSLSocket:  # type: ignore[override]
        names = (
            "server_side",
            "do_handshake_on_connect",
            "suppress_ragged_eofs",
            "server_hostname",
            "session",
        )
        kwargs.update(zip(names, args, strict=False))
        return wrap(sock, self, **kwargs)


def wrap(sock: Any, context: Any, **kwargs: Any) -> SSLSocket:
    """Wrap ``sock`` with ``context`` (any ``ssl.SSLContext``) as a cancellable SSLSocket.

    Takes ``wrap_socket``'s keyword arguments (``server_side``,
    ``server_hostname``, ``do_handshake_on_connect``, ...).
    """
    handshake = kwargs.pop("do_handshake_on_connect", True)
    # The stdlib's _create closes the new socket only on OSError/ValueError;
    # a cancel in the handshake would leave the detached fd open until GC.
    tls = SSLSocket._create(sock=sock, context=context, do_handshake_on_connect=False, **kwargs)
    tls.do_handshake_on_connect = handshake
    if handshake and tls._connected:
        try:
            tls.do_handshake()
        except BaseException:
            tls.close()
            raise
    return tls  # type: ignore[no-any-return]


def create_default_context(
    purpose: Any = Purpose.SERVER_AUTH,  # noqa: F405
    *,
    cafile: Any = None,
    capath: Any = None,
    cadata: Any = None,
) -> SSLContext:
    """``ssl.create_default_context``, returning a thredo :class:`SSLContext`."""
    ctx = _stdssl.create_default_context(purpose, cafile=cafile, capath=capath, cadata=cadata)
    ctx.__class__ = SSLContext  # same layout: only wrap_socket's socket class changes
    return ctx  # type: ignore[return-value]
