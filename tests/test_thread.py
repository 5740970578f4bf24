"""Threads: spawn, join, wait, cancel, sleep (run() is in test_run.py, AWAIT in test_await.py)."""

from __future__ import annotations

import queue
import threading
import time

import curio
import pytest
from helpers import FOREVER, block_forever, wait_blocked

import thredo
from thredo import ThreadCancelled, ThreadError


class TestSpawnJoin:
    def test_join_returns_result_and_passes_args(self, run):
        def add(a, b, *, c):
            return a + b + c

        def main():
            t = thredo.spawn(add, 1, 2, c=3)
            return t.join(), t

        value, t = run(main)
        assert value == 6
        assert t.terminated
        assert not t.is_alive()
        assert t.result == 6
        assert t.exception is None
        assert not t.cancelled

    def test_spawn_consumes_daemon_and_name_keywords(self, run):
        def echo(*args, **kwargs):
            return args, kwargs

        def main():
            t = thredo.spawn(echo, 1, daemon=False, name="worker", x=2)
            return t.join(), t.name, t.daemon

        assert run(main) == (((1,), {"x": 2}), "worker", False)

    def test_join_failed_thread_raises_thread_error_caused_by_original(self, run):
        original = ValueError("boom")

        def fail():
            raise original

        def main():
            t = thredo.spawn(fail)
            with pytest.raises(ThreadError) as ei:
                t.join()
            return ei.value, t

        err, t = run(main)
        assert err.__cause__ is original
        assert t.exception is original
        assert not t.cancelled
        with pytest.raises(ValueError, match="boom") as ei:
            t.result  # noqa: B018
        assert ei.value is original

    def test_join_base_exception_failure(self, run):
        def leave():
            raise SystemExit(3)

        def main():
            t = thredo.spawn(leave)
            with pytest.raises(ThreadError) as ei:
                t.join()
            return ei.value

        err = run(main)
        assert isinstance(err.__cause__, SystemExit)
        assert err.__cause__.code == 3

    @pytest.mark.usefixtures("default_excepthook")  # the failure is reported at the run's end
    def test_wait_does_not_raise_failure(self, run):
        def fail():
            raise KeyError("k")

        def main():
            t = thredo.spawn(fail)
            assert t.wait() is None
            return t

        t = run(main)
        assert t.terminated
        assert isinstance(t.exception, KeyError)

    def test_join_twice_and_wait_after_join(self, run):
        def main():
            t = thredo.spawn(lambda: "r")
            return t.join(), t.join(), t.wait()

        assert run(main) == ("r", "r", None)

    def test_join_self_raises_runtime_error(self, run):
        def main():
            with pytest.raises(RuntimeError, match="join current thread"):
                thredo.current_thread().join()
            return True

        assert run(main) is True

    def test_result_and_exception_before_termination_raise(self, run):
        def main():
            log: list[str] = []
            t = thredo.spawn(block_forever, log, "t")
            try:
                with pytest.raises(RuntimeError, match="not terminated"):
                    t.result  # noqa: B018
                with pytest.raises(RuntimeError, match="not terminated"):
                    t.exception  # noqa: B018
            finally:
                t.cancel()
            return log

        assert run(main) == ["t finally"]

    def test_join_from_plain_thread(self, run):
        def main():
            release = threading.Event()

            def worker():
                release.wait()
                return 99

            t = thredo.spawn(worker)
            out: queue.Queue = queue.Queue()
            plain = threading.Thread(target=lambda: out.put(t.join()))
            plain.start()
            release.set()
            plain.join()
            return out.get_nowait()

        assert run(main) == 99


class TestAttributes:
    def test_default_name_mentions_function(self, run):
        def my_worker():
            return threading.current_thread().name

        def main():
            t = thredo.spawn(my_worker)
            return t.join(), t.name

        inside, name = run(main)
        assert "my_worker" in name
        assert inside == name

    def test_names_are_distinct_by_default(self, run):
        def main():
            ts = [thredo.spawn(lambda: None) for _ in range(3)]
            for t in ts:
                t.join()
            return [t.name for t in ts]

        names = run(main)
        assert len(set(names)) == 3

    def test_ident_matches_os_thread(self, run):
        def main():
            t = thredo.spawn(threading.get_ident)
            return t.join(), t.ident

        inside, ident = run(main)
        assert isinstance(ident, int)
        assert inside == ident

    def test_daemon_flag(self, run):
        def main():
            d = thredo.spawn(lambda: None, daemon=True)
            n = thredo.spawn(lambda: None)
            d.join()
            n.join()
            return d.daemon, n.daemon

        assert run(main) == (True, False)

    def test_is_alive_and_terminated(self, run):
        def main():
            release = threading.Event()
            t = thredo.spawn(release.wait)
            before = (t.is_alive(), t.terminated)
            release.set()
            t.join()
            return before, (t.is_alive(), t.terminated)

        assert run(main) == ((True, False), (False, True))

    def test_current_thread(self, run):
        def main():
            me = thredo.current_thread()
            t = thredo.spawn(thredo.current_thread)
            return me, t, t.join()

        me, t, seen = run(main)
        assert isinstance(me, thredo.Thread)
        assert seen is t
        assert me is not t
        assert thredo.current_thread() is None

    def test_current_thread_in_plain_thread_is_none(self, run):
        def main():
            out: queue.Queue = queue.Queue()
            plain = threading.Thread(target=lambda: out.put(thredo.current_thread()))
            plain.start()
            plain.join()
            return out.get_nowait()

        assert run(main) is None

    def test_thread_shows_in_threading_enumerate(self, run):
        def main():
            release = threading.Event()
            t = thredo.spawn(release.wait)
            names = [x.name for x in threading.enumerate()]
            release.set()
            t.join()
            return t.name in names

        assert run(main) is True


class TestSleep:
    def test_sleep_duration_lower_bound(self, run):
        def main():
            start = time.monotonic()
            assert thredo.sleep(0.05) is None
            return time.monotonic() - start

        assert run(main) >= 0.05

    def test_sleep_zero(self, run):
        def main():
            thredo.sleep(0)
            return "ok"

        assert run(main) == "ok"

    def test_negative_sleep_raises(self, run):
        def main():
            with pytest.raises(ValueError, match="non-negative"):
                thredo.sleep(-1)
            return True

        assert run(main) is True

    def test_nan_sleep_outside_run_raises(self):
        with pytest.raises(ValueError, match="NaN"):
            thredo.sleep(float("nan"))

    def test_nan_sleep_raises(self, run):
        def main():
            # the ignore_after bounds the wait if the sleep does not raise
            with thredo.ignore_after(1) as cm, pytest.raises(ValueError, match="(?i)nan"):
                thredo.sleep(float("nan"))
            return cm.expired

        assert run(main) is False

    def test_sleep_outside_run_is_plain_sleep(self):
        start = time.monotonic()
        thredo.sleep(0.01)
        assert time.monotonic() - start >= 0.01

    def test_sleep_zero_delivers_pending_cancel(self, run):
        def main():
            me = thredo.current_thread()
            with thredo.disable_cancellation():
                me.cancel()  # deferred
            with pytest.raises(ThreadCancelled):
                thredo.sleep(0)
            return me.cancelled

        assert run(main) is True


class TestCancel:
    def test_cancel_blocked_thread(self, run):
        log: list[str] = []

        def main():
            t = thredo.spawn(block_forever, log, "t")
            wait_blocked(t, "sleep")  # cancelled while blocked, not before it started
            start = time.monotonic()
            t.cancel()
            elapsed = time.monotonic() - start
            # blocking cancel returns only once the thread has exited
            assert not t.is_alive()
            assert log == ["t finally"]
            with pytest.raises(ThreadError) as ei:
                t.join()
            return t, ei.value, elapsed

        t, err, elapsed = run(main)
        assert elapsed < 5
        assert t.cancelled
        assert t.terminated
        assert isinstance(err.__cause__, ThreadCancelled)
        assert t.exception is err.__cause__

    def test_cancellation_is_base_exception(self, run):
        caught: list[str] = []

        def worker():
            try:
                thredo.sleep(FOREVER)
            except Exception:  # must not swallow the cancel
                caught.append("Exception")
            except BaseException as e:
                caught.append(type(e).__name__)
                raise

        def main():
            t = thredo.spawn(worker)
            t.cancel()
            return t

        t = run(main)
        assert caught == ["ThreadCancelled"]
        assert isinstance(t.exception, thredo.CancelledError)
        assert isinstance(t.exception, curio.TaskCancelled)

    def test_cancel_finished_thread_is_noop(self, run):
        def main():
            t = thredo.spawn(lambda: 5)
            t.wait()
            t.cancel()
            t.cancel(blocking=False)
            return t, t.join()

        t, value = run(main)
        assert value == 5
        assert not t.cancelled
        assert t.exception is None

    @pytest.mark.usefixtures("default_excepthook")  # the failure is reported at the run's end
    def test_cancel_failed_thread_keeps_its_exception(self, run):
        def fail():
            raise ValueError("x")

        def main():
            t = thredo.spawn(fail)
            t.wait()
            t.cancel()
            return t

        t = run(main)
        assert not t.cancelled
        assert isinstance(t.exception, ValueError)

    def test_cancel_nonblocking_returns_before_exit(self, run):
        log: list[str] = []
        release = threading.Event()

        def worker():
            try:
                thredo.sleep(FOREVER)
            finally:
                release.wait()  # keep it alive until the test says so
                log.append("finally")

        def main():
            t = thredo.spawn(worker)
            assert t.cancel(blocking=False) is None
            alive_after_cancel = t.is_alive()
            release.set()
            t.wait()
            return t, alive_after_cancel

        t, alive_after_cancel = run(main)
        assert alive_after_cancel is True
        assert log == ["finally"]
        assert t.cancelled
        assert isinstance(t.exception, ThreadCancelled)

    def test_cancel_twice(self, run):
        log: list[str] = []

        def main():
            t = thredo.spawn(block_forever, log, "t")
            t.cancel(blocking=False)
            t.cancel()
            return t

        t = run(main)
        assert log == ["t finally"]
        assert isinstance(t.exception, ThreadCancelled)

    def test_thread_cancelling_itself(self, run):
        log: list[str] = []

        def worker():
            try:
                thredo.current_thread().cancel()
                log.append("not reached")
            finally:
                log.append("finally")

        def main():
            t = thredo.spawn(worker)
            with pytest.raises(ThreadError) as ei:
                t.join()
            return t, ei.value

        t, err = run(main)
        assert log == ["finally"]
        assert t.cancelled
        assert isinstance(err.__cause__, ThreadCancelled)

    def test_thread_cancelling_itself_nonblocking(self, run):
        def worker():
            thredo.current_thread().cancel(blocking=False)
            return "not reached"

        def main():
            t = thredo.spawn(worker)
            t.wait()
            return t

        t = run(main)
        assert isinstance(t.exception, ThreadCancelled)

    def test_busy_thread_cancelled_at_next_blocking_call(self, run):
        log: list[str] = []
        started = threading.Event()
        go = threading.Event()

        def busy():
            started.set()
            n = 0
            while not go.is_set():  # pure-Python computation, no blocking call
                n += 1
            log.append("computed")
            try:
                thredo.sleep(FOREVER)
            except ThreadCancelled:
                log.append("cancelled at sleep")
                raise

        def main():
            t = thredo.spawn(busy)
            started.wait()
            t.cancel(blocking=False)
            go.set()
            t.wait()
            return t

        t = run(main)
        assert log == ["computed", "cancelled at sleep"]
        assert t.cancelled

    def test_cancel_before_thread_runs(self, run):
        log: list[str] = []

        def main():
            t = thredo.spawn(block_forever, log, "t")
            t.cancel()  # possibly before it even started: still cancelled at its sleep
            return t

        t = run(main)
        assert log == ["t finally"]
        assert isinstance(t.exception, ThreadCancelled)

    def test_cancelled_thread_can_clean_up_with_blocking_calls(self, run):
        log: list[str] = []

        def worker():
            try:
                thredo.sleep(FOREVER)
            finally:
                with thredo.disable_cancellation():
                    thredo.sleep(0.01)
                log.append("cleaned")

        def main():
            t = thredo.spawn(worker)
            t.cancel()
            return t

        t = run(main)
        assert log == ["cleaned"]
        assert isinstance(t.exception, ThreadCancelled)

    def test_canceller_is_cancellable_while_waiting(self, run):
        """A blocking cancel() waits cancellably for the target to exit."""
        log: list[str] = []
        release = threading.Event()
        in_cancel = threading.Event()

        def stubborn():
            try:
                thredo.sleep(FOREVER)
            finally:
                release.wait()
                log.append("stubborn finally")

        def canceller(target):
            in_cancel.set()
            try:
                target.cancel()
            finally:
                log.append("canceller finally")

        def main():
            s = thredo.spawn(stubborn)
            c = thredo.spawn(canceller, s)
            in_cancel.wait()
            c.cancel()
            release.set()
            s.wait()
            return c

        c = run(main)
        assert isinstance(c.exception, ThreadCancelled)
        assert log == ["canceller finally", "stubborn finally"]
