"""SignalEvent: a thredo Event that is set when one of some signals arrives.

Python runs signal handlers in the main thread only, and only the main
thread may install them.  So a SignalEvent created in a thredo thread asks
its run's kernel (which runs in the main thread when ``run()`` was called
there) to install the handlers, through :func:`thredo.AWAIT`.

The handler must not block: the main thread may be inside the event's own
mutex when the signal lands (e.g. in ``wait()`` outside ``run()``).  So it
sets the event only if the mutex is free at once, and otherwise hands the
``set()`` to a short-lived helper thread.

Everything else is :class:`thredo.Event`'s: ``wait`` is a cancellation
point in a thredo thread (even on a set event) and cancellable while it
waits; ``statistics()`` works the same.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any, TypeVar

from ._core import AWAIT, current_state
from ._sync import Event

__all__ = ("SignalEvent",)

R = TypeVar("R")

# What signal.signal() returns and takes (typeshed's signal._HANDLER).
_Handler = Callable[[int, FrameType | None], Any] | int | signal.Handlers | None


def _in_main_thread(func: Callable[[], R]) -> R:
    """Call ``func`` in the main thread: directly, or via the run's kernel."""
    if threading.current_thread() is threading.main_thread():
        return func()
    if current_state() is None:
        raise RuntimeError("SignalEvent must be created in the main thread or a thredo thread")

    async def call() -> R:
        if threading.current_thread() is not threading.main_thread():
            raise RuntimeError("SignalEvent needs thredo.run() to run in the main thread")
        return func()

    return AWAIT(call)


class SignalEvent(Event):
    """A :class:`thredo.Event` set whenever one of ``signals`` is delivered (curio's name).

    Creating it replaces the signals' handlers (from the main thread, or a
    thredo thread of a ``run()`` in the main thread, through the kernel);
    :meth:`close` (or the end of a ``with`` block) restores the previous
    ones.  ``clear()`` re-arms it.  ``wait`` is cancellable as ``Event.wait``.

    Raises:
        ValueError: no signal given, or not a valid signal number.
        RuntimeError: created in a plain thread other than the main thread,
            or in a thredo thread whose ``run()`` is not in the main thread.
    """

    def __init__(self, *signals: int) -> None:
        super().__init__()
        if not signals:
            raise ValueError("SignalEvent needs at least one signal")
        self._signals = tuple(signal.Signals(s) for s in signals)
        self._previous: dict[int, _Handler] = {}
        _in_main_thread(self._install)

    def __repr__(self) -> str:
        names = ", ".join(s.name for s in self._signals)
        return f"<thredo.SignalEvent({names}) {'set' if self.is_set() else 'unset'}>"

    def _install(self) -> None:
        for s in self._signals:
            self._previous[s] = signal.signal(s, self._handler)

    def _restore(self) -> None:
        for s, previous in self._previous.items():
            signal.signal(s, previous)
        self._previous.clear()

    def _handler(self, signo: int, frame: FrameType | None) -> None:
        if self._mutex.acquire(False):
            try:
                self._flag = True
                self._waiters.notify_all()
            finally:
                self._mutex.release()
        else:
            threading.Thread(target=self.set, name="thredo-signal", daemon=True).start()

    def close(self) -> None:
        """Restore the handlers that were in place before (idempotent)."""
        if self._previous:
            _in_main_thread(self._restore)

    def __enter__(self) -> SignalEvent:
        """The event itself; the handlers are already installed."""
        return self

    def __exit__(self, *exc: object) -> None:
        """:meth:`close`."""
        self.close()
