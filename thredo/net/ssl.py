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

Cancellation points: as for plain thredo sockets (``thredo.net.socket``),
every call that may block -- ``do_handshake``, ``read``/``recv*``,
``write``/``send``/``sendall``, ``unwrap``, ``accept``, ``connect`` and the
reads and writes of ``makefile()`` objects -- raises a pending cancel or an
expired ``timeout_after`` deadline before doing its work, even when it
would not wait; decrypted data already buffered stays buffered for the next
call.  On a non-blocking socket (timeout ``0.0``) nothing is a point.

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
from typing import TYPE_CHECKING, Any

from .._fdwait import POLLIN as _IN
from .._fdwait import POLLOUT as _OUT
from .._wait import checkpoint as _checkpoint
from . import socket as _tsocket
from ._usertimeout import UserTimeout

# Every name of the stdlib module, then ours; for type checkers the star
# import comes last (see thredo/net/socket.py).
if not TYPE_CHECKING:
    from ssl import *  # noqa: F403

__all__ = sorted({*(n for n in dir(_stdssl) if not n.startswith("_")), "wrap"})


class SSLSocket(UserTimeout, _stdssl.SSLSocket):
    """An ``ssl.SSLSocket`` whose blocking calls are cancellable in thredo threads.

    Differences from the stdlib class (in thredo threads; in a plain thread
    it behaves as the stdlib's): each call that may block is a cancellation
    point, is cancellable while it waits and obeys ``timeout_after``;
    ``sendall`` reports ``bytes_sent`` on the exception; ``accept`` returns
    thredo TLS sockets; made by :class:`SSLContext` or :func:`wrap`.
    """

    _tmo: float | None = None  # see _usertimeout.UserTimeout
    _nb = False

    def _retry(self, events: int, call: str, op: Any, *args: Any) -> Any:
        """A cancellation point, then ``op(*args)`` until it stops asking to wait.

        ``events`` is what to wait for on BlockingIOError; ``call`` names
        the call in ``Thread.blocked_on``.
        """
        if self._nb:
            return op(*args)
        _checkpoint()
        endtime = self._endtime()
        while True:
            try:
                return op(*args)
            except SSLWantReadError:  # noqa: F405
                self._wait(_IN, call, endtime)
            except SSLWantWriteError:  # noqa: F405
                self._wait(_OUT, call, endtime)
            except BlockingIOError:
                self._wait(events, call, endtime)

    # -- TLS ---------------------------------------------------------------

    def do_handshake(self, block: bool = False) -> None:
        """As ``SSLSocket.do_handshake``; a cancellation point, cancellable while it waits."""
        self._check_connected()  # type: ignore[attr-defined]
        self._retry(_IN, "do_handshake", self._sslobj.do_handshake)  # type: ignore[attr-defined]

    def read(self, len: int = 1024, buffer: Any = None) -> Any:
        """As ``SSLSocket.read``; a cancellation point; consumes nothing if it raises."""
        return self._retry(_IN, "read", super().read, len, buffer)

    def write(self, data: Any) -> int:
        """As ``SSLSocket.write``; a cancellation point; sends nothing if it raises."""
        return self._retry(_OUT, "write", super().write, data)  # type: ignore[no-any-return]

    def recv(self, buflen: int = 1024, flags: int = 0) -> bytes:
        """As ``SSLSocket.recv``; a cancellation point; consumes nothing if it raises."""
        if self._sslobj is not None and not flags:  # type: ignore[has-type]
            # The stdlib's recv calls self.read: skip our read's second retry loop.
            return self._retry(_IN, "recv", super().read, buflen)  # type: ignore[no-any-return]
        return self._retry(_IN, "recv", super().recv, buflen, flags)  # type: ignore[no-any-return]

    def recv_into(self, buffer: Any, nbytes: int | None = None, flags: int = 0) -> int:
        """As ``SSLSocket.recv_into``; a cancellation point; consumes nothing if it raises."""
        if self._sslobj is not None and not flags and buffer is not None:  # type: ignore[has-type]
            if nbytes is None:  # as the stdlib: the buffer's size, 1024 for an empty one
                with memoryview(buffer) as view:
                    nbytes = view.nbytes or 1024
            return self._retry(_IN, "recv_into", super().read, nbytes, buffer)  # type: ignore[no-any-return]
        return self._retry(_IN, "recv_into", super().recv_into, buffer, nbytes, flags)  # type: ignore[no-any-return]

    def send(self, data: Any, flags: int = 0) -> int:
        """As ``SSLSocket.send``; a cancellation point; sends nothing if it raises."""
        return self._retry(_OUT, "send", super().send, data, flags)  # type: ignore[no-any-return]

    def sendall(self, data: Any, flags: int = 0) -> None:
        """As ``SSLSocket.sendall``; a cancellation point before each record it writes.

        Raises:
            The thread's cancellation or deadline, ``TimeoutError`` or an
            ``OSError``, each with ``bytes_sent``: how much of ``data`` went out.
        """
        sent = 0
        with memoryview(data) as view, view.cast("B") as mv:
            try:
                while sent < len(mv):
                    sent += self.send(mv[sent:], flags)
            except BaseException as e:
                e.bytes_sent = sent  # type: ignore[attr-defined]
                raise

    def unwrap(self) -> Any:
        """As ``SSLSocket.unwrap``; a cancellation point, cancellable while it waits.

        Returns the plain socket (a thredo socket when this one was made
        from one).
        """
        if not self._sslobj:  # type: ignore[attr-defined]
            raise ValueError("No SSL wrapper around " + str(self))
        s = self._retry(_IN, "unwrap", self._sslobj.shutdown)  # type: ignore[attr-defined]
        self._sslobj = None
        return s

    makefile = _tsocket.socket.makefile  # reads and writes are cancellation points

    # -- connections -----------------------------------------------------------

    def accept(self) -> tuple[SSLSocket, Any]:
        """As ``SSLSocket.accept``, returning a thredo TLS socket; a cancellation point."""
        fd, addr = self._retry(_IN, "accept", self._accept)  # type: ignore[attr-defined]
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
        if self._tmo != 0.0:
            _checkpoint()  # connect() and connect_ex() are cancellation points
        self._sslobj = self.context._wrap_socket(  # type: ignore[attr-defined]
            self, False, self.server_hostname, owner=self, session=self._session
        )
        try:
            err = _socket.socket.connect_ex(self, addr)
            if err in (_errno.EINPROGRESS, _errno.EAGAIN) and self._tmo != 0.0:
                self._wait(_OUT, "connect", self._endtime())
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
    """An ``ssl.SSLContext`` whose ``wrap_socket`` makes thredo :class:`SSLSocket` objects."""

    sslsocket_class = SSLSocket

    def wrap_socket(self, sock: Any, *args: Any, **kwargs: Any) -> SSLSocket:  # type: ignore[override]
        """As ``SSLContext.wrap_socket``, returning a thredo :class:`SSLSocket` (:func:`wrap`)."""
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

    No stdlib namesake: ``context.wrap_socket(sock, ...)`` for a context
    that is not a thredo :class:`SSLContext`.  Takes ``wrap_socket``'s
    keyword arguments (``server_side``, ``server_hostname``,
    ``do_handshake_on_connect``, ...).  Unlike the stdlib, a handshake that
    fails or is cancelled closes the new socket at once (not at garbage
    collection).
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
    """As ``ssl.create_default_context``, returning a thredo :class:`SSLContext`."""
    ctx = _stdssl.create_default_context(purpose, cafile=cafile, capath=capath, cadata=cadata)
    ctx.__class__ = SSLContext  # same layout: only wrap_socket's socket class changes
    return ctx  # type: ignore[return-value]


if TYPE_CHECKING:
    from ssl import *  # noqa: F403  # see the import at the top
