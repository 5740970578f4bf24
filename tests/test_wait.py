"""The wait mechanism itself: park, Waiter, WaitQueue, checkpoint, wait_fd.

These live in ``thredo._core._wait`` and ``thredo._core._fdwait``.  Every blocking call
of thredo ends in one of them, so their rules are checked here once,
directly: a notified waiter completes even when a cancel arrives at the
same time (nothing is lost); a cancel or a deadline interrupts a parked
thread and leaves nothing registered; the call's own timeout returns
instead of raising; plain threads get the stdlib's behaviour;
``Thread.blocked_on`` is set exactly while the thread waits; a thread's
eventfd is closed when it exits; past the eventfd budget fd waits go
through the run's shared epoll.  Threads are ordered with ``wait_blocked``
(the ``blocked_on`` record), events and joins.
"""

from __future__ import annotations

import os
import threading
import time
from _thread import allocate_lock
from typing import Any

import pytest
from helpers import SHORT, WAIT, shared_epolls, wait_blocked, wait_in_poll, wait_until

import thredo
import thredo._core._fdwait
from thredo import ThreadCancelled, ThreadTimeout
from thredo._core._fdwait import POLLIN, POLLOUT, wait_fd
from thredo._core._wait import Waiter, WaitQueue, checkpoint, current_state, park
from thredo.net import socket as tsocket

CALL = "test.wait"  # the call name the tests' own waits record in blocked_on


def eventfds() -> int:
    """How many eventfds this process has open."""
    n = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            if os.readlink(f"/proc/self/fd/{fd}") == "anon_inode:[eventfd]":
                n += 1
        except FileNotFoundError:  # closed meanwhile (the listing's own fd)
            pass
    return n


class Parked:
    """A mutex and a WaitQueue, and a thredo thread waiting on them with ``wait``."""

    def __init__(self, timeout: float | None = None) -> None:
        self.mutex = allocate_lock()
        self.wq = WaitQueue()
        self.timeout = timeout

    def wait(self) -> bool:
        with self.mutex:
            return self.wq.wait(self.mutex, self.timeout, CALL, self.wq)

    def spawn(self) -> thredo.Thread[Any]:
        t = thredo.spawn(self.wait)
        wait_blocked(t, CALL, self.wq)
        return t

    def waiting(self) -> int:
        with self.mutex:
            return len(self.wq)


# -- park and WaitQueue -----------------------------------------------------------


class TestWaitQueue:
    def test_notify_completes_the_wait(self, run: Any) -> None:
        def main() -> None:
            p = Parked()
            t = p.spawn()
            with p.mutex:
                assert p.wq.notify() == 1
            assert t.join() is True
            assert p.waiting() == 0

        run(main)

    def test_notified_waiter_completes_even_when_a_cancel_arrives(self, run: Any) -> None:
        def main() -> list[Any]:
            p = Parked()
            outcome: list[Any] = []

            def waiter() -> None:
                outcome.append(p.wait())
                try:
                    checkpoint()  # the cancel comes at the next point
                except ThreadCancelled:
                    outcome.append("cancelled at the next point")

            t = thredo.spawn(waiter)
            wait_blocked(t, CALL, p.wq)
            # Holding the mutex, the waiter cannot retake it (and look) before
            # both the notification and the cancel are in.
            with p.mutex:
                p.wq.notify()
                t.cancel(blocking=False)
            t.join()
            return outcome

        assert run(main) == [True, "cancelled at the next point"]

    def test_cancel_interrupts_a_parked_thread_and_unregisters_it(self, run: Any) -> None:
        def main() -> None:
            p = Parked()
            t = p.spawn()
            assert p.waiting() == 1
            t.cancel()
            assert isinstance(t.exception, ThreadCancelled)
            assert p.waiting() == 0  # no waiter left behind for a waker to "wake"

        run(main)

    def test_deadline_interrupts_a_parked_thread(self, run: Any) -> None:
        def main() -> float:
            p = Parked()
            t0 = time.monotonic()
            with pytest.raises(ThreadTimeout), thredo.timeout_after(SHORT):
                p.wait()
            assert p.waiting() == 0
            return time.monotonic() - t0

        elapsed = run(main)
        assert SHORT * 0.6 <= elapsed < SHORT + WAIT

    def test_own_timeout_returns_false_without_raising(self, run: Any) -> None:
        def main() -> None:
            p = Parked(timeout=SHORT)
            assert p.wait() is False
            assert p.waiting() == 0

        run(main)

    def test_cancel_is_deferred_under_disable_cancellation(self, run: Any) -> None:
        def main() -> list[Any]:
            p = Parked()
            outcome: list[Any] = []

            def waiter() -> None:
                with thredo.disable_cancellation():
                    outcome.append(p.wait())  # a cancel does not end this wait
                try:
                    checkpoint()
                except ThreadCancelled:
                    outcome.append("cancelled after the block")

            t = thredo.spawn(waiter)
            wait_blocked(t, CALL, p.wq)
            t.cancel(blocking=False)
            # The interrupt woke the waiter, which found cancellation
            # disabled and parked again: it still waits, still registered.
            wait_blocked(t, CALL, p.wq)
            assert p.waiting() == 1
            with p.mutex:
                p.wq.notify()
            t.join()
            return outcome

        assert run(main) == [True, "cancelled after the block"]

    def test_park_returns_the_cancel_for_the_caller_to_raise(self, run: Any) -> None:
        def main() -> None:
            w = Waiter()
            got: list[Any] = []

            def parker() -> None:
                got.append(park(w, None, None, CALL, w))

            t = thredo.spawn(parker)
            wait_blocked(t, CALL, w)
            t.cancel()
            assert t.exception is None  # park returned it, did not raise it
            assert isinstance(got[0], ThreadCancelled)
            assert not w.notified
            # its own timeout: None, not notified
            assert park(Waiter(), SHORT) is None

        run(main)

    def test_waiters_are_woken_in_arrival_order(self, run: Any) -> None:
        def main() -> list[int]:
            mutex = allocate_lock()
            wq = WaitQueue()
            order: list[int] = []

            def waiter(i: int) -> None:
                with mutex:
                    wq.wait(mutex, None, CALL, wq)
                    order.append(i)

            ts = []
            for i in range(3):
                ts.append(thredo.spawn(waiter, i))
                wait_blocked(ts[-1], CALL, wq)  # queued in this order
            for t in ts:
                with mutex:
                    wq.notify()
                t.join()
            return order

        assert run(main) == [0, 1, 2]


class TestBlockedOn:
    def test_set_while_waiting_and_none_before_and_after(self, run: Any) -> None:
        def main() -> None:
            p = Parked()
            seen: list[Any] = []

            def waiter() -> None:
                me = thredo.current_thread()
                seen.append(me.blocked_on)
                p.wait()
                seen.append(me.blocked_on)

            t0 = time.monotonic()
            t = thredo.spawn(waiter)
            rec = wait_blocked(t, CALL, p.wq)
            assert isinstance(rec, thredo.BlockedOn)
            assert rec.call == CALL
            assert rec.obj is p.wq
            assert t0 <= rec.since <= time.monotonic()
            with p.mutex:
                p.wq.notify()
            t.join()
            assert seen == [None, None]
            assert t.blocked_on is None

        run(main)

    def test_names_the_public_calls(self, run: Any) -> None:
        def main() -> None:
            q: thredo.Queue[int] = thredo.Queue()
            t = thredo.spawn(q.get)
            assert wait_blocked(t, "Queue.get").obj is q
            q.put(1)
            assert t.join() == 1
            t = thredo.spawn(thredo.sleep, 3600)
            wait_blocked(t, "sleep")
            t.cancel()
            a, b = tsocket.socketpair()
            with a, b:
                t = thredo.spawn(a.recv, 10)
                assert wait_blocked(t, "recv").obj is a
                b.sendall(b"x")
                assert t.join() == b"x"

        run(main)


class TestCheckpoint:
    def test_raises_a_pending_cancel_without_waiting(self, run: Any) -> None:
        def main() -> list[str]:
            inside = threading.Event()
            go = threading.Event()
            log: list[str] = []

            def body() -> None:
                inside.set()
                go.wait(WAIT)  # not a thredo call: the cancel lands while it is here
                log.append("computing")
                try:
                    checkpoint()
                except ThreadCancelled:
                    log.append("cancelled")
                    raise

            t = thredo.spawn(body)
            assert inside.wait(WAIT)
            t.cancel(blocking=False)
            go.set()
            t.wait()
            assert isinstance(t.exception, ThreadCancelled)
            return log

        assert run(main) == ["computing", "cancelled"]

    def test_raises_an_expired_deadline_once(self, run: Any) -> None:
        def main() -> None:
            with pytest.raises(ThreadTimeout), thredo.timeout_after(0):
                checkpoint()
            with thredo.ignore_after(0) as scope:
                checkpoint()
                raise AssertionError("not reached")
            assert scope.expired
            with thredo.timeout_after(WAIT):
                checkpoint()  # not expired: nothing

        run(main)

    def test_deferred_under_disable_cancellation(self, run: Any) -> None:
        def main() -> None:
            with thredo.ignore_after(0) as scope:
                with thredo.disable_cancellation():
                    checkpoint()  # deferred
                checkpoint()
            assert scope.expired

        run(main)

    def test_nothing_in_a_plain_thread(self) -> None:
        assert current_state() is None
        checkpoint()


class TestPlainThreads:
    """No ThreadState: exactly the stdlib's behaviour (only the call's own timeout)."""

    def test_wait_queue_in_plain_threads(self) -> None:
        mutex = allocate_lock()
        wq = WaitQueue()
        with mutex:
            assert wq.wait(mutex, SHORT) is False
            assert not wq
        result: list[bool] = []

        def waiter() -> None:
            with mutex:
                result.append(wq.wait(mutex, WAIT))

        t = threading.Thread(target=waiter)
        t.start()
        wait_until(lambda: len(wq) == 1, "the plain waiter to queue")
        with mutex:  # taken once the waiter has released it, parked
            wq.notify()
        t.join(WAIT)
        assert result == [True]

    def test_wait_fd_in_a_plain_thread(self) -> None:
        a, b = tsocket.socketpair()
        with a, b:
            assert wait_fd(a.fileno(), POLLIN, SHORT) is False
            assert wait_fd(a.fileno(), POLLOUT, SHORT) is True
            got: list[bool] = []
            t = threading.Thread(target=lambda: got.append(wait_fd(a.fileno(), POLLIN, WAIT)))
            t.start()
            wait_in_poll(t)
            b.sendall(b"x")
            t.join(WAIT)
            assert got == [True]


# -- waits on file descriptors ---------------------------------------------------------


class TestWaitFd:
    def test_ready_timeout_cancel_and_deadline(self, run: Any) -> None:
        def main() -> None:
            a, b = tsocket.socketpair()
            with a, b:
                fd = a.fileno()
                assert wait_fd(fd, POLLOUT) is True
                assert wait_fd(fd, POLLIN, SHORT, a, "recv") is False
                with pytest.raises(ThreadTimeout), thredo.timeout_after(SHORT):
                    wait_fd(fd, POLLIN, None, a, "recv")
                t = thredo.spawn(wait_fd, fd, POLLIN, None, a, "recv")
                rec = wait_blocked(t, "recv", a)
                assert rec.call == "recv"
                t.cancel()
                assert isinstance(t.exception, ThreadCancelled)
                t = thredo.spawn(wait_fd, fd, POLLIN, None, a, "recv")
                wait_blocked(t, "recv", a)
                b.sendall(b"x")
                assert t.join() is True
                assert a.recv(1) == b"x"  # wait_fd consumes nothing

        run(main)

    def test_default_call_names(self, run: Any) -> None:
        def main() -> None:
            a, b = tsocket.socketpair()
            with a, b:
                t = thredo.spawn(wait_fd, a.fileno(), POLLIN)
                assert wait_blocked(t).call == "wait_readable"
                t.cancel()

        run(main)

    def test_a_ready_fd_wins_over_an_expired_deadline(self, run: Any) -> None:
        # A wait already satisfied completes; the deadline comes at the next point.
        def main() -> None:
            a, b = tsocket.socketpair()
            with a, b, thredo.ignore_after(0) as scope:
                assert wait_fd(a.fileno(), POLLOUT) is True
                checkpoint()
            assert scope.expired

        run(main)

    def test_negative_fd_is_ebadf(self, run: Any) -> None:
        def main() -> None:
            with pytest.raises(OSError, match="Bad file descriptor"):
                wait_fd(-1, POLLIN)

        run(main)

    def test_eventfd_made_on_first_wait_pooled_on_exit_closed_with_the_run(self, run: Any) -> None:
        before = eventfds()

        def main() -> None:
            a, b = tsocket.socketpair()
            with a, b:
                t = thredo.spawn(a.recv, 10)
                wait_blocked(t, "recv", a)
                assert eventfds() == before + 1  # the thread's cancel bell
                b.sendall(b"x")
                assert t.join() == b"x"
                assert eventfds() == before + 1  # back in the run's pool
                t = thredo.spawn(a.recv, 10)
                wait_blocked(t, "recv", a)
                assert eventfds() == before + 1  # the next thread reuses it
                b.sendall(b"y")
                assert t.join() == b"y"

        run(main)
        assert eventfds() == before  # the pool is closed when the run ends


class TestPastTheEventfdBudget:
    """With no eventfd allowed, fd waits go through the run's shared epoll."""

    @pytest.fixture(autouse=True)
    def no_eventfds(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(thredo._core._fdwait, "EVENTFD_SHARE", 0.0)

    def test_waits_use_the_shared_epoll(self, run: Any) -> None:

        def main() -> None:
            before = eventfds()
            assert not shared_epolls()  # made on the first wait past the budget
            a, b = tsocket.socketpair()
            with a, b:
                t = thredo.spawn(a.recv, 10)
                assert wait_blocked(t, "recv", a).obj is a  # really blocked: no data
                assert len(shared_epolls()) == 1  # ... in this run's shared epoll
                assert eventfds() == before  # ... with no eventfd of its own
                b.sendall(b"x")
                assert t.join() == b"x"
                t = thredo.spawn(a.recv, 10)
                wait_blocked(t, "recv", a)
                t.cancel()
                assert isinstance(t.exception, ThreadCancelled)
                with pytest.raises(ThreadTimeout), thredo.timeout_after(SHORT):
                    a.recv(10)
                assert wait_fd(a.fileno(), POLLIN, SHORT, a, "recv") is False
                b.sendall(b"still usable")
                assert a.recv(100) == b"still usable"

        run(main)
        assert not shared_epolls()  # forgotten (and closed) when the run ended
