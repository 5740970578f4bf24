"""Cancellable sockets: the stdlib ``socket`` module with blocking calls swapped.

Every name of the stdlib module is here.  :class:`socket` subclasses
``socket.socket`` (so ``isinstance`` checks and stdlib code that takes a
socket keep working) and overrides each blocking method.  ``socketpair``,
``fromfd``, ``create_connection``, ``create_server`` and ``accept`` return
this class; ``getaddrinfo`` and the other resolver calls are cancellable.

Mechanism: the OS socket is always non-blocking.  A call first tries the
system call in the calling thread (the fast path: data already there, room
in the send buffer).  Only on ``EAGAIN`` does it wait, in
:func:`thredo._fdwait.wait_fd`, for readiness, the socket's own timeout, or
the thread's cancellation or ``timeout_after`` deadline.  The user-visible
timeout (``settimeout``/``setblocking``/``gettimeout``) is kept apart and
behaves as the stdlib's: ``None`` blocks, ``0.0`` raises
``BlockingIOError``, a number raises ``TimeoutError`` when it passes.  In a
plain thread nothing can cancel the wait, so the socket behaves exactly like
a stdlib one.

What a cancel (or timeout) leaves behind:

* ``recv*``/``accept``: nothing was consumed; the socket is usable.
* ``send``/``sendto``/``sendmsg``: nothing was sent.
* ``sendall``/``sendfile``: the exception's ``bytes_sent`` says how much
  went out; the socket is usable.
* ``connect``: the connection attempt is abandoned; close the socket.

Once a recv has had to wait, the socket's later recvs wait for readiness
before trying: in request/response traffic the next recv would almost surely
fail with ``EAGAIN``, and skipping it saves a system call, a GIL hand-off and
a ``BlockingIOError`` per message (PERF-NOTES: skip the doomed ``recv``;
measured on the echo benchmark: 6.8 -> 3 system calls per round trip).  When
data is flowing, the extra ``poll`` returns at once.
"""

from __future__ import annotations

import _socket
import errno as _errno
import io as _io
import ipaddress as _ipaddress
import os as _os
import socket as _stdsocket
import sys as _sys
from socket import *  # noqa: F403
from typing import Any

from .._fdwait import POLLIN as _IN
from .._fdwait import POLLOUT as _OUT
from .._fdwait import wait_fd as _wait_fd
from .._wait import current_state as _current_state
from ._usertimeout import UserTimeout
from ._worker import run_in_worker as _run_in_worker

__all__ = [*_stdsocket.__all__, "getaddrinfo", "getnameinfo", "gethostbyname"]
__all__ = sorted(set(__all__))

_base = _stdsocket.socket
_recv = _socket.socket.recv
_recv_into = _socket.socket.recv_into
_send = _socket.socket.send
_set_os_timeout = _socket.socket.settimeout
_get_os_timeout = _socket.socket.gettimeout
# A plain int: `flags & MsgFlag` costs ~0.7 us, `flags & int` ~14 ns (measured).
_DONTWAIT = int(getattr(_stdsocket, "MSG_DONTWAIT", 0))


class socket(UserTimeout, _base):
    """A ``socket.socket`` whose blocking calls are cancellable in thredo threads."""

    __slots__ = ("_tmo", "_pollfirst")

    def __init__(
        self, family: int = -1, type: int = -1, proto: int = -1, fileno: int | None = None
    ) -> None:
        super().__init__(family, type, proto, fileno)
        self._tmo: float | None = _get_os_timeout(self)
        self._pollfirst = False  # a recv had to wait: wait before trying the next
        _set_os_timeout(self, 0.0)

    # -- the wait (timeout semantics: _usertimeout.UserTimeout) -------------------

    def _retry(
        self, op: Any, events: int, *args: Any, flags: int = 0, wait_first: bool = False
    ) -> Any:
        """Call ``op(self, *args)`` until it does not raise BlockingIOError.

        ``flags`` (the call's MSG_* flags): MSG_DONTWAIT means one try, as
        on a non-blocking socket.  ``wait_first``: the caller just got
        EAGAIN, so wait for readiness before trying again.
        """
        if self._tmo == 0.0 or flags & _DONTWAIT:
            return op(self, *args)
        endtime = self._endtime()
        if wait_first:
            self._wait(events, endtime)
        while True:
            try:
                return op(self, *args)
            except BlockingIOError:
                pass
            self._wait(events, endtime)

    # -- receiving -------------------------------------------------------------

    def recv(self, bufsize: int, flags: int = 0) -> bytes:
        if self._pollfirst and self._tmo is None and not flags:
            _wait_fd(self.fileno(), _IN, None, self)
        try:
            return _recv(self, bufsize, flags)
        except BlockingIOError:
            if self._tmo == 0.0 or flags & _DONTWAIT:
                raise
        self._pollfirst = True
        return self._retry(_recv, _IN, bufsize, flags, wait_first=True)  # type: ignore[no-any-return]

    def recv_into(self, buffer: Any, nbytes: int = 0, flags: int = 0) -> int:
        if self._pollfirst and self._tmo is None and not flags:
            _wait_fd(self.fileno(), _IN, None, self)
        try:
            return _recv_into(self, buffer, nbytes, flags)
        except BlockingIOError:
            if self._tmo == 0.0 or flags & _DONTWAIT:
                raise
        self._pollfirst = True
        return self._retry(_recv_into, _IN, buffer, nbytes, flags, wait_first=True)  # type: ignore[no-any-return]

    def recvfrom(self, bufsize: int, flags: int = 0) -> tuple[bytes, Any]:
        return self._retry(_socket.socket.recvfrom, _IN, bufsize, flags, flags=flags)  # type: ignore[no-any-return]

    def recvfrom_into(self, buffer: Any, nbytes: int = 0, flags: int = 0) -> tuple[int, Any]:
        return self._retry(_socket.socket.recvfrom_into, _IN, buffer, nbytes, flags, flags=flags)  # type: ignore[no-any-return]

    if hasattr(_base, "recvmsg"):

        def recvmsg(self, bufsize: int, ancbufsize: int = 0, flags: int = 0) -> Any:
            return self._retry(_socket.socket.recvmsg, _IN, bufsize, ancbufsize, flags, flags=flags)

        def recvmsg_into(self, buffers: Any, ancbufsize: int = 0, flags: int = 0) -> Any:
            return self._retry(
                _socket.socket.recvmsg_into, _IN, buffers, ancbufsize, flags, flags=flags
            )

    # -- sending ---------------------------------------------------------------

    def send(self, data: Any, flags: int = 0) -> int:
        try:
            return _send(self, data, flags)
        except BlockingIOError:
            if self._tmo == 0.0 or flags & _DONTWAIT:
                raise
        return self._retry(_send, _OUT, data, flags, wait_first=True)  # type: ignore[no-any-return]

    def sendto(self, data: Any, *args: Any) -> int:
        flags = args[0] if len(args) == 2 else 0
        return self._retry(_socket.socket.sendto, _OUT, data, *args, flags=flags)  # type: ignore[no-any-return]

    if hasattr(_base, "sendmsg"):

        def sendmsg(
            self, buffers: Any, ancdata: Any = (), flags: int = 0, address: Any = None
        ) -> int:
            args = (
                (buffers, ancdata, flags) if address is None else (buffers, ancdata, flags, address)
            )
            return self._retry(_socket.socket.sendmsg, _OUT, *args, flags=flags)  # type: ignore[no-any-return]

    def sendall(self, data: Any, flags: int = 0) -> None:
        """Send all of ``data``.  On cancel or timeout, ``e.bytes_sent`` is what went out."""
        nowait = self._tmo == 0.0 or flags & _DONTWAIT
        sent = 0
        if type(data) is bytes:  # fast path: it usually all fits in the send buffer
            try:
                sent = _send(self, data, flags)
            except BlockingIOError:
                if nowait:
                    raise
            if sent == len(data):
                return
        with memoryview(data) as view, view.cast("B") as mv:
            total = len(mv)
            endtime = self._endtime()
            try:
                while sent < total:
                    try:
                        sent += _send(self, mv[sent:], flags)
                    except BlockingIOError:
                        if nowait:
                            raise
                        self._wait(_OUT, endtime)
            except BaseException as e:
                e.bytes_sent = sent  # type: ignore[attr-defined]
                raise

    def sendfile(self, file: Any, offset: int = 0, count: int | None = None) -> int:
        """``socket.sendfile`` (zero-copy when possible).  ``e.bytes_sent`` on cancel."""
        self._check_sendfile_params(file, offset, count)  # type: ignore[attr-defined]
        if self._tmo == 0.0:
            raise ValueError("non-blocking sockets are not supported")
        try:
            fileno = file.fileno()
            fsize = _os.fstat(fileno).st_size
        except (AttributeError, _io.UnsupportedOperation, OSError):
            return self._sendfile_use_send(file, offset, count)  # type: ignore[attr-defined,no-any-return]
        if not fsize:
            return 0
        blocksize = min(count or fsize, 2**30)
        endtime = self._endtime()
        sent = 0
        try:
            while True:
                if count:
                    blocksize = min(count - sent, blocksize)
                    if blocksize <= 0:
                        break
                try:
                    n = _os.sendfile(self.fileno(), fileno, offset + sent, blocksize)
                except BlockingIOError:
                    self._wait(_OUT, endtime)
                    continue
                if n == 0:
                    break
                sent += n
            return sent
        except BaseException as e:
            e.bytes_sent = sent  # type: ignore[attr-defined]
            raise
        finally:
            if sent > 0 and hasattr(file, "seek"):
                file.seek(offset + sent)

    # -- connections ----------------------------------------------------------

    def accept(self) -> tuple[socket, Any]:
        fd, addr = self._retry(_base._accept, _IN)  # type: ignore[attr-defined]
        sock = socket(self.family, self.type, self.proto, fileno=fd)
        if getdefaulttimeout() is None and self._tmo:  # noqa: F405
            sock.setblocking(True)
        return sock, addr

    def connect(self, address: Any) -> None:
        err = _socket.socket.connect_ex(self, address)
        if err in (_errno.EINPROGRESS, _errno.EAGAIN, _errno.EALREADY) and self._tmo != 0.0:
            self._wait(_OUT, self._endtime())  # TimeoutError when the timeout passes
            err = self.getsockopt(SOL_SOCKET, SO_ERROR)
        elif err == _errno.EINPROGRESS:
            raise BlockingIOError(err, _os.strerror(err))
        if err:
            raise OSError(err, _os.strerror(err))

    def connect_ex(self, address: Any) -> int:
        err = _socket.socket.connect_ex(self, address)
        if err not in (_errno.EINPROGRESS, _errno.EAGAIN, _errno.EALREADY) or self._tmo == 0.0:
            return err
        try:
            self._wait(_OUT, self._endtime())
        except TimeoutError:
            return _errno.EAGAIN  # what the stdlib's connect_ex returns on timeout
        return self.getsockopt(SOL_SOCKET, SO_ERROR)  # noqa: F405

    # -- the rest ------------------------------------------------------------

    def dup(self) -> socket:
        sock = socket(self.family, self.type, self.proto, fileno=_os.dup(self.fileno()))
        sock.settimeout(self._tmo)
        return sock

    def detach(self) -> int:
        if self._tmo != 0.0 and self.fileno() >= 0:
            _os.set_blocking(self.fileno(), True)  # hand back a plain blocking fd
        return super().detach()

    def as_stream(self) -> Any:
        """This socket as a :class:`thredo.net.SocketStream`."""
        from ._streams import SocketStream

        return SocketStream(self)


SocketType = socket


def fromfd(fd: int, family: int, type: int, proto: int = 0) -> socket:
    return socket(family, type, proto, _os.dup(fd))


def socketpair(
    family: int | None = None, type: int = SOCK_STREAM, proto: int = 0
) -> tuple[socket, socket]:  # noqa: F405
    if family is None:
        family = AF_UNIX if hasattr(_stdsocket, "AF_UNIX") else AF_INET  # noqa: F405
    a, b = _socket.socketpair(family, type, proto)
    return socket(family, type, proto, a.detach()), socket(family, type, proto, b.detach())


# -- resolver: cancellable (the lookup runs in a worker thread) --------------


def _is_literal(host: Any) -> bool:
    if host is None or host == "":
        return True
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    try:
        _ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    return True


def getaddrinfo(
    host: Any, port: Any, family: int = 0, type: int = 0, proto: int = 0, flags: int = 0
) -> Any:
    if _is_literal(host) or _current_state() is None:
        return _stdsocket.getaddrinfo(host, port, family, type, proto, flags)
    return _run_in_worker(_stdsocket.getaddrinfo, host, port, family, type, proto, flags)


def _resolver(name: str) -> Any:
    func = getattr(_stdsocket, name)

    def call(*args: Any) -> Any:
        if _current_state() is None:
            return func(*args)
        return _run_in_worker(func, *args)

    call.__name__ = call.__qualname__ = name
    call.__doc__ = f"``socket.{name}``, cancellable in thredo threads (runs in a worker thread)."
    return call


gethostbyname = _resolver("gethostbyname")
gethostbyname_ex = _resolver("gethostbyname_ex")
gethostbyaddr = _resolver("gethostbyaddr")
getnameinfo = _resolver("getnameinfo")
getfqdn = _resolver("getfqdn")


# -- helpers that build connected or listening sockets ------------------------


def create_connection(
    address: tuple[str, int],
    timeout: Any = _stdsocket._GLOBAL_DEFAULT_TIMEOUT,  # type: ignore[attr-defined]
    source_address: Any = None,
    *,
    all_errors: bool = False,
) -> socket:
    """``socket.create_connection`` with a cancellable resolve and connect."""
    host, port = address
    exceptions: list[OSError] = []
    for af, socktype, proto, _canonname, sa in getaddrinfo(host, port, 0, SOCK_STREAM):  # noqa: F405
        sock = None
        try:
            sock = socket(af, socktype, proto)
            if timeout is not _stdsocket._GLOBAL_DEFAULT_TIMEOUT:  # type: ignore[attr-defined]
                sock.settimeout(timeout)
            if source_address:
                sock.bind(source_address)
            sock.connect(sa)
            exceptions.clear()
            return sock
        except OSError as exc:
            exceptions.append(exc)
            if sock is not None:
                sock.close()
        except BaseException:
            if sock is not None:
                sock.close()
            raise
    if exceptions:
        try:
            if not all_errors:
                raise exceptions[0]
            if _sys.version_info >= (3, 11):
                raise ExceptionGroup("create_connection failed", exceptions)  # noqa: F821
            raise exceptions[0]
        finally:
            exceptions.clear()
    raise OSError("getaddrinfo returns an empty list")


def create_server(
    address: Any,
    *,
    family: int = AF_INET,  # noqa: F405
    backlog: int | None = None,
    reuse_port: bool = False,
    dualstack_ipv6: bool = False,
) -> socket:
    """``socket.create_server``, returning a thredo socket."""
    sock = _stdsocket.create_server(
        address,
        family=family,
        backlog=backlog,
        reuse_port=reuse_port,
        dualstack_ipv6=dualstack_ipv6,
    )
    timeout = sock.gettimeout()
    new = socket(sock.family, sock.type, sock.proto, sock.detach())
    new.settimeout(timeout)
    return new
