"""thredo.AWAIT: curio coroutines run by the kernel for a thredo thread (``_await.py``)."""

from __future__ import annotations

import queue
import threading
import time

import curio
import pytest
from helpers import FOREVER

import thredo
from thredo import ThreadCancelled, ThreadTimeout


async def double(x):
    await curio.sleep(0)
    return 2 * x


async def immediate(x):
    return x


async def fail_with(exc):
    await curio.sleep(0)
    raise exc


class TestAwait:
    def test_result(self, run):
        def main():
            return thredo.AWAIT(double, 21), thredo.AWAIT(double(5)), thredo.AWAIT(immediate, 7)

        assert run(main) == (42, 10, 7)

    def test_exception_propagates_unchanged(self, run):
        original = ValueError("in coroutine")

        def main():
            with pytest.raises(ValueError, match="in coroutine") as ei:
                thredo.AWAIT(fail_with, original)
            return ei.value

        assert run(main) is original

    def test_from_many_threads(self, run):
        def main():
            ts = [thredo.spawn(thredo.AWAIT, double, n) for n in range(20)]
            return [t.join() for t in ts]

        assert run(main) == [2 * n for n in range(20)]

    def test_coroutine_can_use_curio(self, run):
        async def producer_consumer():
            q = curio.Queue()
            await q.put(1)
            await q.put(2)
            return [await q.get(), await q.get()]

        assert run(lambda: thredo.AWAIT(producer_consumer)) == [1, 2]

    def test_cancel_thread_blocked_in_await_cancels_coroutine(self, run):
        seen: list[BaseException] = []
        started = threading.Event()

        async def forever():
            started.set()
            try:
                await curio.sleep(FOREVER)
            except BaseException as e:
                seen.append(e)
                raise

        def worker():
            thredo.AWAIT(forever)

        def main():
            t = thredo.spawn(worker)
            started.wait()
            start = time.monotonic()
            t.cancel()
            return t, time.monotonic() - start

        t, elapsed = run(main)
        assert elapsed < 5
        assert len(seen) == 1
        assert isinstance(seen[0], curio.TaskCancelled)
        assert t.cancelled
        assert isinstance(t.exception, ThreadCancelled)

    def test_timeout_after_around_await(self, run):
        seen: list[BaseException] = []

        async def forever():
            try:
                await curio.sleep(FOREVER)
            except BaseException as e:
                seen.append(e)
                raise

        def main():
            start = time.monotonic()
            with pytest.raises(ThreadTimeout):
                with thredo.timeout_after(0.05):
                    thredo.AWAIT(forever)
            return time.monotonic() - start

        elapsed = run(main)
        assert 0.05 <= elapsed < 5
        assert len(seen) == 1
        assert isinstance(seen[0], curio.CancelledError)

    def test_ignore_after_around_await(self, run):
        async def forever():
            await curio.sleep(FOREVER)

        def main():
            with thredo.ignore_after(0.05) as cm:
                thredo.AWAIT(forever)
            return cm.expired

        assert run(main) is True

    def test_await_completing_within_timeout(self, run):
        def main():
            with thredo.timeout_after(5) as cm:
                value = thredo.AWAIT(double, 4)
            return value, cm.expired

        assert run(main) == (8, False)

    def test_await_outside_thredo_thread(self):
        with pytest.raises(RuntimeError, match="thredo thread"):
            thredo.AWAIT(double, 1)
        coro = double(1)
        try:
            with pytest.raises(RuntimeError, match="thredo thread"):
                thredo.AWAIT(coro)
        finally:
            coro.close()

    def test_await_in_plain_thread_during_run(self, run):
        def main():
            out: queue.Queue = queue.Queue()

            def plain():
                try:
                    thredo.AWAIT(double, 1)
                except RuntimeError as e:
                    out.put(e)

            th = threading.Thread(target=plain)
            th.start()
            th.join()
            return out.get_nowait()

        assert isinstance(run(main), RuntimeError)
