"""ThreadPoolExecutor: ``concurrent.futures``' thread pool on thredo threads.

Theory of operation
-------------------

The pool is the stdlib's (``Lib/concurrent/futures/thread.py``) with three
changes: its workers are thredo threads (daemon ones, started into the run
the pool was first used in), its work queue is a thredo ``Condition`` over a
deque (so an idle worker is cancellable where it waits), and its futures are
a :class:`Future` subclass whose ``cancel()`` also stops a *running* call::

    submit(fn)  --  under _cond: item queued; a worker started if fewer are
                    idle than items queued (and max_workers allows)
    worker      --  under _cond: takes an item; future RUNNING, f._worker = me
                    fn() ... returns or raises
                    under f._lock: f._worker = None; was a cancel sent?
                      no  -> set_result / set_exception; take the next item
                      yes -> the future is already CANCELLED; the worker
                             ends (the sent cancel dies with it), and the
                             next submit starts a new one
    f.cancel()  --  RUNNING: under f._lock, if f._worker is set: mark the
                    future cancelled (waiters and callbacks told now), send
                    ThreadCancelled to the worker (never waiting for it)

A worker whose call was cancelled always ends, because the cancel is
delivered at the thread's *next* blocking call: had it survived, a cancel
arriving after its call returned would hit the next item instead.

``shutdown(wait=True, cancel_futures=True)`` cancels queued and running
calls; a ``with`` block left by a cancellation (a ``Thread.cancel()`` or a
``timeout_after`` deadline) does the same, and waits for the workers with
cancellation disabled, so nothing is left behind when the block is left.

``Future.result()``/``exception()`` wait cancellably in a thredo thread
(a thredo ``Event`` set by a done callback); ``as_completed`` and ``wait``
are the stdlib's and work unchanged, but they wait on ``threading``
primitives, which no cancel or deadline interrupts.
"""

from __future__ import annotations

import concurrent.futures as _cf
import concurrent.futures._base as _base
import itertools
import weakref
from _thread import allocate_lock
from collections import deque
from collections.abc import Callable
from concurrent.futures.thread import BrokenThreadPool
from typing import Any, ParamSpec, TypeVar

from ._core import CancelledError, RunContext, checkpoint, current_state, disable_cancellation
from ._sync import Condition, Event
from ._threads import Thread

__all__ = ("ThreadPoolExecutor", "Future", "BrokenThreadPool")

T = TypeVar("T")
P = ParamSpec("P")

_pools = itertools.count()

# The stdlib Future's states (Lib/concurrent/futures/_base.py), stable since 3.2.
_RUNNING = "RUNNING"
_CANCELLED_AND_NOTIFIED = "CANCELLED_AND_NOTIFIED"


class Future(_cf.Future[T]):
    """A ``concurrent.futures.Future`` whose ``cancel()`` also cancels a running call.

    ``cancel()`` of a running call marks the future cancelled at once
    (``cancelled()`` is True, ``result()`` raises
    ``concurrent.futures.CancelledError``, waiters and done callbacks are
    told) and raises :class:`thredo.ThreadCancelled` in the worker at its
    current or next blocking call.  ``result()`` and ``exception()`` wait
    cancellably when called from a thredo thread.
    """

    def __init__(self) -> None:
        super().__init__()
        self._lock = allocate_lock()  # guards _worker and _cancel_sent
        self._worker: Thread[Any] | None = None  # the thread running the call
        self._cancel_sent = False
        self._finished = Event()
        self.add_done_callback(lambda f: f._finished.set())  # type: ignore[attr-defined]

    def cancel(self) -> bool:
        """Cancel the call, queued or running; False only if it has already finished."""
        with self._lock:
            worker = self._worker
            if worker is None or self._cancel_sent:
                worker = None
            elif self._mark_cancelled():
                self._cancel_sent = True
            else:
                return self.cancelled()
        if worker is None:
            return super().cancel()
        worker.cancel(blocking=False)  # never waits: the call may take a while to stop
        self._invoke_callbacks()  # type: ignore[attr-defined]
        return True

    def _mark_cancelled(self) -> bool:
        """RUNNING -> cancelled, waiters told (callbacks are the caller's); False if not running."""
        with self._condition:
            if self._state != _RUNNING:
                return False
            self._state = _CANCELLED_AND_NOTIFIED
            for waiter in self._waiters:
                waiter.add_cancelled(self)
            self._condition.notify_all()
            return True

    def _wait(self, timeout: float | None) -> None:
        if current_state() is None:
            return  # a plain thread: the stdlib's wait
        if self.done():
            checkpoint()  # need not wait, still a cancellation point (as every thredo call)
        elif not self._finished.wait(timeout):
            raise _cf.TimeoutError()

    def result(self, timeout: float | None = None) -> T:
        """As ``concurrent.futures.Future.result``; cancellable in a thredo thread."""
        self._wait(timeout)
        return super().result(0 if self.done() else timeout)

    def exception(self, timeout: float | None = None) -> BaseException | None:
        """As ``concurrent.futures.Future.exception``; cancellable in a thredo thread."""
        self._wait(timeout)
        return super().exception(0 if self.done() else timeout)


class _Item:
    __slots__ = ("future", "fn", "args", "kwargs")

    def __init__(self, future: Future[Any], fn: Callable[..., Any], args: Any, kwargs: Any):
        self.future, self.fn, self.args, self.kwargs = future, fn, args, kwargs


class ThreadPoolExecutor(_cf.Executor):
    """``concurrent.futures.ThreadPoolExecutor`` whose workers are thredo threads.

    Same parameters and behaviour as the stdlib's, plus: ``Future.cancel()``
    cancels a running call too (:class:`Future`); ``shutdown(wait=True,
    cancel_futures=True)`` cancels running calls as well as queued ones; a
    ``with`` block left by a cancellation or a ``timeout_after`` deadline
    cancels every call and returns once every worker has exited.  An
    ``initializer`` that raises breaks the pool as the stdlib's does
    (``BrokenThreadPool`` from later ``submit`` calls and on pending
    futures).

    Workers are daemon thredo threads: a pool never shut down does not keep
    ``thredo.run()`` from returning (its calls are cancelled then).

    Outside a run: the pool may be *created* anywhere (a module-level pool
    is fine), but the first ``submit`` (or ``map``) must come from a thredo
    thread, which binds the pool to that thread's run; before that,
    ``submit`` from any other thread raises ``RuntimeError`` naming
    ``thredo.run``.  Once bound, any thread of the process may submit.

    Args:
        max_workers: the most worker threads at once; default
            ``min(32, os.cpu_count() + 4)``, as the stdlib's.
        thread_name_prefix: names the workers ``prefix_N``.
        initializer: called in each worker before its first item.
        initargs: ``initializer``'s arguments.

    Raises:
        ValueError: ``max_workers`` is not positive.
        TypeError: ``initializer`` is not callable.
    """

    def __init__(
        self,
        max_workers: int | None = None,
        thread_name_prefix: str = "",
        initializer: Callable[..., object] | None = None,
        initargs: tuple[Any, ...] = (),
    ) -> None:
        if max_workers is None:
            import os

            max_workers = min(32, (os.cpu_count() or 1) + 4)
        if max_workers <= 0:
            raise ValueError("max_workers must be greater than 0")
        if initializer is not None and not callable(initializer):
            raise TypeError("initializer must be a callable")
        self._max_workers = max_workers
        self._prefix = thread_name_prefix or f"ThreadPoolExecutor-{next(_pools)}"
        self._initializer = initializer
        self._initargs = initargs
        self._cond = Condition()  # guards every field below
        self._items: deque[_Item] = deque()
        self._workers: set[Thread[Any]] = set()
        self._idle = 0  # workers waiting in _take
        self._names = itertools.count()
        self._shutdown = False
        self._broken: str | None = None
        st = current_state()
        self._run: weakref.ref[RunContext] | None = None if st is None else weakref.ref(st.run)

    # -- submitting --------------------------------------------------------------

    def submit(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> Future[T]:
        """Schedule ``fn(*args, **kwargs)``; return its :class:`Future`.

        Raises:
            BrokenThreadPool: an initializer failed.
            RuntimeError: the pool is shut down, or was never used in a run and
                this is not a thredo thread.
        """
        with self._cond:
            if self._broken is not None:
                raise BrokenThreadPool(self._broken)
            if self._shutdown:
                raise RuntimeError("cannot schedule new futures after shutdown")
            run = self._bind()
            f: Future[T] = Future()
            self._items.append(_Item(f, fn, args, kwargs))
            if len(self._items) > self._idle and len(self._workers) < self._max_workers:
                self._start_worker(run)
            self._cond.notify()
            return f

    def _bind(self) -> RunContext:
        st = current_state()
        run = None if self._run is None else self._run()
        if run is None or (st is not None and st.run is not run):
            if st is None:
                raise RuntimeError(
                    "thredo.ThreadPoolExecutor: the first submit() must come from a thredo "
                    "thread; start one with thredo.run(func)"
                )
            run = st.run
            self._run = weakref.ref(run)
        return run

    def _start_worker(self, run: RunContext) -> None:
        name = f"{self._prefix}_{next(self._names)}"
        t: Thread[None] = Thread(target=self._worker, name=name, daemon=True)
        st = current_state()
        t._start_in(run, None if st is None else st.thread)
        self._workers.add(t)

    # -- the workers ----------------------------------------------------------------

    def _worker(self) -> None:
        me = _current()
        replace = False
        try:
            if self._initializer is not None:
                try:
                    self._initializer(*self._initargs)
                except CancelledError:
                    raise
                except BaseException:
                    _base.LOGGER.critical("Exception in initializer:", exc_info=True)
                    self._break()
                    return
            while True:
                item = self._take()
                if item is None:
                    return
                outcome = self._run_item(item, me)
                if outcome != "next":
                    replace = outcome == "replace"
                    return
        finally:
            with disable_cancellation(), self._cond:
                self._workers.discard(me)
                run = None if self._run is None else self._run()
                # Its call was cancelled: the work still queued gets a new worker.
                if replace and run is not None and len(self._items) > self._idle:
                    self._start_worker(run)
                self._cond.notify_all()  # shutdown(wait) waits for the set to empty

    def _take(self) -> _Item | None:
        with self._cond:
            self._idle += 1
            try:
                while not self._items:
                    if self._shutdown or self._broken is not None:
                        return None
                    self._cond.wait()
                return self._items.popleft()
            finally:
                self._idle -= 1

    def _run_item(self, item: _Item, me: Thread[Any]) -> str:
        """Run one item: "next" (take another), "replace" (its call was cancelled) or "stop"."""
        f = item.future
        with f._lock:
            if not f.set_running_or_notify_cancel():
                return "next"
            f._worker = me
        try:
            result = item.fn(*item.args, **item.kwargs)
        except BaseException as e:
            with f._lock:
                f._worker = None
                sent = f._cancel_sent
                # The worker itself cancelled (shutdown's cancel_futures, the
                # with block's cancel, the run's end): the call was cancelled.
                gone = sent or (isinstance(e, CancelledError) and me.cancelled)
                marked = gone and not sent and f._mark_cancelled()
                if marked:
                    f._cancel_sent = True
            if marked:
                f._invoke_callbacks()  # type: ignore[attr-defined]
            if not gone:
                f.set_exception(e)
            del e, item
            return "replace" if sent else "stop" if gone or me.cancelled else "next"
        with f._lock:
            f._worker = None
            sent = f._cancel_sent
        if sent:
            return "replace"  # the future is already cancelled; the sent cancel ends this worker
        f.set_result(result)
        del result, item
        return "next"

    def _break(self) -> None:
        with disable_cancellation(), self._cond:
            self._broken = "A thread initializer failed, the thread pool is not usable anymore"
            items, self._items = list(self._items), deque()
            self._cond.notify_all()
        for item in items:
            item.future.set_exception(BrokenThreadPool(self._broken))

    # -- shutting down -----------------------------------------------------------------

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Stop taking work; with ``cancel_futures``, cancel queued *and running* calls.

        With ``wait``, return once every worker has exited.  If that wait is
        cancelled (or a deadline expires), every call is cancelled and the
        workers are waited for with cancellation disabled; then the
        cancellation propagates.
        """
        with disable_cancellation(), self._cond:
            self._shutdown = True
            self._cond.notify_all()
        if cancel_futures:
            self._cancel_all()
        if not wait:
            return
        try:
            with self._cond:
                self._cond.wait_for(lambda: not self._workers)
        except BaseException:
            self._cancel_all()
            self._wait_workers()
            raise

    def _cancel_all(self) -> None:
        with disable_cancellation(), self._cond:
            items, self._items = list(self._items), deque()
            workers = list(self._workers)
        for item in items:
            item.future.cancel()
        for w in workers:
            w.cancel(blocking=False)  # a running call's future ends cancelled (_run_item)

    def _wait_workers(self) -> None:
        with disable_cancellation(), self._cond:
            self._cond.wait_for(lambda: not self._workers)

    def __exit__(self, ty: Any, exc: Any, tb: Any) -> None:
        if isinstance(exc, CancelledError):
            self.shutdown(wait=False, cancel_futures=True)
            self._wait_workers()
        else:
            self.shutdown(wait=True)


def _current() -> Thread[Any]:
    st = current_state()
    assert st is not None
    t = st.thread  # the core knows it as a Member: a Thread here
    assert isinstance(t, Thread)
    return t
