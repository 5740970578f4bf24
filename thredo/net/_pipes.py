"""Cancellable pipe file objects: the ``stdin``/``stdout``/``stderr`` of a thredo ``Popen``.

Theory of operation
-------------------

A pipe's descriptor is never put in non-blocking mode.  ``O_NONBLOCK``
belongs to the *open file description*, which a child shares when the pipe
end is handed to it (``Popen(..., stdin=p1.stdout)``, the documented
pipeline recipe; ``pass_fds``): setting it in the parent would make the
child's own blocking reads fail (``sys.stdin.buffer.read()`` returning
None).  Nothing thredo does to wait on a descriptor may change what another
process sees.  So each system call is non-blocking by itself instead::

    thread                                     kernel pipe
    ------                                     -----------
    read():  checkpoint()                      (a cancellation point, always)
             preadv2(fd, RWF_NOWAIT) -> EAGAIN
             wait_fd(fd, POLLIN) ...........   child writes -> POLLIN
             preadv2(fd, RWF_NOWAIT) -> data   (or a cancel: the exception)
             checkpoint()                      (again before every next chunk)

``RWF_NOWAIT`` (Linux 5.x for pipes) makes that one call non-blocking and
touches no shared state, so it is correct whatever other threads do at the
same moment -- a ``Popen`` in another thread that hands this very
descriptor to a new child included: the child always inherits a blocking
descriptor.  The rejected option, setting ``O_NONBLOCK`` around each call
and restoring it before a child is spawned, is not: the child keeps sharing
the description after it starts, so every later toggle by the parent would
still reach it, and a ``Popen`` in another thread could start a child in the
middle of a call.  Where ``RWF_NOWAIT`` is refused (an older kernel, not
Linux, a descriptor that is not a pipe) the call waits for readiness with
``poll()`` and then does a plain blocking read, or a write of at most
``PIPE_BUF`` bytes (``POLLOUT`` on a pipe means at least that much room):
neither blocks while this process is the pipe's only reader, or writer, at
that end (a child that shares the end and takes the data between the poll
and the read would make the read wait, uncancellably, for more).

Every chunk is a cancellation point: a read (``read()``, ``readline``,
``communicate``) on a child that keeps its pipe full raises a cancel or an
expired deadline before its next chunk, so it leaves at most one chunk
(``READ_CHUNK``) after the deadline, and the exception carries what was read
(``bytes_read``; the data also stays buffered).

Buffering follows ``bufsize`` as the stdlib's pipes do: the default gives
:class:`PipeReader`/:class:`PipeWriter`, ``io.BufferedIOBase`` objects (a
write is kept in a buffer of ``io.DEFAULT_BUFFER_SIZE`` bytes, or
``bufsize``, until ``flush``/``close``, so a write to a dead child fails
there with ``BrokenPipeError``, as the stdlib's); ``bufsize=0`` gives
:class:`RawPipeReader`/:class:`RawPipeWriter`, ``io.RawIOBase`` objects
whose ``read(n)`` is one system call of at most ``n`` bytes (``select()``
still sees the rest); text mode wraps either in ``io.TextIOWrapper``
exactly as the stdlib does (``bufsize=1``: line buffered).

Why :class:`PipeReader` is not ``io.BufferedReader`` over a raw object: when
its raw read raises in the middle of a ``readline`` (a cancel, a timeout) the
C implementation drops the part of the line it had already taken from its
buffer.  Here the buffer keeps everything not yet returned, so a cancelled
read loses no byte: the exception carries a copy (``bytes_read``) and the
data stays buffered.  (Over text mode, ``io.TextIOWrapper`` keeps decoded
characters of its own, which a cancelled text ``readline`` drops: only the
bytes still in this buffer are reported.)

``on_cancel`` (set by the owning ``Popen``, as a weak reference so that a
``Popen`` nobody references is freed at once, as the stdlib's) is called with
every cancellation exception (``thredo.CancelledError``) that leaves a read
or write, before it propagates: that is where the child is terminated and
reaped (``thredo.net.subprocess``'s cancellation policy).

Thread safety: a pipe is used by one thread at a time, as a file object is.
In a plain thread (no thredo thread) the calls are the plain blocking ones.
"""

from __future__ import annotations

import errno
import io
import os
import select
from collections.abc import Callable
from typing import Any

from .._chunks import Chunks
from .._core import (
    POLLIN,
    POLLOUT,
    CancelledError,
    Joined,
    checkpoint,
    current_state,
    note_return,
    set_partial,
    wait_fd,
)

__all__ = (
    "PipeReader",
    "PipeWriter",
    "RawPipeReader",
    "RawPipeWriter",
    "READ_CHUNK",
    "read_nowait",
    "write_nowait",
)

READ_CHUNK = 65536  # bytes asked of the OS per read: a Linux pipe holds 64 KiB
PIPE_BUF = getattr(select, "PIPE_BUF", 512)  # a write this small into a POLLOUT pipe cannot block

_RWF_NOWAIT = getattr(os, "RWF_NOWAIT", 0) if hasattr(os, "preadv") else 0
# The errors that say "this descriptor (or kernel) does not take RWF_NOWAIT":
# then the poll-then-call fallback (module docstring).
_NO_NOWAIT = {errno.EOPNOTSUPP, errno.EINVAL, errno.ENOSYS, errno.ESPIPE}

# A callable returning the owner's callback or None (a weakref.WeakMethod).
OnCancel = Callable[[], Callable[[BaseException, Any], None] | None]


def _ready(fd: int, events: int) -> bool:
    """Whether ``fd`` has ``events`` now (one ``poll()`` that does not wait)."""
    p = select.poll()
    p.register(fd, events)
    return bool(p.poll(0))


def read_nowait(fd: int, n: int, nowait: bool = True) -> bytes | None:
    """At most ``n`` bytes now: b"" at end of file, None if there are none yet.

    Never blocks (see the module docstring for the fallback's one exception)
    and never changes the descriptor's flags.  ``nowait=False`` skips the
    ``RWF_NOWAIT`` try (a caller that knows the descriptor refuses it).
    """
    if nowait and _RWF_NOWAIT:
        buf = bytearray(n)
        try:
            k = os.preadv(fd, (buf,), -1, _RWF_NOWAIT)
        except BlockingIOError:
            return None
        except OSError as e:
            if e.errno not in _NO_NOWAIT:
                raise
        else:
            del buf[k:]
            return bytes(buf)
    if not _ready(fd, POLLIN):
        return None
    try:
        return os.read(fd, n)
    except BlockingIOError:  # its owner made it non-blocking
        return None


def readinto_nowait(fd: int, view: memoryview, nowait: bool = True) -> int | None:
    """As :func:`read_nowait`, into ``view``: the count (0 at end of file) or None."""
    if nowait and _RWF_NOWAIT:
        try:
            return os.preadv(fd, (view,), -1, _RWF_NOWAIT)
        except BlockingIOError:
            return None
        except OSError as e:
            if e.errno not in _NO_NOWAIT:
                raise
    if not _ready(fd, POLLIN):
        return None
    try:
        return os.readv(fd, (view,))
    except BlockingIOError:
        return None


def write_nowait(fd: int, data: memoryview, nowait: bool = True) -> int | None:
    """Write what fits now: the count, or None if there is no room yet.

    Never blocks and never changes the descriptor's flags (module docstring).

    Raises:
        BrokenPipeError: the reading end is closed.
    """
    if nowait and _RWF_NOWAIT:
        try:
            return os.pwritev(fd, (data,), -1, _RWF_NOWAIT)
        except BlockingIOError:
            return None
        except OSError as e:
            if e.errno not in _NO_NOWAIT:
                raise
    if not _ready(fd, POLLOUT):
        return None
    try:
        return os.write(fd, data[:PIPE_BUF])
    except BlockingIOError:
        return None


class _PipeEnd:
    """What every pipe end shares: the raw file object that owns the fd, closing, the policy."""

    _raw: io.RawIOBase | None
    _fd: int
    _name: str
    on_cancel: OnCancel | None

    def _setup(self, raw: io.RawIOBase, name: str) -> None:
        self._raw = raw
        self._fd = raw.fileno()
        self._name = name
        self.on_cancel = None

    def __repr__(self) -> str:
        state = "closed" if self.closed else f"fd={self._fd}"
        return f"<thredo pipe {self._name} {state}>"

    @property
    def name(self) -> Any:
        return self._fd

    @property
    def mode(self) -> str:
        return "rb" if self.readable() else "wb"

    def readable(self) -> bool:
        return False

    def fileno(self) -> int:
        if self.closed:
            raise ValueError("I/O operation on closed file")
        return self._fd

    def isatty(self) -> bool:
        return False

    def close(self) -> None:
        raw = self._raw
        if raw is not None:
            try:
                super().close()  # type: ignore[misc]  # IOBase's flush and bookkeeping, while open
            finally:
                self._raw = None
                raw.close()

    @property
    def closed(self) -> bool:
        return self._raw is None

    def _check(self) -> None:
        if self._raw is None:
            raise ValueError("I/O operation on closed file")

    def _cancelled(self, e: BaseException) -> None:
        if isinstance(e, CancelledError) and self.on_cancel is not None:
            callback = self.on_cancel()
            if callback is not None:
                callback(e, self)

    def take_buffer(self) -> bytes:
        """Take what is buffered (for ``communicate``): nothing, unbuffered."""
        return b""

    def read_chunk(self, timeout: float | None) -> bytes | None:
        """Buffered bytes, else one raw read: b"" at EOF, None when ``timeout`` passed.

        For ``communicate``: not a cancellation point, no ``on_cancel``.
        """
        self._check()
        buffered = self.take_buffer()
        if buffered:
            return buffered
        fd = self._fd
        while True:
            data = read_nowait(fd, READ_CHUNK)
            if data is not None:
                return data
            if not wait_fd(fd, POLLIN, timeout, self, "communicate"):
                return None

    # -- the one non-blocking read and write, waiting when they cannot go on now

    def _read_some(self, n: int) -> bytes:
        """One read of at most ``n`` bytes, waiting (cancellably) until some or EOF."""
        fd = self._fd
        if current_state() is None:
            try:
                return os.read(fd, n)  # a plain thread: the plain blocking read
            except BlockingIOError:  # made non-blocking by its owner: wait as a blocking file
                pass
        while True:
            data = read_nowait(fd, n)
            if data is not None:
                note_return()  # done, maybe past a deadline: not uncancellable time
                return data
            wait_fd(fd, POLLIN, None, self, "read")
            if self._raw is None:
                raise ValueError("I/O operation on closed file")

    def _write_all(self, data: memoryview) -> int:
        """Write all of ``data``, a cancellation point before every chunk after the first.

        On an exception its ``bytes_written`` is how much went out.
        """
        fd = self._fd
        n = len(data)
        written = 0
        plain = current_state() is None
        try:
            while written < n:
                if plain:
                    try:
                        written += os.write(fd, data[written:])
                        continue
                    except BlockingIOError:
                        pass
                else:
                    if written:
                        checkpoint()  # a child that reads fast: still cancellable
                    k = write_nowait(fd, data[written:])
                    if k is not None:
                        written += k
                        continue
                wait_fd(fd, POLLOUT, None, self, "write")
        except BaseException as e:
            e.bytes_written = written  # type: ignore[attr-defined]
            raise
        note_return()
        return written


class PipeReader(_PipeEnd, io.BufferedIOBase):
    """The read end of a pipe, as ``io.BufferedReader``; every read, and every chunk, is a point.

    ``read()`` reads to end of file, ``read(n)`` until ``n`` bytes or end of
    file, ``read1(n)`` at most one system call, ``readline(size)``, ``peek``,
    ``readinto``, iteration by lines.  On a cancellation or timeout the
    exception's ``bytes_read`` is what this call had gathered (still
    buffered, nothing is lost).
    """

    def __init__(self, raw: io.RawIOBase, name: str = "stdout") -> None:
        super().__init__()
        self._setup(raw, name)
        self._buf = Chunks()
        self.eof = False  # the writer closed its end and the buffer ran dry once

    def readable(self) -> bool:
        return True

    def _fill(self) -> bytes:
        """One raw read appended to the buffer, and returned; b"" at end of file.

        Not a cancellation point by itself (its callers are, before each call).
        """
        data = self._read_some(READ_CHUNK)
        if not data:
            self.eof = True
        else:
            self._buf.append(data)
        return data

    def take_buffer(self) -> bytes:
        """Take what is buffered (for ``communicate``)."""
        return self._take(len(self._buf))

    def _take(self, n: int) -> bytes:
        return self._buf.take(n)

    def _failed(self, e: BaseException) -> None:
        # What is buffered, still buffered: the exception gets the same chunks, joined when read.
        set_partial(e, "bytes_read", Joined(self._buf.snapshot()))
        self._cancelled(e)

    def read(self, size: int | None = -1) -> bytes:
        """Up to ``size`` bytes (to end of file when negative or None)."""
        self._check()
        try:
            checkpoint()
            if size is None or size < 0:
                while self._fill():
                    checkpoint()  # a child that keeps the pipe full: a point per chunk
                return self._take(len(self._buf))
            while len(self._buf) < size and self._fill():
                checkpoint()
            return self._take(size)
        except BaseException as e:
            self._failed(e)
            raise

    def readall(self) -> bytes:
        return self.read()

    def read1(self, size: int = -1) -> bytes:
        """Buffered bytes, else at most one system call's worth."""
        self._check()
        try:
            checkpoint()
            if not self._buf:
                self._fill()
            return self._take(len(self._buf) if size < 0 else size)
        except BaseException as e:
            self._failed(e)
            raise

    def peek(self, size: int = 0) -> bytes:
        """The buffered bytes, reading once if there are none; nothing is consumed."""
        self._check()
        try:
            checkpoint()
            if not self._buf:
                self._fill()
            return self._buf.peek()
        except BaseException as e:
            self._failed(e)
            raise

    def readinto(self, b: Any) -> int:
        data = self.read(len(memoryview(b).cast("B")))
        n = len(data)
        memoryview(b).cast("B")[:n] = data
        return n

    def readinto1(self, b: Any) -> int:
        data = self.read1(len(memoryview(b).cast("B")))
        n = len(data)
        memoryview(b).cast("B")[:n] = data
        return n

    def readline(self, size: int | None = -1) -> bytes:
        """One line (up to ``size`` bytes), with its ``\\n``; b"" at end of file."""
        self._check()
        limit = -1 if size is None else size
        try:
            checkpoint()
            buf = self._buf
            nl = buf.find_newline()
            first = True
            while nl < 0 and not 0 <= limit <= len(buf):
                if not first:
                    checkpoint()  # a long line arriving fast: a point per chunk
                first = False
                data = self._fill()
                if not data:
                    break
                i = data.find(b"\n")  # only the new chunk: the rest had none
                if i >= 0:
                    nl = len(buf) - len(data) + i
            n = len(buf) if nl < 0 else nl + 1
            if 0 <= limit < n:
                n = limit
            return self._take(n)
        except BaseException as e:
            self._failed(e)
            raise

    def __next__(self) -> bytes:
        line = self.readline()
        if not line:
            raise StopIteration
        return line


class PipeWriter(_PipeEnd, io.BufferedIOBase):
    """The write end of a pipe, as ``io.BufferedWriter``; writes and flushes are points.

    A ``write`` that fits in the buffer (``buffer_size``) stays there until
    ``flush`` or ``close``; a larger one sends the buffer and itself before it
    returns.  A cancelled or timed-out write carries ``bytes_written``.
    ``BrokenPipeError`` when the child closed its end, where the stdlib's
    raises it (at the ``flush`` or ``close`` that sends the data).
    """

    def __init__(
        self, raw: io.RawIOBase, name: str = "stdin", buffer_size: int = io.DEFAULT_BUFFER_SIZE
    ) -> None:
        super().__init__()
        self._setup(raw, name)
        self._wbuf = bytearray()
        self.buffer_size = buffer_size if buffer_size > 0 else io.DEFAULT_BUFFER_SIZE

    def writable(self) -> bool:
        return True

    def write(self, b: Any) -> int:
        self._check()
        with memoryview(b) as view, view.cast("B") as data:
            n = len(data)
            try:
                checkpoint()
                if len(self._wbuf) + n <= self.buffer_size:
                    self._wbuf += data
                    return n
                self._send_buffer()
                if n <= self.buffer_size:
                    self._wbuf += data
                else:
                    self._write_all(data)
            except BaseException as e:
                e.bytes_written = getattr(e, "bytes_written", 0)  # type: ignore[attr-defined]
                self._cancelled(e)
                raise
            return n

    def _send_buffer(self) -> None:
        """Send what is buffered; on an exception the unsent rest stays buffered."""
        buf = self._wbuf
        if not buf:
            return
        try:
            with memoryview(buf) as view:
                self._write_all(view)
        except BaseException as e:
            del buf[: getattr(e, "bytes_written", 0)]
            e.bytes_written = 0  # type: ignore[attr-defined]  # none of the caller's data
            raise
        del buf[:]

    def flush(self) -> None:
        self._check()
        if not self._wbuf:
            return
        try:
            checkpoint()
            self._send_buffer()
        except BaseException as e:
            self._cancelled(e)
            raise

    def close(self) -> None:
        raw = self._raw
        if raw is not None:
            try:
                self.flush()
            finally:
                self._wbuf = bytearray()
                self._raw = None
                raw.close()


class RawPipeReader(_PipeEnd, io.RawIOBase):
    """The read end of an unbuffered pipe (``bufsize=0``), as ``io.FileIO``: each read is one call.

    ``read(n)`` takes at most ``n`` bytes off the pipe (the rest stays in
    the pipe, where ``select()`` sees it).  A cancelled read consumes
    nothing (``bytes_read`` is b""); a cancelled ``readall`` carries what it
    had read.
    """

    def __init__(self, raw: io.RawIOBase, name: str = "stdout") -> None:
        super().__init__()
        self._setup(raw, name)

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        self._check()
        with memoryview(b) as view, view.cast("B") as mv:
            if not len(mv):
                return 0
            try:
                checkpoint()
                if current_state() is None:
                    return os.readv(self._fd, (mv,))  # blocking, as FileIO
                while True:
                    k = readinto_nowait(self._fd, mv)
                    if k is not None:
                        note_return()
                        return k
                    wait_fd(self._fd, POLLIN, None, self, "read")
                    self._check()
            except BaseException as e:
                e.bytes_read = b""  # type: ignore[attr-defined]
                self._cancelled(e)
                raise

    def readall(self) -> bytes:
        self._check()
        chunks: list[bytes] = []
        try:
            checkpoint()
            while True:
                if chunks:
                    checkpoint()  # a point per chunk
                data = self._read_some(READ_CHUNK)
                if not data:
                    return b"".join(chunks)
                chunks.append(data)
        except BaseException as e:
            set_partial(e, "bytes_read", Joined(chunks))
            self._cancelled(e)
            raise


class RawPipeWriter(_PipeEnd, io.RawIOBase):
    """The write end of an unbuffered pipe (``bufsize=0``): ``write`` sends all of ``b`` now."""

    def __init__(self, raw: io.RawIOBase, name: str = "stdin") -> None:
        super().__init__()
        self._setup(raw, name)

    def writable(self) -> bool:
        return True

    def write(self, b: Any) -> int:
        self._check()
        with memoryview(b) as view, view.cast("B") as data:
            try:
                checkpoint()
                return self._write_all(data)
            except BaseException as e:
                if not hasattr(e, "bytes_written"):
                    e.bytes_written = 0  # type: ignore[attr-defined]
                self._cancelled(e)
                raise
