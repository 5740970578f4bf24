"""TLS: thread-per-connection TLS servers, thredo against plain threads with the stdlib ``ssl``.

Both servers run the SAME handler as ``bench_net`` (:func:`bench_net.echo_handler`:
recv 64 bytes / sendall them back, until EOF) over TLS, each in a child
process for the whole benchmark, with one certificate made by trustme:

* thredo: ``thredo.net.tcp_server_socket`` + ``thredo.net.run_server(ssl=ctx)``
  (a thredo thread per connection; the handshake runs in it) inside ``thredo.run``;
* plain: ``socket.create_server`` + an accept loop starting a
  ``threading.Thread`` per connection, which does ``ctx.wrap_socket(conn,
  server_side=True)`` (the handshake) and then the handler.

``tls_echo``
    50 connections, 64-byte ping-pong over TLS, closed loop, round trips
    per second.  Each round starts a Python load-generator process
    (``epoll`` over 50 non-blocking stdlib TLS sockets, one request in flight
    each) against one server, alternating.  The generator is Python (TLS in
    C would need OpenSSL's headers), so on a small machine it may saturate
    its core first: ``BENCH_VERBOSE=1`` prints how busy it was; a ratio
    measured while it is ~100% busy understates the gap either way.
``tls_handshakes``
    Full TLS handshakes per second: a client process runs ``HS_THREADS``
    threads, each connecting, handshaking (no session resumption), echoing
    one byte and closing, in a loop; the rate of completed connections.

``BENCH_PIN=1`` pins servers to CPU 0 and the client processes to CPU 1, as
``bench_net`` does.  The child processes are this module run as
``python -m benchmarks.bench_tls <role> ...`` (roles: ``serve``, ``echo``,
``handshakes``).
"""

from __future__ import annotations

import os
import select
import socket
import ssl
import sys
import tempfile
import threading
import time
from typing import Any

import thredo
import thredo.net

from ._util import compare, row
from .bench_net import (
    ECHO_CONNS,
    ECHO_MSG,
    _expect,
    _finish,
    _pin_label,
    _pinning,
    _raise_nofile,
    _spawn,
    echo_handler,
)

# Sizes (default, --quick).
ECHO_SECONDS, ECHO_SECONDS_QUICK = 3.0, 0.5  # measured window per round and side
ECHO_GEN_WARMUP = 0.3  # untimed seconds at the start of each load-generator run
ECHO_ROUNDS, ECHO_ROUNDS_QUICK = 5, 2
HS_SECONDS, HS_SECONDS_QUICK = 2.0, 0.5
HS_ROUNDS, HS_ROUNDS_QUICK = 5, 2
HS_THREADS = 4  # concurrent handshaking clients (stdlib ssl releases the GIL in them)
BACKLOG = 1024
HOST = "127.0.0.1"


# -- certificates -------------------------------------------------------------------


class _Certs:
    """A trustme CA and a localhost certificate, written to a temporary directory."""

    def __init__(self) -> None:
        import trustme

        self._dir = tempfile.TemporaryDirectory(prefix="thredo-bench-tls-")
        ca = trustme.CA()
        cert = ca.issue_cert("localhost", "127.0.0.1")
        self.cafile = os.path.join(self._dir.name, "ca.pem")
        self.certfile = os.path.join(self._dir.name, "cert.pem")
        ca.cert_pem.write_to_path(self.cafile)
        cert.private_key_and_cert_chain_pem.write_to_path(self.certfile)

    def close(self) -> None:
        self._dir.cleanup()


def _server_context(certfile: str) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(certfile)
    return ctx


def _client_context(cafile: str) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=cafile)


# -- child roles -------------------------------------------------------------------


def _child(role: str, *args: Any, cpus: str | None = None) -> Any:
    return _spawn([sys.executable, "-m", "benchmarks.bench_tls", role, *map(str, args)], cpus)


def _wait_for_eof(port: int) -> None:
    print(f"READY {port}", flush=True)
    for _ in sys.stdin:
        pass
    sys.stdout.flush()
    os._exit(0)  # no teardown of the handler threads


def _plain_serve_one(ctx: ssl.SSLContext, conn: socket.socket, address: Any) -> None:
    try:
        with ctx.wrap_socket(conn, server_side=True) as tls:
            echo_handler(tls, address)
    except OSError:  # a client that went away mid-handshake: its connection only
        conn.close()


def _plain_accept_loop(ctx: ssl.SSLContext, lsock: socket.socket) -> None:
    while True:
        try:
            conn, address = lsock.accept()
        except OSError:
            return
        threading.Thread(target=_plain_serve_one, args=(ctx, conn, address), daemon=True).start()


def _serve_main(kind: str, certfile: str) -> None:
    _raise_nofile()
    ctx = _server_context(certfile)
    if kind == "thredo":

        def main() -> None:
            lsock = thredo.net.tcp_server_socket(HOST, 0, backlog=BACKLOG)
            thredo.spawn(thredo.net.run_server, lsock, echo_handler, ssl=ctx, daemon=True)
            _wait_for_eof(lsock.getsockname()[1])

        thredo.run(main)
    elif kind == "plain":
        lsock = socket.create_server((HOST, 0), backlog=BACKLOG)
        threading.Thread(target=_plain_accept_loop, args=(ctx, lsock), daemon=True).start()
        _wait_for_eof(lsock.getsockname()[1])
    else:
        raise SystemExit(f"unknown server kind {kind!r}")


def _connect(ctx: ssl.SSLContext, port: int) -> ssl.SSLSocket:
    raw = socket.create_connection((HOST, port))
    raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return ctx.wrap_socket(raw, server_hostname="localhost")


def _recv_exactly(sock: Any, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        data = sock.recv(n - len(buf))
        if not data:
            raise ConnectionError("server closed the connection")
        buf += data
    return buf


def _echo_main(port: int, conns: int, seconds: float, warmup: float, cafile: str) -> None:
    """Closed-loop 64-byte TLS ping-pong on ``conns`` connections; print RESULT."""
    _raise_nofile()
    ctx = _client_context(cafile)
    msg = b"x" * ECHO_MSG
    socks = [_connect(ctx, port) for _ in range(conns)]
    for s in socks:  # one blocking round trip each: every handler is running
        s.sendall(msg)
        _recv_exactly(s, ECHO_MSG)
    ep = select.epoll(conns)
    by_fd: dict[int, ssl.SSLSocket] = {}
    got: dict[int, int] = {}
    for s in socks:
        s.setblocking(False)
        ep.register(s.fileno(), select.EPOLLIN)
        by_fd[s.fileno()] = s
        got[s.fileno()] = 0
    for s in socks:
        s.send(msg)
    count = c0 = 0
    perf = time.perf_counter
    t_start = perf() + warmup
    t_end = t_start + seconds
    t0 = cpu0 = 0.0
    counting = stopping = False
    inflight = conns
    while inflight:
        for fd, _ in ep.poll():
            s = by_fd[fd]
            while True:  # until the TLS layer has nothing more for us
                try:
                    data = s.recv(ECHO_MSG)
                except ssl.SSLWantReadError:
                    break
                if not data:
                    raise ConnectionError("server closed the connection")
                n = got[fd] + len(data)
                if n < ECHO_MSG:
                    got[fd] = n
                    continue
                got[fd] = 0
                count += 1
                if stopping:
                    inflight -= 1
                    break
                s.send(msg)
        if stopping:
            continue
        now = perf()
        if not counting:
            if now >= t_start:
                counting, c0, t0, cpu0 = True, count, now, time.process_time()
        elif now >= t_end:
            cpu = time.process_time() - cpu0
            print(f"RESULT {count - c0} {now - t0} {cpu}", flush=True)
            stopping = True  # collect the echoes in flight, then close
    for s in socks:
        s.close()


def _handshakes_main(port: int, seconds: float, threads: int, cafile: str) -> None:
    """``threads`` clients doing connect + handshake + 1-byte echo + close; print RESULT."""
    ctx = _client_context(cafile)
    counts = [0] * threads
    t0 = time.perf_counter()
    end = t0 + seconds

    def client(i: int) -> None:
        while time.perf_counter() < end:
            with _connect(ctx, port) as s:
                s.sendall(b"x")
                _recv_exactly(s, 1)
            counts[i] += 1

    ts = [threading.Thread(target=client, args=(i,)) for i in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    print(f"RESULT {sum(counts)} {time.perf_counter() - t0}", flush=True)


def _child_main(argv: list[str]) -> None:
    role, *args = argv
    if role == "serve":
        _serve_main(args[0], args[1])
    elif role == "echo":
        _echo_main(int(args[0]), int(args[1]), float(args[2]), float(args[3]), args[4])
    elif role == "handshakes":
        _handshakes_main(int(args[0]), float(args[1]), int(args[2]), args[3])
    else:
        raise SystemExit(f"unknown role {role!r}")


# -- the benchmarks -------------------------------------------------------------------


class _Server:
    def __init__(self, kind: str, certs: _Certs, cpus: str | None) -> None:
        self.kind = kind
        self.proc = _child("serve", kind, certs.certfile, cpus=cpus)
        self.port = int(_expect(self.proc, "READY")[0])

    def __enter__(self) -> _Server:
        return self

    def __exit__(self, *exc: object) -> None:
        _finish(self.proc, f"{self.kind} TLS server")


def _echo_round(srv: _Server, certs: _Certs, seconds: float, pin: Any) -> float:
    gen = _child(
        "echo", srv.port, ECHO_CONNS, seconds, ECHO_GEN_WARMUP, certs.cafile, cpus=pin and pin[1]
    )
    count, elapsed, cpu = map(float, _expect(gen, "RESULT"))
    if os.environ.get("BENCH_VERBOSE", "") not in ("", "0"):
        print(
            f"\n    {srv.kind:6}: {count / elapsed:9,.0f} rt/s"
            f" | generator busy {cpu / elapsed:4.0%}",
            end="",
            file=sys.stderr,
        )
    _finish(gen, "TLS load generator")
    return count / elapsed


def _handshake_round(srv: _Server, certs: _Certs, seconds: float, pin: Any) -> float:
    gen = _child("handshakes", srv.port, seconds, HS_THREADS, certs.cafile, cpus=pin and pin[1])
    count, elapsed = map(float, _expect(gen, "RESULT"))
    _finish(gen, "TLS handshake client")
    return count / elapsed


def _both(quick: bool, measure: Any, seconds: float, rounds: int) -> tuple[float, float]:
    pin = _pinning()
    certs = _Certs()
    try:
        with (
            _Server("plain", certs, pin and pin[0]) as plain,
            _Server("thredo", certs, pin and pin[0]) as thr,
        ):
            return compare(
                lambda: measure(plain, certs, seconds, pin),
                lambda: measure(thr, certs, seconds, pin),
                rounds,
                warmup=True,
            )
    finally:
        certs.close()


def bench_tls_echo(quick: bool) -> list[dict[str, Any]]:
    b, t = _both(
        quick,
        _echo_round,
        ECHO_SECONDS_QUICK if quick else ECHO_SECONDS,
        ECHO_ROUNDS_QUICK if quick else ECHO_ROUNDS,
    )
    name = f"tls_echo_{ECHO_CONNS}conn_{ECHO_MSG}B [{_pin_label()}, py gen]"
    return [row(name, "plain threads + ssl", b, t, "rt/s", True, ">= 0.9x")]


def bench_tls_handshakes(quick: bool) -> list[dict[str, Any]]:
    b, t = _both(
        quick,
        _handshake_round,
        HS_SECONDS_QUICK if quick else HS_SECONDS,
        HS_ROUNDS_QUICK if quick else HS_ROUNDS,
    )
    name = f"tls_handshakes_{HS_THREADS}clients [{_pin_label()}]"
    return [row(name, "plain threads + ssl", b, t, "handshakes/s", True)]


BENCHMARKS = [
    ("tls_echo", bench_tls_echo),
    ("tls_handshakes", bench_tls_handshakes),
]


if __name__ == "__main__":
    _child_main(sys.argv[1:])
