"""Where the time goes per echo round trip: ``python -m benchmarks.profile_echo``.

Not a benchmark (the runner skips it: it is not ``bench_*``).  For each
server kind (plain threads, thredo; ``--kinds`` adds peers) and regime
(unpinned; pinned: server on CPU 0, load generator on CPU 1), runs the C
load generator of ``bench_net`` against a server child process and reports,
per round trip:

* round trips/s;
* the server's CPU (user and system, ``getrusage`` in the server, all
  threads) and its voluntary / involuntary context switches;
* with ``--perf``: ``perf stat`` counts (context switches, CPU migrations)
  of the server process;
* with ``--strace``: system calls per round trip by name (``strace -c -f``;
  strace slows the server ~5x, so its rate is not the benchmark's, only
  the counts per round trip are meaningful).  ``futex`` calls are GIL (and
  lock) hand-offs that had to sleep or wake a thread.

Figures go to stdout as one table; docs/design.md quotes them.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import time

from . import bench_net as bn

SECONDS = 3.0


def _usage(srv: bn._Server) -> tuple[float, float, int, int]:
    assert srv.proc.stdin is not None
    srv.proc.stdin.write("usage2\n")
    srv.proc.stdin.flush()
    u, s, vol, invol = bn._expect(srv.proc, "USAGE2")
    return float(u), float(s), int(vol), int(invol)


def _run_gen(port: int, seconds: float, gcpu: str | None) -> tuple[float, float]:
    exe = bn._c_loadgen()
    assert exe is not None, "needs the C load generator (a C compiler)"
    gen = bn._spawn([exe, str(port), str(bn.ECHO_CONNS), str(seconds), "0"], gcpu)
    count, elapsed, _, _ = map(float, bn._expect(gen, "RESULT"))
    bn._finish(gen, "load generator")
    return count, elapsed


def _attach(cmd: list[str], pid: int) -> subprocess.Popen[str]:
    p = subprocess.Popen(
        [*cmd, "-p", str(pid)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    time.sleep(0.3)  # attached before the load starts
    return p


def measure(kind: str, pin: tuple[str, str] | None, perf: bool, strace: bool) -> dict[str, object]:
    scpu, gcpu = (pin[0], pin[1]) if pin else (None, None)
    out: dict[str, object] = {"kind": kind, "regime": "pinned" if pin else "unpinned"}
    # "thredo_gil": thredo with the GIL-keeping recv/send off (THREDO_KEEP_GIL=0);
    # "thredo_nogil": on (THREDO_KEEP_GIL=1); "thredo": by the CPUs it may use.
    real = "thredo" if kind.startswith("thredo") else kind
    os.environ["THREDO_KEEP_GIL"] = {"thredo_gil": "0", "thredo_nogil": "1"}.get(kind, "")
    with bn._Server(real, scpu) as srv:
        _run_gen(srv.port, 0.5, gcpu)  # warm-up
        u0, s0, v0, i0 = _usage(srv)
        mon = None
        if perf:
            mon = _attach(["perf", "stat", "-e", "context-switches,cpu-migrations"], srv.proc.pid)
        count, elapsed = _run_gen(srv.port, SECONDS, gcpu)
        u1, s1, v1, i1 = _usage(srv)
        out["rt/s"] = count / elapsed
        # usage spans the generator's start-up too: scaled to its window.
        n = count
        out["user us/rt"] = (u1 - u0) / n * 1e6
        out["sys us/rt"] = (s1 - s0) / n * 1e6
        out["vol csw/rt"] = (v1 - v0) / n
        out["invol csw/rt"] = (i1 - i0) / n
        if mon is not None:
            mon.send_signal(2)
            err = mon.communicate()[1]
            for name in ("context-switches", "cpu-migrations"):
                m = re.search(r"([\d,]+)\s+" + name, err)
                if m:
                    out[f"perf {name}/rt"] = int(m.group(1).replace(",", "")) / n
        if strace:
            mon = _attach(["strace", "-c", "-f", "-q"], srv.proc.pid)
            count, elapsed = _run_gen(srv.port, SECONDS, gcpu)
            mon.send_signal(2)
            err = mon.communicate()[1]
            calls: dict[str, int] = {}
            for line in err.splitlines():
                f = line.split()
                if len(f) >= 5 and f[0][0].isdigit() and f[-1] != "total":
                    calls[f[-1]] = int(f[3])
            top = sorted(calls.items(), key=lambda kv: -kv[1])
            out["syscalls/rt"] = sum(calls.values()) / count
            out["by call"] = ", ".join(f"{k} {v / count:.2f}" for k, v in top[:6])
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--kinds", default="plain,thredo")
    p.add_argument("--perf", action="store_true")
    p.add_argument("--strace", action="store_true")
    p.add_argument("--rounds", type=int, default=2)
    args = p.parse_args()
    bn._raise_nofile()
    regimes: list[tuple[str, str] | None] = [None]
    if shutil.which("taskset") and len(os.sched_getaffinity(0)) >= 2:
        regimes.append(("0", "1"))
    rows = []
    for pin in regimes:
        for r in range(args.rounds):
            kinds = args.kinds.split(",")
            for kind in kinds if r % 2 == 0 else kinds[::-1]:
                rows.append(measure(kind, pin, args.perf, args.strace and r == 0))
                print(rows[-1], file=sys.stderr, flush=True)
    keys: list[str] = []
    for row in rows:
        keys += [k for k in row if k not in keys]
    for row in rows:
        print(
            " | ".join(
                f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items()
            )
        )


if __name__ == "__main__":
    main()
