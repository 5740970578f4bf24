"""thredo threads: spawn, join, wait, cancel, current_thread.

A :class:`Thread` is a real ``threading.Thread`` (it shows in
``threading.enumerate()``, has a ``threading`` name and ident) carrying a
:class:`~thredo._hop.ThreadState`, which makes every thredo blocking call it
makes cancellable.  The runtime that owns it (``_kernel.Runtime``) counts it
until it exits, so nothing started under ``thredo.run()`` outlives it.

Life of a thread::

    spawn() -> Runtime.add -> threading.Thread.start -> _bootstrap:
        func(*args) -> result | exception
        terminated = True; wake joiners; tell the group; Runtime.exited

Cancellation is delivered at the thread's next blocking thredo call (or the
one it is blocked in); a thread busy in pure-Python computation runs on until
it blocks.  Underlying ``threading`` threads are daemonic so that a second
Ctrl-C can end the process at once; ``run()`` itself joins every one of them.
"""

from __future__ import annotations

import itertools
import logging
import threading
from _thread import allocate_lock
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from . import _hop
from ._errors import CancelledError, ThreadCancelled, ThreadError
from ._hop import ThreadState, WaitQueue, current_state

if TYPE_CHECKING:
    from ._group import ThreadGroup
    from ._kernel import Runtime

__all__ = ("Thread", "spawn", "current_thread")

_ids = itertools.count(1)

log = logging.getLogger("thredo")


class Thread:
    """A thredo thread.  Create it with :func:`spawn` (or ``ThreadGroup.spawn``).

    Every method may be called from any thread.  ``join``, ``wait`` and
    ``cancel(blocking=True)`` block, cancellably when the caller is itself a
    thredo thread.
    """

    __slots__ = (
        "id",
        "daemon",
        "cancelled",
        "terminated",
        "group",
        "_runtime",
        "_target",
        "_result",
        "_exception",
        "_state",
        "_mutex",
        "_joiners",
        "_thread",
        "__weakref__",
    )

    def __init__(
        self,
        runtime: Runtime,
        func: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        daemon: bool,
        name: str | None,
    ) -> None:
        self.id = next(_ids)
        self.daemon = daemon
        self.cancelled = False
        self.terminated = False
        self._runtime = runtime
        self._target: Any = (func, args, kwargs)
        self._result: Any = None
        self._exception: BaseException | None = None
        self._state = ThreadState()
        self._state.owner = self
        self._mutex = allocate_lock()  # guards terminated, group, _joiners
        self._joiners: WaitQueue | None = None  # made by the first waiter (saves ~0.7 KB)
        self.group: ThreadGroup | None = None
        if name is None:
            name = f"thredo-{self.id} ({getattr(func, '__name__', 'thread')})"
        self._thread = threading.Thread(target=self._bootstrap, name=name, daemon=True)

    def __repr__(self) -> str:
        state = "terminated" if self.terminated else "running"
        return f"<thredo.Thread {self.name!r} {state}>"

    @property
    def name(self) -> str:
        return self._thread.name

    @property
    def ident(self) -> int | None:
        return self._thread.ident

    def is_alive(self) -> bool:
        return not self.terminated

    def _bootstrap(self) -> None:
        _hop._local.state = self._state
        func, args, kwargs = self._target
        self._target = None
        try:
            self._result = func(*args, **kwargs)
        except BaseException as e:  # recorded for join()/result
            self._exception = e
            if not isinstance(e, (CancelledError, SystemExit)) and self is not self._runtime.main:
                # As curio's "Task Crash": a failure nobody joins is not silent.
                log.error("thredo thread %r crashed", self.name, exc_info=e)
        finally:
            del func, args, kwargs
            _hop._local.state = None
            self._state.close()
            with self._mutex:
                self.terminated = True
                group = self.group
                if self._joiners is not None:
                    self._joiners.notify_all()
            if group is not None:
                group._thread_done(self)
            self._runtime.exited(self)

    def _start(self) -> None:
        try:
            self._thread.start()
        except BaseException as e:  # e.g. "can't start new thread"
            self._exception = e
            self._target = None
            with self._mutex:
                self.terminated = True
            self._runtime.exited(self)  # or run() would wait for it forever
            raise

    # -- waiting ----------------------------------------------------------

    def wait(self) -> None:
        """Block until the thread has exited.  Does not raise its failure."""
        with self._mutex:
            while not self.terminated:
                if self._joiners is None:
                    self._joiners = WaitQueue()
                self._joiners.wait(self._mutex)
        if self._thread is not threading.current_thread() and self._thread.ident is not None:
            self._thread.join()  # the OS thread is past its last Python line

    def join(self) -> Any:
        """Wait for the thread and return its result.

        Raises:
            ThreadError: the thread failed (or was cancelled); ``__cause__``
                is its exception.
            RuntimeError: a thread joining itself.
        """
        if current_state() is self._state:
            raise RuntimeError("cannot join current thread")
        self.wait()
        group = self.group
        if group is not None:
            group._discard(self)
        if self._exception is not None:
            raise ThreadError(f"thread {self.name!r} failed") from self._exception
        return self._result

    def cancel(self, *, blocking: bool = True, exc: type[BaseException] = ThreadCancelled) -> None:
        """Raise ``exc`` in the thread at its current or next blocking call.

        With ``blocking`` (the default) also wait until it has exited.
        Cancelling a terminated thread does nothing.  A thread cancelling
        itself gets the exception right here.
        """
        if self.terminated:
            return
        self.cancelled = True
        self._state.deliver(exc(f"thread {self.name!r} cancelled"))
        if current_state() is self._state:
            _hop.checkpoint()
        elif blocking:
            self.wait()

    # -- outcome ----------------------------------------------------------

    @property
    def result(self) -> Any:
        """The return value; raises the thread's exception if it failed."""
        if not self.terminated:
            raise RuntimeError("thread not terminated")
        if self._exception is not None:
            raise self._exception
        return self._result

    @property
    def exception(self) -> BaseException | None:
        """The exception the thread failed with, or None."""
        if not self.terminated:
            raise RuntimeError("thread not terminated")
        return self._exception


def spawn(
    func: Callable[..., Any],
    *args: Any,
    daemon: bool = False,
    name: str | None = None,
    **kwargs: Any,
) -> Thread:
    """Start ``func(*args, **kwargs)`` in a new thredo thread.

    Must be called from a thredo thread (inside :func:`thredo.run`).  A
    non-daemon thread keeps ``run()`` waiting; a daemon thread is cancelled
    when the rest is done.

    Raises:
        RuntimeError: called outside ``thredo.run()``.
    """
    st = current_state()
    if st is None:
        raise RuntimeError(
            "thredo.spawn() must be called from a thredo thread; start one with thredo.run(func)"
        )
    runtime = st.owner._runtime
    t = Thread(runtime, func, args, kwargs, daemon, name)
    runtime.add(t)
    t._start()
    return t


def current_thread() -> Thread | None:
    """The calling thredo :class:`Thread`, or None in any other thread."""
    st = current_state()
    return None if st is None else st.owner
