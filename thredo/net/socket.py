"""Cancellable sockets: the stdlib ``socket`` module with blocking calls swapped.

Every name of the stdlib module is here.  :class:`socket` subclasses
``socket.socket`` (so ``isinstance`` checks and stdlib code that takes a
socket keep working) and overrides each blocking method.  ``socketpair``,
``fromfd``, ``create_connection``, ``create_server`` and ``accept`` return
this class; ``getaddrinfo`` and the other resolver calls are cancellable.

Mechanism: the OS socket is always non-blocking.  A call first tries the
system call in the calling thread (the fast path: data already there, room
in the send buffer).  Only on ``EAGAIN`` does it wait, in
:func:`thredo._core.wait_fd`, for readiness, the socket's own timeout, or
the thread's cancellation or ``timeout_after`` deadline.  The user-visible
timeout (``settimeout``/``setblocking``/``gettimeout``) is kept apart and
behaves as the stdlib's: ``None`` blocks, ``0.0`` raises
``BlockingIOError``, a number raises ``TimeoutError`` when it passes.  In a
plain thread nothing can cancel the wait, so the socket behaves exactly like
a stdlib one.

Cancellation points.  In a thredo thread every call that may block --
``recv*``, ``send*``, ``sendall``, ``sendfile``, ``accept``, ``connect``,
``connect_ex``, and the reads and writes of ``makefile()`` objects -- first
raises a pending cancel or an expired ``timeout_after`` deadline, *before*
doing any work and even when it would not have to wait (so a thread
streaming to a fast peer is still cancelled and timed out).  ``sendall`` and
``sendfile`` are points again between their partial sends.  A call on a
non-blocking socket (timeout ``0.0``, or ``MSG_DONTWAIT``) never blocks, so
it is not a point: it behaves exactly as the stdlib's.

What a cancel (or timeout) leaves behind:

* ``recv*``/``accept``: nothing was consumed; the socket is usable.  (A
  recv that is a point raises before reading, so no byte is taken off the
  socket and dropped.)
* ``send``/``sendto``/``sendmsg``: nothing was sent.
* ``sendall``/``sendfile``: the exception's ``bytes_sent`` says how much
  went out (0 when the call raised at its start); the socket is usable.
* ``connect``: the connection attempt is abandoned; close the socket.

Once a recv has had to wait, the socket's later recvs wait for readiness
before trying: in request/response traffic the next recv would almost surely
fail with ``EAGAIN``, and skipping it saves a system call, a GIL hand-off and
a ``BlockingIOError`` per message.  When data is flowing, the extra ``poll``
returns at once.  (Measured: ``docs/design.md``, "Skipping the doomed ``recv``".)

The descriptor itself is always in non-blocking mode (``O_NONBLOCK``), by
design: a system call that blocks in the operating system could not be
cancelled.  Everything Python shows is the stdlib's -- ``gettimeout()``,
``getblocking()``, ``type`` (no ``SOCK_NONBLOCK`` bit) -- but code that
reads the flag with ``fcntl`` sees it set.  Those are the known, accepted
differences from CPython's own socket tests
(``NonblockConstantTest.test_SOCK_NONBLOCK``,
``NonBlockingTCPTests.testSetBlocking``).  ``detach()`` hands a blocking
socket's descriptor back blocking, as the stdlib would have it; a
descriptor shared with another socket (``fromfd``, ``dup``) is shared
open-file state, so each thredo socket sets the flag before it waits and a
closed one gives the flag back (below).

What a blocked thread shows in ``Thread.blocked_on``: the method's name
(``"recv"``, ``"sendall"``, ``"accept"``, ``"connect"`` ...) and the socket.
"""

from __future__ import annotations

import _socket
import errno as _errno
import io as _io
import ipaddress as _ipaddress
import os as _os
import socket as _stdsocket
import sys
import warnings as _warnings
from _thread import allocate_lock as _allocate_lock
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .. import _accel
from .._core import POLLIN as _IN
from .._core import POLLOUT as _OUT
from .._core import checkpoint as _checkpoint
from .._core import closing_waiters as _closing_waiters
from .._core import current_state as _current_state
from .._core import note_return as _note_return
from .._core import wait_fd as _wait_fd
from .._core import wait_recv as _core_wait_recv
from .._core import wake_closed
from . import _makefile as _mf
from ._streams import SocketStream as _SocketStream
from ._usertimeout import UserTimeout
from ._worker import run_in_worker as _run_in_worker

# Every name of the stdlib module, then ours over the blocking ones.  For type
# checkers the star import comes last instead (end of module): a checker keeps
# a module's first definition of a name, and ours must be the ones users see.
if not TYPE_CHECKING:
    from socket import *  # noqa: F403

__all__ = [*_stdsocket.__all__, "getaddrinfo", "getnameinfo", "gethostbyname"]
__all__ = sorted(set(__all__))

# The stdlib module's public names that its __all__ leaves out (so the star
# import above does not bring them): its enums, SocketIO and errno aliases.
from socket import EAGAIN as EAGAIN  # noqa: E402
from socket import EBADF as EBADF  # noqa: E402
from socket import EWOULDBLOCK as EWOULDBLOCK  # noqa: E402
from socket import AddressInfo as AddressInfo  # noqa: E402
from socket import MsgFlag as MsgFlag  # noqa: E402
from socket import SocketIO as SocketIO  # noqa: E402

_base = _stdsocket.socket
_recv = _socket.socket.recv
_recv_into = _socket.socket.recv_into
_send = _socket.socket.send
_set_os_timeout = _socket.socket.settimeout
_get_os_timeout = _socket.socket.gettimeout
# A plain int: `flags & MsgFlag` costs ~0.7 us, `flags & int` ~14 ns (measured).
_DONTWAIT = int(getattr(_stdsocket, "MSG_DONTWAIT", 0))
_CONNECTING = (_errno.EINPROGRESS, _errno.EAGAIN, _errno.EALREADY)


_share_lock = _allocate_lock()  # guards the counts of socket._share lists

# -- recv/send that keep the GIL ------------------------------------------------
#
# Why: ``socket.recv``/``send`` release the GIL around the system call even
# when it cannot block.  A thredo socket's recv has already waited in
# ``poll()`` (the wait every cancellable call needs), so the recv itself is a
# few microseconds of kernel work.  With two or more CPUs, releasing the GIL
# around it lets a thread on another core take it, and getting it back costs
# a futex sleep and a context switch: one extra GIL hand-off per message
# compared with a plain blocking recv.  On one CPU it is the other way
# round: there a thread the kernel wakes runs while the caller sits in its
# system call, which only a released GIL allows.  The figures, both ways:
# docs/design.md, section 9.1.
#
# How: ``thredo._speedups`` (C, optional: built by hatch_build.py where a
# compiler exists), whose ``recv``/``send`` pass ``MSG_DONTWAIT`` (so they
# never block while holding the GIL) and return None when the call would
# block.  Used after the readiness wait and for sendall's first send, when
# the process may run on more than one CPU (checked at import).
# ``THREDO_KEEP_GIL=0`` never uses them, ``THREDO_KEEP_GIL=1`` always does (where
# built).  Without them ``_keepgil_recv``/``_keepgil_send`` stay None and every
# call takes the stdlib's path, which is complete on its own.

# Largest recv served with the GIL kept: the kernel's copy into the buffer
# happens under the GIL, so a bigger one would hold up every other thread;
# larger receives take the stdlib's path (the same result).
_KEEPGIL_MAX = 65536

_keepgil_recv: Callable[[int, int, int], bytes | None] | None = None
_keepgil_send: Callable[[int, Any, int], int | None] | None = None


def _keepgil_enabled() -> bool:
    """Whether to keep the GIL: ``THREDO_KEEP_GIL`` if set, else more than one CPU."""
    setting = _os.environ.get("THREDO_KEEP_GIL", "")
    if not setting and "THREDO_NOGIL" in _os.environ:
        # The old name (it said "nogil" for "keep the GIL", the opposite of
        # CPython's meaning); kept working for now.
        _warnings.warn(
            "THREDO_NOGIL is deprecated: set THREDO_KEEP_GIL (same values)",
            DeprecationWarning,
            stacklevel=2,
        )
        setting = _os.environ["THREDO_NOGIL"]
    if setting in ("0", "1"):
        return setting == "1"
    return len(_os.sched_getaffinity(0)) > 1


def _keepgil_make() -> (
    tuple[Callable[[int, int, int], bytes | None], Callable[[int, Any, int], int | None]] | None
):
    """The GIL-keeping (recv, send) of the C accelerator; None where not built, or stale."""
    _speedups = _accel.load()
    if _speedups is None:
        return None
    return _speedups.recv, _speedups.send


if _keepgil_enabled():
    _made = _keepgil_make()
    if _made is not None:
        _keepgil_recv, _keepgil_send = _made

# The recv of a socket that polls first, in one C call (``thredo._core.wait_recv``:
# the cancellation point, the wait, the recv, the retry); None with
# THREDO_PURE=1 or without the accelerator.  Its recv keeps the GIL when
# ``_keepgil_recv`` is on (the rule above), else releases it as the stdlib's.
# It returns None for every case it does not cover, and recv then takes the
# Python path below, the reference.  Figures: docs/design.md, section 10.
_wait_recv: Callable[[Any, int, bool], bytes | None] | None = _core_wait_recv


def _sent_nothing(e: BaseException) -> BaseException:
    e.bytes_sent = 0  # type: ignore[attr-defined]
    return e


class socket(UserTimeout, _base):
    """A ``socket.socket`` whose blocking calls are cancellable in thredo threads.

    Differences from the stdlib class, all in thredo threads only (in a plain
    thread it behaves exactly as the stdlib's): each call that may block is
    a cancellation point, is cancellable while it waits and obeys
    ``timeout_after``; ``sendall``/``sendfile`` report ``bytes_sent`` on the
    exception; a socket closed by another thread wakes its blocked users with
    an ``OSError``; :meth:`as_stream` gives a :class:`thredo.net.SocketStream`.
    The OS socket is always non-blocking (``gettimeout`` reports the user's
    timeout; ``detach`` hands back a blocking descriptor).
    """

    __slots__ = ("_tmo", "_nb", "_pollfirst", "_share")
    _RawIO: Any = _mf.SocketIO  # makefile()'s raw layer (thredo.net.ssl has its own)

    def __init__(
        self, family: int = -1, type: int = -1, proto: int = -1, fileno: int | None = None
    ) -> None:
        super().__init__(family, type, proto, fileno)
        self._tmo: float | None = _get_os_timeout(self)
        self._nb = self._tmo == 0.0
        self._pollfirst = False  # a recv had to wait: wait before trying the next
        # Shared open file (fromfd, dup): [thredo sockets on it, the blocking
        # mode to give back when the last goes, None: not ours to give].  One
        # list shared by those sockets; its count is changed under _share_lock
        # (dup, detach, close: rare calls, and ``n -= 1`` is no atomic step).
        self._share: list[Any] | None = None
        _set_os_timeout(self, 0.0)

    # -- the wait (timeout semantics: _usertimeout.UserTimeout) -------------------

    def _retry(
        self,
        op: Any,
        events: int,
        call: str,
        *args: Any,
        flags: int = 0,
        wait_first: bool = False,
    ) -> Any:
        """Call ``op(self, *args)`` until it does not raise BlockingIOError.

        A cancellation point first (unless ``wait_first``: the caller was
        one already).  ``flags`` (the call's MSG_* flags): MSG_DONTWAIT
        means one try, as on a non-blocking socket.  ``wait_first``: the
        caller just got EAGAIN, so wait for readiness before trying again.
        ``call`` names the call in ``Thread.blocked_on``.
        """
        if self._nb or flags & _DONTWAIT:
            return op(self, *args)
        endtime = self._endtime()
        if wait_first:
            self._wait(events, call, endtime)
        else:
            _checkpoint()
        while True:
            try:
                result = op(self, *args)
            except BlockingIOError:
                pass
            else:
                _note_return()  # done, maybe past a deadline: not uncancellable time
                return result
            self._wait(events, call, endtime)

    # -- receiving -------------------------------------------------------------

    def recv(self, bufsize: int, flags: int = 0) -> bytes:
        """As ``socket.recv``; a cancellation point; consumes nothing if it raises."""
        # Non-blocking (timeout 0.0 or MSG_DONTWAIT): one try, not a cancellation
        # point.  "flags or _nb" first: the usual call (flags 0, blocking) is
        # decided by two cheap tests.
        if (flags or self._nb) and (self._nb or flags & _DONTWAIT):
            return _recv(self, bufsize, flags)
        if (
            self._pollfirst
            and _wait_recv is not None
            and self._tmo is None
            and not flags
            and type(bufsize) is int
            and 0 < bufsize <= _KEEPGIL_MAX
        ):
            data = _wait_recv(self, bufsize, _keepgil_recv is not None)  # the point, wait, recv
            if data is not None:
                return data
        _checkpoint()
        if self._pollfirst and self._tmo is None and not flags:
            _wait_fd(self.fileno(), _IN, None, self, "recv")
            if _keepgil_recv is not None and type(bufsize) is int and 0 < bufsize <= _KEEPGIL_MAX:
                data = _keepgil_recv(self.fileno(), bufsize, 0)  # readable: keep the GIL
                if data is not None:
                    return data
        try:
            data = _recv(self, bufsize, flags)
        except BlockingIOError:
            pass
        else:
            _note_return()  # the GIL back late, past a deadline: not uncancellable time
            return data
        self._pollfirst = True
        return self._retry(_recv, _IN, "recv", bufsize, flags, wait_first=True)  # type: ignore[no-any-return]

    def recv_into(self, buffer: Any, nbytes: int = 0, flags: int = 0) -> int:
        """As ``socket.recv_into``; a cancellation point; consumes nothing if it raises."""
        if (flags or self._nb) and (self._nb or flags & _DONTWAIT):
            return _recv_into(self, buffer, nbytes, flags)  # non-blocking: not a point (see recv)
        _checkpoint()
        if self._pollfirst and self._tmo is None and not flags:
            _wait_fd(self.fileno(), _IN, None, self, "recv_into")
        try:
            n = _recv_into(self, buffer, nbytes, flags)
        except BlockingIOError:
            pass
        else:
            _note_return()
            return n
        self._pollfirst = True
        return self._retry(  # type: ignore[no-any-return]
            _recv_into, _IN, "recv_into", buffer, nbytes, flags, wait_first=True
        )

    def recvfrom(self, bufsize: int, flags: int = 0) -> tuple[bytes, Any]:
        """As ``socket.recvfrom``; a cancellation point; consumes nothing if it raises."""
        return self._retry(  # type: ignore[no-any-return]
            _socket.socket.recvfrom, _IN, "recvfrom", bufsize, flags, flags=flags
        )

    def recvfrom_into(self, buffer: Any, nbytes: int = 0, flags: int = 0) -> tuple[int, Any]:
        """As ``socket.recvfrom_into``; a cancellation point; consumes nothing if it raises."""
        return self._retry(  # type: ignore[no-any-return]
            _socket.socket.recvfrom_into, _IN, "recvfrom_into", buffer, nbytes, flags, flags=flags
        )

    if hasattr(_base, "recvmsg"):

        def recvmsg(self, bufsize: int, ancbufsize: int = 0, flags: int = 0) -> Any:
            """As ``socket.recvmsg``; a cancellation point; consumes nothing if it raises."""
            return self._retry(
                _socket.socket.recvmsg, _IN, "recvmsg", bufsize, ancbufsize, flags, flags=flags
            )

        def recvmsg_into(self, buffers: Any, ancbufsize: int = 0, flags: int = 0) -> Any:
            """As ``socket.recvmsg_into``; a cancellation point; consumes nothing if it raises."""
            # Any iterable, as the stdlib's: taken once here, since a try that
            # must wait and go again would find a generator already spent.
            return self._retry(
                _socket.socket.recvmsg_into,
                _IN,
                "recvmsg_into",
                list(buffers),
                ancbufsize,
                flags,
                flags=flags,
            )

    # -- sending ---------------------------------------------------------------

    def send(self, data: Any, flags: int = 0) -> int:
        """As ``socket.send``; a cancellation point; sends nothing if it raises."""
        if (flags or self._nb) and (self._nb or flags & _DONTWAIT):
            return _send(self, data, flags)  # non-blocking: not a point (see recv)
        _checkpoint()
        try:
            n = _send(self, data, flags)
        except BlockingIOError:
            pass
        else:
            _note_return()
            return n
        return self._retry(_send, _OUT, "send", data, flags, wait_first=True)  # type: ignore[no-any-return]

    def sendto(self, data: Any, *args: Any) -> int:
        """As ``socket.sendto``; a cancellation point; sends nothing if it raises."""
        flags = args[0] if len(args) == 2 else 0
        return self._retry(_socket.socket.sendto, _OUT, "sendto", data, *args, flags=flags)  # type: ignore[no-any-return]

    if hasattr(_base, "sendmsg"):

        def sendmsg(
            self, buffers: Any, ancdata: Any = (), flags: int = 0, address: Any = None
        ) -> int:
            """As ``socket.sendmsg``; a cancellation point; sends nothing if it raises."""
            args = (
                (buffers, ancdata, flags) if address is None else (buffers, ancdata, flags, address)
            )
            return self._retry(_socket.socket.sendmsg, _OUT, "sendmsg", *args, flags=flags)  # type: ignore[no-any-return]

    def sendall(self, data: Any, flags: int = 0) -> None:
        """As ``socket.sendall``; a cancellation point before it starts and between sends.

        Raises:
            thredo.CancelledError: the thread's cancellation or deadline.
            TimeoutError: the socket's timeout (for the whole call, as in the stdlib).
            OSError: the connection failed.  Each of them carries ``bytes_sent``:
                how much of ``data`` went out.
        """
        nowait = (flags or self._nb) and (self._nb or flags & _DONTWAIT)
        sent = 0
        if not nowait:
            try:
                _checkpoint()
            except BaseException as e:
                raise _sent_nothing(e)
        if type(data) is bytes:  # fast path: it usually all fits in the send buffer
            n = None
            if _keepgil_send is not None and not flags and not nowait:
                n = _keepgil_send(self.fileno(), data, 0)  # cannot block: keep the GIL
            if n is not None:
                sent = n
            else:
                try:
                    sent = _send(self, data, flags)
                except BlockingIOError:
                    if nowait:
                        raise
            if sent == len(data):
                if not nowait:
                    _note_return()
                return
        with memoryview(data) as view, view.cast("B") as mv:
            total = len(mv)
            endtime = self._endtime()
            try:
                while sent < total:
                    if sent and not nowait:
                        _checkpoint()  # a fast peer: still cancellable between sends
                    try:
                        sent += _send(self, mv[sent:], flags)
                    except BlockingIOError:
                        if nowait:
                            raise
                        self._wait(_OUT, "sendall", endtime)
            except BaseException as e:
                e.bytes_sent = sent  # type: ignore[attr-defined]
                raise
            if not nowait:
                _note_return()

    def sendfile(self, file: Any, offset: int = 0, count: int | None = None) -> int:
        """As ``socket.sendfile`` (zero-copy when possible); a point as :meth:`sendall`.

        Raises:
            thredo.CancelledError: as :meth:`sendall` (also ``TimeoutError``,
                ``OSError``), with ``bytes_sent``; the file is positioned after
                what went out.
        """
        self._check_sendfile_params(file, offset, count)  # type: ignore[attr-defined]
        if self._tmo == 0.0:
            raise ValueError("non-blocking sockets are not supported")
        try:
            _checkpoint()
        except BaseException as e:
            raise _sent_nothing(e)
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
                if sent:
                    _checkpoint()  # a fast peer: still cancellable between sends
                try:
                    n = _os.sendfile(self.fileno(), fileno, offset + sent, blocksize)
                except BlockingIOError:
                    self._wait(_OUT, "sendfile", endtime)
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
        """As ``socket.accept``, returning a thredo socket; a cancellation point.

        A cancel takes no connection off the listener's queue.
        """
        fd, addr = self._retry(_base._accept, _IN, "accept")  # type: ignore[attr-defined]
        sock = socket(self.family, self.type, self.proto, fileno=fd)
        if getdefaulttimeout() is None and self._tmo:  # noqa: F405
            sock.setblocking(True)
        return sock, addr

    def connect(self, address: Any) -> None:
        """As ``socket.connect``; a cancellation point (raised before connecting).

        A cancel or deadline while it waits abandons the attempt: close the socket.
        """
        blocking = self._tmo != 0.0
        if blocking:
            _checkpoint()
        err = _socket.socket.connect_ex(self, address)
        if err in _CONNECTING and blocking:
            self._wait(_OUT, "connect", self._endtime())  # TimeoutError when the timeout passes
            err = self.getsockopt(SOL_SOCKET, SO_ERROR)
        elif err == _errno.EINPROGRESS:
            raise BlockingIOError(err, _os.strerror(err))
        if err:
            raise OSError(err, _os.strerror(err))

    def connect_ex(self, address: Any) -> int:
        """As ``socket.connect_ex``; a cancellation point as :meth:`connect`."""
        blocking = self._tmo != 0.0
        if blocking:
            _checkpoint()
        err = _socket.socket.connect_ex(self, address)
        if err not in _CONNECTING or not blocking:
            return err
        try:
            self._wait(_OUT, "connect_ex", self._endtime())
        except TimeoutError:
            return _errno.EAGAIN  # what the stdlib's connect_ex returns on timeout
        return self.getsockopt(SOL_SOCKET, SO_ERROR)  # noqa: F405

    # -- the rest ------------------------------------------------------------

    def makefile(
        self,
        mode: str = "r",
        buffering: int | None = None,
        *,
        encoding: str | None = None,
        errors: str | None = None,
        newline: str | None = None,
    ) -> Any:
        """As ``socket.makefile``; every read and write of the file is a cancellation point.

        The objects are the stdlib's ``io`` classes (subclassed: a read
        served from the file's buffer is a point too, raised before it takes
        anything).  A read cut by a cancel or a ``timeout_after`` deadline
        loses nothing: what it had gathered is returned by the file's next
        read (``thredo.net._makefile``).  A socket timeout (``settimeout``)
        behaves as the stdlib's: later reads of the file raise ``OSError``.
        """
        # The stdlib's makefile, with the point-making io subclasses.
        if not set(mode) <= {"r", "w", "b"}:
            raise ValueError(f"invalid mode {mode!r} (only r, w, b allowed)")
        writing = "w" in mode
        reading = "r" in mode or not writing
        binary = "b" in mode
        rawmode: Any = ("r" if reading else "") + ("w" if writing else "")
        raw = self._RawIO(self, rawmode)  # its reads/writes are our recv_into/send
        self._io_refs += 1  # type: ignore[attr-defined]
        if buffering is None:
            buffering = -1
        if buffering < 0:
            buffering = _io.DEFAULT_BUFFER_SIZE
        if buffering == 0:
            if not binary:
                raise ValueError("unbuffered streams must be binary")
            return raw
        buffer: Any
        if reading and writing:
            buffer = _mf.BufferedRWPair(raw, raw, buffering)
        elif reading:
            buffer = _mf.BufferedReader(raw, buffering)
        else:
            buffer = _mf.BufferedWriter(raw, buffering)
        if reading:  # a cut read under the buffer gives back what it gathered
            raw._buffered = True
            buffer._cuts = raw._cuts
            buffer._traw = raw
        if binary:
            return buffer
        text = _mf.TextIOWrapper(buffer, _io.text_encoding(encoding), errors, newline)
        text.mode = mode  # type: ignore[misc]
        return text

    def dup(self) -> socket:
        """As ``socket.dup``, returning a thredo socket with the same timeout.

        The two share the open file, so its ``O_NONBLOCK`` flag stays set
        until the last of them is closed or detached.
        """
        sock = socket(self.family, self.type, self.proto, fileno=_os.dup(self.fileno()))
        sock.settimeout(self._tmo)
        with _share_lock:
            share = self._share
            if share is None:
                share = self._share = [1, None]
            share[0] += 1
        sock._share = share
        return sock

    def detach(self) -> int:
        """As ``socket.detach``; a blocking socket's descriptor is handed back blocking.

        Except while another thredo socket shares the open file (made by
        :meth:`dup`): the flag is the file's, and that socket needs it set,
        so the descriptor is handed back as it is (non-blocking).
        """
        fd = self.fileno()
        share = self._share
        if share is not None:
            with _share_lock:
                share[0] -= 1
                last = share[0] == 0
            self._share = None
            if not last:
                return super().detach()  # another thredo socket still relies on O_NONBLOCK
            if share[1] is not None:
                self._give_mode_back(fd, share[1])  # fromfd: the mode the descriptor had
                return super().detach()
        if self._tmo != 0.0 and fd >= 0:
            self._give_mode_back(fd, True)  # hand back a plain blocking fd
        return super().detach()

    @staticmethod
    def _give_mode_back(fd: int, blocking: bool) -> None:
        try:
            _os.set_blocking(fd, blocking)
        except OSError:  # not a descriptor any more (closed under us): as the stdlib, quiet
            pass

    def _real_close(self, _ss: Any = _socket.socket) -> None:
        # Threads blocked on this socket are woken (their call raises EBADF):
        # taken before the close (after it the number may be reused), woken after.
        fd = self.fileno()
        share = self._share
        if share is not None:
            with _share_lock:
                share[0] -= 1
                last = share[0] == 0
            self._share = None
            if last and share[1] is not None and fd >= 0:
                # fromfd: the original descriptor shares the flag; give its mode back.
                self._give_mode_back(fd, share[1])
        waiters = _closing_waiters(fd) if fd >= 0 else None
        _ss.close(self)
        if fd >= 0:
            wake_closed(waiters or [], fd)

    def as_stream(self) -> _SocketStream:
        """This socket as a :class:`thredo.net.SocketStream` (no stdlib namesake)."""
        return _SocketStream(self)


SocketType = socket


def fromfd(fd: int, family: int, type: int, proto: int = 0) -> socket:
    """As ``socket.fromfd`` (the descriptor is duplicated), returning a thredo socket.

    The duplicate shares the open file, and so its ``O_NONBLOCK`` flag, with
    ``fd``: while the thredo socket is open ``fd`` is non-blocking too (a
    stdlib socket on it keeps its own timeout, but a plain ``os.read``
    would see ``EAGAIN``); when it is closed or detached, ``fd``'s own
    mode comes back.
    """
    blocking = _os.get_blocking(fd)
    sock = socket(family, type, proto, _os.dup(fd))
    sock._share = [1, blocking]
    return sock


def socketpair(
    family: int | None = None, type: int = SOCK_STREAM, proto: int = 0
) -> tuple[socket, socket]:  # noqa: F405
    """As ``socket.socketpair``, returning two thredo sockets."""
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
    """As ``socket.getaddrinfo``; cancellable in thredo threads.

    A lookup runs in a worker thread (abandoned, not waited for, when the
    caller is cancelled); a numeric address or a plain thread resolves
    directly, as the stdlib does.
    """
    if _is_literal(host) or _current_state() is None:
        return _stdsocket.getaddrinfo(host, port, family, type, proto, flags)
    return _run_in_worker(
        "getaddrinfo", _stdsocket.getaddrinfo, host, port, family, type, proto, flags
    )


def _resolver(name: str) -> Any:
    func = getattr(_stdsocket, name)

    def call(*args: Any) -> Any:
        try:
            if _current_state() is None:
                return func(*args)
            return _run_in_worker(name, func, *args)
        except BaseException:
            # As the stdlib's C functions: the exception's traceback must not
            # keep the arguments alive (CPython's testRefCountGetNameInfo).
            del args
            raise

    call.__name__ = call.__qualname__ = name
    call.__doc__ = (
        f"As ``socket.{name}``; cancellable in thredo threads (the lookup runs in a worker"
        " thread, abandoned when the caller is cancelled)."
    )
    return call


gethostbyname = _resolver("gethostbyname")
gethostbyname_ex = _resolver("gethostbyname_ex")
gethostbyaddr = _resolver("gethostbyaddr")
getnameinfo = _resolver("getnameinfo")
getfqdn = _resolver("getfqdn")


# -- helpers that build connected or listening sockets ------------------------


def connect_first(
    host: str,
    port: int,
    errors: list[OSError],
    *,
    family: int = 0,
    timeout: Any = _stdsocket._GLOBAL_DEFAULT_TIMEOUT,  # type: ignore[attr-defined]
    source_address: Any = None,
    setup: Callable[[socket], object] | None = None,
) -> socket | None:
    """Connect to the first address of ``host`` that accepts: the loop of ``create_connection``.

    Not in the stdlib: the one connect loop of :func:`create_connection`
    and ``thredo.requests`` (urllib3's ``create_connection``).  Each address
    that ``getaddrinfo(host, port, family, SOCK_STREAM)`` gives is tried in
    turn on a new thredo socket: ``setup(sock)`` first (urllib3's socket
    options), then the ``timeout`` (left as the default when it is
    ``socket._GLOBAL_DEFAULT_TIMEOUT``), ``bind(source_address)`` if given,
    and ``connect``.  A socket that fails, or whose thread is cancelled,
    is closed.

    Returns:
        The connected socket, or None when every address failed: each
        address's ``OSError`` is then in ``errors``, in order, for the caller
        to raise the first, the last or a group, as its namesake does.
    """
    for af, socktype, proto, _canonname, sa in getaddrinfo(host, port, family, SOCK_STREAM):  # noqa: F405
        sock = None
        try:
            sock = socket(af, socktype, proto)
            if setup is not None:
                setup(sock)
            if timeout is not _stdsocket._GLOBAL_DEFAULT_TIMEOUT:  # type: ignore[attr-defined]
                sock.settimeout(timeout)
            if source_address:
                sock.bind(source_address)
            sock.connect(sa)
            errors.clear()
            return sock
        except OSError as exc:
            errors.append(exc)
            if sock is not None:
                sock.close()
        except BaseException:
            if sock is not None:
                sock.close()
            raise
    return None


def create_connection(
    address: tuple[str, int],
    timeout: Any = _stdsocket._GLOBAL_DEFAULT_TIMEOUT,  # type: ignore[attr-defined]
    source_address: Any = None,
    *,
    all_errors: bool = False,
) -> socket:
    """As ``socket.create_connection``, with a cancellable resolve and connect; a thredo socket."""
    host, port = address
    exceptions: list[OSError] = []
    sock = connect_first(host, port, exceptions, timeout=timeout, source_address=source_address)
    if sock is not None:
        return sock
    if exceptions:
        try:
            if not all_errors:
                raise exceptions[0]
            if sys.version_info >= (3, 11):  # spelled `sys` so type checkers see the check
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
    """As ``socket.create_server``, returning a thredo socket."""
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


if TYPE_CHECKING:
    from socket import *  # noqa: F403  # see the import at the top
