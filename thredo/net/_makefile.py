"""The file objects of ``socket.makefile()``: stdlib ``io`` classes, cancellable, losing nothing.

``makefile()`` builds the stdlib's stack -- a raw :class:`SocketIO`, an
``io.BufferedReader``/``BufferedWriter``/``BufferedRWPair`` over it, and a
``TextIOWrapper`` for text -- from subclasses defined here.  Every read and
write of the file is a cancellation point (raised before it takes
anything, even when the data is already buffered), and the socket's wait
makes it cancellable and subject to ``timeout_after`` while it waits.

The rule: a read cut by a cancel or a ``timeout_after`` deadline loses
nothing.  The bytes it had already gathered are returned by the next read
of the file (the peer sends ``abc``, a ``readline()`` is cut, the peer sends
``def\\n``: the next ``readline()`` gives ``abcdef\\n``).  That holds for
every read: ``read``, ``read1``, ``readinto``, ``readinto1``, ``readline``,
``readlines``, iteration, binary and text mode.  (The stdlib's ``io`` drops
what a buffered read had gathered when the raw read under it raises; after
a *socket* timeout its file refuses every later read, so its loss is never
silent.  A socket timeout -- ``settimeout`` -- keeps exactly that stdlib
behaviour here; only thredo's cuts are lossless.)

Mechanism, binary.  The C ``BufferedReader`` loses what it gathered if
``raw.readinto`` raises, but when the raw read returns ``None`` ("would
block") it stops at once and returns what it has, with its own buffer
empty (``Modules/_io/bufferedio.c``: ``_buffered_readline``,
``_bufferedreader_read_generic``, ``_buffered_readinto_generic``, ``read1``,
``readall``).  So the raw read under a buffer catches a cut, keeps it for
the calling thread and returns ``None``; the file's method, on return, finds
the kept cut, puts what the call returned back in front of the raw
layer (the raw's next reads serve it first) and raises the cut::

    user ── f.readline() ──► BufferedReader (C) ── raw.readinto ──► recv_into
                                   ▲                   │ cut: keep it,
      raise the cut ◄── give back  │  partial line ◄───┘ return None
      "abc" to the raw layer ──────┘

Mechanism, text.  ``TextIOWrapper`` keeps the text of a line it is
gathering in a local of its C ``readline``, lost on any exception, and has
no "would block" return.  So text reads are done here, in Python, with the
stdlib's own decoder (``codecs`` incremental decoder inside
``io.IncrementalNewlineDecoder``, as ``TextIOWrapper`` builds it) and
``_pyio``'s line-ending rules: all decoded-but-unread text lives on the
object, so a cut between two chunk reads loses nothing.  Writes are the C
class's.

Thread safety: as the stdlib's, one thread at a time should read a file.
Reads from several threads do not corrupt the file, but the bytes a cut read
gives back go to the next read, whichever thread makes it.  Do not read the
raw layer (``f.raw``) directly under a buffered file: a cut there is kept
for the file's next read instead of raised.
"""

from __future__ import annotations

import codecs as _codecs
import io as _io
import operator as _operator
import socket as _stdsocket
import types as _types
from collections.abc import Callable
from threading import get_ident as _get_ident
from typing import Any

from .._chunks import Chunks as _Chunks
from .._core import CancelledError as _CancelledError
from .._core import checkpoint as _checkpoint

__all__ = ("SocketIO", "BufferedReader", "BufferedWriter", "BufferedRWPair", "TextIOWrapper")


class SocketIO(_stdsocket.SocketIO):
    """The stdlib's raw socket file, which under a buffer never drops what it received.

    Under a buffered file (``_buffered`` set by ``makefile()``), a cut
    (:class:`thredo.CancelledError`: cancel or ``timeout_after``) of a read
    is kept in ``_cuts`` for the calling thread and the read returns
    ``None``, so the C buffer returns what it had gathered; the file's
    method then hands that back (``_give_back``) and raises the cut.
    Unbuffered (``buffering=0``), the raw file is the user's and a cut is
    raised at once (a recv that raises has taken nothing).
    """

    _buffered = False

    def __init__(self, sock: Any, mode: Any) -> None:
        super().__init__(sock, mode)
        # Bytes a cut read gave back, served before the socket's (in chunks:
        # taking from the front copies only what is taken).
        self._back = _Chunks()
        # Thread ident -> the cut its read under the buffer got; the file
        # object shares this dict and raises the cut when its call returns.
        self._cuts: dict[int, BaseException] = {}

    def readinto(self, b: Any) -> int | None:
        """As ``SocketIO.readinto``; under a buffer, a cut is kept (see the class)."""
        back = self._back
        if back:
            self._checkClosed()
            with memoryview(b) as view, view.cast("B") as out:
                data = back.take(len(out))
                n = len(data)
                out[:n] = data
            return n
        cuts = self._cuts
        if cuts and _get_ident() in cuts:
            return None  # this thread's call was cut: take nothing more
        try:
            return super().readinto(b)
        except _CancelledError as e:
            if not self._buffered:
                raise
            cuts[_get_ident()] = e
            return None

    def _give_back(self, data: Any) -> None:
        """Put ``data`` (what a cut read had gathered) before what the next read gets."""
        if data:
            self._back.prepend(bytes(data))


_NO_CUTS: Any = _types.MappingProxyType({})


def _raise_cut(f: Any, result: Any, name: str, args: tuple[Any, ...]) -> None:
    """The slow path of a buffered read: if this thread's read was cut, give back and raise."""
    exc = f._cuts.pop(_get_ident(), None)
    if exc is None:
        return  # another thread's cut: its own call raises it
    if name in ("readinto", "readinto1"):
        if result:
            with memoryview(args[0]) as view, view.cast("B") as out:
                f._traw._give_back(out[:result])
    elif name != "peek" and result:  # peek takes nothing
        f._traw._give_back(result)
    raise exc


def _with_points(
    base: type,
    names: tuple[str, ...],
    reads: tuple[str, ...] = (),
    extra: dict[str, Any] | None = None,
) -> type:
    """A subclass of the ``io`` class ``base`` whose methods ``names`` are cancellation points.

    The C classes call these methods through the instance when it is a
    subclass (iteration calls ``readline``, ``writelines`` calls ``write``,
    ``TextIOWrapper`` calls its buffer's ``read1``/``write``), so each call
    of a user's is a point, even one served from the buffer.  The methods
    ``reads`` also raise a cut their raw read kept, giving back what they
    had gathered (module docstring).  The ``repr`` is the stdlib's.
    """

    def point(name: str) -> Callable[..., Any]:
        meth = getattr(base, name)

        if name in reads:

            def method(self: Any, *args: Any, **kwargs: Any) -> Any:
                _checkpoint()
                result = meth(self, *args, **kwargs)
                if self._cuts:  # some read was cut (rare): this thread's?
                    _raise_cut(self, result, name, args)
                return result

        else:

            def method(self: Any, *args: Any, **kwargs: Any) -> Any:
                _checkpoint()
                return meth(self, *args, **kwargs)

        method.__name__ = name
        method.__qualname__ = f"{base.__name__}.{name}"
        method.__doc__ = f"As ``{base.__module__}.{base.__name__}.{name}``; a cancellation point."
        return method

    ns: dict[str, Any] = {name: point(name) for name in names}
    ns.update(extra or {})
    base_repr: Any = base.__repr__
    # The C repr prints the subclass's bare name ("<BufferedReader name=3>"),
    # object's its module ("<thredo.net._makefile.BufferedRWPair object ...>").
    ours = (f"<{base.__name__}", f"<{__name__}.{base.__name__}")

    def __repr__(self: Any) -> str:
        r: str = base_repr(self)
        for prefix in ours:
            if r.startswith(prefix):
                return f"<_io.{base.__name__}{r[len(prefix) :]}"
        return r

    ns["__repr__"] = __repr__
    ns["_cuts"] = _NO_CUTS  # makefile() sets the raw layer's
    ns["__module__"] = __name__
    ns["__doc__"] = f"``{base.__name__}`` whose reads and writes are cancellation points."
    return type(base.__name__, (base,), ns)


_READS = ("read", "read1", "readinto", "readinto1", "readline", "peek")


def _readlines(readline: Callable[[Any], bytes]) -> Callable[..., list[bytes]]:
    """``readlines`` over ``readline`` (one with no point, leaving a cut in ``_cuts``).

    ``IOBase.readlines`` gathers the lines in a local, lost if a read under
    it raises; this one gives them back with the cut line's start.
    """

    def readlines(self: Any, hint: int | None = -1) -> list[bytes]:
        """As ``IOBase.readlines``; a cancellation point; a cut loses nothing."""
        _checkpoint()
        hint = -1 if hint is None else _operator.index(hint)
        lines: list[bytes] = []
        total = 0
        while True:
            line = readline(self)
            if self._cuts and _get_ident() in self._cuts:
                exc = self._cuts.pop(_get_ident())
                self._traw._give_back(b"".join([*lines, line]))  # the buffer is empty
                raise exc
            if not line:
                return lines
            lines.append(line)
            total += len(line)
            if 0 < hint <= total:
                return lines

    return readlines


_ReaderBase = _with_points(
    _io.BufferedReader, _READS, _READS, {"readlines": _readlines(_io.BufferedReader.readline)}
)


class BufferedReader(_ReaderBase):  # type: ignore[misc,valid-type]
    """``io.BufferedReader`` whose reads are cancellation points, a cut losing nothing.

    ``read()`` to end of file is done here, in chunks of up to
    ``READALL_CHUNK``: the C one joins what it gathered when cut, which for
    a peer that never stops sending is hundreds of MB (0.5-0.7 ms per MB)
    before the cut is raised; this one gives the chunks back as they are.
    """

    def read(self, size: int | None = -1) -> bytes:
        """As ``BufferedReader.read``; a cancellation point; a cut loses nothing."""
        if (
            size is not None and _operator.index(size) >= 0
        ) or self._traw._sock.gettimeout() is not None:
            # A socket timeout or a non-blocking socket: the stdlib's rules (None when
            # nothing is there yet, what a timeout interrupted is lost: module docstring).
            return super().read(size)  # type: ignore[no-any-return]
        _checkpoint()
        read1 = _io.BufferedReader.read1
        chunks: list[bytes] = []
        while True:
            chunk = read1(self, READALL_CHUNK)  # the buffer's bytes first, then the socket's
            if not chunk:
                break  # end of file, or a cut (kept in _cuts by the raw layer)
            chunks.append(chunk)
        if self._cuts:
            exc = self._cuts.pop(_get_ident(), None)
            if exc is not None:
                for chunk in reversed(chunks):
                    self._traw._give_back(chunk)
                raise exc
        return b"".join(chunks)


READALL_CHUNK = 65536  # bytes asked of the socket per read of BufferedReader.read()
BufferedWriter = _with_points(_io.BufferedWriter, ("write",))
_PairBase = _with_points(_io.BufferedRWPair, (*_READS, "write"), _READS)


class BufferedRWPair(_PairBase):  # type: ignore[misc,valid-type]
    """``io.BufferedRWPair`` whose reads and writes are cancellation points, a cut losing nothing.

    The C pair has no ``readline`` of its own: ``IOBase.readline`` gathers
    the line in a local, lost if a read under it raises.  This one gives
    what it gathered back to the raw layer first.
    """

    def readline(self, size: int | None = -1) -> bytes:
        """As ``BufferedRWPair.readline``; a cancellation point; a cut loses nothing."""
        _checkpoint()
        line = self._readline(size)
        if self._cuts:
            _raise_cut(self, line, "readline", ())
        return line

    def _readline(self, size: int | None = -1) -> bytes:
        # IOBase.readline's loop over the C methods (no points between
        # them: a point raising while the buffer held data would put what
        # is given back after it).  A cut stops it, kept in _cuts.
        size = -1 if size is None else _operator.index(size)
        line = bytearray()
        while size < 0 or len(line) < size:
            ahead = _io.BufferedRWPair.peek(self, 1)  # waits; a cut: b"" and kept
            if not ahead:
                break  # EOF, a cut, or a non-blocking socket with nothing to read
            want = len(ahead) if size < 0 else min(len(ahead), size - len(line))
            end = ahead.find(b"\n", 0, want) + 1 or want
            line += _io.BufferedRWPair.read(self, end)  # served from the buffer: no wait
            if line.endswith(b"\n"):
                break
        return bytes(line)

    readlines = _readlines(_readline)


_TextBase = _with_points(_io.TextIOWrapper, ("write",))


class TextIOWrapper(_TextBase):  # type: ignore[misc,valid-type]
    """``io.TextIOWrapper`` whose reads are done here and lose nothing when cut.

    Decoding and newline handling are the stdlib's (the decoder the C
    class would build); the decoded text not yet read is ``_text[_pos:]``,
    so a cut between two chunk reads of the buffer loses nothing.  One
    difference, for the better: a ``write`` on an ``"rw"`` file does not
    discard text already decoded and not yet read (the stdlib's does).
    """

    def __init__(
        self, buffer: Any, encoding: str | None, errors: str | None, newline: str | None
    ) -> None:
        super().__init__(buffer, encoding, errors, newline)
        self._newline = newline
        self._text = ""  # decoded text; the unread part is _text[_pos:]
        self._pos = 0
        self._dec = self._decoder()
        self._readable = buffer.readable()

    def _decoder(self) -> Any:
        # As TextIOWrapper's _get_decoder: universal newlines wrap the codec's decoder.
        dec: Any = _codecs.getincrementaldecoder(self.encoding)(self.errors)
        if self._newline is None or self._newline == "":
            dec = _io.IncrementalNewlineDecoder(dec, translate=self._newline is None)
        return dec

    def _check(self) -> None:
        if self.closed:
            raise ValueError("I/O operation on closed file.")
        if not self._readable:
            raise _io.UnsupportedOperation("not readable")

    def _more(self) -> bool:
        """Decode one more chunk of the buffer onto ``_text``; False at EOF.

        The buffer's read loses nothing when cut (and raises before the
        text state changes), so a cut here leaves the file as it was.
        """
        chunk = self.buffer.read1(self._CHUNK_SIZE)
        eof = not chunk
        text = self._dec.decode(chunk or b"", eof)
        self._text = self._text[self._pos :] + text
        self._pos = 0
        return not eof

    def _take(self, end: int) -> str:
        line = self._text[self._pos : end]
        self._pos = end
        return line

    def read(self, size: int | None = -1) -> str:
        """As ``TextIOWrapper.read``; a cancellation point; a cut loses nothing."""
        _checkpoint()
        self._check()
        size = -1 if size is None else _operator.index(size)
        if size < 0:
            data = self.buffer.read()
            text: str = self._text[self._pos :] + self._dec.decode(data or b"", True)
            self._text, self._pos = "", 0
            return text
        while len(self._text) - self._pos < size and self._more():
            pass
        return self._take(min(self._pos + size, len(self._text)))

    def readline(self, size: int | None = -1) -> str:
        """As ``TextIOWrapper.readline``; a cancellation point; a cut loses nothing."""
        _checkpoint()
        nl = self._newline
        if nl is None and (size == -1 or size is None) and not self.closed:
            # The usual case first: a whole line already decoded (_take, inline).
            text, pos = self._text, self._pos
            i = text.find("\n", pos) + 1
            if i:
                self._pos = i
                return text[pos:i]
        self._check()
        size = -1 if size is None else _operator.index(size)
        start = self._pos  # where the search for a line ending goes on, in _text
        while True:
            # _pyio.TextIOWrapper.readline's line-ending search, over the unread part.
            text, pos = self._text, self._pos
            endpos = -1
            if nl is None:  # translated: only \n
                i = text.find("\n", start)
                if i >= 0:
                    endpos = i + 1
            elif nl == "":  # universal, untranslated (the decoder never splits \r\n)
                n, r = text.find("\n", start), text.find("\r", start)
                if r == -1:
                    if n >= 0:
                        endpos = n + 1
                elif n == r + 1:
                    endpos = r + 2
                elif n == -1 or r < n:
                    endpos = r + 1
                else:
                    endpos = n + 1
            else:
                i = text.find(nl, max(pos, start - len(nl) + 1))
                if i >= 0:
                    endpos = i + len(nl)
            if endpos >= 0:
                break
            if size >= 0 and len(text) - pos >= size:
                endpos = pos + size
                break
            searched = len(text) - pos
            if not self._more():
                endpos = len(self._text)
                break
            start = self._pos + searched  # _more moved the unread part to the front
        if size >= 0:
            endpos = min(endpos, self._pos + size)
        return self._take(endpos)

    def readlines(self, hint: int | None = -1) -> list[str]:
        """As ``TextIOWrapper.readlines``; a cancellation point; a cut loses nothing."""
        hint = -1 if hint is None else _operator.index(hint)
        lines: list[str] = []
        total = 0
        try:
            while True:
                line = self.readline()
                if not line:
                    return lines
                lines.append(line)
                total += len(line)
                if 0 < hint <= total:
                    return lines
        except BaseException:
            self._text = "".join(lines) + self._text[self._pos :]  # unread again
            self._pos = 0
            raise

    def __next__(self) -> str:
        line = self.readline()
        if not line:
            raise StopIteration
        return line

    @property
    def newlines(self) -> Any:
        """As ``TextIOWrapper.newlines``."""
        return getattr(self._dec, "newlines", None)

    def reconfigure(self, **kwargs: Any) -> None:
        """As ``TextIOWrapper.reconfigure``."""
        changes = {k for k in ("encoding", "errors") if kwargs.get(k) is not None}
        changes |= {"newline"} & kwargs.keys()
        if changes and self._text:
            raise _io.UnsupportedOperation(
                "It is not possible to set the encoding or newline of stream after the first read"
            )
        super().reconfigure(**kwargs)
        if "newline" in kwargs:
            self._newline = kwargs["newline"]
        if changes:
            self._dec = self._decoder()
