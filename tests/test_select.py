"""thredo.net.select and thredo.net.selectors: the stdlib's waits, cancellable in thredo threads."""

from __future__ import annotations

import os
import select as std_select
import selectors as std_selectors
import socket
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from helpers import HOWS, SHORT, WAIT, PlainThread, at_once, expected, interrupted

import thredo
from thredo.net import select as tselect
from thredo.net import selectors as tselectors


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    a, b = socket.socketpair()
    try:
        yield a, b
    finally:
        a.close()
        b.close()


def test_every_stdlib_name_is_here() -> None:
    for mod, ours in ((std_select, tselect), (std_selectors, tselectors)):
        for name in dir(mod):
            if not name.startswith("_"):
                assert hasattr(ours, name), name
    assert tselectors.DefaultSelector is tselectors.EpollSelector


# Each wait: (name, a function of the pair and a timeout that waits for `a` to be readable).
def _select(a: Any, b: Any, timeout: float | None) -> Any:
    return tselect.select([a], [], [], timeout)[0]


def _select_many(a: Any, b: Any, timeout: float | None) -> Any:
    r, w, x = tselect.select([a, b.fileno()], [], [a], timeout)
    return r + x


def _poll(a: Any, b: Any, timeout: float | None) -> Any:
    p = tselect.poll()
    p.register(a, tselect.POLLIN)
    return p.poll(None if timeout is None else timeout * 1000)


def _epoll(a: Any, b: Any, timeout: float | None) -> Any:
    with tselect.epoll() as ep:
        ep.register(a.fileno(), tselect.EPOLLIN)
        return ep.poll(timeout)


def _selector(cls: type) -> Callable[[Any, Any, float | None], Any]:
    def wait(a: Any, b: Any, timeout: float | None) -> Any:
        with cls() as sel:
            sel.register(a, tselectors.EVENT_READ)
            return sel.select(timeout)

    wait.__name__ = cls.__name__
    return wait


WAITS = [
    _select,
    _select_many,
    _poll,
    _epoll,
    _selector(tselectors.SelectSelector),
    _selector(tselectors.PollSelector),
    _selector(tselectors.EpollSelector),
]
BLOCKED_IN = ("select", "poll", "epoll.poll")


@pytest.mark.parametrize("how", HOWS)
@pytest.mark.parametrize("wait", WAITS, ids=lambda w: w.__name__)
def test_cancel_and_timeout(wait: Any, how: str, pair: Any) -> None:
    a, b = pair

    def main() -> None:
        exc = interrupted(how, lambda: wait(a, b, None), BLOCKED_IN)
        assert isinstance(exc, expected(how))

    thredo.run(main)


@pytest.mark.parametrize("how", HOWS)
@pytest.mark.parametrize("wait", WAITS, ids=lambda w: w.__name__)
def test_ready_wait_is_a_cancellation_point_but_timeout_zero_is_not(
    wait: Any, how: str, pair: Any
) -> None:
    a, b = pair
    b.send(b"x")

    def main() -> None:
        assert wait(a, b, None)  # ready: no wait
        assert at_once(how, lambda: wait(a, b, None)) is expected(how)
        assert at_once(how, lambda: wait(a, b, 0))[0] == "returned"

    thredo.run(main)


@pytest.mark.parametrize("runner_kind", ["plain", "thredo"])
@pytest.mark.parametrize("wait", WAITS, ids=lambda w: w.__name__)
def test_own_timeout_and_wake_up(wait: Any, runner_kind: str, pair: Any) -> None:
    """Both kinds of thread: the call's timeout passes (empty answer), data wakes it."""
    a, b = pair

    def scenario() -> None:
        t0 = time.monotonic()
        assert not wait(a, b, SHORT)
        assert SHORT * 0.6 <= time.monotonic() - t0 < WAIT
        b.send(b"x")
        assert wait(a, b, WAIT)
        assert a.recv(1) == b"x"

    if runner_kind == "plain":
        PlainThread(scenario).join()
    else:
        thredo.run(scenario)


def test_select_without_fds_is_a_cancellable_sleep() -> None:
    def main() -> None:
        t0 = time.monotonic()
        assert tselect.select([], [], [], SHORT) == ([], [], [])
        assert time.monotonic() - t0 >= SHORT * 0.6
        exc = interrupted("cancel", lambda: tselect.select([], [], []), "select")
        assert isinstance(exc, thredo.ThreadCancelled)

    thredo.run(main)


def test_select_reports_as_the_stdlib(pair: Any) -> None:
    a, b = pair

    def main() -> None:
        assert tselect.select([a], [a], [], None) == ([], [a], [])
        with pytest.raises(ValueError, match="non-negative"):
            tselect.select([a], [], [], -1)
        r, w = os.pipe()
        os.close(w)
        try:
            assert tselect.select([r], [], [], None) == ([r], [], [])  # EOF is readable
        finally:
            os.close(r)
        with pytest.raises((OSError, ValueError)):
            tselect.select([-1], [], [], None)

    thredo.run(main)


def test_poll_register_modify_unregister(pair: Any) -> None:
    a, b = pair

    def main() -> None:
        p = tselect.poll()
        p.register(a)
        assert p.poll(None) == [(a.fileno(), tselect.POLLOUT)]
        p.modify(a, tselect.POLLIN)
        assert p.poll(0) == []
        p.unregister(a)
        with pytest.raises(KeyError):
            p.unregister(a)

    thredo.run(main)


# -- as the stdlib: the object types, timeout range checks, a mutated list (issue 21 item 2) --


def test_poll_and_epoll_types_as_the_stdlib() -> None:
    """``type(poll())`` cannot be called (stdlib: a factory); ``epoll`` can, but not subclassed."""
    p = tselect.poll()
    with pytest.raises(TypeError, match=r"cannot create '.*poll' instances"):
        type(p)()
    with pytest.raises(TypeError):
        type(std_select.poll())()  # what the stdlib does
    assert type(p).__name__ == "poll"
    with tselect.epoll() as ep:
        assert type(ep) is tselect.epoll
    for mod in (std_select, tselect):
        with pytest.raises(TypeError, match="not an acceptable base type"):
            type("Sub", (mod.epoll,), {})


# INT_MAX of the C int the system calls take a millisecond timeout in.
_INT_MAX = 2**31 - 1
_TIMEOUTS = [
    1 << 64,
    -(1 << 64),
    _INT_MAX,
    _INT_MAX + 1,
    -_INT_MAX - 1,
    -_INT_MAX - 2,
    2**32,
    _INT_MAX - 0.5,
    _INT_MAX + 0.5,
    1e300,
    float("inf"),
    float("nan"),
    -1,
    -2.5,
    1.5,
    True,
    "1",
]


def _outcome(call: Callable[[Any], Any], timeout: Any) -> Any:
    try:
        return call(timeout)
    except Exception as e:
        return type(e)


@pytest.mark.parametrize("runner_kind", ["plain", "thredo"])
def test_poll_and_epoll_timeouts_are_range_checked_as_the_stdlib(
    runner_kind: str, pair: Any
) -> None:
    """Each timeout gives the stdlib's answer: a result (fd ready) or the same exception type."""
    a, _ = pair
    std_p, our_p = std_select.poll(), tselect.poll()
    for p in (std_p, our_p):
        p.register(a, std_select.POLLOUT)
    std_ep, our_ep = std_select.epoll(), tselect.epoll()
    for ep in (std_ep, our_ep):
        ep.register(a.fileno(), std_select.EPOLLOUT)
    got: list[Any] = []

    def scenario() -> None:
        for t in _TIMEOUTS:
            for std, ours in ((std_p.poll, our_p.poll), (std_ep.poll, our_ep.poll)):
                got.append((t, _outcome(std, t), _outcome(ours, t)))

    try:
        if runner_kind == "plain":
            PlainThread(scenario).join()
        else:
            thredo.run(scenario)
    finally:
        std_ep.close()
        our_ep.close()
    assert [(t, s) for t, s, _ in got] == [(t, o) for t, _, o in got]
    assert (1 << 64, OverflowError, OverflowError) in got


@pytest.mark.parametrize("runner_kind", ["plain", "thredo"])
def test_select_over_a_list_its_fileno_mutates(runner_kind: str) -> None:
    """bpo-16230 (CPython's test_select_mutated): the list is read as the stdlib reads it."""
    import sys

    got: list[Any] = []

    def scenario() -> None:
        a: list[Any] = []

        class F:
            def fileno(self) -> int:
                del a[-1]
                return sys.__stdout__.fileno()  # type: ignore[union-attr]

        a[:] = [F()] * 10
        got.append((tselect.select([], a, []), ([], a[:5], [])))

    if runner_kind == "plain":
        PlainThread(scenario).join()
    else:
        thredo.run(scenario)
    ((result, want),) = got
    assert result == want
