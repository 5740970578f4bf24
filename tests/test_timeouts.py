"""timeout_after, ignore_after, disable_cancellation, and timed-out/cancelled waits."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import curio
import pytest
from helpers import FOREVER, SHORT, block_forever

import thredo
from thredo import (
    ThreadCancelled,
    ThreadTimeout,
    TimeoutCancellationError,
    UncaughtTimeoutError,
)

LONG = 30  # a deadline meant not to expire during the test


class TestTimeoutAfter:
    def test_context_manager_expires(self, run):
        def main():
            start = time.monotonic()
            with pytest.raises(ThreadTimeout) as ei:
                with thredo.timeout_after(SHORT) as cm:
                    thredo.sleep(FOREVER)
            return cm, ei.value, time.monotonic() - start

        cm, exc, elapsed = run(main)
        assert SHORT <= elapsed < 5
        assert cm.expired is True
        assert isinstance(exc, curio.TaskTimeout)
        assert isinstance(exc, thredo.CancelledError)
        assert not isinstance(exc, Exception)

    def test_context_manager_in_time(self, run):
        def main():
            with thredo.timeout_after(LONG) as cm:
                thredo.sleep(0.001)
                value = "done"
            return cm.expired, cm.result, value

        assert run(main) == (False, True, "done")

    def test_none_means_no_timeout(self, run):
        def main():
            with thredo.timeout_after(None) as cm:
                thredo.sleep(0.001)
            return cm.expired

        assert run(main) is False

    def test_zero_timeout_expires_at_first_blocking_call(self, run):
        log: list[str] = []

        def body():
            with thredo.timeout_after(0):
                log.append("before")
                thredo.sleep(FOREVER)

        def main():
            with pytest.raises(ThreadTimeout):
                body()
            return log

        assert run(main) == ["before"]

    def test_nan_timeout_rejected(self, run):
        def main():
            with pytest.raises(ValueError, match="NaN"):
                thredo.timeout_after(float("nan"))
            return True

        assert run(main) is True

    def test_call_form_returns_result(self, run):
        def main():
            return thredo.timeout_after(LONG, lambda a, b: a + b, 2, 3)

        assert run(main) == 5

    def test_call_form_expires(self, run):
        def main():
            with pytest.raises(ThreadTimeout):
                thredo.timeout_after(SHORT, thredo.sleep, FOREVER)
            return "ok"

        assert run(main) == "ok"

    def test_call_form_propagates_exception(self, run):
        original = KeyError("k")

        def fail():
            raise original

        def main():
            with pytest.raises(KeyError) as ei:
                thredo.timeout_after(LONG, fail)
            return ei.value

        assert run(main) is original

    def test_other_exception_passes_through_and_timeout_is_removed(self, run):
        def main():
            with pytest.raises(ZeroDivisionError):
                with thredo.timeout_after(SHORT) as cm:
                    1 / 0  # noqa: B018
            thredo.sleep(2 * SHORT)  # would be interrupted by a leftover deadline
            return cm.expired

        assert run(main) is False

    def test_plain_thread_raises_runtime_error(self):
        with pytest.raises(RuntimeError, match="thredo thread"):
            with thredo.timeout_after(1):
                pass
        with pytest.raises(RuntimeError, match="thredo thread"):
            thredo.timeout_after(1, lambda: None)
        with pytest.raises(RuntimeError, match="thredo thread"):
            with thredo.ignore_after(1):
                pass
        with pytest.raises(RuntimeError, match="thredo thread"):
            thredo.ignore_after(1, lambda: None)

    def test_plain_thread_during_run_raises_runtime_error(self, run):
        errors: list[BaseException] = []

        def plain():
            try:
                with thredo.timeout_after(1):
                    pass
            except RuntimeError as e:
                errors.append(e)

        def main():
            th = threading.Thread(target=plain)
            th.start()
            th.join()

        run(main)
        assert len(errors) == 1

    def test_finished_in_time_leaves_no_pending_deadline(self, run):
        def main():
            with thredo.timeout_after(SHORT) as a:
                pass
            with thredo.ignore_after(SHORT) as b:
                thredo.sleep(0)
            thredo.timeout_after(SHORT, thredo.sleep, 0)
            start = time.monotonic()
            thredo.sleep(4 * SHORT)  # outlasts every deadline above: no timeout
            return a.expired, b.expired, time.monotonic() - start

        a_expired, b_expired, elapsed = run(main)
        assert (a_expired, b_expired) == (False, False)
        assert elapsed >= 4 * SHORT

    def test_expired_timeout_leaves_no_pending_deadline(self, run):
        def main():
            with thredo.ignore_after(SHORT):
                thredo.sleep(FOREVER)
            start = time.monotonic()
            thredo.sleep(2 * SHORT)
            return time.monotonic() - start

        assert run(main) >= 2 * SHORT

    def test_timeouts_are_per_thread(self, run):
        """A deadline in one thread does not affect another."""
        log: list[str] = []

        def other():
            thredo.sleep(4 * SHORT)
            log.append("other slept")

        def main():
            t = thredo.spawn(other)
            with thredo.ignore_after(SHORT) as cm:
                thredo.sleep(FOREVER)
            t.join()
            return cm.expired

        assert run(main) is True
        assert log == ["other slept"]


class TestIgnoreAfter:
    def test_context_manager_expires(self, run):
        log: list[str] = []

        def main():
            with thredo.ignore_after(SHORT) as cm:
                thredo.sleep(FOREVER)
                log.append("not reached")
            log.append("after")
            return cm.expired, cm.result

        assert run(main) == (True, None)
        assert log == ["after"]

    def test_context_manager_timeout_result(self, run):
        def main():
            with thredo.ignore_after(SHORT, timeout_result="late") as cm:
                thredo.sleep(FOREVER)
            return cm.expired, cm.result

        assert run(main) == (True, "late")

    def test_context_manager_in_time(self, run):
        def main():
            with thredo.ignore_after(LONG, timeout_result="late") as cm:
                thredo.sleep(0.001)
            return cm.expired, cm.result

        assert run(main) == (False, True)

    def test_call_form_in_time(self, run):
        def main():
            return thredo.ignore_after(LONG, lambda x: x * 2, 21, timeout_result="late")

        assert run(main) == 42

    def test_call_form_expires_returns_timeout_result(self, run):
        def main():
            a = thredo.ignore_after(SHORT, thredo.sleep, FOREVER, timeout_result="late")
            b = thredo.ignore_after(SHORT, thredo.sleep, FOREVER)
            return a, b

        assert run(main) == ("late", None)

    def test_call_form_propagates_exception(self, run):
        def fail():
            raise OSError("io")

        def main():
            with pytest.raises(OSError, match="io"):
                thredo.ignore_after(LONG, fail)
            return "ok"

        assert run(main) == "ok"


class TestNesting:
    def test_inner_expires_inside_outer(self, run):
        log: list[str] = []

        def main():
            with thredo.timeout_after(LONG) as outer:
                with pytest.raises(ThreadTimeout):
                    with thredo.timeout_after(SHORT) as inner:
                        thredo.sleep(FOREVER)
                log.append("caught inner")
                thredo.sleep(0.001)  # the outer deadline is still fine
                log.append("outer continues")
            return outer.expired, inner.expired

        assert run(main) == (False, True)
        assert log == ["caught inner", "outer continues"]

    def test_outer_expires_while_inner_active(self, run):
        seen: list[BaseException] = []

        def main():
            outer, inner = thredo.timeout_after(SHORT), thredo.timeout_after(LONG)

            def body():
                with outer:
                    try:
                        with inner:
                            thredo.sleep(FOREVER)
                    except BaseException as e:
                        seen.append(e)
                        raise

            start = time.monotonic()
            with pytest.raises(ThreadTimeout) as ei:
                body()
            return outer.expired, inner.expired, ei.value, time.monotonic() - start

        outer_expired, inner_expired, exc, elapsed = run(main)
        assert elapsed < 5
        assert (outer_expired, inner_expired) == (True, False)
        assert len(seen) == 1
        assert type(seen[0]) is TimeoutCancellationError
        assert type(exc) is ThreadTimeout

    def test_outer_expires_while_inner_active_three_levels(self, run):
        seen: list[str] = []

        def main():
            outer = thredo.timeout_after(SHORT)
            middle = thredo.timeout_after(LONG)
            inner = thredo.timeout_after(LONG)

            def body():
                with outer:
                    try:
                        with middle:
                            try:
                                with inner:
                                    thredo.sleep(FOREVER)
                            except BaseException as e:
                                seen.append(f"inner: {type(e).__name__}")
                                raise
                    except BaseException as e:
                        seen.append(f"middle: {type(e).__name__}")
                        raise

            with pytest.raises(ThreadTimeout):
                body()
            return outer.expired, middle.expired, inner.expired

        assert run(main) == (True, False, False)
        assert seen == ["inner: TimeoutCancellationError", "middle: TimeoutCancellationError"]

    def test_ignore_after_inside_timeout_after_inner_expires(self, run):
        def main():
            with thredo.timeout_after(LONG) as outer:
                with thredo.ignore_after(SHORT) as inner:
                    thredo.sleep(FOREVER)
                thredo.sleep(0.001)
            return outer.expired, inner.expired

        assert run(main) == (False, True)

    def test_ignore_after_inside_timeout_after_outer_expires(self, run):
        seen: list[BaseException] = []

        def main():
            outer, inner = thredo.timeout_after(SHORT), thredo.ignore_after(LONG)

            def body():
                with outer:
                    try:
                        with inner:
                            thredo.sleep(FOREVER)
                    except BaseException as e:
                        seen.append(e)
                        raise

            with pytest.raises(ThreadTimeout):
                body()
            return outer.expired, inner.expired

        assert run(main) == (True, False)
        assert len(seen) == 1
        assert type(seen[0]) is TimeoutCancellationError

    def test_timeout_after_inside_ignore_after_outer_expires(self, run):
        seen: list[BaseException] = []
        log: list[str] = []

        def main():
            with thredo.ignore_after(SHORT) as outer:
                try:
                    with thredo.timeout_after(LONG) as inner:
                        thredo.sleep(FOREVER)
                except BaseException as e:
                    seen.append(e)
                    raise
            log.append("after")
            return outer.expired, inner.expired

        assert run(main) == (True, False)
        assert len(seen) == 1
        assert type(seen[0]) is TimeoutCancellationError
        assert log == ["after"]

    def test_timeout_after_inside_ignore_after_inner_expires(self, run):
        def main():
            with thredo.ignore_after(LONG) as outer:
                with pytest.raises(ThreadTimeout):
                    with thredo.timeout_after(SHORT) as inner:
                        thredo.sleep(FOREVER)
            return outer.expired, inner.expired

        assert run(main) == (False, True)

    def test_ignore_after_inside_ignore_after_outer_expires(self, run):
        def main():
            with thredo.ignore_after(SHORT) as outer:
                with thredo.ignore_after(LONG) as inner:
                    thredo.sleep(FOREVER)
            return outer.expired, inner.expired

        assert run(main) == (True, False)

    def test_both_expired_outermost_reports(self, run):
        """Outer deadline earlier than the inner one: the outer reports it."""
        seen: list[str] = []

        def main():
            outer, inner = thredo.timeout_after(SHORT), thredo.timeout_after(2 * SHORT)

            def body():
                with outer:
                    try:
                        with inner:
                            with thredo.disable_cancellation():
                                thredo.sleep(4 * SHORT)  # both deadlines pass here
                            thredo.sleep(FOREVER)
                    except BaseException as e:
                        seen.append(type(e).__name__)
                        raise

            with pytest.raises(ThreadTimeout):
                body()
            return outer.expired, inner.expired

        assert run(main) == (True, False)
        assert seen == ["TimeoutCancellationError"]

    def test_inner_timeout_escaping_its_block_is_uncaught(self, run):
        """A ThreadTimeout that leaves its own block unhandled reaches the outer one."""

        def body():
            with thredo.timeout_after(LONG), thredo.timeout_after(SHORT):
                thredo.sleep(FOREVER)

        def main():
            with pytest.raises(UncaughtTimeoutError):
                body()
            return "ok"

        assert run(main) == "ok"

    def test_outer_deadline_passed_in_inner_block_fires_at_next_blocking_call(self, run):
        log: list[str] = []

        def main():
            outer = thredo.timeout_after(SHORT)

            def body():
                with outer:
                    try:
                        with thredo.timeout_after(LONG):
                            thredo.sleep(FOREVER)
                    except TimeoutCancellationError:
                        log.append("swallowed")
                    log.append("after inner")
                    thredo.sleep(FOREVER)

            start = time.monotonic()
            with pytest.raises(ThreadTimeout):
                body()
            return outer.expired, time.monotonic() - start

        expired, elapsed = run(main)
        assert expired is True
        assert elapsed < 5
        assert log == ["swallowed", "after inner"]

    def test_sequential_timeouts_in_outer_block(self, run):
        def main():
            with thredo.timeout_after(LONG) as outer:
                a = thredo.ignore_after(SHORT, thredo.sleep, FOREVER, timeout_result="a")
                b = thredo.ignore_after(SHORT, thredo.sleep, FOREVER, timeout_result="b")
            return a, b, outer.expired

        assert run(main) == ("a", "b", False)


class TestDisableCancellation:
    def test_defers_cancel_until_block_exits(self, run):
        log: list[str] = []
        inside = threading.Event()
        release = threading.Event()

        def gate():
            release.wait()
            return "gate result"

        def worker(gate_thread):
            try:
                with thredo.disable_cancellation():
                    inside.set()
                    # blocking calls inside the block complete despite the cancel
                    log.append(f"joined {gate_thread.join()}")
                    thredo.sleep(0.001)
                    log.append("slept inside")
                log.append("after block")
                thredo.sleep(FOREVER)
                log.append("not reached")
            except ThreadCancelled:
                log.append("cancelled after block")
                raise

        def main():
            g = thredo.spawn(gate)
            t = thredo.spawn(worker, g)
            inside.wait()
            start = time.monotonic()
            t.cancel(blocking=False)
            release.set()
            t.wait()
            return t, time.monotonic() - start

        t, elapsed = run(main)
        assert elapsed < 5
        assert log == ["joined gate result", "slept inside", "after block", "cancelled after block"]
        assert t.cancelled
        assert isinstance(t.exception, ThreadCancelled)

    def test_self_cancel_inside_block_is_deferred(self, run):
        log: list[str] = []

        def worker():
            with thredo.disable_cancellation():
                thredo.current_thread().cancel()
                log.append("still running")
                thredo.sleep(0.001)
                log.append("slept")
            log.append("after block")
            thredo.sleep(FOREVER)

        def main():
            t = thredo.spawn(worker)
            t.wait()
            return t

        t = run(main)
        assert log == ["still running", "slept", "after block"]
        assert isinstance(t.exception, ThreadCancelled)

    def test_nested_blocks_defer_until_outermost_exits(self, run):
        log: list[str] = []

        def worker():
            with thredo.disable_cancellation():
                with thredo.disable_cancellation():
                    thredo.current_thread().cancel()
                thredo.sleep(0.001)
                log.append("inner exited, still deferred")
            thredo.sleep(FOREVER)

        def main():
            t = thredo.spawn(worker)
            t.wait()
            return t

        t = run(main)
        assert log == ["inner exited, still deferred"]
        assert isinstance(t.exception, ThreadCancelled)

    def test_defers_outer_timeout(self, run):
        log: list[str] = []

        def main():
            cm = thredo.timeout_after(SHORT)

            def body():
                with cm:
                    with thredo.disable_cancellation():
                        thredo.sleep(4 * SHORT)  # outlives the deadline
                        log.append("slept through deadline")
                    log.append("after block")
                    thredo.sleep(FOREVER)

            start = time.monotonic()
            with pytest.raises(ThreadTimeout):
                body()
            return cm.expired, time.monotonic() - start

        expired, elapsed = run(main)
        assert expired is True
        assert 4 * SHORT <= elapsed < 5
        assert log == ["slept through deadline", "after block"]

    def test_timeout_inside_block_still_works(self, run):
        def main():
            me = thredo.current_thread()
            with thredo.disable_cancellation():
                me.cancel()
                with pytest.raises(ThreadTimeout):
                    with thredo.timeout_after(SHORT):
                        thredo.sleep(FOREVER)
                with thredo.ignore_after(SHORT) as cm:
                    thredo.sleep(FOREVER)
            with pytest.raises(ThreadCancelled):
                thredo.sleep(FOREVER)
            return cm.expired

        assert run(main) is True

    def test_noop_in_plain_thread(self):
        with thredo.disable_cancellation() as cm:
            thredo.sleep(0)
        assert cm is not None

    def test_cancelled_thread_cleanup_runs_under_block(self, run):
        log: list[str] = []
        release = threading.Event()

        def gate():
            release.wait()

        def worker(g):
            try:
                thredo.sleep(FOREVER)
            finally:
                with thredo.disable_cancellation():
                    g.join()
                    log.append("cleanup done")

        def main():
            g = thredo.spawn(gate)
            t = thredo.spawn(worker, g)
            t.cancel(blocking=False)
            t.cancel(blocking=False)  # a second cancel during cleanup changes nothing
            release.set()
            t.wait()
            return t

        t = run(main)
        assert log == ["cleanup done"]
        assert isinstance(t.exception, ThreadCancelled)


# -- every core blocking call: timed out and cancelled --------------------


def _sleep(log: list[str]) -> tuple[Callable[[], object], Callable[[], None]]:
    return (lambda: thredo.sleep(FOREVER)), (lambda: None)


def _thread_join(log):
    target = thredo.spawn(block_forever, log, "target")
    return target.join, target.cancel


def _thread_wait(log):
    target = thredo.spawn(block_forever, log, "target")
    return target.wait, target.cancel


def _group_join(log):
    g = thredo.ThreadGroup()
    g.spawn(block_forever, log, "target")
    return g.join, g.join  # an interrupted join has already cancelled the members


def _group_next_done(log):
    g = thredo.ThreadGroup()
    g.spawn(block_forever, log, "target")

    def cleanup():
        g.cancel_remaining()
        g.join()

    return g.next_done, cleanup


BLOCKING = {
    "sleep": (_sleep, []),
    "Thread.join": (_thread_join, ["target finally"]),
    "Thread.wait": (_thread_wait, ["target finally"]),
    "ThreadGroup.join": (_group_join, ["target finally"]),
    "ThreadGroup.next_done": (_group_next_done, ["target finally"]),
}


@pytest.mark.parametrize(("make", "expected_log"), BLOCKING.values(), ids=BLOCKING.keys())
class TestBlockingCalls:
    def test_timeout_after(self, run, make, expected_log):
        log: list[str] = []

        def main():
            op, cleanup = make(log)
            start = time.monotonic()
            try:
                with pytest.raises(ThreadTimeout):
                    with thredo.timeout_after(SHORT) as cm:
                        op()
                elapsed = time.monotonic() - start
            finally:
                cleanup()
            return cm.expired, elapsed

        expired, elapsed = run(main)
        assert expired is True
        assert SHORT <= elapsed < 5
        assert log == expected_log

    def test_ignore_after(self, run, make, expected_log):
        log: list[str] = []

        def main():
            op, cleanup = make(log)
            try:
                with thredo.ignore_after(SHORT) as cm:
                    op()
            finally:
                cleanup()
            return cm.expired

        assert run(main) is True
        assert log == expected_log

    def test_cancel(self, run, make, expected_log):
        log: list[str] = []
        ready = threading.Event()

        def worker():
            op, cleanup = make(log)
            ready.set()
            try:
                op()
                log.append("not reached")
            finally:
                cleanup()
                log.append("worker finally")

        def main():
            t = thredo.spawn(worker)
            ready.wait()
            start = time.monotonic()
            t.cancel()
            return t, time.monotonic() - start

        t, elapsed = run(main)
        assert elapsed < 5
        assert t.cancelled
        assert isinstance(t.exception, ThreadCancelled)
        assert log == [*expected_log, "worker finally"]


def _blocking_calls() -> dict[str, Callable[[], object]]:
    """One blocking call of each kind, each of which completes at once here."""
    from thredo.net import socket as tsocket

    lock = thredo.Lock()
    ev = thredo.Event()
    ev.set()
    q: thredo.Queue[int] = thredo.Queue()
    sem = thredo.Semaphore(1)
    cond = thredo.Condition()

    def lock_acquire() -> object:
        with lock:
            return True

    def queue_round_trip() -> object:
        q.put(1)
        return q.get()

    def sem_acquire() -> object:
        with sem:
            return True

    def cond_wait() -> object:
        with cond:
            return cond.wait(0.01)

    def join() -> object:
        return thredo.spawn(lambda: 7).join()

    def group() -> object:
        with thredo.ThreadGroup() as g:
            g.spawn(lambda: 8)
        return g.results

    def sock_round_trip() -> object:
        a, b = tsocket.socketpair()
        with a, b:
            a.sendall(b"x")
            return b.recv(1)

    return {
        "sleep": lambda: thredo.sleep(0.01),
        "Lock": lock_acquire,
        "Event.wait": lambda: ev.wait(),
        "Queue": queue_round_trip,
        "Semaphore": sem_acquire,
        "Condition.wait": cond_wait,
        "Thread.join": join,
        "Thread.join(timeout)": lambda: thredo.spawn(lambda: 9).join(timeout=LONG),
        "ThreadGroup": group,
        "socket": sock_round_trip,
    }


CALL_NAMES = [
    "sleep",
    "Lock",
    "Event.wait",
    "Queue",
    "Semaphore",
    "Condition.wait",
    "Thread.join",
    "Thread.join(timeout)",
    "ThreadGroup",
    "socket",
]


class TestTimeoutValues:
    @pytest.mark.parametrize("name", CALL_NAMES)
    @pytest.mark.parametrize("form", ["timeout_after", "ignore_after"])
    def test_none_means_no_timeout(self, run, name, form):
        def main():
            call = _blocking_calls()[name]
            with getattr(thredo, form)(None) as cm:
                call()
            return cm.expired

        assert run(main) is False

    @pytest.mark.parametrize("name", CALL_NAMES)
    def test_huge_deadline_never_overflows(self, run, name):
        def main():
            call = _blocking_calls()[name]
            with thredo.timeout_after(1e300):
                call()
            with thredo.timeout_after(threading.TIMEOUT_MAX * 10):
                call()

        run(main)

    def test_huge_call_timeouts_never_overflow(self, run):
        def main():
            ev = thredo.Event()
            ev.set()
            assert ev.wait(1e300) is True
            q: thredo.Queue[int] = thredo.Queue()
            q.put(1)
            assert q.get(timeout=1e300) == 1
            lock = thredo.Lock()
            t = thredo.spawn(lambda: 1)
            assert t.join(timeout=1e300) == 1
            # a huge timeout that must really wait: woken by another thread
            lock.acquire()
            holder = thredo.spawn(lambda: (thredo.sleep(0.05), lock.release()))
            assert lock.acquire(timeout=threading.TIMEOUT_MAX) is True
            holder.join()

        run(main)

    def test_nan_timeout_after_is_a_value_error(self, run):
        def main():
            with pytest.raises(ValueError, match="NaN"):
                thredo.timeout_after(float("nan"))
            with pytest.raises(ValueError, match="NaN"):
                thredo.sleep(float("nan"))

        run(main)

    def test_nan_call_timeouts_as_the_stdlib(self, runner):
        nan = float("nan")

        def scenario():
            ev = thredo.Event()
            started = time.monotonic()
            assert ev.wait(nan) is False
            with pytest.raises(ValueError, match="NaN"):
                thredo.Lock().acquire(timeout=nan)
            assert time.monotonic() - started < 5  # never a busy-spin forever

        runner.run(scenario)


class TestUncancellableWarning:
    def test_time_sleep_past_the_deadline_warns(self, run):
        def main():
            with pytest.warns(thredo.UncancellableWarning) as rec:
                with thredo.timeout_after(0.05):
                    time.sleep(0.3)  # thredo cannot interrupt this
            return rec

        rec = run(main)
        assert len(rec) == 1
        w = rec[0]
        assert w.filename == __file__
        message = str(w.message)
        assert "timeout_after(0.05)" in message
        assert "after its deadline" in message
        assert f"{__file__}:" in message
        assert issubclass(thredo.UncancellableWarning, RuntimeWarning)

    def test_threading_lock_past_the_deadline_warns_for_ignore_after(self, run):
        def main():
            lock = threading.Lock()
            lock.acquire()
            releaser = threading.Timer(0.3, lock.release)
            releaser.start()
            with pytest.warns(thredo.UncancellableWarning, match="ignore_after"):
                with thredo.ignore_after(0.05) as cm:
                    lock.acquire()  # a threading lock: not cancellable
            releaser.join()
            return cm.expired, cm.result

        # Promise (issue 22.7): a deadline that passed inside an uncancellable
        # call is visible: .expired is true, though the block's work completed.
        assert run(main) == (True, None)

    def test_late_timeout_after_keeps_the_result_and_says_expired(self, run):
        """Promise: timeout_after raises nothing after the fact; .expired is true."""

        def main():
            def late() -> str:
                time.sleep(0.2)  # thredo cannot interrupt this
                return "work done"

            cm = thredo.timeout_after(0.05)
            with pytest.warns(thredo.UncancellableWarning, match="timeout_after"), cm:
                done = late()
            return cm.expired, done

        assert run(main) == (True, "work done")

    def test_delivered_deadline_does_not_warn(self, run):
        def main():
            with thredo.ignore_after(0.05) as cm:
                thredo.sleep(FOREVER)
            with thredo.timeout_after(0.05):
                try:
                    thredo.sleep(FOREVER)
                except ThreadTimeout:
                    time.sleep(0.2)  # handled inside: it was delivered
            return cm.expired

        assert run(main) is True  # filterwarnings = error: any warning would fail

    def test_block_in_time_does_not_warn(self, run):
        def main():
            with thredo.timeout_after(LONG):
                time.sleep(0.01)

        run(main)


class TestExceptionMessages:
    def test_every_exception_str_is_a_sentence(self, run):
        def main():
            out = {}
            try:
                with thredo.timeout_after(0.01):
                    thredo.sleep(FOREVER)
            except ThreadTimeout as e:
                out["timeout"] = e
            t = thredo.spawn(thredo.sleep, FOREVER)
            t.cancel()
            out["cancel"] = t.exception
            f = thredo.spawn(int, "x")
            try:
                f.join()
            except thredo.ThreadError as e:
                out["error"] = e
            try:
                with thredo.timeout_after(0.01):
                    with thredo.timeout_after(LONG):
                        thredo.sleep(FOREVER)
            except ThreadTimeout:
                pass
            return out

        out = run(main)
        assert "deadline expired" in str(out["timeout"])
        assert isinstance(out["timeout"].args[0], float)  # curio's clock reading kept
        assert "cancelled" in str(out["cancel"])
        assert "failed" in str(out["error"])
        assert "deadline" in str(TimeoutCancellationError(1.0))
        assert str(UncaughtTimeoutError()) != ""
        for e in out.values():
            assert " " in str(e)
