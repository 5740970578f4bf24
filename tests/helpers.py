"""Helpers shared by the test modules: bounded polling, thread wrappers, sockets.

Plain functions, classes and constants; the fixtures built on them (``runner``)
live in conftest.py.  Test modules import from here as ``from helpers import ...``
(pytest puts tests/ on ``sys.path``).
"""

from __future__ import annotations

import contextlib
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


def wait_blocked(
    t: thredo.Thread[Any],
    call: str | tuple[str, ...] | None = None,
    obj: object = None,
    timeout: float = WAIT,
) -> thredo.BlockedOn:
    """Wait until thredo thread ``t`` is blocked (its ``blocked_on`` record); return the record.

    The wait mechanism sets ``Thread.blocked_on`` only while the thread
    really waits, after it registered where a waker finds it: once this
    returns, the thread needs another thread's action (or the network) to go
    on.  ``call`` (a name or a tuple of names: ``"recv"``, ``"Queue.get"``
    ...) and ``obj`` (compared by identity) narrow which wait counts.
    """
    calls = (call,) if isinstance(call, str) else call
    found: list[thredo.BlockedOn] = []

    def blocked() -> bool:
        rec = t.blocked_on
        if rec is None or (calls is not None and rec.call not in calls):
            return False
        if obj is not None and rec.obj is not obj:
            return False
        found.append(rec)
        return True

    what = f"{t.name} to block" + (f" in {call}" if call else "") + (f" on {obj!r}" if obj else "")
    wait_until(blocked, what, timeout)
    return found[-1]


# Linux system call numbers of the waits a plain thread's socket call ends in
# (thredo's plain-thread path is poll(); glibc may issue it as ppoll).
_POLL_SYSCALLS = {"x86_64": {7, 271}, "aarch64": {73}, "i686": {168, 309}}


def wait_in_poll(t: threading.Thread, timeout: float = WAIT) -> None:
    """Wait until the plain thread ``t`` sleeps in ``poll()`` (it blocked on a descriptor).

    Plain threads have no ``blocked_on`` record (thredo keeps none for them),
    so this asks the operating system: ``/proc/self/task/TID/syscall`` names
    the system call a sleeping thread is in.  Waiting for the GIL or a lock
    is a futex, not a poll, so a thread seen here is blocked on its socket.
    """
    numbers = _POLL_SYSCALLS[os.uname().machine]
    path = f"/proc/self/task/{t.native_id}/syscall"

    def in_poll() -> bool:
        try:
            with open(path) as f:
                first = f.read().split(" ", 1)[0]
        except FileNotFoundError:  # the thread has exited
            raise AssertionError(f"{t.name} exited instead of blocking") from None
        return first.isdigit() and int(first) in numbers

    wait_until(in_poll, f"{t.name} to block in poll()", timeout)


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
    """A plain thread that sends SIGUSR1 to the main thread once ``predicate()`` holds.

    With ``usr1_raises`` the handler raises ``Interrupted`` in the main thread
    (once).  Sent again while ``predicate()`` still holds 0.2 s later: CPython
    runs a signal's Python handler at the main thread's next bytecode, and a
    signal that lands after its last check but before it sleeps in a lock's
    futex is only marked (no EINTR: it is not sleeping yet), so it sleeps on
    (the stdlib's ``lock.acquire`` has this window too).  Seen ~1 in 300
    runs on a loaded machine.  To the main thread, not the process: a
    process signal may land on another thread (execnet's under xdist).
    """
    main = threading.main_thread().ident
    assert main is not None

    def killer():
        wait_until(predicate, "the main thread to block")
        deadline = time.monotonic() + WAIT
        while True:
            signal.pthread_kill(main, signal.SIGUSR1)
            left = time.monotonic() + 0.2
            while time.monotonic() < left and predicate():
                time.sleep(0.005)
            if not predicate() or time.monotonic() > deadline:
                return

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
    mode: str, call: Callable[[], Any], blocked_in: str | tuple[str, ...] | None = None
) -> BaseException:
    """Run ``call()`` until it blocks, then interrupt it; return what it raised.

    ``cancel``: it runs in a new thredo thread, cancelled from this one once
    it is seen blocked (:func:`wait_blocked`, in ``blocked_in`` if given).
    ``timeout``: it runs here under ``timeout_after(0.1)``.
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
    wait_blocked(t, blocked_in)
    t.cancel()
    exc = t.join()
    assert isinstance(exc, thredo.ThreadCancelled), exc
    return exc


def at_a_point(mode: str, call: Callable[[], Any]) -> BaseException:
    """Call ``call()`` -- which would complete at once -- with a cancel pending or a deadline past.

    A cancellation point raises either before doing its work, even though it
    would not wait; this returns what it raised.  ``cancel``: in a new thredo
    thread, cancelled while it sits in a plain ``threading.Event`` wait
    (which thredo cannot interrupt), just before the call.  ``timeout``: here,
    under ``timeout_after(0)``.
    """
    if mode == "timeout":
        try:
            with thredo.timeout_after(0):
                call()
        except thredo.ThreadTimeout as e:
            return e
        raise AssertionError("the call completed: it is not a cancellation point")
    inside = threading.Event()
    go = threading.Event()

    def body() -> Any:
        inside.set()
        go.wait(WAIT)  # not a thredo call: the cancel is only stored meanwhile
        try:
            call()
        except thredo.ThreadCancelled as e:
            return e
        return "completed: not a cancellation point"

    t = thredo.spawn(body)
    assert inside.wait(WAIT)
    t.cancel(blocking=False)
    go.set()
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


def drain(sock: Any) -> int:
    """Read ``sock`` to end of file as fast as it goes (64 KiB reads); return the byte count."""
    n = 0
    while data := sock.recv(65536):
        n += len(data)
    return n


def busy_loop(step: Callable[[], Any], started: threading.Event | None = None) -> str:
    """Call ``step()`` again and again, for at most ``WAIT`` seconds.

    The loop a cancellation point must stop: ``step`` always succeeds at
    once (a small send to a fast reader).  Without the bound a thredo whose
    calls did not look for a cancel would run it forever.  Sets ``started``
    after the first step.
    """
    end = time.monotonic() + WAIT
    step()
    if started is not None:
        started.set()
    while time.monotonic() < end:
        step()
    return "ran to the bound: never stopped"


def stopped_promptly(mode: str, step: Callable[[], Any]) -> BaseException:
    """Run :func:`busy_loop` of ``step`` and stop it ``mode``-wise; return what it raised.

    ``timeout``: here, under ``timeout_after(0.3)``.  ``cancel``: in a new
    thredo thread, cancelled once it has made a step.  Either way it must
    end well before the loop's own bound.
    """
    t0 = time.monotonic()
    if mode == "timeout":
        try:
            with thredo.timeout_after(0.3):
                busy_loop(step)
        except thredo.ThreadTimeout as e:
            exc: BaseException = e
        else:
            raise AssertionError("the busy loop ran to its bound: the deadline was never seen")
        assert time.monotonic() - t0 >= 0.3 * 0.6
    else:
        started = threading.Event()
        t = thredo.spawn(busy_loop, step, started)
        assert started.wait(WAIT)
        t0 = time.monotonic()
        t.cancel()
        assert t.exception is not None, t.result
        exc = t.exception
        assert isinstance(exc, thredo.ThreadCancelled), exc
    assert time.monotonic() - t0 < WAIT / 2
    return exc


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


# -- cancellation points ----------------------------------------------------------


def at_once(how: str, call: Callable[[], Any]) -> Any:
    """What ``call()`` raises with a cancel pending / a deadline expired: its type, or
    ``("returned", value)`` (then the pending cancel is delivered by a ``sleep(0)``)."""

    def body() -> Any:
        try:
            if how == "cancel":
                with thredo.disable_cancellation():
                    thredo.current_thread().cancel(blocking=False)
                value = call()
            else:
                with thredo.timeout_after(0):
                    value = call()
        except (ThreadCancelled, ThreadTimeout) as e:
            return type(e)
        if how == "cancel":
            with pytest.raises(ThreadCancelled):
                thredo.sleep(0)
        return ("returned", value)

    return thredo.spawn(body).join()


def stop_busy_loop(
    how: str, step: Callable[[], Any], around: Callable[[], Any] = contextlib.nullcontext
) -> int:
    """Run ``step()`` in a loop that never has to wait; stop it by ``how``.

    ``cancel``: the loop runs in a thredo thread cancelled (``cancel()``) from
    this one once it has looped a while.  ``timeout``: it runs here under
    ``ignore_after(0.3)``.  Either must end it within a generous bound; a plain
    timer ends the loop after ``WAIT`` regardless, so a loop that cannot be
    stopped fails the test instead of hanging it.  ``around()`` is a context
    manager entered around the loop, in the looping thread.  Returns the loop count.
    """
    stop = threading.Event()
    watchdog = threading.Timer(WAIT, stop.set)
    watchdog.start()
    count = [0]

    def loop() -> None:
        with around():
            while not stop.is_set():
                step()
                count[0] += 1

    try:
        t0 = time.monotonic()
        if how == "timeout":
            with thredo.ignore_after(0.3) as scope:
                loop()
            assert scope.expired, "the loop ran until the watchdog stopped it"
        else:
            t = thredo.spawn(loop)
            wait_until(lambda: count[0] > 100, "the loop to run")
            t.cancel()
            assert isinstance(t.exception, ThreadCancelled), "the loop was not cancelled"
        assert time.monotonic() - t0 < WAIT / 2
    finally:
        stop.set()
        watchdog.cancel()
        watchdog.join()
    return count[0]


def shared_epolls() -> list[object]:
    """The shared fd-wait epolls of the runs in progress (``RunContext.fdwaits.shared``)."""
    from thredo._core._runctx import RunContext

    found: list[object] = []
    for run in RunContext.running():
        fds = run.fdwaits
        if fds is not None and fds.shared is not None:
            found.append(fds.shared)
    return found
