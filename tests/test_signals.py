"""SignalEvent: an Event set by real signals, created in the main or a thredo thread.

Signals are real (``os.kill`` of this process); each test puts custom
SIGUSR1/SIGUSR2 handlers in place first (the ``previous`` fixture) and checks
that ``close()`` restores them.  A thread is known to be blocked in
``wait()`` when the event's ``statistics().waiting`` counts it.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from typing import Any

import pytest
from helpers import SHORT, WAIT, PlainThread, ThredoThread, interrupt_main_thread_when, wait_until

import thredo
from thredo import ThreadCancelled, ThreadTimeout


def waiting(ev: thredo.Event) -> int:
    """How many threads are blocked in ``ev.wait()``."""
    return ev.statistics().waiting


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
            sender = interrupt_main_thread_when(lambda: waiting(ev) == 1)
            assert ev.wait(WAIT) is True
            sender.join()
        assert signal.getsignal(signal.SIGUSR1) is previous.handler

    def test_created_in_main_thread_wakes_waiters_under_run(self, previous):
        ev = thredo.SignalEvent(signal.SIGUSR1)

        def main():
            threads = [ThredoThread(ev.wait), PlainThread(ev.wait, WAIT)]
            wait_until(lambda: waiting(ev) == 2, "2 waiters")
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
                wait_until(lambda: waiting(ev) == 1, "the waiter")
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
                wait_until(lambda: waiting(ev) == 1, "the waiter")
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
                wait_until(lambda: waiting(ev) == 1, "the waiter")
                waiter.cancel()
                assert isinstance(waiter.exception, ThreadCancelled)
                assert not ev.is_set()
                assert waiting(ev) == 0
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


def test_wait_is_a_cancellation_point_even_when_set(previous):
    """A pending cancel or an expired deadline is raised by wait() on a set SignalEvent."""

    def main():
        with thredo.SignalEvent(signal.SIGUSR1) as ev:
            kill_self(signal.SIGUSR1)
            assert ev.wait(WAIT)
            with pytest.raises(ThreadTimeout), thredo.timeout_after(0):
                ev.wait()
            with thredo.disable_cancellation():
                thredo.current_thread().cancel(blocking=False)
                assert ev.wait()  # deferred: not delivered here
            with pytest.raises(ThreadCancelled):
                ev.wait()
            assert ev.wait()  # delivered once
            assert ev.is_set()

    thredo.run(main)


def test_repr_and_statistics(previous):
    with thredo.SignalEvent(signal.SIGUSR1, signal.SIGUSR2) as ev:
        assert repr(ev) == "<thredo.SignalEvent(SIGUSR1, SIGUSR2) unset>"
        assert ev.statistics() == thredo._sync.EventStatistics(is_set=False, waiting=0)
        kill_self(signal.SIGUSR2)
        assert ev.wait(WAIT)
        assert repr(ev) == "<thredo.SignalEvent(SIGUSR1, SIGUSR2) set>"
        assert ev.statistics().is_set
    ev.close()  # idempotent
    assert signal.getsignal(signal.SIGUSR1) is previous.handler
