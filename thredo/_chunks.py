"""A read buffer of chunks: appending, and handing it to an exception, copy nothing."""

from __future__ import annotations

from collections import deque

__all__ = ["Chunks"]


class Chunks:
    """A read buffer that keeps the chunks as they came.

    Appending copies nothing, and neither does handing all that is buffered
    to a cut call's exception (:meth:`snapshot`: a list of the same bytes
    objects), so a call cut after gathering hundreds of MB leaves at once
    (issue 22, item 1).  Bytes are copied only when a read takes them.
    """

    __slots__ = ("_q", "_off", "_len")

    def __init__(self) -> None:
        self._q: deque[bytes] = deque()
        self._off = 0  # bytes of the first chunk already taken
        self._len = 0

    def __len__(self) -> int:
        return self._len

    def append(self, data: bytes) -> None:
        self._q.append(data)
        self._len += len(data)

    def take(self, n: int) -> bytes:
        """The first ``n`` bytes (all, if fewer), removed."""
        q = self._q
        parts: list[bytes] = []
        need = min(n, self._len)
        self._len -= need
        while need:
            chunk = q[0]
            off = self._off
            avail = len(chunk) - off
            if avail <= need:
                parts.append(chunk[off:] if off else chunk)
                q.popleft()
                self._off = 0
                need -= avail
            else:
                parts.append(chunk[off : off + need])
                self._off = off + need
                need = 0
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def find_newline(self) -> int:
        """The index of the first ``\\n``, or -1."""
        pos = 0
        off = self._off
        for chunk in self._q:
            i = chunk.find(b"\n", off)
            if i >= 0:
                return pos + i - off
            pos += len(chunk) - off
            off = 0
        return -1

    def snapshot(self) -> list[bytes]:
        """What is buffered, as chunks (the first one cut to what is left of it)."""
        chunks = list(self._q)
        if chunks and self._off:
            chunks[0] = chunks[0][self._off :]
        return chunks

    def prepend(self, data: bytes) -> None:
        """Put ``data`` before what is buffered (a cut read giving back what it gathered)."""
        if not data:
            return
        if self._off:
            self._q[0] = self._q[0][self._off :]
            self._off = 0
        self._q.appendleft(data)
        self._len += len(data)

    def peek(self) -> bytes:
        """All that is buffered, without taking it (kept joined: a second peek copies nothing)."""
        data = self.take(self._len)
        if data:
            self.append(data)
        return data
