"""Cancellable pipe file objects: the ``stdin``/``stdout``/``stderr`` of a thredo ``Popen``.

Theory of operation
-------------------

A pipe's descriptor is put in non-blocking mode; :class:`PipeReader` and
:class:`PipeWriter` are ``io.BufferedIOBase`` objects over it (so
``io.TextIOWrapper`` wraps them for text mode, exactly as the stdlib wraps
its ``BufferedReader``/``BufferedWriter``).  A read or write first tries the
system call in the calling thread; only on ``EAGAIN`` does it wait, in
:func:`thredo._core.wait_fd`, the one fd wait::

    thread                                    kernel pipe
    ------                                    -----------
    read():  checkpoint()                     (a cancellation point, always)
             os.read(fd) -> EAGAIN
             wait_fd(fd, POLLIN) ..........   child writes -> POLLIN
             os.read(fd) -> data              (or a cancel: the exception)

Why not ``io.BufferedReader`` over a raw object: when its raw read raises
in the middle of a ``readline`` (a cancel, a timeout) the C implementation
drops the part of the line it had already taken from its buffer.  Here the
buffer keeps everything not yet returned, so a cancelled read loses no
byte: the exception carries a copy (``bytes_read``) and the data stays
buffered.  (Over text mode, ``io.TextIOWrapper`` keeps decoded characters
of its own, which a cancelled text ``readline`` drops: only the bytes still
in this buffer are reported.)

Writes are unbuffered (each ``write`` sends all its bytes before it
returns, like the stdlib's ``stdin`` in its default write-through text
mode); a cancelled write carries ``bytes_written``.

``on_cancel`` (set by the owning ``Popen``) is called with every
cancellation exception (``thredo.CancelledError``) that leaves a read or
write, before it propagates: that is where the child is terminated and
reaped (``thredo.net.subprocess``'s cancellation policy).

Thread safety: a pipe is used by one thread at a time, as a file object is.
Closing does not restore the blocking flag: the flag belongs to this end's
open file description, which only this process holds (the child has the
other end).
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable
from typing import Any

from .._core import POLLIN, POLLOUT, CancelledError, checkpoint, wait_fd

__all__ = ("Pipe", "PipeReader", "PipeWriter", "READ_CHUNK")

READ_CHUNK = 65536  # bytes asked of the OS per read: a Linux pipe holds 64 KiB


class Pipe(io.BufferedIOBase):
    """What both ends share: the raw file object that owns the fd, and closing."""

    def __init__(self, raw: io.RawIOBase, name: str) -> None:
        super().__init__()
        self._raw: io.RawIOBase | None = raw
        self._fd = raw.fileno()
        self._name = name
        self.on_cancel: Callable[[BaseException, Pipe], None] | None = None
        os.set_blocking(self._fd, False)

    def __repr__(self) -> str:
        state = "closed" if self.closed else f"fd={self._fd}"
        return f"<thredo pipe {self._name} {state}>"

    @property
    def name(self) -> Any:
        return self._fd

    @property
    def mode(self) -> str:
        return "rb" if self.readable() else "wb"

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
                super().close()  # IOBase's flush and bookkeeping, while still open
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
            self.on_cancel(e, self)


class PipeReader(Pipe):
    """The read end of a pipe, as ``io.BufferedReader``; every read is a cancellation point.

    ``read()`` reads to end of file, ``read(n)`` until ``n`` bytes or end of
    file, ``read1(n)`` at most one system call, ``readline(size)``, ``peek``,
    ``readinto``, iteration by lines.  On a cancellation or timeout the
    exception's ``bytes_read`` is what this call had gathered (still
    buffered, nothing is lost).
    """

    def __init__(self, raw: io.RawIOBase, name: str = "stdout") -> None:
        super().__init__(raw, name)
        self._buf = bytearray()
        self.eof = False  # the writer closed its end and the buffer ran dry once

    def readable(self) -> bool:
        return True

    def _fill(self, endtime: float | None = None) -> bool:
        """One raw read appended to the buffer; False at end of file.

        Not a cancellation point by itself (callers are); waits when empty.
        """
        fd = self._fd
        while True:
            try:
                data = os.read(fd, READ_CHUNK)
            except BlockingIOError:
                wait_fd(fd, POLLIN, None, self, "read")
                continue
            if not data:
                self.eof = True
                return False
            self._buf += data
            return True

    def take_buffer(self) -> bytes:
        """Take what is buffered (for ``communicate``)."""
        return self._take(len(self._buf))

    def read_chunk(self, timeout: float | None) -> bytes | None:
        """Buffered bytes, else one raw read: b"" at EOF, None when ``timeout`` passed.

        For ``communicate``: not a cancellation point, no ``on_cancel``.
        """
        self._check()
        if self._buf:
            data = bytes(self._buf)
            del self._buf[:]
            return data
        fd = self._fd
        while True:
            try:
                return os.read(fd, READ_CHUNK)
            except BlockingIOError:
                if not wait_fd(fd, POLLIN, timeout, self, "communicate"):
                    return None

    def _take(self, n: int) -> bytes:
        buf = self._buf
        if n >= len(buf):
            data = bytes(buf)
            del buf[:]
        else:
            data = bytes(buf[:n])
            del buf[:n]
        return data

    def _failed(self, e: BaseException) -> None:
        e.bytes_read = bytes(self._buf)  # type: ignore[attr-defined]
        self._cancelled(e)

    def read(self, size: int | None = -1) -> bytes:
        """Up to ``size`` bytes (to end of file when negative or None)."""
        self._check()
        try:
            checkpoint()
            if size is None or size < 0:
                while self._fill():
                    pass
                return self._take(len(self._buf))
            while len(self._buf) < size and self._fill():
                pass
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
            return bytes(self._buf)
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
            start = 0
            while True:
                buf = self._buf
                i = buf.find(b"\n", start)
                if i >= 0:
                    n = i + 1
                    break
                if 0 <= limit <= len(buf):
                    n = limit
                    break
                start = len(buf)
                if not self._fill():
                    n = len(buf)
                    break
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


class PipeWriter(Pipe):
    """The write end of a pipe, as an unbuffered ``io.BufferedWriter``; writes are points.

    ``write(b)`` returns when all of ``b`` is in the pipe; a cancelled or
    timed-out write carries ``bytes_written``.  ``BrokenPipeError`` when the
    child closed its end, as in the stdlib.
    """

    def __init__(self, raw: io.RawIOBase, name: str = "stdin") -> None:
        super().__init__(raw, name)

    def writable(self) -> bool:
        return True

    def write(self, b: Any) -> int:
        self._check()
        data = memoryview(b).cast("B")
        fd = self._fd
        n = len(data)
        written = 0
        try:
            checkpoint()
            while written < n:
                try:
                    written += os.write(fd, data[written:])
                except BlockingIOError:
                    wait_fd(fd, POLLOUT, None, self, "write")
        except BaseException as e:
            e.bytes_written = written  # type: ignore[attr-defined]
            self._cancelled(e)
            raise
        return written

    def flush(self) -> None:
        self._check()
