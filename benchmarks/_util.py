"""Shared helpers for the benchmark modules.

A benchmark module ``benchmarks/bench_<topic>.py`` sets its sizes as module
constants at the top and exposes ``BENCHMARKS = [(name, function), ...]``;
``function(quick)`` returns a list of rows made with :func:`row`.  The usual
shape of one benchmark::

    def _plain(n):            # the workload on stdlib threads
        ...
    def _thredo(n):           # the same workload on thredo
        ...
    def bench_x(quick):
        n = N_QUICK if quick else N
        b, t = compare(lambda: in_plain_thread(time_per_op, _plain, n),
                       lambda: in_thredo(time_per_op, _thredo, n),
                       rounds=ROUNDS_QUICK if quick else ROUNDS)
        return [row("x", "stdlib", b * 1e6, t * 1e6, "us/op", higher_is_better=False)]

Absolute figures swing by 2x between runs on small machines (docs/design.md), so
the two sides are always measured in the same run, alternately, and only the
median of the rounds is reported.
"""

from __future__ import annotations

import gc
import statistics
import threading
import time
from collections.abc import Callable
from typing import Any

import thredo

__all__ = (
    "time_per_op",
    "rate",
    "in_thredo",
    "in_plain_thread",
    "compare",
    "row",
)


def time_per_op(loop: Callable[[int], Any], n: int) -> float:
    """Seconds per iteration of ``loop(n)``, which must run ``n`` iterations.

    The loop is written by the benchmark (not a call per iteration made
    here) so that cheap operations are not swamped by call overhead.  A
    garbage collection runs first so that neither side inherits the other's
    garbage; the collector stays enabled, since allocation is part of the cost.
    """
    gc.collect()
    t0 = time.perf_counter()
    loop(n)
    return (time.perf_counter() - t0) / n


def rate(loop: Callable[[int], Any], n: int) -> float:
    """Iterations per second of ``loop(n)`` (see :func:`time_per_op`)."""
    return 1.0 / time_per_op(loop, n)


def in_thredo(func: Callable[..., Any], *args: Any) -> Any:
    """Call ``func(*args)`` in the main thredo thread of a fresh ``thredo.run``.

    Kernel start-up and shutdown are outside whatever ``func`` times.
    """
    return thredo.run(func, *args)


def in_plain_thread(func: Callable[..., Any], *args: Any) -> Any:
    """Call ``func(*args)`` in a fresh ``threading.Thread`` and return its result.

    The baseline's counterpart of :func:`in_thredo`: there the measured code
    also runs in a non-main thread while the main thread sits idle (in the
    curio kernel's ``epoll_wait``; here in ``join``).
    """
    out: list[Any] = []
    err: list[BaseException] = []

    def target() -> None:
        try:
            out.append(func(*args))
        except BaseException as e:  # re-raised in the caller
            err.append(e)

    t = threading.Thread(target=target, name="bench-baseline")
    t.start()
    t.join()
    if err:
        raise err[0]
    return out[0]


def compare(
    baseline: Callable[[], float],
    thredo_side: Callable[[], float],
    rounds: int,
    warmup: bool = True,
) -> tuple[float, float]:
    """Measure both sides ``rounds`` times, alternating; return both medians.

    Each round runs both sides once, baseline first in even rounds and thredo
    first in odd ones, so that drift (CPU frequency, other load) hits both
    alike.  With ``warmup``, one untimed call of each side comes first.
    """
    if warmup:
        baseline()
        thredo_side()
    bs: list[float] = []
    ts: list[float] = []
    for i in range(rounds):
        if i % 2 == 0:
            bs.append(baseline())
            ts.append(thredo_side())
        else:
            ts.append(thredo_side())
            bs.append(baseline())
    return statistics.median(bs), statistics.median(ts)


def row(
    benchmark: str,
    baseline: str,
    baseline_value: float,
    thredo_value: float,
    unit: str,
    higher_is_better: bool,
    target: str | None = None,
) -> dict[str, Any]:
    """One result row, the format every ``BENCHMARKS`` function returns.

    ``target`` is None, a ratio bound such as ``">= 0.8x"`` (checked against
    the ratio, where > 1 means thredo is better), or an absolute bound on the
    thredo value in the row's unit such as ``"< 200 ms"``.
    """
    return {
        "benchmark": benchmark,
        "baseline": baseline,
        "baseline_value": float(baseline_value),
        "thredo_value": float(thredo_value),
        "unit": unit,
        "higher_is_better": higher_is_better,
        "target": target,
    }
