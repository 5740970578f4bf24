"""Waiting on file descriptors: sockets, pipes, process descriptors.

Theory of operation
-------------------

:func:`wait_fd` blocks until a descriptor is readable or writable.  A thredo
thread waits in ``poll()`` on the descriptor *plus its own eventfd* (the
"cancel bell"); cancelling the thread writes the eventfd::

      waiting thread                        canceller (any thread)
      --------------                        ----------------------
      st.parked = fdw                       st.cancel_pending = exc
      poll([fd, eventfd]) ........  <-----  st.parked.interrupt()
      fd ready   -> return True               -> eventfd_write(1)
      eventfd    -> raise the cancel (or the deadline)

The eventfd and the poll object (:class:`_PollWait`) are made on a
thread's first fd wait; when it exits the eventfd goes back to its run's
pool for the run's next thread (drained first if it was rung), and the pool
is closed when the run ends.  The pool keeps at most ``POOL_MAX`` (64)
eventfds: past that an exiting thread closes its own, so after a burst of
1,000 connections the run holds 64 idle eventfds, not 1,000.  The last
descriptor is kept registered between waits, since a thread usually waits
on one socket.

Per-run state lives on the run: ``RunContext.fdwaits`` is a
:class:`RunFdWaits` (the eventfd pool, who waits on which descriptor, the
shared epoll), made by :func:`start_run`.  The only module globals are
process-wide facts: the count of open eventfds against the fd limit.

Two other paths share the function:

* **plain threads** (no ThreadState) poll the descriptor alone, with the
  call's own timeout: exactly a blocking stdlib call;
* **past the eventfd budget** (``EVENTFD_SHARE`` of ``RLIMIT_NOFILE`` open
  eventfds, or no descriptor left for one) a thread waits through its run's
  :class:`_SharedEpoll` (its descriptor reserved when the run starts,
  :func:`start_run`, so that waiting never needs a new one): one epoll for
  all such threads, watched by one task that the curio kernel hosts
  (posted through ``RunContext.post``), which releases the waiters'
  :class:`~thredo._core.Waiter` locks.  Slower per
  wake-up, but no descriptor per thread, so a server can hold as many
  connections as descriptors allow (10,000 connections in 20,000 fds).

Closing under a wait: Linux does not wake a ``poll()`` on a descriptor
that another thread closes.  So the real waits (never the fast paths)
register in their run's ``RunFdWaits.waiting`` (fd -> ThreadStates), and the closers of thredo's
sockets and streams take those waiters before the close
(:func:`closing_waiters`) and wake them after it (:func:`wake_closed`):
``ThreadState.closed_under`` is set to the descriptor and their eventfd
is written (it stays readable, so no wake is missed even
before they poll) and ``wait_fd`` returns True, so the retried call raises
``OSError(EBADF)``; waiters in a shared epoll are woken the same way.

Layering: this module uses ``_wait`` (state, parking) and ``_runctx`` (the
run, to host the shared epoll); nothing here knows about threads, groups or
the kernel.
"""

from __future__ import annotations

import errno
import os
import resource
import select
import threading
from _thread import allocate_lock
from collections.abc import Callable
from time import monotonic

import curio
from curio.traps import _read_wait

from .. import _accel
from ._runctx import RunContext
from ._wait import FdWait, ThreadState, Waiter, attention, note_return, park, state_local

__all__ = (
    "POLLIN",
    "POLLOUT",
    "wait_fd",
    "wait_recv",
    "notify_closing",
    "closing_waiters",
    "wake_closed",
    "start_run",
    "eventfd_budget",
    "EVENTFD_SHARE",
    "POOL_MAX",
)

POLLIN = select.POLLIN
POLLOUT = select.POLLOUT

# Each thread that waits on a file descriptor gets an eventfd, so a
# connection costs two descriptors.  Past this share of RLIMIT_NOFILE, new
# threads wait in one shared epoll instead (slower per wake-up:
# docs/design.md) so that 10,000 connections fit in 20,000.
EVENTFD_SHARE = 0.25
# At most this many exited threads' eventfds are kept per run for its next
# threads; the rest are closed as their threads exit (issue 22.4: a burst of
# 1,000 connections otherwise left 1,000 eventfds open until run() ended).
POOL_MAX = 64
POLL_MAX_MS = 2**31 - 1  # poll() takes an int of milliseconds (~24.8 days); longer waits loop
_eventfds = 0  # eventfds open now; guarded by _eventfds_lock
_eventfds_lock = allocate_lock()


def eventfd_budget() -> int:
    """How many eventfds may be open at once (``EVENTFD_SHARE`` of the fd limit)."""
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    if soft == resource.RLIM_INFINITY:
        return 1 << 30
    return int(soft * EVENTFD_SHARE)


class _PollWait:
    """One thread's eventfd and poll object (``ThreadState.fdwait``).

    ``_mutex`` guards ``efd`` so an interrupt never writes to a descriptor
    this thread has let go of: after :meth:`close` the eventfd belongs to
    the run's pool (or is closed), and a late interrupt does nothing.
    ``rung`` says an interrupt wrote to it (the next owner drains it).
    """

    __slots__ = ("efd", "poll", "fd", "events", "rung", "waiting", "_fds", "_mutex")

    def __init__(self, efd: int, poll: select.poll, fds: RunFdWaits) -> None:
        self.efd: int | None = efd
        self.poll = poll  # the eventfd registered, nothing else
        self.fd: int | None = None  # registered besides the eventfd
        self.events = 0
        self.rung = False
        self.waiting = fds.waiting  # where its waits register (see RunFdWaits.waiting)
        self._fds = fds
        self._mutex = allocate_lock()

    def interrupt(self) -> None:
        with self._mutex:
            if self.efd is not None:
                os.eventfd_write(self.efd, 1)
                self.rung = True

    def close(self) -> None:
        """The thread exits: its eventfd goes back to the run's pool (closed once the run ends)."""
        with self._mutex:
            efd, self.efd = self.efd, None
        if efd is None:
            return
        fds = self._fds
        with fds.lock:
            pool = fds.pool
            # None: the run has ended.  Full: a burst ends, keep a few for
            # the next threads and close the rest.
            if pool is not None and len(pool) < POOL_MAX:
                pool.append((efd, self.rung))  # no system call on the exit path
                return
        _close_eventfd(efd)


class RunFdWaits:
    """The fd-wait state of one run (``RunContext.fdwaits``).

    ``pool``: the eventfds of the run's exited threads, for its next threads:
    an exiting thread neither closes its eventfd nor does a new one make one
    (two system calls, each a GIL hand-off: with 1,000 handlers exiting
    together on a server's cancel, the closes were ~20% of its time).
    (efd, rung): a rung eventfd may still be readable, and is drained by its
    next owner before its first wait, so no wake-up crosses from one thread
    to another.  Capped at POOL_MAX: a steady server reuses a few; past a
    burst the rest close.  None once the run has ended (its eventfds closed).

    ``waiting``: fd -> the ThreadStates of this run waiting on it, so that
    closing it can wake them (see :func:`wait_fd` for why it has no lock).

    ``shared``/``reserved``: the run's :class:`_SharedEpoll` once a thread
    past the budget waited, and before that the epoll :func:`start_run`
    reserved for it.
    """

    __slots__ = ("run", "lock", "pool", "waiting", "shared", "reserved")

    def __init__(self, run: RunContext, reserved: select.epoll | None) -> None:
        self.run = run
        self.lock = allocate_lock()  # guards pool (and its list), shared, reserved
        self.pool: list[tuple[int, bool]] | None = []
        self.waiting: dict[int, list[ThreadState]] = {}
        self.shared: _SharedEpoll | None = None
        self.reserved = reserved

    def close(self) -> None:
        """The run ends: close its pooled eventfds and its epoll."""
        with self.lock:
            pool, self.pool = self.pool, None
            shared, self.shared = self.shared, None
            ep, self.reserved = self.reserved, None
        for efd, _ in pool or ():
            _close_eventfd(efd)
        if shared is not None:
            shared._ep.close()
        if ep is not None:
            ep.close()


_fds_lock = allocate_lock()  # guards the making of a RunContext.fdwaits


def _fds_of(run: RunContext) -> RunFdWaits:
    """``run``'s :class:`RunFdWaits` (made now for a run that :func:`start_run` did not see)."""
    fds = run.fdwaits
    if fds is None:
        with _fds_lock:
            fds = run.fdwaits
            if fds is None:
                fds = run.fdwaits = RunFdWaits(run, None)
                run.on_close(fds.close)
    return fds


def _gil_keeping_close() -> Callable[[int], object]:
    """A ``close`` that keeps the GIL: the C accelerator's ``close_fd``, else ``os.close``.

    ``os.close`` (the pure twin) also with ``THREDO_PURE=1``, as ``_sync``'s locks.

    Closing an eventfd never blocks, so it need not release the GIL, and
    ``os.close`` does: when a server's 1,000 handlers exit together (its
    cancel), each release hands the GIL to another exiting thread and back,
    about two context switches per close (docs/design.md, section 11).
    (Until issue 24 this was libc's ``close`` through ``ctypes.PyDLL``:
    ~0.6 us more per call, and the first exiting threads of a process all
    waited on the import of ctypes.)
    """
    speedups = None if os.environ.get("THREDO_PURE", "") not in ("", "0") else _accel.load()
    return os.close if speedups is None else speedups.close_fd


_close_fd: Callable[[int], object] | None = None  # _gil_keeping_close(), made on first use


def _close_eventfd(efd: int) -> None:
    global _eventfds, _close_fd
    close = _close_fd
    if close is None:
        close = _close_fd = _gil_keeping_close()
    try:
        close(efd)
    except OSError:  # EBADF: never for an eventfd this module owns
        pass
    with _eventfds_lock:
        _eventfds -= 1


def _poll_wait(st: ThreadState) -> FdWait | None:
    """The thread's :class:`_PollWait`, made now if it has none; None past the budget."""
    global _eventfds
    fdw = st.fdwait
    if fdw is not None:
        return fdw or None
    fds = _fds_of(st.run)
    if fds.pool:  # read without the lock: a hint, checked again under it
        with fds.lock:
            taken = fds.pool.pop() if fds.pool else None
        if taken is not None:
            efd, rung = taken
            if rung:
                try:
                    os.eventfd_read(efd)  # a wake-up meant for its last owner
                except BlockingIOError:
                    pass
            return _new_poll_wait(st, efd, fds)
    with _eventfds_lock:
        if _eventfds >= eventfd_budget():
            st.fdwait = False
            return None
        _eventfds += 1
    try:
        efd = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
    except OSError:  # out of descriptors: wait through the shared epoll instead
        with _eventfds_lock:
            _eventfds -= 1
        st.fdwait = False
        return None
    return _new_poll_wait(st, efd, fds)


def _new_poll_wait(st: ThreadState, efd: int, fds: RunFdWaits) -> FdWait:
    p = select.poll()
    p.register(efd, POLLIN)
    fdw = st.fdwait = _PollWait(efd, p, fds)
    return fdw


# Who waits on which descriptor (RunFdWaits.waiting), so that closing it can
# wake them (the stdlib on Linux leaves a thread blocked in poll() on a
# descriptor another thread closed).  Kept only for the real wait (after
# EAGAIN), never on a fast path.  No lock: each step is one operation of a
# built-in dict or list (dict.get/setdefault/pop with an int key,
# list.append/remove, list(l)), and CPython makes each of those atomic with
# the GIL and, in the free-threaded build, with the object's own lock (PEP
# 703, "Container thread-safety"); a waiter removes only itself, from the
# list it appended to.  A waiter leaves its list in the dict when it empties
# (to delete it without a lock could drop another thread's entry); the
# closer pops it, so the dict holds at most one list per descriptor number.
# A waiter that registers after the closer took the list finds the
# descriptor closed when it polls (POLLNVAL: ready), exactly as with a lock.
# Measured: a lock cost ~0.8 us per wait, ~5% of an echo round trip.


def notify_closing(fd: int) -> None:
    """Wake every thredo thread waiting on ``fd``: it is being closed (trio's name).

    Call it just *after* closing the descriptor (with the waiters taken by
    :func:`closing_waiters` just before).  Each woken ``wait_fd`` returns
    True, so its caller retries its call on the closed socket and raises
    ``OSError(EBADF)``.
    """
    wake_closed(closing_waiters(fd), fd)


def closing_waiters(fd: int) -> list[ThreadState]:
    """Take the threads waiting on ``fd`` now (before it is closed: its number may be reused)."""
    taken: list[ThreadState] = []
    for run in RunContext.running():  # a descriptor is the process's: any run may wait on it
        fds = run.fdwaits
        if fds is not None:
            waiters = fds.waiting.pop(fd, None)
            if waiters:
                taken += waiters  # a copy: its waiters leave the list as they wake
    return taken


def wake_closed(waiters: list[ThreadState], fd: int) -> None:
    """Wake ``waiters`` (from :func:`closing_waiters`) and the shared-epoll waiters of ``fd``."""
    for st in waiters:
        st.closed_under = fd
        fdw = st.fdwait
        if fdw:  # its own eventfd: stays readable until read, so no wake is missed
            fdw.interrupt()
    for run in RunContext.running():
        fds = run.fdwaits
        shared = None if fds is None else fds.shared
        if shared is not None:
            shared.closing(fd)


def start_run(run: RunContext) -> None:
    """Reserve ``run``'s shared-epoll descriptor now, as the run starts (called by ``run()``).

    So that a thread's first wait never needs a new descriptor: at the
    descriptor limit its eventfd cannot be made, and it waits through the
    shared epoll, whose descriptor exists already (as a stdlib blocking
    ``recv`` waits at the limit).  The epoll's task is started on first use
    only (:meth:`_SharedEpoll.of`); until then the run holds one idle fd.
    """
    fds = RunFdWaits(run, select.epoll())
    with _fds_lock:
        run.fdwaits = fds
    run.on_close(fds.close)


_plain = threading.local()  # a poll object per plain thread


def _wait_plain(fd: int, events: int, timeout: float | None) -> bool:
    p = getattr(_plain, "p", None)
    if p is None:
        p = _plain.p = select.poll()
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


def wait_fd(
    fd: int,
    events: int,
    timeout: float | None = None,
    obj: object = None,
    call: str | None = None,
) -> bool:
    """Block until ``fd`` has ``events`` (POLLIN/POLLOUT) ready.

    Args:
        fd: the descriptor.
        events: ``POLLIN`` or ``POLLOUT``.
        timeout: the call's own timeout in seconds (None: no limit).
        obj: the object waited on (a socket, a pipe), for ``BlockedOn``.
        call: the blocking call, for ``BlockedOn`` (``"recv"``, ``"accept"``
            ...); default ``"wait_readable"`` / ``"wait_writable"``.

    Returns:
        True when ready (or the fd reports an error or hang-up), False when
        ``timeout`` passed.

    Raises:
        The thread's cancellation or ``timeout_after`` deadline (thredo
        threads only); ``OSError(EBADF)`` for a negative descriptor.
    """
    if fd < 0:
        raise OSError(errno.EBADF, "Bad file descriptor")
    # The hottest path of every socket, pipe and child: a thread waiting once
    # more on the descriptor it waited on last.  Kept to the operations it
    # needs (docs/design.md, section 9: each costs 30-100 ns, and a round
    # trip of the echo server is 12-20 us).
    st = state_local.state
    if st is None:
        return _wait_plain(fd, events, timeout)
    if call is None:
        call = "wait_readable" if events & POLLIN else "wait_writable"
    fdw = st.fdwait
    if not fdw:
        fdw = _poll_wait(st)
        if fdw is None:
            return _SharedEpoll.of(_fds_of(st.run)).wait(fd, events, timeout, obj, call)
    now = monotonic()
    endtime = None if timeout is None else now + timeout
    p = fdw.poll
    if fdw.fd != fd or fdw.events != events:
        # Kept registered between waits: a thread usually waits on one socket.
        if fdw.fd is not None:
            p.unregister(fdw.fd)
        p.register(fd, events)
        fdw.fd = fd
        fdw.events = events
    st.blocked = (call, obj, now, endtime)
    # Registered for closers (see RunFdWaits.waiting): an empty list is reused.
    waiting = fdw.waiting
    waiters = waiting.get(fd) or waiting.setdefault(fd, [])
    waiters.append(st)
    # The loop of park (thredo._core._wait) with poll() for the lock: change
    # both together (one shared loop cost ~300 ns a wait: docs/design.md, 9.2).
    try:
        while True:
            limit = st.deadline
            if endtime is not None and (limit is None or endtime < limit):
                limit = endtime
            st.parked = fdw
            if st.cancel_pending is None or st.nocancel:
                try:
                    ready = p.poll(
                        None
                        if limit is None
                        else min(max(0.0, (limit - monotonic()) * 1000.0), POLL_MAX_MS)
                    )
                finally:
                    st.parked = None
                if len(ready) == 1 and ready[0][0] == fd:
                    if attention:
                        note_return()  # ready, maybe past a deadline: not uncancellable time
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
                    note_return()
                    return True
                if st.closed_under == fd:
                    st.closed_under = None
                    return True  # closed under it: the caller's retry raises EBADF
            else:
                st.parked = None
            exc = st.pending()
            if exc is not None:
                raise exc
            if endtime is not None and monotonic() >= endtime:
                return False
    finally:
        st.blocked = None
        st.closed_under = None
        waiters.remove(st)


def _wait_recv_make() -> Callable[[object, int, bool], bytes | None] | None:
    """The C twin of a socket recv that waits first (``_speedups.wait_recv``), or None.

    None where the accelerator is not built (or stale), with
    ``THREDO_PURE=1``, and where the GIL is off: the pure path, the
    reference, is then the only one.  (Its C reads the thread's state as the
    Python does, but it was never run on a free-threaded build: this
    machine has none, so it is not trusted there yet.)
    """
    if os.environ.get("THREDO_PURE", "") not in ("", "0") or _accel.gil_disabled():
        return None
    speedups = _accel.load()
    if speedups is None:
        return None
    speedups.fdwait_setup(state_local, attention, note_return)
    return speedups.wait_recv  # type: ignore[no-any-return]


# wait_recv(sock, bufsize, keepgil) -> bytes | None: in one C call, what a
# thredo socket's recv does when its last recv had to wait -- the
# cancellation point, wait_fd's loop on the socket and the thread's eventfd
# (POLLIN, no timeout), the non-blocking recv (the GIL kept when
# ``keepgil``, else released as the stdlib's) and the retry on EAGAIN.  It
# covers the common case only (a thredo thread with its own eventfd, no
# cancel pending, no deadline armed, an open socket, woken by data) and
# returns None, having consumed nothing and left the state as it was, for
# every other case: the caller then takes its Python path (checkpoint,
# wait_fd, recv), which is the reference.  The rules it follows are in its
# comment in thredo/_speedups.c; the measurements in docs/design.md,
# section 10.  None without the accelerator or with THREDO_PURE=1.
wait_recv = _wait_recv_make()


class _SharedEpoll:
    """fd waits of threads past the eventfd budget: one epoll, one kernel task.

    A waiting thread registers a :class:`Waiter` for (fd, read|write), arms
    the fd in the shared epoll itself (``EPOLLONESHOT``; ``epoll_ctl`` is
    safe from any thread) and parks.  The task, hosted by the curio kernel,
    sleeps in curio's selector on the epoll's own fd and wakes every ready
    waiter in one batch.  Per waiting thread this costs a Waiter and a list
    entry, not a descriptor or a task.  Readiness wakes every waiter of that
    direction (they re-check, as threads sharing a listening socket do).
    """

    @classmethod
    def of(cls, fds: RunFdWaits) -> _SharedEpoll:
        """The shared epoll of a run; its task posted on first use (its fd: start_run's)."""
        shared = fds.shared  # read without the lock: made once, checked again under it
        if shared is None:
            with fds.lock:
                shared = fds.shared
                if shared is None:
                    ep, fds.reserved = fds.reserved, None
                    shared = fds.shared = cls(ep)
                    fds.run.post(shared.start)
        return shared

    def closing(self, fd: int) -> None:
        """``fd`` is closed: wake its waiters (their retried call raises EBADF)."""
        with self._lock:
            slot = self._waiters.pop(fd, None)
        if slot is not None:
            for w in (*slot[0], *slot[1]):
                w.wake()

    def __init__(self, ep: select.epoll | None = None) -> None:
        self._ep = select.epoll() if ep is None else ep
        self._lock = allocate_lock()  # guards _waiters and the arming of fds
        self._waiters: dict[int, tuple[list[Waiter], list[Waiter]]] = {}  # fd -> (readers, writers)

    def _arm(self, fd: int, slot: tuple[list[Waiter], list[Waiter]]) -> None:
        mask = (select.EPOLLIN if slot[0] else 0) | (select.EPOLLOUT if slot[1] else 0)
        if not mask:
            self._waiters.pop(fd, None)
        try:
            self._ep.modify(fd, mask | select.EPOLLONESHOT if mask else 0)
        except FileNotFoundError:  # first wait on this fd (or a new file at that number)
            if mask:
                self._ep.register(fd, mask | select.EPOLLONESHOT)

    def wait(self, fd: int, events: int, timeout: float | None, obj: object, call: str) -> bool:
        """As :func:`wait_fd`, through the shared epoll."""
        i = 0 if events & POLLIN else 1
        w = Waiter()
        with self._lock:
            slot = self._waiters.setdefault(fd, ([], []))
            slot[i].append(w)
            try:
                self._arm(fd, slot)
            except BaseException:  # e.g. EBADF: a closed socket
                slot[i].remove(w)
                self._disarm_quietly(fd, slot)
                raise
        exc = park(w, timeout, None, call, obj)
        if exc is not None or not w.notified:
            with self._lock:
                slot = self._waiters.get(fd, ([], []))
                if w in slot[i]:
                    slot[i].remove(w)
                    self._disarm_quietly(fd, slot)
            if exc is not None:
                raise exc
        return w.notified

    def _disarm_quietly(self, fd: int, slot: tuple[list[Waiter], list[Waiter]]) -> None:
        try:
            self._arm(fd, slot)
        except OSError:  # fd closed meanwhile
            self._waiters.pop(fd, None)

    async def start(self) -> None:
        """Posted to the kernel: start :meth:`dispatch` as a daemon task."""
        await curio.spawn(self.dispatch, daemon=True)

    async def dispatch(self) -> None:
        """The kernel task: wake the waiters of every ready fd, forever."""
        ep = self._ep
        wake = (
            select.EPOLLIN | select.EPOLLERR | select.EPOLLHUP,
            select.EPOLLOUT | select.EPOLLERR | select.EPOLLHUP,
        )
        while True:
            await _read_wait(ep)
            with self._lock:
                for fd, ev in ep.poll(0):
                    slot = self._waiters.get(fd)
                    if slot is None:
                        continue
                    for i in (0, 1):
                        if ev & wake[i] and slot[i]:
                            for w in slot[i]:
                                w.wake()
                            slot[i].clear()
                    self._disarm_quietly(fd, slot)
