"""The curio kernel that owns a run, and Ctrl-C (``thredo.run()`` wraps it: ``thredo._run``).

Theory of operation
-------------------

:func:`run_kernel` makes a :class:`~thredo._core.RunContext`, starts a curio
kernel in the calling thread and runs one supervising task in it.  That
task starts the main thredo thread (any :class:`MainThread`: the core
knows threads only by that protocol), then serves the run's inbox: it sleeps
until a thread (or the SIGINT handler) posts a callback, and calls each
callback in the kernel thread (see ``_runctx`` for the picture).  The
kernel hosts what needs it -- ``AWAIT`` coroutines, the shared epoll task of
``_fdwait`` -- but knows nothing of them: they arrive as callbacks.  The
signal module's wake-up fd is the inbox's socket, so a signal landing on
any thread wakes the kernel to run its Python handler.

Phases of a run:

1. serve until the main thread exits;
2. serve until every non-daemon thread has exited;
3. cancel every remaining (daemon) thread and serve until all have exited;
4. join the underlying OS threads, restore SIGINT, return or raise.

The first Ctrl-C cancels the main thread, and once it has unwound every
thread still running, and makes ``run()`` raise ``KeyboardInterrupt`` when
all have exited; a second one makes ``run()`` raise ``KeyboardInterrupt`` at
once, leaving the (daemonic at the OS level) threads to die with the
process.  Ctrl-C is handled only when ``run()`` is called in the main
thread.

The monitor lives above the core (``thredo._run`` starts it before the
kernel and removes it after): it needs nothing from the kernel.
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Callable, Coroutine
from typing import Any, Protocol, TypeVar

import curio
from curio import Kernel
from curio.traps import _read_wait

from ._fdwait import start_run
from ._runctx import Member, RunContext
from ._wait import current_state

__all__ = ("run_kernel", "MainThread")

CTRL_C_HINT_DELAY = 0.25  # seconds a first Ctrl-C may take to reach the main thread

T = TypeVar("T")


class MainThread(Member, Protocol):
    """What the kernel needs of the main thread of a run (``thredo._threads`` makes one).

    ``member`` is the thread as the run's registry knows it (the object
    that calls ``RunContext.exited``).
    """

    @property
    def member(self) -> Member: ...

    @property
    def cancel_pending(self) -> bool: ...

    @property
    def blocked_on(self) -> object: ...

    def start_in(self, run: RunContext) -> None:
        """Start the thread as a thread of ``run``."""
        ...

    def deferring(self) -> bool:
        """True while the thread has cancellation disabled (``disable_cancellation``)."""
        ...

    def outcome(self) -> Any:
        """The thread's result; raises its exception (once it has terminated)."""
        ...


class _Supervisor:
    """The kernel side of one run: its phases and Ctrl-C."""

    def __init__(self, run: RunContext, main: MainThread) -> None:
        self.run = run
        self.main = main
        self.interrupted = 0  # Ctrl-C count
        self.abandoned = False  # second Ctrl-C: stop waiting for threads

    async def supervise(self) -> None:
        run = self.run
        main = self.main
        run.main = main.member
        main.start_in(run)
        await self._serve(lambda: main.terminated)
        run.watch = True
        if self.interrupted:  # Ctrl-C: what main left behind goes too
            self._cancel_all()
        await self._serve(lambda: run.nondaemon == 0)
        self._cancel_all()
        await self._serve(lambda: not run.threads)
        if not self.abandoned:
            run.reap_all()  # nothing started under run() outlives it

    def _cancel_all(self) -> None:
        self.run.closing = True
        for t in self.run.live():
            t.cancel(blocking=False)

    async def _serve(self, done: Callable[[], bool]) -> None:
        run = self.run
        sock = run.wakeup_socket()
        while not (done() or self.abandoned):
            await _read_wait(sock)
            inbox = run.take()
            while inbox:
                coro = inbox.popleft()()
                if coro is not None:
                    await coro

    def on_sigint(self) -> Coroutine[Any, Any, None] | None:
        """Posted by the SIGINT handler."""
        self.interrupted += 1
        if self.interrupted > 1:
            # Second Ctrl-C: stop waiting.  run() raises KeyboardInterrupt now;
            # the threads (daemonic at the OS level) die with the process.
            self._cancel_all()
            self.abandoned = True
            return None
        main = self.main
        if main is not None and not main.terminated:
            main.cancel(blocking=False)
            return self._hint_later(main)
        self._cancel_all()
        return None

    async def _hint_later(self, main: MainThread) -> None:
        await curio.spawn(self._hint, main, daemon=True)

    async def _hint(self, main: MainThread) -> None:
        """The first Ctrl-C did not reach the main thread: say why, once."""
        await curio.sleep(CTRL_C_HINT_DELAY)
        if main.cancel_pending and main.blocked_on is None and self.interrupted == 1:
            if main.deferring():
                return  # deliberately deferred (disable_cancellation)
            sys.stderr.write(
                "thredo: Ctrl-C: the main thread is in a call thredo cannot interrupt "
                "(time.sleep, a threading lock, a C extension's I/O); it is cancelled at its "
                "next thredo blocking call. Press Ctrl-C again to end the program now.\n"
            )
            sys.stderr.flush()


def run_kernel(main: MainThread) -> Any:
    """Run ``main`` under a new curio kernel until the run is over; its outcome.

    Returns ``main``'s result or re-raises its exception unchanged, after every
    non-daemon thread it started has exited and every daemon thread has been
    cancelled and has exited.  Ctrl-C (in the main thread) cancels ``main``,
    lets it unwind, then raises ``KeyboardInterrupt``; a second Ctrl-C raises
    it at once.

    Raises:
        RuntimeError: called from inside a thredo thread.
    """
    if current_state() is not None:
        raise RuntimeError("thredo.run() cannot be called from inside a thredo thread")
    rt = RunContext()
    start_run(rt)  # the shared fd-wait epoll exists before any thread waits (_fdwait)
    sup = _Supervisor(rt, main)
    previous: Any = None
    previous_fd = -1
    in_main = threading.current_thread() is threading.main_thread()
    # A SIGINT ignored when the program started (nohup, `cmd &` in a script)
    # stays ignored, as Python itself leaves it.
    handle_sigint = in_main and signal.getsignal(signal.SIGINT) is not signal.SIG_IGN
    if handle_sigint:
        previous = signal.signal(signal.SIGINT, lambda signo, frame: rt.post(sup.on_sigint))
    if in_main:
        # A signal may land on any thread; Python runs the handler in the
        # main thread at its next bytecode.  The kernel may be asleep in
        # epoll, so the C-level handler must wake it: through the inbox.
        previous_fd = signal.set_wakeup_fd(rt.wakeup_fileno(), warn_on_full_buffer=False)
    try:
        with Kernel() as kernel:
            kernel.run(sup.supervise)
    finally:
        if in_main:
            signal.set_wakeup_fd(previous_fd)
        if handle_sigint:
            signal.signal(signal.SIGINT, previous)
        rt.close()
    if sup.interrupted:
        raise KeyboardInterrupt
    return main.outcome()
