"""Lock, RLock, Condition, Semaphore, BoundedSemaphore, Event, Barrier, SignalEvent.

The conformance classes port the scenarios of CPython's
``Lib/test/lock_tests.py``.  Each runs twice through the ``runner`` fixture:
in plain ``threading`` threads, where thredo's primitives must behave exactly
like the stdlib's, and in thredo threads under ``thredo.run``.  Nothing is
ordered by sleeping: a thread is known to be blocked when the primitive shows
it queued (``_waiters``, ``n_waiting``), polled with a generous upper bound.

Then: threads of both kinds sharing one primitive, primitives surviving two
``run()`` calls, FIFO wake-ups, bad input, cancellation and ``timeout_after``
of every blocking call (with the state checked afterwards), random
cancellations under load, and SignalEvent driven by real signals.
"""

from __future__ import annotations

import contextlib
import gc
import os
import random
import re
import signal
import sys
import threading
import time
import weakref
from _thread import TIMEOUT_MAX
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from helpers import (
    HOWS,
    SHORT,
    WAIT,
    Interrupted,
    PlainThread,
    ThredoThread,
    assert_duration,
    expected,
    interrupt_main_thread_when,
    wait_until,
)

import thredo
from thredo import BrokenBarrierError, ThreadCancelled, ThreadTimeout

# -- helpers -------------------------------------------------------------------


def n_queued(obj: Any) -> int:
    """How many threads are parked on a primitive (thredo's, or a stdlib Condition/Semaphore)."""
    if isinstance(obj, thredo.RLock):
        return len(obj._block._waiters)
    if isinstance(obj, threading.Semaphore):
        return len(obj._cond._waiters)
    return len(obj._waiters)


def victim(how: str, block: Callable[[], Any], check: Callable[[], Any] = lambda: None):
    """A thread body that blocks in ``block()`` until cancelled or timed out.

    ``check()`` runs in the ``except`` block, while the exception is leaving
    ``block()``; the body returns ``(exception type, check())``.
    """

    def body() -> tuple[Any, Any]:
        try:
            if how == "timeout":
                with thredo.timeout_after(SHORT):
                    block()
            else:
                block()
        except (ThreadCancelled, ThreadTimeout) as e:
            return type(e), check()
        return "returned normally", None

    return body


# -- Lock and RLock: lock_tests.BaseLockTests ----------------------------------------


@pytest.fixture(params=[thredo.Lock, thredo.RLock], ids=["Lock", "RLock"])
def locktype(request: pytest.FixtureRequest) -> type:
    return request.param


class TestLockConformance:
    def test_repr(self, runner, locktype):
        def scenario():
            lock = locktype()
            assert re.match(r"<unlocked .* object (.*)?at .*>", repr(lock))
            lock.acquire()
            assert re.match(r"<locked .* object (.*)?at .*>", repr(lock))
            lock.release()

        runner.run(scenario)

    def test_acquire_release(self, runner, locktype):
        def scenario():
            lock = locktype()
            assert lock.acquire() is True
            assert lock.locked()
            lock.release()
            assert not lock.locked()

        runner.run(scenario)

    def test_try_acquire(self, runner, locktype):
        def scenario():
            lock = locktype()
            assert lock.acquire(False) is True
            lock.release()

        runner.run(scenario)

    def test_try_acquire_contended(self, runner, locktype):
        def scenario():
            lock = locktype()
            lock.acquire()
            assert runner.spawn(lock.acquire, False).join() is False
            lock.release()

        runner.run(scenario)

    def test_acquire_contended(self, runner, locktype):
        def scenario():
            lock = locktype()
            lock.acquire()
            finished = []

            def f():
                lock.acquire()
                lock.release()
                finished.append(True)

            threads = [runner.spawn(f) for _ in range(5)]
            wait_until(lambda: n_queued(lock) == 5, "5 threads blocked on acquire()")
            assert finished == []
            lock.release()
            for t in threads:
                t.join()
            assert len(finished) == 5
            assert not lock.locked()

        runner.run(scenario)

    def test_with(self, runner, locktype):
        def scenario():
            lock = locktype()

            def f():
                lock.acquire()
                lock.release()

            with lock as value:
                assert value is True
                assert lock.locked()
            runner.spawn(f).join()  # the lock is free again
            with pytest.raises(TypeError):
                with lock:
                    raise TypeError
            runner.spawn(f).join()
            assert not lock.locked()

        runner.run(scenario)

    def test_thread_leak(self, runner, locktype):
        def scenario():
            lock = locktype()

            def f():
                lock.acquire()
                lock.release()

            for t in [runner.spawn(f) for _ in range(15)]:
                t.join()

        runner.run(scenario)

    def test_timeout(self, runner, locktype):
        def scenario():
            lock = locktype()
            with pytest.raises(ValueError, match="non-blocking"):
                lock.acquire(False, 1)
            with pytest.raises(ValueError, match="timeout value must be"):
                lock.acquire(timeout=-100)
            assert lock.acquire(timeout=TIMEOUT_MAX) is True
            lock.release()
            t1 = time.monotonic()
            assert lock.acquire(timeout=5) is True
            assert time.monotonic() - t1 < 5

            def f():
                t1 = time.monotonic()
                return lock.acquire(timeout=SHORT), time.monotonic() - t1

            got, dt = runner.spawn(f).join()
            assert got is False
            assert_duration(dt, SHORT)
            lock.release()

        runner.run(scenario)

    def test_timeout_overflow(self, runner, locktype):
        def scenario():
            lock = locktype()
            with pytest.raises(OverflowError):
                lock.acquire(timeout=1e100)
            with pytest.raises(OverflowError):
                lock.acquire(timeout=TIMEOUT_MAX + 1)
            assert not lock.locked()

        runner.run(scenario)

    def test_weakref(self, runner, locktype):
        def scenario():
            lock = locktype()
            ref = weakref.ref(lock)
            assert ref() is lock
            del lock
            gc.collect()
            assert ref() is None

        runner.run(scenario)


class TestPlainLockConformance:
    """lock_tests.LockTests: non-recursive, releasable by any thread."""

    def test_reacquire(self, runner):
        def scenario():
            lock = thredo.Lock()
            phase = []

            def f():
                lock.acquire()
                phase.append(1)
                lock.acquire()  # blocks: the lock is not re-entrant
                phase.append(2)

            t = runner.spawn(f)
            wait_until(
                lambda: len(phase) == 1 and n_queued(lock) == 1, "f blocked on its 2nd acquire"
            )
            assert phase == [1]
            lock.release()  # by another thread
            t.join()
            assert phase == [1, 2]
            assert lock.locked()
            lock.release()

        runner.run(scenario)

    def test_different_thread(self, runner):
        def scenario():
            lock = thredo.Lock()
            lock.acquire()
            runner.spawn(lock.release).join()
            assert lock.acquire(False)
            lock.release()

        runner.run(scenario)

    def test_state_after_timeout(self, runner):
        def scenario():
            lock = thredo.Lock()
            lock.acquire()
            assert lock.acquire(timeout=0.01) is False
            lock.release()
            assert not lock.locked()
            assert lock.acquire(blocking=False) is True
            lock.release()

        runner.run(scenario)


class TestRLockConformance:
    """lock_tests.RLockTests: re-entrant, released by its owner only."""

    def test_reacquire(self, runner):
        def scenario():
            lock = thredo.RLock()
            lock.acquire()
            lock.acquire()
            lock.release()
            lock.acquire()
            lock.release()
            lock.release()
            assert not lock.locked()

        runner.run(scenario)

    def test_release_unacquired(self, runner):
        def scenario():
            lock = thredo.RLock()
            with pytest.raises(RuntimeError):
                lock.release()
            lock.acquire()
            lock.acquire()
            lock.release()
            lock.acquire()
            lock.release()
            lock.release()
            with pytest.raises(RuntimeError):
                lock.release()

        runner.run(scenario)

    def test_release_save_unacquired(self, runner):
        def scenario():
            lock = thredo.RLock()
            with pytest.raises(RuntimeError):
                lock._release_save()
            lock.acquire()
            lock.acquire()
            lock.release()
            lock.release()
            with pytest.raises(RuntimeError):
                lock._release_save()

        runner.run(scenario)

    def test_different_thread(self, runner):
        def scenario():
            lock = thredo.RLock()
            holding, go = threading.Event(), threading.Event()

            def f():
                lock.acquire()
                holding.set()
                assert go.wait(WAIT)
                lock.release()

            t = runner.spawn(f)
            assert holding.wait(WAIT)
            try:
                with pytest.raises(RuntimeError):
                    lock.release()
                assert lock.acquire(False) is False
            finally:
                go.set()
                t.join()
            assert not lock.locked()

        runner.run(scenario)

    def test_is_owned(self, runner):
        def scenario():
            lock = thredo.RLock()
            assert not lock._is_owned()
            lock.acquire()
            assert lock._is_owned()
            lock.acquire()
            assert lock._is_owned()
            assert runner.spawn(lock._is_owned).join() is False
            lock.release()
            assert lock._is_owned()
            lock.release()
            assert not lock._is_owned()

        runner.run(scenario)

    def test_wrong_arguments_rejected_when_owned(self, runner):
        """A non-blocking call with a timeout is refused even by the owner."""

        def scenario():
            lock = thredo.RLock()
            lock.acquire()
            with pytest.raises(ValueError, match="non-blocking"):
                lock.acquire(False, 1)
            with pytest.raises(ValueError, match="timeout value must be"):
                lock.acquire(timeout=-2)
            lock.release()
            assert not lock.locked()

        runner.run(scenario)


# -- Event: lock_tests.EventTests -----------------------------------------------


class TestEventConformance:
    def test_is_set(self, runner):
        def scenario():
            evt = thredo.Event()
            assert not evt.is_set()
            evt.set()
            assert evt.is_set()
            evt.set()
            assert evt.is_set()
            evt.clear()
            assert not evt.is_set()
            evt.clear()
            assert not evt.is_set()

        runner.run(scenario)

    def test_notify(self, runner):
        def check_notify(evt):
            results1, results2 = [], []

            def f():
                results1.append(evt.wait())
                results2.append(evt.wait())

            threads = [runner.spawn(f) for _ in range(5)]
            wait_until(lambda: n_queued(evt) == 5, "5 threads blocked in wait()")
            assert results1 == []
            evt.set()
            for t in threads:
                t.join()
            assert results1 == [True] * 5
            assert results2 == [True] * 5

        def scenario():
            evt = thredo.Event()
            check_notify(evt)
            evt.set()
            evt.clear()
            check_notify(evt)

        runner.run(scenario)

    def test_timeout(self, runner):
        def scenario():
            evt = thredo.Event()

            def f():
                first = evt.wait(0.0)
                t1 = time.monotonic()
                second = evt.wait(SHORT)
                return first, second, time.monotonic() - t1

            for first, second, dt in [t.join() for t in [runner.spawn(f) for _ in range(5)]]:
                assert first is False
                assert second is False
                assert_duration(dt, SHORT)
            evt.set()
            for first, second, _ in [t.join() for t in [runner.spawn(f) for _ in range(5)]]:
                assert first is True
                assert second is True

        runner.run(scenario)

    def test_set_and_clear(self, runner):
        """A waiter woken by set() returns True even if the event is cleared at once."""

        def scenario():
            evt = thredo.Event()
            threads = [runner.spawn(evt.wait, WAIT) for _ in range(5)]
            wait_until(lambda: n_queued(evt) == 5, "5 threads blocked in wait()")
            evt.set()
            evt.clear()
            assert [t.join() for t in threads] == [True] * 5

        runner.run(scenario)

    def test_repr(self, runner):
        def scenario():
            evt = thredo.Event()
            assert re.match(r"<\w+\.Event at .*: unset>", repr(evt))
            evt.set()
            assert re.match(r"<\w+\.Event at .*: set>", repr(evt))

        runner.run(scenario)


# -- Condition: lock_tests.ConditionTests ---------------------------------------


class TestConditionConformance:
    def test_acquire(self, runner):
        def scenario():
            cond = thredo.Condition()  # an RLock by default: re-entrant
            cond.acquire()
            cond.acquire()
            cond.release()
            cond.release()
            for lock in (threading.Lock(), thredo.Lock()):
                cond = thredo.Condition(lock)
                cond.acquire()
                assert not lock.acquire(False)
                cond.release()
                assert lock.acquire(False)
                assert not cond.acquire(False)
                lock.release()
                with cond:
                    assert not lock.acquire(False)
                assert lock.acquire(False)
                lock.release()

        runner.run(scenario)

    def test_unacquired_wait(self, runner):
        def scenario():
            with pytest.raises(RuntimeError):
                thredo.Condition().wait()

        runner.run(scenario)

    def test_unacquired_notify(self, runner):
        def scenario():
            with pytest.raises(RuntimeError):
                thredo.Condition().notify()
            with pytest.raises(RuntimeError):
                thredo.Condition().notify_all()

        runner.run(scenario)

    @pytest.mark.parametrize("lockkind", ["default", "Lock"])
    def test_notify(self, runner, lockkind):
        """notify(3), notify(5), notify_all() wake exactly that many, in phases."""

        def check_notify(cond):
            phase = [0]
            results1, results2 = [], []

            def f():
                cond.acquire()
                result = cond.wait()
                cond.release()
                results1.append((result, phase[0]))
                cond.acquire()
                result = cond.wait()
                cond.release()
                results2.append((result, phase[0]))

            threads = [runner.spawn(f) for _ in range(5)]
            wait_until(lambda: n_queued(cond) == 5, "5 threads in their first wait()")
            assert results1 == []

            cond.acquire()
            cond.notify(3)
            phase[0] = 1
            cond.release()
            wait_until(lambda: len(results1) == 3 and n_queued(cond) == 5, "phase 1")
            assert results1 == [(True, 1)] * 3
            assert results2 == []

            cond.acquire()
            cond.notify(5)  # the 2 in their first wait, then the 3 in their second
            phase[0] = 2
            cond.release()
            wait_until(lambda: len(results2) == 3 and n_queued(cond) == 2, "phase 2")
            assert results1 == [(True, 1)] * 3 + [(True, 2)] * 2
            assert results2 == [(True, 2)] * 3

            cond.acquire()
            cond.notify_all()
            phase[0] = 3
            cond.release()
            for t in threads:
                t.join()
            assert results2 == [(True, 2)] * 3 + [(True, 3)] * 2

        def scenario():
            cond = thredo.Condition() if lockkind == "default" else thredo.Condition(thredo.Lock())
            check_notify(cond)
            check_notify(cond)  # internal state still fine

        runner.run(scenario)

    def test_notify_wakes_oldest_first(self, runner):
        def scenario():
            cond = thredo.Condition()
            order = []

            def f(i):
                with cond:
                    assert cond.wait(WAIT) is True
                    order.append(i)

            threads = []
            for i in range(5):
                threads.append(runner.spawn(f, i))
                wait_until(lambda i=i: n_queued(cond) == i + 1, "the next waiter")
            for k in range(1, 6):
                with cond:
                    cond.notify()
                wait_until(lambda k=k: len(order) == k, "a woken waiter")
            for t in threads:
                t.join()
            assert order == [0, 1, 2, 3, 4]

        runner.run(scenario)

    def test_timeout(self, runner):
        def scenario():
            cond = thredo.Condition()

            def f():
                with cond:
                    t1 = time.monotonic()
                    result = cond.wait(SHORT)
                    return time.monotonic() - t1, result, cond._is_owned()

            for dt, result, owned in [t.join() for t in [runner.spawn(f) for _ in range(5)]]:
                assert_duration(dt, SHORT)
                assert result is False
                assert owned
            assert n_queued(cond) == 0

        runner.run(scenario)

    def test_waitfor(self, runner):
        def scenario():
            cond = thredo.Condition()
            state = [0]

            def f():
                with cond:
                    result = cond.wait_for(lambda: state[0] == 4)
                    return result, state[0]

            t = runner.spawn(f)
            for _ in range(4):
                wait_until(lambda: n_queued(cond) == 1, "f waiting")
                with cond:
                    state[0] += 1
                    cond.notify()
            assert t.join() == (True, 4)

        runner.run(scenario)

    def test_waitfor_timeout(self, runner):
        def scenario():
            cond = thredo.Condition()
            state = [0]

            def f():
                with cond:
                    t1 = time.monotonic()
                    result = cond.wait_for(lambda: state[0] == 4, timeout=0.2)
                    return result, time.monotonic() - t1

            t = runner.spawn(f)
            for _ in range(3):  # state == 4 is never reached
                wait_until(lambda: n_queued(cond) == 1 or not t.is_alive(), "f waiting")
                with cond:
                    state[0] += 1
                    cond.notify()
            result, dt = t.join()
            assert result is False
            assert_duration(dt, 0.2)

        runner.run(scenario)

    def test_wait_for_returns_predicate_value(self, runner):
        def scenario():
            cond = thredo.Condition()
            with cond:
                assert cond.wait_for(lambda: "ready") == "ready"
                assert cond.wait_for(lambda: 0, timeout=0) == 0

        runner.run(scenario)


# -- Semaphore, BoundedSemaphore: lock_tests.BaseSemaphoreTests -------------------


@pytest.fixture(params=[thredo.Semaphore, thredo.BoundedSemaphore], ids=["Semaphore", "Bounded"])
def semtype(request: pytest.FixtureRequest) -> type:
    return request.param


class TestSemaphoreConformance:
    def test_constructor(self, runner, semtype):
        def scenario():
            with pytest.raises(ValueError, match="initial value"):
                semtype(value=-1)
            with pytest.raises(ValueError, match="initial value"):
                semtype(value=-sys.maxsize)

        runner.run(scenario)

    def test_acquire(self, runner, semtype):
        def scenario():
            sem = semtype(1)
            assert sem.acquire() is True
            sem.release()
            sem = semtype(2)
            sem.acquire()
            sem.acquire()
            sem.release()
            sem.release()

        runner.run(scenario)

    def _check_contended(self, runner, semtype, release):
        sem_value = 7
        sem = semtype(sem_value)
        sem.acquire()
        phase = [0]
        sem_results, results1, results2 = [], [], []

        def func():
            sem_results.append(sem.acquire())
            results1.append(phase[0])
            sem_results.append(sem.acquire())
            results2.append(phase[0])

        def settled(count):
            # ``count`` acquisitions done, every thread not yet finished is queued
            return lambda: (
                len(results1) + len(results2) == count and n_queued(sem) == 10 - len(results2)
            )

        threads = [runner.spawn(func) for _ in range(10)]
        count1 = sem_value - 1
        wait_until(settled(count1), "phase 0")
        assert results1 + results2 == [0] * count1

        phase[0] = 1
        count2 = sem_value
        release(sem, count2)
        wait_until(settled(count1 + count2), "phase 1")
        assert sorted(results1 + results2) == [0] * count1 + [1] * count2

        phase[0] = 2
        count3 = sem_value - 1
        release(sem, count3)
        wait_until(settled(count1 + count2 + count3), "phase 2")
        assert sorted(results1 + results2) == [0] * count1 + [1] * count2 + [2] * count3
        assert sem.acquire(False) is False  # still exhausted

        sem.release()  # the last thread finishes
        for t in threads:
            t.join()
        assert sem_results == [True] * 20

    def test_acquire_contended(self, runner, semtype):
        def one_by_one(sem, n):
            for _ in range(n):
                sem.release()

        runner.run(self._check_contended, runner, semtype, one_by_one)

    def test_multirelease(self, runner, semtype):
        runner.run(self._check_contended, runner, semtype, lambda sem, n: sem.release(n))

    def test_try_acquire(self, runner, semtype):
        def scenario():
            sem = semtype(2)
            assert sem.acquire(False)
            assert sem.acquire(False)
            assert not sem.acquire(False)
            sem.release()
            assert sem.acquire(False)

        runner.run(scenario)

    def test_try_acquire_contended(self, runner, semtype):
        def scenario():
            sem = semtype(4)
            sem.acquire()

            def f():
                return [sem.acquire(False), sem.acquire(False)]

            results = sum((t.join() for t in [runner.spawn(f) for _ in range(5)]), [])
            assert sorted(results) == [False] * 7 + [True] * 3

        runner.run(scenario)

    def test_acquire_timeout(self, runner, semtype):
        def scenario():
            sem = semtype(2)
            with pytest.raises(ValueError, match="non-blocking"):
                sem.acquire(False, timeout=1.0)
            assert sem.acquire(timeout=0.005)
            assert sem.acquire(timeout=0.005)
            assert not sem.acquire(timeout=0.005)
            sem.release()
            assert sem.acquire(timeout=0.005)
            t = time.monotonic()
            assert not sem.acquire(timeout=SHORT)
            assert_duration(time.monotonic() - t, SHORT)
            assert not sem.acquire(timeout=-1)  # as threading: an expired timeout

        runner.run(scenario)

    def test_default_value(self, runner, semtype):
        def scenario():
            sem = semtype()
            sem.acquire()
            finished = []

            def f():
                sem.acquire()
                sem.release()
                finished.append(True)

            t = runner.spawn(f)
            wait_until(lambda: n_queued(sem) == 1, "f blocked")
            assert not finished
            sem.release()
            t.join()
            assert finished == [True]

        runner.run(scenario)

    def test_with(self, runner, semtype):
        def scenario():
            sem = semtype(2)

            def _with(err=None):
                with sem as value:
                    assert value is True
                    assert sem.acquire(False)
                    sem.release()
                    with sem:
                        assert not sem.acquire(False)
                        if err:
                            raise err

            _with()
            assert sem.acquire(False)
            sem.release()
            with pytest.raises(TypeError):
                _with(TypeError)
            assert sem.acquire(False)
            sem.release()

        runner.run(scenario)

    def test_release_n(self, runner, semtype):
        def scenario():
            sem = semtype(3)
            for _ in range(3):
                sem.acquire()
            threads = [runner.spawn(sem.acquire) for _ in range(3)]
            wait_until(lambda: n_queued(sem) == 3, "3 threads blocked")
            with pytest.raises(ValueError, match="one or more"):
                sem.release(0)
            sem.release(2)
            wait_until(lambda: n_queued(sem) == 1, "2 of them woken")
            sem.release()
            assert [t.join() for t in threads] == [True] * 3
            assert not sem.acquire(False)

        runner.run(scenario)

    def test_waiters_served_in_arrival_order(self, runner, semtype):
        def scenario():
            sem = semtype(1)
            sem.acquire()
            order = []

            def f(i):
                sem.acquire()
                order.append(i)

            threads = []
            for i in range(5):
                threads.append(runner.spawn(f, i))
                wait_until(lambda i=i: n_queued(sem) == i + 1, "the next waiter")
            for k in range(1, 6):
                sem.release()  # the oldest waiter takes it
                wait_until(lambda k=k: len(order) == k, "a woken waiter")
            for t in threads:
                t.join()
            assert order == [0, 1, 2, 3, 4]

        runner.run(scenario)


class TestSemaphoreKinds:
    def test_semaphore_release_unacquired(self, runner):
        def scenario():
            sem = thredo.Semaphore(1)
            sem.release()  # unbounded: allowed, increments the value
            sem.acquire()
            sem.acquire()
            assert not sem.acquire(False)
            sem.release()

        runner.run(scenario)

    def test_bounded_release_unacquired(self, runner):
        def scenario():
            sem = thredo.BoundedSemaphore()
            with pytest.raises(ValueError, match="released too many times"):
                sem.release()
            sem.acquire()
            sem.release()
            with pytest.raises(ValueError, match="released too many times"):
                sem.release()
            sem = thredo.BoundedSemaphore(3)
            sem.acquire()
            with pytest.raises(ValueError, match="released too many times"):
                sem.release(2)
            sem.release(1)

        runner.run(scenario)

    def test_repr(self, runner):
        def scenario():
            sem = thredo.Semaphore(3)
            assert re.match(r"<\w+\.Semaphore at .*: value=3>", repr(sem))
            sem.acquire()
            assert re.match(r"<\w+\.Semaphore at .*: value=2>", repr(sem))
            sem.release()
            sem.release()
            assert re.match(r"<\w+\.Semaphore at .*: value=4>", repr(sem))
            sem = thredo.BoundedSemaphore(3)
            assert re.match(r"<\w+\.BoundedSemaphore at .*: value=3/3>", repr(sem))
            sem.acquire()
            assert re.match(r"<\w+\.BoundedSemaphore at .*: value=2/3>", repr(sem))

        runner.run(scenario)


# -- Barrier: lock_tests.BarrierTests --------------------------------------------

N = 5


class TestBarrierConformance:
    def test_constructor(self, runner):
        def scenario():
            with pytest.raises(ValueError, match="parties"):
                thredo.Barrier(parties=0)
            with pytest.raises(ValueError, match="parties"):
                thredo.Barrier(parties=-1)

        runner.run(scenario)

    @pytest.mark.parametrize("passes", [1, 10])
    def test_barrier(self, runner, passes):
        """N threads pass the barrier in lockstep, ``passes`` times over."""

        def scenario():
            barrier = thredo.Barrier(N, timeout=WAIT)
            results = [[], []]

            def f():
                m = barrier.parties
                assert m == N
                for i in range(passes):
                    results[0].append(True)
                    assert len(results[1]) == i * m
                    barrier.wait()
                    results[1].append(True)
                    assert len(results[0]) == (i + 1) * m
                    barrier.wait()
                assert barrier.n_waiting == 0
                assert not barrier.broken

            for t in [runner.spawn(f) for _ in range(N)]:
                t.join()

        runner.run(scenario)

    def test_wait_return(self, runner):
        def scenario():
            barrier = thredo.Barrier(N, timeout=WAIT)
            results = [t.join() for t in [runner.spawn(barrier.wait) for _ in range(N)]]
            assert sorted(results) == list(range(N))

        runner.run(scenario)

    def test_action(self, runner):
        def scenario():
            calls = []
            barrier = thredo.Barrier(N, lambda: calls.append(True))

            def f():
                barrier.wait()
                return len(calls)

            assert [t.join() for t in [runner.spawn(f) for _ in range(N)]] == [1] * N

        runner.run(scenario)

    def test_failing_action_breaks_barrier(self, runner):
        def scenario():
            class Boom(Exception):
                pass

            def action():
                raise Boom

            barrier = thredo.Barrier(3, action)

            def f():
                try:
                    barrier.wait()
                except Boom:
                    return "boom"
                except BrokenBarrierError:
                    return "broken"
                return "passed"

            results = [t.join() for t in [runner.spawn(f) for _ in range(3)]]
            assert sorted(results) == ["boom", "broken", "broken"]
            assert barrier.broken

        runner.run(scenario)

    def test_abort(self, runner):
        def scenario():
            barrier = thredo.Barrier(N, timeout=WAIT)
            results1, results2 = [], []

            def f():
                try:
                    i = barrier.wait()
                    if i == N // 2:
                        raise RuntimeError
                    barrier.wait()
                    results1.append(True)
                except BrokenBarrierError:
                    results2.append(True)
                except RuntimeError:
                    barrier.abort()

            for t in [runner.spawn(f) for _ in range(N)]:
                t.join()
            assert len(results1) == 0
            assert len(results2) == N - 1
            assert barrier.broken

        runner.run(scenario)

    def test_reset(self, runner):
        def scenario():
            barrier = thredo.Barrier(N, timeout=WAIT)
            results1, results2, results3 = [], [], []

            def f():
                i = barrier.wait()
                if i == N // 2:
                    wait_until(lambda: barrier.n_waiting >= N - 1, "the others in the barrier")
                    barrier.reset()
                else:
                    try:
                        barrier.wait()
                        results1.append(True)
                    except BrokenBarrierError:
                        results2.append(True)
                barrier.wait()  # pass the barrier again
                results3.append(True)

            for t in [runner.spawn(f) for _ in range(N)]:
                t.join()
            assert len(results1) == 0
            assert len(results2) == N - 1
            assert len(results3) == N
            assert not barrier.broken

        runner.run(scenario)

    def test_abort_and_reset(self, runner):
        def scenario():
            barrier = thredo.Barrier(N, timeout=WAIT)
            barrier2 = thredo.Barrier(N, timeout=WAIT)
            results1, results2, results3 = [], [], []

            def f():
                try:
                    i = barrier.wait()
                    if i == N // 2:
                        raise RuntimeError
                    barrier.wait()
                    results1.append(True)
                except BrokenBarrierError:
                    results2.append(True)
                except RuntimeError:
                    barrier.abort()
                if barrier2.wait() == N // 2:
                    barrier.reset()
                barrier2.wait()
                barrier.wait()
                results3.append(True)

            for t in [runner.spawn(f) for _ in range(N)]:
                t.join()
            assert len(results1) == 0
            assert len(results2) == N - 1
            assert len(results3) == N

        runner.run(scenario)

    def test_timeout(self, runner):
        """A wait that times out breaks the barrier for everyone, latecomers included."""

        def scenario():
            barrier = thredo.Barrier(N, timeout=WAIT)

            def f():
                i = barrier.wait()
                if i == N // 2:  # late: arrives only once the barrier is broken
                    wait_until(lambda: barrier.broken, "the barrier to break")
                with pytest.raises(BrokenBarrierError):
                    barrier.wait(SHORT)

            for t in [runner.spawn(f) for _ in range(N)]:
                t.join()
            assert barrier.broken

        runner.run(scenario)

    def test_default_timeout(self, runner):
        def scenario():
            barrier = thredo.Barrier(2, timeout=SHORT)

            def f():
                with pytest.raises(BrokenBarrierError):
                    barrier.wait()

            start = time.monotonic()
            runner.spawn(f).join()
            assert time.monotonic() - start >= SHORT * 0.6
            assert barrier.broken

        runner.run(scenario)

    def test_single_thread(self, runner):
        def scenario():
            b = thredo.Barrier(1)
            assert b.wait() == 0
            assert b.wait() == 0

        runner.run(scenario)

    def test_repr_and_properties(self, runner):
        def scenario():
            barrier = thredo.Barrier(3)
            assert barrier.parties == 3
            assert re.match(r"<\w+\.Barrier at .*: waiters=0/3>", repr(barrier))
            threads = [runner.spawn(barrier.wait, WAIT) for _ in range(2)]
            wait_until(lambda: barrier.n_waiting == 2, "2 threads in the barrier")
            assert re.match(r"<\w+\.Barrier at .*: waiters=2/3>", repr(barrier))
            assert barrier.wait(WAIT) == 2
            assert sorted(t.join() for t in threads) == [0, 1]
            assert re.match(r"<\w+\.Barrier at .*: waiters=0/3>", repr(barrier))
            assert barrier.n_waiting == 0
            barrier.abort()
            assert barrier.broken
            assert barrier.n_waiting == 0
            assert re.match(r"<\w+\.Barrier at .*: broken>", repr(barrier))
            with pytest.raises(BrokenBarrierError):
                barrier.wait()
            barrier.reset()
            assert not barrier.broken

        runner.run(scenario)

    def test_broken_barrier_error_is_threadings(self):
        assert thredo.BrokenBarrierError is threading.BrokenBarrierError
        assert issubclass(BrokenBarrierError, RuntimeError)


# -- FIFO ------------------------------------------------------------------------


def test_lock_waiters_get_it_in_arrival_order(runner, locktype):
    def scenario():
        lock = locktype()
        lock.acquire()
        order = []

        def f(i):
            with lock:
                order.append(i)

        threads = []
        for i in range(6):
            threads.append(runner.spawn(f, i))
            wait_until(lambda i=i: n_queued(lock) == i + 1, "the next waiter")
        lock.release()
        for t in threads:
            t.join()
        assert order == list(range(6))

    runner.run(scenario)


# -- bad input -------------------------------------------------------------------


class TestBadInput:
    def test_release_unheld_lock(self, runner):
        def scenario():
            with pytest.raises(RuntimeError):
                thredo.Lock().release()
            with pytest.raises(RuntimeError):
                thredo.RLock().release()
            lock = thredo.Lock()
            lock.acquire()
            lock.release()
            with pytest.raises(RuntimeError):
                lock.release()
            assert not lock.locked()

        runner.run(scenario)

    def test_over_release_bounded_semaphore(self, runner):
        def scenario():
            sem = thredo.BoundedSemaphore(2)
            with pytest.raises(ValueError, match="released too many times"):
                sem.release()
            sem.acquire()
            sem.release()
            with pytest.raises(ValueError, match="released too many times"):
                sem.release()
            assert sem.acquire(False)
            assert sem.acquire(False)
            assert not sem.acquire(False)

        runner.run(scenario)

    def test_bad_values(self, runner):
        def scenario():
            with pytest.raises(ValueError, match="initial value"):
                thredo.Semaphore(-1)
            with pytest.raises(ValueError, match="initial value"):
                thredo.BoundedSemaphore(-1)
            with pytest.raises(ValueError, match="parties"):
                thredo.Barrier(0)
            lock = thredo.Lock()
            with pytest.raises(ValueError, match="timeout value must be"):
                lock.acquire(timeout=-2)
            with pytest.raises(ValueError, match="non-blocking"):
                lock.acquire(False, 0.5)
            assert not lock.locked()
            with pytest.raises(ValueError, match="non-blocking"):
                thredo.Semaphore(0).acquire(False, 1.0)
            with pytest.raises(ValueError, match="one or more"):
                thredo.Semaphore(0).release(0)

        runner.run(scenario)

    def test_bad_values_while_contended(self, runner):
        """Argument errors come before any waiting (the lock is held by another)."""

        def scenario():
            lock = thredo.Lock()
            lock.acquire()
            with pytest.raises(ValueError, match="timeout value must be"):
                lock.acquire(timeout=-2)
            assert n_queued(lock) == 0
            lock.release()

        runner.run(scenario)


# -- mixed use: plain and thredo threads on one primitive --------------------------------


def held_by_plain_thread(lock: Any) -> tuple[PlainThread, threading.Event]:
    """A plain thread that holds ``lock`` (already, on return) until the event is set."""
    holding, go = threading.Event(), threading.Event()

    def plain_holder():
        with lock:
            holding.set()
            assert go.wait(WAIT)

    holder = PlainThread(plain_holder)
    assert holding.wait(WAIT)
    return holder, go


class TestMixedUse:
    def test_lock_held_by_plain_thread_awaited_by_thredo(self):
        lock = thredo.Lock()

        def main():
            holder, go = held_by_plain_thread(lock)
            waiter = thredo.spawn(lambda: lock.acquire())
            wait_until(lambda: n_queued(lock) == 1, "the thredo waiter")
            assert waiter.is_alive()
            go.set()
            holder.join()
            assert waiter.join() is True
            assert lock.locked()  # now held by the (finished) thredo waiter
            lock.release()

        thredo.run(main)
        assert not lock.locked()

    def test_lock_held_by_thredo_thread_awaited_by_plain(self):
        lock = thredo.Lock()
        got = []

        def main():
            lock.acquire()
            waiter = PlainThread(lambda: got.append(lock.acquire(timeout=WAIT)))
            wait_until(lambda: n_queued(lock) == 1, "the plain waiter")
            assert got == []
            lock.release()
            waiter.join()
            assert got == [True]
            lock.release()

        thredo.run(main)

    def test_thredo_waiter_cancelled_while_plain_thread_holds_lock(self):
        lock = thredo.Lock()

        def main():
            holder, go = held_by_plain_thread(lock)
            waiter = thredo.spawn(lock.acquire)
            wait_until(lambda: n_queued(lock) == 1, "the thredo waiter")
            waiter.cancel()
            assert isinstance(waiter.exception, ThreadCancelled)
            assert n_queued(lock) == 0
            assert lock.locked()
            go.set()
            holder.join()
            assert not lock.locked()  # nobody took it on the cancelled waiter's behalf

        thredo.run(main)

    def test_rlock_shared(self):
        lock = thredo.RLock()
        holding, go = threading.Event(), threading.Event()

        def plain():
            with lock:
                holding.set()
                assert go.wait(WAIT)

        def main():
            with lock:
                with lock:
                    t = PlainThread(plain)
                    wait_until(lambda: n_queued(lock) == 1, "the plain waiter")
            assert holding.wait(WAIT)
            with pytest.raises(RuntimeError):  # owned by the plain thread now
                lock.release()
            assert thredo.spawn(lock.acquire, False).join() is False
            go.set()
            t.join()
            assert not lock.locked()

        thredo.run(main)

    @pytest.mark.parametrize("waiter_kind", ["plain", "thredo"])
    def test_condition_across_kinds(self, waiter_kind):
        cond = thredo.Condition()
        items = []

        def consumer():
            with cond:
                assert cond.wait_for(lambda: items, timeout=WAIT)
                return items.pop()

        def main():
            t = PlainThread(consumer) if waiter_kind == "plain" else ThredoThread(consumer)
            wait_until(lambda: n_queued(cond) == 1, "the consumer")
            if waiter_kind == "plain":  # a thredo thread notifies a plain one ...
                with cond:
                    items.append("x")
                    cond.notify()
            else:  # ... and a plain thread a thredo one

                def producer():
                    with cond:
                        items.append("x")
                        cond.notify()

                PlainThread(producer).join()
            assert t.join() == "x"

        thredo.run(main)

    def test_event_wakes_both_kinds(self):
        evt = thredo.Event()

        def main():
            threads = [PlainThread(evt.wait, WAIT) for _ in range(3)]
            threads += [ThredoThread(evt.wait) for _ in range(3)]
            wait_until(lambda: n_queued(evt) == 6, "6 waiters")
            PlainThread(evt.set).join()
            assert [t.join() for t in threads] == [True] * 6

        thredo.run(main)

    def test_semaphore_shared(self):
        sem = thredo.Semaphore(0)

        def main():
            threads = [PlainThread(sem.acquire), ThredoThread(sem.acquire)]
            threads += [PlainThread(sem.acquire), ThredoThread(sem.acquire)]
            wait_until(lambda: n_queued(sem) == 4, "4 waiters")
            sem.release(2)
            PlainThread(sem.release, 2).join()
            assert [t.join() for t in threads] == [True] * 4
            assert not sem.acquire(False)

        thredo.run(main)

    def test_barrier_with_parties_of_both_kinds(self):
        barrier = thredo.Barrier(4, timeout=WAIT)

        def main():
            threads = [PlainThread(barrier.wait), ThredoThread(barrier.wait)]
            threads.append(PlainThread(barrier.wait))
            wait_until(lambda: barrier.n_waiting == 3, "3 parties waiting")
            index = barrier.wait()
            assert sorted([index] + [t.join() for t in threads]) == [0, 1, 2, 3]

        thredo.run(main)


# module-level objects, created before any run()
MODULE_LOCK = thredo.Lock()
MODULE_RLOCK = thredo.RLock()
MODULE_COND = thredo.Condition()
MODULE_SEM = thredo.Semaphore(0)
MODULE_BSEM = thredo.BoundedSemaphore(1)
MODULE_EVENT = thredo.Event()
MODULE_BARRIER = thredo.Barrier(2, timeout=WAIT)


def handoff_round(spawn: Callable[..., Any]) -> None:
    """Every module-level primitive: a real blocked wait, woken by this thread."""
    for lock in (MODULE_LOCK, MODULE_RLOCK, MODULE_BSEM):
        lock.acquire()
        t = spawn(lambda lock=lock: (lock.acquire(), lock.release()))
        wait_until(lambda lock=lock: n_queued(lock) == 1, "a lock waiter")
        lock.release()
        t.join()
        assert lock.acquire(False)
        lock.release()

    def consumer():
        with MODULE_COND:
            return MODULE_COND.wait(WAIT)

    t = spawn(consumer)
    wait_until(lambda: n_queued(MODULE_COND) == 1, "a condition waiter")
    with MODULE_COND:
        MODULE_COND.notify()
    assert t.join() is True

    t = spawn(MODULE_SEM.acquire)
    wait_until(lambda: n_queued(MODULE_SEM) == 1, "a semaphore waiter")
    MODULE_SEM.release()
    assert t.join() is True

    t = spawn(MODULE_EVENT.wait)
    wait_until(lambda: n_queued(MODULE_EVENT) == 1, "an event waiter")
    MODULE_EVENT.set()
    assert t.join() is True
    MODULE_EVENT.clear()

    t = spawn(MODULE_BARRIER.wait)
    assert sorted([MODULE_BARRIER.wait(), t.join()]) == [0, 1]


def test_module_level_primitives_survive_runs_and_main_thread():
    thredo.run(handoff_round, ThredoThread)
    handoff_round(PlainThread)  # the main thread, outside run()
    thredo.run(handoff_round, PlainThread)  # plain helpers of a thredo thread
    thredo.run(handoff_round, ThredoThread)
    assert not MODULE_LOCK.locked()
    assert not MODULE_RLOCK.locked()
    assert not MODULE_EVENT.is_set()
    assert not MODULE_BARRIER.broken


# -- cancellation and timeout_after of every blocking call ----------------------------


@pytest.mark.parametrize("how", HOWS)
@pytest.mark.parametrize("kind", ["Lock", "RLock", "Semaphore", "BoundedSemaphore"])
def test_interrupted_acquire_holds_nothing_and_next_waiter_gets_it(kind, how):
    prim = getattr(thredo, kind)()

    def main():
        assert prim.acquire()
        got = []

        def waiter(tag):
            assert prim.acquire(timeout=WAIT)
            got.append(tag)
            prim.release()

        def check():  # in the victim's except block
            return kind != "RLock" or not prim._is_owned()

        if how == "cancel":  # the victim first in line, W behind it
            v = thredo.spawn(victim(how, prim.acquire, check))
            wait_until(lambda: n_queued(prim) == 1, "the victim")
            w = thredo.spawn(waiter, "W")
            wait_until(lambda: n_queued(prim) == 2, "W")
            v.cancel()
            others = [w]
        else:  # A first; the victim times out behind it; then W
            a = thredo.spawn(waiter, "A")
            wait_until(lambda: n_queued(prim) == 1, "A")
            v = thredo.spawn(victim(how, prim.acquire, check))
            v.wait()
            w = thredo.spawn(waiter, "W")
            wait_until(lambda: n_queued(prim) == 2, "W")
            others = [a, w]
        assert v.join() == (expected(how), True)
        assert n_queued(prim) == len(others)
        if kind == "RLock":
            assert prim._is_owned()  # still main's
        else:
            assert not prim.acquire(False)  # still exactly one holder: main
        prim.release()
        for t in others:
            t.join()
        assert got == ["A", "W"][-len(others) :]
        assert prim.acquire(False)  # free: the victim holds nothing
        if kind != "RLock":
            assert not prim.acquire(False)
        prim.release()

    thredo.run(main)
    assert n_queued(prim) == 0


@pytest.mark.parametrize("how", HOWS)
@pytest.mark.parametrize("lockkind", ["RLock", "Lock"])
@pytest.mark.parametrize("call", ["wait", "wait_for"])
def test_interrupted_condition_wait_reacquires_lock(call, lockkind, how):
    lock = getattr(thredo, lockkind)()
    cond = thredo.Condition(lock)

    def wait():
        if call == "wait":
            cond.wait()
        else:
            cond.wait_for(lambda: False)

    def body():
        with cond:
            try:
                with thredo.timeout_after(SHORT) if how == "timeout" else contextlib.nullcontext():
                    wait()
            except (ThreadCancelled, ThreadTimeout) as e:
                # the lock is ours again before the exception left wait()
                owned = cond._is_owned()
                probe = PlainThread(lock.acquire, False).join()
                return type(e), owned, probe
        return "returned normally"

    def w_body():
        with cond:
            return cond.wait(WAIT), cond._is_owned()

    def main():
        if how == "cancel":
            v = thredo.spawn(body)
            wait_until(lambda: n_queued(cond) == 1, "the victim")
            w = thredo.spawn(w_body)
            wait_until(lambda: n_queued(cond) == 2, "W")
            v.cancel()
        else:
            v = thredo.spawn(body)
            v.wait()
            w = thredo.spawn(w_body)
            wait_until(lambda: n_queued(cond) == 1, "W")
        assert v.join() == (expected(how), True, False)
        assert n_queued(cond) == 1
        assert not lock.locked()
        with cond:
            cond.notify()  # reaches W: the victim consumed nothing
        assert w.join() == (True, True)
        assert not lock.locked()

    thredo.run(main)


def test_cancelled_condition_wait_restores_rlock_recursion():
    cond = thredo.Condition(thredo.RLock())

    def body():
        with cond:
            with cond:
                try:
                    cond.wait()
                except ThreadCancelled:
                    pass
            owned_after_inner = cond._is_owned()
        return owned_after_inner, cond._is_owned()

    def main():
        v = thredo.spawn(body)
        wait_until(lambda: n_queued(cond) == 1, "the victim")
        v.cancel(blocking=False)
        assert v.join() == (True, False)

    thredo.run(main)


@pytest.mark.parametrize("lockkind", ["RLock", "Lock"])
def test_cancelled_condition_wait_waits_for_the_lock_before_raising(lockkind):
    """Cancelled while another thread holds the lock: wait() re-takes it, then raises."""
    lock = getattr(thredo, lockkind)()
    cond = thredo.Condition(lock)

    def body():
        with cond:
            try:
                cond.wait()
            except ThreadCancelled:
                return cond._is_owned(), PlainThread(lock.acquire, False).join()
        return "returned normally"

    def main():
        v = thredo.spawn(body)
        wait_until(lambda: n_queued(cond) == 1, "the waiter")
        cond.acquire()
        v.cancel(blocking=False)
        wait_until(lambda: n_queued(lock) == 1, "the cancelled waiter to queue for the lock")
        assert v.is_alive()  # not raising yet: the lock is not its own again
        cond.release()
        assert v.join() == (True, False)
        assert not lock.locked()

    thredo.run(main)


def test_notified_then_cancelled_condition_wait_returns_true():
    """A wait already notified completes; the cancel comes at the next blocking call."""
    cond = thredo.Condition()
    log = []

    def body():
        with cond:
            log.append(cond.wait())
        try:
            thredo.sleep(WAIT)
        except ThreadCancelled:
            log.append("cancelled at the next call")

    def main():
        v = thredo.spawn(body)
        wait_until(lambda: n_queued(cond) == 1, "the waiter")
        with cond:
            cond.notify()
            v.cancel(blocking=False)  # arrives while it waits for the lock
        v.join()
        assert log == [True, "cancelled at the next call"]

    thredo.run(main)


@pytest.mark.parametrize("how", HOWS)
def test_interrupted_event_wait(how):
    evt = thredo.Event()

    def main():
        if how == "cancel":
            v = thredo.spawn(victim(how, evt.wait))
            wait_until(lambda: n_queued(evt) == 1, "the victim")
            w = thredo.spawn(evt.wait)
            wait_until(lambda: n_queued(evt) == 2, "W")
            v.cancel()
        else:
            w = thredo.spawn(evt.wait)
            wait_until(lambda: n_queued(evt) == 1, "W")
            v = thredo.spawn(victim(how, evt.wait))
        assert v.join() == (expected(how), None)
        assert not evt.is_set()
        assert n_queued(evt) == 1
        evt.set()
        assert w.join() is True

    thredo.run(main)


@pytest.mark.parametrize("how", HOWS)
def test_interrupted_barrier_wait_breaks_barrier(how):
    barrier = thredo.Barrier(3)

    def other():
        with pytest.raises(BrokenBarrierError):
            barrier.wait()
        return "broken"

    def main():
        w = thredo.spawn(other)
        wait_until(lambda: barrier.n_waiting == 1, "W in the barrier")
        v = thredo.spawn(victim(how, barrier.wait))
        if how == "cancel":
            wait_until(lambda: barrier.n_waiting == 2, "the victim in the barrier")
            v.cancel()
        assert v.join() == (expected(how), None)
        assert barrier.broken
        assert w.join() == "broken"
        with pytest.raises(BrokenBarrierError):
            barrier.wait()
        barrier.reset()  # usable again
        threads = [thredo.spawn(barrier.wait) for _ in range(2)]
        assert sorted([barrier.wait()] + [t.join() for t in threads]) == [0, 1, 2]

    thredo.run(main)


def test_cancel_during_disable_cancellation_defers_until_lock_acquired():
    lock = thredo.Lock()
    log = []

    def body():
        with thredo.disable_cancellation():
            with lock:
                log.append("acquired")
        try:
            thredo.sleep(WAIT)
        except ThreadCancelled:
            log.append("cancelled")

    def main():
        lock.acquire()
        v = thredo.spawn(body)
        wait_until(lambda: n_queued(lock) == 1, "the waiter")
        v.cancel(blocking=False)
        lock.release()
        v.join()
        assert log == ["acquired", "cancelled"]

    thredo.run(main)


# -- an exception raised into a blocked wait (signal handler in the main thread) -------


@pytest.mark.parametrize(
    "kind",
    [
        pytest.param("thredo.Lock"),
        pytest.param("thredo.Semaphore"),
        pytest.param("thredo.Condition"),
        "threading.Condition",
        "threading.Semaphore",
    ],
)
def test_wait_interrupted_by_exception_loses_no_wakeup(usr1_raises, kind):
    """As with the stdlib: Ctrl-C in a wait outside run() leaves the primitive sound."""
    if kind == "thredo.Lock":
        prim: Any = thredo.Lock()
        prim.acquire()
    elif kind.endswith("Semaphore"):
        prim = (thredo if kind.startswith("thredo") else threading).Semaphore(0)
    else:
        prim = (thredo if kind.startswith("thredo") else threading).Condition()

    def block(timeout=None):
        if kind.endswith("Condition"):
            with prim:
                return prim.wait(timeout)
        if kind.endswith("Lock"):
            return prim.acquire(True, -1 if timeout is None else timeout)
        return prim.acquire(timeout=timeout)

    def wake():
        if kind.endswith("Condition"):
            with prim:
                prim.notify()
        else:
            prim.release()

    killer = interrupt_main_thread_when(lambda: n_queued(prim) == 1)
    with pytest.raises(Interrupted):
        block()
    killer.join()
    assert n_queued(prim) == 0, "the interrupted wait left its waiter queued"
    # so the next waiter is woken by the next release/notify, at once
    live = PlainThread(block, WAIT)
    wait_until(lambda: n_queued(prim) == 1, "the live waiter")
    wake()
    assert live.join() is True


# -- nothing lost: random cancellations and timeouts under load ------------------------


@pytest.mark.parametrize("kind", ["Lock", "RLock", "Semaphore", "BoundedSemaphore"])
def test_mutual_exclusion_survives_random_cancellations(kind):
    """Workers of both kinds hammer one primitive; some are cancelled, some time out.

    Never more holders than permits, every entry counted, and afterwards the
    primitive is free with nobody queued.
    """
    permits = 1 if kind in ("Lock", "RLock") else 2
    prim = getattr(thredo, kind)() if permits == 1 else getattr(thredo, kind)(permits)
    rng = random.Random(20240517)
    inside: set[str] = set()
    guard = threading.Lock()  # a plain lock for the bookkeeping only
    entries = [0]
    ROUNDS = 150

    def critical(me: str, r: random.Random, cancellable: bool) -> None:
        with guard:
            assert me not in inside, (me, inside)
            assert len(inside) < permits, (me, inside)
            inside.add(me)
            entries[0] += 1
        try:
            if cancellable and r.random() < 0.5:
                thredo.sleep(0)  # a cancellation point while holding it
        finally:
            with guard:
                inside.discard(me)

    def thredo_worker(me: str, seed: int) -> str:
        r = random.Random(seed)
        try:
            for _ in range(ROUNDS):
                choice = r.random()
                try:
                    if choice < 0.3:
                        with thredo.timeout_after(r.choice([0, 0.0002, 0.001])):
                            with prim:
                                critical(me, r, True)
                    elif choice < 0.5:
                        if prim.acquire(timeout=r.choice([0, 0.0005])):
                            try:
                                critical(me, r, True)
                            finally:
                                prim.release()
                    else:
                        with prim:
                            critical(me, r, True)
                except ThreadTimeout:
                    pass
        except ThreadCancelled:
            return "cancelled"
        return "done"

    def plain_worker(me: str, seed: int) -> str:
        r = random.Random(seed)
        for _ in range(ROUNDS):
            if r.random() < 0.4:
                if prim.acquire(timeout=r.choice([0, 0.0005])):
                    try:
                        critical(me, r, False)
                    finally:
                        prim.release()
            else:
                with prim:
                    critical(me, r, False)
        return "done"

    def main():
        workers = [thredo.spawn(thredo_worker, f"t{i}", rng.random()) for i in range(6)]
        plains = [PlainThread(plain_worker, f"p{i}", rng.random()) for i in range(3)]
        for t in rng.sample(workers, 3):  # cancel three at random moments
            threshold = entries[0] + rng.randrange(20, 120)
            wait_until(
                lambda threshold=threshold: (
                    entries[0] >= threshold or all(not w.is_alive() for w in workers)
                ),
                "progress",
            )
            t.cancel()
        outcomes = [t.join() for t in workers]
        assert set(outcomes) <= {"done", "cancelled"}
        assert [p.join() for p in plains] == ["done"] * 3

    thredo.run(main)
    assert not inside
    assert n_queued(prim) == 0
    assert entries[0] > 0
    for _ in range(permits):
        assert prim.acquire(False)
    if kind != "RLock":
        assert not prim.acquire(False)
    for _ in range(permits):
        prim.release()


# -- SignalEvent --------------------------------------------------------------------


class Previous:
    """Custom SIGUSR1/SIGUSR2 handlers that SignalEvent.close() must put back."""

    def __init__(self) -> None:
        self.seen: list[int] = []

        def handler(signo: int, frame: Any) -> None:
            self.seen.append(signo)

        self.handler = handler


@pytest.fixture
def previous() -> Iterator[Previous]:
    prev = Previous()
    old = {s: signal.signal(s, prev.handler) for s in (signal.SIGUSR1, signal.SIGUSR2)}
    try:
        yield prev
    finally:
        for s, h in old.items():
            signal.signal(s, h)


def kill_self(signo: int) -> None:
    os.kill(os.getpid(), signo)


class TestSignalEvent:
    def test_created_in_main_thread(self, previous):
        ev = thredo.SignalEvent(signal.SIGUSR1)
        try:
            assert signal.getsignal(signal.SIGUSR1) is not previous.handler
            assert not ev.is_set()
            kill_self(signal.SIGUSR1)
            assert ev.wait(WAIT) is True
            assert ev.is_set()
            assert "SIGUSR1" in repr(ev)
        finally:
            ev.close()
        assert signal.getsignal(signal.SIGUSR1) is previous.handler
        kill_self(signal.SIGUSR1)  # the previous handler is back in charge
        wait_until(lambda: previous.seen, "the previous handler")
        assert previous.seen == [signal.SIGUSR1]

    def test_main_thread_waiting_outside_run_is_woken(self, previous):
        with thredo.SignalEvent(signal.SIGUSR1) as ev:
            sender = interrupt_main_thread_when(lambda: n_queued(ev) == 1)
            assert ev.wait(WAIT) is True
            sender.join()
        assert signal.getsignal(signal.SIGUSR1) is previous.handler

    def test_created_in_main_thread_wakes_waiters_under_run(self, previous):
        ev = thredo.SignalEvent(signal.SIGUSR1)

        def main():
            threads = [ThredoThread(ev.wait), PlainThread(ev.wait, WAIT)]
            wait_until(lambda: n_queued(ev) == 2, "2 waiters")
            kill_self(signal.SIGUSR1)
            return [t.join() for t in threads]

        try:
            assert thredo.run(main) == [True, True]
        finally:
            ev.close()
        assert signal.getsignal(signal.SIGUSR1) is previous.handler

    def test_created_in_thredo_thread(self, previous):
        def main():
            with thredo.SignalEvent(signal.SIGUSR1) as ev:
                installed = signal.getsignal(signal.SIGUSR1) is not previous.handler
                waiter = ThredoThread(ev.wait)
                wait_until(lambda: n_queued(ev) == 1, "the waiter")
                kill_self(signal.SIGUSR1)
                woken = waiter.join()
            restored = signal.getsignal(signal.SIGUSR1) is previous.handler
            return installed, woken, restored

        assert thredo.run(main) == (True, True, True)
        assert signal.getsignal(signal.SIGUSR1) is previous.handler
        assert previous.seen == []  # the signal went to the event only

    def test_several_signals_and_clear_rearms(self, previous):
        def main():
            ev = thredo.SignalEvent(signal.SIGUSR1, signal.SIGUSR2)
            try:
                kill_self(signal.SIGUSR2)
                assert ev.wait(WAIT)
                ev.clear()
                assert not ev.wait(0)
                waiter = ThredoThread(ev.wait)
                wait_until(lambda: n_queued(ev) == 1, "the waiter")
                kill_self(signal.SIGUSR1)
                assert waiter.join() is True
            finally:
                ev.close()
            return [
                signal.getsignal(s) is previous.handler for s in (signal.SIGUSR1, signal.SIGUSR2)
            ]

        assert thredo.run(main) == [True, True]

    def test_waiter_can_be_cancelled(self, previous):
        def main():
            with thredo.SignalEvent(signal.SIGUSR1) as ev:
                waiter = thredo.spawn(ev.wait)
                wait_until(lambda: n_queued(ev) == 1, "the waiter")
                waiter.cancel()
                assert isinstance(waiter.exception, ThreadCancelled)
                assert not ev.is_set()
                assert n_queued(ev) == 0
                with thredo.ignore_after(SHORT) as timeout:
                    ev.wait()
                assert timeout.expired

        thredo.run(main)

    def test_bad_use(self, previous):
        with pytest.raises(ValueError, match="signal"):
            thredo.SignalEvent()
        # a plain thread other than the main thread cannot install handlers
        with pytest.raises(RuntimeError):
            PlainThread(thredo.SignalEvent, signal.SIGUSR1).join()

        def in_thredo():
            with pytest.raises(RuntimeError):
                thredo.SignalEvent(signal.SIGUSR1)

        # nor a thredo thread whose run() is not in the main thread
        PlainThread(thredo.run, in_thredo).join()
        assert signal.getsignal(signal.SIGUSR1) is previous.handler


def test_condition_cancel_is_not_lost_to_a_late_notify() -> None:
    """A cancel taken while the waiter re-takes the lock survives a notify landing then."""
    state: dict[str, Any] = {}

    def main() -> None:
        cond = thredo.Condition()

        def waiter() -> None:
            with cond:
                cond.wait()
                state["returned"] = True

        t = thredo.spawn(waiter)
        wait_until(lambda: len(cond._waiters) == 1, "the waiter to park")
        with cond:  # held: the cancelled waiter blocks re-taking it, still queued
            t.cancel(blocking=False)
            wait_until(lambda: t._state.cancel_pending is None, "the cancel to be taken")
            cond.notify()
        t.wait()
        assert isinstance(t.exception, thredo.ThreadCancelled)
        assert "returned" not in state
        assert not cond._waiters

    thredo.run(main)
