"""Introspection: the cost of one ``thredo.ps()`` / ``thredo.dump()`` call.

N threads wait in ``Queue.get``; one call lists them all.  Python has no
equivalent for plain threads (nothing says what a thread waits on), so the
baseline is what it does offer: ``threading.enumerate()`` turned into records
(name, ident, daemon) for ``ps()``, and that plus every stack
(``sys._current_frames()``, formatted) as JSON for ``dump(stacks=True)``.
The ratio says how much more thredo's answer costs than that bare listing;
the target is an absolute bound per call (docs/monitor.md: "cheap enough to
call often").
"""

from __future__ import annotations

import io
import json
import queue as stdqueue
import statistics
import sys
import threading
import time
import traceback
from collections.abc import Callable
from typing import Any

import thredo

from ._util import in_thredo, row

THREADS, THREADS_QUICK = 1_000, 100
CALLS, CALLS_QUICK = 21, 7
MS = 1e3


def _median_call(func: Callable[[], Any], calls: int) -> float:
    times = []
    for _ in range(calls):
        t0 = time.perf_counter()
        func()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _plain_listing(stacks: bool) -> Callable[[], Any]:
    def listing() -> Any:
        frames = sys._current_frames() if stacks else {}
        records = [
            {
                "name": t.name,
                "ident": t.ident,
                "daemon": t.daemon,
                "stack": traceback.format_stack(frames[t.ident]) if t.ident in frames else None,
            }
            for t in threading.enumerate()
        ]
        return json.dumps(records) if stacks else records

    return listing


def _plain_side(n: int, calls: int, stacks: bool) -> float:
    q: stdqueue.Queue[None] = stdqueue.Queue()
    threads = [threading.Thread(target=q.get, daemon=True) for _ in range(n)]
    for t in threads:
        t.start()
    try:
        return _median_call(_plain_listing(stacks), calls)
    finally:
        for _ in threads:
            q.put(None)
        for t in threads:
            t.join()


def _thredo_side(n: int, calls: int, call: Callable[[], Any]) -> float:
    q: thredo.Queue[None] = thredo.Queue()
    threads = [thredo.spawn(q.get) for _ in range(n)]
    while sum(1 for t in threads if t.blocked_on is not None) < n:
        thredo.sleep(0.01)  # a benchmark, not a test: settle until all wait
    try:
        return _median_call(call, calls)
    finally:
        for _ in threads:
            q.put(None)
        for t in threads:
            t.join()


def _bench(name: str, quick: bool, stacks: bool, call: Callable[[], Any]) -> list[dict[str, Any]]:
    n = THREADS_QUICK if quick else THREADS
    calls = CALLS_QUICK if quick else CALLS
    base = _plain_side(n, calls, stacks)
    mine = in_thredo(_thredo_side, n, calls, call)
    target = "< 50 ms" if not stacks else "< 1000 ms"
    baseline = "enumerate()+stacks as JSON" if stacks else "threading.enumerate() records"
    return [row(f"{name}_{n}threads", baseline, base * MS, mine * MS, "ms", False, target)]


def bench_ps(quick: bool) -> list[dict[str, Any]]:
    return _bench("ps", quick, False, thredo.ps)


def bench_dump_json_stacks(quick: bool) -> list[dict[str, Any]]:
    return _bench(
        "dump_json_stacks",
        quick,
        True,
        lambda: thredo.dump(io.StringIO(), format="json", stacks=True),
    )


BENCHMARKS = [
    ("ps", bench_ps),
    ("dump_json_stacks", bench_dump_json_stacks),
]
