"""Run a blocking call that has no cancellable form (DNS) in a worker thread.

The calling thredo thread parks on a :class:`~thredo._core.Waiter` until the
worker hands back the outcome.  If the caller is cancelled (or its deadline
passes) it is released at once; the worker finishes the call on its own and
its result is dropped.  One short-lived daemon thread per call: lookups are
rare next to socket I/O, and nothing lingers after them.

The call is a cancellation point: a pending cancel or an expired deadline
is raised before any worker is started.  While it waits, the caller's
``Thread.blocked_on`` names the call (``"getaddrinfo"``) and its first
argument (the host).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from .._core import Waiter, checkpoint, park

__all__ = ("run_in_worker",)


def run_in_worker(call: str, func: Callable[..., Any], *args: Any) -> Any:
    """Call ``func(*args)`` in a worker thread; return or raise its outcome.

    ``call`` names the call in ``Thread.blocked_on`` and the worker thread.

    Raises:
        The calling thread's cancellation or deadline (at once if pending),
        else whatever ``func`` raised.
    """
    checkpoint()
    w = Waiter()

    def work(job: list[Any]) -> None:
        # The job is taken out of the list, so the worker's Thread object
        # (which keeps its args until the thread ends) holds no reference to
        # the arguments once the caller is woken.
        func, args = job
        job.clear()
        try:
            outcome = (True, func(*args))
        except BaseException as e:  # handed to the caller
            outcome = (False, e)
        del func, args
        w.wake(outcome)

    threading.Thread(
        target=work, args=([func, args],), name=f"thredo-worker ({call})", daemon=True
    ).start()
    exc = park(w, None, None, call, args[0] if args else None)
    if exc is not None:  # raised even if the worker finished meanwhile
        raise exc
    ok, value = w.value
    if ok:
        return value
    # The worker's frame is not part of the story: the caller's frames are,
    # and they drop their arguments (CPython's testRefCountGetNameInfo).
    del args
    raise value.with_traceback(None)
