"""README.md's ```python blocks run as written, each in a child process.

Every block is found by its first lines; a block this file has no special
check for must still run to completion with exit status 0 and nothing on
stderr, so a snippet added to the README is tested from the day it lands.
"""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"


def python_blocks(text: str) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```$", text, flags=re.M | re.S)


BLOCKS = python_blocks(README.read_text())


def block_id(code: str) -> str:
    return "tcp_server" if "tcp_server" in code else "groups" if "ThreadGroup" in code else "other"


def run_block(code: str, timeout: float = 20) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout
    )


def test_readme_has_its_snippets() -> None:
    assert sorted(map(block_id, BLOCKS))[:2] == ["groups", "tcp_server"]


@pytest.mark.parametrize("code", BLOCKS, ids=[block_id(b) for b in BLOCKS])
def test_readme_block(code: str) -> None:
    if block_id(code) == "tcp_server":
        check_echo_server_block(code)
        return
    start = time.monotonic()
    result = run_block(code)
    elapsed = time.monotonic() - start
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    if block_id(code) == "groups":
        lines = result.stdout.splitlines()
        assert lines[0] == "worker 0 cleaned up"  # cancelled before the group starts
        assert sorted(lines[1:]) == [f"worker {n} cleaned up" for n in (1, 2, 3)]
        assert elapsed >= 0.5  # the ignore_after(0.5) block ran its course


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def connect_when_listening(port: int, proc: subprocess.Popen[str]) -> socket.socket:
    end = time.monotonic() + 15
    while True:
        try:
            return socket.create_connection(("127.0.0.1", port), timeout=10)
        except ConnectionRefusedError:
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < end, "the server never listened"
            time.sleep(0.02)  # polling for readiness: an upper bound, not an order


def check_echo_server_block(code: str) -> None:
    """The echo server snippet, on a free port instead of 25000 (others may use that)."""
    assert code.count("25000") == 1
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-c", code.replace("25000", str(port))],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    clients: list[socket.socket] = []
    try:
        clients.append(connect_when_listening(port, proc))
        clients += [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(2)]
        for n, c in enumerate(clients):
            c.sendall(b"hello %d\nworld\n" % n)
            got = b""
            while got.count(b"\n") < 2:
                chunk = c.recv(100)
                assert chunk, "server closed early"
                got += chunk
            assert got == b"hello %d\nworld\n" % n
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)
        for c in clients:
            assert c.recv(100) == b"", "client did not see EOF"
    finally:
        for c in clients:
            c.close()
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    # run() raises KeyboardInterrupt after the server unwound: Python's usual exit.
    assert proc.returncode in (-signal.SIGINT, 1), err
    assert err.rstrip().endswith("KeyboardInterrupt"), err
    assert out == ""


@pytest.mark.timeout(120)
def test_readme_groups_lines_never_interleave() -> None:
    """20 runs, four at a time: four threads print at once, each line stays whole."""
    (code,) = [b for b in BLOCKS if block_id(b) == "groups"]
    for _ in range(5):
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", code],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(4)
        ]
        for p in procs:
            out, err = p.communicate(timeout=60)
            assert p.returncode == 0, err
            assert sorted(out.splitlines()) == [f"worker {n} cleaned up" for n in range(4)], out
