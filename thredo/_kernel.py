"""thredo.run(): the curio kernel that owns a run, Ctrl-C, and AWAIT.

Theory of operation
-------------------

``run(func)`` starts a curio kernel in the calling thread.  Its one
supervising task starts the main thredo thread and then serves an *inbox*:
a deque that threads (and the SIGINT handler) append to, plus one wake-up
byte on a socketpair that the kernel waits on with curio's ``_read_wait``::

      thredo threads                       kernel thread (curio)
      --------------                       ---------------------
      post(item): inbox.append(item)       _supervise():
                  if not notified:            await _read_wait(rsock)
                      notified = True  ---->  notified = False; drain rsock
                      wsock.send(b"\\0")       handle every inbox item

Notifications are coalesced: at most one byte is in flight however many
threads post (PERF-NOTES: curio's own ``wake()`` overflowed its socket with
1,000 threads).  Items: a thread exited (only posted while the kernel waits
for exits), SIGINT, ``AWAIT`` a coroutine, cancel an ``AWAIT``, start the fd
dispatcher (:class:`_FdDispatcher`: fd waits of threads past the eventfd
budget of ``_hop``, one epoll watched by one kernel task).  The signal
module's wake-up fd is the same socketpair, so a signal landing on any
thread wakes the kernel to run its Python handler.

Phases of a run:

1. serve until the main thread exits;
2. serve until every non-daemon thread has exited;
3. cancel every remaining (daemon) thread and serve until all have exited;
4. join the underlying OS threads, restore SIGINT, return or raise.

The first Ctrl-C cancels the main thread, and once it has unwound every
thread still running, and makes ``run()`` raise ``KeyboardInterrupt`` when
all have exited; a second one makes ``run()`` raise ``KeyboardInterrupt`` at
once, leaving the (daemonic at the OS level) threads to die with the
process.  Ctrl-C is handled only when ``run()`` is
called in the main thread.
"""

from __future__ import annotations

import select
import signal
import socket
import threading
from _thread import allocate_lock
from collections import deque
from collections.abc import Callable
from typing import Any

import curio
from curio import meta
from curio.traps import _read_wait

from ._errors import ThreadCancelled
from ._hop import POLLIN, Waiter, current_state, park
from ._thread import Thread

__all__ = ("run", "AWAIT")


class Runtime:
    """The state of one ``run()``: live threads and the kernel's inbox."""

    def __init__(self) -> None:
        self._lock = allocate_lock()  # guards threads, nondaemon
        self.threads: set[Thread] = set()
        self.nondaemon = 0
        self.closing = False  # phase 3: new threads start cancelled
        self.watch = False  # the kernel wants to hear about every exit
        self.main: Thread | None = None
        self.interrupted = 0  # Ctrl-C count
        self.abandoned = False  # second Ctrl-C: stop waiting for threads
        self._inbox: deque[Any] = deque()
        self._notified = False
        self._rsock, self._wsock = socket.socketpair()
        self._rsock.setblocking(False)
        self._wsock.setblocking(False)
        self._awaits: dict[Waiter, Any] = {}
        self._fds: _FdDispatcher | None = None  # made on first use

    # -- called from any thread --------------------------------------------

    def post(self, item: Any) -> None:
        self._inbox.append(item)
        if not self._notified:
            self._notified = True
            try:
                self._wsock.send(b"\0")
            except OSError:  # full (a byte is pending anyway) or closed
                pass

    def add(self, t: Thread) -> None:
        with self._lock:
            self.threads.add(t)
            if not t.daemon:
                self.nondaemon += 1
        if self.closing:
            t._state.deliver(ThreadCancelled("thredo.run() is shutting down"))

    def exited(self, t: Thread) -> None:
        with self._lock:
            self.threads.discard(t)
            if not t.daemon:
                self.nondaemon -= 1
        if self.watch or t is self.main:
            self.post(None)

    # -- kernel side ---------------------------------------------------------

    async def supervise(self, func: Callable[..., Any], args: Any, kwargs: Any) -> Any:
        main = Thread(self, func, args, kwargs, False, "thredo-main")
        self.main = main
        self.add(main)
        main._start()
        await self._serve(lambda: main.terminated)
        self.watch = True
        if self.interrupted:  # Ctrl-C: what main left behind goes too
            self._cancel_all()
        await self._serve(lambda: self.nondaemon == 0)
        self._cancel_all()
        await self._serve(lambda: not self.threads)
        if not self.abandoned:
            main._thread.join()
        return main

    def _cancel_all(self) -> None:
        self.closing = True
        with self._lock:
            live = list(self.threads)
        for t in live:
            t.cancel(blocking=False)

    async def _serve(self, done: Callable[[], bool]) -> None:
        inbox = self._inbox
        while not (done() or self.abandoned):
            await _read_wait(self._rsock)
            try:
                while self._rsock.recv(4096):
                    pass
            except BlockingIOError:
                pass
            self._notified = False
            while inbox:
                item = inbox.popleft()
                if item is None:
                    continue
                kind = item[0]
                if kind == "await":
                    self._awaits[item[2]] = await curio.spawn(
                        self._run_await, item[1], item[2], daemon=True
                    )
                elif kind == "cancel-await":
                    task = self._awaits.get(item[1])
                    if task is not None:
                        await task.cancel(blocking=False)
                elif kind == "sigint":
                    self._on_sigint()
                elif kind == "fd-dispatch":
                    assert self._fds is not None
                    await curio.spawn(self._fds.dispatch, daemon=True)

    async def _run_await(self, coro: Any, w: Waiter) -> None:
        try:
            outcome = (True, await coro)
        except BaseException as e:  # handed to the waiting thread
            outcome = (False, e)
        del self._awaits[w]
        w.wake(outcome)

    def _on_sigint(self) -> None:
        self.interrupted += 1
        if self.interrupted > 1:
            # Second Ctrl-C: stop waiting.  run() raises KeyboardInterrupt now;
            # the threads (daemonic at the OS level) die with the process.
            self._cancel_all()
            self.abandoned = True
            return
        main = self.main
        if main is not None and not main.terminated:
            main.cancel(blocking=False)
        else:
            self._cancel_all()

    def wait_fd(self, fd: int, events: int, timeout: float | None) -> bool:
        """``_hop.wait_fd`` for threads past the eventfd budget (see :class:`_FdDispatcher`)."""
        fds = self._fds
        if fds is None:
            with self._lock:
                if self._fds is None:
                    self._fds = _FdDispatcher()
                    self.post(("fd-dispatch",))
                fds = self._fds
        return fds.wait(fd, events, timeout)

    def wakeup_fileno(self) -> int:
        """The fd whose readiness wakes the kernel (for ``signal.set_wakeup_fd``)."""
        return self._wsock.fileno()

    def close(self) -> None:
        self._rsock.close()
        self._wsock.close()
        if self._fds is not None:
            self._fds.close()


class _FdDispatcher:
    """fd waits of threads past the eventfd budget: one epoll, one kernel task.

    A waiting thread registers a :class:`Waiter` for (fd, read|write), arms
    the fd in the shared epoll itself (``EPOLLONESHOT``; ``epoll_ctl`` is
    safe from any thread) and parks.  The kernel task sleeps in curio's
    selector on the epoll's own fd and wakes every ready waiter in one batch
    (PERF-NOTES: "one dispatcher ... threads arm their own fd").  Per waiting
    thread this costs a Waiter and a list entry, not a descriptor or a task.
    Readiness wakes every waiter of that direction (they re-check, as
    threads sharing a listening socket do).
    """

    def __init__(self) -> None:
        self._ep = select.epoll()
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

    def wait(self, fd: int, events: int, timeout: float | None) -> bool:
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
        exc = park(w, timeout)
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

    async def dispatch(self) -> None:
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

    def close(self) -> None:
        self._ep.close()


def run(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run ``func(*args, **kwargs)`` in a thredo thread under a new curio kernel.

    Returns its result or re-raises its exception unchanged, after every
    non-daemon thread it started has exited and every daemon thread has been
    cancelled and has exited.  Ctrl-C (in the main thread) cancels the main
    thredo thread, lets it unwind, then raises ``KeyboardInterrupt``; a
    second Ctrl-C raises it at once.  May be called again after it returns,
    and from any plain thread (without Ctrl-C handling there).

    Raises:
        RuntimeError: called from inside a thredo thread.
    """
    if current_state() is not None:
        raise RuntimeError("thredo.run() cannot be called from inside a thredo thread")
    rt = Runtime()
    previous = None
    previous_fd = -1
    in_main = threading.current_thread() is threading.main_thread()
    if in_main:
        previous = signal.signal(signal.SIGINT, lambda signo, frame: rt.post(("sigint",)))
        # A signal may land on any thread; Python runs the handler in the
        # main thread at its next bytecode.  The kernel may be asleep in
        # epoll, so the C-level handler must wake it: through the inbox.
        previous_fd = signal.set_wakeup_fd(rt.wakeup_fileno(), warn_on_full_buffer=False)
    try:
        with curio.Kernel() as kernel:
            main = kernel.run(rt.supervise, func, args, kwargs)
    finally:
        if in_main:
            signal.set_wakeup_fd(previous_fd)
            signal.signal(signal.SIGINT, previous)
        rt.close()
    if rt.interrupted:
        raise KeyboardInterrupt
    if main._exception is not None:
        raise main._exception
    return main._result


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
    rt: Runtime = st.owner._runtime
    w = Waiter()
    rt.post(("await", coro, w))
    exc = park(w)
    if exc is not None:  # raised even if the coroutine finished meanwhile
        if not w.notified:
            rt.post(("cancel-await", w))
            while not w.notified:
                w.lock.acquire()
        raise exc
    ok, value = w.value
    if ok:
        return value
    raise value
