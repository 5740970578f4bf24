"""examples/echo/echo_tls_server.py and echo_tls_client.py, run as real processes.

Served to several TLS clients at once (stdlib ``ssl`` clients and the example
client), stopped with SIGINT: exit status 0, no traceback, every client sees
end of file.
"""

from __future__ import annotations

import re
import signal
import socket
import ssl
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers import WAIT

ECHO = Path(__file__).resolve().parent.parent / "examples" / "echo"


class TLSServer:
    """The example server in a child process on a free port; ``cafile`` is what clients trust."""

    def __init__(self, tmp_path: Path, *args: str) -> None:
        self.cafile = str(tmp_path / "ca.pem")
        self.proc = subprocess.Popen(
            [sys.executable, "-u", str(ECHO / "echo_tls_server.py"), "--port", "0", *args]
            + ([] if "--certfile" in args else ["--ca-out", self.cafile]),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        lines = []
        while True:
            line = self.proc.stdout.readline()
            if not line:
                self.proc.wait(WAIT)
                raise AssertionError(f"server exited: {lines} {self.proc.communicate()[1]}")
            lines.append(line)
            m = re.search(r"listening on 127\.0\.0\.1:(\d+)", line)
            if m:
                break
        self.port = int(m.group(1))
        self.banner = lines

    def connect(self, cafile: str | None = None) -> ssl.SSLSocket:
        ctx = ssl.create_default_context(cafile=cafile or self.cafile)
        raw = socket.create_connection(("127.0.0.1", self.port), timeout=WAIT)
        return ctx.wrap_socket(raw, server_hostname="localhost")

    def interrupt(self) -> tuple[int, str, str]:
        self.proc.send_signal(signal.SIGINT)
        out, err = self.proc.communicate(timeout=WAIT * 2)
        return self.proc.returncode, out, err

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.communicate()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[TLSServer]:
    pytest.importorskip("trustme")
    s = TLSServer(tmp_path)
    try:
        yield s
    finally:
        s.kill()


def echo_once(sock: Any, payload: bytes) -> bytes:
    sock.sendall(payload)
    got = b""
    while len(got) < len(payload):
        chunk = sock.recv(65536)
        assert chunk, "server closed early"
        got += chunk
    return got


def test_tls_echo_serves_several_clients_and_stops_cleanly_on_sigint(server: TLSServer) -> None:
    assert any(server.cafile in line for line in server.banner)
    clients = [server.connect() for _ in range(5)]
    try:
        for i, c in enumerate(clients):
            assert echo_once(c, f"client {i}\n".encode()) == f"client {i}\n".encode()
        big = bytes(range(256)) * 4096  # 1 MiB: many records each way
        assert echo_once(clients[0], big) == big
        code, out, err = server.interrupt()
        assert code == 0, err
        assert "Traceback" not in err, err
        assert "closed 5 connections" in out
        for c in clients:
            assert c.recv(10) == b""  # end of file: the server closed the connection
    finally:
        for c in clients:
            c.close()


def test_tls_echo_client_script(server: TLSServer) -> None:
    out = subprocess.run(
        [
            sys.executable,
            str(ECHO / "echo_tls_client.py"),
            "--port",
            str(server.port),
            "--cafile",
            server.cafile,
            "hello",
            "tls world",
        ],
        capture_output=True,
        text=True,
        timeout=WAIT * 2,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == ["hello", "tls world"]


def test_tls_echo_client_rejects_a_server_it_does_not_trust(server: TLSServer) -> None:
    out = subprocess.run(
        [sys.executable, str(ECHO / "echo_tls_client.py"), "--port", str(server.port), "x"],
        capture_output=True,
        text=True,
        timeout=WAIT * 2,
    )
    assert out.returncode == 1
    assert "CERTIFICATE_VERIFY_FAILED" in out.stderr
    assert "Traceback" not in out.stderr
    # ... which cost the server nothing: it still serves.
    with server.connect() as c:
        assert echo_once(c, b"still here") == b"still here"


def test_tls_echo_with_certificate_files_and_client_certificates(tmp_path: Path) -> None:
    trustme = pytest.importorskip("trustme")
    ca = trustme.CA()
    server_cert = ca.issue_cert("localhost")
    client_cert = ca.issue_cert("client")
    cert, key, cafile = tmp_path / "cert.pem", tmp_path / "key.pem", tmp_path / "ca.pem"
    server_cert.cert_chain_pems[0].write_to_path(cert)
    server_cert.private_key_pem.write_to_path(key)
    ca.cert_pem.write_to_path(cafile)
    client_pem = tmp_path / "client.pem"
    client_cert.private_key_and_cert_chain_pem.write_to_path(client_pem)
    s = TLSServer(tmp_path, "--certfile", str(cert), "--keyfile", str(key), "--cafile", str(cafile))
    try:
        out = subprocess.run(
            [
                sys.executable,
                str(ECHO / "echo_tls_client.py"),
                "--port",
                str(s.port),
                "--cafile",
                str(cafile),
                "--certfile",
                str(client_pem),
                "mutual",
            ],
            capture_output=True,
            text=True,
            timeout=WAIT * 2,
        )
        assert out.returncode == 0, out.stderr
        assert out.stdout == "mutual\n"
        code, _, err = s.interrupt()
        assert code == 0, err
        assert "Traceback" not in err, err
    finally:
        s.kill()
