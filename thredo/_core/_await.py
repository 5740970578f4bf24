"""AWAIT: run curio async code from a thredo thread.

The calling thread posts a callback to its run's kernel
(``RunContext.post``) that starts the coroutine as a curio task, then
parks on a :class:`~thredo._core.Waiter` until the task hands back its
outcome::

    thredo thread                         kernel thread
    -------------                         -------------
    post(start) ------------------------> task = spawn(_run(coro, w))
    park(w) ........                         outcome = await coro
            : <------------------------   w.wake(outcome)
    return / raise the outcome

Cancelling the thread (or its deadline passing) posts a cancel of the task
and waits -- not cancellably -- until the task has ended, so no coroutine
outlives the call.  Each call costs two kernel round trips: 5-9x a
plain thread hand-off, pinned (``docs/design.md``), which is why no primitive or
socket of thredo goes through here.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar, overload

import curio
from curio import meta

from ._wait import Waiter, current_state, park

__all__ = ("AWAIT",)

T = TypeVar("T")


@overload
def AWAIT(coro: Awaitable[T]) -> T: ...


@overload
def AWAIT(coro: Callable[..., Awaitable[T]], *args: Any) -> T: ...


def AWAIT(coro: Any, *args: Any) -> Any:
    """Run a curio coroutine (or async function with ``args``) in the kernel.

    Blocks the calling thredo thread until it finishes and returns its
    result or raises its exception.  Cancelling the thread (or its deadline
    passing) cancels the coroutine's task and waits for it to end.

    Raises:
        RuntimeError: called outside a thredo thread.
    """
    st = current_state()
    if st is None:
        raise RuntimeError("thredo.AWAIT() must be called from a thredo thread")
    coro = meta.instantiate_coroutine(coro, *args)
    run = st.run
    w = Waiter()
    task: list[Any] = []  # the curio task, once started (kernel thread only)

    async def start() -> None:
        task.append(await curio.spawn(_run, coro, w, daemon=True))

    async def cancel() -> None:
        await task[0].cancel(blocking=False)  # start() ran first: the inbox is FIFO

    run.post(start)
    exc = park(w, None, None, "AWAIT", coro)
    if exc is not None:  # raised even if the coroutine finished meanwhile
        if not w.notified:
            run.post(cancel)
            while not w.notified:
                w.lock.acquire()
        raise exc
    ok, value = w.value
    if ok:
        return value
    raise value


async def _run(coro: Coroutine[Any, Any, Any], w: Waiter) -> None:
    try:
        outcome = (True, await coro)
    except BaseException as e:  # handed to the waiting thread
        outcome = (False, e)
    w.wake(outcome)
