"""The one wait/wake mechanism of thredo: how a thread blocks, and how it is woken.

Theory of operation
-------------------

Every blocking call in thredo (sleep, join, lock, queue, event, socket, pipe,
child process) ends in one of two functions of this module:

* :func:`park` blocks on a :class:`Waiter`, a fresh raw ``_thread`` lock held
  by the waiter and released by whoever wakes it.  Primitives keep their
  waiters in a :class:`WaitQueue` (FIFO) guarded by the primitive's own
  mutex, exactly like CPython's ``threading.Condition``.
* :func:`wait_fd` blocks in ``poll()`` on a file descriptor plus the
  thread's own wake-up ``eventfd``.

Each thredo thread carries a :class:`ThreadState`: its pending cancellation,
its ``timeout_after`` deadline stack, its ``disable_cancellation`` depth and
``parked``, the object it is blocked on right now.  Cancelling a thread
stores the exception in the state and *interrupts* ``parked`` (releases the
waiter's lock, or writes the thread's eventfd).  A deadline is simply the
timeout of the wait itself.  So a wait ends for exactly one of four reasons,
checked in this order when the thread wakes::

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

Why the kernel is not on the wake-up path
-----------------------------------------

PERF-NOTES measured the designs that route each wake-up through the kernel
thread (curio's ``AWAIT`` at 0.14-0.23x plain threads, a dispatcher or the
kernel's own selector releasing the waiting threads' locks at 0.46-0.59x,
0.76x only under ``SCHED_BATCH``) against a thread that polls its own fd plus
a cancel fd (0.94x).  Every extra hop through the kernel thread costs two
context switches per round trip, which is what dominates.  So the wait sits
in the waiting thread and the wake-up comes straight from the thread (or
network stack) that makes progress; the curio kernel (``_kernel.py``) owns
the run: it starts and supervises the threads, turns Ctrl-C into a cancel,
and runs curio coroutines for :func:`thredo.AWAIT`.  Direct wake-ups also
beat ``queue.Queue`` in PERF-NOTES (43 us against 55 us per round trip).
Nothing here writes to a shared notification socket, so there is no
``BlockingIOError`` storm with thousands of threads (the curio defect noted in
PERF-NOTES); each thread's eventfd is written only to cancel that thread.

Invariants
----------

* A :class:`Waiter` is woken at most once by a waker (``notified`` goes
  False -> True once, under the queue owner's mutex); interrupts may release
  its lock any number of times, so every release tolerates an already
  released lock.
* A waiter that was notified always completes its operation: a cancel never
  loses a wake-up (and so never loses an item, a lock or an event).
* A delivered cancellation is cleared; it is raised once.
* Plain threads (no ThreadState) get exactly the stdlib behaviour: no
  cancellation, no deadlines, only the call's own timeout.

File descriptors: a thread's eventfd is made on its first fd wait and closed
when it exits.  Past ``EVENTFD_SHARE`` of ``RLIMIT_NOFILE`` open eventfds,
further threads wait on fds through the curio kernel's selector instead
(``Runtime.wait_fd``): slower per wake-up, but no descriptor of their own,
so a server can hold as many connections as descriptors allow.

Non-goals: interrupting pure-Python computation (a thread is cancelled at its
next blocking call) and waits on ``threading`` primitives (only thredo's own
are cancellable).
"""

from __future__ import annotations

import errno
import os
import resource
import select
import threading
import time
from _thread import allocate_lock
from collections import deque
from collections.abc import Callable
from time import monotonic
from typing import Any

from ._errors import ThreadTimeout

__all__ = ()

POLLIN = select.POLLIN
POLLOUT = select.POLLOUT


# Each thread that waits on a file descriptor gets an eventfd, so a
# connection costs two descriptors.  Past this share of RLIMIT_NOFILE, new
# threads wait in the curio kernel's selector instead (one epoll for all,
# slower per wake-up: PERF-NOTES) so that 10,000 connections fit in 20,000.
EVENTFD_SHARE = 0.25
POLL_MAX_MS = 2**31 - 1  # poll() takes an int of milliseconds (~24.8 days); longer waits loop
_eventfds = 0  # eventfds open now; guarded by _eventfds_lock
_eventfds_lock = allocate_lock()


def eventfd_budget() -> int:
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    if soft == resource.RLIM_INFINITY:
        return 1 << 30
    return int(soft * EVENTFD_SHARE)


class _Local(threading.local):
    state: ThreadState | None = None


_local = _Local()


def current_state() -> ThreadState | None:
    """The calling thread's :class:`ThreadState`, or None in a plain thread."""
    return _local.state


class Waiter:
    """One blocked call of one thread.  Wakers call :meth:`wake`."""

    __slots__ = ("lock", "notified", "value")

    def __init__(self) -> None:
        lock = allocate_lock()
        lock.acquire()
        self.lock = lock
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
    """Per-thread cancellation and timeout state.

    Written by its own thread, except :meth:`deliver` (any thread), which
    only stores ``cancel_pending`` and interrupts ``parked``; ``_mutex``
    guards the eventfd so an interrupt never writes to a closed (reused) fd.
    """

    __slots__ = (
        "cancel_pending",
        "deadlines",
        "deadline",
        "armed",
        "nocancel",
        "floor",
        "parked",
        "_efd",
        "_poll",
        "_mutex",
        "owner",
        "_pfd",
        "_pev",
    )

    def __init__(self) -> None:
        self.cancel_pending: BaseException | None = None
        self.deadlines: list[float] = []  # timeout_after stack, outermost first
        self.deadline: float | None = None  # nearest armed, deliverable deadline
        self.armed = True
        self.nocancel = 0  # disable_cancellation depth
        self.floor = 0  # deadlines below this index are deferred (nocancel)
        self.parked: Any = None  # Waiter or self (fd wait) while blocked
        self._efd: int | None = None
        self._poll: Any = None
        self._mutex = allocate_lock()
        self.owner: Any = None  # the thredo Thread
        self._pfd: int | None = None  # fd registered in _poll besides the eventfd
        self._pev = 0

    # -- cancellation -----------------------------------------------------

    def deliver(self, exc: BaseException) -> None:
        """Request cancellation with ``exc`` (from any thread)."""
        if self.cancel_pending is None:
            self.cancel_pending = exc
        parked = self.parked
        if parked is not None:
            parked.interrupt()

    def interrupt(self) -> None:
        """Wake this thread out of :func:`wait_fd`."""
        with self._mutex:
            if self._efd is not None:
                os.eventfd_write(self._efd, 1)

    def pending(self) -> BaseException | None:
        """Take the exception the current blocking call must raise, if any."""
        exc = self.cancel_pending
        if exc is not None and not self.nocancel:
            self.cancel_pending = None
            return exc
        deadline = self.deadline
        if deadline is not None:
            now = monotonic()
            if now >= deadline:
                self.armed = False  # fires once, re-armed when a block exits
                self.deadline = None
                return ThreadTimeout(now)
        return None

    # -- deadlines (timeout_after) and disable_cancellation ---------------

    def _recompute(self) -> None:
        live = self.deadlines[self.floor :]
        self.deadline = min(live) if (live and self.armed) else None

    def push_deadline(self, clock: float) -> None:
        self.deadlines.append(clock)
        self.armed = True
        self._recompute()

    def pop_deadline(self) -> None:
        self.deadlines.pop()
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

    # -- fd waits -----------------------------------------------------------

    def poller(self) -> Any:
        """This thread's poll object (with its eventfd), or False past the budget."""
        global _eventfds
        with _eventfds_lock:
            if _eventfds >= eventfd_budget():
                self._poll = False
                return False
            _eventfds += 1
        try:
            efd = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
        except OSError:  # out of descriptors: wait through the kernel instead
            with _eventfds_lock:
                _eventfds -= 1
            self._poll = False
            return False
        with self._mutex:
            self._efd = efd
        p = self._poll = select.poll()
        p.register(efd, POLLIN)
        return p

    def close(self) -> None:
        """Release the eventfd; called by the thread as it exits."""
        global _eventfds
        with self._mutex:
            if self._efd is not None:
                os.close(self._efd)
                self._efd = None
                with _eventfds_lock:
                    _eventfds -= 1
        self._poll = None


def checkpoint() -> None:
    """Raise a pending cancellation or expired deadline of the calling thread."""
    st = _local.state
    if st is not None and (st.cancel_pending is not None or st.deadline is not None):
        exc = st.pending()
        if exc is not None:
            raise exc


def park(w: Waiter, timeout: float | None = None, mutex: Any = None) -> BaseException | None:
    """Block the calling thread until ``w`` is woken or interrupted.

    Args:
        w: the waiter, already registered where a waker will find it.
        timeout: the call's own timeout in seconds (None: no limit).
        mutex: a held lock to release while blocked and retake before return.

    Returns:
        None when ``w.notified`` is set or ``timeout`` passed (look at
        ``w.notified``), else the cancellation exception the caller must raise
        once it has unregistered ``w``.
    """
    st = _local.state
    if st is None:
        if mutex is not None:
            mutex.release()
        try:
            w.lock.acquire(True, -1 if timeout is None else timeout)
        finally:
            if mutex is not None:
                mutex.acquire()
        return None
    endtime = None if timeout is None else monotonic() + timeout
    lock = w.lock
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
                    lock.acquire(True, max(0.0, limit - monotonic()))
            finally:
                st.parked = None
                if mutex is not None:
                    mutex.acquire()
        else:
            st.parked = None
        if w.notified:
            return None
        exc = st.pending()
        if exc is not None or (endtime is not None and monotonic() >= endtime):
            return exc
        # Interrupted while cancellation was disabled, or woke a hair before
        # the deadline: the lock is held again, wait once more.


class WaitQueue(deque):  # type: ignore[type-arg]
    """A FIFO of parked threads (a deque of :class:`Waiter`), guarded by its owner's mutex.

    Every method must be called with that mutex held; the deque's truth
    value may be read without it (a waker that reads it after changing the
    state a waiter checks before parking cannot miss that waiter).  Waiters
    are woken in the order they arrived.
    """

    __slots__ = ()

    def wait(self, mutex: Any, timeout: float | None = None) -> bool:
        """Release ``mutex``, block until notified, retake ``mutex``.

        Returns True when notified, False when ``timeout`` passed.  Raises the
        thread's cancellation or timeout (with ``mutex`` held again, and no
        notification consumed).
        """
        w = Waiter()
        self.append(w)
        try:
            exc = park(w, timeout, mutex)
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
        self, mutex: Any, ready: Callable[[], Any], timeout: float | None = None
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
                exc = park(w, remaining, mutex)
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
        return self.notify(len(self), value)


_poll_local = threading.local()


def wait_fd(fd: int, events: int, timeout: float | None = None) -> bool:
    """Block until ``fd`` has ``events`` (POLLIN/POLLOUT) ready.

    Returns True when ready (or the fd reports an error or hang-up), False
    when ``timeout`` passed.  In a thredo thread, raises its cancellation or
    deadline instead.
    """
    if fd < 0:
        raise OSError(errno.EBADF, "Bad file descriptor")
    st = _local.state
    if st is None:
        p = getattr(_poll_local, "p", None)
        if p is None:
            p = _poll_local.p = select.poll()
        p.register(fd, events)
        try:
            if timeout is None:
                return bool(p.poll())
            remaining = timeout * 1000.0
            while True:  # a loop only for waits longer than poll() allows
                ms = min(remaining, POLL_MAX_MS)
                if p.poll(ms):
                    return True
                remaining -= ms
                if remaining <= 0:
                    return False
        finally:
            p.unregister(fd)
    p = st._poll
    if p is None:
        p = st.poller()
    if p is False:  # over the eventfd budget: wait in the kernel's selector
        return st.owner._runtime.wait_fd(fd, events, timeout)  # type: ignore[no-any-return]
    endtime = None if timeout is None else monotonic() + timeout
    if st._pfd != fd or st._pev != events:
        # Kept registered between waits: a thread usually waits on one socket.
        if st._pfd is not None:
            p.unregister(st._pfd)
        p.register(fd, events)
        st._pfd = fd
        st._pev = events
    while True:
        limit = st.deadline
        if endtime is not None and (limit is None or endtime < limit):
            limit = endtime
        st.parked = st
        if st.cancel_pending is None or st.nocancel:
            try:
                wait_ms = (
                    None
                    if limit is None
                    else min(max(0.0, (limit - monotonic()) * 1000.0), POLL_MAX_MS)
                )
                ready = p.poll(wait_ms)
            finally:
                st.parked = None
            if len(ready) == 1 and ready[0][0] == fd:
                return True
            hit = False
            for f, _ in ready:
                if f == fd:
                    hit = True
                elif st.cancel_pending is None or st.nocancel:  # else: the fd closes soon
                    try:
                        os.eventfd_read(f)
                    except BlockingIOError:
                        pass
            if hit:
                return True
        else:
            st.parked = None
        exc = st.pending()
        if exc is not None:
            raise exc
        if endtime is not None and monotonic() >= endtime:
            return False


def sleep(seconds: float) -> None:
    """Sleep, cancellably in a thredo thread; ``sleep(0)`` yields the GIL."""
    if seconds != seconds:
        raise ValueError("Invalid value NaN (not a number)")
    if seconds < 0:
        raise ValueError("sleep length must be non-negative")
    st = _local.state
    if st is None:
        time.sleep(seconds)
        return
    if seconds == 0:
        checkpoint()
        # Not time.sleep(0): that is a clock_nanosleep padded to the timer
        # slack (~85 us measured); sched_yield releases the GIL in ~1 us.
        os.sched_yield()
        return
    exc = park(Waiter(), seconds)
    if exc is not None:
        raise exc
