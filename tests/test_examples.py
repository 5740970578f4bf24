"""The examples, run as real processes: talked to over loopback, stopped with SIGINT."""

from __future__ import annotations

import os
import pty
import queue
import re
import select
import signal
import socket
import subprocess
import sys
import termios
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


class Server:
    def __init__(self, script: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-u", str(EXAMPLES / script), "--port", "0"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        m = re.search(r"listening on 127\.0\.0\.1:(\d+)", line)
        assert m, f"no listening line: {line!r}"
        self.port = int(m.group(1))

    def connect(self) -> socket.socket:
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=10)
        return sock

    def interrupt(self) -> tuple[int, str, str]:
        self.proc.send_signal(signal.SIGINT)
        out, err = self.proc.communicate(timeout=20)
        return self.proc.returncode, out, err

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.communicate()


@pytest.fixture
def echo_server(request: pytest.FixtureRequest) -> Iterator[Server]:
    server = Server(request.param)
    try:
        yield server
    finally:
        server.kill()


def echo_once(sock: socket.socket, payload: bytes) -> bytes:
    sock.sendall(payload)
    got = b""
    while len(got) < len(payload):
        chunk = sock.recv(65536)
        assert chunk, "server closed early"
        got += chunk
    return got


@pytest.mark.parametrize("echo_server", ["echo/echo_server.py", "echo/echo_raw.py"], indirect=True)
def test_echo_serves_clients_and_stops_cleanly_on_sigint(echo_server: Server) -> None:
    clients = [echo_server.connect() for _ in range(5)]
    try:
        for i, c in enumerate(clients):
            payload = b"line %d\n" % i * (i + 1)
            assert echo_once(c, payload) == payload
        code, out, err = echo_server.interrupt()
        for c in clients:
            assert c.recv(100) == b"", "client did not see EOF"
    finally:
        for c in clients:
            c.close()
    assert code == 0, err
    assert "Traceback" not in err, err
    if "echo_server" in echo_server.proc.args[2]:
        assert "closed 5 connections" in out


@pytest.mark.parametrize("echo_server", ["echo/echo_server.py"], indirect=True)
def test_echo_client_script(echo_server: Server) -> None:
    result = subprocess.run(
        [
            sys.executable,
            str(EXAMPLES / "echo/echo_client.py"),
            "--port",
            str(echo_server.port),
            "hello",
            "world",
        ],
        capture_output=True,
        text=True,
        timeout=20,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["hello", "world"]
    code, out, err = echo_server.interrupt()
    assert code == 0
    assert "closed 0 connections" in out


def test_echo_server_big_payload_and_many_clients() -> None:
    server = Server("echo/echo_server.py")
    try:
        clients = [server.connect() for _ in range(50)]
        try:
            payload = bytes(range(256)) * 4096  # 1 MiB
            for c in clients[:3]:
                assert echo_once(c, payload) == payload
            for c in clients:
                assert echo_once(c, b"ping") == b"ping"
            code, out, err = server.interrupt()
            assert code == 0, err
            assert "closed 50 connections" in out
        finally:
            for c in clients:
                c.close()
    finally:
        server.kill()


def test_demo_runs() -> None:
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / "demo.py")], capture_output=True, text=True, timeout=20
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert result.stdout.count("cancelled, cleaning up") == 3
    assert "timed out" in result.stdout


# -- chat --------------------------------------------------------------------


class ChatPeer:
    """A raw chat connection; unless ``read=False`` a plain thread collects its lines."""

    def __init__(self, port: int, nick: str, *, rcvbuf: int | None = None, read: bool = True):
        self.sock = socket.socket()
        if rcvbuf is not None:  # before connect, so the window is small from the start
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.connect(("127.0.0.1", port))
        self.sock.sendall(nick.encode() + b"\n")
        self.lines: queue.Queue[bytes] = queue.Queue()
        self.reader: threading.Thread | None = None
        self.eof = False  # until_eof() has seen the end
        if read:
            self.reader = threading.Thread(target=self._read, daemon=True)
            self.reader.start()

    def _read(self) -> None:
        f = self.sock.makefile("rb")
        try:
            for line in f:
                self.lines.put(line)
        except OSError:
            pass
        finally:
            f.close()
            self.lines.put(b"")  # end of file

    def expect(self, wanted: bytes, timeout: float = 10) -> list[bytes]:
        """Lines up to and including ``wanted``."""
        got: list[bytes] = []
        while not got or got[-1] != wanted:
            line = self.lines.get(timeout=timeout)
            assert line, f"EOF before {wanted!r}; last lines {[x[:60] for x in got[-3:]]}"
            got.append(line)
        return got

    def until_eof(self, timeout: float = 10) -> list[bytes]:
        got: list[bytes] = []
        while line := self.lines.get(timeout=timeout):
            got.append(line)
        self.eof = True
        return got

    def close(self) -> None:
        try:
            self.sock.shutdown(socket.SHUT_RDWR)  # wakes the reader (close would not)
        except OSError:
            pass
        if self.reader is not None:
            self.reader.join(10)
        self.sock.close()


@pytest.fixture
def chat() -> Iterator[tuple[Server, list[ChatPeer]]]:
    server = Server("chat/chat_server.py")
    peers: list[ChatPeer] = []
    try:
        yield server, peers
    finally:
        for p in peers:
            p.close()
        server.kill()


def join(server: Server, peers: list[ChatPeer], nick: str, **kw: Any) -> ChatPeer:
    """Connect ``nick`` and wait until every reading peer has seen it join."""
    here = ", ".join(q_nick(q) for q in peers if not q.eof) or "nobody"
    p = ChatPeer(server.port, nick, **kw)
    p.nick = nick  # type: ignore[attr-defined]
    others, peers[:] = list(peers), [*peers, p]  # closed by the fixture whatever happens
    if p.reader is not None:
        assert p.expect(f"*** welcome {nick}; here: {here}\n".encode(), timeout=10)
    for q in others:
        if q.reader is not None and not q.eof:
            q.expect(f"*** {nick} joined\n".encode())
    return p


def q_nick(p: ChatPeer) -> str:
    return p.nick  # type: ignore[attr-defined,no-any-return]


def assert_clean_exit(server: Server, seconds: float = 10) -> str:
    start = time.monotonic()
    code, out, err = server.interrupt()
    assert code == 0, err
    assert err == "", err
    assert time.monotonic() - start < seconds
    assert out.endswith("chat server stopped\n"), out
    return out


def test_chat_fan_out_to_three_clients_and_sigint(chat: tuple[Server, list[ChatPeer]]) -> None:
    server, peers = chat
    ann, bob, cat = (join(server, peers, n) for n in ("ann", "bob", "cat"))
    for sender in (ann, bob, cat):
        sender.sock.sendall(b"hello from %s\n" % q_nick(sender).encode())
        for other in peers:
            if other is not sender:
                assert other.expect(b"%s: hello from %s\n" % ((q_nick(sender).encode(),) * 2)) == [
                    b"%s: hello from %s\n" % ((q_nick(sender).encode(),) * 2)
                ]
    cat.sock.shutdown(socket.SHUT_WR)  # cat leaves
    assert cat.until_eof() == []
    for p in (ann, bob):
        assert p.expect(b"*** cat left\n") == [b"*** cat left\n"]
    assert_clean_exit(server)
    for p in (ann, bob):
        assert p.until_eof() == [b"*** server is going away\n"]


def test_chat_stalled_reader_does_not_delay_others(chat: tuple[Server, list[ChatPeer]]) -> None:
    server, peers = chat
    ann, bob = join(server, peers, "ann"), join(server, peers, "bob")
    join(server, peers, "slow", rcvbuf=4096, read=False)  # never reads a byte
    line = b"m" * 3999 + b"\n"
    count = 2000  # 8 MB: more than slow's socket buffers and queue hold
    start = time.monotonic()
    ann.sock.sendall(line * count + b"done\n")
    got = bob.expect(b"ann: done\n", timeout=20)
    elapsed = time.monotonic() - start
    assert got.count(b"ann: " + line) == count
    assert b"*** slow left (not reading fast enough)\n" in got
    assert elapsed < 10, f"bob got the messages {elapsed:.1f} s late"

    # A client stalled when Ctrl-C comes cannot delay the exit.
    join(server, peers, "stuck", rcvbuf=4096, read=False)
    ann.sock.sendall(line * 150 + b"done again\n")
    bob.expect(b"ann: done again\n")
    assert_clean_exit(server, seconds=5)
    assert ann.until_eof() == [b"*** server is going away\n"]
    assert bob.until_eof() == [b"*** server is going away\n"]


def test_chat_flood_long_line_and_bad_utf8_are_isolated(
    chat: tuple[Server, list[ChatPeer]],
) -> None:
    server, peers = chat
    ann, bob = join(server, peers, "ann"), join(server, peers, "bob")
    flood = join(server, peers, "flood")

    def flooding() -> None:
        try:
            flood.sock.sendall(b"x\n" * 50_000)
            flood.sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    flooder = threading.Thread(target=flooding)
    flooder.start()
    try:
        big = join(server, peers, "big")
        big.sock.sendall(b"y" * 1_000_000 + b"\n")
        assert big.until_eof()[-1] == b"*** line longer than 4096 bytes\n"
        for p in (ann, bob, flood):
            p.expect(b"*** big left (line longer than 4096 bytes)\n")
        bad = join(server, peers, "bad")
        bad.sock.sendall(b"caf\xc3(\n")
        assert bad.until_eof()[-1] == b"*** invalid UTF-8\n"
        for p in (ann, bob, flood):
            p.expect(b"*** bad left (invalid UTF-8)\n")
        start = time.monotonic()
        ann.sock.sendall(b"still here\n")
        got = bob.expect(b"ann: still here\n")
        assert time.monotonic() - start < 5
        assert b"flood: x\n" in got or bob.expect(b"flood: x\n")
        flood.expect(b"ann: still here\n")  # the flooder itself is served, only slowed
    finally:
        flooder.join(10)
    assert_clean_exit(server)
    for p in (ann, bob):
        assert p.until_eof()[-1] == b"*** server is going away\n"


def test_chat_client_under_a_terminal(chat: tuple[Server, list[ChatPeer]]) -> None:
    server, peers = chat
    ann = join(server, peers, "ann")
    master, slave = pty.openpty()
    try:
        modes, blocking = termios.tcgetattr(slave), os.get_blocking(slave)
        client = subprocess.Popen(
            [sys.executable, str(EXAMPLES / "chat/chat_client.py"), "carol"]
            + ["--port", str(server.port)],
            stdin=slave,
            stdout=slave,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            ann.expect(b"*** carol joined\n")
            ann.sock.sendall(b"hi carol\n")
            read_pty_until(master, b"ann: hi carol\r\n")
            os.write(master, b"hello ann\n")
            ann.expect(b"carol: hello ann\n")
            client.send_signal(signal.SIGINT)
            _, err = client.communicate(timeout=10)
        finally:
            if client.poll() is None:
                client.kill()
                client.communicate()
        assert client.returncode == 0, err
        assert err == ""
        ann.expect(b"*** carol left\n")
        assert termios.tcgetattr(slave) == modes
        assert os.get_blocking(slave) == blocking
    finally:
        os.close(master)
        os.close(slave)

    # A client whose server goes away prints the farewell and exits 0.
    dave = subprocess.Popen(
        [sys.executable, str(EXAMPLES / "chat/chat_client.py"), "dave"]
        + ["--port", str(server.port)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        ann.expect(b"*** dave joined\n")
        assert_clean_exit(server)
        out, err = dave.communicate(timeout=10)
    finally:
        if dave.poll() is None:
            dave.kill()
            dave.communicate()
    assert dave.returncode == 0, err
    assert out.endswith(b"*** server is going away\n")
    assert err == b""


def read_pty_until(fd: int, marker: bytes, timeout: float = 10) -> bytes:
    got = b""
    end = time.monotonic() + timeout
    while marker not in got:
        ready, _, _ = select.select([fd], [], [], max(0, end - time.monotonic()))
        assert ready, f"no {marker!r} on the terminal; got {got!r}"
        got += os.read(fd, 4096)
    return got


# -- the EuroPython 2018 examples ----------------------------------------------


def run_euro(name: str, scale: str, *args: str) -> list[str]:
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / "euro" / name), *args],
        capture_output=True,
        text=True,
        timeout=25,
        env={**os.environ, "EURO_SCALE": scale},
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    return result.stdout.splitlines()


def test_euro_ex1_result_and_failure() -> None:
    assert run_euro("ex1.py", "1") == [
        "Result: 5",
        "Failed: TypeError(\"unsupported operand type(s) for +: 'int' and 'str'\")",
    ]


def test_euro_ex2_two_cpu_bound_threads() -> None:
    lines = run_euro("ex2.py", "0.01")
    results = [line for line in lines if not line.startswith("thread-")]
    assert results == [str(600_000 * 600_001 // 2), str(400_000 * 400_001 // 2)]
    progress = [line for line in lines if line.startswith("thread-")]
    assert sorted(progress) == sorted(
        [f"thread-1 {n}" for n in range(0, 600_000, 100_000)]
        + [f"thread-2 {n}" for n in range(0, 400_000, 100_000)]
    )


def test_euro_ex3_cancel_a_sleeper() -> None:
    assert run_euro("ex3.py", "0.1") == ["Yawn", "Cancelled", "cancelled: True"]


def test_euro_ex4_cancelled_holder_releases_the_semaphore() -> None:
    lines = run_euro("ex4.py", "0.1")
    working = [line.split()[0] for line in lines if line.endswith(" working")]
    assert len(working) == 2
    first, second = working
    assert lines.index(f"{first} cancelled") < lines.index(f"{second} working")
    assert lines[-1] == f"{second} done"
    assert f"{first} done" not in lines


def test_euro_ex5_philosophers() -> None:
    lines = run_euro("ex5.py", "0.1")
    assert lines[-1] == "all done"
    eaten = {int(line.split()[1]) for line in lines if line.startswith("eating")}
    dead = {int(line.split()[-1]) for line in lines if line.startswith("But what is death?")}
    assert len(dead) <= 1
    assert eaten | dead == set(range(5))
    assert not eaten & dead


def test_euro_ex6_queue_workers_cancelled_on_group_exit() -> None:
    lines = run_euro("ex6.py", "0.01")
    assert lines[-1] == "Done"
    items = sorted(int(line.split()[1]) for line in lines if line.startswith("Worker-"))
    assert items == list(range(10))
    assert sorted(line for line in lines if line.startswith("Cancelled")) == [
        f"Cancelled Worker-{n}" for n in range(4)
    ]
    assert [line for line in lines if line.startswith("spin")][-1] == "spin 0"


# -- the original project's other examples -------------------------------------


def test_tutorial_prod_bounded_queue() -> None:
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / "tutorial/prod.py"), "50"],
        capture_output=True,
        text=True,
        timeout=20,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    lines = result.stdout.splitlines()
    assert [x for x in lines if x.startswith("Child:")] == [f"Child: {n}" for n in range(50)]
    assert [x for x in lines if x.startswith("Produced:")] == [f"Produced: {n}" for n in range(50)]
    for n in range(2, 50):  # maxsize=1: the producer is never more than two items ahead
        assert lines.index(f"Child: {n - 2}") < lines.index(f"Produced: {n}")


class Script:
    """A running example: its stdout read line by line, stderr collected at the end."""

    def __init__(self, script: str, *args: str, env: dict[str, str] | None = None) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(EXAMPLES / script), *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=None if env is None else {**os.environ, **env},
        )
        self.lines: list[str] = []

    def read_until(self, done: Any) -> list[str]:
        """Lines until one for which ``done(line)`` is true (the example flushes each line)."""
        assert self.proc.stdout is not None
        while True:
            line = self.proc.stdout.readline()
            assert line, f"EOF; got {self.lines}"
            self.lines.append(line.rstrip("\n"))
            if done(self.lines[-1]):
                return self.lines

    def finish(self, sig: int | None = None) -> tuple[int, list[str], str]:
        if sig is not None:
            self.proc.send_signal(sig)
        out, err = self.proc.communicate(timeout=20)
        self.lines += out.splitlines()
        return self.proc.returncode, self.lines, err

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.communicate()


@pytest.fixture
def script() -> Iterator[Any]:
    started: list[Script] = []

    def start(name: str, *args: str, **kw: Any) -> Script:
        started.append(Script(name, *args, **kw))
        return started[-1]

    try:
        yield start
    finally:
        for s in started:
            s.kill()


FRIENDS = ("Max", "Lillian", "Thomas")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_tutorial_tut_kid_friends_and_parent(script: Any, sig: int) -> None:
    tut = script("tutorial/tut.py", "--scale", "0.05")
    tut.read_until(lambda line: sum(x.endswith(": Playing Minecraft") for x in tut.lines) == 3)
    code, lines, err = tut.finish(sig)
    assert code == 0, err
    assert err == ""
    building = lines.index("Building the Millenium Falcon in Minecraft")
    asking = lines[:building]
    assert "Yes, go play" in asking
    asking.remove("Yes, go play")
    assert asking[0] == "Can I play?"
    assert asking == ["Can I play?", "Wha!?!"] * (len(asking) // 2) + ["Can I play?"]
    hellos = lines[building + 1 : building + 7]
    assert sorted(hellos) == sorted(
        [f"Hi, my name is {n}" for n in FRIENDS] + [f"{n}: Playing Minecraft" for n in FRIENDS]
    )
    countdown = lines.index("Let's go")
    assert lines[countdown + 1 : countdown + 12] == [
        *(f"T-minus {n}" for n in range(10, 0, -1)),
        "We're leaving!",
    ]
    assert lines[countdown + 12] == "Fine. Saving my work."  # the kid is cancelled first
    assert sorted(lines[countdown + 13 : countdown + 16]) == sorted(
        f"{n} going home" for n in FRIENDS
    )
    assert lines[countdown + 16 :] == ["Parent Leaving"]


def test_tutorial_tut_second_ctrl_c_leaves_at_once(script: Any) -> None:
    tut = script("tutorial/tut.py", "--scale", "0.2")  # a 2 s countdown to interrupt
    tut.read_until(lambda line: line == "Thomas: Playing Minecraft")
    tut.proc.send_signal(signal.SIGINT)
    tut.read_until(lambda line: line == "T-minus 10")
    code, lines, err = tut.finish(signal.SIGINT)  # the handlers are back: run() is interrupted
    assert code == 130, err
    assert err == ""
    assert lines[-1] == "Interrupted again: leaving at once"
    assert "Parent Leaving" not in lines
    assert sorted(x for x in lines if x.endswith("going home")) == sorted(
        f"{n} going home" for n in FRIENDS
    )  # nothing outlives run(): the kid's friends were cancelled too


def timed(lines: list[str]) -> dict[str, float]:
    """``{"attempt 1 started": 0.25, ...}`` from happy.py's ``0.250 attempt 1 to ... started``."""
    got = {}
    for line in lines:
        m = re.fullmatch(r"(\d+\.\d{3}) (attempt \d) (?:to \S+ port \d+ )?(.*)", line)
        if m:
            got[f"{m.group(2)} {m.group(3).split(':')[0]}"] = float(m.group(1))
    return got


def test_tutorial_happy_eyeballs(script: Any) -> None:
    delay = 0.5  # generous: the bounds below must hold on a loaded machine
    code, lines, err = script("tutorial/happy.py", "--delay", str(delay)).finish()
    assert code == 0, err
    assert err == ""
    t = timed(lines)
    assert sorted(t) == sorted(
        [
            "attempt 0 started",  # [::1], backlog full: its connect hangs
            "attempt 1 started",  # 127.0.0.1, refused
            "attempt 1 failed",
            "attempt 2 started",  # 127.0.0.1, answers
            "attempt 2 connected",
            "attempt 0 cancelled",  # the loser
        ]
    ), lines
    assert "ConnectionRefusedError" in next(x for x in lines if "attempt 1 failed" in x)
    # The second attempt waits for the delay; the third starts as soon as the second fails.
    assert delay * 0.9 <= t["attempt 1 started"] - t["attempt 0 started"] < delay + 2
    assert t["attempt 2 started"] - t["attempt 1 failed"] < delay * 0.9
    assert t["attempt 2 connected"] <= t["attempt 0 cancelled"]
    assert lines.index(next(x for x in lines if "attempt 0 cancelled" in x)) < len(lines) - 1
    assert lines[-1] == "connected to 127.0.0.1; it says b'hello\\n'"


def ticks(lines: list[str]) -> list[int]:
    return [int(x.split()[-1]) for x in lines if x.startswith("  | tick ")]


def test_tutorial_subproc_output_on_time_out(script: Any) -> None:
    code, lines, err = script("tutorial/subproc.py", "--limit", "1").finish()
    assert code == 0, err
    assert err == ""
    one = lines.index("1. subprocess.run(timeout=1.0)")
    two = lines.index("2. timeout_after(1.0) around check_output")
    three = lines.index("3. lines as they come, for 1.0 s")
    assert one == 0
    assert lines[1] == "   TimeoutExpired; the child was killed; its output so far:"
    assert lines[two + 1] == "   ThreadTimeout; the child ended with -15; its output so far:"
    assert lines[-1] == "   ThreadTimeout; the child ended with -15"
    for section in (lines[one:two], lines[two:three], lines[three:]):
        got = ticks(section)  # a tick every 0.1 s: some, in order, not the full minute
        assert got == list(range(1, len(got) + 1)), section
        assert 1 <= len(got) < 100, section


# -- output is readable: every line written in one call ------------------------

# Examples whose threads print at the same time, with every line they may print.
PRINTERS = {
    "demo.py": (
        [],
        r"worker \d: waiting forever|worker \d: cancelled, cleaning up"
        r"|group exited: every worker is gone|slow\(\) timed out after 0\.2 s",
    ),
    "tutorial/prod.py": (["50"], r"(Child|Produced): \d+"),
    "euro/ex6.py": ([], r"Worker-\d \d|Cancelled Worker-\d|spin \d+|Done"),
    "tutorial/happy.py": (
        ["--delay", "0.05"],
        r"\d+\.\d{3} attempt \d (to \S+ port \d+ started|failed: .*|connected|cancelled)"
        r"|connected to 127\.0\.0\.1; it says b'hello\\n'",
    ),
}


@pytest.mark.timeout(120)
@pytest.mark.parametrize("name", sorted(PRINTERS))
def test_lines_never_interleave(name: str) -> None:
    """20 runs (four at a time): every line is one whole line the example prints."""
    args, pattern = PRINTERS[name]
    env = {**os.environ, "EURO_SCALE": "0.01"}
    outputs: list[str] = []
    for _ in range(5):
        procs = [
            subprocess.Popen(
                [sys.executable, str(EXAMPLES / name), *args],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env=env,
            )
            for _ in range(4)
        ]
        for p in procs:
            out, err = p.communicate(timeout=60)
            assert p.returncode == 0, err
            assert err == ""
            outputs.append(out)
    for out in outputs:
        assert out.endswith("\n")
        bad = [line for line in out.splitlines() if not re.fullmatch(pattern, line)]
        assert not bad, f"garbled lines: {bad}"


@pytest.mark.parametrize(
    "script",
    ["echo/echo_server.py", "echo/echo_tls_server.py", "echo/echo_raw.py", "echo/echoss.py"],
)
def test_echo_server_says_a_busy_port_once_and_fails(script: str) -> None:
    """A port already taken: one clear line on stderr, a non-zero exit, no "stopped" line."""
    taken = socket.socket()
    try:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = subprocess.run(
            [sys.executable, str(EXAMPLES / script), "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=30,
        )
    finally:
        taken.close()
    assert proc.returncode != 0
    assert "stopped" not in proc.stdout
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert f"127.0.0.1:{port}" in lines[0]
    assert "in use" in lines[0]
