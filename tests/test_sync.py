"""Lock, RLock, Condition, Semaphore, BoundedSemaphore, Event, Barrier.

The conformance classes port the scenarios of CPython's
``Lib/test/lock_tests.py``.  Each runs twice through the ``runner`` fixture:
in plain ``threading`` threads, where thredo's primitives must behave exactly
like the stdlib's, and in thredo threads under ``thredo.run``.  Nothing is
ordered by sleeping: a thread is known to be blocked when the primitive shows
it queued (``_waiters``, ``n_waiting``), polled with a generous upper bound.

Then: threads of both kinds sharing one primitive, primitives surviving two
``run()`` calls, FIFO wake-ups, bad input, cancellation and ``timeout_after``
of every blocking call (with the state checked afterwards), random
cancellations under load; every blocking call a cancellation point even when
it need not wait; timeout values (None, NaN, huge) beside the stdlib's;
``statistics()``, curio's extra names and the docstrings.  SignalEvent is in
test_signals.py.
"""

from __future__ import annotations

import _thread
import contextlib
import dataclasses
import gc
import inspect
import random
import re
import sys
import threading
import time
import weakref
from _thread import TIMEOUT_MAX
from collections.abc import Callable
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
    at_once,
    expected,
    interrupt_main_thread_when,
    wait_until,
)
from helpers import stop_busy_loop as _stopped

import thredo
from thredo import BrokenBarrierError, ThreadCancelled, ThreadTimeout
from thredo._sync import (
    BarrierStatistics,
    ConditionStatistics,
    EventStatistics,
    LockStatistics,
    SemaphoreStatistics,
)

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


# The bookkeeping runs under a plain threading.Lock and in pure Python, where a
# deadline cannot land: a worker descheduled there for 50 ms on a loaded machine
# is rightly warned about (UncancellableWarning); that is not what this checks.
@pytest.mark.filterwarnings("ignore::thredo.UncancellableWarning")
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


# -- cancellation points: every call that may block, even when it need not wait -------
#
# ``at_once(how, call)`` makes ``call()`` in a fresh thredo thread with a cancel
# already pending (the thread cancelled itself inside disable_cancellation, so
# the cancel waits for the next point) or with a timeout_after deadline already
# expired (``timeout_after(0)``), and reports what happened.  Deterministic: no
# other thread is involved, and the primitive would not make the call wait.

NAN = float("nan")


def _with(cm: Any) -> str:
    with cm:
        return "inside"


def _held(prim: Any) -> Any:
    prim.acquire()
    return prim


def _set_event() -> thredo.Event:
    ev = thredo.Event()
    ev.set()
    return ev


def _owned_condition(lock: Any = None) -> thredo.Condition:
    cond = thredo.Condition(lock)
    cond.acquire()
    return cond


# (name, make the primitive, the call, the check that it is untouched afterwards)
POINTS: list[tuple[str, Callable[[], Any], Callable[[Any], Any], Callable[[Any], bool]]] = [
    ("Lock.acquire", thredo.Lock, lambda p: p.acquire(), lambda p: not p.locked()),
    (
        "Lock.acquire(timeout)",
        thredo.Lock,
        lambda p: p.acquire(timeout=WAIT),
        lambda p: not p.locked(),
    ),
    ("with Lock", thredo.Lock, _with, lambda p: not p.locked()),
    ("RLock.acquire", thredo.RLock, lambda p: p.acquire(), lambda p: not p.locked()),
    ("with RLock", thredo.RLock, _with, lambda p: not p.locked()),
    (
        "RLock.acquire re-entry",
        lambda: _held(thredo.RLock()),
        lambda p: p.acquire(),
        lambda p: p._recursion_count() == 1,
    ),
    ("Semaphore.acquire", thredo.Semaphore, lambda p: p.acquire(), lambda p: p.value == 1),
    ("with Semaphore", thredo.Semaphore, _with, lambda p: p.value == 1),
    (
        "BoundedSemaphore.acquire(timeout)",
        thredo.BoundedSemaphore,
        lambda p: p.acquire(timeout=WAIT),
        lambda p: p.value == 1,
    ),
    ("Event.wait (set)", _set_event, lambda p: p.wait(), lambda p: p.is_set()),
    ("Event.wait(0) (unset)", thredo.Event, lambda p: p.wait(0), lambda p: not p.is_set()),
    (
        "Condition.wait_for (true)",
        _owned_condition,
        lambda p: p.wait_for(lambda: True),
        lambda p: p._is_owned() and p.statistics().waiting == 0,
    ),
    (
        "Condition.wait(0)",
        lambda: _owned_condition(thredo.Lock()),
        lambda p: p.wait(0),
        lambda p: p.locked() and p.statistics().waiting == 0,
    ),
    ("with Condition", thredo.Condition, _with, lambda p: not p.locked()),
    ("Barrier(1).wait", lambda: thredo.Barrier(1), lambda p: p.wait(), lambda p: not p.broken),
    (
        "Barrier(2).wait",  # raised before arriving: the barrier is untouched
        lambda: thredo.Barrier(2),
        lambda p: p.wait(),
        lambda p: not p.broken and p.n_waiting == 0,
    ),
]


@pytest.mark.parametrize("how", HOWS)
@pytest.mark.parametrize(("name", "make", "call", "untouched"), POINTS, ids=[p[0] for p in POINTS])
def test_every_blocking_call_is_a_cancellation_point(name, make, call, untouched, how):
    """A pending cancel / an expired deadline is raised before the call does anything."""

    def main():
        prim = make()
        assert at_once(how, lambda: call(prim)) is expected(how)
        assert untouched(prim), name

    thredo.run(main)


# (name, make, the call that never blocks, what it returns)
NOT_POINTS: list[tuple[str, Callable[[], Any], Callable[[Any], Any], Any]] = [
    ("Lock.acquire(False)", thredo.Lock, lambda p: p.acquire(False), True),
    ("Lock.release", lambda: _held(thredo.Lock()), lambda p: p.release(), None),
    ("RLock.acquire(False)", thredo.RLock, lambda p: p.acquire(blocking=False), True),
    ("Semaphore.acquire(False)", thredo.Semaphore, lambda p: p.acquire(False), True),
    ("Semaphore.release", thredo.Semaphore, lambda p: p.release(), None),
    ("Event.set", thredo.Event, lambda p: p.set(), None),
    ("Event.clear", _set_event, lambda p: p.clear(), None),
    (
        "Condition.notify_all",  # a Lock: the checking thread "owns" it too
        lambda: _owned_condition(thredo.Lock()),
        lambda p: p.notify_all(),
        None,
    ),
    ("Barrier.abort", lambda: thredo.Barrier(2), lambda p: p.abort(), None),
    ("Barrier.reset", lambda: thredo.Barrier(2), lambda p: p.reset(), None),
]


@pytest.mark.parametrize(
    ("name", "make", "call", "returns"), NOT_POINTS, ids=[p[0] for p in NOT_POINTS]
)
def test_calls_that_never_block_are_not_cancellation_points(name, make, call, returns):
    """They complete with a cancel pending; it is raised at the next point."""

    def main():
        prim = make()
        assert at_once("cancel", lambda: call(prim)) == ("returned", returns)

    thredo.run(main)


def _cycle(prim: Any) -> Callable[[], None]:
    def step() -> None:
        prim.acquire()
        prim.release()

    return step


def _with_cycle(prim: Any) -> Callable[[], None]:
    def step() -> None:
        with prim:
            pass

    return step


class TestBusyLoopsAreStopped:
    """Loops whose every call succeeds at once end at a cancel or a deadline (issue 8)."""

    @pytest.mark.parametrize("how", HOWS)
    @pytest.mark.parametrize("kind", ["Lock", "RLock", "Semaphore", "BoundedSemaphore"])
    @pytest.mark.parametrize("form", ["acquire", "with"])
    def test_acquire_release(self, kind, form, how):
        def main():
            prim = getattr(thredo, kind)()
            _stopped(how, (_cycle if form == "acquire" else _with_cycle)(prim))
            assert prim.acquire(False), "the stopped loop left the lock held"
            prim.release()
            assert prim.statistics().waiting == 0

        thredo.run(main)

    @pytest.mark.parametrize("how", HOWS)
    def test_event_wait_on_set_event(self, how):
        def main():
            ev = thredo.Event()
            ev.set()
            _stopped(how, ev.wait)

        thredo.run(main)

    @pytest.mark.parametrize("how", HOWS)
    def test_condition_wait_for_true_predicate(self, how):
        """Decided: wait_for is a point even when the predicate holds (the stdlib never waits)."""

        def main():
            cond = thredo.Condition(thredo.Lock())

            def step() -> None:
                with cond:
                    cond.wait_for(lambda: True)

            _stopped(how, step)
            assert not cond.locked()

        thredo.run(main)

    @pytest.mark.parametrize("how", HOWS)
    def test_condition_wait_for_true_predicate_lock_held(self, how):
        """The loop holds the lock throughout: only wait_for itself can stop it."""

        def main():
            cond = thredo.Condition()
            _stopped(how, lambda: cond.wait_for(lambda: True), around=lambda: cond)
            assert not cond.locked()

        thredo.run(main)

    @pytest.mark.parametrize("how", HOWS)
    def test_barrier_of_one(self, how):
        def main():
            b = thredo.Barrier(1)
            _stopped(how, b.wait)
            assert not b.broken
            assert b.n_waiting == 0

        thredo.run(main)


# -- timeout values as the stdlib: None, NaN, huge ---------------------------------------


HUGE = [1e300, float("inf"), TIMEOUT_MAX * 2]


class TestTimeoutValues:
    def test_nan_as_the_stdlib(self, runner):
        """Side by side with threading: NaN never blocks, and raises where _thread.lock does."""

        def scenario():
            for mod in (threading, thredo):
                assert mod.Event().wait(NAN) is False, mod
                ev = mod.Event()
                ev.set()
                assert ev.wait(NAN) is True
                for locktype in (mod.Lock, mod.RLock):
                    with pytest.raises(ValueError, match="NaN"):
                        locktype().acquire(timeout=NAN)
                    with pytest.raises(ValueError, match="NaN"):
                        locktype().acquire(False, NAN)
                cond = mod.Condition()
                with cond:
                    assert cond.wait(NAN) is False
                    assert cond.wait_for(lambda: 5, NAN) == 5
                assert mod.Semaphore(1).acquire(timeout=NAN) is True
                assert mod.Barrier(1).wait(NAN) == 0

        runner.run(scenario)

    def test_nan_never_spins(self, runner):
        """Where the stdlib would loop forever (NaN is never <= 0), thredo times out at once."""

        def scenario():
            t0 = time.monotonic()
            assert thredo.Semaphore(0).acquire(timeout=NAN) is False
            assert thredo.BoundedSemaphore(1).acquire() is True
            cond = thredo.Condition()
            with cond:
                assert cond.wait_for(lambda: 0, NAN) == 0
            b = thredo.Barrier(2)
            with pytest.raises(BrokenBarrierError):
                b.wait(NAN)
            assert b.broken
            assert time.monotonic() - t0 < WAIT

        runner.run(scenario)

    def test_negative_as_the_stdlib(self, runner):
        def scenario():
            for mod in (threading, thredo):
                assert mod.Event().wait(-1) is False
                assert mod.Semaphore(0).acquire(timeout=-1) is False
                cond = mod.Condition()
                with cond:
                    assert cond.wait(-1) is False
                    assert cond.wait_for(lambda: 0, -1) == 0
                with pytest.raises(ValueError, match="positive|non-negative"):
                    mod.Lock().acquire(timeout=-2)

        runner.run(scenario)

    @pytest.mark.parametrize("huge", HUGE, ids=["1e300", "inf", "2*TIMEOUT_MAX"])
    def test_huge_timeouts_never_overflow(self, runner, huge):
        """Where threading raises OverflowError from inside the wait, thredo waits."""

        def scenario():
            with pytest.raises(OverflowError):
                threading.Event().wait(huge)  # the stdlib, for the record

            ev = thredo.Event()
            t = runner.spawn(ev.wait, huge)
            wait_until(lambda: ev.statistics().waiting == 1, "the event waiter")
            ev.set()
            assert t.join() is True

            cond = thredo.Condition()
            flag = []

            def cond_wait() -> Any:
                with cond:
                    return cond.wait(huge), cond.wait_for(lambda: flag, huge)

            t = runner.spawn(cond_wait)
            wait_until(lambda: cond.statistics().waiting == 1, "the condition waiter")
            with cond:
                cond.notify()
            wait_until(lambda: cond.statistics().waiting == 1, "the wait_for waiter")
            with cond:
                flag.append(1)
                cond.notify()
            assert t.join() == (True, [1])

            sem = thredo.Semaphore(0)
            t = runner.spawn(sem.acquire, True, huge)
            wait_until(lambda: sem.statistics().waiting == 1, "the semaphore waiter")
            sem.release()
            assert t.join() is True

            b = thredo.Barrier(2, timeout=huge)
            t = runner.spawn(b.wait)
            wait_until(lambda: b.n_waiting == 1, "the barrier waiter")
            assert sorted([b.wait(huge), t.join()]) == [0, 1]

        runner.run(scenario)

    def test_lock_keeps_the_argument_check_of_thread_lock(self, runner, locktype):
        """Lock/RLock.acquire reject what _thread.lock rejects, with the same errors."""

        def scenario():
            for make in (locktype, threading.Lock if locktype is thredo.Lock else threading.RLock):
                for bad in HUGE:
                    with pytest.raises(OverflowError):
                        make().acquire(timeout=bad)
                with pytest.raises(ValueError, match="non-blocking"):
                    make().acquire(False, 1)

        runner.run(scenario)


BLOCKING_CALLS = [
    "Lock.acquire",
    "with Lock",
    "RLock.acquire",
    "Semaphore.acquire",
    "Condition.wait",
    "Condition.wait_for",
    "Event.wait",
    "Barrier.wait",
]


def blocking_call(name: str) -> tuple[Callable[[], Any], Callable[[], Any], Any]:
    """(a call that blocks until ``unblock()``, unblock, what the call returns).

    ``unblock()`` returns a PlainThread to join, or None.
    """
    if name in ("Lock.acquire", "with Lock", "RLock.acquire"):
        lock = thredo.RLock() if name.startswith("RLock") else thredo.Lock()
        holder, go = held_by_plain_thread(lock)

        def release() -> PlainThread:
            go.set()
            return holder

        if name == "with Lock":
            return lambda: _with(lock), release, "inside"
        return lock.acquire, release, True
    if name == "Semaphore.acquire":
        sem = thredo.Semaphore(0)
        return sem.acquire, sem.release, True
    if name.startswith("Condition"):
        cond = thredo.Condition()
        flag: list[int] = []

        def notify() -> None:
            with cond:
                flag.append(1)
                cond.notify()

        if name == "Condition.wait":
            return lambda: _cond_call(cond, cond.wait), notify, True
        return lambda: _cond_call(cond, lambda: cond.wait_for(lambda: flag)), notify, [1]
    if name == "Event.wait":
        ev = thredo.Event()
        return ev.wait, ev.set, True
    b = thredo.Barrier(2)
    return b.wait, lambda: PlainThread(b.wait), 0


def _cond_call(cond: thredo.Condition, call: Callable[[], Any]) -> Any:
    with cond:
        return call()


# What Thread.blocked_on.call says for each (wait_for waits in Condition.wait).
BLOCKED_IN = {"with Lock": "Lock.acquire", "Condition.wait_for": "Condition.wait"}


@pytest.mark.parametrize("seconds", [None, *HUGE], ids=["None", "1e300", "inf", "2*TIMEOUT_MAX"])
@pytest.mark.parametrize("name", BLOCKING_CALLS)
def test_blocking_calls_under_an_infinite_timeout_after(name, seconds):
    """timeout_after(None) (and huge deadlines) around a call that really waits: no overflow."""

    def main():
        call, unblock, returns = blocking_call(name)

        def body() -> Any:
            with thredo.timeout_after(seconds):
                return call()

        t = thredo.spawn(body)
        wait_until(lambda: t.blocked_on is not None, f"{name} to block")
        blocked = t.blocked_on
        assert blocked is not None
        assert blocked.call == BLOCKED_IN.get(name, name)
        helper = unblock()
        assert t.join() == returns
        if helper is not None:
            helper.join()

    thredo.run(main)


# -- statistics() ------------------------------------------------------------------------


def _blocked_in(t: thredo.Thread, call: str, obj: Any) -> None:
    """Wait until ``t`` is blocked in ``call`` on ``obj`` (Thread.blocked_on)."""

    def blocked() -> bool:
        b = t.blocked_on
        return b is not None and b.call == call and b.obj is obj

    wait_until(blocked, f"{t.name} to block in {call}")


class TestStatistics:
    def test_lock(self):
        def main():
            lock = thredo.Lock()
            assert lock.statistics() == LockStatistics(locked=False, owner=None, waiting=0)
            lock.acquire()
            t = thredo.spawn(lock.acquire)
            _blocked_in(t, "Lock.acquire", lock)
            assert lock.statistics() == LockStatistics(locked=True, owner=None, waiting=1)
            lock.release()
            assert t.join() is True
            assert lock.statistics() == LockStatistics(locked=True, owner=None, waiting=0)
            lock.release()

        thredo.run(main)

    def test_rlock(self):
        def main():
            lock = thredo.RLock()
            assert lock.statistics() == LockStatistics(locked=False, owner=None, waiting=0)
            with lock, lock:
                t = thredo.spawn(lock.acquire)
                _blocked_in(t, "RLock.acquire", lock)
                stats = lock.statistics()
                assert stats == LockStatistics(locked=True, owner=threading.get_ident(), waiting=1)
                assert lock._recursion_count() == 2
                t.cancel()
            assert lock.statistics() == LockStatistics(locked=False, owner=None, waiting=0)

        thredo.run(main)

    @pytest.mark.parametrize("lockkind", ["RLock", "Lock", "threading.Lock", "raw"])
    def test_condition(self, lockkind):
        def main():
            lock = {
                "RLock": thredo.RLock,
                "Lock": thredo.Lock,
                "threading.Lock": threading.Lock,
                "raw": _thread.allocate_lock,
            }[lockkind]()
            cond = thredo.Condition(lock)

            def waiter() -> bool:
                with cond:
                    return cond.wait()

            t = thredo.spawn(waiter)
            _blocked_in(t, "Condition.wait", cond)
            stats = cond.statistics()
            assert stats.waiting == 1
            if lockkind in ("RLock", "Lock"):
                assert stats.lock == lock.statistics()
                assert stats.lock is not None
                assert not stats.lock.locked
            else:
                assert stats.lock is None
            with cond:
                cond.notify()
            assert t.join() is True
            assert cond.statistics().waiting == 0

        thredo.run(main)

    @pytest.mark.parametrize("semtype", [thredo.Semaphore, thredo.BoundedSemaphore])
    def test_semaphore(self, semtype):
        def main():
            sem = semtype(2)
            bound = 2 if semtype is thredo.BoundedSemaphore else None
            assert sem.statistics() == SemaphoreStatistics(value=2, max_value=bound, waiting=0)
            sem.acquire()
            sem.acquire()
            t = thredo.spawn(sem.acquire)
            _blocked_in(t, "Semaphore.acquire", sem)
            assert sem.statistics() == SemaphoreStatistics(value=0, max_value=bound, waiting=1)
            sem.release(2)
            t.join()
            assert sem.statistics() == SemaphoreStatistics(value=1, max_value=bound, waiting=0)

        thredo.run(main)

    def test_event(self):
        def main():
            ev = thredo.Event()
            t = thredo.spawn(ev.wait)
            _blocked_in(t, "Event.wait", ev)
            assert ev.statistics() == EventStatistics(is_set=False, waiting=1)
            ev.set()
            t.join()
            assert ev.statistics() == EventStatistics(is_set=True, waiting=0)

        thredo.run(main)

    def test_barrier(self):
        def main():
            b = thredo.Barrier(3)
            assert b.statistics() == BarrierStatistics(
                parties=3, n_waiting=0, broken=False, waiting=0
            )
            threads = [thredo.spawn(b.wait) for _ in range(2)]
            for t in threads:
                _blocked_in(t, "Barrier.wait", b)
            assert b.statistics() == BarrierStatistics(
                parties=3, n_waiting=2, broken=False, waiting=2
            )
            threads[0].cancel()
            threads[1].wait()
            assert b.statistics() == BarrierStatistics(
                parties=3, n_waiting=0, broken=True, waiting=0
            )

        thredo.run(main)

    def test_plain_threads_are_counted_too(self):
        lock = thredo.Lock()
        lock.acquire()
        t = PlainThread(lock.acquire)
        wait_until(lambda: lock.statistics().waiting == 1, "the plain waiter")
        lock.release()
        assert t.join() is True
        lock.release()

    def test_frozen(self):
        stats = thredo.Lock().statistics()
        with pytest.raises(dataclasses.FrozenInstanceError):
            stats.locked = True  # type: ignore[misc]
        assert "waiting=0" in repr(stats)


# -- curio's names (the original thredo's code uses them) and stdlib private methods ----


class TestExtras:
    def test_semaphore_value_and_locked(self, semtype):
        sem = semtype(2)
        assert sem.value == 2
        assert not sem.locked()
        sem.acquire()
        sem.acquire()
        assert sem.value == 0
        assert sem.locked()
        sem.release()
        assert sem.value == 1

    @pytest.mark.parametrize(
        "make",
        [None, thredo.Lock, thredo.RLock, threading.Lock, threading.RLock],
        ids=["default", "Lock", "RLock", "threading.Lock", "threading.RLock"],
    )
    def test_condition_locked(self, make):
        cond = thredo.Condition(None if make is None else make())
        assert not cond.locked()
        with cond:
            assert cond.locked()
            # ... also as another thread sees it
            assert PlainThread(cond.locked).join() is True
        assert not cond.locked()
        assert PlainThread(cond.locked).join() is False

    def test_original_thredo_semaphore_test(self):
        """The original thredo's tests/test_sync.py::test_semaphore, unchanged but for names."""
        lock = thredo.Semaphore()
        result = []

        def child():
            with lock:
                result.append("child")

        def main():
            lock.acquire()
            result.append(lock.value)
            try:
                t = thredo.spawn(child)
                result.append("parent")
            finally:
                lock.release()
            t.join()

        thredo.run(main)
        assert result == [0, "parent", "child"]

    def test_original_thredo_condition_test(self):
        """The original thredo's tests/test_sync.py::test_condition."""
        lock = thredo.Condition()
        result = []

        def child():
            with lock:
                result.append("child")

        def main():
            lock.acquire()
            if lock.locked():
                result.append("locked")
            try:
                t = thredo.spawn(child)
                result.append("parent")
            finally:
                lock.release()
            t.join()

        thredo.run(main)
        assert result == ["locked", "parent", "child"]

    def test_rlock_private_methods_as_the_stdlibs(self, runner):
        """The private methods stdlib code calls on an RLock, side by side with threading's."""

        def scenario():
            for lock in (threading.RLock(), thredo.RLock()):
                assert not lock._is_owned()
                with pytest.raises(RuntimeError):
                    lock._release_save()
                lock.acquire()
                lock.acquire()
                assert lock._is_owned()
                if hasattr(lock, "_recursion_count"):  # threading's: 3.12+
                    assert lock._recursion_count() == 2
                    assert PlainThread(lock._recursion_count).join() == 0
                state = lock._release_save()
                assert not lock._is_owned()
                # released for real: another thread can take it (and gives it back)
                assert PlainThread(_take_and_give_back, lock).join() is True
                lock._acquire_restore(state)
                assert lock._is_owned()
                lock.release()
                lock.release()
                assert not lock._is_owned()

        runner.run(scenario)

    def test_rlock_owned_by_another_thread_cannot_be_released(self, runner):
        def scenario():
            for lock in (threading.RLock(), thredo.RLock()):
                holder, go = held_by_plain_thread(lock)
                assert not lock._is_owned()
                with pytest.raises(RuntimeError):
                    lock.release()
                go.set()
                holder.join()

        runner.run(scenario)

    def test_threading_condition_over_a_thredo_rlock(self, runner):
        """threading.Condition drives a thredo RLock through those private methods."""

        def scenario():
            lock = thredo.RLock()
            cond = threading.Condition(lock)
            ready = []

            def waiter() -> bool:
                with cond, lock:  # twice: _release_save must release every level
                    return cond.wait_for(lambda: ready, WAIT)

            t = runner.spawn(waiter)
            wait_until(lambda: len(cond._waiters) == 1, "the waiter")  # type: ignore[attr-defined]
            with cond:
                ready.append(1)
                cond.notify()
            assert t.join() == [1]
            assert not lock.locked()

        runner.run(scenario)


def _take_and_give_back(lock: Any) -> bool:
    got = lock.acquire(False)
    if got:
        lock.release()
    return got


# -- docstrings: help() says how each differs from its stdlib namesake ------------------

SYNC_CLASSES = [
    thredo.Lock,
    thredo.RLock,
    thredo.Condition,
    thredo.Semaphore,
    thredo.BoundedSemaphore,
    thredo.Event,
    thredo.Barrier,
]
POINT_METHODS = {"acquire", "wait", "wait_for"}


@pytest.mark.parametrize("cls", SYNC_CLASSES, ids=lambda c: c.__name__)
def test_public_api_is_documented(cls):
    assert cls.__doc__
    assert "threading." in cls.__doc__
    names = [n for n in dir(cls) if not n.startswith("_") or n in ("__enter__", "__exit__")]
    for name in names:
        doc = inspect.getdoc(getattr(cls, name))
        assert doc, f"{cls.__name__}.{name} has no docstring"
        if name in POINT_METHODS:
            assert "cancel" in doc, f"{cls.__name__}.{name} does not say it is cancellable"
    if cls is thredo.Condition:
        assert inspect.getdoc(thredo.Condition().acquire)  # the lock's


@pytest.mark.parametrize(
    "cls",
    [LockStatistics, ConditionStatistics, SemaphoreStatistics, EventStatistics, BarrierStatistics],
    ids=lambda c: c.__name__,
)
def test_statistics_classes_are_documented(cls):
    doc = inspect.getdoc(cls)
    assert doc
    for field in dataclasses.fields(cls):
        assert f"{field.name}:" in doc, f"{cls.__name__}.{field.name} is not described"
