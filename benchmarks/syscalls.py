"""System calls and context switches, thredo against plain threads.

``python -m benchmarks.syscalls [echo] [cancel] [--rounds N]``.

Not a benchmark (the runner skips it: it is not ``bench_*``); it counts,
it does not time.  The machines we measure on are shared, so rates and
times swing 2-5x between runs, while the counts per unit of work are
stable: these are what docs/design.md (section 11) quotes as the floor
argument.

``echo`` (default)
    The echo benchmark (``bench_net``: C load generator, 50 connections,
    64 B ping-pong, server in a child process), unpinned and pinned (server
    on CPU 0, load generator on CPU 1), through
    :func:`benchmarks.profile_echo.measure`: per round trip, the server's
    system calls by name (``strace -c -f -p``, a separate load window:
    strace slows the server ~5x, which inflates ``futex``, the GIL
    hand-offs; the other counts are exact) and its context switches and
    CPU migrations (``perf stat -p``, or ``getrusage`` where perf is not
    permitted).
``cancel``
    The ``cancel_1000`` benchmark (a server with 1,000 idle clients,
    cancelled; plain threads: shutdown of every socket and join), each side
    in a child process; per cancelled connection, the system calls by name
    of the cancel window only (strace attached after the set-up, detached
    before the clean-up) and, in a second child, the context switches of
    the same window (``perf stat -p`` attached the same way).

Output: one Markdown table per part on stdout (progress on stderr).
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
from . import profile_echo

CANCEL_N = 1000
TOP = 8  # system calls shown by name per row


def _parse_strace(err: str) -> dict[str, int]:
    """``strace -c`` summary -> {call: count} (errors are counted in the calls)."""
    calls: dict[str, int] = {}
    for line in err.splitlines():
        f = line.split()
        if len(f) >= 5 and f[0][0].isdigit() and f[-1] != "total":
            calls[f[-1]] = int(f[3])
    return calls


def _parse_perf(err: str) -> dict[str, int]:
    out = {}
    for name in ("context-switches", "cpu-migrations", "syscalls:sys_enter_futex"):
        m = re.search(r"([\d,]+)\s+" + name, err)
        if m:
            out[name] = int(m.group(1).replace(",", ""))
    return out


def _perf_events(*events: str) -> list[str]:
    """Those of ``events`` that ``perf stat`` may count here (none without perf)."""
    if shutil.which("perf") is None:
        return []
    ok = []
    for ev in events:
        r = subprocess.run(["perf", "stat", "-e", ev, "true"], capture_output=True, text=True)
        if r.returncode == 0 and ev in r.stderr and "not supported" not in r.stderr:
            ok.append(ev)
    return ok


def _perf_ok() -> bool:
    return bool(_perf_events("context-switches"))


# -- echo ------------------------------------------------------------------------


def echo(rounds: int) -> None:
    perf = _perf_ok()
    bn._raise_nofile()
    regimes: list[tuple[str, str] | None] = [None]
    if shutil.which("taskset") and len(os.sched_getaffinity(0)) >= 2:
        regimes.append(("0", "1"))
    rows = []
    for pin in regimes:
        for r in range(rounds):
            for kind in ("plain", "thredo") if r % 2 == 0 else ("thredo", "plain"):
                row = profile_echo.measure(kind, pin, perf, strace=True)
                print(row, file=sys.stderr, flush=True)
                rows.append(row)
    csw = "perf context-switches/rt" if perf else "vol csw/rt"
    print(f"\necho, per round trip ({'perf stat' if perf else 'getrusage'} for switches)\n")
    print("| server | regime | system calls (strace) | futex | context switches | migrations |")
    print("|---|---|---|---|---|---|")
    for row in rows:
        by = str(row.get("by call", ""))
        rest = ", ".join(p for p in by.split(", ") if not p.startswith("futex"))
        fut = next((p.split()[1] for p in by.split(", ") if p.startswith("futex")), "-")
        mig = row.get("perf cpu-migrations/rt", float("nan"))
        print(
            f"| {row['kind']} | {row['regime']} | {rest} | {fut} | "
            f"{float(row.get(csw, float('nan'))):.2f} | {float(mig):.2f} |"  # type: ignore[arg-type]
        )


# -- cancel_1000 -------------------------------------------------------------------


def _child(kind: str) -> None:
    """In a child process: set up, ``READY``, wait for a line; cancel; ``DONE ms``, wait."""
    bn._raise_nofile()

    def gate(what: str) -> None:
        print("READY" if what == "start" else "DONE", flush=True)
        sys.stdin.readline()

    from ._util import in_plain_thread, in_thredo

    if kind == "thredo":
        ms = in_thredo(bn._thredo_cancel, CANCEL_N, gate) * 1e3
    else:
        ms = in_plain_thread(bn._plain_cancel, CANCEL_N, gate) * 1e3
    print(f"MS {ms:.1f}", flush=True)


def _cancel_once(kind: str, monitor: list[str] | None) -> tuple[float, str]:
    """One child: the cancel window under ``monitor`` (attached with -p); (ms, monitor stderr)."""
    env = dict(os.environ, PYTHONPATH=bn.ROOT)
    child = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.syscalls", "--child", kind],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
        cwd=bn.ROOT,
    )
    assert child.stdin is not None
    assert child.stdout is not None

    def expect(word: str) -> str:
        assert child.stdout is not None
        line = child.stdout.readline()
        if not line.startswith(word):
            raise RuntimeError(f"child said {line!r}, expected {word}")
        return line

    def go() -> None:
        assert child.stdin is not None
        child.stdin.write("\n")
        child.stdin.flush()

    expect("READY")
    mon = None
    if monitor:
        mon = subprocess.Popen(
            [*monitor, "-p", str(child.pid)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        time.sleep(2.0)  # attached to all ~1,000 threads before the cancel starts
    go()
    expect("DONE")
    err = ""
    if mon is not None:
        mon.send_signal(2)
        err = mon.communicate()[1]
    go()
    ms = float(expect("MS").split()[1])
    child.wait(timeout=30)
    return ms, err


def cancel(rounds: int) -> None:
    # futex calls counted by perf (a tracepoint: root or perf_event_paranoid
    # <= -1) are not inflated by strace's slow-down as strace's own are.
    events = _perf_events("context-switches", "cpu-migrations", "syscalls:sys_enter_futex")
    table = []
    for r in range(rounds):
        for kind in ("plain", "thredo") if r % 2 == 0 else ("thredo", "plain"):
            ms_s, err = _cancel_once(kind, ["strace", "-c", "-f", "-q"])
            calls = _parse_strace(err)
            mon = ["perf", "stat", "-e", ",".join(events)] if events else None
            ms, perr = _cancel_once(kind, mon)
            sw = _parse_perf(perr)
            row = (kind, ms, ms_s, calls, sw)
            print(row[:3], file=sys.stderr, flush=True)
            table.append(row)
    print(f"\ncancel {CANCEL_N} idle connections, per connection\n")
    print(
        "| server | ms (no monitor) | system calls (strace) | total | futex (strace)"
        " | futex (perf) | context switches | migrations |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for kind, ms, _, calls, sw in table:
        top = sorted(((k, v) for k, v in calls.items() if k != "futex"), key=lambda kv: -kv[1])
        by = ", ".join(f"{k} {v / CANCEL_N:.2f}" for k, v in top[:TOP])
        total = sum(calls.values()) / CANCEL_N
        fut = calls.get("futex", 0) / CANCEL_N
        cs = sw.get("context-switches", 0) / CANCEL_N
        mig = sw.get("cpu-migrations", 0) / CANCEL_N
        pfut = sw.get("syscalls:sys_enter_futex", -CANCEL_N) / CANCEL_N
        print(
            f"| {kind} | {ms:.0f} | {by} | {total:.1f} | {fut:.1f} | {pfut:.1f} "
            f"| {cs:.2f} | {mig:.2f} |"
        )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("parts", nargs="*", default=["echo"], help="echo, cancel (default: echo)")
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--child", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        _child(args.child)
        return
    if not set(args.parts) <= {"echo", "cancel"}:
        p.error("parts are echo and cancel")
    if shutil.which("strace") is None:
        sys.exit("needs strace")
    for part in args.parts:
        {"echo": echo, "cancel": cancel}[part](args.rounds)


if __name__ == "__main__":
    main()
