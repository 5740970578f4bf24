"""The recv that waits first, in C (``thredo._core.wait_recv``) and in Python: the same rules.

A thredo socket whose last recv had to wait polls before its next recv
(``thredo.net.socket``).  Where the accelerator is built that recv is one C
call, ``_speedups.wait_recv``: the cancellation point, ``wait_fd``'s loop,
the recv and its retry; for every case it does not cover it hands back to
the Python path, which is the reference.  Every test here runs on three
implementations: the C call keeping the GIL around the recv (``c-keepgil``),
the C call releasing it (``c-gil``: one CPU), and the pure Python path
(``pure``: what ``THREDO_PURE=1 THREDO_KEEP_GIL=0`` gives).  Each blocks in
the case under test -- waits that are cancelled, timed out, closed under,
or need not wait at all -- and checks that no data
is lost or duplicated and (the autouse fixture) that no thread or
descriptor leaks.
"""

from __future__ import annotations

import errno
import os
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from helpers import (
    HOWS,
    SHORT,
    WAIT,
    PlainThread,
    at_a_point,
    wait_blocked,
    wait_in_poll,
)

import thredo
import thredo._core
import thredo.net.socket as tsocket
from thredo import ThreadCancelled, ThreadTimeout

WAIT_RECV = thredo._core.wait_recv  # the C call, or None (THREDO_PURE=1, not built)
KEEPGIL = tsocket._keepgil_make()  # the GIL-keeping (recv, send), or None


@pytest.fixture(params=["c-keepgil", "c-gil", "pure"])
def impl(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Which recv runs after a wait: the C call (GIL kept or released) or the Python path."""
    if request.param == "pure":
        monkeypatch.setattr(tsocket, "_wait_recv", None)
        monkeypatch.setattr(tsocket, "_keepgil_recv", None)
        monkeypatch.setattr(tsocket, "_keepgil_send", None)
        return "pure"
    if WAIT_RECV is None or KEEPGIL is None:
        pytest.skip("the C accelerator is not built (or THREDO_PURE=1)")
    monkeypatch.setattr(tsocket, "_wait_recv", WAIT_RECV)
    keep = request.param == "c-keepgil"
    monkeypatch.setattr(tsocket, "_keepgil_recv", KEEPGIL[0] if keep else None)
    monkeypatch.setattr(tsocket, "_keepgil_send", KEEPGIL[1] if keep else None)
    return str(request.param)


@pytest.fixture
def pair() -> Iterator[tuple[Any, Any]]:
    """(client, server) thredo sockets, a socketpair; closed after the test."""
    a, b = tsocket.socketpair()
    with a, b:
        yield a, b


def primed(c: Any, s: Any) -> None:
    """In the calling thredo thread: one recv on ``s`` that has to wait.

    After it the socket polls first and the thread has its own eventfd: the
    state in which the C call applies.
    """
    got: list[bytes] = []
    me = thredo.current_thread()
    helper = thredo.spawn(lambda: (wait_blocked(me, "recv", s), c.sendall(b"p")))
    got.append(s.recv(10))
    helper.join()
    assert got == [b"p"]
    assert s._pollfirst


def registered(st: Any) -> bool:
    """Whether ``st`` is still listed among the waiters of some descriptor."""
    fdw = st.fdwait
    return bool(fdw) and any(st in waiters for waiters in fdw.waiting.values())


def blocked_reader(s: Any, c: Any, then: Callable[[], Any]) -> tuple[thredo.Thread[Any], list[Any]]:
    """A thredo thread that primes ``s``, then runs ``then()`` (a recv that blocks).

    Returns once the priming is done, so a ``wait_blocked`` after it sees ``then``'s wait.
    """
    states: list[Any] = []
    ready = threading.Event()

    def body() -> Any:
        states.append(thredo._core.current_state())
        primed(c, s)
        ready.set()
        return then()

    t = thredo.spawn(body)
    assert ready.wait(WAIT)
    return t, states


# -- the C call is taken, and gives what the Python path gives -----------------------


def test_the_c_call_is_taken_where_it_applies(
    run: Any, impl: str, pair: tuple[Any, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    points = []
    real = tsocket._checkpoint
    monkeypatch.setattr(tsocket, "_checkpoint", lambda: (points.append(1), real()))

    def main() -> None:
        c, s = pair
        primed(c, s)
        c.sendall(b"ready")
        points.clear()
        assert s.recv(100) == b"ready"
        # The C call is the cancellation point itself: the Python one is not called.
        assert points == ([] if impl != "pure" else [1])

    run(main)


def test_round_trips_and_eof(run: Any, impl: str, pair: tuple[Any, Any]) -> None:
    def main() -> None:
        c, s = pair
        primed(c, s)

        def echo() -> int:
            n = 0
            while data := s.recv(64):
                s.sendall(data)
                n += 1
            return n

        t = thredo.spawn(echo)
        for i in range(300):
            msg = b"%d" % i
            c.sendall(msg)
            assert c.recv(64) == msg
        c.shutdown(tsocket.SHUT_WR)
        assert t.join() == 300

    run(main)


def test_blocked_on_says_recv_on_the_socket(run: Any, impl: str, pair: tuple[Any, Any]) -> None:
    def main() -> None:
        c, s = pair
        t, states = blocked_reader(s, c, lambda: s.recv(100))
        rec = wait_blocked(t, "recv", s)
        assert rec.until is None
        assert rec.since > 0
        wait_in_poll(t)  # in the poll() itself, not on the way to it
        assert registered(states[0])  # a closer would find it
        c.sendall(b"data")
        assert t.join() == b"data"
        assert t.blocked_on is None
        assert not registered(states[0])

    run(main)


def test_recv_in_a_plain_thread_is_the_stdlib_s(impl: str, pair: tuple[Any, Any]) -> None:
    c, s = pair
    s._pollfirst = True  # as after a wait: the C call finds no ThreadState and hands back
    t = PlainThread(s.recv, 100)
    wait_in_poll(t._thread)
    c.sendall(b"plain")
    assert t.join() == b"plain"


# -- a cancel or a deadline: before the call, while it waits ----------------------------


@pytest.mark.parametrize("mode", HOWS)
def test_cancel_pending_with_data_ready_consumes_nothing(
    run: Any, impl: str, pair: tuple[Any, Any], mode: str
) -> None:
    def main() -> None:
        c, s = pair
        primed(c, s)
        c.sendall(b"waiting")
        exc = at_a_point(mode, lambda: s.recv(100))
        assert isinstance(exc, ThreadCancelled if mode == "cancel" else ThreadTimeout)
        assert s.recv(100) == b"waiting"

    run(main)


def test_cancelled_while_waiting(run: Any, impl: str, pair: tuple[Any, Any]) -> None:
    def main() -> None:
        c, s = pair

        def recv_or_cancelled() -> Any:
            try:
                return s.recv(100)
            except ThreadCancelled as e:
                return e

        t, states = blocked_reader(s, c, recv_or_cancelled)
        wait_blocked(t, "recv", s)
        wait_in_poll(t)
        t.cancel()
        assert isinstance(t.join(), ThreadCancelled)
        assert not registered(states[0])
        c.sendall(b"after")
        assert s.recv(100) == b"after"  # nothing consumed by the cancelled call

    run(main)


def test_timeout_after_while_waiting(run: Any, impl: str, pair: tuple[Any, Any]) -> None:
    # A deadline armed: the C call hands back at once, the Python wait times out.
    def main() -> None:
        c, s = pair
        primed(c, s)
        with pytest.raises(ThreadTimeout), thredo.timeout_after(SHORT):
            s.recv(100)
        c.sendall(b"after")
        assert s.recv(100) == b"after"

    run(main)


def test_the_socket_timeout_is_the_stdlib_s(run: Any, impl: str, pair: tuple[Any, Any]) -> None:
    def main() -> None:
        c, s = pair
        primed(c, s)
        s.settimeout(SHORT)
        with pytest.raises(TimeoutError):
            s.recv(100)
        s.settimeout(None)
        c.sendall(b"after")
        assert s.recv(100) == b"after"

    run(main)


def test_a_cancel_while_cancellation_is_disabled_waits_for_the_data(
    run: Any, impl: str, pair: tuple[Any, Any]
) -> None:
    # The cancel rings the eventfd while the recv waits with cancellation
    # disabled: the wait goes on (the ring drained, no spin), the data comes
    # back, and the cancel is raised at the first point after the block.
    def main() -> None:
        c, s = pair
        got: list[bytes] = []

        def shielded() -> str:
            with thredo.disable_cancellation():
                got.append(s.recv(100))
            try:
                thredo.sleep(0)
            except ThreadCancelled:
                return "cancelled after"
            return "not cancelled"

        t, _ = blocked_reader(s, c, shielded)
        wait_blocked(t, "recv", s)
        wait_in_poll(t)
        t.cancel(blocking=False)
        wait_blocked(t, "recv", s)  # rang, and waiting again (the C call handed back)
        wait_in_poll(t)
        c.sendall(b"shielded")
        assert t.join() == "cancelled after"
        assert got == [b"shielded"]

    run(main)


# -- the socket closed under the wait, a reset, two readers ------------------------------


def test_closed_under_the_wait_raises_ebadf(run: Any, impl: str, pair: tuple[Any, Any]) -> None:
    def main() -> None:
        c, s = pair

        def recv_error() -> Any:
            try:
                return s.recv(100)
            except OSError as e:
                return e

        t, states = blocked_reader(s, c, recv_error)
        wait_blocked(t, "recv", s)
        wait_in_poll(t)
        s.close()
        exc = t.join()
        assert isinstance(exc, OSError)
        assert exc.errno == errno.EBADF
        assert not registered(states[0])
        assert states[0].closed_under is None

    run(main)


def test_a_reset_raises_like_the_stdlib(run: Any, impl: str) -> None:
    def main() -> None:
        with tsocket.socket() as lst:
            lst.bind(("127.0.0.1", 0))
            lst.listen(1)
            c = tsocket.create_connection(lst.getsockname())
            s, _ = lst.accept()
        with s:
            t, _ = blocked_reader(s, c, lambda: pytest.raises(ConnectionResetError, s.recv, 100))
            wait_blocked(t, "recv", s)
            wait_in_poll(t)
            c.setsockopt(tsocket.SOL_SOCKET, tsocket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            c.close()  # RST
            t.join()

    run(main)


def test_two_readers_one_message_each(run: Any, impl: str, pair: tuple[Any, Any]) -> None:
    # Both wake for one message; the one that finds nothing (EAGAIN) waits again.
    def main() -> None:
        c, s = pair
        got: list[bytes] = []
        first = threading.Event()

        def reader() -> None:
            got.append(s.recv(1))
            first.set()

        def primed_elsewhere() -> None:
            c2, s2 = tsocket.socketpair()
            with c2, s2:
                primed(c2, s2)  # this thread's own eventfd, on another pair
            reader()

        t1, _ = blocked_reader(s, c, reader)
        t2 = thredo.spawn(primed_elsewhere)
        for t in (t1, t2):
            wait_blocked(t, "recv", s)
            wait_in_poll(t)
        c.sendall(b"a")
        assert first.wait(WAIT)
        c.sendall(b"b")
        t1.join()
        t2.join()
        assert sorted(got) == [b"a", b"b"]

    run(main)


def test_the_c_call_refuses_what_it_does_not_cover(pair: tuple[Any, Any]) -> None:
    if WAIT_RECV is None:
        pytest.skip("the C accelerator is not built (or THREDO_PURE=1)")
    c, s = pair
    c.sendall(b"x")
    assert WAIT_RECV(s, 10, True) is None  # a plain thread: no ThreadState
    assert WAIT_RECV(s, 0, True) is None  # recv(0): the Python path
    with pytest.raises(TypeError):
        WAIT_RECV(s, 10)  # type: ignore[call-arg]
    assert s.recv(10) == b"x"  # nothing was consumed
    assert os.get_blocking(s.fileno()) is False  # still thredo's non-blocking socket
