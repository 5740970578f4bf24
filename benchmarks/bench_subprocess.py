"""Child processes: ``run`` rate, ``communicate`` throughput, cancel-to-reaped time.

The baseline is the stdlib ``subprocess`` in a plain thread; thredo's is
``thredo.net.subprocess`` in a thredo thread, on the same commands.
"""

from __future__ import annotations

import subprocess as std
import sys
import time
from typing import Any

import thredo
from thredo.net import subprocess as sp

from ._util import compare, in_plain_thread, in_thredo, row

# Sizes (default, --quick).  A `true` child costs ~1 ms to fork, exec and reap.
RUN_N, RUN_N_QUICK = 200, 50
COMM_BYTES, COMM_BYTES_QUICK = 100 * 1024 * 1024, 16 * 1024 * 1024
GROUP_N = 50
ROUNDS, ROUNDS_QUICK = 5, 3

# The child of the throughput benchmark: echo stdin to stdout, 64 KiB at a time.
CAT = [
    sys.executable,
    "-c",
    "import os\nwhile True:\n    b = os.read(0, 65536)\n    if not b: break\n"
    "    while b: b = b[os.write(1, b):]\n",
]


def _rounds(quick: bool) -> int:
    return ROUNDS_QUICK if quick else ROUNDS


def _run_rate(module: Any, n: int) -> float:
    t0 = time.perf_counter()
    for _ in range(n):
        module.run(["true"], capture_output=True)
    return n / (time.perf_counter() - t0)


def bench_run(quick: bool) -> list[dict[str, Any]]:
    n = RUN_N_QUICK if quick else RUN_N
    b, t = compare(
        lambda: in_plain_thread(_run_rate, std, n),
        lambda: in_thredo(_run_rate, sp, n),
        _rounds(quick),
    )
    return [row("run_capture", "subprocess.run", b, t, "runs/s", True, ">= 0.9x")]


def _communicate_rate(module: Any, nbytes: int) -> float:
    data = b"x" * nbytes
    t0 = time.perf_counter()
    out, _ = module.Popen(CAT, stdin=module.PIPE, stdout=module.PIPE).communicate(data)
    elapsed = time.perf_counter() - t0
    assert len(out) == nbytes
    return nbytes / elapsed / 1e6


def bench_communicate(quick: bool) -> list[dict[str, Any]]:
    nbytes = COMM_BYTES_QUICK if quick else COMM_BYTES
    b, t = compare(
        lambda: in_plain_thread(_communicate_rate, std, nbytes),
        lambda: in_thredo(_communicate_rate, sp, nbytes),
        _rounds(quick),
    )
    return [row("communicate_100MB", "Popen.communicate", b, t, "MB/s", True, ">= 0.9x")]


def _plain_group_kill(n: int) -> float:
    """The baseline: n children, each terminate()d and wait()ed by hand."""
    procs = [std.Popen(["sleep", "60"]) for _ in range(n)]
    t0 = time.perf_counter()
    for p in procs:
        p.terminate()
    for p in procs:
        p.wait()
    return (time.perf_counter() - t0) * 1e3


def _thredo_group_cancel(n: int) -> float:
    """n thredo threads each waiting on a child; one group cancel ends and reaps them all."""

    def child() -> None:
        sp.Popen(["sleep", "60"]).wait()

    with thredo.ThreadGroup(wait=None) as g:
        threads = [g.spawn(child) for _ in range(n)]
        for t in threads:
            while t.blocked_on is None or t.blocked_on.call != "wait":
                thredo.sleep(0.001)
        t0 = time.perf_counter()
        g.cancel_remaining()
    return (time.perf_counter() - t0) * 1e3


def bench_cancel_group(quick: bool) -> list[dict[str, Any]]:
    b, t = compare(
        lambda: in_plain_thread(_plain_group_kill, GROUP_N),
        lambda: in_thredo(_thredo_group_cancel, GROUP_N),
        _rounds(quick),
    )
    return [
        row("cancel_50_children", "terminate()+wait() each", b, t, "ms", False, "< 1000 ms"),
    ]


BENCHMARKS = [
    ("run_capture", bench_run),
    ("communicate_100MB", bench_communicate),
    ("cancel_50_children", bench_cancel_group),
]
