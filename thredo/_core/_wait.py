"""The one wait mechanism of thredo: per-thread state, parking, waking.

Theory of operation
-------------------

Every blocking call in thredo (sleep, join, lock, queue, event, AWAIT, DNS)
ends in :func:`park`, which blocks on a :class:`Waiter` -- a fresh raw
``_thread`` lock held by the waiter and released by whoever wakes it.
Primitives keep their waiters in a :class:`WaitQueue` (FIFO) guarded by the
primitive's own mutex, exactly like CPython's ``threading.Condition``.
Waits on file descriptors (sockets, pipes, child processes) are the same
idea with ``poll()`` in place of the lock; they live in ``thredo._core._fdwait``.

Each thredo thread carries a :class:`ThreadState`: its pending
cancellation, its ``timeout_after`` deadline stack, its
``disable_cancellation`` depth, ``parked`` (the object it is blocked on
right now: anything with ``interrupt()``), ``blocked`` (what the thread is
blocked in, for people: the call and the object) and ``run`` (the
:class:`~thredo._core.RunContext` it belongs to).  Cancelling a thread
stores the exception in the state and *interrupts* ``parked``.  A deadline
is simply the timeout of the wait itself.  So a wait ends for exactly one
of four reasons, checked in this order when the thread wakes::

    notified (the waker set w.notified)  -> the operation completes;
                                            a pending cancel waits for the
                                            next blocking call
    cancel pending and deliverable       -> the exception is returned, the
                                            caller unregisters, then raises
    innermost armed deadline passed      -> ThreadTimeout(now)
    the call's own timeout passed        -> the call returns its "timed out"

Picture of one wait on a thredo Queue::

     consumer thread             producer thread            canceller (any)
     ---------------             ---------------            ---------------
     with q.mutex:
       w = Waiter()  (locked)
       q.getters.append(w)
       st.parked = w
       mutex.release()
       w.lock.acquire() ....       with q.mutex:
            :                        q._put(item)
            :  <--- release ----     q.getters.popleft().wake()
       (or) :  <--- release ------------------------------  st.cancel_pending = exc
       mutex.acquire()                                      st.parked.interrupt()
       notified? take the item : remove w, raise exc

The wait sits in the waiting thread and the wake-up comes straight from the
thread that makes progress; the curio kernel is not on the wake-up path.
``docs/design.md`` has the measurements that decided this (every hop through
the kernel thread costs about two context switches per round trip).

Invariants
----------

* A :class:`Waiter` is woken at most once by a waker (``notified`` goes
  False -> True once, under the queue owner's mutex); interrupts may release
  its lock any number of times, so every release tolerates an already
  released lock.
* A waiter that was notified always completes its operation: a cancel never
  loses a wake-up (and so never loses an item, a lock or an event).
* A delivered cancellation is cleared; it is raised once.
* ``blocked`` is set (after the waiter is registered where a waker finds
  it) only while the thread really waits, and cleared before the call
  returns: "blocked" means another thread's action is needed.
* Plain threads (no ThreadState) get exactly the stdlib behaviour: no
  cancellation, no deadlines, only the call's own timeout.

Non-goals: interrupting pure-Python computation (a thread is cancelled at its
next blocking call) and waits on ``threading`` primitives (only thredo's own
are cancellable).
"""

from __future__ import annotations

import select
import threading
from _thread import LockType, allocate_lock
from collections import deque
from collections.abc import Callable
from threading import TIMEOUT_MAX
from time import monotonic
from typing import Any, Literal, NamedTuple, Protocol

from ._errors import ThreadTimeout
from ._runctx import Member, RunContext

__all__ = (
    "BlockedOn",
    "blocked_on",
    "ThreadState",
    "Waiter",
    "WaitQueue",
    "park",
    "checkpoint",
    "note_return",
    "current_state",
    "set_state",
)


class Interruptible(Protocol):
    """What a thread can be parked on: a :class:`Waiter` or an fd wait."""

    def interrupt(self) -> None: ...


class FdWait(Protocol):
    """A thread's fd-wait resource (``ThreadState.fdwait``), made and used by ``_fdwait``.

    Its eventfd and poll object: ``poll`` has the eventfd registered and,
    besides it, ``fd`` for ``events`` (kept between waits); ``waiting`` is
    the run's fd -> waiters table the wait registers in.  ``interrupt``
    rings the eventfd (a cancel, a close); ``close`` gives it back as the
    thread exits.
    """

    poll: select.poll
    fd: int | None
    events: int
    waiting: dict[int, list[ThreadState]]

    def interrupt(self) -> None: ...

    def close(self) -> None: ...


class BlockedOn(NamedTuple):
    """What a thread is blocked in: the call, the object, and since when.

    ``call`` is the name a user knows (``"Queue.get"``, ``"Lock.acquire"``,
    ``"sleep"``, ``"recv"`` ...), ``obj`` the object waited on (None for
    ``sleep``), ``since`` the ``time.monotonic()`` at which the wait began,
    ``until`` the ``time.monotonic()`` at which the call's own timeout ends
    it (a sleep's end; None: no timeout of its own).  ``thredo.ps()`` turns
    these into words (``thredo._introspect``).
    """

    call: str
    obj: object
    since: float
    until: float | None = None


class _Local(threading.local):
    state: ThreadState | None = None


state_local = _Local()
_INF = float("inf")

# The states that may have something for their thread to raise: every
# ThreadState whose ``cancel_pending`` or ``deadline`` is not None is in it
# (it may hold a few that have neither).  The hottest fast paths (an
# uncontended Lock) test this set first, one global read (~15 ns), and look
# up their own thread's state (``state_local.state``, 55-100 ns measured) only when
# it is not empty: docs/design.md, "Where the time goes".
attention: set[ThreadState] = set()


def current_state() -> ThreadState | None:
    """The calling thread's :class:`ThreadState`, or None in a plain thread."""
    return state_local.state


def set_state(st: ThreadState | None) -> None:
    """Make ``st`` the calling thread's state (a thredo thread's first and last act)."""
    state_local.state = st


class Waiter:
    """One blocked call of one thread.  Wakers call :meth:`wake`."""

    __slots__ = ("lock", "notified", "value")

    def __init__(self) -> None:
        lock = allocate_lock()
        lock.acquire()
        self.lock: LockType = lock
        self.notified = False
        self.value: Any = None

    def wake(self, value: Any = None) -> None:
        """Complete the wait, handing over ``value``.  Call at most once."""
        self.value = value
        self.notified = True
        try:
            self.lock.release()
        except RuntimeError:  # already released by an interrupt
            pass

    def interrupt(self) -> None:
        """Make the waiter look at its thread's state (cancel, deadline)."""
        try:
            self.lock.release()
        except RuntimeError:
            pass


class ThreadState:
    """Per-thread cancellation, timeout and "blocked on" state.

    Written by its own thread, except :meth:`deliver` (any thread), which
    only stores ``cancel_pending`` and interrupts ``parked``.  ``thread`` is
    the thredo ``Thread`` it belongs to, ``run`` the run that thread is part
    of; ``fdwait`` is owned by ``thredo._core._fdwait`` (the thread's eventfd and
    poll object, made on its first fd wait, closed by :meth:`close`).
    """

    __slots__ = (
        "cancel_pending",
        "deadlines",
        "deadline",
        "armed",
        "nocancel",
        "floor",
        "fired",
        "returned",
        "parked",
        "blocked",
        "fdwait",
        "closed_under",
        "thread",
        "run",
        "closed",
    )

    def __init__(self, thread: Member | None, run: RunContext) -> None:
        self.cancel_pending: BaseException | None = None
        # timeout_after stack, outermost first: () until the thread's first
        # timeout_after (a list in every thread's state cost 56 B of an idle
        # connection's memory: docs/design.md section 6.1).
        self.deadlines: list[float] | tuple[()] = ()
        self.deadline: float | None = None  # nearest armed, deliverable deadline
        self.armed = True
        self.nocancel = 0  # disable_cancellation depth
        self.floor = 0  # deadlines below this index are deferred (nocancel)
        self.fired = 0  # how many deadlines have been delivered (UncancellableWarning)
        # When a thredo call last returned normally past the armed deadline
        # (note_return): the time up to then was spent in a call thredo
        # watches, so the UncancellableWarning does not count it.
        self.returned = 0.0
        self.parked: Interruptible | None = None  # while blocked
        # While blocked, for people: (call, obj, since, until), the fields of
        # BlockedOn as a plain tuple (made at every wait: a NamedTuple's
        # constructor costs ~0.4 us more); read it with blocked_on().
        self.blocked: tuple[str, object, float, float | None] | None = None
        # None (no fd wait yet), or False: past the eventfd budget (_fdwait).
        self.fdwait: FdWait | Literal[False] | None = None
        # The fd this thread waited on when a closer closed it under it
        # (thredo._core._fdwait.wake_closed): its wait returns "ready" and the
        # retried call sees EBADF.  Written by the closer, cleared by the waiter.
        self.closed_under: int | None = None
        self.thread = thread  # None once the thread has exited
        self.run = run
        self.closed = False  # the thread has exited: nothing will consume a cancel

    # -- cancellation -----------------------------------------------------

    def deliver(self, exc: BaseException) -> None:
        """Request cancellation with ``exc`` (from any thread)."""
        if self.cancel_pending is None:
            self.cancel_pending = exc
        attention.add(self)
        if self.closed:  # exited meanwhile: never keep it in the set
            attention.discard(self)
        parked = self.parked
        if parked is not None:
            parked.interrupt()

    def pending(self) -> BaseException | None:
        """Take the exception the current blocking call must raise, if any."""
        exc = self.cancel_pending
        if exc is not None and not self.nocancel:
            self.cancel_pending = None
            self._settle()
            return exc
        deadline = self.deadline
        if deadline is not None:
            now = monotonic()
            if now >= deadline:
                self.armed = False  # fires once, re-armed when a block exits
                self.deadline = None
                self.fired += 1
                self._settle()
                return ThreadTimeout(now)
        return None

    def _settle(self) -> None:
        """Leave ``attention`` if nothing is pending (its own thread only)."""
        if self.cancel_pending is None and self.deadline is None:
            attention.discard(self)
            if self.cancel_pending is not None and not self.closed:
                attention.add(self)  # a deliver() came in between: back in

    # -- deadlines (timeout_after) and disable_cancellation ---------------

    def _recompute(self) -> None:
        live = self.deadlines[self.floor :]
        deadline = min(live) if (live and self.armed) else None
        # timeout_after(None) pushes +inf: a deadline that never comes is none.
        self.deadline = None if deadline == _INF else deadline
        if self.deadline is not None:
            attention.add(self)
        else:
            self._settle()

    def push_deadline(self, clock: float) -> None:
        deadlines = self.deadlines
        if type(deadlines) is list:
            deadlines.append(clock)
        else:
            self.deadlines = [clock]
        self.armed = True
        self._recompute()

    def pop_deadline(self) -> None:
        self.deadlines.pop()  # type: ignore[union-attr]  # a list: push_deadline made it
        self.armed = True  # an outer deadline that already passed fires next
        self._recompute()

    def disable(self) -> None:
        if not self.nocancel:
            self.floor = len(self.deadlines)
            self._recompute()
        self.nocancel += 1

    def enable(self) -> None:
        self.nocancel -= 1
        if not self.nocancel:
            self.floor = 0
            self._recompute()

    def close(self) -> None:
        """Release per-thread resources; called by the thread as it exits."""
        self.closed = True
        attention.discard(self)
        fdwait = self.fdwait
        self.fdwait = None
        if fdwait:
            fdwait.close()


def blocked_on(st: ThreadState) -> BlockedOn | None:
    """What ``st``'s thread is blocked in now, as a :class:`BlockedOn` (one read)."""
    rec = st.blocked
    return None if rec is None else BlockedOn._make(rec)


def checkpoint() -> None:
    """Raise a pending cancellation or expired deadline of the calling thread."""
    if not attention:  # nothing pending in any thread (see attention)
        return
    st = state_local.state
    if st is not None and (st.cancel_pending is not None or st.deadline is not None):
        exc = st.pending()
        if exc is not None:
            raise exc


def note_return() -> None:
    """A thredo call returns normally: note it if the armed deadline has passed.

    A call that started before the deadline and ends after it (a wait woken
    just before, a system call that got its data but then the GIL late) did
    nothing wrong, and the next cancellation point delivers the deadline;
    ``timeout_after`` then counts only the time after this as spent where
    thredo cannot reach (``UncancellableWarning``).  Cheap when no deadline
    is armed anywhere (one global read).
    """
    if not attention:
        return
    st = state_local.state
    if st is not None:
        deadline = st.deadline
        if deadline is not None:
            now = monotonic()
            if now > deadline:
                st.returned = now


def park(
    w: Waiter,
    timeout: float | None = None,
    mutex: LockType | None = None,
    call: str = "wait",
    obj: object = None,
) -> BaseException | None:
    """Block the calling thread until ``w`` is woken or interrupted.

    Args:
        w: the waiter, already registered where a waker will find it.
        timeout: the call's own timeout in seconds (None: no limit).
        mutex: a held lock to release while blocked and retake before return.
        call, obj: what the thread is blocked in, for :class:`BlockedOn`.

    Returns:
        None when ``w.notified`` is set or ``timeout`` passed (look at
        ``w.notified``), else the cancellation exception the caller must raise
        once it has unregistered ``w``.
    """
    if timeout is not None:
        if timeout != timeout:
            raise ValueError("Invalid value NaN (not a number)")
        if timeout > TIMEOUT_MAX:
            timeout = None  # ~49 days or more: as good as forever, and never overflows
    st = state_local.state
    if st is None:
        if mutex is not None:
            mutex.release()
        try:
            w.lock.acquire(True, -1 if timeout is None else timeout)
        finally:
            if mutex is not None:
                mutex.acquire()
        return None
    now = monotonic()
    endtime = None if timeout is None else now + timeout
    lock = w.lock
    st.blocked = (call, obj, now, endtime)
    # This loop has the shape of wait_fd's (thredo._core._fdwait): change
    # both together.  One shared loop taking the blocking step as a closure
    # doubled park's cost (264 -> 540 ns a pass): docs/design.md, 9.2.
    try:
        while True:
            limit = st.deadline
            if endtime is not None and (limit is None or endtime < limit):
                limit = endtime
            st.parked = w
            if st.cancel_pending is None or st.nocancel:
                if mutex is not None:
                    mutex.release()
                try:
                    if limit is None:
                        lock.acquire()
                    else:
                        # Capped: a deadline far away wakes early and waits again.
                        lock.acquire(True, min(max(0.0, limit - monotonic()), TIMEOUT_MAX))
                finally:
                    st.parked = None
                    if mutex is not None:
                        mutex.acquire()
            else:
                st.parked = None
            if w.notified:
                if attention:
                    note_return()
                return None
            exc = st.pending()
            if exc is not None or (endtime is not None and monotonic() >= endtime):
                return exc
            # Interrupted while cancellation was disabled, or woke a hair before
            # the deadline: the lock is held again, wait once more.
    finally:
        st.blocked = None


class WaitQueue(deque):  # type: ignore[type-arg]
    """A FIFO of parked threads (a deque of :class:`Waiter`), guarded by its owner's mutex.

    Every method must be called with that mutex held; the deque's truth
    value may be read without it (a waker that reads it after changing the
    state a waiter checks before parking cannot miss that waiter).  Waiters
    are woken in the order they arrived.
    """

    __slots__ = ()

    def wait(
        self,
        mutex: LockType,
        timeout: float | None = None,
        call: str = "wait",
        obj: object = None,
    ) -> bool:
        """Release ``mutex``, block until notified, retake ``mutex``.

        Returns True when notified, False when ``timeout`` passed.  Raises the
        thread's cancellation or timeout (with ``mutex`` held again, and no
        notification consumed).
        """
        w = Waiter()
        self.append(w)
        try:
            exc = park(w, timeout, mutex, call, obj)
        except BaseException:  # e.g. KeyboardInterrupt in the main thread
            if not w.notified:
                self.remove(w)
            raise
        if w.notified:
            return True
        self.remove(w)
        if exc is not None:
            raise exc
        return False

    def wait_until(
        self,
        mutex: LockType,
        ready: Callable[[], Any],
        timeout: float | None = None,
        call: str = "wait",
        obj: object = None,
    ) -> bool:
        """Block until ``ready()`` is true; return False if ``timeout`` passes first.

        Called with ``mutex`` held; ``ready`` runs with it held, each time
        *after* this thread is queued, so a waker that changes the state and
        then finds the queue empty (even reading it without the mutex) cannot
        have missed us.  A woken thread that finds ``ready()`` false again
        (another thread barged in) queues again at the back.
        """
        endtime = None if timeout is None else monotonic() + timeout
        remaining = timeout
        while True:
            w = Waiter()
            self.append(w)
            if ready():
                self.remove(w)
                return True
            if endtime is not None:
                remaining = endtime - monotonic()
                if remaining <= 0:
                    self.remove(w)
                    return False
            try:
                exc = park(w, remaining, mutex, call, obj)
            except BaseException:  # e.g. KeyboardInterrupt in the main thread
                if w.notified:
                    self.notify()  # pass the wake-up on: waiters here re-check
                else:
                    self.remove(w)
                raise
            if not w.notified:
                self.remove(w)
                if exc is not None:
                    raise exc

    def notify(self, n: int = 1, value: Any = None) -> int:
        """Wake up to ``n`` waiters, oldest first, handing them ``value``; return how many."""
        k = 0
        while self and k < n:
            self.popleft().wake(value)
            k += 1
        return k

    def notify_all(self, value: Any = None) -> int:
        """Wake every waiter; return how many."""
        return self.notify(len(self), value)
