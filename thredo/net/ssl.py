"""Cancellable TLS: the stdlib ``ssl`` module with a cancellable SSLSocket.

Every name of the stdlib module is here.  :class:`SSLSocket` subclasses
``ssl.SSLSocket``: the OS socket (and the C-level socket timeout the TLS
engine looks at) stays non-blocking, and each handshake, read, write,
``sendall`` and ``unwrap`` retries on ``SSLWantReadError`` /
``SSLWantWriteError`` after waiting for the socket in
:func:`thredo._core.wait_fd` -- so it is cancellable and obeys
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

What a cut-off TLS write leaves behind
--------------------------------------

OpenSSL writes a record whole or not at all: once ``SSL_write`` has
encrypted a record (its sequence number is spent, part of it may already be
on the wire) the record *must* be finished, and the only way to finish it is
to call ``SSL_write`` again with the same data.  A different buffer passed
next is taken as that retry, and its first bytes are silently dropped (the
trap of trio#198/#889: the stdlib's ``ssl`` leaves this to the caller, and a
cancelled ``sendall`` used to lose up to 64 KiB of the *next* one).  So
thredo's TLS writes (``send``, ``sendall``, ``write`` and ``makefile()``
writes) follow one rule:

* data goes to OpenSSL in records of at most ``RECORD_SIZE`` (16 KiB, the
  TLS maximum) bytes, so at most one record is ever unfinished;
* when a write is cancelled, times out (``timeout_after`` or the socket's
  own timeout) or fails while OpenSSL holds an unfinished record, the
  socket keeps that record's plaintext and the **next write on the socket
  finishes it first** (and ``unwrap()`` finishes it before its
  ``close_notify``);
* the exception's ``bytes_sent`` counts the bytes of *this call* in records
  that are on the wire or held that way: exactly what the peer receives of
  the call once the socket writes again.  The next write's own data follows
  it, intact.  A write that is cut off while it is still finishing an
  earlier call's record has sent nothing of its own (``bytes_sent == 0``);
* closing the socket instead drops a held record: the peer sees the
  connection end inside a record (an ``SSLError`` or ragged EOF there),
  never wrong data;
* ``makefile()`` writes: ``io.BufferedWriter`` re-sends whatever a raw write
  that raised was given, so there a cut-off write returns the short count
  instead and the cancel or deadline is raised at the buffer's next write,
  in the same call: the stream is a prefix of the cut-off data, then the
  next.  (``io`` does not say how much of a ``write()`` that raised went
  out; a socket's ``sendall`` does.)

On a non-blocking socket (timeout ``0.0``) writes are the stdlib's: an
``SSLWantWriteError`` means "call again with the same data".

Unlike a plain socket's ``send``, a TLS ``send`` writes all of ``data``
(the stdlib's does too, on a blocking socket) and so may raise after
sending some of it: ``bytes_sent`` says how much.

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
from _thread import allocate_lock as _allocate_lock
from socket import SO_ERROR as _SO_ERROR
from socket import SOL_SOCKET as _SOL_SOCKET
from typing import TYPE_CHECKING, Any

from .._core import POLLIN as _IN
from .._core import POLLOUT as _OUT
from .._core import CancelledError as _CancelledError
from .._core import ThreadTimeout as _ThreadTimeout
from .._core import checkpoint as _checkpoint
from .._core import closing_waiters as _closing_waiters
from .._core import current_state as _current_state
from .._core import note_return as _note_return
from .._core import wait_fd as _wait_fd
from .._core import wake_closed
from . import socket as _tsocket
from ._makefile import SocketIO as _SocketIO
from ._usertimeout import UserTimeout

# Every name of the stdlib module, then ours; for type checkers the star
# import comes last (see thredo/net/socket.py).
if not TYPE_CHECKING:
    from ssl import *  # noqa: F403

__all__ = sorted({*(n for n in dir(_stdssl) if not n.startswith("_")), "wrap"})

#: Plaintext bytes per record: TLS's maximum (RFC 8446 5.1, RFC 5246 6.2.1).
#: A write of at most this much is one record, so OpenSSL's "retry with the
#: same buffer" rule concerns only that one record (module docstring).
RECORD_SIZE = 16384


def _deliver_later(exc: BaseException) -> None:
    """Have the calling thread's next cancellation point raise (the like of) ``exc`` again.

    A cancel is stored back; a ``timeout_after`` deadline is re-armed (it
    fires again at the next point inside its block, and never outside it).
    Other errors (``TimeoutError``, ``OSError``) recur by themselves.
    """
    st = _current_state()
    if st is None:
        return
    if isinstance(exc, _ThreadTimeout):
        st.push_deadline(float("inf"))  # push + pop: the stack unchanged, re-armed
        st.pop_deadline()
    elif isinstance(exc, _CancelledError):
        st.deliver(exc)


class _TLSSocketIO(_SocketIO):
    """``makefile()``'s raw layer over a TLS socket.

    ``io.BufferedWriter`` keeps all it handed to a raw ``write`` that
    raised, and would send it again.  A TLS write cut off after it gave
    OpenSSL a record has sent part of it, so here such a write returns
    that count (a short write, which the buffer accounts for exactly) and
    the cancel or deadline is raised at the next point -- the buffer's
    next raw write, in the same ``write()``/``flush()`` call.
    """

    def write(self, b: Any) -> int | None:
        self._checkClosed()  # type: ignore[attr-defined]
        self._checkWritable()  # type: ignore[attr-defined]
        try:
            return self._sock.send(b)  # type: ignore[attr-defined,no-any-return]
        except BaseException as e:
            sent = getattr(e, "bytes_sent", 0)
            if not sent:
                raise
            _deliver_later(e)
            return sent  # type: ignore[no-any-return]


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
    # The plaintext of a record OpenSSL took but could not finish writing
    # (a cut-off write): the next write finishes it first.  Guarded as the
    # socket's other state: one writing thread at a time, as in the stdlib.
    _pending: bytes | None = None
    _pollfirst = False  # a read had to wait: the next waits first (see _read)

    # One OpenSSL call at a time per connection: an SSL object must not be
    # used by two threads at once (OpenSSL's rule, not the GIL's: _ssl
    # releases the GIL inside SSL_read/SSL_write), and a reader in one thread
    # beside a writer in another is this module's common case.  Held only
    # around a call that cannot block (the socket is non-blocking), never
    # across a wait.  Seen without it: a reader woken by a session ticket
    # while another thread wrote got SSL_ERROR_EOF (recv returned b'').
    _tls_mutex: Any  # made by _create, the one way an SSLSocket is made

    @classmethod
    def _create(cls, *args: Any, **kwargs: Any) -> Any:
        self = super()._create(*args, **kwargs)  # type: ignore[misc]
        self._tls_mutex = _allocate_lock()
        return self

    def _locked_write(self, data: Any) -> Any:
        with self._tls_mutex:
            return self._sslobj.write(data)  # type: ignore[has-type]

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
                result = op(*args)
            except SSLWantReadError:  # noqa: F405
                self._wait(_IN, call, endtime)
            except SSLWantWriteError:  # noqa: F405
                self._wait(_OUT, call, endtime)
            except BlockingIOError:
                self._wait(events, call, endtime)
            else:
                _note_return()  # done, maybe past a deadline: not uncancellable time
                return result

    # -- TLS ---------------------------------------------------------------

    def do_handshake(self, block: bool = False) -> None:
        """As ``SSLSocket.do_handshake``; a cancellation point, cancellable while it waits."""
        self._check_connected()  # type: ignore[attr-defined]
        self._retry(_IN, "do_handshake", self._sslobj.do_handshake)  # type: ignore[attr-defined]

    def read(self, len: int = 1024, buffer: Any = None) -> Any:
        """As ``SSLSocket.read``; a cancellation point; consumes nothing if it raises."""
        return self._read(len, buffer, "read")

    def _read(self, n: int, buffer: Any, call: str) -> Any:
        """One TLS read of up to ``n`` bytes (into ``buffer`` if given): the read paths' core.

        As the plain socket's recv: once a read has had to wait, the next
        waits for the socket first when OpenSSL holds no decrypted data
        (``pending()``; Python's ssl does not read ahead, so the next record
        is then still in the kernel) -- a doomed ``SSL_read`` costs a system
        call and an ``SSLWantReadError`` (its message formatted) per message.
        """
        sslobj = self._sslobj  # type: ignore[has-type]
        if sslobj is None or self._nb:
            return self._retry(_IN, call, super().read, n, buffer)  # the stdlib's errors
        _checkpoint()
        if self._pollfirst and self._tmo is None and not sslobj.pending():
            _wait_fd(self.fileno(), _IN, None, self, call)
        endtime = None
        while True:
            try:
                with self._tls_mutex:
                    result = sslobj.read(n) if buffer is None else sslobj.read(n, buffer)
                _note_return()  # the GIL back late, past a deadline: not uncancellable time
                return result
            except SSLWantReadError:  # noqa: F405
                events = _IN
            except SSLWantWriteError:  # noqa: F405
                events = _OUT
            except SSLError as x:  # noqa: F405
                if x.args[0] == SSL_ERROR_EOF and self.suppress_ragged_eofs:  # noqa: F405
                    return b"" if buffer is None else 0
                raise
            if endtime is None:
                self._pollfirst = True
                endtime = self._endtime()
            self._wait(events, call, endtime)  # OSError(EBADF) if closed meanwhile

    def write(self, data: Any) -> int:
        """As ``SSLSocket.write``; a cancellation point; ``bytes_sent`` on the exception.

        See the module docstring for what a cut-off write leaves behind.
        """
        return self._write_all(data, "write")

    def recv(self, buflen: int = 1024, flags: int = 0) -> bytes:
        """As ``SSLSocket.recv``; a cancellation point; consumes nothing if it raises."""
        if self._sslobj is not None and not flags:  # type: ignore[has-type]
            return self._read(buflen, None, "recv")  # type: ignore[no-any-return]
        return self._retry(_IN, "recv", super().recv, buflen, flags)  # type: ignore[no-any-return]

    def recv_into(self, buffer: Any, nbytes: int | None = None, flags: int = 0) -> int:
        """As ``SSLSocket.recv_into``; a cancellation point; consumes nothing if it raises."""
        if self._sslobj is not None and not flags and buffer is not None:  # type: ignore[has-type]
            if nbytes is None:  # as the stdlib: the buffer's size, 1024 for an empty one
                with memoryview(buffer) as view:
                    nbytes = view.nbytes or 1024
            return self._read(nbytes, buffer, "recv_into")  # type: ignore[no-any-return]
        return self._retry(_IN, "recv_into", super().recv_into, buffer, nbytes, flags)  # type: ignore[no-any-return]

    def send(self, data: Any, flags: int = 0) -> int:
        """As ``SSLSocket.send`` (writes all of ``data``); a cancellation point.

        Raises:
            thredo.CancelledError: as :meth:`sendall` (also ``TimeoutError``,
                ``OSError``), with ``bytes_sent``.
        """
        if self._sslobj is None:  # type: ignore[has-type]
            return self._retry(_OUT, "send", super().send, data, flags)  # type: ignore[no-any-return]
        if flags:
            raise ValueError(f"non-zero flags not allowed in calls to send() on {self.__class__}")
        return self._write_all(data, "send")

    def sendall(self, data: Any, flags: int = 0) -> None:
        """As ``SSLSocket.sendall``; a cancellation point before it starts and between records.

        Raises:
            thredo.CancelledError: the thread's cancellation or deadline.
            TimeoutError: the socket's timeout.
            OSError: the connection failed.  Each of them carries ``bytes_sent``:
                how much of ``data`` the peer gets (see the module docstring).
        """
        if self._sslobj is None:  # type: ignore[has-type]
            sent = 0
            with memoryview(data) as view, view.cast("B") as mv:
                try:
                    while sent < len(mv):
                        sent += self._retry(_OUT, "sendall", super().send, mv[sent:], flags)
                except BaseException as e:
                    e.bytes_sent = sent  # type: ignore[attr-defined]
                    raise
            return
        if flags:
            raise ValueError(
                f"non-zero flags not allowed in calls to sendall() on {self.__class__}"
            )
        self._write_all(data, "sendall")

    def _write_all(self, data: Any, call: str) -> int:
        """Write all of ``data`` in records of at most ``RECORD_SIZE``; return its length.

        The rule of the module docstring: a record OpenSSL could not finish
        writing is kept in ``_pending`` and finished first by the next write.

        Raises:
            BaseException: whatever interrupted it, with ``bytes_sent``: the
                bytes of ``data`` in records on the wire or in the pending one.
        """
        sslobj = self._sslobj  # type: ignore[has-type]
        if sslobj is None:
            raise ValueError("No SSL wrapper around " + str(self))
        write = self._locked_write
        if self._nb:  # non-blocking: one try, the stdlib's rules (retry with the same data)
            if self._pending is not None:
                write(self._pending)  # SSLWantWriteError: this data not taken
                self._pending = None
            return write(data)  # type: ignore[no-any-return]
        sent = 0
        try:
            _checkpoint()
            if self._pending is None and type(data) is bytes and len(data) <= RECORD_SIZE:
                try:  # the usual small write: one record, taken at once
                    n = write(data)
                    _note_return()
                    return n  # type: ignore[no-any-return]
                except SSLWantReadError:  # noqa: F405
                    events = _IN
                except SSLWantWriteError:  # noqa: F405
                    events = _OUT
                self._pending = data  # as below: this call's record now
                sent = len(data)
                self._finish_pending(write, call, self._endtime(), events)
                return sent
            endtime = self._endtime()
            if self._pending is not None:  # an earlier, cut-off write's record
                self._finish_pending(write, call, endtime, 0)
            with memoryview(data) as view, view.cast("B") as mv:
                total = len(mv)
                while sent < total:
                    if sent:
                        _checkpoint()  # a fast peer: still cancellable between records
                    chunk = mv[sent : sent + RECORD_SIZE]
                    try:
                        sent += write(chunk)
                        continue
                    except SSLWantReadError:  # noqa: F405
                        events = _IN
                    except SSLWantWriteError:  # noqa: F405
                        events = _OUT
                    # OpenSSL has this record now (its sequence number is
                    # spent, part of it may be on the wire): it is this
                    # call's, and must go out before anything else.
                    self._pending = bytes(chunk)
                    sent += len(chunk)
                    self._finish_pending(write, call, endtime, events)
                _note_return()
                return total
        except BaseException as e:
            e.bytes_sent = sent  # type: ignore[attr-defined]
            raise

    def _finish_pending(self, write: Any, call: str, endtime: float | None, events: int) -> None:
        """Write ``_pending`` until OpenSSL takes it (first waiting for ``events`` if set)."""
        pending = self._pending
        while True:
            if events:
                self._wait(events, call, endtime)
            try:
                write(pending)
            except SSLWantReadError:  # noqa: F405
                events = _IN
                continue
            except SSLWantWriteError:  # noqa: F405
                events = _OUT
                continue
            self._pending = None
            return

    def unwrap(self) -> Any:
        """As ``SSLSocket.unwrap``; a cancellation point, cancellable while it waits.

        Returns the plain socket (a thredo socket when this one was made
        from one).
        """
        if not self._sslobj:  # type: ignore[attr-defined]
            raise ValueError("No SSL wrapper around " + str(self))
        if self._pending is not None and not self._nb:  # close_notify goes after it
            _checkpoint()
            self._finish_pending(self._sslobj.write, "unwrap", self._endtime(), 0)
        s = self._retry(_IN, "unwrap", self._sslobj.shutdown)  # type: ignore[attr-defined]
        self._sslobj = None
        return s

    def _real_close(self) -> None:
        # As thredo sockets: threads blocked on it are woken (EBADF).
        fd = self.fileno()
        waiters = _closing_waiters(fd) if fd >= 0 else None
        super()._real_close()  # type: ignore[misc]
        if fd >= 0:
            wake_closed(waiters or [], fd)

    makefile = _tsocket.socket.makefile  # reads and writes are cancellation points
    as_stream = _tsocket.socket.as_stream  # a SocketStream over TLS (no stdlib namesake)
    _RawIO = _TLSSocketIO  # (makefile's raw layer: keeps io's write buffer exact)

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
