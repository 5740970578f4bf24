"""Thread-per-connection servers: one cancel stops everything, bad peers stay contained.

The server runs in a thredo thread (``run_server`` on a ``tcp_server_socket``,
or ``tcp_server``/``unix_server``); clients are real sockets on 127.0.0.1
(or ::1, or a Unix socket in tmp_path).  After a cancel, every handler has
run its ``finally``, every client sees end of file, and the autouse leak
check in conftest.py finds no thread or fd left behind.
"""

from __future__ import annotations

import logging
import os
import queue
import socket as std_socket
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from helpers import (
    LOCAL,
    WAIT,
    PlainThread,
    busy_loop,
    drain,
    needs_ipv6,
    shared_epolls,
    tcp_accept_queue,
    wait_blocked,
    wait_until,
)

import thredo
import thredo.net._servers as servers_impl
from thredo.net import socket as tsocket

# -- helpers ------------------------------------------------------------------


def recv_line(sock: Any, timeout: float = 5.0) -> bytes:
    """Read one line (byte by byte: nothing is over-read) with an upper time bound."""
    prev = sock.gettimeout()
    sock.settimeout(timeout)
    try:
        data = b""
        while not data.endswith(b"\n"):
            ch = sock.recv(1)
            if not ch:
                break
            data += ch
        return data
    finally:
        sock.settimeout(prev)


def sees_eof(sock: Any, timeout: float = 5.0) -> bool:
    """True if the peer closed: recv gives b"" (or a reset) within ``timeout``."""
    sock.settimeout(timeout)
    try:
        return bool(sock.recv(100) == b"")
    except ConnectionResetError:
        return True


def connect(addr: Any) -> tsocket.socket:
    return tsocket.create_connection(addr, timeout=5)


class Record:
    """What handlers did: started addresses, and how each one ended."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.started: list[Any] = []
        self.ended: dict[Any, Any] = {}  # by address
        self.outcomes: list[Any] = []  # every ending, in order (Unix addresses are all "")
        self.sockets: list[Any] = []
        self.events: queue.Queue[Any] = queue.Queue()

    def start(self, client: Any, addr: Any) -> None:
        with self.lock:
            self.started.append(addr)
            self.sockets.append(client)
        self.events.put(("started", addr))

    def end(self, addr: Any, how: Any) -> None:
        with self.lock:
            self.ended[addr] = how
            self.outcomes.append(how)
        self.events.put(("ended", addr, how))

    def wait_started(self, n: int) -> None:
        wait_until(lambda: len(self.started) >= n, f"{n} handlers to start", timeout=10)


def tracked(record: Record, body: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    """A handler that records its start and how it ended (returned, raised, cancelled)."""

    def handler(client: Any, addr: Any) -> None:
        record.start(client, addr)
        how: Any = "returned"
        try:
            body(client, addr)
        except BaseException as e:
            how = type(e)
            raise
        finally:
            record.end(addr, how)

    return handler


def echo_lines(client: Any, addr: Any) -> None:
    s = client.as_stream()
    for line in s:
        s.write(line)


def serve(
    handler: Callable[[Any, Any], Any], **kwargs: Any
) -> tuple[thredo.Thread, Any, tsocket.socket]:
    """Start run_server on a fresh 127.0.0.1 listener: (server thread, address, listener)."""
    lsock = thredo.net.tcp_server_socket(LOCAL, 0)
    srv = thredo.spawn(thredo.net.run_server, lsock, handler, close_listener=True, **kwargs)
    return srv, lsock.getsockname(), lsock


def stopped(srv: thredo.Thread) -> BaseException | None:
    """Cancel the server thread (returns once it has exited) and give its exception."""
    srv.cancel()
    assert srv.terminated
    return srv.exception


# -- basics ---------------------------------------------------------------------


def test_run_server_serves_each_client_in_its_own_thread(run: Any) -> None:
    record = Record()

    def main() -> None:
        srv, addr, lsock = serve(tracked(record, echo_lines))
        clients = [connect(addr) for _ in range(5)]
        try:
            for i, c in enumerate(clients):
                c.sendall(b"hello %d\n" % i)
            for i, c in enumerate(clients):
                assert recv_line(c) == b"hello %d\n" % i
            record.wait_started(5)
            assert sorted(record.started) == sorted(c.getsockname() for c in clients)
            assert all(type(s) is tsocket.socket for s in record.sockets)
            exc = stopped(srv)
            assert isinstance(exc, thredo.ThreadCancelled)
            assert lsock.fileno() == -1  # close_listener
            assert set(record.ended) == set(record.started)
            assert set(record.ended.values()) == {thredo.ThreadCancelled}
            assert all(s.fileno() == -1 for s in record.sockets)
            assert all(sees_eof(c) for c in clients)
        finally:
            for c in clients:
                c.close()

    run(main)


def test_handler_return_closes_only_its_connection(run: Any) -> None:
    record = Record()

    def one_reply(client: Any, addr: Any) -> None:
        client.sendall(b"bye\n")

    def main() -> None:
        srv, addr, _ = serve(tracked(record, one_reply))
        with connect(addr) as c1, connect(addr) as c2:
            assert recv_line(c1) == b"bye\n"
            assert sees_eof(c1)
            assert recv_line(c2) == b"bye\n"
            assert sees_eof(c2)
        wait_until(lambda: len(record.ended) == 2, "both handlers to end")
        assert set(record.ended.values()) == {"returned"}
        assert srv.is_alive()  # the server carries on
        stopped(srv)

    run(main)


def test_listener_left_open_without_close_listener(run: Any) -> None:
    def main() -> None:
        with thredo.net.tcp_server_socket(LOCAL, 0) as lsock:
            srv = thredo.spawn(thredo.net.run_server, lsock, echo_lines)
            with connect(lsock.getsockname()) as c:
                c.sendall(b"x\n")
                assert recv_line(c) == b"x\n"
                stopped(srv)
                assert sees_eof(c)
            assert lsock.fileno() != -1  # still ours to close
            with connect(lsock.getsockname()) as c:  # and still listening
                conn, _ = lsock.accept()
                conn.close()

    run(main)


def test_run_server_validates_arguments(run: Any) -> None:
    def main() -> None:
        with thredo.net.tcp_server_socket(LOCAL, 0) as lsock:
            with pytest.raises(ValueError, match="max_connections"):
                thredo.net.run_server(lsock, echo_lines, max_connections=0)
            with pytest.raises(ValueError, match="grace"):
                thredo.net.run_server(lsock, echo_lines, grace=-1)

    run(main)


# -- shutting down ---------------------------------------------------------------


def test_group_cancel_with_200_connected_clients(run: Any) -> None:
    n = 200
    record = Record()

    def idle(client: Any, addr: Any) -> None:
        client.sendall(b"welcome\n")
        client.recv(100)  # the client never sends: blocked here until cancelled

    def main() -> None:
        clients: list[Any] = []
        try:
            with thredo.ThreadGroup(wait=None) as g:
                lsock = thredo.net.tcp_server_socket(LOCAL, 0)
                addr = lsock.getsockname()
                srv = g.spawn(
                    thredo.net.run_server, lsock, tracked(record, idle), close_listener=True
                )
                for _ in range(n):
                    clients.append(connect(addr))
                for c in clients:
                    assert recv_line(c) == b"welcome\n"
                record.wait_started(n)
                t0 = time.monotonic()
            # leaving the group cancelled the server; it returned only after every handler
            elapsed = time.monotonic() - t0
            assert srv.terminated
            assert isinstance(srv.exception, thredo.ThreadCancelled)
            assert lsock.fileno() == -1
            assert len(record.ended) == n  # every handler's finally ran ...
            assert set(record.ended.values()) == {thredo.ThreadCancelled}  # ... cancelled
            assert all(s.fileno() == -1 for s in record.sockets)  # every client socket closed
            assert all(sees_eof(c) for c in clients)  # and every client saw it
            assert elapsed < 5, elapsed  # generous: the target is 200 ms for 1,000
        finally:
            for c in clients:
                c.close()

    run(main)


def test_cancel_waits_for_handler_cleanup(run: Any) -> None:
    started = threading.Event()
    release = thredo.Event()
    cleaned = threading.Event()

    def slow_cleanup(client: Any, addr: Any) -> None:
        started.set()
        try:
            client.recv(100)
        finally:
            with thredo.disable_cancellation():
                release.wait()  # cleanup that takes until the test says so
                client.sendall(b"goodbye\n")
            cleaned.set()

    def main() -> None:
        srv, addr, lsock = serve(slow_cleanup)
        with connect(addr) as c:
            assert started.wait(5)
            seen: list[Any] = []

            def releaser() -> None:
                wait_until(lambda: lsock.fileno() == -1, "the server to stop accepting")
                seen.append(srv.terminated)  # the handler is still cleaning up: server not done
                release.set()

            r = thredo.spawn(releaser)
            stopped(srv)
            assert cleaned.is_set()  # cancel returned only after the cleanup finished
            r.join()
            assert seen == [False]
            assert recv_line(c) == b"goodbye\n"
            assert sees_eof(c)

    run(main)


def test_grace_lets_finishing_handlers_complete_and_cancels_the_rest(run: Any) -> None:
    record = Record()
    grace = 0.5

    def body(client: Any, addr: Any) -> None:
        s = client.as_stream()
        kind = s.readline()
        client.sendall(b"ready\n")
        if kind == b"quick\n":
            assert s.readline() == b"finish\n"  # comes only once the server is stopping
            client.sendall(b"done\n")
        else:
            s.readline()  # never comes

    def main() -> None:
        srv, addr, lsock = serve(tracked(record, body), grace=grace)
        with connect(addr) as quick, connect(addr) as slow:
            quick.sendall(b"quick\n")
            slow.sendall(b"slow\n")
            assert recv_line(quick) == b"ready\n"
            assert recv_line(slow) == b"ready\n"
            t0 = time.monotonic()
            srv.cancel(blocking=False)
            wait_until(lambda: lsock.fileno() == -1, "the server to stop accepting")
            assert not record.ended  # in grace: nobody has been cancelled yet
            quick.sendall(b"finish\n")
            assert recv_line(quick) == b"done\n"
            assert sees_eof(quick)
            srv.wait()
            elapsed = time.monotonic() - t0
            assert record.ended[quick.getsockname()] == "returned"  # its finally saw no cancel
            assert record.ended[slow.getsockname()] is thredo.ThreadCancelled
            assert grace * 0.9 <= elapsed < grace + 5, elapsed  # cancelled after the grace period
            assert sees_eof(slow)

    run(main)


def test_group_cancel_with_grace_and_many_clients(run: Any) -> None:
    n, grace = 100, 1.0
    record = Record()

    def body(client: Any, addr: Any) -> None:
        s = client.as_stream()
        kind = s.readline()
        client.sendall(b"ready\n")
        if kind == b"quick\n":
            assert s.readline() == b"finish\n"  # sent once the server is stopping
            client.sendall(b"done\n")
        else:
            s.readline()  # never comes: cancelled when the grace period is over

    def main() -> None:
        quick: list[Any] = []
        slow: list[Any] = []
        try:
            lsock = thredo.net.tcp_server_socket(LOCAL, 0)
            addr = lsock.getsockname()

            def finisher() -> None:  # outside the group: tells the quick ones to finish
                wait_until(lambda: lsock.fileno() == -1, "the server to stop accepting")
                for c in quick:
                    c.sendall(b"finish\n")

            with thredo.ThreadGroup(wait=None) as g:
                g.spawn(
                    thredo.net.run_server,
                    lsock,
                    tracked(record, body),
                    grace=grace,
                    close_listener=True,
                )
                for i in range(n):
                    c = connect(addr)
                    (quick if i % 2 else slow).append(c)
                    c.sendall(b"quick\n" if i % 2 else b"slow\n")
                for c in quick + slow:
                    assert recv_line(c) == b"ready\n"
                f = thredo.spawn(finisher)
                t0 = time.monotonic()
            elapsed = time.monotonic() - t0
            f.join()
            assert len(record.outcomes) == n  # every handler's finally ran before the group exited
            assert {record.ended[c.getsockname()] for c in quick} == {"returned"}
            assert {record.ended[c.getsockname()] for c in slow} == {thredo.ThreadCancelled}
            assert all(recv_line(c) == b"done\n" for c in quick)
            assert all(sees_eof(c) for c in quick + slow)
            assert all(s.fileno() == -1 for s in record.sockets)
            assert grace * 0.9 <= elapsed < grace + 5, elapsed
        finally:
            for c in quick + slow:
                c.close()

    run(main)


def test_grace_ends_early_when_all_handlers_finish(run: Any) -> None:
    record = Record()

    def body(client: Any, addr: Any) -> None:
        client.sendall(b"ready\n")
        assert recv_line(client, timeout=30) == b"finish\n"

    def main() -> None:
        srv, addr, lsock = serve(tracked(record, body), grace=60)
        with connect(addr) as c:
            assert recv_line(c) == b"ready\n"
            t0 = time.monotonic()
            srv.cancel(blocking=False)
            wait_until(lambda: lsock.fileno() == -1, "the server to stop accepting")
            c.sendall(b"finish\n")
            srv.wait()
            assert time.monotonic() - t0 < 10  # far less than the 60 s grace
            assert list(record.ended.values()) == ["returned"]
            assert sees_eof(c)

    run(main)


def test_max_connections_defers_the_third_client(run: Any) -> None:
    record = Record()

    def main() -> None:
        srv, addr, _ = serve(tracked(record, echo_lines), max_connections=2)
        c1, c2 = connect(addr), connect(addr)
        c3: Any = None
        c1_addr = c1.getsockname()
        try:
            for c in (c1, c2):
                c.sendall(b"hi\n")
                assert recv_line(c) == b"hi\n"
            c3 = connect(addr)  # the kernel completes the connection; the server does not accept it
            c3.sendall(b"hi\n")
            with pytest.raises(TimeoutError):
                recv_line(c3, timeout=0.3)  # bounded check that it is not served
            assert len(record.started) == 2
            c1.close()  # one of the first two leaves ...
            assert recv_line(c3) == b"hi\n"  # ... and the third is served
            assert len(record.started) == 3
            assert list(record.ended) == [c1_addr]
            c2.sendall(b"still\n")
            assert recv_line(c2) == b"still\n"
            stopped(srv)
            assert sees_eof(c2)
            assert sees_eof(c3)
            assert len(record.ended) == 3
        finally:
            for c in (c1, c2, c3):
                if c is not None:
                    c.close()

    run(main)


def test_cancel_while_waiting_for_a_connection_slot(run: Any) -> None:
    record = Record()

    def main() -> None:
        srv, addr, lsock = serve(tracked(record, echo_lines), max_connections=1)
        with connect(addr) as c1, connect(addr) as c2:
            c1.sendall(b"one\n")
            assert recv_line(c1) == b"one\n"
            c2.sendall(b"two\n")  # queued in the listener's backlog, never accepted
            exc = stopped(srv)
            assert isinstance(exc, thredo.ThreadCancelled)
            assert lsock.fileno() == -1
            assert len(record.started) == 1
            assert len(record.ended) == 1
            assert sees_eof(c1)
            assert sees_eof(c2)  # closed with the listener (EOF or reset)

    run(main)


# -- bad peers affect only their own handler -------------------------------------


def line_protocol(record: Record, maxlen: int = 64) -> Callable[[Any, Any], Any]:
    """Reply "OK <line>" to each ASCII line; a line longer than maxlen gets an error."""

    def body(client: Any, addr: Any) -> None:
        s = client.as_stream()
        lengths = []  # of every readline() result
        try:
            while True:
                line = s.readline(maxlen)
                lengths.append(len(line))
                if not line:
                    return
                if not line.endswith(b"\n"):
                    if len(line) == maxlen:
                        s.write(b"ERR line too long\n")
                        while line := s.readline(maxlen):  # discard the rest, still bounded
                            lengths.append(len(line))
                    return  # a partial line at end of file: the peer went away
                text = line.decode("ascii")  # garbage raises here
                if text == "boom\n":
                    raise RuntimeError("handler bug")
                s.write(b"OK " + line)
        finally:
            record.events.put(("lengths", addr, lengths))

    return tracked(record, body)


def test_bad_peers_affect_only_their_own_handler(run: Any, caplog: Any) -> None:
    caplog.set_level(logging.ERROR, logger="thredo.net")
    record = Record()
    maxlen = 64

    def main() -> None:
        srv, addr, _ = serve(line_protocol(record, maxlen))
        good = connect(addr)
        bad: dict[str, Any] = {}
        bad_addrs: dict[str, Any] = {}

        def bad_client(kind: str) -> Any:
            bad[kind] = c = connect(addr)
            bad_addrs[kind] = c.getsockname()
            return c

        try:
            good.sendall(b"hello\n")
            assert recv_line(good) == b"OK hello\n"

            bad_client("silent")  # connects and sends nothing

            g = bad_client("garbage")
            g.sendall(b"\xff\xfe\x00garbage\x80\n")
            assert sees_eof(g)

            lg = bad_client("long")
            lg.sendall(b"x" * 10_000 + b"\n")
            lg.shutdown(tsocket.SHUT_WR)
            assert recv_line(lg) == b"ERR line too long\n"
            assert sees_eof(lg)

            m = bad_client("midway")
            m.sendall(b"a message cut sh")
            m.close()

            h = bad_client("half")
            h.sendall(b"half\n")
            h.shutdown(tsocket.SHUT_WR)  # half-close: it still reads the reply
            assert recv_line(h) == b"OK half\n"
            assert sees_eof(h)

            cr = bad_client("crash")
            cr.sendall(b"boom\n")
            assert sees_eof(cr)

            wait_until(lambda: len(record.ended) == 5, "the finished bad peers' handlers")

            # the good client never noticed
            good.sendall(b"still here\n")
            assert recv_line(good) == b"OK still here\n"
            assert srv.is_alive()

            ended = record.ended
            assert ended[bad_addrs["garbage"]] is UnicodeDecodeError
            assert ended[bad_addrs["long"]] == "returned"
            assert ended[bad_addrs["midway"]] == "returned"
            assert ended[bad_addrs["half"]] == "returned"
            assert ended[bad_addrs["crash"]] is RuntimeError
            assert bad_addrs["silent"] not in ended
            assert good.getsockname() not in ended

            lengths = {}
            while not record.events.empty():
                ev = record.events.get_nowait()
                if ev[0] == "lengths":
                    lengths[ev[1]] = ev[2]
            long_reads = lengths[bad_addrs["long"]]
            assert max(long_reads) == maxlen
            assert sum(long_reads) == 10_001
            assert lengths[bad_addrs["midway"]] == [16]  # the partial message, then gone
            assert lengths[bad_addrs["half"]] == [5, 0]

            # exactly the two crashes were logged, each with its client's address
            # (the log line comes after the handler recorded its end: wait for it)
            def crash_records() -> list[Any]:
                return [r for r in caplog.records if r.name == "thredo.net"]

            wait_until(lambda: len(crash_records()) >= 2, "the two crash log records")
            crashes = crash_records()
            assert len(crashes) == 2
            by_exc = {r.exc_info[0]: r.getMessage() for r in crashes}
            assert repr(bad_addrs["garbage"]) in by_exc[UnicodeDecodeError]
            assert repr(bad_addrs["crash"]) in by_exc[RuntimeError]
            assert all(r.levelno == logging.ERROR for r in crashes)

            stopped(srv)
            assert len(record.ended) == 7
            assert ended[bad_addrs["silent"]] is thredo.ThreadCancelled
            assert ended[good.getsockname()] is thredo.ThreadCancelled
            assert sees_eof(good)
            assert sees_eof(bad["silent"])
        finally:
            srv.cancel()  # a failed assertion must not leave run() waiting for it
            good.close()
            for c in bad.values():
                c.close()

    run(main)


def test_midway_disconnect_ends_handler_with_partial_line(run: Any) -> None:
    record = Record()
    lines: queue.Queue[bytes] = queue.Queue()

    def body(client: Any, addr: Any) -> None:
        lines.put(client.as_stream().readline(1000))

    def main() -> None:
        srv, addr, _ = serve(tracked(record, body))
        c = connect(addr)
        c.sendall(b"no newline before the peer vanished")
        c.close()
        assert lines.get(timeout=5) == b"no newline before the peer vanished"
        wait_until(lambda: record.outcomes, "the handler to end")
        assert record.outcomes == ["returned"]
        stopped(srv)

    run(main)


def test_handler_crash_is_logged_and_others_continue(run: Any, caplog: Any) -> None:
    def body(client: Any, addr: Any) -> None:
        s = client.as_stream()
        for line in s:
            if line == b"crash\n":
                raise ValueError("deliberate")
            s.write(line)

    def main() -> None:
        srv, addr, _ = serve(body)
        with connect(addr) as a, connect(addr) as b:
            a.sendall(b"1\n")
            b.sendall(b"1\n")
            assert recv_line(a) == b"1\n"
            assert recv_line(b) == b"1\n"
            a.sendall(b"crash\n")
            assert sees_eof(a)
            wait_until(lambda: caplog.records, "the crash to be logged")
            b.sendall(b"2\n")
            assert recv_line(b) == b"2\n"
            (rec,) = [r for r in caplog.records if r.name == "thredo.net"]
            assert rec.levelno == logging.ERROR
            assert repr(a.getsockname()) in rec.getMessage()
            assert rec.exc_info[0] is ValueError
            stopped(srv)

    run(main)


# -- shutdown while a handler streams to a fast client --------------------------------


@pytest.mark.parametrize("kind", ["socket", "stream"])
def test_server_cancel_while_a_handler_streams_to_a_fast_client(run: Any, kind: str) -> None:
    """Every send succeeds at once (the client reads fast), yet the shutdown is prompt."""
    record = Record()
    chunk = b"x" * 64

    def streamer(client: Any, addr: Any) -> None:
        if kind == "stream":
            out = client.as_stream()
            busy_loop(lambda: out.write(chunk))
        else:
            busy_loop(lambda: client.sendall(chunk))

    def main() -> None:
        ports: thredo.Queue[int] = thredo.Queue()
        srv = thredo.spawn(
            thredo.net.tcp_server,
            LOCAL,
            0,
            tracked(record, streamer),
            ready=lambda sock: ports.put(sock.getsockname()[1]),
        )
        with connect((LOCAL, ports.get(timeout=WAIT))) as c:
            flowing = threading.Event()

            def read_fast() -> int:
                n = len(c.recv(65536))
                flowing.set()
                return n + drain(c)

            reader = PlainThread(read_fast)
            assert flowing.wait(WAIT)
            t0 = time.monotonic()
            exc = stopped(srv)
            elapsed = time.monotonic() - t0
            assert isinstance(exc, thredo.ThreadCancelled)
            assert record.outcomes == [thredo.ThreadCancelled]  # stopped, not run to its bound
            assert elapsed < WAIT / 2
            assert reader.join() > 0  # and the client saw end of file

    run(main)


# -- the convenience servers and clients -------------------------------------------


def test_tcp_server_and_open_connection(run: Any) -> None:
    def main() -> None:
        ports: thredo.Queue[int] = thredo.Queue()
        srv = thredo.spawn(
            thredo.net.tcp_server,
            LOCAL,
            0,
            echo_lines,
            max_connections=10,
            ready=lambda sock: ports.put(sock.getsockname()[1]),
        )
        port = ports.get(timeout=WAIT)  # listening from here on
        with thredo.net.open_connection(LOCAL, port) as c:
            assert type(c) is tsocket.socket
            c.sendall(b"tcp_server\n")
            assert recv_line(c) == b"tcp_server\n"
            with thredo.net.open_connection(LOCAL, port, source_addr=(LOCAL, 0)) as c2:
                c2.sendall(b"second\n")
                assert recv_line(c2) == b"second\n"
            exc = stopped(srv)
            assert isinstance(exc, thredo.ThreadCancelled)
            assert sees_eof(c)
        with pytest.raises(ConnectionRefusedError):  # the listener is gone
            thredo.net.open_connection(LOCAL, port).close()

    run(main)


def test_unix_server_and_open_unix_connection(run: Any, tmp_path: Any) -> None:
    path = str(tmp_path / "srv.sock")
    record = Record()

    def main() -> None:
        listening = thredo.Event()
        srv = thredo.spawn(
            thredo.net.unix_server,
            path,
            tracked(record, echo_lines),
            ready=lambda sock: listening.set(),
        )
        assert listening.wait(WAIT)
        clients = []
        try:
            for i in range(3):
                c = thredo.net.open_unix_connection(path)
                clients.append(c)
                assert type(c) is tsocket.socket
                assert c.family == tsocket.AF_UNIX
                c.sendall(b"unix %d\n" % i)
                assert recv_line(c) == b"unix %d\n" % i
            exc = stopped(srv)
            assert isinstance(exc, thredo.ThreadCancelled)
            assert not os.path.exists(path)  # removed when the server stopped
            assert record.outcomes == [thredo.ThreadCancelled] * 3
            assert all(sees_eof(c) for c in clients)
        finally:
            for c in clients:
                c.close()

    run(main)


def test_unix_server_socket_replaces_a_stale_socket_file(run: Any, tmp_path: Any) -> None:
    path = str(tmp_path / "stale.sock")
    with std_socket.socket(std_socket.AF_UNIX) as old:
        old.bind(path)  # left behind, as by a crashed server
    assert os.path.exists(path)

    def main() -> None:
        with thredo.net.unix_server_socket(path) as lsock:
            assert type(lsock) is tsocket.socket
            with thredo.net.open_unix_connection(path) as c:
                conn, _ = lsock.accept()
                with conn:
                    c.sendall(b"fresh")
                    assert conn.recv(10) == b"fresh"
        os.unlink(path)
        with open(path, "w"):
            pass  # not a socket: never removed
        with pytest.raises(OSError, match="in use"):
            thredo.net.unix_server_socket(path)
        assert os.path.exists(path)

    run(main)


def test_open_connection_refused_or_timed_out(run: Any) -> None:
    def main() -> None:
        with tsocket.socket() as probe:
            probe.bind((LOCAL, 0))  # bound, not listening: connects are refused
            with pytest.raises(ConnectionRefusedError):
                thredo.net.open_connection(LOCAL, probe.getsockname()[1])
        # a listener whose backlog is full: the connect blocks until timeout_after ends it
        with tsocket.socket() as lsock:
            lsock.bind((LOCAL, 0))
            lsock.listen(0)
            with std_socket.create_connection(lsock.getsockname(), timeout=5):  # fills the backlog
                wait_until(lambda: tcp_accept_queue(lsock) >= 1, "the backlog to fill")
                with pytest.raises(thredo.ThreadTimeout), thredo.timeout_after(0.1):
                    thredo.net.open_connection(LOCAL, lsock.getsockname()[1])
                # the abandoned socket was closed (the leak check confirms it)

    run(main)


@needs_ipv6
def test_ipv6_server_like_create_server(run: Any) -> None:
    opt = (tsocket.IPPROTO_IPV6, tsocket.IPV6_V6ONLY)

    def main() -> None:
        lsock = thredo.net.tcp_server_socket("::1", 0)
        assert lsock.family == tsocket.AF_INET6
        with std_socket.create_server(("::1", 0), family=std_socket.AF_INET6) as ref:
            assert lsock.getsockopt(*opt) == ref.getsockopt(*opt) == 1  # IPv6 only
        srv = thredo.spawn(thredo.net.run_server, lsock, echo_lines, close_listener=True)
        host, port = lsock.getsockname()[:2]
        with thredo.net.open_connection("::1", port) as c:
            assert c.family == tsocket.AF_INET6
            c.sendall(b"v6\n")
            assert recv_line(c) == b"v6\n"
            stopped(srv)
            assert sees_eof(c)

    run(main)


@pytest.fixture
def loopback_listen(monkeypatch: Any) -> list[Any]:
    """Record how tcp_server_socket() would listen on every interface, but bind loopback.

    The tests never listen on a public address: the wildcard address is
    swapped for the loopback one of the same family just before bind.
    """
    calls: list[Any] = []
    real = servers_impl._listen

    def listen(
        address: Any, family: int, backlog: int, reuse_address: bool, reuse_port: bool, dual: bool
    ) -> Any:
        calls.append((address, family, dual))
        loop = "::1" if family == tsocket.AF_INET6 else LOCAL
        return real((loop, *address[1:]), family, backlog, reuse_address, reuse_port, dual)

    monkeypatch.setattr(servers_impl, "_listen", listen)
    return calls


@needs_ipv6
@pytest.mark.parametrize("host", [None, ""])
def test_every_interface_means_dual_stack_like_create_server(
    run: Any, loopback_listen: list[Any], host: Any
) -> None:
    def main() -> None:
        with thredo.net.tcp_server_socket(host, 0) as lsock:
            assert lsock.family == tsocket.AF_INET6

    if not tsocket.has_dualstack_ipv6():
        pytest.skip("no dual-stack IPv6")
    run(main)
    (address, family, dual) = loopback_listen[0]
    # as socket.create_server(("", port), family=AF_INET6, dualstack_ipv6=True)
    assert address[0] == ""
    assert family == tsocket.AF_INET6
    assert dual is True


def test_every_interface_without_dual_stack_is_ipv4(
    run: Any, monkeypatch: Any, loopback_listen: list[Any]
) -> None:
    monkeypatch.setattr(tsocket, "has_dualstack_ipv6", lambda: False)

    def main() -> None:
        with thredo.net.tcp_server_socket(None, 0) as lsock:
            assert lsock.family == tsocket.AF_INET

    run(main)
    (address, family, dual) = loopback_listen[0]
    assert address[0] == "0.0.0.0"
    assert family == tsocket.AF_INET
    assert dual is False


def test_tcp_server_socket_options(run: Any) -> None:
    def main() -> None:
        with thredo.net.tcp_server_socket(LOCAL, 0) as a:
            assert type(a) is tsocket.socket
            assert a.getsockopt(tsocket.SOL_SOCKET, tsocket.SO_REUSEADDR)
            assert not a.getsockopt(tsocket.SOL_SOCKET, tsocket.SO_REUSEPORT)
            port = a.getsockname()[1]
            with pytest.raises(OSError, match="in use"):  # taken, without SO_REUSEPORT
                thredo.net.tcp_server_socket(LOCAL, port)
        with thredo.net.tcp_server_socket(LOCAL, 0, reuse_port=True, reuse_address=False) as b:
            assert b.getsockopt(tsocket.SOL_SOCKET, tsocket.SO_REUSEPORT)
            assert not b.getsockopt(tsocket.SOL_SOCKET, tsocket.SO_REUSEADDR)
            with thredo.net.tcp_server_socket(LOCAL, b.getsockname()[1], reuse_port=True) as b2:
                assert b2.getsockname() == b.getsockname()

    run(main)


class TestPastTheEventfdBudget:
    """Threads past the eventfd budget wait on fds in the run's shared epoll: same behaviour."""

    @pytest.fixture(autouse=True)
    def no_eventfds(self, monkeypatch: pytest.MonkeyPatch) -> None:
        import thredo._core._fdwait

        monkeypatch.setattr(thredo._core._fdwait, "EVENTFD_SHARE", 0.0)

    def test_echo_timeouts_and_cancel(self) -> None:
        import thredo._core._fdwait
        from thredo import net
        from thredo.net import socket as tsocket

        finals: list[str] = []

        def handler(client: Any, address: Any) -> None:
            try:
                while data := client.recv(1000):
                    client.sendall(data)
            finally:
                finals.append("handler")

        def main() -> None:
            lsock = net.tcp_server_socket("127.0.0.1", 0)
            srv = thredo.spawn(net.run_server, lsock, handler, close_listener=True)
            # The server blocks in accept, with no eventfd: in the shared epoll.
            assert wait_blocked(srv, "accept").obj is lsock
            assert len(shared_epolls()) == 1
            port = lsock.getsockname()[1]
            clients = [net.open_connection("127.0.0.1", port) for _ in range(20)]
            for i, c in enumerate(clients):
                c.sendall(b"ping %d" % i)
                assert c.recv(100) == b"ping %d" % i
            a, b = tsocket.socketpair()
            with a, b:
                with thredo.ignore_after(0.05) as cm:
                    a.recv(10)
                assert cm.expired
                a.settimeout(0.05)
                with pytest.raises(TimeoutError):
                    a.recv(10)
                a.settimeout(None)
                t = thredo.spawn(a.recv, 10)
                wait_blocked(t, "recv", a)  # no data yet: a real wait, woken by the epoll task
                b.sendall(b"x")
                assert t.join() == b"x"
                t = thredo.spawn(a.recv, 10)
                wait_blocked(t, "recv", a)
                t.cancel()
                assert isinstance(t.exception, thredo.ThreadCancelled)
                b.sendall(b"still usable")
                assert a.recv(100) == b"still usable"
            srv.cancel()
            for c in clients:
                assert c.recv(10) == b""
                c.close()

        thredo.run(main)
        assert finals == ["handler"] * 20
        assert not shared_epolls()  # the shared epoll ended with the run
