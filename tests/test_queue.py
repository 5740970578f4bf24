"""Queue, LifoQueue, PriorityQueue, SimpleQueue, and Queue.shutdown().

The conformance classes port the scenarios of CPython's
``Lib/test/test_queue.py`` (3.13, shutdown included).  Each runs twice
through the ``runner`` fixture: in plain ``threading`` threads, where thredo's
queues must behave exactly like the stdlib's, and in thredo threads under
``thredo.run``.  Nothing is ordered by sleeping: a thread is known to be
blocked when the queue shows it parked (``not_empty._waiters`` and friends),
polled with a generous upper bound.

Then: producers and consumers of both kinds on one queue, queues surviving two
``run()`` calls, FIFO service of waiters, cancellation and ``timeout_after``
of every blocking call (no item lost or added), and N producers / M consumers
under random cancellations and timeouts with every item accounted for.
"""

from __future__ import annotations

import collections
import dataclasses
import gc
import inspect
import pydoc
import queue
import random
import sys
import threading
import time
import typing
import weakref
from collections.abc import Callable
from threading import TIMEOUT_MAX
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
from thredo import ThreadCancelled, ThreadTimeout
from thredo._queue import QueueStatistics, SimpleQueueStatistics

QUEUE_SIZE = 5
ShutDown = thredo.QueueShutDown


# -- helpers -------------------------------------------------------------------


def getters(q: Any) -> int:
    """Threads parked in get() (thredo or stdlib Queue; thredo SimpleQueue)."""
    if isinstance(q, thredo.SimpleQueue):
        return len(q._getters)
    return len(q.not_empty._waiters)


def putters(q: Any) -> int:
    return len(q.not_full._waiters)


def joiners(q: Any) -> int:
    return len(q.all_tasks_done._waiters)


def qfull(q: Any) -> bool:
    return q.maxsize > 0 and q.qsize() == q.maxsize


def drain(q: Any) -> list[Any]:
    items = []
    while True:
        try:
            items.append(q.get_nowait())
        except queue.Empty:
            return items


QUEUE_TYPES = [thredo.Queue, thredo.LifoQueue, thredo.PriorityQueue]


@pytest.fixture(params=QUEUE_TYPES, ids=lambda c: c.__name__)
def qtype(request: pytest.FixtureRequest) -> type:
    return request.param


def victim(how: str, block: Callable[[], Any]):
    """A thread body that blocks in ``block()`` until cancelled or timed out."""

    def body() -> Any:
        try:
            if how == "timeout":
                with thredo.timeout_after(SHORT):
                    block()
            else:
                block()
        except (ThreadCancelled, ThreadTimeout) as e:
            return type(e)
        return "returned normally"

    return body


# -- the stdlib's BlockingTestMixin, without the sleep ---------------------------------


def spawn_trigger(runner, block_func, trigger_func, trigger_args, blocked):
    """A thread that calls ``trigger_func`` once ``blocked()``; it sets the event first."""
    started = threading.Event()

    def trigger():
        wait_until(blocked, f"{block_func.__name__} to block")
        started.set()
        trigger_func(*trigger_args)

    return runner.spawn(trigger), started


def do_blocking_test(runner, block_func, block_args, trigger_func, trigger_args, blocked):
    """Call ``block_func`` here; a helper calls ``trigger_func`` once ``blocked()``."""
    t, started = spawn_trigger(runner, block_func, trigger_func, trigger_args, blocked)
    try:
        result = block_func(*block_args)
        assert started.is_set(), f"{block_func.__name__} appeared not to block"
        return result
    finally:
        t.join()


def do_exceptional_blocking_test(
    runner, block_func, block_args, trigger_func, trigger_args, blocked, exc_type
):
    t, started = spawn_trigger(runner, block_func, trigger_func, trigger_args, blocked)
    try:
        with pytest.raises(exc_type):
            block_func(*block_args)
    finally:
        t.join()
    assert started.is_set(), "trigger thread ended but event never set"


def getters_served_in_arrival_order(runner, make):
    """Five getters block one after the other on ``make()``; five puts serve them in order."""
    q = make()
    got = queue.SimpleQueue()  # a stdlib queue to report to

    def getter(i):
        got.put((i, q.get()))

    threads = []
    for i in range(5):
        threads.append(runner.spawn(getter, i))
        wait_until(lambda i=i: getters(q) == i + 1, "the next getter")
    order = []
    for item in range(5):
        q.put(item)
        order.append(got.get(timeout=WAIT))
    for t in threads:
        t.join()
    assert order == [(i, i) for i in range(5)]


# -- conformance: test_queue.BaseQueueTestMixin --------------------------------------


class TestQueueConformance:
    def basic_queue_test(self, runner, q):
        assert not q.qsize()
        assert q.empty()
        assert not q.full()
        q.put(111)
        q.put(333)
        q.put(222)
        target_order = {
            "Queue": [111, 333, 222],
            "LifoQueue": [222, 333, 111],
            "PriorityQueue": [111, 222, 333],
        }
        assert [q.get(), q.get(), q.get()] == target_order[type(q).__name__]
        for i in range(QUEUE_SIZE - 1):
            q.put(i)
            assert q.qsize()
        assert not qfull(q)
        last = 2 * QUEUE_SIZE
        full = 3 * 2 * QUEUE_SIZE
        q.put(last)
        assert qfull(q)
        assert not q.empty()
        assert q.full()
        with pytest.raises(queue.Full):
            q.put(full, block=0)
        with pytest.raises(queue.Full):
            q.put(full, timeout=0.01)
        # a blocking put, unblocked by a get
        blocked_putter = lambda: putters(q) == 1  # noqa: E731
        do_blocking_test(runner, q.put, (full,), q.get, (), blocked_putter)
        do_blocking_test(runner, q.put, (full, True, 10), q.get, (), blocked_putter)
        for _ in range(QUEUE_SIZE):
            q.get()
        assert not q.qsize()
        with pytest.raises(queue.Empty):
            q.get(block=0)
        with pytest.raises(queue.Empty):
            q.get(timeout=0.01)
        # a blocking get, unblocked by a put
        blocked_getter = lambda: getters(q) == 1  # noqa: E731
        assert do_blocking_test(runner, q.get, (), q.put, ("empty",), blocked_getter) == "empty"
        assert (
            do_blocking_test(runner, q.get, (True, 10), q.put, ("empty",), blocked_getter)
            == "empty"
        )

    def test_basic(self, runner, qtype):
        def scenario():
            q = qtype(QUEUE_SIZE)
            self.basic_queue_test(runner, q)
            self.basic_queue_test(runner, q)  # the same instance again

        runner.run(scenario)

    def queue_join_test(self, runner, q):
        cum = [0]
        cumlock = threading.Lock()

        def worker():
            while True:
                x = q.get()
                if x < 0:
                    q.task_done()
                    return
                with cumlock:
                    cum[0] += x
                q.task_done()

        threads = [runner.spawn(worker) for _ in range(2)]
        for i in range(100):
            q.put(i)
        q.join()
        assert cum[0] == sum(range(100)), "q.join() did not block until all tasks were done"
        for _ in range(2):
            q.put(-1)  # the workers exit
        q.join()  # join twice
        for t in threads:
            t.join()

    def test_queue_task_done(self, runner, qtype):
        def scenario():
            with pytest.raises(ValueError, match=r"task_done\(\) called too many times"):
                qtype().task_done()

        runner.run(scenario)

    def test_queue_join(self, runner, qtype):
        def scenario():
            q = qtype()
            self.queue_join_test(runner, q)
            self.queue_join_test(runner, q)
            with pytest.raises(ValueError, match=r"task_done\(\) called too many times"):
                q.task_done()

        runner.run(scenario)

    def test_negative_timeout_raises_when_it_would_block(self, runner, qtype):
        def scenario():
            q = qtype(1)
            with pytest.raises(ValueError, match="non-negative"):
                q.get(timeout=-1)  # empty
            q.put(1)
            with pytest.raises(ValueError, match="non-negative"):
                q.put(2, timeout=-1)  # full
            assert drain(q) == [1]

        runner.run(scenario)

    def test_negative_timeout_raises_exception(self, runner, qtype):
        """CPython's own test: the queue is bounded, empty and not full."""

        def scenario():
            q = qtype(QUEUE_SIZE)
            with pytest.raises(ValueError, match="non-negative"):
                q.put(1, timeout=-1)
            with pytest.raises(ValueError, match="non-negative"):
                q.get(1, timeout=-1)
            q.put(1)
            with pytest.raises(ValueError, match="non-negative"):
                q.get(timeout=-1)  # an item is there: still refused, as in queue.Queue
            assert q.qsize() == 1

        runner.run(scenario)

    def test_nowait(self, runner, qtype):
        def scenario():
            q = qtype(QUEUE_SIZE)
            for _ in range(QUEUE_SIZE):
                q.put_nowait(1)
            with pytest.raises(queue.Full):
                q.put_nowait(1)
            for _ in range(QUEUE_SIZE):
                q.get_nowait()
            with pytest.raises(queue.Empty):
                q.get_nowait()

        runner.run(scenario)

    def test_shrinking_queue(self, runner, qtype):
        def scenario():
            q = qtype(3)
            q.put(1)
            q.put(2)
            q.put(3)
            with pytest.raises(queue.Full):
                q.put_nowait(4)
            assert q.qsize() == 3
            q.maxsize = 2  # shrink it
            with pytest.raises(queue.Full):
                q.put_nowait(4)

        runner.run(scenario)

    def test_unbounded(self, runner, qtype):
        def scenario():
            for maxsize in (0, -1):
                q = qtype(maxsize)
                for i in range(100):
                    q.put_nowait(i)
                assert not q.full()
                assert q.qsize() == 100
                assert sorted(drain(q)) == list(range(100))

        runner.run(scenario)

    def test_getters_served_in_arrival_order(self, runner, qtype):
        runner.run(getters_served_in_arrival_order, runner, qtype)

    def test_putters_served_in_arrival_order(self, runner, qtype):
        def scenario():
            q = qtype(1)
            q.put(-1)
            threads = []
            for i in range(5):
                threads.append(runner.spawn(q.put, i))
                wait_until(lambda i=i: putters(q) == i + 1, "the next putter")
            got = []
            for _ in range(6):
                got.append(q.get(timeout=WAIT))
                wait_until(lambda: q.qsize() == 1 or len(got) == 6, "a putter to put")
            for t in threads:
                t.join()
            assert got == [-1, 0, 1, 2, 3, 4]

        runner.run(scenario)


class TestShutdownConformance:
    """test_queue's shutdown tests, on every Python (3.13 semantics)."""

    def test_exception_class(self):
        assert issubclass(ShutDown, Exception)
        if sys.version_info >= (3, 13):
            assert ShutDown is queue.ShutDown
        assert thredo.QueueShutDown is getattr(queue, "ShutDown", thredo.QueueShutDown)

    def test_shutdown_empty(self, runner, qtype):
        def scenario():
            q = qtype()
            q.shutdown()
            with pytest.raises(ShutDown):
                q.put("data")
            with pytest.raises(ShutDown):
                q.get()

        runner.run(scenario)

    def test_shutdown_nonempty(self, runner, qtype):
        def scenario():
            q = qtype()
            q.put("data")
            q.shutdown()
            assert q.get() == "data"
            with pytest.raises(ShutDown):
                q.get()

        runner.run(scenario)

    def test_shutdown_immediate(self, runner, qtype):
        def scenario():
            q = qtype()
            q.put("data")
            q.shutdown(immediate=True)
            with pytest.raises(ShutDown):
                q.get()

        runner.run(scenario)

    def test_shutdown_allowed_transitions(self, runner, qtype):
        def scenario():
            q = qtype()
            assert not q.is_shutdown
            q.shutdown()
            assert q.is_shutdown
            q.shutdown(immediate=True)
            assert q.is_shutdown
            q.shutdown(immediate=False)

        runner.run(scenario)

    @pytest.mark.parametrize("immediate", [False, True])
    def test_shutdown_all_methods_in_one_thread(self, runner, qtype, immediate):
        def scenario():
            q = qtype(2)
            q.put("L")
            q.put_nowait("O")
            q.shutdown(immediate)
            with pytest.raises(ShutDown):
                q.put("E")
            with pytest.raises(ShutDown):
                q.put_nowait("W")
            if immediate:
                with pytest.raises(ShutDown):
                    q.get()
                with pytest.raises(ShutDown):
                    q.get_nowait()
                with pytest.raises(ValueError, match=r"task_done\(\) called too many times"):
                    q.task_done()
                q.join()
            else:
                assert q.get() in "LO"
                q.task_done()
                assert q.get() in "LO"
                q.task_done()
                q.join()
                with pytest.raises(ShutDown):
                    q.get()
                with pytest.raises(ShutDown):
                    q.get_nowait()
                with pytest.raises(ShutDown):
                    q.get(True, 1.0)

        runner.run(scenario)

    @pytest.mark.parametrize("immediate", [False, True])
    def test_shutdown_all_methods_in_many_threads(self, runner, qtype, immediate):
        def scenario():
            q = qtype()
            res_puts, res_gets, res_shutdown = [], [], []
            write_threads, read_threads, join_threads = 4, 6, 2
            nb_msgs = 1024 * 4
            nb_msgs_w = nb_msgs // write_threads
            when_exec_shutdown = nb_msgs_w // 2
            nparties = write_threads + read_threads + (join_threads if immediate else 0)
            barrier_start = thredo.Barrier(nparties, timeout=WAIT)
            ev_exec_shutdown = threading.Event()

            def write_msg(n):
                for i in range(0, when_exec_shutdown // 2):
                    q.put((i, "LOYD"))
                barrier_start.wait()
                for i in range(when_exec_shutdown // 2, n):
                    try:
                        q.put((i, "YDLO"))
                    except ShutDown:
                        res_puts.append(False)
                        break
                    if i == when_exec_shutdown and not ev_exec_shutdown.is_set():
                        ev_exec_shutdown.set()
                        res_puts.append(True)

            def read_msg():
                q.get(True)
                q.task_done()
                barrier_start.wait()
                while True:
                    try:
                        q.get(False)
                        q.task_done()
                    except ShutDown:
                        res_gets.append(True)
                        break
                    except queue.Empty:
                        pass

            def do_shutdown():
                assert ev_exec_shutdown.wait(WAIT)
                q.shutdown(immediate)
                res_shutdown.append(q.qsize() == 0)

            def do_join():
                barrier_start.wait()
                q.join()

            threads = [runner.spawn(write_msg, nb_msgs_w) for _ in range(write_threads)]
            threads += [runner.spawn(read_msg) for _ in range(read_threads)]
            threads.append(runner.spawn(do_shutdown))
            if immediate:
                threads += [runner.spawn(do_join) for _ in range(join_threads)]
            for t in threads:
                t.join()
            assert True in res_puts
            assert res_gets.count(True) == read_threads
            if immediate:
                assert res_shutdown == [True]
                assert q.empty()

        runner.run(scenario)

    @pytest.mark.parametrize("immediate", [False, True])
    def test_shutdown_get(self, runner, qtype, immediate):
        def scenario():
            q = qtype(2)
            q.put("Y")
            q.put("D")
            go = threading.Event()

            def get():
                assert go.wait(WAIT)
                try:
                    q.get()
                    return True
                except ShutDown:
                    return False

            threads = [runner.spawn(get) for _ in range(2 if immediate else 3)]
            q.shutdown(immediate)
            go.set()
            results = [t.join() for t in threads]
            if immediate:
                assert results == [False, False]
            else:  # one of them finds it empty and shut down
                assert sorted(results) == [False, True, True]

        runner.run(scenario)

    @pytest.mark.parametrize("immediate", [False, True])
    def test_shutdown_put(self, runner, qtype, immediate):
        def scenario():
            q = qtype(2)
            q.put("Y")
            q.put("D")
            go = threading.Event()

            def put(msg):
                assert go.wait(WAIT)
                with pytest.raises(ShutDown):
                    q.put(msg)

            threads = [runner.spawn(put, "E"), runner.spawn(put, "W")]
            q.shutdown(immediate)
            go.set()
            for t in threads:
                t.join()

        runner.run(scenario)

    @pytest.mark.parametrize("immediate", [False, True])
    def test_shutdown_join(self, runner, qtype, immediate):
        def scenario():
            q = qtype()
            q.put("Y")
            go = threading.Event()
            threads = [runner.spawn(q.join) for _ in range(2)]
            wait_until(lambda: joiners(q) == 2, "2 joiners")

            def get_task_done():
                assert go.wait(WAIT)
                q.get()
                q.task_done()

            if not immediate:
                threads.append(runner.spawn(get_task_done))
            q.shutdown(immediate)
            go.set()
            for t in threads:
                t.join()
            assert q.unfinished_tasks == 0

        runner.run(scenario)

    @pytest.mark.parametrize("immediate", [False, True])
    def test_shutdown_put_join(self, runner, qtype, immediate):
        def scenario():
            q = qtype(2)
            q.put("Y")
            go = threading.Event()

            def put_shutdown():
                assert go.wait(WAIT)
                with pytest.raises(ShutDown):
                    q.put("E")

            threads = [runner.spawn(put_shutdown), runner.spawn(q.join)]
            assert q.unfinished_tasks == 1
            q.shutdown(immediate)
            go.set()
            if immediate:
                with pytest.raises(ShutDown):
                    q.get_nowait()
            else:
                assert q.get() == "Y"
                q.task_done()
            for t in threads:
                t.join()

        runner.run(scenario)

    def test_shutdown_get_task_done_join(self, runner, qtype):
        def scenario():
            q = qtype(2)
            q.put("Y")
            q.put("D")
            assert q.unfinished_tasks == q.qsize()
            go = threading.Event()

            def get_task_done():
                assert go.wait(WAIT)
                msg = q.get()
                q.task_done()
                return msg

            threads = [runner.spawn(get_task_done) for _ in range(2)]
            joins = [runner.spawn(q.join) for _ in range(2)]
            go.set()
            q.shutdown(False)
            assert sorted(t.join() for t in threads) == ["D", "Y"]
            for t in joins:
                t.join()

        runner.run(scenario)

    def test_shutdown_wakes_waiting_getters_and_putters(self, runner, qtype):
        def scenario():
            empty, full = qtype(), qtype(1)
            full.put("x")

            def get():
                with pytest.raises(ShutDown):
                    empty.get()
                return "getter woke"

            def put():
                with pytest.raises(ShutDown):
                    full.put("y")
                return "putter woke"

            gets = [runner.spawn(get) for _ in range(3)]
            puts = [runner.spawn(put) for _ in range(3)]
            wait_until(lambda: getters(empty) == 3 and putters(full) == 3, "3 getters, 3 putters")
            empty.shutdown()
            full.shutdown()
            assert [t.join() for t in gets] == ["getter woke"] * 3
            assert [t.join() for t in puts] == ["putter woke"] * 3
            assert full.get() == "x"  # shutdown(immediate=False) keeps the items
            with pytest.raises(ShutDown):
                full.get()

        runner.run(scenario)

    def test_shutdown_pending_get_with_timeout(self, runner, qtype):
        def scenario():
            q = qtype()

            def get():
                with pytest.raises(ShutDown):
                    q.get(timeout=WAIT)

            t = runner.spawn(get)
            wait_until(lambda: getters(q) == 1, "the getter")
            q.shutdown(immediate=False)
            t.join()

        runner.run(scenario)


# -- conformance: FailingQueueTest and subclass hooks -----------------------------------


class FailingQueueException(Exception):
    pass


class FailingQueue(thredo.Queue):
    def __init__(self, *args):
        self.fail_next_put = False
        self.fail_next_get = False
        thredo.Queue.__init__(self, *args)

    def _put(self, item):
        if self.fail_next_put:
            self.fail_next_put = False
            raise FailingQueueException("You Lose")
        return thredo.Queue._put(self, item)

    def _get(self):
        if self.fail_next_get:
            self.fail_next_get = False
            raise FailingQueueException("You Lose")
        return thredo.Queue._get(self)


class TestSubclassHooks:
    def failing_queue_test(self, runner, q):
        assert not q.qsize()
        blocked_putter = lambda: putters(q) == 1  # noqa: E731
        blocked_getter = lambda: getters(q) == 1  # noqa: E731
        for i in range(QUEUE_SIZE - 1):
            q.put(i)
        q.fail_next_put = True
        with pytest.raises(FailingQueueException):
            q.put("oops", block=0)
        q.fail_next_put = True
        with pytest.raises(FailingQueueException):
            q.put("oops", timeout=0.1)
        q.put("last")
        assert qfull(q)
        # a failing blocking put
        q.fail_next_put = True
        with pytest.raises(FailingQueueException):
            do_blocking_test(runner, q.put, ("full",), q.get, (), blocked_putter)
        # the queue isn't damaged: put failed, get succeeded - re-add
        q.put("last")
        q.fail_next_put = True
        do_exceptional_blocking_test(
            runner, q.put, ("full", True, 10), q.get, (), blocked_putter, FailingQueueException
        )
        q.put("last")
        assert qfull(q)
        q.get()
        assert not qfull(q)
        q.put("last")
        assert qfull(q)
        do_blocking_test(runner, q.put, ("full",), q.get, (), blocked_putter)
        for _ in range(QUEUE_SIZE):
            q.get()
        assert not q.qsize()
        q.put("first")
        q.fail_next_get = True
        with pytest.raises(FailingQueueException):
            q.get()
        assert q.qsize()
        q.fail_next_get = True
        with pytest.raises(FailingQueueException):
            q.get(timeout=0.1)
        assert q.qsize()
        q.get()
        assert not q.qsize()
        q.fail_next_get = True
        do_exceptional_blocking_test(
            runner, q.get, (), q.put, ("empty",), blocked_getter, FailingQueueException
        )
        # put succeeded, but get failed
        assert q.qsize()
        q.get()
        assert not q.qsize()

    def test_failing_queue(self, runner):
        def scenario():
            q = FailingQueue(QUEUE_SIZE)
            self.failing_queue_test(runner, q)
            self.failing_queue_test(runner, q)
            assert putters(q) == getters(q) == 0

        runner.run(scenario)

    def test_hooks_are_used(self, runner):
        class Recording(thredo.Queue):
            def _init(self, maxsize):
                self.calls = [("_init", maxsize)]
                self.items = []

            def _qsize(self):
                return len(self.items)

            def _put(self, item):
                self.calls.append(("_put", item))
                self.items.append(item)

            def _get(self):
                item = min(self.items)  # smallest first
                self.items.remove(item)
                self.calls.append(("_get", item))
                return item

        def scenario():
            q = Recording(2)
            assert q.calls == [("_init", 2)]
            assert q.empty()
            assert q.qsize() == 0
            q.put(5)
            q.put(3)
            assert q.full()
            assert q.qsize() == 2
            assert not hasattr(q, "queue")  # the stdlib's storage attribute isn't assumed
            t = runner.spawn(q.put, 4)  # blocks: full per _qsize
            wait_until(lambda: putters(q) == 1, "the putter")
            assert q.get() == 3
            t.join()
            assert [q.get(), q.get()] == [4, 5]
            t = runner.spawn(q.get)
            wait_until(lambda: getters(q) == 1, "the getter")
            q.put(9)
            assert t.join() == 9
            assert [c for c in q.calls if c[0] == "_put"] == [("_put", x) for x in (5, 3, 4, 9)]
            assert [c for c in q.calls if c[0] == "_get"] == [("_get", x) for x in (3, 4, 5, 9)]

        runner.run(scenario)

    def test_subclass_waiting_on_the_conditions(self, runner):
        """Recipes that wait on not_empty/not_full directly, as with queue.Queue."""

        class Batching(thredo.Queue):
            def get_batch(self, n):
                with self.not_empty:
                    while self._qsize() < n:
                        self.not_empty.wait()
                    batch = [self._get() for _ in range(n)]
                    self.not_full.notify(n)
                    return batch

        def scenario():
            q = Batching()
            t = runner.spawn(q.get_batch, 3)
            wait_until(lambda: getters(q) == 1, "the batch getter")
            for i in range(3):
                q.put(i)
            assert t.join() == [0, 1, 2]
            assert q.empty()

        runner.run(scenario)

    def test_attributes(self, runner, qtype):
        def scenario():
            q = qtype(3)
            assert q.maxsize == 3
            assert q.unfinished_tasks == 0
            assert isinstance(q.not_empty, thredo.Condition)
            assert isinstance(q.not_full, thredo.Condition)
            assert isinstance(q.all_tasks_done, thredo.Condition)
            q.put(1)
            assert q.unfinished_tasks == 1
            with q.mutex:  # the one lock under all three conditions
                assert not q.not_empty.acquire(False)
            assert q.not_empty._is_owned() is False

        runner.run(scenario)


def test_exceptions_are_the_stdlibs():
    assert queue.Empty is thredo._queue.Empty
    assert queue.Full is thredo._queue.Full
    with pytest.raises(queue.Empty):
        thredo.Queue().get_nowait()
    with pytest.raises(queue.Full):
        _full().put_nowait(2)
    with pytest.raises(queue.Empty):
        thredo.SimpleQueue().get_nowait()


def _full() -> thredo.Queue:
    q = thredo.Queue(1)
    q.put(0)
    return q


def test_generic_alias():
    """Subscriptable at run time, as the stdlib's (typing.Generic: checked by mypy too)."""
    for cls in QUEUE_TYPES + [thredo.SimpleQueue]:
        alias = cls[int]
        assert typing.get_origin(alias) is cls
        assert typing.get_args(alias) == (int,)
        q = alias()
        assert type(q) is cls
        q.put(1)
        assert q.get() == 1
    assert issubclass(thredo.LifoQueue, thredo.Queue)


# -- conformance: test_queue.BaseSimpleQueueTest -------------------------------------


class TestSimpleQueueConformance:
    def test_basic(self, runner):
        def scenario():
            q = thredo.SimpleQueue()
            assert q.empty()
            assert q.qsize() == 0
            q.put(1)
            assert not q.empty()
            assert q.qsize() == 1
            q.put(2)
            q.put_nowait(3)
            q.put(4)
            assert q.qsize() == 4
            assert q.get() == 1
            assert q.qsize() == 3
            assert q.get_nowait() == 2
            assert q.get(block=False) == 3
            assert q.get(timeout=0.1) == 4
            assert q.empty()
            with pytest.raises(queue.Empty):
                q.get(block=False)
            with pytest.raises(queue.Empty):
                q.get(timeout=1e-3)
            with pytest.raises(queue.Empty):
                q.get_nowait()
            assert q.empty()
            assert q.qsize() == 0
            q.put(5, block=False, timeout=1)  # put never blocks: the arguments are ignored
            assert q.get(False) == 5

        runner.run(scenario)

    def test_negative_timeout_when_empty(self, runner):
        def scenario():
            with pytest.raises(ValueError, match="non-negative"):
                thredo.SimpleQueue().get(timeout=-1)

        runner.run(scenario)

    def test_negative_timeout_raises_exception(self, runner):
        def scenario():
            q = thredo.SimpleQueue()
            q.put(1)
            with pytest.raises(ValueError, match="non-negative"):
                q.get(timeout=-1)
            assert q.qsize() == 1

        runner.run(scenario)

    def test_blocking_get(self, runner):
        def scenario():
            q = thredo.SimpleQueue()
            assert (
                do_blocking_test(runner, q.get, (), q.put, ("x",), lambda: getters(q) == 1) == "x"
            )
            assert (
                do_blocking_test(runner, q.get, (True, 10), q.put, ("y",), lambda: getters(q) == 1)
                == "y"
            )
            t1 = time.monotonic()
            with pytest.raises(queue.Empty):
                q.get(timeout=SHORT)
            assert_duration(time.monotonic() - t1, SHORT)

        runner.run(scenario)

    def run_threads(self, runner, n_threads, q, inputs, consume):
        sentinel = None
        seq = list(reversed(inputs))
        rnd = random.Random(42)
        results = []

        def feed():
            while True:
                try:
                    val = seq.pop()
                except IndexError:
                    q.put(sentinel)
                    return
                q.put(val)
                if rnd.random() > 0.5:  # let the others run
                    if runner.kind == "thredo":
                        thredo.sleep(0)
                    else:
                        time.sleep(0)

        feeders = [runner.spawn(feed) for _ in range(n_threads)]
        consumers = [runner.spawn(consume, q, results, sentinel) for _ in range(n_threads)]
        for t in feeders + consumers:
            t.join()
        assert q.empty()
        assert q.qsize() == 0
        return results

    @staticmethod
    def consume(q, results, sentinel):
        while True:
            val = q.get()
            if val == sentinel:
                return
            results.append(val)

    @staticmethod
    def consume_nonblock(q, results, sentinel):
        while True:
            while True:
                try:
                    val = q.get(block=False)
                except queue.Empty:
                    time.sleep(1e-5)
                else:
                    break
            if val == sentinel:
                return
            results.append(val)

    @staticmethod
    def consume_timeout(q, results, sentinel):
        while True:
            while True:
                try:
                    val = q.get(timeout=1e-5)
                except queue.Empty:
                    pass
                else:
                    break
            if val == sentinel:
                return
            results.append(val)

    def test_order(self, runner):
        def scenario():
            inputs = list(range(100))
            results = self.run_threads(runner, 1, thredo.SimpleQueue(), inputs, self.consume)
            assert results == inputs  # one producer, one consumer: in order

        runner.run(scenario)

    @pytest.mark.parametrize("how", ["consume", "consume_nonblock", "consume_timeout"])
    def test_many_threads(self, runner, how):
        def scenario():
            inputs = list(range(2000))
            results = self.run_threads(runner, 10, thredo.SimpleQueue(), inputs, getattr(self, how))
            assert sorted(results) == inputs

        runner.run(scenario)

    def test_references(self, runner):
        """The queue drops its reference to an item as soon as it leaves."""

        class C:
            pass

        def scenario():
            q = thredo.SimpleQueue()
            for _ in range(5):
                q.put(C())
            for _ in range(5):
                wr = weakref.ref(q.get())
                gc.collect()
                assert wr() is None

        runner.run(scenario)

    def test_getters_served_in_arrival_order(self, runner):
        runner.run(getters_served_in_arrival_order, runner, thredo.SimpleQueue)


def test_queue_references(qtype):
    class C:
        def __lt__(self, other):
            return id(self) < id(other)

    q = qtype()
    for _ in range(5):
        q.put(C())
    for _ in range(5):
        wr = weakref.ref(q.get())
        gc.collect()
        assert wr() is None


# -- mixed use: plain and thredo threads on one queue ----------------------------------


@pytest.mark.parametrize("producers", ["plain", "thredo"])
@pytest.mark.parametrize(
    "cls",
    [thredo.Queue, thredo.LifoQueue, thredo.PriorityQueue, thredo.SimpleQueue],
    ids=lambda c: c.__name__,
)
def test_producers_and_consumers_of_different_kinds(cls, producers):
    """Plain producers feed thredo consumers, and the reverse, through a queue that blocks both."""
    q = cls() if cls is thredo.SimpleQueue else cls(3)
    n_prod, n_cons, per = 3, 3, 200
    plain_side = PlainThread
    thredo_side = ThredoThread

    def produce(p):
        for i in range(per):
            q.put(p * per + i)
        return "done"

    def consume():
        got = []
        while True:
            item = q.get()
            if item is None or item == -1:
                return got
            got.append(item)

    def main():
        make_prod, make_cons = (
            (plain_side, thredo_side) if producers == "plain" else (thredo_side, plain_side)
        )
        consumers = [make_cons(consume) for _ in range(n_cons)]
        prods = [make_prod(produce, p) for p in range(n_prod)]
        assert [t.join() for t in prods] == ["done"] * n_prod
        # Lifo and Priority order would serve the sentinels first: send them to an empty queue
        wait_until(q.empty, "the consumers to catch up")
        for _ in range(n_cons):
            q.put(-1)
        received = sum((t.join() for t in consumers), [])
        assert sorted(received) == list(range(n_prod * per))

    thredo.run(main)
    assert q.empty()


def test_join_across_kinds():
    q = thredo.Queue()

    def worker():
        while True:
            item = q.get()
            q.task_done()
            if item is None:
                return

    def main():
        # thredo thread joins while plain workers call task_done ...
        workers = [PlainThread(worker) for _ in range(2)]
        for i in range(50):
            q.put(i)
        q.join()
        assert q.unfinished_tasks == 0
        for _ in workers:
            q.put(None)
        for w in workers:
            w.join()
        # ... and a plain thread joins while thredo workers do
        workers2 = [ThredoThread(worker) for _ in range(2)]
        for i in range(50):
            q.put(i)
        PlainThread(q.join).join()
        for _ in workers2:
            q.put(None)
        for w in workers2:
            w.join()
        q.join()

    thredo.run(main)


def test_blocked_plain_getter_woken_by_thredo_put_and_back():
    q = thredo.Queue(1)

    def main():
        plain_get = PlainThread(q.get)
        wait_until(lambda: getters(q) == 1, "the plain getter")
        q.put("to plain")
        assert plain_get.join() == "to plain"
        q.put("fill")
        plain_put = PlainThread(q.put, "from plain")
        wait_until(lambda: putters(q) == 1, "the plain putter")
        assert q.get() == "fill"
        plain_put.join()
        assert q.get() == "from plain"

    thredo.run(main)


MODULE_QUEUES = [
    thredo.Queue(1),
    thredo.LifoQueue(1),
    thredo.PriorityQueue(1),
    thredo.SimpleQueue(),
]


def queue_round(spawn: Callable[..., Any]) -> None:
    """Each module-level queue: a blocked get and (bounded ones) a blocked put, woken from here."""
    for q in MODULE_QUEUES:
        t = spawn(q.get)
        wait_until(lambda q=q: getters(q) == 1, "a getter")
        q.put(1)
        assert t.join() == 1
        if not isinstance(q, thredo.SimpleQueue):
            q.task_done()
            q.put(2)
            t = spawn(q.put, 3)
            wait_until(lambda q=q: putters(q) == 1, "a putter")
            assert q.get() == 2
            t.join()
            assert q.get() == 3
            q.task_done()
            q.task_done()
            q.join()
        assert q.empty()


def test_module_level_queues_survive_runs_and_main_thread():
    thredo.run(queue_round, ThredoThread)
    queue_round(PlainThread)  # the main thread, outside run()
    thredo.run(queue_round, PlainThread)
    thredo.run(queue_round, ThredoThread)


# -- cancellation and timeout_after of every blocking call ----------------------------


THREDO_AND_STDLIB_QUEUE = [
    pytest.param(thredo.Queue, id="thredo"),
    pytest.param(queue.Queue, id="stdlib"),
]
ALL_TYPES = [thredo.Queue, thredo.LifoQueue, thredo.PriorityQueue, thredo.SimpleQueue]


@pytest.mark.parametrize("how", HOWS)
@pytest.mark.parametrize("cls", ALL_TYPES, ids=lambda c: c.__name__)
def test_interrupted_get_consumes_nothing(cls, how):
    q = cls()

    def main():
        if how == "cancel":  # the victim first in line, W behind it
            v = thredo.spawn(victim(how, q.get))
            wait_until(lambda: getters(q) == 1, "the victim")
            w = ThredoThread(q.get)
            wait_until(lambda: getters(q) == 2, "W")
            v.cancel()
        else:  # W first; the victim times out behind it
            w = ThredoThread(q.get)
            wait_until(lambda: getters(q) == 1, "W")
            v = thredo.spawn(victim(how, q.get))
        assert v.join() is expected(how)
        assert getters(q) == 1
        assert q.qsize() == 0
        q.put("item")
        assert w.join() == "item"  # the next getter gets it
        assert q.empty()
        q.put("again")
        assert v.cancelled == (how == "cancel")
        assert q.get_nowait() == "again"

    thredo.run(main)
    assert getters(q) == 0


@pytest.mark.parametrize("how", HOWS)
@pytest.mark.parametrize("qtype_", QUEUE_TYPES, ids=lambda c: c.__name__)
def test_interrupted_put_adds_nothing(qtype_, how):
    q = qtype_(2)
    q.put(10)
    q.put(20)

    def main():
        if how == "cancel":
            v = thredo.spawn(victim(how, lambda: q.put(99)))
            wait_until(lambda: putters(q) == 1, "the victim")
            w = ThredoThread(q.put, 30)
            wait_until(lambda: putters(q) == 2, "W")
            v.cancel()
        else:
            w = ThredoThread(q.put, 30)
            wait_until(lambda: putters(q) == 1, "W")
            v = thredo.spawn(victim(how, lambda: q.put(99)))
        assert v.join() is expected(how)
        assert putters(q) == 1
        assert q.qsize() == 2
        assert q.unfinished_tasks == 2
        first = q.get()
        w.join()  # the next putter gets the room
        rest = drain(q)
        assert sorted([first] + rest) == [10, 20, 30]
        assert q.unfinished_tasks == 3

    thredo.run(main)
    assert putters(q) == 0


@pytest.mark.parametrize("how", HOWS)
@pytest.mark.parametrize("qtype_", QUEUE_TYPES, ids=lambda c: c.__name__)
def test_interrupted_join(qtype_, how):
    q = qtype_()
    q.put("task")

    def main():
        if how == "cancel":
            v = thredo.spawn(victim(how, q.join))
            wait_until(lambda: joiners(q) == 1, "the victim")
            w = ThredoThread(q.join)
            wait_until(lambda: joiners(q) == 2, "W")
            v.cancel()
        else:
            w = ThredoThread(q.join)
            wait_until(lambda: joiners(q) == 1, "W")
            v = thredo.spawn(victim(how, q.join))
        assert v.join() is expected(how)
        assert joiners(q) == 1
        assert q.unfinished_tasks == 1
        assert q.get() == "task"
        q.task_done()
        assert w.join() is None
        assert q.unfinished_tasks == 0

    thredo.run(main)


@pytest.mark.parametrize("qtype_", QUEUE_TYPES, ids=lambda c: c.__name__)
def test_notified_then_cancelled_get_takes_the_item(qtype_):
    """A get already woken completes; the cancel comes at its next blocking call."""
    q = qtype_()
    log = []

    def body():
        log.append(q.get())
        try:
            thredo.sleep(WAIT)
        except ThreadCancelled:
            log.append("cancelled at the next call")

    def main():
        v = thredo.spawn(body)
        wait_until(lambda: getters(q) == 1, "the getter")
        with q.not_empty:  # what put() does, with the cancel landing in between
            q._put("item")
            q.unfinished_tasks += 1
            q.not_empty.notify()
            v.cancel(blocking=False)
        v.join()
        assert log == ["item", "cancelled at the next call"]
        assert q.empty()

    thredo.run(main)


@pytest.mark.parametrize("qtype_", QUEUE_TYPES, ids=lambda c: c.__name__)
def test_notified_then_cancelled_put_adds_the_item(qtype_):
    q = qtype_(1)
    q.put(1)
    log = []

    def body():
        q.put(2)
        log.append("put")
        try:
            thredo.sleep(WAIT)
        except ThreadCancelled:
            log.append("cancelled at the next call")

    def main():
        v = thredo.spawn(body)
        wait_until(lambda: putters(q) == 1, "the putter")
        with q.not_full:  # what get() does, with the cancel landing in between
            assert q._get() == 1
            q.not_full.notify()
            v.cancel(blocking=False)
        v.join()
        assert log == ["put", "cancelled at the next call"]
        assert drain(q) == [2]

    thredo.run(main)


def test_get_timeout_inside_timeout_after():
    """The call's own timeout and an enclosing timeout_after: whichever comes first."""
    q = thredo.Queue()

    def main():
        with thredo.timeout_after(WAIT):
            t1 = time.monotonic()
            with pytest.raises(queue.Empty):
                q.get(timeout=SHORT)
            assert_duration(time.monotonic() - t1, SHORT)
        with pytest.raises(ThreadTimeout):
            with thredo.timeout_after(SHORT):
                q.get(timeout=WAIT)
        with thredo.ignore_after(SHORT) as scope:
            q.get()
        assert scope.expired
        assert getters(q) == 0
        q.put(1)
        assert q.get(timeout=0) == 1

    thredo.run(main)


# -- an exception raised out of a blocked wait ---------------------------------------


@pytest.mark.parametrize("make", THREDO_AND_STDLIB_QUEUE)
def test_get_interrupted_by_signal_handler_loses_no_wakeup(usr1_raises, make):
    """Ctrl-C in a get() of the main thread, outside run(): the queue stays sound."""
    q = make()

    k = interrupt_main_thread_when(lambda: getters(q) == 1)
    with pytest.raises(Interrupted):
        q.get()
    k.join()
    assert getters(q) == 0, "the interrupted get() left its waiter queued"
    live = PlainThread(q.get, True, WAIT)
    wait_until(lambda: getters(q) == 1, "the live getter")
    q.put("x")
    assert live.join() == "x"


@pytest.mark.parametrize("side", ["get", "put"])
def test_stdlib_overflowing_timeout_leaves_no_waiter(runner, side):
    """The stdlib's queue raises OverflowError for a huge timeout (thredo's waits: below)."""

    def scenario():
        q = queue.Queue(1)
        if side == "put":
            q.put(0)
        with pytest.raises(OverflowError):
            q.get(timeout=1e100) if side == "get" else q.put(1, timeout=1e100)
        assert getters(q) == 0
        assert putters(q) == 0

    runner.run(scenario)


HUGE = [1e300, float("inf"), TIMEOUT_MAX * 2]
HUGE_IDS = ["1e300", "inf", "2*TIMEOUT_MAX"]


@pytest.mark.parametrize("huge", HUGE, ids=HUGE_IDS)
@pytest.mark.parametrize("side", ["get", "put", "SimpleQueue.get"])
def test_huge_timeouts_never_overflow(runner, side, huge):
    """A timeout above TIMEOUT_MAX (inf included) waits without limit, in any thread."""

    def scenario():
        if side == "SimpleQueue.get":
            q: Any = thredo.SimpleQueue()
        else:
            q = thredo.Queue(1)
        if side == "put":
            q.put(0)
            t = runner.spawn(q.put, 1, True, huge)
            wait_until(lambda: q.statistics().waiting_put == 1, "the putter")
            assert q.get() == 0
            assert t.join() is None
            assert q.get_nowait() == 1
        else:
            t = runner.spawn(q.get, True, huge)
            wait_until(lambda: q.statistics().waiting_get == 1, "the getter")
            q.put("x")
            assert t.join() == "x"
        assert q.empty()

    runner.run(scenario)


# -- nothing lost: N producers, M consumers, random cancellations and timeouts ---------


@pytest.mark.parametrize("cls", ALL_TYPES, ids=lambda c: c.__name__)
@pytest.mark.parametrize("seed", [1, 2])
def test_every_item_received_once_or_still_queued(cls, seed):
    """Producers and consumers of both kinds; random timeouts, Full/Empty and cancels.

    Every item whose put() returned is received exactly once or is still in the
    queue; no item whose put() failed shows up anywhere.
    """
    rng = random.Random(seed)
    bounded = cls is not thredo.SimpleQueue
    q = cls(4) if bounded else cls()
    PER = 150
    sent, unsent, received = [], [], []
    stop_consumers, stop_producers = threading.Event(), threading.Event()

    def thredo_producer(p: int, s: float) -> str:
        r = random.Random(s)
        try:
            for i in range(PER):
                item = p * 10_000 + i
                choice = r.random()
                try:
                    if choice < 0.3:
                        with thredo.timeout_after(r.choice([0, 0.0002, 0.001])):
                            q.put(item)
                    elif choice < 0.5 and bounded:
                        q.put(item, timeout=r.choice([0, 0.0005]))
                    else:
                        q.put(item)
                except (ThreadTimeout, queue.Full):
                    unsent.append(item)
                    continue
                sent.append(item)
        except ThreadCancelled:
            return "cancelled"
        return "done"

    def plain_producer(p: int, s: float) -> str:
        r = random.Random(s)
        for i in range(PER):
            if stop_producers.is_set():
                return "stopped"
            item = p * 10_000 + i
            try:
                q.put(item, timeout=r.choice([0.0005, 0.005]))
            except queue.Full:
                unsent.append(item)
                continue
            sent.append(item)
        return "done"

    def thredo_consumer(s: float) -> str:
        r = random.Random(s)
        try:
            while True:
                choice = r.random()
                try:
                    if choice < 0.3:
                        with thredo.timeout_after(r.choice([0, 0.0002, 0.001])):
                            item = q.get()
                    elif choice < 0.5:
                        item = q.get(timeout=r.choice([0, 0.0005]))
                    else:
                        item = q.get()
                except (ThreadTimeout, queue.Empty):
                    continue
                received.append(item)
        except ThreadCancelled:
            return "cancelled"

    def plain_consumer(s: float) -> str:
        r = random.Random(s)
        while not stop_consumers.is_set():
            try:
                item = q.get(timeout=r.choice([0.0005, 0.005]))
            except queue.Empty:
                continue
            received.append(item)
        return "stopped"

    def main():
        producers = [ThredoThread(thredo_producer, p, rng.random()) for p in range(4)]
        producers.append(PlainThread(plain_producer, 4, rng.random()))
        consumers = [ThredoThread(thredo_consumer, rng.random()) for _ in range(4)]
        consumers.append(PlainThread(plain_consumer, rng.random()))

        def progress(n: int) -> None:
            wait_until(
                lambda: len(received) >= n or not any(p.is_alive() for p in producers),
                "progress",
            )

        # cancel a producer and two consumers at random moments
        victims = rng.sample(producers[:4], 1) + rng.sample(consumers[:4], 2)
        rng.shuffle(victims)
        for t in victims:
            progress(len(received) + rng.randrange(10, 100))
            t.thread.cancel()
        # then stop consuming at a random point, the producers possibly still at it
        progress(rng.randrange(PER, 3 * PER))
        for t in consumers[:4]:
            t.thread.cancel()
            assert t.join() == "cancelled"
        stop_consumers.set()
        assert consumers[4].join() == "stopped"
        # nobody consumes now: producers blocked on a full queue are cancelled in put()
        stop_producers.set()
        for t in producers[:4]:
            t.thread.cancel()
        assert {t.join() for t in producers} <= {"done", "cancelled", "stopped"}

    thredo.run(main)
    remaining = drain(q)
    counted = collections.Counter(received + remaining)
    assert all(n == 1 for n in counted.values()), "an item was received twice"
    assert sorted(counted) == sorted(sent), "an item was lost or invented"
    assert not set(unsent) & set(counted)
    assert len(sent) + len(unsent) <= 5 * PER
    if bounded:
        assert len(remaining) <= 4
    assert getters(q) == 0
    if bounded:
        assert putters(q) == 0


# -- cancellation points: every blocking call, even when it need not wait ---------------
#
# As in test_sync.py: ``at_once`` makes the call in a fresh thredo thread with a
# cancel already pending, or under an already expired timeout_after deadline.

NAN = float("nan")


def _stats(q: Any) -> Any:
    return q.statistics()


def _with_items(cls: type, *items: Any) -> Any:
    q = cls() if cls is thredo.SimpleQueue else cls(5)
    for item in items:
        q.put(item)
    return q


# (name, the call on a queue holding [1] with room for more, the queue's items afterwards)
QUEUE_POINTS = [
    ("put", lambda q: q.put(2), [1]),
    ("put(timeout)", lambda q: q.put(2, timeout=WAIT), [1]),
    ("get", lambda q: q.get(), [1]),
    ("get(timeout)", lambda q: q.get(True, WAIT), [1]),
    ("join (nothing unfinished)", lambda q: (q.task_done(), q.join()), []),
]


@pytest.mark.parametrize("how", HOWS)
@pytest.mark.parametrize(("name", "call", "left"), QUEUE_POINTS, ids=[p[0] for p in QUEUE_POINTS])
@pytest.mark.parametrize("cls", QUEUE_TYPES, ids=lambda c: c.__name__)
def test_every_blocking_call_is_a_cancellation_point(cls, name, call, left, how):
    """Raised before the queue is touched: no item added, none taken."""

    def main():
        q = _with_items(cls, 1)
        assert at_once(how, lambda: call(q)) is expected(how)
        if name.startswith("join"):
            assert q.unfinished_tasks == 0
            q.get_nowait()
        else:
            assert drain(q) == left
            assert q.unfinished_tasks == 1
        assert _stats(q).waiting_get == _stats(q).waiting_put == _stats(q).waiting_join == 0

    thredo.run(main)


@pytest.mark.parametrize("how", HOWS)
@pytest.mark.parametrize("form", ["get", "get(timeout)"])
def test_simplequeue_get_is_a_cancellation_point(form, how):
    def main():
        q = _with_items(thredo.SimpleQueue, 1)
        call = q.get if form == "get" else (lambda: q.get(timeout=WAIT))
        assert at_once(how, call) is expected(how)
        assert drain(q) == [1]

    thredo.run(main)


# (name, the call on a queue holding [1], what it returns, the items afterwards)
QUEUE_NOT_POINTS = [
    ("put_nowait", lambda q: q.put_nowait(2), None, [1, 2]),
    ("put(block=False)", lambda q: q.put(2, False), None, [1, 2]),
    ("get_nowait", lambda q: q.get_nowait(), 1, []),
    ("get(block=False)", lambda q: q.get(False), 1, []),
    ("task_done", lambda q: q.task_done(), None, [1]),
    ("qsize", lambda q: q.qsize(), 1, [1]),
    ("statistics", lambda q: q.statistics().qsize, 1, [1]),
]


@pytest.mark.parametrize(
    ("name", "call", "returns", "left"), QUEUE_NOT_POINTS, ids=[p[0] for p in QUEUE_NOT_POINTS]
)
def test_calls_that_never_block_are_not_cancellation_points(name, call, returns, left):
    def main():
        q = _with_items(thredo.Queue, 1)
        assert at_once("cancel", lambda: call(q)) == ("returned", returns)
        assert drain(q) == left

    thredo.run(main)


@pytest.mark.parametrize("name", ["put", "put_nowait", "get_nowait"])
def test_simplequeue_calls_that_never_block_are_not_points(name):
    """SimpleQueue.put never blocks (in the stdlib either), so it is not a point."""

    def main():
        q = _with_items(thredo.SimpleQueue, 1)
        if name == "get_nowait":
            assert at_once("cancel", q.get_nowait) == ("returned", 1)
            assert q.empty()
        else:
            assert at_once("cancel", lambda: getattr(q, name)(2)) == ("returned", None)
            assert drain(q) == [1, 2]

    thredo.run(main)


@pytest.mark.parametrize("how", HOWS)
@pytest.mark.parametrize("cls", ALL_TYPES, ids=lambda c: c.__name__)
def test_put_get_loop_is_stopped_and_loses_nothing(cls, how):
    """``while True: q.put(x); q.get()`` ends at a deadline or a cancel (issue 8); every
    item whose put() returned was received once or is still in the queue."""

    def main():
        q = cls() if cls is thredo.SimpleQueue else cls(1)
        sent: list[int] = []
        got: list[int] = []
        n = iter(range(10**9))

        def step() -> None:
            i = next(n)
            q.put(i)
            sent.append(i)
            got.append(q.get())

        _stopped(how, step)
        rest = drain(q)
        assert sorted(got + rest) == sent
        assert len(rest) <= 1
        assert _stats(q).waiting_get == 0

    thredo.run(main)


@pytest.mark.parametrize("how", HOWS)
def test_join_loop_is_stopped(how):
    def main():
        q = thredo.Queue()
        _stopped(how, q.join)

    thredo.run(main)


# -- timeout values as the stdlib: None, NaN, huge ---------------------------------------


def test_nan_as_the_stdlib(runner):
    """Where the stdlib completes (an item, room), NaN changes nothing; SimpleQueue rejects it."""

    def scenario():
        for mod in (queue, thredo):
            q = mod.Queue(2)
            assert q.put(1, timeout=NAN) is None
            assert q.get(timeout=NAN) == 1
            sq = mod.SimpleQueue()
            with pytest.raises(ValueError, match="NaN"):
                sq.get(timeout=NAN)
            sq.put(1)
            with pytest.raises(ValueError, match="NaN"):
                sq.get(timeout=NAN)
            assert sq.get(False, NAN) == 1  # timeout ignored without block, as the stdlib

    runner.run(scenario)


def test_nan_never_spins(runner):
    """Where the stdlib's queue would spin forever (NaN is never <= 0): Empty / Full at once."""

    def scenario():
        t0 = time.monotonic()
        for cls in QUEUE_TYPES:
            q = cls(1)
            with pytest.raises(queue.Empty):
                q.get(timeout=NAN)
            q.put(0)
            with pytest.raises(queue.Full):
                q.put(1, timeout=NAN)
            assert _stats(q).waiting_get == _stats(q).waiting_put == 0
        assert time.monotonic() - t0 < WAIT

    runner.run(scenario)


def test_negative_timeouts_as_the_stdlib(runner):
    def scenario():
        for mod in (queue, thredo):
            for q in (mod.Queue(1), mod.SimpleQueue()):
                q.put(0)
                with pytest.raises(ValueError, match="non-negative"):
                    q.get(timeout=-1)
            assert mod.Queue().put(1, timeout=-1) is None  # unbounded: not checked

    runner.run(scenario)


QUEUE_BLOCKING = ["Queue.get", "Queue.put", "Queue.join", "SimpleQueue.get"]


@pytest.mark.parametrize("seconds", [None, *HUGE], ids=["None", *HUGE_IDS])
@pytest.mark.parametrize("name", QUEUE_BLOCKING)
def test_blocking_calls_under_an_infinite_timeout_after(name, seconds):
    """timeout_after(None) (and huge deadlines) around a call that really waits: no overflow."""

    def main():
        if name == "SimpleQueue.get":
            q: Any = thredo.SimpleQueue()
        else:
            q = thredo.Queue(1)
        if name == "Queue.put":
            q.put(0)
        elif name == "Queue.join":
            q.put(0)
            q.get()
        call = {
            "Queue.get": lambda: q.get(),
            "SimpleQueue.get": lambda: q.get(),
            "Queue.put": lambda: q.put(1),
            "Queue.join": lambda: q.join(),
        }[name]

        def body() -> Any:
            with thredo.timeout_after(seconds):
                return call()

        t = thredo.spawn(body)
        wait_until(lambda: t.blocked_on is not None, f"{name} to block")
        blocked = t.blocked_on
        assert blocked is not None
        assert blocked.call == name
        assert blocked.obj is q
        if name == "Queue.put":
            assert q.get() == 0
            expected_result = None
        elif name == "Queue.join":
            q.task_done()
            expected_result = None
        else:
            q.put("x")
            expected_result = "x"
        assert t.join() == expected_result

    thredo.run(main)


# -- statistics(), iteration, docstrings ---------------------------------------------------


@pytest.mark.parametrize("cls", QUEUE_TYPES, ids=lambda c: c.__name__)
def test_statistics(cls):
    def main():
        q = cls(1)
        assert q.statistics() == QueueStatistics(
            qsize=0,
            maxsize=1,
            unfinished_tasks=0,
            waiting_get=0,
            waiting_put=0,
            waiting_join=0,
            is_shutdown=False,
        )
        g = thredo.spawn(q.get)
        wait_until(lambda: q.statistics().waiting_get == 1, "the getter")
        q.put(1)
        assert g.join() == 1
        q.task_done()
        q.put(2)
        p = thredo.spawn(q.put, 3)
        j = thredo.spawn(q.join)
        wait_until(lambda: q.statistics().waiting_put == 1, "the putter")
        wait_until(lambda: q.statistics().waiting_join == 1, "the joiner")
        assert p.blocked_on is not None
        assert p.blocked_on.call == "Queue.put"
        assert q.statistics() == QueueStatistics(1, 1, 1, 0, 1, 1, False)
        p.cancel()
        q.shutdown(immediate=True)
        j.join()
        assert q.statistics() == QueueStatistics(0, 1, 0, 0, 0, 0, True)
        with pytest.raises(dataclasses.FrozenInstanceError):
            q.statistics().qsize = 5  # type: ignore[misc]

    thredo.run(main)


def test_simplequeue_statistics():
    def main():
        q = thredo.SimpleQueue()
        assert q.statistics() == SimpleQueueStatistics(qsize=0, waiting_get=0)
        t = thredo.spawn(q.get)
        wait_until(lambda: q.statistics().waiting_get == 1, "the getter")
        assert t.blocked_on is not None
        assert t.blocked_on.call == "SimpleQueue.get"
        q.put(1)
        q.put(2)
        assert t.join() == 1
        assert q.statistics() == SimpleQueueStatistics(qsize=1, waiting_get=0)

    thredo.run(main)


@pytest.mark.parametrize("cls", QUEUE_TYPES, ids=lambda c: c.__name__)
def test_iterating_gets_items_until_shutdown(runner, cls):
    """An extra from the original thredo's Queue: ``for item in q``, ending at shutdown()."""

    def scenario():
        q = cls(2)
        consumer = runner.spawn(list, q)
        for i in range(5):
            q.put(i)
        q.shutdown()
        assert sorted(consumer.join()) == list(range(5))
        assert iter(q) is q

    runner.run(scenario)


def test_original_thredo_queue_test():
    """The original thredo's tests/test_queue.py::test_queue_simple, unchanged."""
    results = []

    def consumer(q):
        while True:
            item = q.get()
            if item is None:
                break
            results.append(item)
            q.task_done()
        q.task_done()

    def producer(q):
        results.append("start")
        for n in range(3):
            q.put(n)
        q.put(None)
        q.join()
        results.append("done")

    def main():
        q = thredo.Queue()
        t1 = thredo.spawn(consumer, q)
        t2 = thredo.spawn(producer, q)
        t1.join()
        t2.join()

    thredo.run(main)
    assert results == ["start", 0, 1, 2, "done"]


POINT_METHODS = {"put", "get", "join"}


@pytest.mark.parametrize("cls", ALL_TYPES, ids=lambda c: c.__name__)
def test_public_api_is_documented(cls):
    """help(thredo.Queue.get) says how it differs from queue.Queue.get."""
    assert cls.__doc__
    assert "queue." in cls.__doc__
    for name in (n for n in dir(cls) if not n.startswith("_")):
        doc = inspect.getdoc(getattr(cls, name))
        assert doc, f"{cls.__name__}.{name} has no docstring"
        if name in POINT_METHODS and not (cls is thredo.SimpleQueue and name == "put"):
            assert "cancel" in doc, f"{cls.__name__}.{name} does not say it is cancellable"
    assert "consumes no item" in (thredo.Queue.get.__doc__ or "")
    assert "cancel" in pydoc.render_doc(thredo.Queue.get)


@pytest.mark.parametrize("cls", [QueueStatistics, SimpleQueueStatistics], ids=lambda c: c.__name__)
def test_statistics_classes_are_documented(cls):
    doc = inspect.getdoc(cls)
    assert doc
    for field in dataclasses.fields(cls):
        assert f"{field.name}:" in doc, f"{cls.__name__}.{field.name} is not described"
