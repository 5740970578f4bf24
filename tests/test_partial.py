"""The partial results of a cut call: computed when first read, and the chunk buffer under them.

Issue 22, item 1: a call cut while data flows leaves within milliseconds of
its deadline however much it had gathered, because joining the chunks waits
until someone reads ``bytes_read``/``stdout`` (``python -m benchmarks.deadlines``
measures it; no timing here).
"""

from __future__ import annotations

import threading

import pytest

import thredo
from thredo._chunks import Chunks
from thredo._core import Joined, partial_of, set_partial


def test_a_partial_result_is_computed_once_when_first_read() -> None:
    calls = []

    def compute() -> bytes:
        calls.append(1)
        return b"abc"

    e = thredo.ThreadTimeout()
    set_partial(e, "bytes_read", compute)
    assert calls == []
    assert hasattr(e, "bytes_read")
    assert e.bytes_read == b"abc"  # type: ignore[attr-defined]
    assert getattr(e, "bytes_read") == b"abc"  # noqa: B009
    assert calls == [1]


def test_a_missing_attribute_is_still_an_attribute_error() -> None:
    e = thredo.ThreadCancelled()
    set_partial(e, "stdout", lambda: b"x")
    with pytest.raises(AttributeError, match="'ThreadCancelled' object has no attribute 'stdot'"):
        e.stdot  # type: ignore[attr-defined]  # noqa: B018
    assert getattr(e, "stderr", None) is None


def test_other_exceptions_get_the_value_at_once() -> None:
    e = KeyboardInterrupt()
    set_partial(e, "bytes_read", lambda: b"now")
    assert e.__dict__["bytes_read"] == b"now"


def test_a_value_set_later_wins_and_partial_of_does_not_compute() -> None:
    e = thredo.ThreadTimeout()
    joined = Joined([b"a", b"b"])
    set_partial(e, "bytes_read", joined)
    later = partial_of(e, "bytes_read")
    assert later is joined  # handed on, not computed
    set_partial(e, "stdout", joined)  # two attributes, one join
    assert e.stdout is e.bytes_read  # type: ignore[attr-defined]
    e.bytes_read = b"other"  # type: ignore[attr-defined]
    assert e.bytes_read == b"other"  # type: ignore[attr-defined]
    got = partial_of(e, "bytes_read")
    assert got is not None
    assert got() == b"other"
    assert partial_of(e, "returncode") is None


def test_threads_reading_at_once_all_get_the_value() -> None:
    for _ in range(200):
        e = thredo.ThreadTimeout()
        set_partial(e, "bytes_read", Joined([b"x"] * 1000))
        start = threading.Barrier(4)
        got: list[bytes] = []

        def read(
            exc: BaseException = e, start: threading.Barrier = start, got: list[bytes] = got
        ) -> None:
            start.wait()
            got.append(exc.bytes_read)  # type: ignore[attr-defined]

        threads = [threading.Thread(target=read) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert got == [b"x" * 1000] * 4


def test_chunks_take_find_prepend_snapshot_peek() -> None:
    c = Chunks()
    assert not c
    assert c.take(5) == b""
    assert c.find_newline() == -1
    for part in (b"ab", b"cd\nef", b"gh\n"):
        c.append(part)
    assert len(c) == 10
    assert c.find_newline() == 4
    assert c.take(1) == b"a"
    assert c.find_newline() == 3
    assert c.take(4) == b"bcd\n"
    assert c.snapshot() == [b"ef", b"gh\n"]
    c.prepend(b"<>")
    assert c.peek() == b"<>efgh\n"
    assert c.peek() == b"<>efgh\n"
    assert len(c) == 7
    assert c.take(100) == b"<>efgh\n"
    assert not c
    assert c.snapshot() == []
