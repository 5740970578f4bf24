"""thredo.net.ssl: TLS whose handshake, reads and writes are cancellable."""

from __future__ import annotations

import socket as std_socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest

import thredo
from thredo import net
from thredo.net import ssl as tssl


def echo(client: Any, address: Any) -> None:
    while data := client.recv(4096):
        client.sendall(data)


def serve_tls(server_ctx: Any, handler: Any = echo) -> tuple[thredo.Thread, int]:
    lsock = net.tcp_server_socket("127.0.0.1", 0)
    srv = thredo.spawn(net.run_server, lsock, handler, ssl=server_ctx, close_listener=True)
    return srv, lsock.getsockname()[1]


def tls_connect(port: int, client_ctx: Any) -> Any:
    return net.open_connection("127.0.0.1", port, ssl=client_ctx, server_hostname="localhost")


@contextmanager
def stdlib_tls_server(server_ctx: Any, body: Callable[[Any], Any]) -> Iterator[int]:
    """A stdlib TLS server in a plain thread serving one client with ``body``; yields its port."""
    lsock = std_socket.create_server(("127.0.0.1", 0))
    errors: list[BaseException] = []

    def serve() -> None:
        try:
            conn, _ = lsock.accept()
            body(server_ctx.wrap_socket(conn, server_side=True))
        except BaseException as e:  # reported by the test below
            errors.append(e)

    t = threading.Thread(target=serve)
    t.start()
    try:
        yield lsock.getsockname()[1]
    finally:
        t.join(10)
        lsock.close()
    assert not errors, errors


def test_module_mirrors_stdlib_ssl() -> None:
    for name in (
        "SSLContext",
        "SSLSocket",
        "create_default_context",
        "PROTOCOL_TLS_CLIENT",
        "SSLError",
        "SSLWantReadError",
        "CERT_REQUIRED",
        "Purpose",
    ):
        assert hasattr(tssl, name), name
    assert issubclass(tssl.SSLSocket, ssl.SSLSocket)
    assert issubclass(tssl.SSLContext, ssl.SSLContext)
    ctx = tssl.create_default_context()
    assert isinstance(ctx, tssl.SSLContext)
    assert ctx.verify_mode == ssl.CERT_REQUIRED and ctx.check_hostname  # noqa: PT018


def test_tls_echo_through_the_server(tls_contexts: Any) -> None:
    server_ctx, client_ctx = tls_contexts

    def main() -> None:
        srv, port = serve_tls(server_ctx)
        with tls_connect(port, client_ctx) as c:
            assert isinstance(c, tssl.SSLSocket)
            payload = bytes(range(256)) * 1000
            c.sendall(payload)
            got = b""
            while len(got) < len(payload):
                got += c.recv(65536)
            assert got == payload
            srv.cancel()
            assert c.recv(10) == b""

    thredo.run(main)


def test_client_verifies_certificates_by_default(tls_contexts: Any) -> None:
    server_ctx, _ = tls_contexts

    def main() -> None:
        srv, port = serve_tls(server_ctx)
        try:
            with pytest.raises(ssl.SSLCertVerificationError):
                net.open_connection("127.0.0.1", port, ssl=True, server_hostname="localhost")
        finally:
            srv.cancel()

    thredo.run(main)


def test_stalled_handshake_does_not_hold_up_the_server_cancel(tls_contexts: Any) -> None:
    server_ctx, client_ctx = tls_contexts

    def main() -> None:
        srv, port = serve_tls(server_ctx)
        stall = net.open_connection("127.0.0.1", port)  # TCP only: never says hello
        with (
            stall,
            tls_connect(port, client_ctx) as good,
        ):
            good.sendall(b"ping")
            assert good.recv(10) == b"ping"  # the stalled peer affects only itself
            t0 = time.monotonic()
            srv.cancel()
            assert time.monotonic() - t0 < 5
            assert stall.recv(10) == b""
            assert good.recv(10) == b""

    thredo.run(main)


@pytest.mark.parametrize("how", ["cancel", "timeout"])
def test_tls_recv_cancelled_or_timed_out_leaves_the_socket_usable(
    tls_contexts: Any, how: str
) -> None:
    server_ctx, client_ctx = tls_contexts

    def main() -> None:
        srv, port = serve_tls(server_ctx)
        with tls_connect(port, client_ctx) as c:
            if how == "cancel":
                t = thredo.spawn(c.recv, 10)
                ready = threading.Event()
                waiter = thredo.spawn(lambda: (thredo.sleep(0.05), ready.set()))
                waiter.join()
                t.cancel()
                assert isinstance(t.exception, thredo.ThreadCancelled)
            else:
                with pytest.raises(thredo.ThreadTimeout):
                    with thredo.timeout_after(0.05):
                        c.recv(10)
            c.sendall(b"after")
            assert c.recv(10) == b"after"
        srv.cancel()

    thredo.run(main)


def test_tls_socket_timeout_raises_timeout_error(tls_contexts: Any) -> None:
    server_ctx, client_ctx = tls_contexts

    def main() -> None:
        srv, port = serve_tls(server_ctx)
        with tls_connect(port, client_ctx) as c:
            c.settimeout(0.05)
            assert c.gettimeout() == 0.05
            with pytest.raises(TimeoutError):
                c.recv(10)
        srv.cancel()

    thredo.run(main)


def test_plain_threads_interoperate_with_a_stdlib_tls_server(tls_contexts: Any) -> None:
    """A thredo TLS client in a plain thread against a stdlib TLS server."""
    server_ctx, client_ctx = tls_contexts

    def shout(tls: Any) -> None:
        with tls:
            tls.sendall(tls.recv(100).upper())

    with stdlib_tls_server(server_ctx, shout) as port:
        raw = net.socket.create_connection(("127.0.0.1", port))
        with tssl.wrap(raw, client_ctx, server_hostname="localhost") as c:
            c.sendall(b"hello")
            assert c.recv(100) == b"HELLO"


def test_tls_sendall_cancelled_reports_bytes_sent(tls_contexts: Any) -> None:
    server_ctx, client_ctx = tls_contexts
    release = threading.Event()

    def sink(client: Any, address: Any) -> None:  # never reads until released
        while not release.is_set():
            thredo.sleep(0.01)

    def main() -> None:
        srv, port = serve_tls(server_ctx, sink)
        with tls_connect(port, client_ctx) as c:
            c.setsockopt(std_socket.SOL_SOCKET, std_socket.SO_SNDBUF, 4096)
            payload = b"x" * 8_000_000
            with pytest.raises(thredo.ThreadTimeout) as info:
                with thredo.timeout_after(0.2):
                    c.sendall(payload)
            assert 0 <= info.value.bytes_sent < len(payload)  # type: ignore[attr-defined]
        release.set()
        srv.cancel()

    thredo.run(main)


def test_unwrap_returns_the_plain_socket(tls_contexts: Any) -> None:
    server_ctx, client_ctx = tls_contexts

    def unwrap_then_plain(tls: Any) -> None:
        assert tls.recv(10) == b"tls"
        with tls.unwrap() as plain:
            plain.sendall(b"plain")

    def main(port: int) -> None:
        raw = net.socket.create_connection(("127.0.0.1", port))
        c = tssl.wrap(raw, client_ctx, server_hostname="localhost")
        c.sendall(b"tls")
        with thredo.timeout_after(10):
            plain = c.unwrap()
        with plain:
            assert plain.recv(10) == b"plain"

    with stdlib_tls_server(server_ctx, unwrap_then_plain) as port:
        thredo.run(main, port)
