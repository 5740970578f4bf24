"""The examples, run as real processes: talked to over loopback, stopped with SIGINT."""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

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
    assert result.stdout.count("cancelled, cleaning up") == 3
    assert "timed out" in result.stdout
