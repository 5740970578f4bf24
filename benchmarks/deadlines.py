"""How late a deadline lands on a call whose data never stops (issue 22, item 1).

``python -m benchmarks.deadlines [--rounds N] [--deadline S] [--busy] [names...]``.

Not a benchmark (the runner skips it: it is not ``bench_*``).  Each case
starts a call that never has to wait, because its peer keeps the pipe or the
socket full, under ``timeout_after(deadline)``, and reports over ``N`` rounds
(each in a ``thredo.run`` of its own):

* ``late``: from the deadline to the moment the ``with`` block was left, the
  median and the worst (the promise: at most 50 ms);
* ``MB``: what the call had read, which travels on the exception;
* ``RSS+``: how much the process grew while the call ran, read when it had
  left, before the partial result was read (the promise: no further than
  what arrived before the deadline; reading ``exc.stdout`` then joins the
  chunks into one bytes object, a copy).

``--busy`` runs a plain thread spinning in Python beside each call (it holds
the GIL for its switch interval at a time).  Output: a Markdown table.
"""

from __future__ import annotations

import argparse
import fnmatch
import gc
import os
import statistics
import sys
import threading
import time
from collections.abc import Callable
from socket import SHUT_RDWR as _SHUT_RDWR
from typing import Any

import thredo
import thredo.net.socket as tsocket
import thredo.net.subprocess as sp

PY = sys.executable
# A child that keeps its pipe full: a reader never finds it empty.
FULL = [PY, "-c", "import sys\nb = b'x' * 65536\nwhile True: sys.stdout.buffer.write(b)"]
ZERO = ["cat", "/dev/zero"]
PAGE = os.sysconf("SC_PAGE_SIZE")


def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE


def _child(argv: list[str], how: str) -> Callable[[], Any]:
    def setup() -> Any:
        p = sp.Popen(argv, stdout=sp.PIPE, stderr=sp.DEVNULL if how != "communicate" else sp.PIPE)
        assert p.stdout is not None
        thredo.net.select.select([p.stdout], [], [])  # the pipe is full before the clock starts

        def call() -> Any:
            assert p.stdout is not None
            if how == "communicate":
                return p.communicate()
            if how == "read":
                return p.stdout.read()
            if how == "read(n)":
                return p.stdout.read(1 << 40)
            return p.stdout.readline()

        return call, p.kill

    return setup


def _flood(how: str) -> Callable[[], Any]:
    """A socket whose peer (a plain thread) sends as fast as it can."""

    def setup() -> Any:
        a, b = tsocket.socketpair()
        stop = threading.Event()

        def sender() -> None:
            chunk = b"y" * 65536
            try:
                while not stop.is_set():
                    b.sendall(chunk)  # a plain thread: thredo's socket is the stdlib's here
            except OSError:
                pass

        t = threading.Thread(target=sender, daemon=True)
        t.start()

        def call() -> Any:
            if how == "makefile.read":
                return a.makefile("rb").read()
            if how == "stream.readall":
                return thredo.net.SocketStream(a).readall()
            if how == "recv_into loop":  # user code: a loop of calls, each a point
                buf = bytearray(65536)
                while a.recv_into(buf):
                    pass
            raise AssertionError(how)

        def cleanup() -> None:
            stop.set()
            a.shutdown(_SHUT_RDWR)  # wakes the sender even while a makefile() keeps the fd open
            a.close()
            b.close()
            t.join()

        return call, cleanup

    return setup


CASES: dict[str, Callable[[], Any]] = {
    "communicate": _child(FULL, "communicate"),
    "stdout.read()": _child(FULL, "read"),
    "stdout.read(n)": _child(FULL, "read(n)"),
    "stdout.readline()": _child(FULL, "readline"),
    "cat /dev/zero: read()": _child(ZERO, "read"),
    "socket makefile.read()": _flood("makefile.read"),
    "SocketStream.readall()": _flood("stream.readall"),
    "recv_into loop": _flood("recv_into loop"),
}


def _round(setup: Callable[[], Any], deadline: float, busy: bool) -> tuple[float, int, int]:
    result: list[tuple[float, int, int]] = []

    def main() -> None:
        call, cleanup = setup()
        spin = threading.Event()

        def spinner() -> None:
            while not spin.is_set():
                pass

        spinner_thread = threading.Thread(target=spinner, daemon=True)
        if busy:
            spinner_thread.start()
        gc.collect()
        rss0 = _rss()
        start = time.monotonic()
        got = b""
        try:
            with thredo.timeout_after(deadline):
                call()
        except thredo.ThreadTimeout as e:
            left = time.monotonic()
            grown = _rss() - rss0  # before the partial result is read (and maybe joined)
            got = getattr(e, "stdout", None) or getattr(e, "bytes_read", None) or b""
        else:
            left = time.monotonic()
            grown = _rss() - rss0
        spin.set()
        if busy:
            spinner_thread.join()
        cleanup()
        result.append((left - start - deadline, len(got), grown))

    thredo.run(main)
    return result[0]


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("names", nargs="*", help="cases (shell patterns)")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--deadline", type=float, default=0.3)
    ap.add_argument("--busy", action="store_true", help="a spinning plain thread beside each call")
    args = ap.parse_args(argv)
    names = [n for n in CASES if not args.names or any(fnmatch.fnmatch(n, w) for w in args.names)]
    print(
        f"deadline {args.deadline} s, {args.rounds} rounds" + (", busy thread" if args.busy else "")
    )
    print()
    print("| call | late median | late max | MB read | RSS+ MB |")
    print("|---|---|---|---|---|")
    for name in names:
        rows = [_round(CASES[name], args.deadline, args.busy) for _ in range(args.rounds)]
        late = [r[0] * 1000 for r in rows]
        mb = statistics.median(r[1] for r in rows) / 1e6
        rss = statistics.median(r[2] for r in rows) / 1e6
        print(
            f"| {name} | {statistics.median(late):.0f} ms | {max(late):.0f} ms "
            f"| {mb:.0f} | {rss:.0f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
