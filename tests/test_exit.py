"""The thread-exit path: joiners, observers, the run's eventfd pool, cancels racing an exit."""

from __future__ import annotations

import functools
import logging
import os
import threading
from typing import Any

import pytest
from helpers import wait_blocked, wait_until

import thredo
import thredo._core._fdwait
from thredo import ThreadCancelled, ThreadError
from thredo._core._fdwait import _poll_wait, start_run
from thredo._core._runctx import RunContext
from thredo._core._wait import ThreadState, current_state
from thredo.net import socket as tsocket


def _fdwait(t: thredo.Thread[Any]) -> Any:
    st = t._state
    assert st is not None
    assert st.fdwait
    return st.fdwait


def _assert_unrung(efd: int) -> None:
    with pytest.raises(BlockingIOError):  # counter 0: nothing would wake its poll
        os.eventfd_read(efd)


def test_join_returns_after_the_exit_observers(run: Any) -> None:
    def main() -> None:
        for _ in range(50):
            seen: list[str] = []
            gate = thredo.Event()
            t = thredo.spawn(gate.wait)
            assert t._on_exit(lambda t, seen=seen: seen.append("observer"))
            gate.set()
            t.join()
            assert seen == ["observer"]
            assert t not in current_state().run.live()  # type: ignore[union-attr]

    run(main)


def test_a_rung_eventfd_is_drained_before_its_next_owner_waits(run: Any) -> None:
    def main() -> None:
        a, b = tsocket.socketpair()
        with a, b:
            t = thredo.spawn(a.recv, 10)
            wait_blocked(t, "recv", a)
            old = _fdwait(t)
            efd = old.efd
            t.cancel()  # rings the eventfd; the thread exits without reading it
            assert old.rung
            assert old.efd is None
            u = thredo.spawn(a.recv, 10)
            wait_blocked(u, "recv", a)
            assert _fdwait(u).efd == efd  # the same eventfd, from the pool
            _assert_unrung(efd)
            assert u.blocked_on is not None  # still waiting: no wake-up crossed over
            b.sendall(b"x")
            assert u.join() == b"x"

    run(main)


def test_a_late_interrupt_never_reaches_the_next_owner(run: Any) -> None:
    def main() -> None:
        a, b = tsocket.socketpair()
        with a, b:
            t = thredo.spawn(a.recv, 10)
            wait_blocked(t, "recv", a)
            old = _fdwait(t)
            b.sendall(b"x")
            assert t.join() == b"x"
            u = thredo.spawn(a.recv, 10)
            wait_blocked(u, "recv", a)
            new = _fdwait(u)
            assert new is not old
            old.interrupt()  # e.g. a canceller that read t's parked wait before it exited
            t._state.deliver(ThreadCancelled("late"))  # type: ignore[union-attr]
            _assert_unrung(new.efd)
            assert u.blocked_on is not None
            b.sendall(b"y")
            assert u.join() == b"y"

    run(main)


def test_cancels_racing_the_exit(run: Any) -> None:
    def main() -> None:
        for i in range(100):
            a, b = tsocket.socketpair()
            with a, b:
                t = thredo.spawn(a.recv, 10)
                wait_blocked(t, "recv", a)
                go = threading.Event()

                def canceller(t: thredo.Thread[Any] = t, go: threading.Event = go) -> None:
                    go.wait()
                    while not t.terminated:
                        t.cancel(blocking=False)

                c = threading.Thread(target=canceller)
                c.start()
                go.set()
                if i % 2:
                    b.sendall(b"x")  # it may return the byte or be cancelled
                t.wait()
                assert t._exception is None or isinstance(t._exception, ThreadCancelled)
                c.join()
        a, b = tsocket.socketpair()
        with a, b:
            u = thredo.spawn(a.recv, 10)  # the pooled eventfds carry no stale wake-up
            wait_blocked(u, "recv", a)
            _assert_unrung(_fdwait(u).efd)
            b.sendall(b"z")
            assert u.join() == b"z"

    run(main)


def test_cancel_of_many_idle_handlers_leaves_nothing(run: Any) -> None:
    n = 50

    def main() -> None:
        ready = thredo.Event()
        port: list[int] = []

        def serve() -> None:
            def on_ready(sock: Any) -> None:
                port.append(sock.getsockname()[1])
                ready.set()

            thredo.net.tcp_server("127.0.0.1", 0, lambda c, a: c.recv(1), ready=on_ready)

        srv = thredo.spawn(serve)
        ready.wait()
        clients = [tsocket.create_connection(("127.0.0.1", port[0])) for _ in range(n)]
        try:
            run_ = current_state().run  # type: ignore[union-attr]

            def handlers() -> list[Any]:
                return [t for t in run_.live() if t.name.startswith("thredo handler")]

            wait_until(lambda: len(handlers()) == n, "every handler started")
            for t in handlers():
                wait_blocked(t, "recv")
            srv.cancel()
            assert handlers() == []
            for c in clients:
                assert c.recv(1) == b""
        finally:
            for c in clients:
                c.close()

    run(main)


def test_an_eventfd_let_go_after_its_run_ended_is_closed() -> None:
    # A thread abandoned by a second Ctrl-C may exit after its run closed the pool.
    rc = RunContext()
    start_run(rc)
    st = ThreadState(None, rc)
    before = thredo._core._fdwait._eventfds
    fdw = _poll_wait(st)
    assert fdw is not None
    assert thredo._core._fdwait._eventfds == before + 1
    rc.close()  # closes the (empty) pool
    fdw.close()
    assert thredo._core._fdwait._eventfds == before
    assert rc.fdwaits is not None
    assert rc.fdwaits.pool is None  # closed with the run


class _Records(logging.Handler):
    """The ``thredo`` logger's records, with an event set on each."""

    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []
        self.logged = threading.Event()

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)
        self.logged.set()


@pytest.fixture
def records() -> Any:
    """The records; and the default ``threading.excepthook`` (pytest sets its own)."""
    h = _Records()
    logger = logging.getLogger("thredo")
    logger.addHandler(h)
    old, threading.excepthook = threading.excepthook, threading.__excepthook__
    try:
        yield h
    finally:
        threading.excepthook = old
        logger.removeHandler(h)


def _fail() -> None:
    raise ValueError("boom")


def test_a_failure_nobody_references_is_logged_soon_after_its_end(records: _Records) -> None:
    """Issue 22.5: within 1 s of the thread's end, not when run() ends; and once only."""

    def main() -> int:
        t = thredo.spawn(_fail)
        os_thread = t.os_thread()
        del t
        os_thread.join()
        assert records.logged.wait(1.0), "not logged while the run goes on"
        return len(records.records)

    assert thredo.run(main) == 1
    assert len(records.records) == 1  # not again when run() ends
    assert records.records[0].exc_info is not None
    assert isinstance(records.records[0].exc_info[1], ValueError)


def test_a_retrieved_failure_is_never_logged(records: _Records) -> None:
    def main() -> None:
        t = thredo.spawn(_fail)
        with pytest.raises(ThreadError):
            t.join()
        del t

    thredo.run(main)
    assert records.records == []


@pytest.mark.parametrize("where", ["threading", "thredo"])
def test_a_program_set_excepthook_takes_the_report_over(
    records: _Records, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    """``threading.excepthook``, or (issue 22, item 5) ``thredo.excepthook``, set by the program."""
    seen: list[threading.ExceptHookArgs] = []
    called = threading.Event()

    def hook(args: threading.ExceptHookArgs) -> None:
        seen.append(args)
        called.set()

    def main() -> None:
        t = thredo.spawn(_fail)
        os_thread = t.os_thread()
        del t
        os_thread.join()
        assert called.wait(1.0)

    monkeypatch.setattr(threading if where == "threading" else thredo, "excepthook", hook)
    thredo.run(main)
    assert len(seen) == 1
    assert records.records == []
    assert seen[0].exc_type is ValueError
    assert isinstance(seen[0].exc_value, ValueError)
    assert seen[0].thread is not None


def test_the_hook_in_place_takes_the_report_whoever_installed_it(records: _Records) -> None:
    """Issue 22: no hook is special-cased by where it comes from, a test runner's included.

    The rule is the stdlib's for a plain thread: whatever ``threading.excepthook``
    is (other than the default) gets the report.  Here it is pytest's own hook
    (a ``functools.partial`` of ``_pytest.threadexception.thread_exception_hook``),
    which thredo used to skip: the report went to the logger instead.
    """
    threadexception = pytest.importorskip("_pytest.threadexception")
    got: list[Any] = []
    hook = functools.partial(threadexception.thread_exception_hook, append=got.append)
    plain_hooked: list[Any] = []

    def main() -> None:
        t = thredo.spawn(_fail)
        os_thread = t.os_thread()
        del t
        os_thread.join()
        p = threading.Thread(target=_fail)  # a plain thread's, for comparison
        p.start()
        p.join()
        plain_hooked.extend(got[1:])

    old, threading.excepthook = threading.excepthook, hook
    try:
        thredo.run(main)
    finally:
        threading.excepthook = old
    assert records.records == []
    assert len(got) == 2  # the thredo thread's, then the plain one's
    assert [type(m.exc_value) for m in got] == [ValueError, ValueError]
    assert got[0].msg.startswith("Exception in thread Thread-")
    assert plain_hooked
