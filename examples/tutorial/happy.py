"""Happy Eyeballs (RFC 6555, RFC 8305): connect to whichever address answers first.

    python examples/tutorial/happy.py [--delay SECONDS]   demo on local listeners
    python examples/tutorial/happy.py HOST PORT           a real host

The addresses are tried in turn, address families interleaved.  Each attempt
starts ``delay`` seconds after the one before it started, or at once when
that one fails; the first connection wins and the attempts still running are
cancelled.  The attempts are the threads of a ``ThreadGroup(wait=object)``:
the first non-None result -- a socket -- ends the race.  (The original
example used ``wait=any``, where the first attempt to *finish* wins, so a
refused connection ended the race with nothing.)  An attempt waits for its
turn with ``ignore_after(delay, previous_failed.wait)``.

The demo's listeners, all on loopback: [::1] has a full backlog (listen(0)
and one connection nobody accepts), so on Linux its SYNs are dropped and a
connect hangs; 127.0.0.1 has a port that refuses, then one that answers.
"""

import argparse
import itertools
import sys
import time

import thredo
from thredo import socket

DELAY = 0.25  # RFC 8305 section 5: "a recommended value of 250 milliseconds"


def say(line):
    sys.stdout.write(line + "\n")  # one write per line: lines never interleave


def interleave(targets):
    """RFC 8305 section 4: alternate address families, each keeping its order."""
    by_family = {}
    for t in targets:
        by_family.setdefault(t[0], []).append(t)
    mixed = itertools.zip_longest(*by_family.values())
    return [t for group in mixed for t in group if t is not None]


def connect_first(targets, delay=DELAY):
    t0 = time.monotonic()
    started = [thredo.Event() for _ in targets]
    failed = [thredo.Event() for _ in targets]
    errors = []

    def log(text):
        say(f"{time.monotonic() - t0:.3f} {text}")

    def attempt(n, family, type_, proto, addr):
        if n > 0:
            started[n - 1].wait()
            thredo.ignore_after(delay, failed[n - 1].wait)  # the delay, or its failure
        log(f"attempt {n} to {addr[0]} port {addr[1]} started")
        started[n].set()
        sock = socket.socket(family, type_, proto)
        try:
            sock.connect(addr)
        except OSError as e:
            sock.close()
            errors.append(e)
            log(f"attempt {n} failed: {e!r}")
            failed[n].set()
            return None
        except thredo.CancelledError:
            sock.close()
            log(f"attempt {n} cancelled")
            raise
        log(f"attempt {n} connected")
        return sock

    with thredo.ThreadGroup(wait=object) as g:
        for n, (family, type_, proto, _, addr) in enumerate(targets):
            g.spawn(attempt, n, family, type_, proto, addr)
    for t in g.threads:  # two that connected at the same moment: keep one
        if t is not g.completed and t.exception is None and t.result is not None:
            t.result.close()
    if g.completed is None:
        raise OSError(f"could not connect to any address: {errors}")
    return g.completed.result


def open_tcp_stream(host, port, delay=DELAY):
    targets = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return connect_first(interleave(targets), delay)


def demo(delay):
    stuck_host, family = ("::1", socket.AF_INET6) if socket.has_ipv6 else ("127.0.0.1", None)
    with (
        socket.socket(family or socket.AF_INET) as stuck,
        socket.socket() as refusing,
        socket.socket() as answering,
    ):
        stuck.bind((stuck_host, 0))
        stuck.listen(0)
        filler = socket.create_connection(stuck.getsockname()[:2])  # fills the backlog
        refusing.bind(("127.0.0.1", 0))  # bound, not listening: connections are refused
        answering.bind(("127.0.0.1", 0))
        answering.listen()
        with filler, thredo.ThreadGroup() as g:
            g.spawn(greet, answering)
            targets = [
                socket.getaddrinfo(*s.getsockname()[:2], type=socket.SOCK_STREAM)[0]
                for s in (stuck, refusing, answering)
            ]
            with connect_first(targets, delay) as sock:
                say(f"connected to {sock.getpeername()[0]}; it says {sock.recv(100)!r}")


def show(host, port, delay):
    with open_tcp_stream(host, port, delay) as sock:
        say(f"connected to {sock.getpeername()}")


def greet(listener):
    client, _ = listener.accept()
    with client:
        client.sendall(b"hello\n")


if __name__ == "__main__":
    sys.stdout.reconfigure(line_buffering=True)  # each line shows as it happens, even in a pipe
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("host", nargs="?")
    parser.add_argument("port", nargs="?", type=int)
    parser.add_argument("--delay", type=float, default=DELAY)
    args = parser.parse_args()
    if args.host is None:
        thredo.run(demo, args.delay)
    else:
        try:
            thredo.run(show, args.host, args.port, args.delay)
        except OSError as e:
            sys.exit(f"happy.py: {e}")
