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
all have exited.  A thread the cancel cannot reach (a ``threading`` lock,
``time.sleep``, a C call) is named on stderr with where it sits, once,
``CTRL_C_HINT_DELAY`` after its cancel.  A second one makes ``run()`` raise
``KeyboardInterrupt`` at once, leaving the (daemonic at the OS level)
threads to die with the process -- and the process ends even if plain
threads would be joined at exit (``_end_now_at_exit``).  Ctrl-C is
handled only when ``run()`` is called in the main
thread.

The monitor lives above the core (``thredo._run`` starts it before the
kernel and removes it after): it needs nothing from the kernel.
"""

from __future__ import annotations

import contextlib
import linecache
import os
import signal
import sys
import sysconfig
import threading
import time
from collections.abc import Callable, Coroutine
from types import FrameType
from typing import Any, Protocol, TypeVar

import curio
from curio import Kernel
from curio.traps import _read_wait

from ._fdwait import start_run
from ._runctx import Member, RunContext, member_os_threads
from ._wait import current_state

__all__ = ("run_kernel", "MainThread")

CTRL_C_HINT_DELAY = 0.25  # seconds a first Ctrl-C may take to reach a thread
SECOND_CTRL_C_GRACE = 0.5  # seconds plain threads get to end after a second Ctrl-C
_end_registered = False  # _end_now_at_exit is registered (once per process)

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
            # the threads (daemonic at the OS level) die with the process, and
            # plain threads the interpreter would join do not hold it either.
            self._cancel_all()
            self.abandoned = True
            global _end_registered
            if not _end_registered:
                _end_registered = True
                with contextlib.suppress(RuntimeError):  # already shutting down
                    threading._register_atexit(_end_now_at_exit)  # type: ignore[attr-defined]
            return None
        main = self.main
        if main is not None and not main.terminated:
            main.cancel(blocking=False)
            return self._hint_later(main)
        self._cancel_all()
        return None

    async def _hint_later(self, main: MainThread) -> None:
        await curio.spawn(self._hint, daemon=True)

    async def _hint(self) -> None:
        """After the first Ctrl-C: name each thread the cancel cannot reach, once.

        Every ``CTRL_C_HINT_DELAY`` until a second Ctrl-C (or the end of the
        run), a thread with a cancel pending that is in no thredo wait and
        has not deferred it (``disable_cancellation``) is named with where it
        sits: run() waits for it and nothing thredo does will end that wait.
        """
        named: set[int] = set()
        while self.interrupted == 1:
            await curio.sleep(CTRL_C_HINT_DELAY)
            if self.interrupted != 1:
                return
            stuck = [t for t in self.run.live() if id(t) not in named and _unreachable(t)]
            if not stuck:
                continue
            frames = sys._current_frames()
            lines = [
                f"  {t.os_thread().name!r}: {_where(frames.get(t.os_thread().ident or -1))}"
                for t in stuck
            ]
            named.update(id(t) for t in stuck)
            sys.stderr.write(
                "thredo: Ctrl-C: run() is waiting for threads in a call thredo cannot "
                "interrupt (time.sleep, a threading lock, a C extension's I/O); each is "
                "cancelled at its next thredo blocking call. Press Ctrl-C again to end "
                "the program now.\n" + "\n".join(lines) + "\n"
            )
            sys.stderr.flush()


def _unreachable(t: Member) -> bool:
    """A cancel is pending on ``t`` and it sits where thredo cannot deliver it.

    Read by duck typing: the registry's ``Member`` promises less than a
    thredo ``Thread`` offers (``cancel_pending``, ``blocked_on``,
    ``deferring``); a member without them is never named.
    """
    if t.terminated or not getattr(t, "cancel_pending", False):
        return False
    if getattr(t, "blocked_on", None) is not None:
        return False
    deferring = getattr(t, "deferring", None)
    return not (callable(deferring) and deferring())


_STDLIB_DIRS = tuple(
    {
        sysconfig.get_paths()["stdlib"],
        sysconfig.get_paths()["platstdlib"],
        os.path.dirname(__file__),
    }
)


def _where(frame: FrameType | None) -> str:
    """``call at file:line`` of a thread's innermost frame (and the caller's own code's)."""
    if frame is None:
        return "(no Python frame)"
    out = _frame_line(frame)
    f: FrameType | None = frame
    while f is not None and f.f_code.co_filename.startswith(_STDLIB_DIRS):
        f = f.f_back
    if f is not None and f is not frame:
        out += f", from {_frame_line(f)}"
    return out


def _frame_line(f: FrameType) -> str:
    filename, lineno = f.f_code.co_filename, f.f_lineno
    src = linecache.getline(filename, lineno).partition("  #")[0].strip() or f.f_code.co_name
    return f"in {src} at {filename}:{lineno}"


def _joined_at_exit() -> list[threading.Thread]:
    """The threads the interpreter's exit would join: non-daemon ones, pool workers."""
    me = threading.current_thread()
    out = [
        t
        for t in threading.enumerate()
        if t is not me and not t.daemon and t not in member_os_threads
    ]
    # concurrent.futures joins its workers whatever their daemon flag (a pool
    # made in a thredo thread has daemonic workers): its own registry says which.
    cf = sys.modules.get("concurrent.futures.thread")
    workers = getattr(cf, "_threads_queues", None)
    with contextlib.suppress(Exception):
        out += [t for t in list(workers or ()) if t is not me and t not in out]
    return out


def _end_now_at_exit() -> None:
    """After a second Ctrl-C: end the process rather than join plain threads forever.

    Registered with ``threading._register_atexit`` -- the only hook that runs
    before the interpreter joins non-daemon threads and before
    ``concurrent.futures`` joins its workers (``_python_exit``), both of
    which would wait for threads stuck where nothing can reach them.  A
    thread still alive after ``SECOND_CTRL_C_GRACE`` ends with the process:
    it dies by SIGINT when the KeyboardInterrupt was not caught (as Python
    itself ends then), else with status 130 (128 + SIGINT; the program's own
    exit status cannot be read at this point).
    """
    end = time.monotonic() + SECOND_CTRL_C_GRACE
    for t in _joined_at_exit():
        t.join(max(0.0, end - time.monotonic()))
    if not any(t.is_alive() for t in _joined_at_exit()):
        return
    with contextlib.suppress(Exception):
        sys.stdout.flush()
        sys.stderr.flush()
    last = getattr(sys, "last_exc", None) or getattr(sys, "last_value", None)
    if isinstance(last, KeyboardInterrupt):
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGINT)
    os._exit(130)


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
