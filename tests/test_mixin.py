"""ThredoMixIn: socketserver and http.server on thredo threads; cancel, shutdown, server_close.

Real servers on 127.0.0.1 (port 0), stdlib clients in the test thread or in
plain threads; order by events and wait_blocked, never by sleeping.
"""

from __future__ import annotations

import http.client
import http.server
import os
import signal
import socket
import socketserver
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from helpers import (
    HOWS,
    LOCAL,
    WAIT,
    PlainThread,
    expected,
    wait_blocked,
    wait_until,
)
from test_examples import Server

import thredo
from thredo import net

# -- handlers -----------------------------------------------------------------------


class SlowHTTPHandler(http.server.BaseHTTPRequestHandler):
    """``/slow`` blocks forever (a thredo sleep); anything else answers at once."""

    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        if self.path == "/slow":
            self.server.slow.release()  # type: ignore[attr-defined]
            thredo.sleep(3600)
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, format: str, *args: Any) -> None:
        pass


class EchoStream(socketserver.StreamRequestHandler):
    def handle(self) -> None:
        for line in self.rfile:
            self.wfile.write(line)


class EchoBase(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        while data := self.request.recv(65536):
            self.request.sendall(data)


class HTTPServer(thredo.ThreadingHTTPServer):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.slow = threading.Semaphore(0)
        super().__init__(*args, **kwargs)


class TCPServer(thredo.ThreadingTCPServer):
    pass


def connect(server: Any) -> socket.socket:
    return socket.create_connection(server.server_address[:2], timeout=WAIT)


def ends(sock: socket.socket) -> bool:
    """True when the server closed the connection (EOF or reset)."""
    try:
        while sock.recv(65536):
            pass
    except ConnectionResetError:
        pass
    return True


def serve(server: Any) -> thredo.Thread[Any]:
    """serve_forever in a thredo thread, once it waits for connections."""
    t = thredo.spawn(server.serve_forever)
    wait_blocked(t, "epoll.poll")
    return t


# -- http.server: the scenario ----------------------------------------------------


def test_http_server_cancelled_with_many_clients_some_stuck() -> None:
    """30 clients: 10 stuck in a slow handler, 10 idle keep-alive, 10 connected silent."""

    def main() -> None:
        server = HTTPServer((LOCAL, 0), SlowHTTPHandler)
        t = serve(server)
        stuck, idle, silent = [], [], []
        for _ in range(10):
            s = connect(server)
            s.sendall(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
            stuck.append(s)
        for _ in range(10):
            assert server.slow.acquire(timeout=WAIT)
        for _ in range(10):
            c = http.client.HTTPConnection(LOCAL, server.server_address[1], timeout=WAIT)
            c.request("GET", "/")
            assert c.getresponse().read() == b"ok"  # kept alive: its handler waits for more
            idle.append(c)
        silent = [connect(server) for _ in range(10)]
        wait_until(lambda: len(server._live) == 30, "30 handler threads")
        handlers = list(server._live)
        t0 = time.monotonic()
        t.cancel()
        assert time.monotonic() - t0 < 1.0
        assert t.cancelled
        assert all(h.terminated for h in handlers)
        for s in stuck + silent:
            assert ends(s)
            s.close()
        for c in idle:
            assert c.sock is not None
            assert ends(c.sock)
            c.close()
        assert server.socket.fileno() == -1  # the listener is closed: nothing accepts
        assert thredo.enumerate() == [thredo.current_thread()]

    thredo.run(main)


@pytest.mark.parametrize("how", HOWS)
def test_serve_forever_cancel_and_timeout_when_idle(how: str) -> None:
    def main() -> None:
        with TCPServer((LOCAL, 0), EchoStream) as server:
            if how == "cancel":
                t = serve(server)
                t.cancel()
                assert isinstance(t.exception, thredo.ThreadCancelled)
            else:
                with pytest.raises(expected(how)), thredo.timeout_after(0.1):
                    server.serve_forever()
            assert server.socket.fileno() == -1

    thredo.run(main)


def test_serve_forever_is_a_cancellation_point() -> None:
    def main() -> None:
        with TCPServer((LOCAL, 0), EchoStream) as server:
            with pytest.raises(thredo.ThreadTimeout), thredo.timeout_after(0):
                server.serve_forever()

    thredo.run(main)


# -- handlers: BaseRequestHandler and StreamRequestHandler ------------------------------------


@pytest.mark.parametrize("handler", [EchoStream, EchoBase])
def test_handlers_echo_and_are_cancelled_in_their_reads(handler: type) -> None:
    def main() -> None:
        with TCPServer((LOCAL, 0), handler) as server:
            t = serve(server)
            clients = [connect(server) for _ in range(5)]
            for i, c in enumerate(clients):
                c.sendall(b"line %d\n" % i)
                assert c.recv(100) == b"line %d\n" % i
            wait_until(lambda: len(server._live) == 5, "5 handlers")
            for h in list(server._live):
                wait_blocked(h, ("recv", "recv_into"))
            t.cancel()
            for c in clients:
                assert ends(c)
                c.close()

    thredo.run(main)


def test_a_handler_streaming_to_a_fast_client_is_cancelled() -> None:
    """wfile writes are cancellation points: a handler that never waits still stops."""
    started = threading.Event()

    class Firehose(socketserver.StreamRequestHandler):
        def handle(self) -> None:
            started.set()
            while True:
                self.wfile.write(b"x" * 1024)

    def main() -> None:
        with TCPServer((LOCAL, 0), Firehose) as server:
            t = serve(server)
            c = connect(server)
            reader = PlainThread(lambda: ends(c))
            assert started.wait(WAIT)
            t.cancel()
            assert reader.join() is True
            c.close()

    thredo.run(main)


def test_a_failing_handler_reports_and_closes_only_its_connection(
    capsys: pytest.CaptureFixture[str],
) -> None:
    class Fails(socketserver.StreamRequestHandler):
        def handle(self) -> None:
            if self.rfile.readline() == b"boom\n":
                raise ValueError("boom")
            self.wfile.write(b"fine\n")

    def main() -> None:
        with TCPServer((LOCAL, 0), Fails) as server:
            t = serve(server)
            bad, good = connect(server), connect(server)
            bad.sendall(b"boom\n")
            assert ends(bad)
            good.sendall(b"hi\n")
            assert good.recv(100) == b"fine\n"
            t.cancel()
            bad.close()
            good.close()

    thredo.run(main)
    assert "ValueError: boom" in capsys.readouterr().err  # handle_error: the stdlib's report


# -- shutdown() and server_close(): stdlib meaning, never a hang ---------------------------------


def test_shutdown_stops_the_loop_and_leaves_handlers_to_server_close() -> None:
    def main() -> None:
        server = HTTPServer((LOCAL, 0), SlowHTTPHandler)
        t = serve(server)
        s = connect(server)
        s.sendall(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
        assert server.slow.acquire(timeout=WAIT)
        t0 = time.monotonic()
        server.shutdown()  # from another thredo thread
        assert t.join() is None  # serve_forever returned normally
        assert len(server._live) == 1  # the handler runs on, as with the stdlib
        server.server_close()  # cancels it and waits for it
        assert time.monotonic() - t0 < WAIT
        assert not server._live
        assert ends(s)
        s.close()

    thredo.run(main)


def test_shutdown_from_a_plain_thread() -> None:
    def main() -> None:
        with TCPServer((LOCAL, 0), EchoStream) as server:
            t = serve(server)
            PlainThread(server.shutdown).join()
            assert t.join() is None

    thredo.run(main)


def test_shutdown_without_a_loop_returns_at_once() -> None:
    """The stdlib's shutdown() waits forever when serve_forever is not running."""

    def main() -> None:
        with TCPServer((LOCAL, 0), EchoStream) as server:
            server.shutdown()
            PlainThread(server.shutdown).join()
            # kept (as the stdlib's flag): the next loop returns at once, and uses it up
            assert thredo.spawn(server.serve_forever).join(timeout=WAIT) is None
            t = serve(server)
            server.shutdown()
            t.join()
            server.shutdown()  # after the loop has stopped

    thredo.run(main)
    with TCPServer((LOCAL, 0), EchoStream) as server:  # outside run() altogether
        server.shutdown()


def test_shutdown_from_the_serving_thread_does_not_hang() -> None:
    class Server(TCPServer):
        def service_actions(self) -> None:
            self.shutdown()  # the stdlib's deadlocks here

    def main() -> None:
        with Server((LOCAL, 0), EchoStream) as server:
            t = thredo.spawn(server.serve_forever)
            c = connect(server)  # one wake-up of the loop
            assert t.join() is None
            c.close()

    thredo.run(main)


def test_server_close_while_serving_stops_the_loop() -> None:
    def main() -> None:
        server = TCPServer((LOCAL, 0), EchoStream)
        t = serve(server)
        c = connect(server)
        wait_until(lambda: len(server._live) == 1, "the handler")
        PlainThread(server.server_close).join()
        assert t.join() is None
        assert ends(c)
        c.close()

    thredo.run(main)


def test_serve_forever_again_after_shutdown() -> None:
    def main() -> None:
        with TCPServer((LOCAL, 0), EchoStream) as server:
            for _ in range(2):
                t = serve(server)
                c = connect(server)
                c.sendall(b"a\n")
                assert c.recv(10) == b"a\n"
                server.shutdown()
                t.join()
                c.close()

    thredo.run(main)


def _fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_serve_forever_outside_thredo_raises() -> None:
    with TCPServer((LOCAL, 0), EchoStream) as server:
        n = _fds()
        with pytest.raises(RuntimeError, match=r"thredo thread.*thredo\.run"):
            server.serve_forever()
        assert _fds() == n
        assert server.socket.fileno() >= 0


def test_serve_forever_from_a_plain_thread_in_a_run_fails_at_once_and_closes_nothing() -> None:
    """Issue 22 item 8: a clear error at once; the listener stays; its clients get served."""

    def main() -> None:
        with TCPServer((LOCAL, 0), EchoStream) as server:
            early = connect(server)  # waits in the backlog meanwhile
            n = _fds()
            err = PlainThread(lambda: pytest.raises(RuntimeError, server.serve_forever)).join()
            assert "thredo thread" in str(err.value)
            assert "thredo.run" in str(err.value)  # says how to do it
            assert _fds() == n  # nothing opened (or left open), nothing closed
            assert server.socket.fileno() >= 0
            t = serve(server)  # served the right way, the early client is not left hanging
            early.sendall(b"early\n")
            assert early.recv(10) == b"early\n"
            # and a plain thread's attempt while it serves disturbs nothing
            PlainThread(lambda: pytest.raises(RuntimeError, server.serve_forever)).join()
            late = connect(server)
            late.sendall(b"late\n")
            assert late.recv(10) == b"late\n"
            server.shutdown()
            assert t.join(timeout=WAIT) is None
            assert not t.is_alive()
            early.close()
            late.close()

    thredo.run(main)


# -- handle_request --------------------------------------------------------------------


def test_handle_request_serves_one() -> None:
    def main() -> None:
        with TCPServer((LOCAL, 0), EchoBase) as server:
            c = connect(server)
            c.sendall(b"once")
            t = thredo.spawn(server.handle_request)
            assert c.recv(10) == b"once"
            c.shutdown(socket.SHUT_WR)
            assert ends(c)
            t.join()
            c.close()

    thredo.run(main)


def test_handle_request_timeout_calls_handle_timeout() -> None:
    timeouts: list[str] = []

    class Server(TCPServer):
        timeout = 0.1

        def handle_timeout(self) -> None:
            timeouts.append("timeout")

    def main() -> None:
        with Server((LOCAL, 0), EchoBase) as server:
            server.handle_request()

    thredo.run(main)
    assert timeouts == ["timeout"]


@pytest.mark.parametrize("how", HOWS)
def test_handle_request_cancel_and_timeout(how: str) -> None:
    def main() -> None:
        with TCPServer((LOCAL, 0), EchoBase) as server:
            if how == "cancel":
                t = thredo.spawn(server.handle_request)
                wait_blocked(t, "poll")
                t.cancel()
                assert isinstance(t.exception, thredo.ThreadCancelled)
            else:
                with pytest.raises(thredo.ThreadTimeout), thredo.timeout_after(0.1):
                    server.handle_request()

    thredo.run(main)


# -- sockets -----------------------------------------------------------------------------


def test_listener_and_requests_are_thredo_sockets() -> None:
    seen: list[Any] = []

    class Record(socketserver.StreamRequestHandler):
        def handle(self) -> None:
            seen.append(self.request)

    def main() -> None:
        with TCPServer((LOCAL, 0), Record) as server:
            assert isinstance(server.socket, net.socket.socket)
            t = serve(server)
            c = connect(server)
            assert ends(c)
            c.close()
            t.cancel()

    thredo.run(main)
    assert isinstance(seen[0], net.socket.socket)


def test_ctrl_c_on_run_stops_the_server() -> None:
    """SIGINT cancels run()'s main thread, serving: run() raises KeyboardInterrupt, nothing left."""
    served = threading.Event()

    def main() -> None:
        with TCPServer((LOCAL, 0), EchoStream) as server:
            c = connect(server)
            c.sendall(b"x\n")

            def interrupt_when_echoed() -> None:
                assert c.recv(10) == b"x\n"
                served.set()
                signal.pthread_kill(threading.main_thread().ident or 0, signal.SIGINT)

            p = PlainThread(interrupt_when_echoed)
            try:
                server.serve_forever()
            finally:
                p.join()
                assert ends(c)
                c.close()

    with pytest.raises(KeyboardInterrupt):
        thredo.run(main)
    assert served.is_set()


# -- examples/echo/echoss.py ----------------------------------------------------------------------


@pytest.fixture
def echoss() -> Iterator[Server]:
    server = Server("echo/echoss.py")
    try:
        yield server
    finally:
        server.kill()


def test_echoss_serves_and_stops_on_sigint(echoss: Server) -> None:
    clients = [echoss.connect() for _ in range(3)]
    for i, c in enumerate(clients):
        c.sendall(b"hello %d\n" % i)
        got = b""
        while not got.endswith(b"\n"):
            got += c.recv(100)
        assert got == b"hello %d\n" % i
    code, out, err = echoss.interrupt()
    assert code == 0, err
    assert "echo server stopped: closed 3 connections" in out
    for c in clients:
        assert ends(c)
        c.close()


def test_https_server_handshakes_in_the_handler_thread(tls_contexts: tuple[Any, Any]) -> None:
    """A TLS listener (thredo TLS, handshake in the handler): a stalled client holds up nobody."""
    server_ctx, client_ctx = tls_contexts

    def main() -> None:
        with HTTPServer((LOCAL, 0), SlowHTTPHandler) as server:
            server.socket = net.ssl.wrap(
                server.socket, server_ctx, server_side=True, do_handshake_on_connect=False
            )
            t = serve(server)
            stalled = connect(server)  # never says hello
            wait_until(lambda: len(server._live) == 1, "the stalled client's handler")
            conn = http.client.HTTPSConnection(
                "localhost", server.server_address[1], context=client_ctx, timeout=WAIT
            )
            conn.request("GET", "/")
            assert conn.getresponse().read() == b"ok"
            t.cancel()
            assert ends(stalled)
            stalled.close()
            conn.close()

    thredo.run(main)


def test_a_handler_may_close_the_server() -> None:
    """server_close() from a handler: the loop stops, the other handlers end, this one goes on."""
    done = threading.Event()

    class Closer(socketserver.StreamRequestHandler):
        def handle(self) -> None:
            line = self.rfile.readline()
            if line == b"close\n":
                self.server.server_close()
                self.wfile.write(b"closed\n")
                done.set()
                return
            while line:
                self.wfile.write(line)
                line = self.rfile.readline()

    def main() -> None:
        server = TCPServer((LOCAL, 0), Closer)
        t = serve(server)
        other, closer = connect(server), connect(server)
        other.sendall(b"hi\n")
        assert other.recv(10) == b"hi\n"
        closer.sendall(b"close\n")
        assert closer.recv(10) == b"closed\n"
        assert done.wait(WAIT)
        assert t.join() is None
        assert ends(other)
        assert ends(closer)
        other.close()
        closer.close()

    thredo.run(main)


# -- issue 21 item 4: an early shutdown() is kept; escaping exceptions reach excepthook -----------


def test_shutdown_before_serve_forever_is_kept() -> None:
    """As socketserver's: a shutdown() that came before the loop makes it return at once."""

    def main() -> None:
        with TCPServer((LOCAL, 0), EchoStream) as server:
            server.shutdown()  # no loop yet: returns at once (the stdlib's would wait), kept
            t = thredo.spawn(server.serve_forever)
            assert t.join(timeout=WAIT) is None
            assert not t.is_alive(), "serve_forever ran on after an early shutdown()"
            # the request is used up: the next loop serves until its own shutdown
            t = serve(server)
            server.shutdown()
            assert t.join(timeout=WAIT) is None
            assert not t.is_alive()

    thredo.run(main)


def test_shutdown_racing_the_start_of_serve_forever_never_hangs() -> None:
    """400 tries of spawn(serve_forever) then shutdown() at once: every loop returns."""

    def main() -> None:
        with TCPServer((LOCAL, 0), EchoStream) as server:
            for i in range(400):
                t = thredo.spawn(server.serve_forever)
                server.shutdown()
                t.join(timeout=WAIT)
                if t.is_alive():
                    t.cancel()
                    raise AssertionError(f"try {i}: serve_forever ran on after shutdown()")

    thredo.run(main)


def _errors_through_excepthook(mixin: type, exc: type[BaseException]) -> tuple[list[str], Any]:
    """Serve one request whose handler raises ``exc``; return what handle_error and the hook saw."""
    handled: list[str] = []
    hooked: list[Any] = []
    done = threading.Event()

    class Bad(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            raise exc("Test error")

    class Server(mixin, socketserver.TCPServer):  # type: ignore[misc]
        def handle_error(self, request: Any, client_address: Any) -> None:
            handled.append(sys.exc_info()[0].__name__)  # type: ignore[union-attr]

        def shutdown_request(self, request: Any) -> None:
            super().shutdown_request(request)
            done.set()

    def hook(args: Any) -> None:
        hooked.append(args)

    old, threading.excepthook = threading.excepthook, hook
    try:
        with Server((LOCAL, 0), Bad) as server:
            socket.create_connection((LOCAL, server.server_address[1])).close()
            server.handle_request()
            assert done.wait(WAIT)
            server.server_close()  # joins the handler (block_on_close)
    finally:
        threading.excepthook = old
    return handled, hooked


@pytest.mark.parametrize("exc", [ValueError, SystemExit, KeyboardInterrupt])
def test_handler_exceptions_go_where_threading_mixin_sends_them(exc: type[BaseException]) -> None:
    """Exception: handle_error; SystemExit, KeyboardInterrupt: threading.excepthook (stdlib's)."""
    std_handled, std_hooked = _errors_through_excepthook(socketserver.ThreadingMixIn, exc)
    out: list[Any] = []
    thredo.run(lambda: out.extend(_errors_through_excepthook(thredo.ThredoMixIn, exc)))
    handled, hooked = out
    assert handled == std_handled
    assert [type(a) for a in hooked] == [type(a) for a in std_hooked]
    assert [(a.exc_type, str(a.exc_value)) for a in hooked] == [
        (a.exc_type, str(a.exc_value)) for a in std_hooked
    ]
    for args in hooked:
        assert isinstance(args, threading.ExceptHookArgs)
        assert args.exc_traceback is not None
        assert args.thread is not None
        assert args.thread.name.startswith("thredo handler")
