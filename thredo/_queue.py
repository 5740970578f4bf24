"""Queue, LifoQueue, PriorityQueue, SimpleQueue: cancellable ``queue`` classes.

Same API and errors as the stdlib ``queue`` module (``queue.Empty`` and
``queue.Full`` are the stdlib's own classes), the same subclass hooks
(``_init``, ``_qsize``, ``_put``, ``_get``) and attributes (``mutex``,
``not_empty``, ``not_full``, ``all_tasks_done``, ``unfinished_tasks``,
``queue``), plus ``shutdown()`` with Python 3.13 semantics on every
supported Python.  The classes are generic (``Queue[int]``), as the stdlib's are.

Cancellation points: in a thredo thread, every call that may block --
``put``/``get`` with ``block=True`` (the default) and ``join`` -- raises a
pending cancel or an expired ``timeout_after`` deadline *before* touching
the queue, even when it would not have to wait (room to put, an item to
get), so a loop that never waits can still be stopped; while it waits it is
cancellable too.  ``put_nowait``/``get_nowait`` (``block=False``),
``task_done``, ``shutdown`` and ``SimpleQueue.put`` (which never blocks) are
not points.

Nothing is lost: a cancelled ``get`` consumes no item and a cancelled
``put`` adds none -- the item moves only under ``mutex`` in the thread that
returns normally.  A getter or putter that was woken always re-checks the
queue under ``mutex`` and completes if it can, even when a cancel arrives at
the same time (the cancel waits for the next blocking call), so a wake-up is
never lost.

Timeouts: ``None`` is no timeout; one above ``threading.TIMEOUT_MAX`` (or
``inf``) waits without limit (the stdlib raises ``OverflowError`` from inside
the wait); a NaN timeout of ``Queue.put``/``get`` times out at once (raises
``Full``/``Empty`` if it would have to wait; the stdlib would spin), and of
``SimpleQueue.get`` raises ``ValueError`` (as the stdlib's does).

Structure as in CPython's ``Lib/queue.py``: one raw ``mutex`` guards the
items and ``unfinished_tasks``; ``not_empty``, ``not_full`` and
``all_tasks_done`` are :class:`thredo.Condition` objects over it.  The hot
paths use the conditions' wait queues directly (one fewer layer than the
stdlib), and skip ``notify`` when nobody waits.  The cancellation check on
``put``/``get`` is ``if attention: checkpoint()``, as in ``_sync``.
"""

from __future__ import annotations

import queue as _stdqueue
from _thread import allocate_lock
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from heapq import heappop, heappush
from typing import Any, Generic, TypeVar

from ._core import WaitQueue, attention, checkpoint, nan_is_zero
from ._sync import Condition

__all__ = (
    "Queue",
    "LifoQueue",
    "PriorityQueue",
    "SimpleQueue",
    "Empty",
    "Full",
    "ShutDown",
    "QueueStatistics",
    "SimpleQueueStatistics",
)

T = TypeVar("T")

Empty = _stdqueue.Empty
Full = _stdqueue.Full

if hasattr(_stdqueue, "ShutDown"):  # Python 3.13+
    ShutDown = _stdqueue.ShutDown
else:

    class ShutDown(Exception):  # type: ignore[no-redef]
        """Raised when put/get with shut-down queue."""


def _check_timeout(timeout: float | None) -> None:
    if timeout is not None and timeout < 0:
        raise ValueError("'timeout' must be a non-negative number")


@dataclass(frozen=True, slots=True)
class QueueStatistics:
    """What ``Queue.statistics()`` reports (also LifoQueue, PriorityQueue): a snapshot.

    Attributes:
        qsize: items in the queue.
        maxsize: as ``Queue.maxsize`` (``<= 0``: unbounded).
        unfinished_tasks: items put and not yet marked ``task_done()``.
        waiting_get: threads blocked in ``get()``.
        waiting_put: threads blocked in ``put()``.
        waiting_join: threads blocked in ``join()``.
        is_shutdown: whether ``shutdown()`` was called.
    """

    qsize: int
    maxsize: int
    unfinished_tasks: int
    waiting_get: int
    waiting_put: int
    waiting_join: int
    is_shutdown: bool


@dataclass(frozen=True, slots=True)
class SimpleQueueStatistics:
    """What ``SimpleQueue.statistics()`` reports: a snapshot.

    Attributes:
        qsize: items in the queue.
        waiting_get: threads blocked in ``get()``.
    """

    qsize: int
    waiting_get: int


class Queue(Generic[T]):
    """As ``queue.Queue``: a FIFO queue of at most ``maxsize`` items (``<= 0``: unbounded).

    Blocking ``put``/``get``/``join`` are cancellation points in a thredo
    thread (see the module docstring).  Thread-safe; any kind of thread may
    use it.  Extras: ``statistics()``; iterating over the queue gets items
    until it is shut down and empty (as the original thredo's ``Queue``
    iterated, here ending at ``shutdown()``).
    """

    def __init__(self, maxsize: int = 0) -> None:
        self.maxsize = maxsize
        self._init(maxsize)
        self.mutex = allocate_lock()
        self._getters = WaitQueue()  # waiting in get(): not_empty
        self._putters = WaitQueue()  # waiting in put(): not_full
        self._joiners = WaitQueue()  # waiting in join(): all_tasks_done
        self.not_empty = Condition(self.mutex, _waiters=self._getters)
        self.not_full = Condition(self.mutex, _waiters=self._putters)
        self.all_tasks_done = Condition(self.mutex, _waiters=self._joiners)
        self.unfinished_tasks = 0
        self.is_shutdown = False

    def task_done(self) -> None:
        """As ``queue.Queue.task_done``.  Not a cancellation point.

        Raises:
            ValueError: called more times than there were items.
        """
        with self.mutex:
            unfinished = self.unfinished_tasks - 1
            if unfinished <= 0:
                if unfinished < 0:
                    raise ValueError("task_done() called too many times")
                self._joiners.notify_all()
            self.unfinished_tasks = unfinished

    def join(self) -> None:
        """As ``queue.Queue.join``; a cancellation point, cancellable while waiting."""
        checkpoint()
        with self.mutex:
            self._joiners.wait_until(self.mutex, self._all_done, None, "Queue.join", self)

    def _all_done(self) -> bool:
        return not self.unfinished_tasks

    def qsize(self) -> int:
        """As ``queue.Queue.qsize`` (approximate once the mutex is released)."""
        with self.mutex:
            return self._qsize()

    def empty(self) -> bool:
        """As ``queue.Queue.empty`` (approximate once the mutex is released)."""
        with self.mutex:
            return not self._qsize()

    def full(self) -> bool:
        """As ``queue.Queue.full`` (approximate once the mutex is released)."""
        with self.mutex:
            return 0 < self.maxsize <= self._qsize()

    def put(self, item: T, block: bool = True, timeout: float | None = None) -> None:
        """As ``queue.Queue.put``; with ``block`` a cancellation point, cancellable while waiting.

        A cancelled put adds nothing.  A timeout above ``TIMEOUT_MAX`` never
        overflows; NaN times out at once.

        Raises:
            queue.Full: no room (at once without ``block``, else after ``timeout``).
            ShutDown: the queue is shut down.
            ValueError: a negative ``timeout`` (bounded queue, ``block``).
        """
        if block and attention:  # checkpoint() when something may be pending (_core)
            checkpoint()
        with self.mutex:
            if self.is_shutdown:
                raise ShutDown
            if self.maxsize > 0 and block and timeout is not None and timeout < 0:
                raise ValueError("'timeout' must be a non-negative number")
            if 0 < self.maxsize <= self._qsize():
                if not block:
                    raise Full
                if not self._putters.wait_until(
                    self.mutex, self._can_put, nan_is_zero(timeout), "Queue.put", self
                ):
                    raise Full
                if self.is_shutdown:
                    raise ShutDown
            self._put(item)
            self.unfinished_tasks += 1
            if self._getters:
                self._getters.notify()

    def get(self, block: bool = True, timeout: float | None = None) -> T:
        """As ``queue.Queue.get``; with ``block`` a cancellation point, cancellable while waiting.

        A cancelled get consumes no item.  A timeout above ``TIMEOUT_MAX``
        never overflows; NaN times out at once.

        Raises:
            queue.Empty: no item (at once without ``block``, else after ``timeout``).
            ShutDown: the queue is shut down and empty.
            ValueError: a negative ``timeout`` (with ``block``).
        """
        if block and attention:  # checkpoint() when something may be pending (_core)
            checkpoint()
        with self.mutex:
            if self.is_shutdown and not self._qsize():
                raise ShutDown
            if block and timeout is not None and timeout < 0:
                raise ValueError("'timeout' must be a non-negative number")
            if not self._qsize():
                if not block:
                    raise Empty
                if not self._getters.wait_until(
                    self.mutex, self._can_get, nan_is_zero(timeout), "Queue.get", self
                ):
                    raise Empty
                if not self._qsize():
                    raise ShutDown
            item = self._get()
            if self._putters:
                self._putters.notify()
            return item

    def _can_put(self) -> bool:
        return self._qsize() < self.maxsize or self.is_shutdown

    def _can_get(self) -> bool:
        return self._qsize() > 0 or self.is_shutdown

    def put_nowait(self, item: T) -> None:
        """As ``queue.Queue.put_nowait``: ``put(item, block=False)``; not a cancellation point."""
        return self.put(item, block=False)

    def get_nowait(self) -> T:
        """As ``queue.Queue.get_nowait``: ``get(block=False)``; not a cancellation point."""
        return self.get(block=False)

    def shutdown(self, immediate: bool = False) -> None:
        """As ``queue.Queue.shutdown`` of Python 3.13, on every Python.  Not a cancellation point.

        Puts raise ``ShutDown``; gets do once the queue is empty.  With
        ``immediate`` the queue is emptied too (and ``join`` released).
        Blocked getters and putters wake up and re-check.
        """
        with self.mutex:
            self.is_shutdown = True
            if immediate:
                while self._qsize():
                    self._get()
                    if self.unfinished_tasks > 0:
                        self.unfinished_tasks -= 1
                self._joiners.notify_all()
            self._getters.notify_all()
            self._putters.notify_all()

    def statistics(self) -> QueueStatistics:
        """A snapshot of the queue: sizes, unfinished tasks, how many threads wait in each call."""
        with self.mutex:
            return QueueStatistics(
                self._qsize(),
                self.maxsize,
                self.unfinished_tasks,
                len(self._getters),
                len(self._putters),
                len(self._joiners),
                self.is_shutdown,
            )

    def __iter__(self) -> Iterator[T]:
        """The queue itself: each step is a blocking ``get()`` (extra, from the original thredo)."""
        return self

    def __next__(self) -> T:
        """``get()``; ``StopIteration`` once the queue is shut down and empty."""
        try:
            return self.get()
        except ShutDown:
            raise StopIteration from None

    # Override these to implement other queue organizations.
    def _init(self, maxsize: int) -> None:
        self.queue: Any = deque()

    def _qsize(self) -> int:
        return len(self.queue)

    def _put(self, item: T) -> None:
        self.queue.append(item)

    def _get(self) -> T:
        return self.queue.popleft()  # type: ignore[no-any-return]


class PriorityQueue(Queue[T]):
    """As ``queue.PriorityQueue``: lowest entry first; cancellable as :class:`Queue`."""

    def _init(self, maxsize: int) -> None:
        self.queue = []

    def _qsize(self) -> int:
        return len(self.queue)

    def _put(self, item: T) -> None:
        heappush(self.queue, item)

    def _get(self) -> T:
        return heappop(self.queue)  # type: ignore[no-any-return]


class LifoQueue(Queue[T]):
    """As ``queue.LifoQueue``: most recently added entry first; cancellable as :class:`Queue`."""

    def _init(self, maxsize: int) -> None:
        self.queue = []

    def _qsize(self) -> int:
        return len(self.queue)

    def _put(self, item: T) -> None:
        self.queue.append(item)

    def _get(self) -> T:
        return self.queue.pop()  # type: ignore[no-any-return]


class SimpleQueue(Generic[T]):
    """As ``queue.SimpleQueue``: unbounded FIFO; ``get`` is cancellable.  Thread-safe.

    Extra: ``statistics()``.
    """

    def __init__(self) -> None:
        self._queue: deque[T] = deque()
        # guards _getters; _queue needs no lock: deque.append/popleft are
        # each atomic (with the GIL, and by the deque's own lock when free-threaded)
        self._mutex = allocate_lock()
        self._getters = WaitQueue()

    def put(self, item: T, block: bool = True, timeout: float | None = None) -> None:
        """As ``queue.SimpleQueue.put``: never blocks, so not a cancellation point."""
        self._queue.append(item)
        if self._getters:
            with self._mutex:
                self._getters.notify()

    def put_nowait(self, item: T) -> None:
        """As ``queue.SimpleQueue.put_nowait``."""
        self.put(item, block=False)

    def get(self, block: bool = True, timeout: float | None = None) -> T:
        """As ``queue.SimpleQueue.get``; with ``block`` a cancellation point, cancellable.

        A cancelled get consumes no item.  A timeout above ``TIMEOUT_MAX``
        never overflows (the stdlib raises ``OverflowError``).

        Raises:
            queue.Empty: no item (at once without ``block``, else after ``timeout``).
            ValueError: a negative or NaN ``timeout`` (with ``block``), as the stdlib.
        """
        if block:
            if attention:  # checkpoint() when something may be pending (_core)
                checkpoint()
            if timeout is not None:
                if timeout != timeout:
                    raise ValueError("Invalid value NaN (not a number)")
                _check_timeout(timeout)
        try:
            return self._queue.popleft()
        except IndexError:
            pass
        if not block:
            raise Empty
        got: list[T] = []

        def take() -> bool:
            try:
                got.append(self._queue.popleft())
            except IndexError:
                return False
            return True

        with self._mutex:
            if not self._getters.wait_until(self._mutex, take, timeout, "SimpleQueue.get", self):
                raise Empty
        return got[0]

    def get_nowait(self) -> T:
        """As ``queue.SimpleQueue.get_nowait``: ``get(block=False)``; not a cancellation point."""
        return self.get(block=False)

    def empty(self) -> bool:
        """As ``queue.SimpleQueue.empty``."""
        return not self._queue

    def qsize(self) -> int:
        """As ``queue.SimpleQueue.qsize``."""
        return len(self._queue)

    def statistics(self) -> SimpleQueueStatistics:
        """A snapshot: items queued, how many threads wait in ``get()``."""
        return SimpleQueueStatistics(len(self._queue), len(self._getters))
