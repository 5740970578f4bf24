"""Lock, RLock, Condition, Semaphore, BoundedSemaphore, Event, Barrier.

Drop-in replacements for their ``threading`` namesakes: same signatures,
return values and errors.  Differences, all from the wait mechanism (``_wait.py``):

* In a thredo thread every wait is cancellable and obeys ``timeout_after``.
  A cancelled ``acquire`` holds nothing; a cancelled ``Condition.wait``
  re-acquires the lock before the exception leaves it (as a stdlib timeout
  does); a cancelled ``Barrier.wait`` breaks the barrier (as a stdlib
  timeout does).  In any other thread they behave like the stdlib's.
* They can be created anywhere (module level, before ``run()``) and shared
  by thredo and plain threads at once, across several ``run()`` calls.
* Fast paths never park: an uncontended lock is one raw ``_thread`` lock
  operation.  Waiters are woken in FIFO order; as with ``threading``, a
  thread that arrives while the woken one is getting up may barge in first.

Each primitive is a state plus a :class:`~thredo._wait.WaitQueue` guarded by
a raw ``_thread`` lock (``_mutex``), never held across a wait.
"""

from __future__ import annotations

from _thread import allocate_lock, get_ident
from collections.abc import Callable
from functools import partial
from threading import TIMEOUT_MAX, BrokenBarrierError
from time import monotonic
from typing import Any

from ._wait import Waiter, WaitQueue, current_state, park

__all__ = (
    "Lock",
    "RLock",
    "Condition",
    "Semaphore",
    "BoundedSemaphore",
    "Event",
    "Barrier",
    "BrokenBarrierError",
)


def _check_lock_args(blocking: bool, timeout: float) -> None:
    """Validate ``acquire(blocking, timeout)`` as ``_thread.lock`` does."""
    if timeout != -1:
        if not blocking:
            raise ValueError("can't specify a timeout for a non-blocking call")
        if timeout < 0:
            raise ValueError("timeout value must be positive")
        if timeout > TIMEOUT_MAX:
            raise OverflowError("timeout value is too large")


class _Uncancellable:
    """Defer the calling thread's cancellation (used to re-take a lock)."""

    __slots__ = ("_st",)

    def __enter__(self) -> None:
        self._st = current_state()
        if self._st is not None:
            self._st.disable()

    def __exit__(self, *exc: object) -> None:
        if self._st is not None:
            self._st.enable()


class Lock:
    """A cancellable ``threading.Lock``.  Any thread may release it."""

    __slots__ = ("_lock", "_mutex", "_waiters", "__weakref__")

    def __init__(self) -> None:
        self._lock = allocate_lock()  # the lock itself: held == locked
        self._mutex = allocate_lock()  # guards _waiters
        self._waiters = WaitQueue()

    def __repr__(self) -> str:
        state = "locked" if self._lock.locked() else "unlocked"
        return f"<{state} thredo.{type(self).__name__} object at {id(self):#x}>"

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        _check_lock_args(blocking, timeout)
        if self._lock.acquire(False):
            return True
        if not blocking:
            return False
        return self._wait(None if timeout == -1 else timeout)

    def _wait(self, timeout: float | None) -> bool:
        with self._mutex:
            return self._waiters.wait_until(
                self._mutex, partial(self._lock.acquire, False), timeout, "Lock.acquire", self
            )

    def release(self) -> None:
        self._lock.release()  # RuntimeError("release unlocked lock") if unheld
        if self._waiters:
            with self._mutex:
                self._waiters.notify()

    def locked(self) -> bool:
        return self._lock.locked()

    __enter__ = acquire

    def __exit__(self, *exc: object) -> None:
        self.release()

    # Condition support (the names threading.Condition looks for)
    def _is_owned(self) -> bool:
        return self._lock.locked()

    def _release_save(self) -> None:
        self.release()

    def _acquire_restore(self, state: None) -> None:
        with _Uncancellable():
            self.acquire()


class RLock:
    """A cancellable ``threading.RLock``: re-entrant, released by its owner only."""

    __slots__ = ("_block", "_owner", "_count", "__weakref__")

    def __init__(self) -> None:
        self._block = Lock()
        self._owner: int | None = None
        self._count = 0

    def __repr__(self) -> str:
        state = "locked" if self._owner is not None else "unlocked"
        return (
            f"<{state} thredo.RLock object owner={self._owner} count={self._count} "
            f"at {id(self):#x}>"
        )

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        _check_lock_args(blocking, timeout)
        me = get_ident()
        if self._owner == me:
            self._count += 1
            return True
        if not self._block.acquire(blocking, timeout):
            return False
        self._owner = me
        self._count = 1
        return True

    __enter__ = acquire

    def release(self) -> None:
        if self._owner != get_ident():
            raise RuntimeError("cannot release un-acquired lock")
        self._count -= 1
        if not self._count:
            self._owner = None
            self._block.release()

    def __exit__(self, *exc: object) -> None:
        self.release()

    def locked(self) -> bool:
        return self._owner is not None

    def _is_owned(self) -> bool:
        return self._owner == get_ident()

    def _release_save(self) -> tuple[int, int | None]:
        if self._count == 0:
            raise RuntimeError("cannot release un-acquired lock")
        state = (self._count, self._owner)
        self._count = 0
        self._owner = None
        self._block.release()
        return state

    def _acquire_restore(self, state: tuple[int, int | None]) -> None:
        with _Uncancellable():
            self._block.acquire()
        self._count, self._owner = state


class Condition:
    """A cancellable ``threading.Condition`` (default lock: a thredo ``RLock``).

    ``wait`` always re-takes the lock before returning or raising, even when
    cancelled; a wait that was notified returns True even if a cancel
    arrives at the same time (the cancel is raised at the next blocking call),
    so a notification is never lost.
    """

    def __init__(self, lock: Any = None, *, _waiters: WaitQueue | None = None) -> None:
        if lock is None:
            lock = RLock()
        self._lock = lock
        self.acquire = lock.acquire
        self.release = lock.release
        # Guarded by the user's lock, as in threading.Condition.
        self._waiters = WaitQueue() if _waiters is None else _waiters
        for name in ("_is_owned", "_release_save", "_acquire_restore"):
            if hasattr(lock, name):
                setattr(self, name, getattr(lock, name))

    def __repr__(self) -> str:
        return f"<thredo.Condition({self._lock}, {len(self._waiters)})>"

    def __enter__(self) -> Any:
        return self._lock.__enter__()

    def __exit__(self, *exc: Any) -> Any:
        return self._lock.__exit__(*exc)

    # Fallbacks for locks without the private protocol (e.g. threading.Lock).
    def _is_owned(self) -> bool:
        if self._lock.acquire(False):
            self._lock.release()
            return False
        return True

    def _release_save(self) -> Any:
        self._lock.release()

    def _acquire_restore(self, state: Any) -> None:
        with _Uncancellable():
            self._lock.acquire()

    def wait(self, timeout: float | None = None) -> bool:
        if not self._is_owned():
            raise RuntimeError("cannot wait on un-acquired lock")
        w = Waiter()
        self._waiters.append(w)
        saved = self._release_save()
        exc = None
        try:
            exc = park(
                w, timeout if timeout is None or timeout > 0 else 0.0, None, "Condition.wait", self
            )
        except BaseException:  # e.g. KeyboardInterrupt, OverflowError
            self._acquire_restore(saved)
            if not w.notified:
                self._waiters.remove(w)
            raise
        self._acquire_restore(saved)
        if exc is not None:
            # A notify may have landed while the lock was being re-taken:
            # pass it on, never drop the cancel (or timeout) for it.
            if w.notified:
                self._waiters.notify()
            else:
                self._waiters.remove(w)
            raise exc
        if w.notified:
            return True
        self._waiters.remove(w)
        return False

    def wait_for(self, predicate: Callable[[], Any], timeout: float | None = None) -> Any:
        endtime = None
        waittime = timeout
        result = predicate()
        while not result:
            if waittime is not None:
                if endtime is None:
                    endtime = monotonic() + waittime
                else:
                    waittime = endtime - monotonic()
                    if waittime <= 0:
                        break
            self.wait(waittime)
            result = predicate()
        return result

    def notify(self, n: int = 1) -> None:
        if not self._is_owned():
            raise RuntimeError("cannot notify on un-acquired lock")
        self._waiters.notify(n)

    def notify_all(self) -> None:
        self.notify(len(self._waiters))


class Semaphore:
    """A cancellable ``threading.Semaphore``."""

    def __init__(self, value: int = 1) -> None:
        if value < 0:
            raise ValueError("semaphore initial value must be >= 0")
        self._mutex = allocate_lock()  # guards _value, _waiters
        self._waiters = WaitQueue()
        self._value = value

    def __repr__(self) -> str:
        return f"<thredo.{type(self).__name__} at {id(self):#x}: value={self._value}>"

    def acquire(self, blocking: bool = True, timeout: float | None = None) -> bool:
        if not blocking and timeout is not None:
            raise ValueError("can't specify timeout for non-blocking acquire")
        with self._mutex:
            if self._value > 0:
                self._value -= 1
                return True
            if not blocking:
                return False
            if not self._waiters.wait_until(
                self._mutex, self._available, timeout, "Semaphore.acquire", self
            ):
                return False
            self._value -= 1
            return True

    def _available(self) -> bool:
        return self._value > 0

    __enter__ = acquire

    def release(self, n: int = 1) -> None:
        if n < 1:
            raise ValueError("n must be one or more")
        with self._mutex:
            self._value += n
            self._waiters.notify(n)

    def __exit__(self, *exc: object) -> None:
        self.release()


class BoundedSemaphore(Semaphore):
    """A cancellable ``threading.BoundedSemaphore``."""

    def __init__(self, value: int = 1) -> None:
        super().__init__(value)
        self._initial_value = value

    def __repr__(self) -> str:
        return (
            f"<thredo.BoundedSemaphore at {id(self):#x}: value={self._value}/{self._initial_value}>"
        )

    def release(self, n: int = 1) -> None:
        if n < 1:
            raise ValueError("n must be one or more")
        with self._mutex:
            if self._value + n > self._initial_value:
                raise ValueError("Semaphore released too many times")
            self._value += n
            self._waiters.notify(n)


class Event:
    """A cancellable ``threading.Event``."""

    def __init__(self) -> None:
        self._mutex = allocate_lock()  # guards _flag, _waiters
        self._waiters = WaitQueue()
        self._flag = False

    def __repr__(self) -> str:
        return (
            f"<thredo.{type(self).__name__} at {id(self):#x}: {'set' if self._flag else 'unset'}>"
        )

    def is_set(self) -> bool:
        return self._flag

    def set(self) -> None:
        with self._mutex:
            self._flag = True
            self._waiters.notify_all()

    def clear(self) -> None:
        with self._mutex:
            self._flag = False

    def wait(self, timeout: float | None = None) -> bool:
        if self._flag:
            return True
        with self._mutex:
            if self._flag:
                return True
            if timeout is not None and timeout <= 0:
                return False
            # Notified == set, even if cleared again since (a "pulse"), as in
            # threading.Event; set() notifies under the mutex, so no wake-up
            # can slip between the check above and queueing.
            return self._waiters.wait(self._mutex, timeout, "Event.wait", self)


class Barrier:
    """A cancellable ``threading.Barrier`` (CPython's algorithm, on thredo's Condition).

    A wait that is cancelled or times out breaks the barrier for everyone.
    """

    def __init__(
        self, parties: int, action: Callable[[], Any] | None = None, timeout: float | None = None
    ) -> None:
        if parties < 1:
            raise ValueError("parties must be >= 1")
        self._cond = Condition(Lock())
        self._action = action
        self._timeout = timeout
        self._parties = parties
        self._state = 0  # 0 filling, 1 draining, -1 resetting, -2 broken
        self._count = 0

    def __repr__(self) -> str:
        if self.broken:
            return f"<thredo.Barrier at {id(self):#x}: broken>"
        return f"<thredo.Barrier at {id(self):#x}: waiters={self.n_waiting}/{self.parties}>"

    def wait(self, timeout: float | None = None) -> int:
        if timeout is None:
            timeout = self._timeout
        with self._cond:
            self._enter()
            index = self._count
            self._count += 1
            try:
                if index + 1 == self._parties:
                    self._release()
                else:
                    self._wait(timeout)
                return index
            finally:
                self._count -= 1
                self._exit()

    def _enter(self) -> None:
        while self._state in (-1, 1):
            self._cond.wait()
        if self._state < 0:
            raise BrokenBarrierError
        assert self._state == 0

    def _release(self) -> None:
        try:
            if self._action:
                self._action()
            self._state = 1
            self._cond.notify_all()
        except BaseException:
            self._break()
            raise

    def _wait(self, timeout: float | None) -> None:
        try:
            ok = self._cond.wait_for(lambda: self._state != 0, timeout)
        except BaseException:  # cancelled or timed out by timeout_after
            self._break()
            raise
        if not ok:
            self._break()
            raise BrokenBarrierError
        if self._state < 0:
            raise BrokenBarrierError
        assert self._state == 1

    def _exit(self) -> None:
        if self._count == 0:
            if self._state in (-1, 1):
                self._state = 0
                self._cond.notify_all()

    def reset(self) -> None:
        with self._cond:
            if self._count > 0:
                if self._state == 0:
                    self._state = -1
                elif self._state == -2:
                    self._state = -1
            else:
                self._state = 0
            self._cond.notify_all()

    def abort(self) -> None:
        with self._cond:
            self._break()

    def _break(self) -> None:
        self._state = -2
        self._cond.notify_all()

    @property
    def parties(self) -> int:
        return self._parties

    @property
    def n_waiting(self) -> int:
        if self._state == 0:
            return self._count
        return 0

    @property
    def broken(self) -> bool:
        return self._state == -2
