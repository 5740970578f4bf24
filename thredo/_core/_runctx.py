"""The run a thread belongs to: its registry of threads and its kernel inbox.

One :class:`RunContext` exists per :func:`thredo.run` call.  Every thredo
thread reaches it through one typed path, ``ThreadState.run``
(``thredo._core._wait``); nothing finds the run any other way.  It is the part
of the run that the layers *below* the kernel may use:

* ``post(callback)`` -- ask the kernel thread to do something.  The
  kernel calls ``callback()`` in its own thread; if that returns a
  coroutine, the kernel awaits it right there, before the next callback
  (so it must be short: ``await curio.spawn(...)`` for long work).  So a
  new kind of request is a new callable, never a new branch in the kernel::

      any thread                           kernel thread (thredo._kernel)
      ----------                           ------------------------------
      post(cb): inbox.append(cb)           await readable(wake socket)
                if not notified:           notified = False; drain it
                    notified = True  --->  for cb in inbox:
                    send one byte              coro = cb()
                                               if coro: spawn(coro)

  Notifications are coalesced: at most one byte is in flight however many
  threads post.  curio's own cross-thread ``wake()`` wrote one byte per
  wake-up and overflowed its socket with 1,000 threads (``docs/design.md``).

* ``add(t)``/``exited(t)`` -- the registry of live threads, so that nothing
  started under ``run()`` outlives it.  Every exiting thread calls
  ``exited`` directly, before its exit observers (``Thread._finish``).

Thread safety: every method may be called from any thread; ``_lock``
guards ``threads`` and ``nondaemon``.  ``fdwaits`` is the run's fd-wait
state, owned (and locked) by ``thredo._core._fdwait``.  The flags ``closing``, ``watch`` and
``main`` are written by the kernel thread only.
"""

from __future__ import annotations

import socket
import threading
from _thread import allocate_lock
from collections import deque
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from ._fdwait import RunFdWaits

__all__ = ("RunContext", "Member", "Callback")

#: What ``post`` takes: called in the kernel thread; a coroutine it returns
#: is awaited there at once (it must not block).
Callback = Callable[[], "Coroutine[Any, Any, Any] | None"]


class Member(Protocol):
    """What the registry needs of a thread (``thredo.Thread`` is one)."""

    @property
    def daemon(self) -> bool: ...

    @property
    def terminated(self) -> bool: ...

    def cancel(self, *, blocking: bool = ...) -> None: ...

    def os_thread(self) -> threading.Thread:
        """The underlying ``threading.Thread`` (run() joins it at the end).

        Its ``_thredo_member`` is True (``member_os_threads``).
        """
        ...


class _MemberOSThreads:
    """``t in member_os_threads``: is ``t`` the OS thread under a member?

    Those are daemonic for the interpreter, which never joins them at exit,
    whatever their ``daemon`` attribute says (once started, the thredo
    thread's flag, so that a plain ``threading.Thread`` created in one
    inherits that).  ``_kernel``'s exit hook asks.  A member's
    ``os_thread()`` says so itself, with a true ``_thredo_member``
    attribute (its class's: nothing per thread; a WeakSet of them cost
    113 B per thread, docs/design.md section 6.1).
    """

    __slots__ = ()

    def __contains__(self, t: object) -> bool:
        return getattr(t, "_thredo_member", False) is True


member_os_threads = _MemberOSThreads()

REAP_PRUNE_AT = 64  # exited threads kept for run() to join before pruning the dead


def _nothing() -> None:
    """Posted only to wake the kernel so that it re-checks its phase."""


class RunContext:
    """The state of one ``run()`` that threads may touch (see module docstring)."""

    _running: set[RunContext] = set()  # runs not yet closed; guarded by _running_lock
    _running_lock = allocate_lock()
    # A copy of _running, replaced (never changed) under _running_lock, so
    # that running() reads it without the lock: every socket close calls it
    # twice, and on a server's cancel 1,000 handlers closing at once queued
    # on the lock whenever its holder lost the GIL (issue 24).
    _running_now: tuple[RunContext, ...] = ()

    @classmethod
    def running(cls) -> list[RunContext]:
        """Every run in progress in this process (``run()`` may be called from several threads)."""
        return list(cls._running_now)

    def __init__(self) -> None:
        self._lock = allocate_lock()  # guards threads, nondaemon
        self.threads: set[Member] = set()
        self.nondaemon = 0
        self.closing = False  # set by the kernel: new threads start cancelled
        self.watch = False  # set by the kernel: it wants to hear about every exit
        self.main: Member | None = None
        self._inbox: deque[Callback] = deque()
        self._notified = False
        self._rsock, self._wsock = socket.socketpair()
        self._rsock.setblocking(False)
        self._wsock.setblocking(False)
        self._on_close: list[Callable[[], None]] = []
        # The run's fd-wait state (eventfd pool, fd waiters, shared epoll),
        # owned by thredo._core._fdwait; set once (under its _fds_lock).
        self.fdwaits: RunFdWaits | None = None
        # Exited threads whose OS thread may still be finishing: run() joins
        # them before it returns.  Pruned as it grows (older ones are long
        # gone), so a server that has served millions holds a handful.
        self._reaping: deque[threading.Thread] = deque()  # guarded by _lock
        with self._running_lock:
            self._running.add(self)
            RunContext._running_now = tuple(self._running)

    # -- the inbox -------------------------------------------------------------

    def post(self, callback: Callback) -> None:
        """Have the kernel thread call ``callback()`` (from any thread)."""
        self._inbox.append(callback)
        if not self._notified:
            self._notified = True
            try:
                self._wsock.send(b"\0")
            except OSError:  # full (a byte is pending anyway) or closed
                pass

    def wakeup_socket(self) -> socket.socket:
        """The socket the kernel waits on; readable once something was posted."""
        return self._rsock

    def wakeup_fileno(self) -> int:
        """The fd whose write wakes the kernel (also ``signal.set_wakeup_fd``'s)."""
        return self._wsock.fileno()

    def take(self) -> deque[Callback]:
        """Kernel side: clear the wake-up, then return the inbox to drain."""
        try:
            while self._rsock.recv(4096):
                pass
        except BlockingIOError:
            pass
        self._notified = False
        return self._inbox

    # -- the registry ------------------------------------------------------------

    def add(self, t: Member) -> None:
        """Count ``t`` as a live thread of this run."""
        with self._lock:
            self.threads.add(t)
            if not t.daemon:
                self.nondaemon += 1
        if self.closing:
            t.cancel(blocking=False)

    def exited(self, t: Member) -> None:
        """``t`` finished (called in ``t``'s own thread, before its exit observers)."""
        with self._lock:
            self.threads.discard(t)
            if not t.daemon:
                self.nondaemon -= 1
            reaping = self._reaping
            while len(reaping) > REAP_PRUNE_AT and not reaping[0].is_alive():
                reaping.popleft()
            reaping.append(t.os_thread())
        if self.watch or t is self.main:
            self.post(_nothing)

    def reap_all(self) -> None:
        """Join the OS thread of every exited thread (kernel side, at the end)."""
        with self._lock:
            reaping, self._reaping = self._reaping, deque()
        for os_thread in reaping:
            if os_thread.ident is not None:  # it did start
                os_thread.join()

    def live(self) -> list[Member]:
        """A snapshot of the live threads."""
        with self._lock:
            return list(self.threads)

    # -- end of the run ------------------------------------------------------------

    def on_close(self, func: Callable[[], None]) -> None:
        """Have ``func()`` called when the run ends (e.g. to close a shared epoll)."""
        with self._lock:
            self._on_close.append(func)

    def close(self) -> None:
        """Release the run's descriptors; called by ``run()`` as it returns."""
        with self._lock:
            funcs, self._on_close = self._on_close, []
        with self._running_lock:
            self._running.discard(self)
            RunContext._running_now = tuple(self._running)
        for func in funcs:
            func()
        self._rsock.close()
        self._wsock.close()
