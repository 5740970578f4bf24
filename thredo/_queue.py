"""Queue, LifoQueue, PriorityQueue, SimpleQueue: cancellable ``queue`` classes.

Same API and errors as the stdlib ``queue`` module (``queue.Empty`` and
``queue.Full`` are the stdlib's own classes), the same subclass hooks
(``_init``, ``_qsize``, ``_put``, ``_get``) and attributes (``mutex``,
``not_empty``, ``not_full``, ``all_tasks_done``, ``unfinished_tasks``,
``queue``), plus ``shutdown()`` with Python 3.13 semantics on every
supported Python.

In a thredo thread, blocking ``put``/``get``/``join`` are cancellable and
obey ``timeout_after``.  A cancelled ``get`` consumes no item and a
cancelled ``put`` adds none: the item moves only under ``mutex`` in the
thread that returns normally.  A getter or putter that was woken always
re-checks the queue under ``mutex`` and completes if it can, even when a
cancel arrives at the same time (the cancel waits for the next blocking
call), so a wake-up is never lost.

Structure as in CPython's ``Lib/queue.py``: one raw ``mutex`` guards the
items and ``unfinished_tasks``; ``not_empty``, ``not_full`` and
``all_tasks_done`` are :class:`thredo.Condition` objects over it.  The hot
paths use the conditions' wait queues directly (one fewer layer than the
stdlib), and skip ``notify`` when nobody waits.
"""

from __future__ import annotations

import queue as _stdqueue
import types
from _thread import allocate_lock
from collections import deque
from heapq import heappop, heappush
from typing import Any

from ._sync import Condition
from ._wait import WaitQueue

__all__ = ("Queue", "LifoQueue", "PriorityQueue", "SimpleQueue", "Empty", "Full", "ShutDown")

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


class Queue:
    """Create a queue object with a given maximum size (``<= 0``: unbounded)."""

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

    __class_getitem__ = classmethod(types.GenericAlias)  # type: ignore[var-annotated]

    def task_done(self) -> None:
        with self.mutex:
            unfinished = self.unfinished_tasks - 1
            if unfinished <= 0:
                if unfinished < 0:
                    raise ValueError("task_done() called too many times")
                self._joiners.notify_all()
            self.unfinished_tasks = unfinished

    def join(self) -> None:
        with self.mutex:
            self._joiners.wait_until(self.mutex, self._all_done, None, "Queue.join", self)

    def _all_done(self) -> bool:
        return not self.unfinished_tasks

    def qsize(self) -> int:
        with self.mutex:
            return self._qsize()

    def empty(self) -> bool:
        with self.mutex:
            return not self._qsize()

    def full(self) -> bool:
        with self.mutex:
            return 0 < self.maxsize <= self._qsize()

    def put(self, item: Any, block: bool = True, timeout: float | None = None) -> None:
        with self.mutex:
            if self.is_shutdown:
                raise ShutDown
            if self.maxsize > 0 and block:
                _check_timeout(timeout)
            if 0 < self.maxsize <= self._qsize():
                if not block:
                    raise Full
                if not self._putters.wait_until(
                    self.mutex, self._can_put, timeout, "Queue.put", self
                ):
                    raise Full
                if self.is_shutdown:
                    raise ShutDown
            self._put(item)
            self.unfinished_tasks += 1
            if self._getters:
                self._getters.notify()

    def get(self, block: bool = True, timeout: float | None = None) -> Any:
        with self.mutex:
            if self.is_shutdown and not self._qsize():
                raise ShutDown
            if block:
                _check_timeout(timeout)
            if not self._qsize():
                if not block:
                    raise Empty
                if not self._getters.wait_until(
                    self.mutex, self._can_get, timeout, "Queue.get", self
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

    def put_nowait(self, item: Any) -> None:
        return self.put(item, block=False)

    def get_nowait(self) -> Any:
        return self.get(block=False)

    def shutdown(self, immediate: bool = False) -> None:
        """Shut the queue down: put raises ShutDown; get does once it is empty.

        With ``immediate``, the queue is emptied too (and ``join`` released).
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

    # Override these to implement other queue organizations.
    def _init(self, maxsize: int) -> None:
        self.queue: Any = deque()

    def _qsize(self) -> int:
        return len(self.queue)

    def _put(self, item: Any) -> None:
        self.queue.append(item)

    def _get(self) -> Any:
        return self.queue.popleft()


class PriorityQueue(Queue):
    """Retrieve open entries in priority order (lowest first)."""

    def _init(self, maxsize: int) -> None:
        self.queue = []

    def _qsize(self) -> int:
        return len(self.queue)

    def _put(self, item: Any) -> None:
        heappush(self.queue, item)

    def _get(self) -> Any:
        return heappop(self.queue)


class LifoQueue(Queue):
    """Retrieve most recently added entries first."""

    def _init(self, maxsize: int) -> None:
        self.queue = []

    def _qsize(self) -> int:
        return len(self.queue)

    def _put(self, item: Any) -> None:
        self.queue.append(item)

    def _get(self) -> Any:
        return self.queue.pop()


class SimpleQueue:
    """Simple, unbounded FIFO queue (``queue.SimpleQueue``), cancellable ``get``."""

    def __init__(self) -> None:
        self._queue: deque[Any] = deque()
        self._mutex = allocate_lock()  # guards _getters (appends to _queue are atomic)
        self._getters = WaitQueue()

    __class_getitem__ = classmethod(types.GenericAlias)  # type: ignore[var-annotated]

    def put(self, item: Any, block: bool = True, timeout: float | None = None) -> None:
        self._queue.append(item)
        if self._getters:
            with self._mutex:
                self._getters.notify()

    def put_nowait(self, item: Any) -> None:
        self.put(item, block=False)

    def get(self, block: bool = True, timeout: float | None = None) -> Any:
        if block:
            _check_timeout(timeout)
        try:
            return self._queue.popleft()
        except IndexError:
            pass
        if not block:
            raise Empty
        got: list[Any] = []

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

    def get_nowait(self) -> Any:
        return self.get(block=False)

    def empty(self) -> bool:
        return not self._queue

    def qsize(self) -> int:
        return len(self._queue)
