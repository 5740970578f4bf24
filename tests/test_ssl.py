"""thredo.net.ssl: TLS whose handshake, reads and writes are cancellable."""

from __future__ import annotations

import _socket
import socket as std_socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from helpers import (
    HOWS,
    WAIT,
    PlainThread,
    at_a_point,
    stopped_promptly,
    tcp_accept_queue,
    wait_blocked,
    wait_until,
)

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
                wait_blocked(t, "recv", c)  # waiting for a record the server never sends
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
    release = thredo.Event()

    def sink(client: Any, address: Any) -> None:  # never reads until released
        release.wait()

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


# -- cancellation points -----------------------------------------------------------


def recv_exactly(sock: Any, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        assert chunk, "unexpected EOF"
        data += chunk
    return data


def record_waiting(sock: Any, size: int) -> None:
    """Wait (an upper bound) until a TLS record of ``size`` bytes is on ``sock``: a read won't wait.

    Peeks at the raw bytes (header 5, content type 1, AEAD tag 16 around the
    data in TLS 1.3; TLS 1.2 records are no larger).
    """
    want = size + 22

    def arrived() -> bool:
        try:
            raw = _socket.socket.recv(sock, want, std_socket.MSG_PEEK | std_socket.MSG_DONTWAIT)
        except BlockingIOError:
            return False
        return len(raw) >= want

    wait_until(arrived, "the TLS record to arrive")


TLS_POINT_OPS = [
    "recv",
    "recv_into",
    "read",
    "makefile-readline",
    "send",
    "write",
    "sendall",
    "do_handshake",
    "unwrap",
]


@pytest.mark.parametrize("op", TLS_POINT_OPS)
@pytest.mark.parametrize("mode", HOWS)
def test_every_tls_call_is_a_cancellation_point(tls_contexts: Any, mode: str, op: str) -> None:
    """A TLS call that would not wait still raises first; the connection is intact after it."""
    server_ctx, client_ctx = tls_contexts

    def main() -> None:
        srv, port = serve_tls(server_ctx)
        try:
            if op == "do_handshake":
                raw = net.socket.create_connection(("127.0.0.1", port))
                with tssl.wrap(
                    raw, client_ctx, server_hostname="localhost", do_handshake_on_connect=False
                ) as c:
                    at_a_point(mode, c.do_handshake)
                    c.do_handshake()
                    c.sendall(b"ok")
                    assert recv_exactly(c, 2) == b"ok"
                return
            with tls_connect(port, client_ctx) as c:
                if op in ("recv", "recv_into", "read"):
                    c.sendall(b"warm")  # a round trip: session tickets read and done with
                    assert recv_exactly(c, 4) == b"warm"
                    c.sendall(b"echoed")
                    record_waiting(c, 6)
                    call = {
                        "recv": lambda: c.recv(100),
                        "recv_into": lambda: c.recv_into(bytearray(100)),
                        "read": lambda: c.read(100),
                    }[op]
                    at_a_point(mode, call)
                    assert recv_exactly(c, 6) == b"echoed"  # nothing consumed
                elif op == "makefile-readline":
                    with c.makefile("rb") as f:
                        c.sendall(b"one\ntwo\n")
                        assert f.readline() == b"one\n"
                        at_a_point(mode, f.readline)  # "two\n" may be buffered already
                        assert f.readline() == b"two\n"
                elif op == "unwrap":
                    at_a_point(mode, c.unwrap)
                    c.sendall(b"still TLS")
                    assert recv_exactly(c, 9) == b"still TLS"
                else:
                    call = {
                        "send": lambda: c.send(b"lost?"),
                        "write": lambda: c.write(b"lost?"),
                        "sendall": lambda: c.sendall(b"lost?"),
                    }[op]
                    exc = at_a_point(mode, call)
                    if op == "sendall":
                        assert exc.bytes_sent == 0  # type: ignore[attr-defined]
                    c.sendall(b"next")
                    assert recv_exactly(c, 4) == b"next"  # the echo: nothing else went out
        finally:
            srv.cancel()

    thredo.run(main)


@pytest.mark.parametrize("mode", HOWS)
def test_busy_tls_sendall_loop_to_a_fast_reader_is_stopped(tls_contexts: Any, mode: str) -> None:
    server_ctx, client_ctx = tls_contexts

    def sink(client: Any, address: Any) -> None:
        while client.recv(65536):
            pass

    def main() -> None:
        srv, port = serve_tls(server_ctx, sink)
        try:
            with tls_connect(port, client_ctx) as c:
                exc = stopped_promptly(mode, lambda: c.sendall(b"x" * 64))
                assert exc.bytes_sent in (0, 64)  # type: ignore[attr-defined]
        finally:
            srv.cancel()

    thredo.run(main)


def test_tls_makefile_and_recv_in_a_plain_thread_are_not_affected(tls_contexts: Any) -> None:
    """Outside thredo threads nothing is a point: a plain thread keeps the stdlib behaviour."""
    server_ctx, client_ctx = tls_contexts

    def shout(tls: Any) -> None:
        with tls, tls.makefile("rb") as f:
            tls.sendall(f.readline().upper())

    with stdlib_tls_server(server_ctx, shout) as port:

        def client() -> bytes:
            raw = net.socket.create_connection(("127.0.0.1", port))
            with tssl.wrap(raw, client_ctx, server_hostname="localhost") as c:
                with c.makefile("wb") as w:
                    w.write(b"hello\n")
                return recv_exactly(c, 6)

        assert PlainThread(client).join() == b"HELLO\n"


# -- a cut-off send never corrupts the stream (trio#198/#889) -------------------------

CUT_A = bytes(range(256)) * 16384  # 4 MiB: far more than the small buffers hold
CUT_B = b"".join(i.to_bytes(4, "big") for i in range(25_000))  # 100 kB, unlike CUT_A


class SlowTLSPeer:
    """A stdlib TLS server in a plain thread: reads nothing until ``go``, then all to EOF.

    Small socket buffers on both ends, so a large send really is cut mid-stream.
    ``received()`` is every byte it read.
    """

    def __init__(self, server_ctx: Any) -> None:
        self.lsock = std_socket.create_server(("127.0.0.1", 0))
        self.lsock.setsockopt(std_socket.SOL_SOCKET, std_socket.SO_RCVBUF, 4096)
        self.port = self.lsock.getsockname()[1]
        self.go = threading.Event()
        self._ctx = server_ctx
        self._thread = PlainThread(self._serve)

    def _serve(self) -> bytes:
        conn, _ = self.lsock.accept()
        with self._ctx.wrap_socket(conn, server_side=True) as tls:
            assert self.go.wait(WAIT)
            chunks = []
            while data := tls.recv(65536):
                chunks.append(data)
            return b"".join(chunks)

    def connect(self, client_ctx: Any) -> Any:
        raw = net.socket.socket()
        raw.setsockopt(std_socket.SOL_SOCKET, std_socket.SO_SNDBUF, 4096)
        raw.connect(("127.0.0.1", self.port))
        return tssl.wrap(raw, client_ctx, server_hostname="localhost")

    @staticmethod
    def finish(c: Any) -> None:
        """Half-close ``c`` and read to the peer's EOF: closing with unread data
        (session tickets) would reset the connection and lose what is in flight."""
        c.shutdown(std_socket.SHUT_WR)
        while c.recv(65536):
            pass

    def received(self) -> bytes:
        self.go.set()
        try:
            return self._thread.join()  # type: ignore[no-any-return]
        finally:
            self.lsock.close()


def cut_off(how: str, call: Callable[[], Any], blocked_in: str) -> BaseException:
    """Run ``call()`` until it blocks, then interrupt it (``how``); return what it raised."""
    if how == "timeout":
        with pytest.raises(thredo.ThreadTimeout) as info:
            with thredo.timeout_after(0.2):
                call()
        return info.value
    t = thredo.spawn(call)
    wait_blocked(t, blocked_in)
    t.cancel()
    assert isinstance(t.exception, thredo.ThreadCancelled), t.exception
    return t.exception


@pytest.mark.parametrize("op", ["sendall", "send", "write"])
@pytest.mark.parametrize("how", HOWS)
def test_tls_cut_off_send_reports_exactly_what_the_peer_gets(
    tls_contexts: Any, how: str, op: str
) -> None:
    """bytes_sent is what the peer receives of the call; the next send arrives intact after it."""
    server_ctx, client_ctx = tls_contexts
    peer = SlowTLSPeer(server_ctx)

    def main() -> bytes:
        with peer.connect(client_ctx) as c:
            exc = cut_off(how, lambda: getattr(c, op)(CUT_A), op)
            sent = exc.bytes_sent  # type: ignore[attr-defined]
            assert 0 < sent < len(CUT_A)
            peer.go.set()
            c.sendall(CUT_B)
            peer.finish(c)
        return sent  # type: ignore[no-any-return]

    sent = thredo.run(main)
    got = peer.received()
    assert len(got) == sent + len(CUT_B)
    assert got[:sent] == CUT_A[:sent]
    assert got[sent:] == CUT_B


@pytest.mark.parametrize("how", HOWS)
def test_tls_cut_off_send_then_cut_again_while_finishing_the_pending_record(
    tls_contexts: Any, how: str
) -> None:
    """A second send cut while it still finishes the first one's record sent none of its own."""
    server_ctx, client_ctx = tls_contexts
    peer = SlowTLSPeer(server_ctx)

    def main() -> int:
        with peer.connect(client_ctx) as c:
            sent = cut_off(how, lambda: c.sendall(CUT_A), "sendall").bytes_sent  # type: ignore[attr-defined]
            again = cut_off(how, lambda: c.sendall(b"never"), "sendall")
            assert again.bytes_sent == 0  # type: ignore[attr-defined]
            peer.go.set()
            c.sendall(CUT_B)
            peer.finish(c)
        return sent  # type: ignore[no-any-return]

    sent = thredo.run(main)
    got = peer.received()
    assert got == CUT_A[:sent] + CUT_B


@pytest.mark.parametrize("how", HOWS)
def test_tls_cut_off_makefile_write_keeps_the_stream_a_prefix_then_the_next(
    tls_contexts: Any, how: str
) -> None:
    """The io buffer over a TLS socket stays exact: a prefix of the cut write, then the next."""
    server_ctx, client_ctx = tls_contexts
    peer = SlowTLSPeer(server_ctx)

    def main() -> None:
        with peer.connect(client_ctx) as c, c.makefile("wb") as f:

            def write_a() -> None:
                f.write(CUT_A)
                f.flush()

            cut_off(how, write_a, "send")
            peer.go.set()
            f.write(CUT_B)
            f.flush()
            peer.finish(c)

    thredo.run(main)
    got = peer.received()
    assert got.endswith(CUT_B)
    head = got[: len(got) - len(CUT_B)]
    assert 0 < len(head) < len(CUT_A)
    assert head == CUT_A[: len(head)]


def test_tls_socket_timeout_on_send_reports_bytes_sent_exactly(tls_contexts: Any) -> None:
    server_ctx, client_ctx = tls_contexts
    peer = SlowTLSPeer(server_ctx)

    def main() -> int:
        with peer.connect(client_ctx) as c:
            c.settimeout(0.2)
            with pytest.raises(TimeoutError) as info:
                c.sendall(CUT_A)
            c.settimeout(None)
            peer.go.set()
            c.sendall(CUT_B)
            peer.finish(c)
        return info.value.bytes_sent  # type: ignore[attr-defined,no-any-return]

    sent = thredo.run(main)
    assert peer.received() == CUT_A[:sent] + CUT_B


# -- handshake, unwrap, accept and connect: cancelled, timed out, or not waiting ------


@contextmanager
def silent_tcp_server() -> Iterator[int]:
    """A listener that takes connections and never says a word (a stalled TLS peer)."""
    with std_socket.create_server(("127.0.0.1", 0)) as lsock:
        yield lsock.getsockname()[1]


@pytest.mark.parametrize("how", HOWS)
def test_do_handshake_waiting_for_a_silent_peer_is_interrupted(tls_contexts: Any, how: str) -> None:
    _, client_ctx = tls_contexts

    def main(port: int) -> None:
        raw = net.socket.create_connection(("127.0.0.1", port))
        with tssl.wrap(
            raw, client_ctx, server_hostname="localhost", do_handshake_on_connect=False
        ) as c:
            exc = cut_off(how, c.do_handshake, "do_handshake")
            assert isinstance(exc, thredo.CancelledError)

    with silent_tcp_server() as port:
        thredo.run(main, port)


@pytest.mark.parametrize("how", HOWS)
def test_unwrap_waiting_for_the_peers_close_notify_is_interrupted(
    tls_contexts: Any, how: str
) -> None:
    server_ctx, client_ctx = tls_contexts
    done = threading.Event()

    def hold(tls: Any) -> None:  # answers the close_notify only when the test is over
        assert tls.recv(10) == b"hi"
        assert done.wait(WAIT)
        tls.close()

    def main(port: int) -> None:
        raw = net.socket.create_connection(("127.0.0.1", port))
        with tssl.wrap(raw, client_ctx, server_hostname="localhost") as c:
            c.sendall(b"hi")
            cut_off(how, c.unwrap, "unwrap")
        done.set()

    with stdlib_tls_server(server_ctx, hold) as port:
        thredo.run(main, port)


@pytest.mark.parametrize("how", HOWS)
def test_connect_of_a_wrapped_unconnected_socket_is_interrupted(
    tls_contexts: Any, how: str
) -> None:
    """``connect()`` on a wrapped socket does the handshake: interrupted while it waits."""
    _, client_ctx = tls_contexts

    def main(port: int) -> None:
        with tssl.wrap(net.socket.socket(), client_ctx, server_hostname="localhost") as c:
            assert isinstance(c, tssl.SSLSocket)
            cut_off(how, lambda: c.connect(("127.0.0.1", port)), "do_handshake")

    with silent_tcp_server() as port:
        thredo.run(main, port)


def test_connect_of_a_wrapped_unconnected_socket_talks_tls(tls_contexts: Any) -> None:
    server_ctx, client_ctx = tls_contexts

    def main() -> None:
        srv, port = serve_tls(server_ctx)
        try:
            with tssl.wrap(net.socket.socket(), client_ctx, server_hostname="localhost") as c:
                assert c.connect_ex(("127.0.0.1", port)) == 0
                c.sendall(b"over tls")
                assert recv_exactly(c, 8) == b"over tls"
        finally:
            srv.cancel()

    thredo.run(main)


@pytest.mark.parametrize("how", HOWS)
def test_accept_of_a_wrapped_listening_socket(tls_contexts: Any, how: str) -> None:
    """Interrupted while no client comes; then accepts one (a thredo TLS socket, handshaken)."""
    server_ctx, client_ctx = tls_contexts

    def main() -> None:
        lsock = net.socket.create_server(("127.0.0.1", 0))
        with tssl.wrap(lsock, server_ctx, server_side=True) as tls_listener:
            cut_off(how, tls_listener.accept, "accept")
            port = tls_listener.getsockname()[1]

            def client() -> bytes:
                with tls_connect(port, client_ctx) as c:
                    c.sendall(b"hello")
                    return recv_exactly(c, 5)

            t = thredo.spawn(client)
            conn, _ = tls_listener.accept()
            with conn:
                assert isinstance(conn, tssl.SSLSocket)
                conn.sendall(recv_exactly(conn, 5).upper())
            assert t.join() == b"HELLO"

    thredo.run(main)


@pytest.mark.parametrize("how", HOWS)
def test_accept_of_a_wrapped_listener_with_a_client_queued_is_a_point(
    tls_contexts: Any, how: str
) -> None:
    server_ctx, client_ctx = tls_contexts

    def main() -> None:
        lsock = net.socket.create_server(("127.0.0.1", 0))
        with tssl.wrap(lsock, server_ctx, server_side=True) as tls_listener:
            port = tls_listener.getsockname()[1]
            t = thredo.spawn(tls_connect, port, client_ctx)  # waits in its handshake
            wait_until(lambda: tcp_accept_queue(tls_listener) >= 1, "the client to be queued")
            at_a_point(how, tls_listener.accept)  # raised before taking the client
            conn, _ = tls_listener.accept()
            with conn, t.join() as c:
                c.sendall(b"queued")
                assert recv_exactly(conn, 6) == b"queued"

    thredo.run(main)


def test_a_tls_socket_closed_by_another_thread_wakes_its_reader(tls_contexts: Any) -> None:
    server_ctx, client_ctx = tls_contexts

    def main() -> None:
        srv, port = serve_tls(server_ctx)
        try:
            c = tls_connect(port, client_ctx)
            t = thredo.spawn(c.recv, 10)
            wait_blocked(t, "recv", c)
            c.close()
            t.wait()
            assert isinstance(t.exception, OSError), t.exception
        finally:
            srv.cancel()

    thredo.run(main)


def test_a_tls_socket_as_a_stream(tls_contexts: Any) -> None:
    server_ctx, client_ctx = tls_contexts

    def main() -> None:
        srv, port = serve_tls(server_ctx)
        try:
            with tls_connect(port, client_ctx).as_stream() as stream:
                assert isinstance(stream, net.SocketStream)
                stream.write(b"one\ntwo\n")
                assert stream.readline() == b"one\n"
                assert stream.read_exactly(4) == b"two\n"
        finally:
            srv.cancel()

    thredo.run(main)


@pytest.mark.parametrize("how", HOWS)
def test_tls_recv_that_waits_first_is_interrupted_and_then_reads(
    tls_contexts: Any, how: str
) -> None:
    """Once a read has waited, the next waits for the socket first: that wait too is a
    cancellation point and cancellable, and nothing is lost across it."""
    server_ctx, client_ctx = tls_contexts

    def main() -> None:
        srv, port = serve_tls(server_ctx)
        try:
            with tls_connect(port, client_ctx) as c:
                t = thredo.spawn(c.recv, 10)
                wait_blocked(t, "recv", c)  # the first read that has to wait
                c.sendall(b"one")
                assert t.join() == b"one"
                assert c._pollfirst  # type: ignore[attr-defined]
                cut_off(how, lambda: c.recv(10), "recv")  # waits before reading
                c.sendall(b"two")
                assert recv_exactly(c, 3) == b"two"
                c.sendall(b"three")
                record_waiting(c, 5)
                at_a_point(how, lambda: c.recv(10))  # data there: still a point first
                assert recv_exactly(c, 5) == b"three"
        finally:
            srv.cancel()

    thredo.run(main)
