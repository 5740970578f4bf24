"""ThreadGroup: wait for, collect and cancel threads together (curio's TaskGroup).

Policies (``wait=``), applied by :meth:`ThreadGroup.join` and so on leaving
the ``with`` block:

=========  ===============================================================
``all``    wait for every thread; stop early if one fails
``any``    wait for the first thread to finish
``object`` wait for the first thread that returns something other than None
``None``   wait for nothing
=========  ===============================================================

Whatever is still running then is cancelled, and ``join`` returns only when
it has exited: after a group, no thread of it is left.  An exception in the
``with`` body cancels every thread first.  Failures are not raised by
``join``; read them from ``result``/``results``/``exceptions``.

Bookkeeping (all under ``_mutex``): ``_threads`` every tracked non-daemon
thread, ``_running`` those not yet finished, ``_finished`` finished and not
yet looked at by ``join``/``next_done`` (in finishing order), ``_daemonic``
running daemon threads.  A thread reports its end through
``_thread_done``; ``_done`` wakes whoever waits for the next finisher.
"""

from __future__ import annotations

import builtins
from _thread import allocate_lock
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from ._hop import WaitQueue
from ._thread import Thread, spawn
from ._timeouts import disable_cancellation

__all__ = ("ThreadGroup",)

_POLICIES = (builtins.all, builtins.any, object, None)


class ThreadGroup:
    """A set of threads managed together; a context manager."""

    def __init__(self, threads: Iterable[Thread] = (), *, wait: Any = builtins.all) -> None:
        if not any(wait is p for p in _POLICIES):
            raise ValueError(f"wait must be all, any, object or None, not {wait!r}")
        self._wait = wait
        self._mutex = allocate_lock()
        self._done = WaitQueue()
        self._threads: set[Thread] = set()
        self._running: set[Thread] = set()
        self._daemonic: set[Thread] = set()
        self._finished: deque[Thread] = deque()
        self._joined = False
        self.completed: Thread | None = None
        for t in threads:
            self.add_thread(t)

    def __repr__(self) -> str:
        return f"<thredo.ThreadGroup running={len(self._running)} finished={len(self._finished)}>"

    # -- membership -----------------------------------------------------------

    def add_thread(self, t: Thread) -> None:
        """Put an existing thread under this group.

        Raises:
            RuntimeError: the thread already has a group, or the group was joined.
        """
        with self._mutex:
            if self._joined:
                raise RuntimeError("ThreadGroup already joined")
            with t._mutex:
                if t.group is not None:
                    raise RuntimeError("Thread is already part of a thread group")
                t.group = self
                terminated = t.terminated
            if not t.daemon:
                self._threads.add(t)
                if terminated:
                    self._finished.append(t)
                    self._done.notify()
                else:
                    self._running.add(t)
            elif not terminated:
                self._daemonic.add(t)

    def spawn(
        self,
        func: Callable[..., Any],
        *args: Any,
        daemon: bool = False,
        name: str | None = None,
        **kwargs: Any,
    ) -> Thread:
        """Spawn a thread into the group (see :func:`thredo.spawn`)."""
        if self._joined:
            raise RuntimeError("ThreadGroup already joined")
        t = spawn(func, *args, daemon=daemon, name=name, **kwargs)
        self.add_thread(t)
        return t

    def _thread_done(self, t: Thread) -> None:
        with self._mutex:
            if t.group is not self:
                return
            if t.daemon:
                self._daemonic.discard(t)
            elif t in self._running:
                self._running.discard(t)
                self._finished.append(t)
                # All: join() and next_done() may both be waiting, and each
                # re-checks; waking one could wake the one that loses the race.
                self._done.notify_all()

    def _discard(self, t: Thread) -> None:
        """Forget ``t`` (it was joined directly, or cancelled by cancel_remaining)."""
        with self._mutex:
            if t.group is not self:
                return
            t.group = None
            self._threads.discard(t)
            self._running.discard(t)
            self._daemonic.discard(t)
            try:
                self._finished.remove(t)
            except ValueError:
                pass
            self._done.notify_all()  # waiters re-check: maybe nothing is left

    @property
    def threads(self) -> list[Thread]:
        """Every tracked thread, in creation order."""
        with self._mutex:
            return sorted(self._threads, key=lambda t: t.id)

    # -- waiting ----------------------------------------------------------

    def next_done(self) -> Thread | None:
        """Wait for the next thread to finish and return it (None if none left).

        The thread leaves the group.
        """
        with self._mutex:
            self._done.wait_until(self._mutex, self._settled)
            if not self._finished:
                return None
            t = self._finished.popleft()
            t.group = None
            self._threads.discard(t)
        t.wait()
        return t

    def _settled(self) -> bool:
        """A finished thread to look at, or none left running (mutex held)."""
        return bool(self._finished) or not self._running

    def next_result(self) -> Any:
        """The result of the next thread to finish (raising its exception)."""
        t = self.next_done()
        if t is None:
            raise RuntimeError("No thread available")
        return t.result

    def __iter__(self) -> Iterator[Thread]:
        return self

    def __next__(self) -> Thread:
        t = self.next_done()
        if t is None:
            raise StopIteration
        return t

    def cancel_remaining(self) -> None:
        """Cancel every running thread and wait until they exit; they leave the group."""
        with self._mutex:
            running = list(self._running)
        self._cancel_and_wait(running)
        for t in running:
            self._discard(t)

    @staticmethod
    def _cancel_and_wait(threads: list[Thread]) -> None:
        for t in threads:
            t.cancel(blocking=False)
        with disable_cancellation():  # nothing may outlive the group
            for t in threads:
                t.wait()

    def join(self) -> None:
        """Wait per the group's policy, then cancel what is left and wait for it."""
        wait = self._wait
        try:
            if wait is None:
                return
            with self._mutex:
                while True:
                    self._done.wait_until(self._mutex, self._settled)
                    if not self._finished:
                        return  # nothing left running
                    while self._finished:
                        t = self._finished.popleft()
                        exc, res = t._exception, t._result
                        if self.completed is None and not (
                            wait is object and exc is None and res is None
                        ):
                            self.completed = t
                        if exc is not None or wait is any or (wait is object and res is not None):
                            return
        finally:
            with self._mutex:
                left = list(self._running) + list(self._daemonic)
                self._joined = True
            self._cancel_and_wait(left)

    def __enter__(self) -> ThreadGroup:
        return self

    def __exit__(self, ty: type[BaseException] | None, *exc: object) -> None:
        if ty is not None:
            self.cancel_remaining()
        self.join()

    # -- outcome (after join) -----------------------------------------------

    def _check_joined(self) -> None:
        if not self._joined:
            raise RuntimeError("ThreadGroup not yet joined")

    @property
    def result(self) -> Any:
        """Result of the first thread to complete (per the policy); raises its error."""
        self._check_joined()
        if self.completed is None:
            raise RuntimeError("No thread successfully completed")
        return self.completed.result

    @property
    def exception(self) -> BaseException | None:
        """Exception of the first thread to complete, or None."""
        self._check_joined()
        return self.completed.exception if self.completed is not None else None

    @property
    def results(self) -> list[Any]:
        """Results of all tracked threads in creation order; raises the first error."""
        self._check_joined()
        return [t.result for t in self.threads]

    @property
    def exceptions(self) -> list[BaseException | None]:
        """Exceptions (or None) of all tracked threads in creation order."""
        self._check_joined()
        return [t.exception for t in self.threads]
