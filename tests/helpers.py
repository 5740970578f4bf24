"""Helpers shared by the test modules: bounded polling, thread wrappers, sockets.

Plain functions, classes and constants; the fixtures built on them (``runner``)
live in conftest.py.  Test modules import from here as ``from helpers import ...``
(pytest puts tests/ on ``sys.path``).
"""

from __future__ import annotations

import os
import signal
import socket as std_socket
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

import thredo
from thredo import ThreadCancelled, ThreadError, ThreadTimeout

WAIT = 10.0  # upper bound for anything expected to happen promptly
SHORT = 0.05  # a timeout (deadline) that is meant to expire
FOREVER = 3600  # a sleep that only a cancel ends
HOWS = ["cancel", "timeout"]  # the two ways a blocking call is interrupted
LOCAL = "127.0.0.1"
PAYLOAD = bytes(range(256)) * 4096  # 1 MiB, far more than the small socket buffers hold


# -- polling ----------------------------------------------------------------------


def wait_until(
    predicate: Callable[[], Any], what: str = "condition", timeout: float = WAIT
) -> None:
    """Poll ``predicate`` until true; fail after ``timeout`` (an upper bound only)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.0005)


def stack_names(ident: int | None) -> set[str]:
    """Names of the functions on the stack of the thread ``ident`` (empty if gone)."""
    frame = sys._current_frames().get(ident) if ident is not None else None
    names = set()
    while frame is not None:
        names.add(frame.f_code.co_name)
        frame = frame.f_back
    return names


def wait_blocked(t: thredo.Thread, where: tuple[str, ...] = ("wait_fd",)) -> None:
    """Wait until thread ``t`` is blocked inside one of the functions ``where``."""
    wait_until(lambda: stack_names(t.ident) & set(where), f"{t.name} to block in {where}")


# -- threads ----------------------------------------------------------------------


def block_forever(log: list[str], tag: str) -> None:
    """Sleep until cancelled; record that the ``finally`` ran."""
    try:
        thredo.sleep(FOREVER)
    finally:
        log.append(f"{tag} finally")


class PlainThread:
    """A ``threading.Thread`` whose ``join()`` returns the result or re-raises."""

    def __init__(self, func: Callable[..., Any], *args: Any) -> None:
        self._outcome: tuple[bool, Any] | None = None
        self._thread = threading.Thread(
            target=self._main, args=(func, args), name=f"plain-{getattr(func, '__name__', '?')}"
        )
        self._thread.start()

    def _main(self, func: Callable[..., Any], args: tuple[Any, ...]) -> None:
        try:
            self._outcome = (True, func(*args))
        except BaseException as e:  # handed to join()
            self._outcome = (False, e)

    def join(self, timeout: float = WAIT) -> Any:
        self._thread.join(timeout)
        assert not self._thread.is_alive(), "plain thread did not finish"
        assert self._outcome is not None
        ok, value = self._outcome
        if ok:
            return value
        raise value

    def is_alive(self) -> bool:
        return self._thread.is_alive()


class ThredoThread:
    """A thredo thread whose ``join()`` returns the result or re-raises the original."""

    def __init__(self, func: Callable[..., Any], *args: Any) -> None:
        self.thread = thredo.spawn(func, *args)

    def join(self) -> Any:
        try:
            return self.thread.join()
        except ThreadError as e:
            raise e.__cause__ from None

    def is_alive(self) -> bool:
        return self.thread.is_alive()


class Runner:
    """Runs a scenario in a plain thread or under ``thredo.run``; ``spawn`` matches it."""

    def __init__(self, kind: str) -> None:
        self.kind = kind

    def run(self, scenario: Callable[..., Any], *args: Any) -> Any:
        if self.kind == "thredo":
            return thredo.run(scenario, *args)
        return PlainThread(scenario, *args).join(timeout=25)

    def spawn(self, func: Callable[..., Any], *args: Any) -> PlainThread | ThredoThread:
        if self.kind == "thredo":
            return ThredoThread(func, *args)
        return PlainThread(func, *args)


class Interrupted(Exception):
    """Raised by the SIGUSR1 handler of the ``usr1_raises`` fixture."""


def interrupt_main_thread_when(predicate: Callable[[], bool]) -> PlainThread:
    """A plain thread that sends SIGUSR1 to this process once ``predicate()`` holds.

    With ``usr1_raises`` the handler raises ``Interrupted`` in the main thread.
    """

    def killer():
        wait_until(predicate, "the main thread to block")
        os.kill(os.getpid(), signal.SIGUSR1)

    return PlainThread(killer)


# -- cancellation and timeouts -------------------------------------------------------


def expected(how: str) -> type[BaseException]:
    """The exception a call interrupted ``how`` (one of ``HOWS``) raises."""
    return ThreadCancelled if how == "cancel" else ThreadTimeout


def assert_duration(dt: float, timeout: float) -> None:
    """As CPython's assertTimeout, with a generous upper bound."""
    assert dt >= timeout * 0.6
    assert dt < timeout + WAIT


def interrupted(
    mode: str, call: Callable[[], Any], where: tuple[str, ...] = ("wait_fd",)
) -> BaseException:
    """Run ``call()`` until it blocks, then interrupt it; return what it raised.

    ``cancel``: it runs in a new thredo thread, cancelled from this one once
    it is seen blocked in one of ``where``.  ``timeout``: it runs here under
    ``timeout_after(0.1)``.
    """
    if mode == "timeout":
        try:
            with thredo.timeout_after(0.1):
                call()
        except thredo.ThreadTimeout as e:
            return e
        raise AssertionError("the call completed instead of blocking")

    def body() -> Any:
        try:
            call()
        except thredo.ThreadCancelled as e:
            return e
        return "completed"

    t = thredo.spawn(body)
    wait_blocked(t, where)
    t.cancel()
    exc = t.join()
    assert isinstance(exc, thredo.ThreadCancelled), exc
    return exc


# -- sockets ----------------------------------------------------------------------


def read_to_eof(read: Callable[[int], bytes]) -> thredo.Thread:
    """A thredo thread calling ``read(65536)`` until b""; ``join()`` gives the bytes."""

    def read_all() -> bytes:
        chunks: list[bytes] = []
        while True:
            data = read(65536)
            if not data:
                return b"".join(chunks)
            chunks.append(data)

    return thredo.spawn(read_all)


def tcp_accept_queue(lsock: Any) -> int:
    """How many connections wait in a listener's accept queue (Linux TCP_INFO)."""
    info = lsock.getsockopt(std_socket.IPPROTO_TCP, std_socket.TCP_INFO, 104)
    return int.from_bytes(info[24:28], sys.byteorder)  # tcpi_unacked: the accept queue


def has_ipv6_loopback() -> bool:
    if not std_socket.has_ipv6:
        return False
    try:
        with std_socket.socket(std_socket.AF_INET6) as s:
            s.bind(("::1", 0))
    except OSError:
        return False
    return True


needs_ipv6 = pytest.mark.skipif(not has_ipv6_loopback(), reason="no IPv6 loopback")
