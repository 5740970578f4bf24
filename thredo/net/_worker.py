"""Run a blocking call that has no cancellable form (DNS) in a worker thread.

The calling thredo thread parks on a :class:`~thredo._wait.Waiter` until the
worker hands back the outcome.  If the caller is cancelled (or its deadline
passes) it is released at once; the worker finishes the call on its own and
its result is dropped.  One short-lived daemon thread per call: lookups are
rare next to socket I/O, and nothing lingers after them.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from .._wait import Waiter, park

__all__ = ("run_in_worker",)


def run_in_worker(func: Callable[..., Any], *args: Any) -> Any:
    """Call ``func(*args)`` in a worker thread; return or raise its outcome."""
    w = Waiter()

    def work() -> None:
        try:
            outcome = (True, func(*args))
        except BaseException as e:  # handed to the caller
            outcome = (False, e)
        w.wake(outcome)

    threading.Thread(target=work, name=f"thredo-worker ({func.__name__})", daemon=True).start()
    exc = park(w, None, None, func.__name__, args[0] if args else None)
    if exc is not None:  # raised even if the worker finished meanwhile
        raise exc
    ok, value = w.value
    if ok:
        return value
    raise value
