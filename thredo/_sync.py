"""Lock, RLock, Condition, Semaphore, BoundedSemaphore, Event, Barrier.

Drop-in replacements for their ``threading`` namesakes: same signatures,
return values and errors.  Differences, all from the wait mechanism (``_wait.py``):

* In a thredo thread every call that may block is a **cancellation point**:
  ``acquire`` (blocking, ``with`` included), ``Condition.wait``/``wait_for``,
  ``Event.wait`` and ``Barrier.wait`` raise a pending cancel or an expired
  ``timeout_after`` deadline *before doing anything*, even when they would
  not have to wait, so a loop of calls that all succeed at once can still be
  stopped.  A call that went on to wait is cancellable in the wait too.
  Non-blocking forms (``acquire(False)``), releases, ``notify`` and ``set``
  never block and are not points.
* What a cancel leaves behind: a cancelled ``acquire`` holds nothing; a
  cancelled ``Condition.wait`` re-acquires the lock before the exception
  leaves it (as a stdlib timeout does); a cancelled ``Barrier.wait`` that
  had arrived breaks the barrier (as a stdlib timeout does).  A wait that was
  already satisfied (notified, handed the lock) completes: the cancel is
  raised at the next point.  In any other thread they behave like the stdlib's.
* Timeouts: ``None`` is no timeout; a timeout above ``threading.TIMEOUT_MAX``
  (``inf`` included) waits without limit where the stdlib raises
  ``OverflowError`` from inside the wait (only ``Lock``/``RLock.acquire``
  keep ``_thread.lock``'s argument check); a NaN timeout times out at once,
  as the stdlib's ``Condition.wait(nan)`` does, where the stdlib's
  ``Semaphore``, ``Condition.wait_for`` and ``Barrier`` would spin forever
  (``Lock``/``RLock.acquire(timeout=nan)`` raise ``ValueError``, as
  ``_thread.lock`` does).
* They can be created anywhere (module level, before ``run()``) and shared
  by thredo and plain threads at once, across several ``run()`` calls.
* Fast paths never park: an uncontended lock is one raw lock operation
  after the cancellation check (in C where the accelerator is built:
  ``_speedups.LockBase``; ``THREDO_PURE=1`` or no compiler: the pure-Python
  ``_PyLock``, the reference; docs/design.md, section 10).  Waiters are woken in FIFO order;
  as with ``threading``, a thread that arrives while the woken one is getting
  up may barge in first.
* Extras: ``statistics()`` on every primitive (frozen dataclasses, for tests
  and monitoring), and the curio names the original thredo's code uses:
  ``Semaphore.value``, ``Semaphore.locked()``, ``Condition.locked()``.

Each primitive is a state plus a :class:`~thredo._core.WaitQueue` guarded by
a raw ``_thread`` lock (``_mutex``), never held across a wait.

The cancellation check on the hot paths is ``if attention: checkpoint()``
(``thredo._core``): one global read when nothing is pending in any thread,
the full check only when something may be (docs/design.md, "Where the time goes").
"""

from __future__ import annotations

import os as _os
from _thread import allocate_lock, get_ident
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from threading import TIMEOUT_MAX, BrokenBarrierError
from time import monotonic
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from . import _accel
from ._core import (
    Waiter,
    WaitQueue,
    attention,
    checkpoint,
    disable_cancellation,
    nan_is_zero,
    park,
)

__all__ = (
    "Lock",
    "RLock",
    "Condition",
    "Semaphore",
    "BoundedSemaphore",
    "Event",
    "Barrier",
    "BrokenBarrierError",
    "LockStatistics",
    "ConditionStatistics",
    "SemaphoreStatistics",
    "EventStatistics",
    "BarrierStatistics",
)

R = TypeVar("R")


# -- statistics ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LockStatistics:
    """What ``Lock.statistics()`` / ``RLock.statistics()`` report (a snapshot).

    Attributes:
        locked: whether the lock is held.
        owner: the holder's ``threading.get_ident()`` for an ``RLock``; always
            None for a ``Lock``, which has no owner (any thread may release it).
        waiting: how many threads are blocked in ``acquire()``.
    """

    locked: bool
    owner: int | None
    waiting: int


@dataclass(frozen=True, slots=True)
class ConditionStatistics:
    """What ``Condition.statistics()`` reports (a snapshot).

    Attributes:
        waiting: how many threads are blocked in ``wait()``/``wait_for()``.
        lock: the statistics of the underlying lock when it is a thredo
            ``Lock``/``RLock``, else None.
    """

    waiting: int
    lock: LockStatistics | None


@dataclass(frozen=True, slots=True)
class SemaphoreStatistics:
    """What ``Semaphore.statistics()`` / ``BoundedSemaphore.statistics()`` report.

    Attributes:
        value: the counter (how many ``acquire()`` calls would succeed at once).
        max_value: a ``BoundedSemaphore``'s bound (its initial value); None
            for a ``Semaphore``.
        waiting: how many threads are blocked in ``acquire()``.
    """

    value: int
    max_value: int | None
    waiting: int


@dataclass(frozen=True, slots=True)
class EventStatistics:
    """What ``Event.statistics()`` reports (a snapshot).

    Attributes:
        is_set: the flag.
        waiting: how many threads are blocked in ``wait()``.
    """

    is_set: bool
    waiting: int


@dataclass(frozen=True, slots=True)
class BarrierStatistics:
    """What ``Barrier.statistics()`` reports (a snapshot).

    Attributes:
        parties: as ``Barrier.parties``.
        n_waiting: as ``Barrier.n_waiting`` (threads counted in the current round).
        broken: as ``Barrier.broken``.
        waiting: how many threads are blocked in ``wait()`` right now (those of
            the current round, plus any waiting for the previous round to drain).
    """

    parties: int
    n_waiting: int
    broken: bool
    waiting: int


# -- helpers ---------------------------------------------------------------------------


def _check_lock_args(blocking: bool, timeout: float) -> None:
    """Validate ``acquire(blocking, timeout)`` as ``_thread.lock`` does (for timeout != -1)."""
    if timeout != timeout:
        raise ValueError("Invalid value NaN (not a number)")
    if timeout > TIMEOUT_MAX:
        raise OverflowError("timeout value is too large")
    if not blocking:
        raise ValueError("can't specify a timeout for a non-blocking call")
    if timeout < 0:
        raise ValueError("timeout value must be positive")


# -- Lock, RLock -----------------------------------------------------------------------


class _RawLock(Protocol):
    """What a Lock's ``_lock`` offers: a ``_thread.lock`` or the accelerator's ``RawLock``."""

    def acquire(self, blocking: bool, /) -> bool: ...
    def release(self) -> None: ...
    def locked(self) -> bool: ...


class _LockCommon:
    """What both implementations of :class:`Lock` share: the slow paths, in Python.

    The fast paths (``acquire``, ``release``, ``with``, ``locked``) are either
    :class:`_PyLock`'s Python methods (the reference) or the C accelerator's
    ``LockBase`` (``thredo/_speedups.c``), which does the same steps in the
    same order and calls these for anything that waits or is rare.
    Attributes (both): ``_lock`` (the lock itself, with ``_thread.lock``'s
    ``acquire(False)``/``release()``/``locked()``), ``_mutex`` (guards
    ``_waiters``, ``_holder``), ``_waiters`` (a WaitQueue), ``_holder`` (for
    thredo.ps(): the ident of the holder, recorded only by an acquire that
    had to wait and only while others still wait, so the release takes the
    slow path, which clears it; None: not known; the uncontended acquire
    records nothing, to stay one raw lock operation).
    """

    if not TYPE_CHECKING:  # (mypy would then reject the subclasses' own attributes)
        __slots__ = ()
    # Provided by both implementations (a slot or C member each).
    if TYPE_CHECKING:

        @property
        def _lock(self) -> _RawLock: ...  # (assigned once, by __new__ or __init__)

    _mutex: Any
    _waiters: WaitQueue
    _holder: int | None

    def __repr__(self) -> str:
        state = "locked" if self._lock.locked() else "unlocked"
        return f"<{state} thredo.{type(self).__name__} object at {id(self):#x}>"

    def _acquire_timed(self, blocking: bool, timeout: float) -> bool:
        """``acquire`` with a timeout other than -1, after the cancellation check."""
        _check_lock_args(blocking, timeout)
        if self._lock.acquire(False):
            return True
        if not blocking:
            return False
        return self._wait(timeout)

    def _wait(self, timeout: float | None, call: str = "Lock.acquire", obj: object = None) -> bool:
        """The contended acquire: queue up until the lock is ours (``call``/``obj``: BlockedOn)."""
        with self._mutex:
            try:
                ok = self._waiters.wait_until(
                    self._mutex,
                    partial(self._lock.acquire, False),
                    timeout,
                    call,
                    self if obj is None else obj,
                )
            except BaseException:
                if not self._waiters:
                    self._holder = None  # the release may take the fast path now
                raise
            if ok:
                self._holder = get_ident() if self._waiters else None
            elif not self._waiters:
                self._holder = None
            return ok

    def _wake(self) -> None:
        """The release saw waiters: forget the holder, wake the longest waiter."""
        with self._mutex:
            self._holder = None
            self._waiters.notify()

    def statistics(self) -> LockStatistics:
        """A snapshot: held or not, how many threads wait (``owner`` is always None)."""
        return LockStatistics(self._lock.locked(), None, len(self._waiters))

    # Condition support (the names threading.Condition looks for)
    def _is_owned(self) -> bool:
        return bool(self._lock.locked())

    def _release_save(self) -> None:
        self.release()

    def _acquire_restore(self, state: None) -> None:
        with disable_cancellation():
            self.acquire()

    # Both implementations define these (declared for the methods above).
    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        raise NotImplementedError

    def release(self) -> None:
        raise NotImplementedError


class _PyLock(_LockCommon):
    """As ``threading.Lock``; in a thredo thread ``acquire`` is cancellable.

    Any thread may release it, as with ``threading.Lock``.  Thread-safe.
    (The pure-Python implementation: ``thredo.Lock`` where the C accelerator
    is not built or ``THREDO_PURE=1``; the reference for the C one.)
    """

    __slots__ = ("_lock", "_mutex", "_waiters", "_holder", "__weakref__")
    _lock: _RawLock  # (read-only in _LockCommon's view)

    def __init__(self) -> None:
        self._lock = allocate_lock()  # the lock itself: held == locked
        self._mutex = allocate_lock()  # guards _waiters, _holder
        self._waiters = WaitQueue()
        self._holder = None

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        """As ``threading.Lock.acquire``; a cancellation point when ``blocking``.

        In a thredo thread a blocking acquire raises a pending cancel or an
        expired ``timeout_after`` deadline first, even if the lock is free,
        and is cancellable while it waits; a cancelled acquire holds nothing.

        Raises:
            ValueError: a timeout with ``blocking=False``, negative (other
                than -1) or NaN.
            OverflowError: ``timeout`` above ``threading.TIMEOUT_MAX``.
        """
        if blocking and attention:  # checkpoint() when something may be pending (_core)
            checkpoint()
        if timeout != -1:
            return self._acquire_timed(blocking, timeout)
        if self._lock.acquire(False):
            return True
        if not blocking:
            return False
        return self._wait(None)

    def release(self) -> None:
        """As ``threading.Lock.release``: wakes the longest waiter.  Not a cancellation point.

        Raises:
            RuntimeError: the lock is not held.
        """
        self._lock.release()  # RuntimeError("release unlocked lock") if unheld
        if self._waiters:
            self._wake()

    def locked(self) -> bool:
        """As ``threading.Lock.locked``."""
        return self._lock.locked()

    def __enter__(self) -> bool:
        """``acquire()``: a cancellation point."""
        # acquire() with its defaults, spelled out (one call fewer on `with`).
        if attention:  # checkpoint() when something may be pending (_core)
            checkpoint()
        if self._lock.acquire(False):
            return True
        return self._wait(None)

    def __exit__(
        self,
        ty: type[BaseException] | None = None,
        val: BaseException | None = None,
        tb: TracebackType | None = None,
    ) -> None:
        """``release()``."""
        self._lock.release()  # release() spelled out (one call fewer on `with`)
        if self._waiters:
            self._wake()


# The C Lock when the accelerator is built and fresh, unless THREDO_PURE=1
# forces the pure-Python one (the reference).
if _os.environ.get("THREDO_PURE", "") in ("", "0") and _accel.load() is not None:
    from . import _speedups

    _speedups.sync_setup(attention, checkpoint)
else:
    _speedups = None  # type: ignore[assignment]

_CLock: type[_LockCommon] | None = None

if _speedups is not None:

    class _CLockImpl(_speedups.LockBase, _LockCommon):
        """As ``threading.Lock``; in a thredo thread ``acquire`` is cancellable.

        Any thread may release it, as with ``threading.Lock``.  Thread-safe.
        (The C accelerator's fast path, ``LockBase``; the rest as :class:`_PyLock`.)
        """

        if not TYPE_CHECKING:
            __slots__ = ("__weakref__",)

        def __init__(self) -> None:
            self._mutex = allocate_lock()
            self._waiters = WaitQueue()
            self._holder = None

    _CLock = _CLockImpl

for _cls in (_PyLock, _CLock):
    if _cls is not None:
        _cls.__name__ = _cls.__qualname__ = "Lock"  # what repr() and thredo.ps() show

if TYPE_CHECKING:  # one class named Lock for type checkers, whichever is chosen at run time

    class Lock(_PyLock):
        """As ``threading.Lock``; in a thredo thread ``acquire`` is cancellable."""

else:
    Lock = _PyLock if _CLock is None else _CLock


class _RLockCommon:
    """What both implementations of :class:`RLock` share (as :class:`_LockCommon` for Lock).

    Attributes (both): ``_block`` (a thredo ``Lock``, held while owned),
    ``_owner`` (the owner's ident or None, written by the owner only),
    ``_count`` (the owner's depth).
    """

    if not TYPE_CHECKING:
        __slots__ = ()
    _block: Any
    _owner: int | None
    _count: int

    def __repr__(self) -> str:
        state = "locked" if self._owner is not None else "unlocked"
        return (
            f"<{state} thredo.RLock object owner={self._owner} count={self._count} "
            f"at {id(self):#x}>"
        )

    def _acquire_timed(self, blocking: bool, timeout: float) -> bool:
        """``acquire`` with a timeout other than -1, after the cancellation check."""
        _check_lock_args(blocking, timeout)
        return self._take(blocking, timeout)

    def _take(self, blocking: bool, timeout: float | None) -> bool:
        """Take it (again, if ours), waiting up to ``timeout`` (None: no limit) if ``blocking``."""
        me = get_ident()
        if self._owner == me:
            self._count += 1
            return True
        block = self._block
        if not block._lock.acquire(False):
            if not blocking or not block._wait(timeout, "RLock.acquire", self):
                return False
        self._owner = me
        self._count = 1
        return True

    def statistics(self) -> LockStatistics:
        """A snapshot: held or not, the owner's ident, how many threads wait."""
        owner = self._owner
        return LockStatistics(owner is not None, owner, len(self._block._waiters))

    def _is_owned(self) -> bool:
        return self._owner == get_ident()

    def _recursion_count(self) -> int:
        """As ``threading.RLock._recursion_count`` (3.12+): the caller's depth, else 0."""
        return self._count if self._owner == get_ident() else 0

    def _release_save(self) -> tuple[int, int | None]:
        if self._count == 0:
            raise RuntimeError("cannot release un-acquired lock")
        state = (self._count, self._owner)
        self._count = 0
        self._owner = None
        self._block.release()
        return state

    def _acquire_restore(self, state: tuple[int, int | None]) -> None:
        with disable_cancellation():
            self._block.acquire()
        self._count, self._owner = state


class _PyRLock(_RLockCommon):
    """As ``threading.RLock`` (re-entrant, released by its owner only); cancellable ``acquire``.

    Offers the private methods stdlib code calls on an RLock
    (``_is_owned``, ``_recursion_count``, ``_release_save``,
    ``_acquire_restore``).  Thread-safe.  (The pure-Python implementation,
    the reference for the C one; ``THREDO_PURE=1`` or no accelerator.)
    """

    __slots__ = ("_block", "_owner", "_count", "__weakref__")

    def __init__(self) -> None:
        self._block = Lock()  # held while owned
        self._owner = None  # written by the owner only
        self._count = 0

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        """As ``threading.RLock.acquire``; a cancellation point when ``blocking``.

        Re-acquiring by the owner is a cancellation point too (it is a call
        that may block; the owner's count is unchanged when it raises).  A
        cancelled acquire holds nothing.

        Raises:
            ValueError, OverflowError: as :meth:`Lock.acquire`.
        """
        if blocking:
            if attention:  # checkpoint() when something may be pending (_core)
                checkpoint()
        if timeout != -1:
            return self._acquire_timed(blocking, timeout)
        return self._take(blocking, None)

    __enter__ = acquire

    def release(self) -> None:
        """As ``threading.RLock.release``.  Not a cancellation point.

        Raises:
            RuntimeError: the calling thread does not own the lock.
        """
        if self._owner != get_ident():
            raise RuntimeError("cannot release un-acquired lock")
        self._count -= 1
        if not self._count:
            self._owner = None
            self._block.release()

    def __exit__(
        self,
        ty: type[BaseException] | None = None,
        val: BaseException | None = None,
        tb: TracebackType | None = None,
    ) -> None:
        """``release()``."""
        self.release()

    def locked(self) -> bool:
        """Whether any thread holds it (``threading.RLock`` has it from Python 3.14)."""
        return self._owner is not None


_CRLock: type[_RLockCommon] | None = None

if _speedups is not None:

    class _CRLockImpl(_speedups.RLockBase, _RLockCommon):
        """As ``threading.RLock`` (re-entrant, released by its owner only); cancellable ``acquire``.

        Offers the private methods stdlib code calls on an RLock
        (``_is_owned``, ``_recursion_count``, ``_release_save``,
        ``_acquire_restore``).  Thread-safe.  (The C accelerator's fast path,
        ``RLockBase``, on a C ``Lock``; the rest as :class:`_PyRLock`.)
        """

        if not TYPE_CHECKING:
            __slots__ = ("__weakref__",)

        def __init__(self) -> None:
            self._block = Lock()  # held while owned

    _CRLock = _CRLockImpl

for _rcls in (_PyRLock, _CRLock):
    if _rcls is not None:
        _rcls.__name__ = _rcls.__qualname__ = "RLock"

if TYPE_CHECKING:

    class RLock(_PyRLock):
        """As ``threading.RLock``; in a thredo thread ``acquire`` is cancellable."""

else:
    RLock = _PyRLock if _CRLock is None else _CRLock


# -- Condition -------------------------------------------------------------------------


class Condition:
    """As ``threading.Condition`` (default lock: a thredo ``RLock``); cancellable waits.

    ``acquire``/``release``/``with`` are the lock's.  ``wait`` always re-takes
    the lock before returning or raising, even when cancelled; a wait that
    was notified returns True even if a cancel arrives at the same time (the
    cancel is raised at the next blocking call), so a notification is never
    lost.  Extra: ``locked()`` (curio's name) and ``statistics()``.
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
        """The lock's ``__enter__`` (for a thredo lock: a cancellation point)."""
        return self._lock.__enter__()

    def __exit__(self, *exc: Any) -> Any:
        """The lock's ``__exit__``."""
        return self._lock.__exit__(*exc)

    def locked(self) -> bool:
        """Whether the underlying lock is held (by any thread); curio's name."""
        locked = getattr(self._lock, "locked", None)
        if locked is not None:
            return bool(locked())
        if self._is_owned():  # e.g. threading.RLock before 3.14, held by the caller
            return True
        if self._lock.acquire(False):
            self._lock.release()
            return False
        return True

    def statistics(self) -> ConditionStatistics:
        """A snapshot: how many threads wait, and the lock's statistics if it is thredo's."""
        stats = getattr(self._lock, "statistics", None)
        return ConditionStatistics(len(self._waiters), stats() if stats is not None else None)

    # Fallbacks for locks without the private protocol (e.g. threading.Lock).
    def _is_owned(self) -> bool:
        if self._lock.acquire(False):
            self._lock.release()
            return False
        return True

    def _release_save(self) -> Any:
        self._lock.release()

    def _acquire_restore(self, state: Any) -> None:
        with disable_cancellation():
            self._lock.acquire()

    def wait(self, timeout: float | None = None) -> bool:
        """As ``threading.Condition.wait``; a cancellation point, cancellable while waiting.

        A pending cancel or expired deadline is raised before the lock is
        released; one that arrives during the wait is raised after the lock
        is re-taken.  A timeout above ``TIMEOUT_MAX`` (or ``inf``) never
        overflows; NaN times out at once, as in the stdlib.

        Raises:
            RuntimeError: the lock is not held by the caller.
        """
        checkpoint()
        return self._wait(timeout, "Condition.wait", self)

    def _wait(self, timeout: float | None, call: str, obj: object) -> bool:
        """:meth:`wait` after its cancellation point (``call``/``obj``: BlockedOn)."""
        if not self._is_owned():
            raise RuntimeError("cannot wait on un-acquired lock")
        if timeout is not None and not timeout > 0:  # zero, negative, NaN: don't block
            timeout = 0.0
        w = Waiter()
        self._waiters.append(w)
        saved = self._release_save()
        exc = None
        try:
            exc = park(w, timeout, None, call, obj)
        except BaseException:  # e.g. KeyboardInterrupt
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

    def wait_for(self, predicate: Callable[[], R], timeout: float | None = None) -> R:
        """As ``threading.Condition.wait_for``; always a cancellation point.

        The stdlib returns at once, without waiting, when ``predicate()`` is
        already true; here a pending cancel or expired deadline is raised
        first even then (before ``predicate`` is called), so a loop of
        ``wait_for`` calls whose predicate holds can be stopped.  A NaN
        timeout times out at once (the stdlib would spin).
        """
        checkpoint()
        return self._wait_for(predicate, timeout, "Condition.wait", self)

    def _wait_for(
        self, predicate: Callable[[], R], timeout: float | None, call: str, obj: object
    ) -> R:
        """:meth:`wait_for` after its cancellation point (``call``/``obj``: BlockedOn)."""
        endtime = None
        waittime = nan_is_zero(timeout)
        result = predicate()
        while not result:
            if waittime is not None:
                if endtime is None:
                    endtime = monotonic() + waittime
                else:
                    waittime = endtime - monotonic()
                    if waittime <= 0:
                        break
            checkpoint()  # as wait() would: between two waits
            self._wait(waittime, call, obj)
            result = predicate()
        return result

    def notify(self, n: int = 1) -> None:
        """As ``threading.Condition.notify`` (oldest waiters first).  Not a cancellation point.

        Raises:
            RuntimeError: the lock is not held by the caller.
        """
        if not self._is_owned():
            raise RuntimeError("cannot notify on un-acquired lock")
        self._waiters.notify(n)

    def notify_all(self) -> None:
        """As ``threading.Condition.notify_all``.  Not a cancellation point."""
        self.notify(len(self._waiters))

    def notifyAll(self) -> None:  # noqa: N802 -- threading.Condition's deprecated spelling
        """Deprecated alias of :meth:`notify_all` (as ``threading.Condition.notifyAll``)."""
        import warnings

        warnings.warn(
            "notifyAll() is deprecated, use notify_all() instead", DeprecationWarning, stacklevel=2
        )
        self.notify_all()


# -- Semaphore, BoundedSemaphore -------------------------------------------------------


class Semaphore:
    """As ``threading.Semaphore``; cancellable ``acquire``.

    Extras (curio's names): the ``value`` property and ``locked()``.  Thread-safe.
    """

    def __init__(self, value: int = 1) -> None:
        if value < 0:
            raise ValueError("semaphore initial value must be >= 0")
        self._mutex = allocate_lock()  # guards _value, _waiters
        self._waiters = WaitQueue()
        self._value = value

    def __repr__(self) -> str:
        return f"<thredo.{type(self).__name__} at {id(self):#x}: value={self._value}>"

    def acquire(self, blocking: bool = True, timeout: float | None = None) -> bool:
        """As ``threading.Semaphore.acquire``; a cancellation point when ``blocking``.

        A cancelled acquire takes nothing.  A timeout above ``TIMEOUT_MAX``
        (or ``inf``) never overflows; NaN times out at once (the stdlib would spin).

        Raises:
            ValueError: a timeout with ``blocking=False``.
        """
        if blocking:
            if attention:  # checkpoint() when something may be pending (_core)
                checkpoint()
        elif timeout is not None:
            raise ValueError("can't specify timeout for non-blocking acquire")
        with self._mutex:
            if self._value > 0:
                self._value -= 1
                return True
            if not blocking:
                return False
            if not self._waiters.wait_until(
                self._mutex, self._available, nan_is_zero(timeout), "Semaphore.acquire", self
            ):
                return False
            self._value -= 1
            return True

    def _available(self) -> bool:
        return self._value > 0

    __enter__ = acquire

    def release(self, n: int = 1) -> None:
        """As ``threading.Semaphore.release``: wakes up to ``n`` waiters.  Not a cancellation point.

        Raises:
            ValueError: ``n`` < 1.
        """
        if n < 1:
            raise ValueError("n must be one or more")
        with self._mutex:
            self._value += n
            self._waiters.notify(n)

    def __exit__(
        self,
        ty: type[BaseException] | None = None,
        val: BaseException | None = None,
        tb: TracebackType | None = None,
    ) -> None:
        """``release()``."""
        self.release()

    @property
    def value(self) -> int:
        """The counter (curio's name), how many ``acquire()`` calls would succeed at once."""
        return self._value

    def locked(self) -> bool:
        """True when an ``acquire()`` would have to wait (curio's name: ``value == 0``)."""
        return self._value == 0

    def statistics(self) -> SemaphoreStatistics:
        """A snapshot: the counter, the bound (None here), how many threads wait."""
        with self._mutex:
            return SemaphoreStatistics(self._value, None, len(self._waiters))


class BoundedSemaphore(Semaphore):
    """As ``threading.BoundedSemaphore``; cancellable ``acquire``."""

    def __init__(self, value: int = 1) -> None:
        super().__init__(value)
        self._initial_value = value

    def __repr__(self) -> str:
        return (
            f"<thredo.BoundedSemaphore at {id(self):#x}: value={self._value}/{self._initial_value}>"
        )

    def release(self, n: int = 1) -> None:
        """As ``threading.BoundedSemaphore.release``.

        Raises:
            ValueError: ``n`` < 1, or the counter would exceed its initial value.
        """
        if n < 1:
            raise ValueError("n must be one or more")
        with self._mutex:
            if self._value + n > self._initial_value:
                raise ValueError("Semaphore released too many times")
            self._value += n
            self._waiters.notify(n)

    def statistics(self) -> SemaphoreStatistics:
        """A snapshot: the counter, the bound, how many threads wait."""
        with self._mutex:
            return SemaphoreStatistics(self._value, self._initial_value, len(self._waiters))


# -- Event -----------------------------------------------------------------------------


class Event:
    """As ``threading.Event``; cancellable ``wait``.  Thread-safe."""

    def __init__(self) -> None:
        self._mutex = allocate_lock()  # guards _flag (writes), _waiters
        self._waiters = WaitQueue()
        self._flag = False

    def __repr__(self) -> str:
        return (
            f"<thredo.{type(self).__name__} at {id(self):#x}: {'set' if self._flag else 'unset'}>"
        )

    def is_set(self) -> bool:
        """As ``threading.Event.is_set``."""
        return self._flag

    def isSet(self) -> bool:  # noqa: N802 -- threading.Event's deprecated spelling
        """Deprecated alias of :meth:`is_set` (as ``threading.Event.isSet``)."""
        import warnings

        warnings.warn(
            "isSet() is deprecated, use is_set() instead", DeprecationWarning, stacklevel=2
        )
        return self._flag

    def set(self) -> None:
        """As ``threading.Event.set``: wakes every waiter.  Not a cancellation point."""
        with self._mutex:
            self._flag = True
            self._waiters.notify_all()

    def clear(self) -> None:
        """As ``threading.Event.clear``."""
        with self._mutex:
            self._flag = False

    def wait(self, timeout: float | None = None) -> bool:
        """As ``threading.Event.wait``; a cancellation point, even on a set event.

        A timeout above ``TIMEOUT_MAX`` (or ``inf``) never overflows; NaN
        returns False at once (if the event is not set), as in the stdlib.
        """
        if attention:  # checkpoint() when something may be pending (_core)
            checkpoint()
        if self._flag:
            return True
        with self._mutex:
            if self._flag:
                return True
            if timeout is not None and not timeout > 0:  # zero, negative, NaN
                return False
            # Notified == set, even if cleared again since (a "pulse"), as in
            # threading.Event; set() notifies under the mutex, so no wake-up
            # can slip between the check above and queueing.
            return self._waiters.wait(self._mutex, timeout, "Event.wait", self)

    def statistics(self) -> EventStatistics:
        """A snapshot: the flag, how many threads wait."""
        with self._mutex:
            return EventStatistics(self._flag, len(self._waiters))


# -- Barrier ---------------------------------------------------------------------------


class Barrier:
    """As ``threading.Barrier`` (CPython's algorithm, on thredo's Condition); cancellable ``wait``.

    A wait that is cancelled or times out after arriving breaks the barrier
    for everyone, as a stdlib timeout does.  Thread-safe.
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
        """As ``threading.Barrier.wait``; a cancellation point, cancellable while waiting.

        A pending cancel or expired deadline is raised before the thread
        arrives (the barrier is untouched); one that comes while it waits
        breaks the barrier.  A NaN timeout times out at once (breaking it;
        the stdlib would spin); one above ``TIMEOUT_MAX`` never overflows.

        Returns:
            The arrival index, 0 to ``parties - 1``.

        Raises:
            BrokenBarrierError: the barrier is or gets broken, or reset, or
                the timeout passes.
        """
        if timeout is None:
            timeout = self._timeout
        with self._cond:  # Lock.__enter__: the cancellation point
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
            self._cond.wait()  # a cancellation point, before this thread arrives
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
            ok = self._cond._wait_for(lambda: self._state != 0, timeout, "Barrier.wait", self)
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
        """As ``threading.Barrier.reset``.  Not a cancellation point (see :meth:`abort`)."""
        with disable_cancellation(), self._cond:
            if self._count > 0:
                if self._state == 0:
                    self._state = -1
                elif self._state == -2:
                    self._state = -1
            else:
                self._state = 0
            self._cond.notify_all()

    def abort(self) -> None:
        """As ``threading.Barrier.abort``.  Not a cancellation point.

        It is a cleanup call (often in a ``finally``, to release the other
        parties), and the barrier's lock is only ever held for a moment: so
        taking it is not cancellable.
        """
        with disable_cancellation(), self._cond:
            self._break()

    def _break(self) -> None:
        self._state = -2
        self._cond.notify_all()

    @property
    def parties(self) -> int:
        """As ``threading.Barrier.parties``."""
        return self._parties

    @property
    def n_waiting(self) -> int:
        """As ``threading.Barrier.n_waiting``."""
        if self._state == 0:
            return self._count
        return 0

    @property
    def broken(self) -> bool:
        """As ``threading.Barrier.broken``."""
        return self._state == -2

    def statistics(self) -> BarrierStatistics:
        """A snapshot: parties, ``n_waiting``, ``broken``, and how many threads are parked."""
        return BarrierStatistics(
            self._parties, self.n_waiting, self.broken, len(self._cond._waiters)
        )
