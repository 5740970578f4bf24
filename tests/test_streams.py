"""SocketStream and FileStream: buffered reads and writes that never lose data.

A cancelled or timed-out call reports its partial progress on the exception
(``bytes_read``, ``bytes_written``, ``lines_read``), and the stream stays
usable: the next call picks up exactly where the interrupted one left off.
"""

from __future__ import annotations

import io
import os
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from helpers import (
    HOWS,
    LOCAL,
    PAYLOAD,
    WAIT,
    PlainThread,
    at_a_point,
    drain,
    interrupted,
    read_to_eof,
    stopped_promptly,
    wait_blocked,
    wait_in_poll,
)

import thredo
from thredo.net import FileStream, SocketStream
from thredo.net import socket as tsocket

# -- helpers ------------------------------------------------------------------


def stream_pair() -> tuple[SocketStream, tsocket.socket]:
    """A SocketStream over one end of a socketpair, and the other (raw) end."""
    a, b = tsocket.socketpair()
    return SocketStream(a), b


def small_tcp_pair() -> tuple[tsocket.socket, tsocket.socket]:
    with tsocket.socket() as lst:
        lst.setsockopt(tsocket.SOL_SOCKET, tsocket.SO_RCVBUF, 4096)
        lst.bind((LOCAL, 0))
        lst.listen(1)
        c = tsocket.socket()
        c.setsockopt(tsocket.SOL_SOCKET, tsocket.SO_SNDBUF, 4096)
        c.connect(lst.getsockname())
        s, _ = lst.accept()
    return c, s


def tcp_pair() -> tuple[tsocket.socket, tsocket.socket]:
    """A connected (client, server) TCP pair on 127.0.0.1 with the default buffers."""
    with tsocket.create_server((LOCAL, 0)) as lst:
        c = tsocket.create_connection(lst.getsockname())
        s, _ = lst.accept()
    return c, s


# -- the API, uninterrupted ----------------------------------------------------------


def test_socket_stream_reads_and_writes(run: Any) -> None:
    def main() -> None:
        s, peer = stream_pair()
        with s, peer:
            assert isinstance(s, SocketStream)
            assert s.socket is not None
            assert s.fileno() == s.socket.fileno()
            assert "SocketStream" in repr(s)
            peer.sendall(b"line 1\nline 2\nrest of it")
            assert s.readline() == b"line 1\n"
            assert s.read(3) == b"lin"
            assert s.read_exactly(4) == b"e 2\n"
            buf = bytearray(4)
            assert s.readinto(buf) == 4
            assert buf == b"rest"
            assert s.readinto(bytearray()) == 0
            assert s.read(0) == b""
            assert s.read() == b" of it"
            peer.sendall(b"a\nb\nc\n")
            assert [s.readline(), s.readline()] == [b"a\n", b"b\n"]
            peer.sendall(b"d\nno newline")
            peer.shutdown(tsocket.SHUT_WR)
            assert s.readlines() == [b"c\n", b"d\n", b"no newline"]
            assert s.readline() == b""
            assert s.read() == b""
            assert s.readall() == b""
            # writing
            assert s.write(b"hello ") == 6
            assert s.write(memoryview(b"world\n")) == 6
            s.writelines([b"x\n", bytearray(b"y\n")])
            s.flush()
            s.socket.shutdown(tsocket.SHUT_WR)
            data = b""
            while chunk := peer.recv(100):
                data += chunk
            assert data == b"hello world\nx\ny\n"
        assert s.socket is None  # closed by the context manager
        assert peer.fileno() == -1

    run(main)


def test_iteration_by_lines_and_readall(run: Any) -> None:
    def main() -> None:
        s, peer = stream_pair()
        with s, peer:
            lines = [b"%d\n" % i for i in range(1000)]

            def send() -> None:
                peer.sendall(b"".join(lines) + b"tail")
                peer.shutdown(tsocket.SHUT_WR)

            t = thredo.spawn(send)
            got = list(s)
            t.join()
            assert got == [*lines, b"tail"]

        s, peer = stream_pair()
        with s, peer:

            def send() -> None:
                peer.sendall(PAYLOAD)
                peer.shutdown(tsocket.SHUT_WR)

            t = thredo.spawn(send)
            assert s.readall() == PAYLOAD
            t.join()

    run(main)


def test_read_exactly_large_block_and_eof_error(run: Any) -> None:
    def main() -> None:
        s, peer = stream_pair()
        with s, peer:
            t = thredo.spawn(peer.sendall, PAYLOAD + b"extra")
            assert s.read_exactly(len(PAYLOAD)) == PAYLOAD
            assert s.read_exactly(5) == b"extra"
            t.join()
            peer.sendall(b"short")
            peer.shutdown(tsocket.SHUT_WR)
            with pytest.raises(EOFError) as ei:
                s.read_exactly(10)
            assert ei.value.bytes_read == b"short"  # type: ignore[attr-defined]
            assert s.read() == b""  # the partial block was consumed, as documented

    run(main)


def test_readline_maxlen_returns_at_most_maxlen(run: Any) -> None:
    def main() -> None:
        s, peer = stream_pair()
        with s, peer:
            peer.sendall(b"a" * 100 + b"\nshort\n")
            assert s.readline(30) == b"a" * 30
            assert s.readline(30) == b"a" * 30
            assert s.readline(30) == b"a" * 30
            assert s.readline(30) == b"a" * 10 + b"\n"
            assert s.readline(30) == b"short\n"
            peer.sendall(b"exactly\n")
            assert s.readline(8) == b"exactly\n"
            # a peer that never ends its line cannot make readline wait for the end
            t = thredo.spawn(peer.sendall, b"z" * 200_000)
            for _ in range(50):
                assert s.readline(1000) == b"z" * 1000
            assert s.read_exactly(150_000) == b"z" * 150_000
            t.join()

    run(main)


def test_readline_maxlen_like_io_readline_size() -> None:
    # The documented model: io.BufferedReader.readline(size).
    data = b"abc\ndefghij\n"
    for size in (1, 2, 4, 5, 100):
        ref = io.BufferedReader(io.BytesIO(data))

        def main(size: int = size) -> list[bytes]:
            s, peer = stream_pair()
            with s, peer:
                peer.sendall(data)
                peer.shutdown(tsocket.SHUT_WR)
                return [s.readline(size) for _ in range(6)]

        assert thredo.run(main) == [ref.readline(size) for _ in range(6)], size


def test_readline_negative_maxlen_means_no_limit(run: Any) -> None:
    ref = io.BufferedReader(io.BytesIO(b"abc\ndef\n"))
    expected = [ref.readline(-1), ref.readline(-1)]
    assert expected == [b"abc\n", b"def\n"]

    def main() -> list[bytes]:
        s, peer = stream_pair()
        with s, peer:
            peer.sendall(b"abc\ndef\n")
            return [s.readline(-1), s.readline(-1)]

    assert run(main) == expected


def test_socket_stream_in_a_plain_thread() -> None:
    a, b = tsocket.socketpair()
    with a.as_stream() as s, b:
        started = threading.Event()
        got: list[bytes] = []

        def reader() -> None:
            started.set()
            got.append(s.readline())

        t = threading.Thread(target=reader)
        t.start()
        started.wait(5)
        wait_in_poll(t)
        b.sendall(b"for a plain ")
        b.sendall(b"thread\n")
        t.join(5)
        assert got == [b"for a plain thread\n"]


# -- partial progress on cancel and timeout ------------------------------------------


@pytest.mark.parametrize("mode", HOWS)
def test_readline_interrupted_reports_partial_line(run: Any, mode: str) -> None:
    def main() -> None:
        s, peer = stream_pair()
        with s, peer:
            peer.sendall(b"complete\npartial li")
            assert s.readline() == b"complete\n"
            exc = interrupted(mode, s.readline)
            assert exc.bytes_read == b"partial li"  # type: ignore[attr-defined]
            peer.sendall(b"ne\nnext\n")
            assert s.readline() == b"ne\n"  # the partial bytes were consumed, nothing else
            assert s.readline() == b"next\n"

    run(main)


@pytest.mark.parametrize("mode", HOWS)
def test_readline_maxlen_interrupted_reports_partial_line(run: Any, mode: str) -> None:
    def main() -> None:
        s, peer = stream_pair()
        with s, peer:
            peer.sendall(b"12345")
            exc = interrupted(mode, lambda: s.readline(10))
            assert exc.bytes_read == b"12345"  # type: ignore[attr-defined]
            peer.sendall(b"67890abc\n")
            assert s.readline(10) == b"67890abc\n"

    run(main)


@pytest.mark.parametrize("mode", HOWS)
def test_read_exactly_interrupted_reports_partial_block(run: Any, mode: str) -> None:
    def main() -> None:
        s, peer = stream_pair()
        with s, peer:
            peer.sendall(b"abcd")
            exc = interrupted(mode, lambda: s.read_exactly(10))
            assert exc.bytes_read == b"abcd"  # type: ignore[attr-defined]
            peer.sendall(b"0123456789")
            assert s.read_exactly(6) == b"012345"
            assert s.read_exactly(4) == b"6789"

    run(main)


@pytest.mark.parametrize("mode", HOWS)
def test_read_and_readinto_interrupted_lose_nothing(run: Any, mode: str) -> None:
    def main() -> None:
        s, peer = stream_pair()
        with s, peer:
            exc = interrupted(mode, lambda: s.read(100))
            assert exc.bytes_read == b""  # type: ignore[attr-defined]
            exc = interrupted(mode, lambda: s.readinto(bytearray(10)))
            assert exc.bytes_read == b""  # type: ignore[attr-defined]
            peer.sendall(b"after")
            buf = bytearray(10)
            assert s.readinto(buf) == 5
            assert buf[:5] == b"after"

    run(main)


@pytest.mark.parametrize("mode", HOWS)
def test_readall_interrupted_reports_everything_so_far(run: Any, mode: str) -> None:
    def main() -> None:
        s, peer = stream_pair()
        with s, peer:
            peer.sendall(b"one\ntwo")
            assert s.readline() == b"one\n"  # "two" stays in the stream's buffer
            exc = interrupted(mode, s.readall)
            assert exc.bytes_read == b"two"  # type: ignore[attr-defined]
            peer.sendall(b"three")
            peer.shutdown(tsocket.SHUT_WR)
            assert s.readall() == b"three"

    run(main)


@pytest.mark.parametrize("mode", HOWS)
def test_readlines_interrupted_reports_complete_lines_and_partial(run: Any, mode: str) -> None:
    def main() -> None:
        s, peer = stream_pair()
        with s, peer:
            peer.sendall(b"l1\nl2\npart")
            exc = interrupted(mode, s.readlines)
            assert exc.lines_read == [b"l1\n", b"l2\n"]  # type: ignore[attr-defined]
            assert exc.bytes_read == b"part"  # type: ignore[attr-defined]
            peer.sendall(b"ial\nl3\n")
            peer.shutdown(tsocket.SHUT_WR)
            assert s.readlines() == [b"ial\n", b"l3\n"]

    run(main)


def test_socket_timeout_applies_to_stream_reads(run: Any) -> None:
    def main() -> None:
        s, peer = stream_pair()
        with s, peer:
            s.socket.settimeout(0.05)
            peer.sendall(b"no end")
            with pytest.raises(TimeoutError) as ei:
                s.readline()
            assert ei.value.bytes_read == b"no end"  # type: ignore[attr-defined]
            with pytest.raises(TimeoutError) as ei:
                s.read_exactly(3)
            assert ei.value.bytes_read == b""  # type: ignore[attr-defined]
            peer.sendall(b"!\n")
            assert s.readline() == b"!\n"

    run(main)


@pytest.mark.parametrize("mode", [*HOWS, "socket-timeout"])
def test_write_interrupted_reports_bytes_written(run: Any, mode: str) -> None:
    def main() -> None:
        c, srv = small_tcp_pair()
        with c.as_stream() as s, srv:
            if mode == "socket-timeout":
                c.settimeout(0.1)
                with pytest.raises(TimeoutError) as ei:
                    s.write(PAYLOAD)
                exc: BaseException = ei.value
                c.settimeout(None)
            else:
                exc = interrupted(mode, lambda: s.write(PAYLOAD))
            written = exc.bytes_written  # type: ignore[attr-defined]
            assert 0 < written < len(PAYLOAD)
            r = read_to_eof(srv.recv)
            s.write(b"NEXT")  # still usable
            c.shutdown(tsocket.SHUT_WR)
            assert r.join() == PAYLOAD[:written] + b"NEXT"

    run(main)


@pytest.mark.parametrize("mode", [*HOWS, "socket-timeout"])
def test_writelines_interrupted_counts_all_lines(run: Any, mode: str) -> None:
    def main() -> None:
        c, srv = small_tcp_pair()
        with c.as_stream() as s, srv:
            parts = [b"first line\n", b"second line\n", PAYLOAD, b"never sent\n"]
            if mode == "socket-timeout":
                c.settimeout(0.1)
                with pytest.raises(TimeoutError) as ei:
                    s.writelines(parts)
                exc: BaseException = ei.value
                c.settimeout(None)
            else:
                exc = interrupted(mode, lambda: s.writelines(parts))
            written = exc.bytes_written  # type: ignore[attr-defined]
            head = len(parts[0]) + len(parts[1])
            assert head < written < head + len(PAYLOAD)
            r = read_to_eof(srv.recv)
            c.shutdown(tsocket.SHUT_WR)
            assert r.join() == b"".join(parts)[:written]

    run(main)


# -- cancellation points: calls served from the buffer, writes that need not wait ----------


def _stream_reads(s: Any) -> dict[str, Any]:
    return {
        "read": lambda: s.read(3),
        "read-all-buffered": lambda: s.read(),
        "read_exactly": lambda: s.read_exactly(3),
        "readinto": lambda: s.readinto(bytearray(3)),
        "readline": lambda: s.readline(),
        "readline-maxlen": lambda: s.readline(2),
        "next": lambda: next(s),
        "readlines": lambda: s.readlines(),
        "readall": lambda: s.readall(),
    }


READS = sorted(_stream_reads(None))


@pytest.mark.parametrize("op", READS)
@pytest.mark.parametrize("mode", HOWS)
def test_every_stream_read_is_a_cancellation_point(run: Any, mode: str, op: str) -> None:
    """A read the buffer could serve at once still raises, consuming nothing (bytes_read b"")."""

    def main() -> None:
        s, peer = stream_pair()
        with s, peer:
            peer.sendall(b"zero\none\ntwo\n")
            peer.shutdown(tsocket.SHUT_WR)  # readall/readlines would not wait either
            assert s.readline() == b"zero\n"  # "one\ntwo\n" is buffered now
            exc = at_a_point(mode, _stream_reads(s)[op])
            assert exc.bytes_read == b""  # type: ignore[attr-defined]
            assert s.readall() == b"one\ntwo\n"  # nothing consumed

    run(main)


@pytest.mark.parametrize("op", ["write", "writelines"])
@pytest.mark.parametrize("mode", HOWS)
def test_every_stream_write_is_a_cancellation_point(run: Any, mode: str, op: str) -> None:
    """A write that would go out at once still raises first, with ``bytes_written`` 0."""

    def main() -> None:
        s, peer = stream_pair()
        with s, peer:
            if op == "write":
                exc = at_a_point(mode, lambda: s.write(b"lost?"))
            else:
                exc = at_a_point(mode, lambda: s.writelines([b"lost", b"?"]))
            assert exc.bytes_written == 0  # type: ignore[attr-defined]
            s.write(b"kept")
            s.close()
            assert read_to_eof(peer.recv).join() == b"kept"

    run(main)


def test_writelines_is_a_point_between_lines(run: Any) -> None:
    """A cancel that arrives while writelines runs stops it at the next line."""

    def main() -> int:
        s, peer = stream_pair()
        with s, peer:
            between = threading.Event()
            go = threading.Event()

            def lines() -> Iterator[bytes]:
                yield b"first\n"
                between.set()
                go.wait(WAIT)  # the cancel arrives here, mid-call
                yield b"second\n"

            def writer() -> BaseException:
                with pytest.raises(thredo.ThreadCancelled) as ei:
                    s.writelines(lines())
                return ei.value

            t = thredo.spawn(writer)
            assert between.wait(WAIT)
            t.cancel(blocking=False)
            go.set()
            exc = t.join()
            s.close()
            assert read_to_eof(peer.recv).join() == b"first\n"
            return int(exc.bytes_written)  # type: ignore[attr-defined]

    assert run(main) == len(b"first\n")


@pytest.mark.parametrize("mode", HOWS)
def test_busy_stream_write_loop_to_a_fast_reader_is_stopped(run: Any, mode: str) -> None:
    def main() -> None:
        c, srv = tcp_pair()  # loopback TCP: buffers that a fast reader never lets fill
        with c.as_stream() as s, srv:
            reader = PlainThread(drain, srv)
            exc = stopped_promptly(mode, lambda: s.write(b"x" * 64))
            written = getattr(exc, "bytes_written", None)
            assert written in (0, 64)  # at the point (0) or, rarely, mid-send
            s.close()
            assert reader.join() > 0

    run(main)


@pytest.mark.parametrize("mode", HOWS)
def test_busy_stream_readline_loop_from_a_fast_sender_is_stopped(run: Any, mode: str) -> None:
    def main() -> None:
        s, peer = stream_pair()
        with s, peer:
            stop = threading.Event()
            lines = b"line\n" * 20_000

            def flood() -> int:
                sent = 0
                while not stop.is_set():
                    peer.sendall(lines)
                    sent += len(lines)
                peer.shutdown(tsocket.SHUT_WR)
                return sent

            sender = PlainThread(flood)
            got = [0]

            def step() -> None:
                line = s.readline()
                assert line == b"line\n"
                got[0] += len(line)

            exc = stopped_promptly(mode, step)
            got[0] += len(exc.bytes_read)  # type: ignore[attr-defined]
            stop.set()
            assert got[0] + len(s.readall()) == sender.join()  # nothing lost

    run(main)


# -- FileStream -----------------------------------------------------------------------


def test_file_stream_over_a_pipe(run: Any) -> None:
    def main() -> None:
        rfd, wfd = os.pipe()
        with (
            FileStream(open(rfd, "rb", buffering=0)) as r,
            FileStream(open(wfd, "wb", buffering=0)) as w,
        ):
            assert r.fileno() == rfd
            assert w.fileno() == wfd
            assert "FileStream" in repr(r)
            assert not os.get_blocking(rfd)
            t = thredo.spawn(lambda: (w.write(PAYLOAD), w.writelines([b"a\n", b"b\n"])))
            assert r.read_exactly(len(PAYLOAD)) == PAYLOAD
            assert r.readline() == b"a\n"
            assert r.readline() == b"b\n"
            t.join()
            w.close()
            assert r.read() == b""
        assert w._file is None  # closing the stream closed the file

    run(main)


def test_file_stream_over_a_regular_file(run: Any, tmp_path: Any) -> None:
    path = tmp_path / "lines.txt"
    path.write_bytes(b"x\ny\nz")

    def main() -> list[bytes]:
        with FileStream(open(path, "rb")) as f:
            return list(f)

    assert run(main) == [b"x\n", b"y\n", b"z"]


def test_file_stream_rejects_text_files(tmp_path: Any) -> None:
    with open(tmp_path / "t.txt", "w") as f, pytest.raises(TypeError, match="binary"):
        FileStream(f)


@pytest.mark.parametrize("mode", HOWS)
def test_file_stream_read_interrupted_reports_partial(run: Any, mode: str) -> None:
    def main() -> None:
        rfd, wfd = os.pipe()
        with FileStream(open(rfd, "rb", buffering=0)) as r:
            try:
                os.write(wfd, b"part")
                exc = interrupted(mode, r.readline)
                assert exc.bytes_read == b"part"  # type: ignore[attr-defined]
                os.write(wfd, b"ial\n1234")
                assert r.readline() == b"ial\n"
                exc = interrupted(mode, lambda: r.read_exactly(8))
                assert exc.bytes_read == b"1234"  # type: ignore[attr-defined]
                os.write(wfd, b"5678")
                assert r.read_exactly(4) == b"5678"
            finally:
                os.close(wfd)
            assert r.read() == b""

    run(main)


@pytest.mark.parametrize("mode", HOWS)
def test_file_stream_calls_are_cancellation_points(run: Any, mode: str) -> None:
    def main() -> None:
        rfd, wfd = os.pipe()
        with (
            FileStream(open(rfd, "rb", buffering=0)) as r,
            FileStream(open(wfd, "wb", buffering=0)) as w,
        ):
            w.write(b"data\n")
            assert at_a_point(mode, r.readline).bytes_read == b""  # type: ignore[attr-defined]
            assert at_a_point(mode, lambda: w.write(b"x")).bytes_written == 0  # type: ignore[attr-defined]
            w.close()
            assert r.readall() == b"data\n"

    run(main)


@pytest.mark.parametrize("mode", HOWS)
def test_file_stream_writelines_into_full_pipe_reports_bytes_written(run: Any, mode: str) -> None:
    def main() -> None:
        rfd, wfd = os.pipe()
        with FileStream(open(rfd, "rb", buffering=0)) as r:
            w = FileStream(open(wfd, "wb", buffering=0))
            with w:
                parts = [b"head\n", PAYLOAD, b"never\n"]
                exc = interrupted(mode, lambda: w.writelines(parts))
                written = exc.bytes_written  # type: ignore[attr-defined]
                assert 5 < written < 5 + len(PAYLOAD)
                t = read_to_eof(r.read)
            assert t.join() == b"".join(parts)[:written]

    run(main)


@pytest.mark.parametrize("mode", HOWS)
def test_file_stream_write_into_full_pipe_reports_bytes_written(run: Any, mode: str) -> None:
    def main() -> None:
        rfd, wfd = os.pipe()
        with FileStream(open(rfd, "rb", buffering=0)) as r:
            w = FileStream(open(wfd, "wb", buffering=0))
            with w:
                exc = interrupted(mode, lambda: w.write(PAYLOAD))
                written = exc.bytes_written  # type: ignore[attr-defined]
                assert 0 < written < len(PAYLOAD)
                t = read_to_eof(r.read)
                w.write(b"NEXT")
            assert t.join() == PAYLOAD[:written] + b"NEXT"

    run(main)


def test_filestream_gives_the_descriptor_its_blocking_mode_back() -> None:
    """A descriptor shared with others (a terminal, a pipe) is never left non-blocking."""
    rfd, wfd = os.pipe()
    keep = os.dup(rfd)  # shares the open file, as stdin shares it with the shell
    try:
        assert os.get_blocking(keep)
        with FileStream(open(rfd, "rb", buffering=0)) as r:
            assert not os.get_blocking(keep)  # while the stream is open: by design
            os.write(wfd, b"x")
            assert r.read(1) == b"x"
        assert os.get_blocking(keep)
        os.set_blocking(keep, False)  # one that was non-blocking stays so
        with FileStream(open(os.dup(keep), "rb", buffering=0)):
            pass
        assert not os.get_blocking(keep)
    finally:
        os.close(keep)
        os.close(wfd)


def test_filestream_closed_by_another_thread_wakes_its_reader() -> None:
    def main() -> None:
        rfd, wfd = os.pipe()
        try:
            r = FileStream(open(rfd, "rb", buffering=0))
            t = thredo.spawn(r.read, 10)  # closing it below closes rfd
            wait_blocked(t, "read", r)
            r.close()
            t.wait()
            assert isinstance(t.exception, OSError), t.exception
        finally:
            os.close(wfd)

    thredo.run(main)
