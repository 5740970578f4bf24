"""Buffered byte streams over sockets (SocketStream) and pipes/files (FileStream).

The API is curio's streams in blocking form: ``read``, ``read_exactly``,
``readline``, ``readlines``, ``readall``, ``readinto``, ``write``,
``writelines``, ``flush``, iteration by lines, context manager.  No stdlib
class has this shape; next to ``io.BufferedReader`` the differences are
``read_exactly``, ``readline(maxlen)`` that never buffers more than asked,
writes that go out at once (nothing is buffered on the write side), and
partial progress reported on the exception.

No data is silently lost.  When a read is cancelled, times out
(``timeout_after`` or the socket's own timeout) the exception carries
``bytes_read``: the bytes this call had already taken off the stream (for
``readline`` and ``read_exactly`` the partial line or block, for ``readall``
everything so far); they are consumed.  A cancelled or timed-out write
carries ``bytes_written``, the number of bytes that went out (for
``writelines``, of all its lines together).  ``read_exactly`` at end of
file raises ``EOFError`` with the partial data as ``bytes_read``.

Cancellation points: in a thredo thread every read and write is one -- it
raises a pending cancel or an expired ``timeout_after`` deadline before
doing its work, even when the data is already buffered (then nothing is
consumed: ``bytes_read`` is ``b""``, the buffer keeps it) or the write would
not have to wait (``bytes_written`` is 0).  So a thread looping over reads
of a fast peer or writes to it is still cancelled and timed out.
``flush`` does nothing and is not a point.  (Over a non-blocking socket --
timeout ``0.0`` -- only a read the buffer serves is a point: the socket's
own calls never block, so they are not.)

``readline(maxlen)`` returns at most ``maxlen`` bytes, like
``io.BufferedReader.readline(size)``: a longer line comes back in pieces
(the last without ``\\n``), so a peer can never make it buffer more than
``maxlen`` plus one read.

A stream is used by one thread at a time (as a file object would be).
While a thread waits in one, its ``Thread.blocked_on`` shows the socket's
call (``"recv"``, ``"sendall"``) and the socket, or for a FileStream
``"read"``/``"write"`` and the stream.
"""

from __future__ import annotations

import errno
import io
import os
from typing import Any

from .._core import (
    POLLIN,
    POLLOUT,
    Joined,
    checkpoint,
    closing_waiters,
    note_return,
    set_partial,
    wait_fd,
    wake_closed,
)

__all__ = ("SocketStream", "FileStream")

MAX_READ = 65536  # bytes asked of the OS per read


class _Stream:
    """Buffering and the line/exact/all readers; subclasses do the raw I/O."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    # The raw operations are cancellation points themselves (a thredo
    # socket's recv/sendall are; FileStream calls checkpoint), raising before
    # they take or send anything.  So a call that goes to the raw layer at
    # once needs no point of its own; one that the buffer can serve calls
    # _read_point first (one checkpoint per call: ~0.1 us each, measured).

    def _read(self, maxbytes: int) -> bytes:  # pragma: no cover - abstract
        """One raw read; a cancellation point."""
        raise NotImplementedError

    def _write(self, data: memoryview) -> None:  # pragma: no cover - abstract
        """Write everything; a cancellation point; on an exception set its ``bytes_written``."""
        raise NotImplementedError

    def _take(self, n: int) -> bytes:
        buf = self._buffer
        data = bytes(buf[:n])
        del buf[:n]
        return data

    def _partial(self, e: BaseException, data: bytes) -> None:
        e.bytes_read = data  # type: ignore[attr-defined]

    @staticmethod
    def _read_point() -> None:
        """The cancellation point a read starts with: it consumes nothing."""
        try:
            checkpoint()
        except BaseException as e:
            e.bytes_read = b""  # type: ignore[attr-defined]
            raise

    # -- reading ------------------------------------------------------------

    def read(self, maxbytes: int = -1) -> bytes:
        """Up to ``maxbytes`` (any amount if negative); b"" only at end of file.

        Buffered data is returned without waiting; else one read of the
        socket or file (at most ``MAX_READ`` bytes when ``maxbytes`` is negative).
        """
        if self._buffer:
            self._read_point()
            return self._take(len(self._buffer) if maxbytes < 0 else maxbytes)
        if maxbytes == 0:
            return b""
        try:
            return self._read(MAX_READ if maxbytes < 0 else maxbytes)
        except BaseException as e:
            self._partial(e, b"")
            raise

    def readall(self) -> bytes:
        """Everything up to end of file (``bytes_read`` on an exception: all of it so far)."""
        if self._buffer:
            self._read_point()
        chunks = [self._take(len(self._buffer))]
        try:
            while True:
                chunk = self._read(MAX_READ)
                if not chunk:
                    return b"".join(chunks)
                chunks.append(chunk)
        except BaseException as e:
            set_partial(e, "bytes_read", Joined(chunks))  # joined when read: leave at once
            raise

    def read_exactly(self, nbytes: int) -> bytes:
        """Exactly ``nbytes``; ``EOFError`` (with ``bytes_read``) if the stream ends first."""
        buf = self._buffer
        if buf:
            self._read_point()
        try:
            while len(buf) < nbytes:
                chunk = self._read(max(MAX_READ, nbytes - len(buf)))
                if not chunk:
                    raise EOFError("Unexpected end of data")
                buf += chunk
        except BaseException as e:
            self._partial(e, self._take(len(buf)))
            raise
        return self._take(nbytes)

    def readinto(self, memory: Any) -> int:
        """Read up to ``len(memory)`` bytes into it; return the count (0 at end of file)."""
        with memoryview(memory) as view, view.cast("B") as mv:
            if not len(mv):
                return 0
            data = self.read(len(mv))
            mv[: len(data)] = data
            return len(data)

    def readline(self, maxlen: int | None = None) -> bytes:
        """One line including ``\\n`` (b"" at end of file), at most ``maxlen`` bytes."""
        buf = self._buffer
        if buf:
            self._read_point()
        if maxlen is not None and maxlen < 0:
            maxlen = None
        start = 0
        try:
            while True:
                nl = buf.find(b"\n", start)
                if nl >= 0:
                    end = nl + 1
                    return self._take(end if maxlen is None else min(end, maxlen))
                if maxlen is not None and len(buf) >= maxlen:
                    return self._take(maxlen)
                start = len(buf)
                chunk = self._read(MAX_READ)
                if not chunk:
                    return self._take(len(buf))
                buf += chunk
        except BaseException as e:
            self._partial(e, self._take(len(buf)))
            raise

    def readlines(self) -> list[bytes]:
        """Every remaining line.  On cancel, ``e.lines_read`` holds the complete ones."""
        lines: list[bytes] = []
        try:
            for line in self:
                lines.append(line)  # noqa: PERF402
        except BaseException as e:
            e.lines_read = lines  # type: ignore[attr-defined]
            raise
        return lines

    def __iter__(self) -> _Stream:
        return self

    def __next__(self) -> bytes:
        line = self.readline()
        if not line:
            raise StopIteration
        return line

    # -- writing ------------------------------------------------------------

    def write(self, data: Any) -> int:
        """Write all of ``data`` now; return its length.

        Raises:
            thredo.CancelledError: the thread's cancellation or deadline.
            TimeoutError: the socket's timeout.
            OSError: the connection failed.  Each of them carries
                ``bytes_written``: how much of ``data`` went out.
        """
        with memoryview(data) as view, view.cast("B") as mv:
            self._write(mv)
            return len(mv)

    def writelines(self, lines: Any) -> None:
        """Write every line (bytes-like objects) in turn; each write is a cancellation point.

        Raises:
            thredo.CancelledError: as :meth:`write` (also ``TimeoutError``,
                ``OSError``), ``bytes_written`` counting every line written so far.
        """
        written = 0
        try:
            for line in lines:
                written += self.write(line)
        except BaseException as e:  # from a write (its partial count) or from the iterable
            e.bytes_written = written + getattr(e, "bytes_written", 0)  # type: ignore[attr-defined]
            raise

    def flush(self) -> None:
        """Nothing is buffered on the write side: does nothing (kept for file-like code)."""

    def __enter__(self) -> Any:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:  # pragma: no cover - abstract
        raise NotImplementedError


class SocketStream(_Stream):
    """A stream over a thredo socket (``sock.as_stream()``); closing it closes the socket.

    Reads and writes obey the socket's timeout as well as cancellation.
    """

    def __init__(self, sock: Any) -> None:
        super().__init__()
        self._socket = sock

    def __repr__(self) -> str:
        return f"<thredo.net.SocketStream {self._socket!r}>"

    @property
    def socket(self) -> Any:
        """The thredo socket underneath (None once the stream is closed)."""
        return self._socket

    def fileno(self) -> int:
        """The socket's file descriptor."""
        return int(self._socket.fileno())

    def _sock(self) -> Any:
        if self._socket is None:
            raise ValueError("I/O operation on closed stream")
        return self._socket

    def _read(self, maxbytes: int) -> bytes:
        return self._sock().recv(maxbytes)  # type: ignore[no-any-return]

    def _write(self, data: memoryview) -> None:
        sock = self._sock()
        try:
            sock.sendall(data)
        except BaseException as e:
            e.bytes_written = getattr(e, "bytes_sent", 0)  # type: ignore[attr-defined]
            raise

    def close(self) -> None:
        """Close the stream and its socket (again: nothing)."""
        if self._socket is not None:
            self._socket.close()
            self._socket = None


class FileStream(_Stream):
    """A stream over a binary file object with a file descriptor (pipes, ttys, files).

    The descriptor is put in non-blocking mode; reads and writes go straight
    to it (the file object's own buffer is bypassed).  Closing the stream
    gives the descriptor its blocking mode back (a terminal or a pipe shared
    with other processes is never left non-blocking) and closes the file
    object.  Closing it from another thread wakes a thread blocked in it
    (``OSError(EBADF)``).
    """

    def __init__(self, fileobj: Any) -> None:
        if isinstance(fileobj, io.TextIOBase):
            raise TypeError("FileStream needs a binary file object, not a text one")
        super().__init__()
        self._file = fileobj
        self._fd = fileobj.fileno()
        self._was_blocking = os.get_blocking(self._fd)
        os.set_blocking(self._fd, False)

    def __repr__(self) -> str:
        return f"<thredo.net.FileStream {self._file!r}>"

    def fileno(self) -> int:
        """The file's descriptor."""
        return int(self._fd)

    def _read(self, maxbytes: int) -> bytes:
        if self._file is None:
            raise ValueError("I/O operation on closed stream")
        checkpoint()
        while True:
            try:
                data = os.read(self._fd, maxbytes)
            except BlockingIOError:
                pass
            else:
                note_return()  # done, maybe past a deadline: not uncancellable time
                return data
            wait_fd(self._fd, POLLIN, None, self, "read")
            if self._file is None:  # closed while it waited
                raise OSError(errno.EBADF, os.strerror(errno.EBADF))

    def _write(self, data: memoryview) -> None:
        if self._file is None:
            raise ValueError("I/O operation on closed stream")
        written = 0
        try:
            checkpoint()
            while written < len(data):
                if written:
                    checkpoint()  # a reader that keeps up: still a point per chunk
                try:
                    written += os.write(self._fd, data[written:])
                except BlockingIOError:
                    wait_fd(self._fd, POLLOUT, None, self, "write")
                if self._file is None:  # closed while it waited
                    raise OSError(errno.EBADF, os.strerror(errno.EBADF))
        except BaseException as e:
            e.bytes_written = written  # type: ignore[attr-defined]
            raise
        note_return()

    def close(self) -> None:
        """Restore the descriptor's blocking mode, close the file object (again: nothing)."""
        f = self._file
        if f is not None:
            self._file = None
            fd = self._fd
            if self._was_blocking:
                try:
                    os.set_blocking(fd, True)
                except OSError:  # already closed under us
                    pass
            waiters = closing_waiters(fd)
            try:
                f.close()
            finally:
                wake_closed(waiters, fd)
