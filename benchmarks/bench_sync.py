"""Synchronization and queues: thredo's primitives against ``threading``/``queue``.

Every workload runs the same code on both sides, only the class differs:
thredo's in thredo threads (the main thread of a ``thredo.run`` plus
``thredo.spawn``-ed partners), the stdlib's in plain ``threading.Thread``s
(``_util.in_plain_thread`` plus ``threading.Thread`` partners).  Partners
are started before the clock starts; the timed part is the loop only.
"""

from __future__ import annotations

import queue as stdqueue
import threading
import time
from collections.abc import Callable
from typing import Any

import thredo

from ._util import compare, in_plain_thread, in_thredo, row, time_per_op

# Sizes (default, --quick), chosen so one measurement takes ~0.05-0.3 s.
# Measured on a 2-core box, unpinned: queue and event ping-pong 20-60 us per
# round trip (both sides swing between regimes, docs/design.md); uncontended
# acquire + release 50-150 ns; the contended lock ~0.3-1 us per increment.
QUEUE_N, QUEUE_N_QUICK = 4_000, 1_000
EVENT_N, EVENT_N_QUICK = 4_000, 1_000
LOCK_N, LOCK_N_QUICK = 1_000_000, 200_000
CONTENDED_THREADS = 8
CONTENDED_N, CONTENDED_N_QUICK = 20_000, 5_000  # per thread
ROUNDS, ROUNDS_QUICK = 7, 3

US = 1e6
NS = 1e9


def _rounds(quick: bool) -> int:
    return ROUNDS_QUICK if quick else ROUNDS


# -- two threads: a timed main loop and a partner --------------------------------
#
# ``make(n)`` builds fresh shared objects and returns (main_loop, partner);
# the partner runs n iterations in a second thread of the same kind.


Pair = Callable[[int], tuple[Callable[[int], Any], Callable[[], Any]]]


def _plain_pair(make: Pair, n: int) -> float:
    main_loop, partner = make(n)
    t = threading.Thread(target=partner, name="bench-partner")
    t.start()
    try:
        return time_per_op(main_loop, n)
    finally:
        t.join()


def _thredo_pair(make: Pair, n: int) -> float:
    main_loop, partner = make(n)
    t = thredo.spawn(partner, name="bench-partner")
    try:
        return time_per_op(main_loop, n)
    finally:
        t.join()


def _two_threads(make_plain: Pair, make_thredo: Pair, n: int, quick: bool) -> tuple[float, float]:
    return compare(
        lambda: in_plain_thread(_plain_pair, make_plain, n),
        lambda: in_thredo(_thredo_pair, make_thredo, n),
        _rounds(quick),
    )


# -- (1) queue ping-pong -----------------------------------------------------------


def _queue_pingpong(queue_class: type) -> Pair:
    def make(n: int) -> tuple[Callable[[int], Any], Callable[[], Any]]:
        ping, pong = queue_class(), queue_class()

        def main_loop(n: int) -> None:
            put, get = ping.put, pong.get
            for i in range(n):
                put(i)
                get()

        def partner() -> None:
            put, get = pong.put, ping.get
            for _ in range(n):
                put(get())

        return main_loop, partner

    return make


def bench_queue_pingpong(quick: bool) -> list[dict[str, Any]]:
    n = QUEUE_N_QUICK if quick else QUEUE_N
    b, t = _two_threads(_queue_pingpong(stdqueue.Queue), _queue_pingpong(thredo.Queue), n, quick)
    return [row("queue_pingpong", "queue.Queue", b * US, t * US, "us/rt", False, ">= 1.0x")]


# -- (2) uncontended Lock -------------------------------------------------------------


def _lock_loop(lock_class: type) -> Callable[[int], None]:
    def loop(n: int) -> None:
        lock = lock_class()
        acquire, release = lock.acquire, lock.release
        for _ in range(n):
            acquire()
            release()

    return loop


def bench_lock_uncontended(quick: bool) -> list[dict[str, Any]]:
    n = LOCK_N_QUICK if quick else LOCK_N
    b, t = compare(
        lambda: in_plain_thread(time_per_op, _lock_loop(threading.Lock), n),
        lambda: in_thredo(time_per_op, _lock_loop(thredo.Lock), n),
        _rounds(quick),
    )
    return [row("lock_uncontended", "threading.Lock", b * NS, t * NS, "ns/op", False, ">= 0.6x")]


# -- (3) Event ping-pong ---------------------------------------------------------------
#
# Each side clears the event it waited on before setting the other's, so no
# set is lost: ping.set -> partner wakes, clears ping, sets pong -> main
# wakes, clears pong, sets ping ...


def _event_pingpong(event_class: type) -> Pair:
    def make(n: int) -> tuple[Callable[[int], Any], Callable[[], Any]]:
        ping, pong = event_class(), event_class()

        def main_loop(n: int) -> None:
            for _ in range(n):
                ping.set()
                pong.wait()
                pong.clear()

        def partner() -> None:
            for _ in range(n):
                ping.wait()
                ping.clear()
                pong.set()

        return main_loop, partner

    return make


def bench_event_pingpong(quick: bool) -> list[dict[str, Any]]:
    n = EVENT_N_QUICK if quick else EVENT_N
    b, t = _two_threads(_event_pingpong(threading.Event), _event_pingpong(thredo.Event), n, quick)
    return [row("event_pingpong", "threading.Event", b * US, t * US, "us/rt", False)]


# -- (4) a contended lock -----------------------------------------------------------------
#
# CONTENDED_THREADS threads each run n acquire / increment / release.  The
# main thread holds the lock while it starts them (so they all pile up on
# it), then releases it and starts the clock; the time is until the last has
# been joined.  Under the GIL the lock is contended when a thread is switched
# out (every 5 ms) while holding it; what this measures is mostly the cost of
# those hand-offs and of the fast path in between.


def _contended(
    spawn: Callable[[Callable[[], None]], Any],
    join: Callable[[Any], None],
    lock_class: type,
    n: int,
) -> float:
    lock = lock_class()
    counter = [0]

    def worker() -> None:
        acquire, release = lock.acquire, lock.release
        for _ in range(n):
            acquire()
            counter[0] += 1
            release()

    lock.acquire()
    threads = [spawn(worker) for _ in range(CONTENDED_THREADS)]
    t0 = time.perf_counter()
    lock.release()
    for t in threads:
        join(t)
    elapsed = time.perf_counter() - t0
    if counter[0] != CONTENDED_THREADS * n:
        raise AssertionError(f"lost increments: {counter[0]} != {CONTENDED_THREADS * n}")
    return elapsed


def _plain_spawn(f: Callable[[], None]) -> threading.Thread:
    t = threading.Thread(target=f)
    t.start()
    return t


def bench_lock_contended(quick: bool) -> list[dict[str, Any]]:
    n = CONTENDED_N_QUICK if quick else CONTENDED_N
    b, t = compare(
        lambda: in_plain_thread(_contended, _plain_spawn, threading.Thread.join, threading.Lock, n),
        lambda: in_thredo(_contended, thredo.spawn, thredo.Thread.join, thredo.Lock, n),
        _rounds(quick),
    )
    name = f"lock_contended_{CONTENDED_THREADS}x{n // 1000}k"
    return [row(name, "threading.Lock", b * 1e3, t * 1e3, "ms", False)]


BENCHMARKS = [
    ("queue_pingpong", bench_queue_pingpong),
    ("lock_uncontended", bench_lock_uncontended),
    ("event_pingpong", bench_event_pingpong),
    ("lock_contended", bench_lock_contended),
]
