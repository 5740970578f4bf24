"""Core costs: spawn + join, sleep(0), timeout blocks; thredo against plain code.

Every workload runs in a non-main thread on both sides: a ``thredo.run``
main thread, or a ``threading.Thread`` (``_util.in_plain_thread``).
"""

from __future__ import annotations

import contextlib
import threading
import time
from time import monotonic
from typing import Any

import thredo

from ._util import compare, in_plain_thread, in_thredo, rate, row, time_per_op

# Sizes (default, --quick), chosen so one measurement takes ~0.05-0.3 s.
# Measured per operation on a 2-core box: spawn + join ~120-150 us; sleep(0)
# ~85 us (Linux turns the zero-length clock_nanosleep into the thread's timer
# slack, 50 us by default); timeout blocks 0.3-5 us.
SPAWN_JOIN_N, SPAWN_JOIN_N_QUICK = 2_000, 400
SLEEP0_N, SLEEP0_N_QUICK = 2_000, 500
EXPIRED_N, EXPIRED_N_QUICK = 20_000, 4_000
UNEXPIRED_N, UNEXPIRED_N_QUICK = 100_000, 20_000
ROUNDS, ROUNDS_QUICK = 7, 3

US = 1e6


def _rounds(quick: bool) -> int:
    return ROUNDS_QUICK if quick else ROUNDS


def _noop() -> None:
    pass


# -- (1) spawn + join ----------------------------------------------------------


def _plain_spawn_join(n: int) -> None:
    for _ in range(n):
        t = threading.Thread(target=_noop)
        t.start()
        t.join()


def _thredo_spawn_join(n: int) -> None:
    for _ in range(n):
        thredo.spawn(_noop).join()


def bench_spawn_join(quick: bool) -> list[dict[str, Any]]:
    n = SPAWN_JOIN_N_QUICK if quick else SPAWN_JOIN_N
    b, t = compare(
        lambda: in_plain_thread(rate, _plain_spawn_join, n),
        lambda: in_thredo(rate, _thredo_spawn_join, n),
        _rounds(quick),
    )
    return [row("spawn_join", "threading.Thread", b, t, "threads/s", True, ">= 0.95x")]


# -- (2) sleep(0) ----------------------------------------------------------------


def _plain_sleep0(n: int) -> None:
    sleep = time.sleep
    for _ in range(n):
        sleep(0)


def _thredo_sleep0(n: int) -> None:
    sleep = thredo.sleep
    for _ in range(n):
        sleep(0)


def bench_sleep0(quick: bool) -> list[dict[str, Any]]:
    n = SLEEP0_N_QUICK if quick else SLEEP0_N
    b, t = compare(
        lambda: in_plain_thread(time_per_op, _plain_sleep0, n),
        lambda: in_thredo(time_per_op, _thredo_sleep0, n),
        _rounds(quick),
    )
    return [row("sleep0", "time.sleep(0)", b * US, t * US, "us/call", False)]


# -- (3) an ignore_after block that expires at its first blocking call ---------
#
# The stdlib has no deadline block, so the baseline is what plain code writes
# by hand for the same effect: compute a deadline, have the blocking call check
# it and report the timeout by raising (as queue.get/socket calls do), catch
# it around the call.  Both sides read the clock and raise and catch one
# exception per iteration; what thredo adds on top is its bookkeeping (the
# deadline stack push/pop, the context manager, the Waiter and lock of the
# sleep, and the nested-timeout checks in __exit__).


def _plain_blocking_call(deadline: float) -> None:
    if monotonic() >= deadline:
        raise TimeoutError


def _plain_expired(n: int) -> None:
    for _ in range(n):
        deadline = monotonic() + 0
        try:
            _plain_blocking_call(deadline)
        except TimeoutError:
            pass


def _thredo_expired(n: int) -> None:
    ignore_after, sleep = thredo.ignore_after, thredo.sleep
    for _ in range(n):
        with ignore_after(0):
            sleep(1)


def bench_ignore_after_expired(quick: bool) -> list[dict[str, Any]]:
    n = EXPIRED_N_QUICK if quick else EXPIRED_N
    b, t = compare(
        lambda: in_plain_thread(time_per_op, _plain_expired, n),
        lambda: in_thredo(time_per_op, _thredo_expired, n),
        _rounds(quick),
    )
    return [row("ignore_after_expired", "try/raise/except", b * US, t * US, "us/op", False)]


# -- (4) a timeout_after block that does not expire ----------------------------


def _plain_unexpired(n: int) -> None:
    nullcontext = contextlib.nullcontext
    for _ in range(n):
        with nullcontext():
            pass


def _thredo_unexpired(n: int) -> None:
    timeout_after = thredo.timeout_after
    for _ in range(n):
        with timeout_after(10):
            pass


def bench_timeout_after_unexpired(quick: bool) -> list[dict[str, Any]]:
    n = UNEXPIRED_N_QUICK if quick else UNEXPIRED_N
    b, t = compare(
        lambda: in_plain_thread(time_per_op, _plain_unexpired, n),
        lambda: in_thredo(time_per_op, _thredo_unexpired, n),
        _rounds(quick),
    )
    return [row("timeout_after_unexpired", "nullcontext()", b * US, t * US, "us/op", False)]


BENCHMARKS = [
    ("spawn_join", bench_spawn_join),
    ("sleep0", bench_sleep0),
    ("ignore_after_expired", bench_ignore_after_expired),
    ("timeout_after_unexpired", bench_timeout_after_unexpired),
]
