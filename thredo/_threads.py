"""thredo threads and thread groups (curio's ``task.py`` keeps Task and TaskGroup together too).

A :class:`Thread` is not a ``threading.Thread`` subclass: it owns one (a
daemon ``threading.Thread``, :meth:`Thread.os_thread`, whose name, ident and
native id it reports, and which is what ``threading.enumerate()`` and
``threading.current_thread()`` show) and gives it a
:class:`~thredo._core.ThreadState`, which makes every thredo blocking call
it makes cancellable.  It is built and used like a
``threading.Thread`` (``target``/``args``/``kwargs``, ``start()``, a
subclass overriding ``run()``), or started in one call by :func:`spawn`.

Life of a thread::

    Thread(target=f) -> start(): RunContext.add, OS thread starts -> _bootstrap:
        result = self.run()          (f(*args, **kwargs) by default)
        terminated = True                          (under _mutex)
        RunContext.exited(self); each exit observer: observer(self)
                                                   (no thredo lock held)
        wake joiners                               (under _mutex)

Joiners are woken last, so that a joiner does not wake up only to wait for
the GIL while the exiting thread runs its observers (and then once more for
the OS thread's end).

The thread-exit protocol
------------------------

Whoever supervises a thread -- its :class:`ThreadGroup`, a server's set of
live handlers -- registers an *exit observer* with :meth:`Thread._on_exit`
and is called once, in the exiting thread, after ``terminated`` is set
(the run's registry, ``RunContext.exited``, which every thread has, is
called the same way but directly, without a registration).
``_on_exit`` returns False (and registers nothing) if the thread has
already terminated, so a supervisor never misses an exit and never hears
of one twice.  Lock order: ``ThreadGroup._mutex`` before ``Thread._mutex``;
observers run with neither held, so they may take their own locks.

Failures
--------

A thread's failure (an exception other than a cancellation or
``SystemExit``) is *retrieved* when the program looks at it: ``join()``
(which raises :class:`ThreadError`), reading ``result`` or ``exception``,
or a :class:`ThreadGroup` handing it over (``next_done``/``next_result``/
iteration, ``results``/``exceptions``/``result``/``exception``, or raising
it on leaving its block).  A retrieved failure is never logged.  One that
is never retrieved is logged once, with its traceback, on the ``thredo``
logger: when the Thread object is freed, or at the end of ``run()``,
whichever comes first.

A cancel from outside is an *outcome*, not a failure: a thread on which
:meth:`Thread.cancel` was called (by another thread, the monitor, its
group) and whose exception is a cancellation, or has one in its
``__cause__``/``__context__`` chain (``_ended_by_cancel``), is never logged,
never raised by a group's block exit, does not stop or decide a group's
wait, is left out of ``ThreadGroup.results`` and listed in
``ThreadGroup.cancelled``; ``join()`` still raises :class:`ThreadError`
from its exception (docs/guide.md, "Cancelled by someone, or failed?").

Cancellation is delivered at the thread's current or next blocking thredo
call; a thread busy in pure-Python computation runs on until it blocks.
Underlying ``threading`` threads are daemonic for the interpreter so that a
second Ctrl-C can end the process at once; ``run()`` itself joins every one
of them.  Their ``daemon`` attribute, once started, is the thredo thread's
flag (so a ``threading.Thread`` created in one inherits that, as the stdlib's
rule says), and their default names are ``threading``'s, ``Thread-N (target)``
(:class:`_OSThread`).
"""

from __future__ import annotations

import _thread
import builtins
import inspect
import itertools
import logging
import sys
import threading
import traceback
import warnings
import weakref
from _thread import allocate_lock
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from inspect import CO_COROUTINE
from time import monotonic, sleep
from types import FrameType, FunctionType, MappingProxyType
from typing import TYPE_CHECKING, Any, Generic, ParamSpec, TypeVar, overload

from ._core import (
    BlockedOn,
    CancelledError,
    Member,
    RunContext,
    ThreadCancelled,
    ThreadError,
    ThreadState,
    WaitQueue,
    blocked_on,
    checkpoint,
    current_state,
    disable_cancellation,
    set_state,
)

if TYPE_CHECKING:
    # Type checkers only (they all bundle typing_extensions' stubs): at run
    # time these names are never looked up, so it is no dependency.
    from typing_extensions import Self, TypeVarTuple, Unpack

    Ts = TypeVarTuple("Ts")

__all__: tuple[str, ...] = (
    "Thread",
    "ThreadGroup",
    "ThreadGroupStatistics",
    "spawn",
    "current_thread",
    "enumerate",
    "active_count",
    "main_thread",
    "get_ident",
    "get_native_id",
    "TIMEOUT_MAX",
    "stack_size",
    "settrace",
    "setprofile",
    "excepthook",
    "ExceptHookArgs",
    "Timer",
)

T = TypeVar("T")
P = ParamSpec("P")
if TYPE_CHECKING:
    # A ThreadGroup's result type; ThreadGroup() unparametrised is
    # ThreadGroup[Any] (PEP 696 default), so untyped code is unchanged.
    from typing_extensions import TypeVar as _TypeVarWithDefault

    TR = _TypeVarWithDefault("TR", default=Any)
else:
    TR = TypeVar("TR")

_ids = itertools.count(1)
# The order in which threads terminated.  Under _finished_lock: next() of an
# itertools.count is not documented as thread-safe without the GIL.
_finished_count = itertools.count(1)
_finished_lock = allocate_lock()

log = logging.getLogger("thredo")

# Thread._mutex is one of these, picked by the thread's id, not a lock of its
# own (88 B per thread, docs/design.md section 6.1).  Safe because no code
# holds one thread's _mutex while it takes another's (the lock order in the
# module docstring: a supervisor's lock, then one thread's _mutex; exit
# observers run with none held), so two threads sharing a stripe never wait
# for each other except for the few lines each holds it.
MUTEX_STRIPES = 64
_MUTEXES = tuple(allocate_lock() for _ in range(MUTEX_STRIPES))

# A thread's kwargs when it has none: spawn()'s **kwargs is a new dict each call.
_NO_KWARGS: MappingProxyType[str, Any] = MappingProxyType({})

ExitObserver = Callable[["Thread[Any]"], None]


_ASYNC_TARGET = (
    "{!r} is async: a thredo thread runs a plain function; run curio async code "
    "from one with thredo.AWAIT(coro)"
)


def _is_async(target: object) -> bool:
    """Is ``target`` an async function (or a coroutine), which a thread cannot run?"""
    # The common case without inspect's unwrapping (~1 us): a plain function
    # with no attributes (no __wrapped__, no 3.12 markcoroutinefunction mark).
    if type(target) is FunctionType and not target.__dict__:
        return bool(target.__code__.co_flags & CO_COROUTINE)
    return inspect.iscoroutinefunction(target) or inspect.iscoroutine(target)


def _is_failure(e: BaseException | None) -> bool:
    return e is not None and not isinstance(e, (CancelledError, SystemExit))


def _ended_by_cancel(t: Thread[Any]) -> bool:
    """Did ``t`` end because someone cancelled it (an outcome, not a failure)?

    True when :meth:`Thread.cancel` was called on it and its exception is a
    cancellation, or has one in its ``__cause__``/``__context__`` chain (a
    library that turned the cancel into its own error, or a cleanup that
    failed while the cancel unwound).
    """
    e, seen = t._exception, 0
    if e is None or not t.cancelled:
        return False
    while e is not None and seen < 100:  # a chain may loop
        if isinstance(e, CancelledError):
            return True
        e, seen = e.__cause__ or e.__context__, seen + 1
    return False


def _failed(t: Thread[Any]) -> bool:
    """A failure to hand over (raise, log): not a cancellation, not SystemExit."""
    return _is_failure(t._exception) and not _ended_by_cancel(t)


def _clear_frame(frame: FrameType) -> None:
    """Drop a finished frame's locals and its link to its caller (``frame.clear()``)."""
    try:
        frame.clear()
    except RuntimeError:  # still running (a generator's frame): leave it
        pass


def _report_at_close(t: Thread[Any], run: RunContext) -> None:
    """A failure still unretrieved when the run ends is logged then."""
    ref = weakref.ref(t)

    def report() -> None:
        t = ref()
        if t is not None:
            t._report()

    run.on_close(report)


# What threading.Thread.start() and join() use, by version: 3.13 starts a
# thread with a _ThreadHandle (and joins through it); 3.10-3.12 with
# start_new_thread (and join the thread's _tstate_lock).
_start_joinable = getattr(_thread, "start_joinable_thread", None)
_ThreadHandle: Any = getattr(_thread, "_ThreadHandle", None)
# 3.12+: a subinterpreter may forbid daemon threads (threading.Thread checks it too).
_daemon_threads_allowed: Callable[[], bool] = getattr(
    _thread, "daemon_threads_allowed", lambda: True
)
#: How often a thread that must know a just-started thread's bootstrap ran
#: (``_Started.wait``: ``native_id`` read at once, a ``join`` from outside)
#: looks again, in seconds.  The window is the new thread's first few lines,
#: microseconds unless the machine is overloaded; 50 us is Linux's default
#: timer slack, so a shorter sleep would not be shorter.
STARTED_POLL = 50e-6


class _Started:
    """The ``_started`` of an :class:`_OSThread`, in place of ``threading``'s Event.

    ``threading.Thread`` gives every thread an Event (a Condition, its lock
    and a deque: ~1.2 KB, 2 us to build, docs/design.md section 6.1) and
    makes ``start()`` wait on it until the new thread has run its first
    lines: the starting thread sleeps, and wakes only when it gets the GIL
    back, usually once the new thread has done all it had to do.  An
    ``_OSThread`` knows its ident when ``start()`` returns (the C call
    returns it), so it does not wait.  This view on its flag
    (``_thredo_started``, made on each read of ``_started``: threading reads
    it a few times per thread) keeps threading's interface
    (``set``/``is_set``/``wait``/``_at_fork_reinit``) for the threading
    code that uses it: the new thread's bootstrap sets it, and the rare
    caller that must see that (``native_id`` read at once, a ``threading``
    ``join()`` from outside) polls it (:data:`STARTED_POLL`).  No lock: it
    is one flag, set once, from False to True.
    """

    __slots__ = ("_t",)

    def __init__(self, t: _OSThread) -> None:
        self._t = t

    def set(self) -> None:
        self._t._thredo_started = True

    def is_set(self) -> bool:
        return self._t._thredo_started

    def wait(self, timeout: float | None = None) -> bool:
        t = self._t
        if t._thredo_started:
            return True
        end = None if timeout is None else monotonic() + timeout
        while not t._thredo_started:
            if end is not None and monotonic() >= end:
                return False
            sleep(STARTED_POLL)
        return True

    def _at_fork_reinit(self) -> None:
        pass  # no lock to reset


class _OSThread(threading.Thread):
    """The ``threading.Thread`` under a thredo thread: a lighter one.

    A real ``threading.Thread`` to everything that looks (``isinstance``,
    ``threading.current_thread()``/``enumerate()``, whose registry,
    ``threading._active``, its bootstrap joins as any thread's does;
    ``settrace``/``setprofile`` hooks, installed by that same bootstrap;
    ``join()``, ``is_alive()``, fork), built for less than
    ``threading.Thread.__init__`` builds (docs/design.md section 6.1):

    * ``_started`` is a :class:`_Started` view on a flag, not an Event, and
      :meth:`start` does not wait for the new thread (no handshake: the
      starting thread goes on, the new one sets its ident itself);
    * no ``_invoke_excepthook`` closure per thread: made when a failure
      needs it (never, as a rule: the thredo bootstrap catches everything,
      and reports through ``threading.excepthook`` itself);
    * not in ``threading._dangling`` (a WeakSet for CPython's tests); fork
      finds live ones in ``threading._active``.

    Named as ``threading.Thread`` names a thread (``Thread-N (target)``,
    from threading's own counter, so plain and thredo threads number
    together; a falsy name gets a default, any other is ``str()``-ed).

    Daemonic for the interpreter, whatever the thredo flag (module
    docstring: a second Ctrl-C ends the process at once, ``run()`` joins
    them itself): it is started as a daemon (3.13), and ``daemon`` reads
    True while threading's bootstrap looks at it (3.10-3.12's
    ``_set_tstate_lock``, before ``run()``).  From ``run()`` on, ``daemon``
    is the thredo thread's flag, which is what the program sees
    (``threading.current_thread().daemon``) and what a ``threading.Thread``
    created in it inherits -- not a silent True (issue 21 item 5).
    """

    # The kernel's exit hook tells OS threads of members by it (thredo._core's
    # member_os_threads): the interpreter never joins them.
    _thredo_member = True

    # Slots beside threading's own attributes (in the instance __dict__,
    # which threading.Thread has): 8 B each rather than a dict entry.
    __slots__ = ("_thredo_owner", "_thredo_daemon", "_thredo_running", "_thredo_started")

    # threading.Thread's attributes that start the same for every thread are
    # class attributes here, not entries in each instance's __dict__;
    # threading's bootstrap writes _ident, _native_id (and, 3.10-3.12,
    # _tstate_lock) as instance attributes when the thread starts.
    _initialized = True
    _target = None  # _target, _args, _kwargs: read by threading.Thread.run() only
    _daemonic = True  # for the interpreter (class docstring); ``daemon`` is the thredo flag
    _ident: int | None = None
    _native_id: int | None = None
    _tstate_lock = None  # 3.10-3.12
    _is_stopped = False  # 3.10-3.12

    def __init__(self, owner: Thread[Any], target: object, name: object) -> None:
        # Not threading.Thread.__init__: the attributes it sets, which
        # threading's methods read, minus the Event and the closure above.
        if name:
            name = str(name)
        else:
            name = threading._newname("Thread-%d")  # type: ignore[attr-defined]
            what = getattr(target, "__name__", None) if target is not None else None
            if what is not None:  # as threading: "Thread-N (target)"
                name = f"{name} ({what})"
        self._name = name
        if _ThreadHandle is not None:  # 3.13+
            self._handle = _ThreadHandle()
        self._thredo_started = False  # _started (a _Started view on it)
        self._stderr = sys.stderr  # threading's excepthook falls back on it at shutdown
        # The owner itself, not its bound _bootstrap (one object less per thread).
        self._thredo_owner: Thread[Any] | None = owner
        self._thredo_daemon = True  # set by Thread._start_in: the flag is fixed from then on
        self._thredo_running = False  # run() entered: threading's bootstrap is done with daemon

    @property  # an attribute of threading.Thread, made on demand here
    def _started(self) -> _Started:
        return _Started(self)

    @property  # an attribute of threading.Thread, made on demand here
    def _invoke_excepthook(self) -> Callable[[threading.Thread], None]:
        return threading._make_invoke_excepthook()  # type: ignore[attr-defined, no-any-return]

    @property
    def daemon(self) -> bool:
        if not self._thredo_running:  # threading starting the OS thread: a daemon
            return True
        return self._thredo_daemon

    @daemon.setter
    def daemon(self, daemonic: bool) -> None:
        if self._ident is not None:
            raise RuntimeError("cannot set daemon status of active thread")
        self._thredo_daemon = bool(daemonic)

    @property
    def ident(self) -> int | None:
        return self._ident

    @property
    def native_id(self) -> int | None:
        if self._native_id is None and self._ident is not None:
            self._started.wait()  # started, its bootstrap not yet run: microseconds
        return self._native_id

    def start(self) -> None:
        """As ``threading.Thread.start``, without waiting for the new thread to run.

        Raises:
            RuntimeError: started twice, or the OS has no thread to give.
        """
        if self._ident is not None:
            raise RuntimeError("threads can only be started once")
        if not _daemon_threads_allowed():
            raise RuntimeError("daemon threads are disabled in this (sub)interpreter")
        limbo_lock: Any = threading._active_limbo_lock  # type: ignore[attr-defined]
        limbo: dict[threading.Thread, threading.Thread] = threading._limbo  # type: ignore[attr-defined]
        # In _limbo until its bootstrap moves it to _active: enumerate() lists
        # it from now on, as it lists a threading.Thread once start() returns.
        with limbo_lock:
            limbo[self] = self
        try:
            if _start_joinable is not None:  # 3.13+: the handle is what join() waits on
                _start_joinable(self._bootstrap, handle=self._handle, daemon=True)  # type: ignore[attr-defined]
                ident = self._handle.ident
            else:
                ident = _thread.start_new_thread(self._bootstrap, ())  # type: ignore[attr-defined]
        except Exception:
            with limbo_lock:
                del limbo[self]
            raise
        # The new thread sets the same value itself (_set_ident): known now,
        # it is the "started" mark for is_alive(), join() and Thread.wait().
        self._ident = ident

    def is_alive(self) -> bool:
        if self._ident is None:
            return False
        if not self._thredo_started:
            return True  # started, its bootstrap not yet run
        return super().is_alive()

    def join(self, timeout: float | None = None) -> None:
        if self._ident is None:
            raise RuntimeError("cannot join thread before it is started")
        # threading's join needs what the bootstrap makes (the tstate lock on
        # 3.10-3.12): a join from outside in the first microseconds waits for it.
        if self._started.wait(timeout):
            super().join(timeout)

    def _join_ended(self) -> None:
        """``join()`` of a thread whose thredo thread has terminated (so its bootstrap ran).

        What threading's ``join()`` ends in, without its checks (``Thread.wait``).
        """
        if _ThreadHandle is not None:
            self._handle.join(None)
        else:
            self._wait_for_tstate_lock()  # type: ignore[attr-defined]

    def run(self) -> None:
        self._thredo_running = True
        # No local holds the bootstrap: a failure's traceback keeps this
        # frame (the f_back of _bootstrap's), and must not keep the thredo
        # thread through it (Thread._bootstrap: a dropped failed thread is freed).
        try:
            if self._thredo_owner is not None:
                self._thredo_owner._bootstrap()
        finally:
            self._thredo_owner = None


def _deprecated(message: str) -> None:
    """The stdlib's DeprecationWarning for a camelCase ``threading.Thread`` method."""
    warnings.warn(message, DeprecationWarning, stacklevel=3)


class Thread(Generic[T]):
    """A thredo thread: an OS thread whose thredo blocking calls can be cancelled.

    Not a ``threading.Thread`` subclass: it runs in one that it owns
    (:meth:`os_thread`), whose ``name``, ``ident`` and ``native_id`` it
    reports; inside the thread ``threading.current_thread()`` returns that
    ``threading.Thread`` and :func:`thredo.current_thread` returns this
    object.  Constructed as ``threading.Thread``; :func:`spawn` is
    ``Thread(target=...).start()`` in one call.  Differences from the
    stdlib: ``run()``'s return value is the thread's :attr:`result`;
    ``join()`` returns it (or raises :class:`ThreadError` when the thread
    failed); :meth:`cancel`, :meth:`wait`, :attr:`exception`,
    :attr:`cancelled` and :attr:`terminated` are new.  ``start()`` must be
    called inside :func:`thredo.run`.

    Every method may be called from any thread.  ``join``, ``wait`` and
    ``cancel(blocking=True)`` block, cancellably when the caller is itself a
    thredo thread.
    """

    __slots__ = (
        "id",
        "cancelled",
        "terminated",
        "group",
        "_daemon",
        "_started",
        "_target",
        "_args",
        "_kwargs",
        "_result",
        "_exception",
        "_retrieved",
        "_finish_order",
        "_state",
        "_mutex",
        "_joiners",
        "_observers",
        "_thread",
        "_parent",
        "__weakref__",
        "__dict__",  # subclasses (as with threading.Thread) keep their own attributes
    )

    def __init__(
        self,
        group: None = None,
        target: Callable[..., T] | None = None,
        name: str | None = None,
        args: Iterable[Any] = (),
        kwargs: dict[str, Any] | None = None,
        *,
        daemon: bool | None = None,
    ) -> None:
        if group is not None:
            raise AssertionError("group argument must be None for now (as threading.Thread)")
        if target is not None and _is_async(target):
            raise TypeError(_ASYNC_TARGET.format(target))
        self.id = next(_ids)
        if daemon is None:
            parent = current_thread()
            daemon = parent.daemon if parent is not None else False
        self._daemon = bool(daemon)
        self._started = False
        self.cancelled = False
        self.terminated = False
        self._target = target
        self._args = tuple(args)
        # spawn()'s **kwargs is a new dict every time: an empty one is not kept.
        self._kwargs: Mapping[str, Any] = kwargs if kwargs else _NO_KWARGS
        self._result: Any = None
        self._exception: BaseException | None = None
        self._retrieved = False
        self._finish_order = 0  # from _finished_count when it terminated
        self._state: ThreadState | None = None
        self._parent: weakref.ref[Thread[Any]] | None = None  # who started it (thredo.ps)
        # guards terminated, group, _joiners, _observers (one of _MUTEXES: see there)
        self._mutex = _MUTEXES[self.id % MUTEX_STRIPES]
        self._joiners: WaitQueue | None = None  # made by the first waiter (saves ~0.7 KB)
        # None, one observer (a server's, a group's: no tuple made), or a tuple of them
        self._observers: ExitObserver | tuple[ExitObserver, ...] | None = None
        #: the :class:`ThreadGroup` this thread belongs to, or None
        self.group: ThreadGroup | None = None
        self._thread: _OSThread = _OSThread(self, target, name)

    def __repr__(self) -> str:
        # threading.Thread's form: tools (and CPython's tests) parse it
        status = "stopped" if self.terminated else "started" if self._started else "initial"
        if self._daemon:
            status += " daemon"
        if self.ident is not None:
            status += f" {self.ident}"
        return f"<{type(self).__name__}({self.name}, {status})>"

    def __del__(self) -> None:
        try:
            self._report()
        except Exception:  # interpreter shutdown: logging may be gone
            pass

    # -- threading.Thread's attributes --------------------------------------------

    @property
    def name(self) -> str:
        """The thread's name (also the underlying ``threading.Thread``'s)."""
        return self._thread.name

    @name.setter
    def name(self, value: str) -> None:
        self._thread.name = value

    @property
    def ident(self) -> int | None:
        """As ``threading.Thread.ident`` (None until started)."""
        return self._thread.ident

    @property
    def native_id(self) -> int | None:
        """As ``threading.Thread.native_id``, the OS thread id (None until started)."""
        return self._thread.native_id

    @property
    def daemon(self) -> bool:
        """A daemon thread does not keep ``run()`` waiting; it is cancelled at the end.

        Raises:
            RuntimeError: set after ``start()`` (as ``threading.Thread``).
        """
        return self._daemon

    @daemon.setter
    def daemon(self, value: bool) -> None:
        if self._started:
            raise RuntimeError("cannot set daemon status of active thread")
        self._daemon = bool(value)

    def getName(self) -> str:  # noqa: N802 -- threading.Thread's deprecated spelling
        """Deprecated alias of :attr:`name` (as ``threading.Thread.getName``)."""
        _deprecated("getName() is deprecated, get the name attribute instead")
        return self.name

    def setName(self, name: str) -> None:  # noqa: N802
        """Deprecated alias of setting :attr:`name` (as ``threading.Thread.setName``)."""
        _deprecated("setName() is deprecated, set the name attribute instead")
        self.name = name

    def isDaemon(self) -> bool:  # noqa: N802
        """Deprecated alias of :attr:`daemon` (as ``threading.Thread.isDaemon``)."""
        _deprecated("isDaemon() is deprecated, get the daemon attribute instead")
        return self.daemon

    def setDaemon(self, daemonic: bool) -> None:  # noqa: N802
        """Deprecated alias of setting :attr:`daemon` (as ``threading.Thread.setDaemon``)."""
        _deprecated("setDaemon() is deprecated, set the daemon attribute instead")
        self.daemon = daemonic

    def is_alive(self) -> bool:
        """True from ``start()`` until the thread has terminated."""
        return self._started and not self.terminated

    @property
    def cancel_pending(self) -> bool:
        """A cancel (or ``cancel()``'s exception) waits for the thread's next blocking call."""
        st = self._state
        return st is not None and st.cancel_pending is not None

    @property
    def blocked_on(self) -> BlockedOn | None:
        """What the thread is blocked in right now (call, object, since), or None.

        Set by the wait mechanism only while the thread really waits for
        another thread (or the network, or a child): a test hook as much as
        a diagnostic.
        """
        st = self._state
        return None if st is None else blocked_on(st)

    @property
    def parent(self) -> Thread[Any] | None:
        """The thredo thread that started this one, while it is alive; else None."""
        ref = self._parent
        parent = None if ref is None else ref()
        return parent if parent is not None and not parent.terminated else None

    # -- running -----------------------------------------------------------------------

    def run(self) -> T:
        """The thread's work: ``target(*args, **kwargs)``; override it in a subclass.

        Its return value becomes :attr:`result` (``threading.Thread.run``
        returns nothing).
        """
        target = self._target
        if target is None:
            return None  # type: ignore[return-value]
        try:
            if self._kwargs:
                return target(*self._args, **self._kwargs)
            return target(*self._args)  # no ** of an empty dict: no dict made (64 B per thread)
        finally:
            del target
            self._target = self._args = self._kwargs = None  # type: ignore[assignment]

    def start(self) -> Self:
        """Start the thread; returns it.  Must be called inside :func:`thredo.run`.

        Raises:
            RuntimeError: called twice, or outside ``thredo.run()``.
        """
        st = current_state()
        if st is None:
            raise RuntimeError(
                "thredo threads start inside thredo.run(): call start() or spawn() "
                "from a thredo thread"
            )
        self._start_in(st.run, st.thread)
        return self

    def _start_in(self, run: RunContext, parent: object = None) -> None:
        if self._started:
            raise RuntimeError("threads can only be started once")
        self._started = True
        if isinstance(parent, Thread):
            self._parent = weakref.ref(parent)  # a weak one: a chain of spawners is not kept
        self._state = ThreadState(self, run)
        self._thread._thredo_daemon = self._daemon
        run.add(self)
        try:
            self._thread.start()
        except BaseException as e:  # e.g. "can't start new thread"
            self._exception = e
            self._retrieved = True  # raised right here
            self._target = None
            self._finish()  # or run() would wait for it forever
            raise

    def _bootstrap(self) -> None:
        st = self._state
        assert st is not None
        set_state(st)
        try:
            result = self.run()
            if result is not None and inspect.iscoroutine(result):  # e.g. a partial of an async def
                result.close()
                raise TypeError(_ASYNC_TARGET.format(self._thread.name))
            self._result = result
        except BaseException as e:  # recorded for join()/result
            tb = e.__traceback__
            if tb is not None and tb.tb_frame is sys._getframe():
                e.__traceback__ = tb.tb_next  # this frame is noise, and holds self
                if tb.tb_next is not None:
                    # run()'s frame (finished) holds self: cleared (and self
                    # deleted here below), the failure does not keep its
                    # thread alive in a cycle, so the thread is freed -- and an
                    # unretrieved failure reported (__del__) -- as soon as the
                    # program drops it, not at the next garbage collection.
                    _clear_frame(tb.tb_next.tb_frame)
            del tb
            # The target's finished frames hold its arguments: cleared too, so
            # the stored failure does not keep them alive.
            traceback.clear_frames(e.__traceback__)
            self._exception = e
        finally:
            set_state(None)
            st.close()
            st.thread = None  # its state outlives it (closers, the run); the thread need not
            self._finish()
            # A traceback keeps this frame (the f_back of run()'s): without
            # self, it does not keep the thread.
            del self

    def _finish(self) -> None:
        with self._mutex:
            with _finished_lock:
                self._finish_order = next(_finished_count)
            self.terminated = True
            observers = self._observers
            self._observers = None
        st = self._state
        if st is not None:
            st.run.exited(self)
            if _is_failure(self._exception):
                _report_at_close(self, st.run)
        if type(observers) is tuple:
            for observer in observers:
                observer(self)
        elif observers is not None:
            observers(self)  # type: ignore[operator]
        if self._joiners is not None:  # set under _mutex, before terminated was read
            with self._mutex:
                self._joiners.notify_all()

    def os_thread(self) -> threading.Thread:
        """The underlying ``threading.Thread``.

        It outlives :attr:`terminated` by microseconds (the last lines of
        ``threading``'s bootstrap); :meth:`wait` and ``run()`` join it.
        """
        return self._thread

    def _on_exit(self, observer: ExitObserver) -> bool:
        """Register ``observer(thread)`` to be called once when the thread exits.

        Returns False, registering nothing, if it has already terminated.
        Called with at most a supervisor's own lock held (lock order in the
        module docstring).
        """
        with self._mutex:
            if self.terminated:
                return False
            have = self._observers
            if have is None:
                self._observers = observer
            else:
                self._observers = (*(have if type(have) is tuple else (have,)), observer)
            return True

    def _report(self) -> None:
        """Report the failure if nobody retrieved it (once).

        Called when the last reference to the thread goes (``__del__``: a
        program that dropped a failed thread sees it as the thread ends), and
        at the latest when its run ends.  On the ``thredo`` logger, unless
        ``thredo.excepthook`` or ``threading.excepthook`` is not the stdlib's
        default: then that hook (thredo's first) takes the report, as it
        would for a plain thread's failure --
        whoever installed it (a program, a framework, a test runner: pytest's
        turns it into a ``PytestUnhandledThreadExceptionWarning``, as it does
        for a plain thread).  A test that expects the logger record restores
        the default hook (``tests/test_exit.py``'s ``records``).
        """
        e = self._exception
        if self._retrieved or not _failed(self):
            return
        assert e is not None
        self._retrieved = True
        hook = _program_hook()
        if hook is not None:
            hook(threading.ExceptHookArgs((type(e), e, e.__traceback__, self._thread)))
            return
        log.error("thredo thread %r failed and nobody retrieved its failure", self.name, exc_info=e)

    # -- waiting ----------------------------------------------------------

    def wait(self) -> None:
        """Block until the thread has exited.  Does not raise (or retrieve) its failure."""
        if not self._started:
            raise RuntimeError("cannot wait for a thread before it is started")
        with self._mutex:
            while not self.terminated:
                if self._joiners is None:
                    self._joiners = WaitQueue()
                self._joiners.wait(self._mutex, None, "Thread.join", self)
        os_thread = self._thread
        ident = os_thread._ident
        if ident is not None and ident != get_ident():
            os_thread._join_ended()  # the OS thread is past its last Python line

    def _wait_timeout(self, timeout: float) -> bool:
        with self._mutex:
            if not self.terminated:
                if self._joiners is None:
                    self._joiners = WaitQueue()
                self._joiners.wait_until(
                    self._mutex, lambda: self.terminated, max(timeout, 0.0), "Thread.join", self
                )
            if not self.terminated:
                return False
        self.wait()
        return True

    def join(self, timeout: float | None = None) -> T:
        """Wait for the thread and return its result (the thread's failure is retrieved).

        With ``timeout`` (seconds), returns None if the thread is still
        running when it passes -- check :meth:`is_alive`, as with
        ``threading.Thread.join``.  A thread joined directly leaves its group.

        Raises:
            ThreadError: the thread failed or was cancelled; ``__cause__``
                is its exception (a ``ThreadCancelled`` when cancelled, and
                then :attr:`cancelled` is True).
            RuntimeError: a thread joining itself, or one not started.
        """
        if self._state is not None and current_state() is self._state:
            raise RuntimeError("cannot join current thread")
        if timeout is None:
            self.wait()
        elif not self._started:
            raise RuntimeError("cannot join thread before it is started")
        elif not self._wait_timeout(timeout):
            return None  # type: ignore[return-value]
        group = self.group
        if group is not None:
            group._discard(self)
        self._retrieved = True
        if self._exception is not None:
            raise ThreadError(f"thread {self.name!r} failed") from self._exception
        return self._result  # type: ignore[no-any-return]

    def cancel(self, *, blocking: bool = True, exc: type[BaseException] = ThreadCancelled) -> None:
        """Raise ``exc`` in the thread at its current or next blocking call.

        With ``blocking`` (the default) also wait until it has exited.
        Cancelling a terminated thread does nothing.  A thread cancelling
        itself gets the exception right here.

        Raises:
            RuntimeError: the thread was not started.
        """
        if self.terminated:
            return
        st = self._state
        if st is None:
            raise RuntimeError("cannot cancel a thread before it is started")
        self.cancelled = True
        st.deliver(exc(f"thread {self.name!r} was cancelled"))
        if current_state() is st:
            checkpoint()
        elif blocking:
            self.wait()

    # -- outcome ----------------------------------------------------------

    @property
    def result(self) -> T:
        """The return value; raises the thread's exception if it failed (retrieving it)."""
        if not self.terminated:
            raise RuntimeError("thread not terminated")
        self._retrieved = True
        if self._exception is not None:
            raise self._exception
        return self._result  # type: ignore[no-any-return]

    @property
    def exception(self) -> BaseException | None:
        """The exception the thread failed with, or None (retrieving it)."""
        if not self.terminated:
            raise RuntimeError("thread not terminated")
        self._retrieved = True
        return self._exception


# How spawn is typed.  ``func``'s arguments travel beside spawn's own
# keywords ``daemon`` and ``name``, and the typing spec (PEP 612) forbids
# keyword-only parameters between ``*args: P.args`` and ``**kwargs:
# P.kwargs`` (mypy and pyright reject them, and check nothing of such a
# call).  So overloads, tried in order:
#   1. no daemon/name: ParamSpec, every argument checked against func;
#   2. daemon/name and positional arguments only: TypeVarTuple (keywords may
#      follow ``*args: *Ts``, as in trio's and anyio's ``start_soon(...,
#      name=)``), everything checked;
#   3. daemon/name and keyword arguments for func: the positional ones are
#      checked as in 2, the keyword ones cannot be (no type can say "func's
#      keywords, minus daemon and name").  functools.partial(func, kw=...)
#      gets them checked.  Two overloads, one requiring daemon, one name, so
#      a call with neither never reaches them (it stays checked by 1).
#      func's required keyword-only parameters are rejected here (a
#      Callable[[*Ts], T] has none): pass them through functools.partial.
# A func with a parameter named ``daemon`` or ``name`` matches overload 1
# with that keyword, though at run time spawn takes it: do not do that.


@overload
def spawn(func: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> Thread[T]: ...


@overload
def spawn(
    func: Callable[[Unpack[Ts]], T],
    *args: Unpack[Ts],
    daemon: bool = ...,
    name: str | None = ...,
) -> Thread[T]: ...


@overload
def spawn(
    func: Callable[[Unpack[Ts]], T],
    *args: Unpack[Ts],
    daemon: bool,
    name: str | None = ...,
    **kwargs: Any,
) -> Thread[T]: ...


@overload
def spawn(
    func: Callable[[Unpack[Ts]], T], *args: Unpack[Ts], name: str | None, **kwargs: Any
) -> Thread[T]: ...


def spawn(  # type: ignore[misc]
    func: Callable[..., T],
    *args: Any,
    daemon: bool = False,
    name: str | None = None,
    **kwargs: Any,
) -> Thread[T]:
    """Start ``func(*args, **kwargs)`` in a new thredo thread and return it.

    ``Thread(target=func, args=args, kwargs=kwargs, ...).start()`` in one
    call.  A non-daemon thread keeps ``run()`` waiting; a daemon thread is
    cancelled when the rest is done.  Type checkers check ``args`` and
    ``kwargs`` against ``func``; with ``daemon=`` or ``name=`` too, all but
    ``func``'s keyword arguments (pass those through ``functools.partial``
    to have them checked as well).

    Raises:
        RuntimeError: called outside ``thredo.run()``.
    """
    st = current_state()
    if st is None:
        raise RuntimeError(
            "thredo.spawn() must be called from a thredo thread; start one with thredo.run(func)"
        )
    t: Thread[T] = Thread(target=func, name=name, args=args, kwargs=kwargs, daemon=daemon)
    t._start_in(st.run, st.thread)
    return t


def current_thread() -> Thread[Any] | None:
    """The calling thredo :class:`Thread`, or None in any other thread."""
    st = current_state()
    if st is None:
        return None
    t = st.thread  # the core knows it as a Member; every state _start_in made holds a Thread
    return t if isinstance(t, Thread) else None


class _MainHandle:
    """The main thread of a run as the core's kernel sees it (``thredo._core.MainThread``).

    The kernel reaches a :class:`Thread` only through these few methods, so
    the thread's own fields stay this module's business.
    """

    __slots__ = ("_t",)

    def __init__(self, t: Thread[Any]) -> None:
        self._t = t

    @property
    def member(self) -> Member:
        return self._t

    @property
    def daemon(self) -> bool:
        return self._t.daemon

    @property
    def terminated(self) -> bool:
        return self._t.terminated

    @property
    def cancel_pending(self) -> bool:
        return self._t.cancel_pending

    @property
    def blocked_on(self) -> BlockedOn | None:
        return self._t.blocked_on

    def cancel(self, *, blocking: bool = True) -> None:
        self._t.cancel(blocking=blocking)

    def os_thread(self) -> threading.Thread:
        return self._t.os_thread()

    def start_in(self, run: RunContext) -> None:
        self._t._start_in(run)

    def deferring(self) -> bool:
        st = self._t._state
        return st is not None and st.nocancel > 0

    def outcome(self) -> Any:
        t = self._t
        if t._exception is not None:
            raise t._exception
        return t._result


def new_main_thread(func: Callable[..., Any], args: Any, kwargs: Any) -> _MainHandle:
    """The main thread of a new run (not started), as the kernel takes it."""
    t: Thread[Any] = _RunMain(target=func, name="thredo-main", args=args, kwargs=kwargs)
    t._retrieved = True  # run() re-raises its exception
    return _MainHandle(t)


class _RunMain(Thread[Any]):
    """The main thredo thread of a run (``RunContext.main``, which :func:`main_thread` reads)."""

    def __repr__(self) -> str:
        return super().__repr__().replace("_RunMain(", "Thread(", 1)


def main_thread() -> Thread[Any] | threading.Thread:
    """The run's main thredo thread inside a run; else ``threading.main_thread()``.

    Its name is ``thredo-main`` (not the stdlib's ``MainThread``: the
    process's main thread is another thread, the one that called ``run()``).
    """
    st = current_state()
    if st is not None:
        # Set by the kernel before it starts the main thread, so every thread
        # of the run sees it (thread start orders it, GIL or not).
        main = st.run.main
        if isinstance(main, Thread):
            return main
    return threading.main_thread()


# The rest of the threading surface: thredo threads are real threading threads,
# so these act on them as they do on any (settrace/setprofile hooks reach them,
# their idents are the OS thread's).
get_ident = threading.get_ident
get_native_id = threading.get_native_id
TIMEOUT_MAX = threading.TIMEOUT_MAX
stack_size = threading.stack_size
settrace = threading.settrace
setprofile = threading.setprofile
excepthook = threading.__excepthook__  # the default hook (threading.excepthook may be replaced)


def _program_hook() -> Callable[[threading.ExceptHookArgs], object] | None:
    """The hook a program set for thread failures: ``thredo.excepthook``, then ``threading``'s.

    None when both are the default.  ``thredo.excepthook`` is read from the
    public namespace, where a program assigns it (``thredo.excepthook = f``,
    as with ``threading.excepthook``); this module's name is only its default.
    """
    public = sys.modules.get("thredo")
    hook = None if public is None else public.__dict__.get("excepthook")
    if hook is not None and hook is not threading.__excepthook__:
        return hook  # type: ignore[no-any-return]
    if threading.excepthook is not threading.__excepthook__:
        return threading.excepthook
    return None


ExceptHookArgs = threading.ExceptHookArgs
if sys.version_info >= (3, 12):
    __all__ += ("settrace_all_threads", "setprofile_all_threads")
    settrace_all_threads = threading.settrace_all_threads
    setprofile_all_threads = threading.setprofile_all_threads


class Timer(Thread[None]):
    """A thread that calls ``function(*args, **kwargs)`` after ``interval`` seconds.

    As ``threading.Timer``: :meth:`cancel` before it fires and the function
    never runs (the thread ends normally).  It is a thredo thread: its
    wait is cancellable, ``timeout_after`` applies, and
    ``cancel(exc=...)`` cancels it as any thread.
    """

    def __init__(
        self,
        interval: float,
        function: Callable[..., Any],
        args: Iterable[Any] | None = None,
        kwargs: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(name=None)
        self.interval = interval
        self.function = function
        self.args = list(args) if args is not None else []
        self.kwargs = dict(kwargs) if kwargs is not None else {}
        self._fire_lock = allocate_lock()
        self._cancelled_timer = False
        self._timer_waiters = WaitQueue()

    def cancel(self, *, blocking: bool = False, exc: type[BaseException] | None = None) -> None:
        """Stop the timer if it has not fired yet; with ``exc``, cancel it as any thread."""
        if exc is not None:  # a thread's cancel: the exception, not a quiet end
            super().cancel(blocking=blocking, exc=exc)
            return
        with self._fire_lock:
            self._cancelled_timer = True
            self._timer_waiters.notify_all()
        if blocking and self._started:
            self.wait()

    def run(self) -> None:
        """Wait ``interval`` seconds (cancellably), then call the function unless cancelled."""
        with self._fire_lock:
            if not self._cancelled_timer:
                self._timer_waiters.wait_until(
                    self._fire_lock,
                    lambda: self._cancelled_timer,
                    max(self.interval, 0.0),
                    "Timer",
                    self,
                )
            if self._cancelled_timer:
                return
            self._cancelled_timer = True
        self.function(*self.args, **self.kwargs)


def enumerate() -> list[Thread[Any]]:
    """The live thredo threads of the calling thread's run (all runs from a plain thread)."""
    st = current_state()
    runs = (st.run,) if st is not None else RunContext.running()
    live: list[Thread[Any]] = []
    for run in runs:
        live.extend(t for t in run.live() if isinstance(t, Thread) and t.is_alive())
    return sorted(live, key=lambda t: t.id)


def active_count() -> int:
    """How many thredo threads :func:`enumerate` would list."""
    return len(enumerate())


# == Thread groups =============================================================

_POLICIES = (builtins.all, builtins.any, object, None)


@dataclass(frozen=True, slots=True)
class ThreadGroupStatistics:
    """What ``ThreadGroup.statistics()`` reports (a snapshot).

    Attributes:
        running: non-daemon members not finished yet.
        finished: members finished and not yet handed out by ``join``/``next_done``.
        daemonic: daemon members still running.
        waiting: threads blocked in ``join()``/``next_done()`` of the group.
    """

    running: int
    finished: int
    daemonic: int
    waiting: int


class ThreadGroup(Generic[TR]):
    """A set of threads managed together; a context manager (curio's ``TaskGroup``).

    ``wait=`` is the policy :meth:`join` (and so leaving the ``with`` block)
    applies before it cancels whatever is still running:

    ==========  ===============================================================
    ``all``     wait for every thread; stop early if one fails
    ``any``     wait for the first thread to finish (whatever its outcome)
    ``object``  wait for the first thread that returns something other than None
    ``None``    wait for nothing: cancel them all
    ==========  ===============================================================

    After ``join`` no thread of the group is left running.  An exception
    in the ``with`` body cancels every thread first.  A member cancelled
    from outside (another thread's ``cancel()``, the monitor's ``cancel``)
    is an outcome: the wait goes on without it, it never becomes
    ``completed``, leaving the block never raises for it, ``results``
    leaves it out and :attr:`cancelled` lists it.  ``completed`` is the
    thread that decided the outcome (``result``/``exception`` read it).

    For the first *successful* result, iterate instead of relying on
    ``wait=any``::

        with ThreadGroup(wait=None) as g:
            for t in threads: g.add_thread(t)
            for t in g:                   # finished threads, in finishing order
                if t.exception is None:
                    answer = t.result
                    break                 # leaving the block cancels the rest

    """

    # Bookkeeping (all under _mutex): _threads every tracked non-daemon
    # thread, _running those not yet finished, _finished finished and not yet
    # looked at by join/next_done (in finishing order), _daemonic running
    # daemon threads.  A thread reports its end through the exit observer
    # _thread_done; _done wakes whoever waits for the next finisher.

    def __init__(self, threads: Iterable[Thread[TR]] = (), *, wait: Any = builtins.all) -> None:
        if not any(wait is p for p in _POLICIES):
            raise ValueError(f"wait must be all, any, object or None, not {wait!r}")
        self._wait = wait
        self._mutex = allocate_lock()
        self._done = WaitQueue()
        self._threads: set[Thread[TR]] = set()
        self._running: set[Thread[TR]] = set()
        self._daemonic: set[Thread[TR]] = set()
        self._finished: deque[Thread[TR]] = deque()
        self._joined = False
        self.completed: Thread[TR] | None = None
        for t in threads:
            self.add_thread(t)

    def __repr__(self) -> str:
        return f"<thredo.ThreadGroup running={len(self._running)} finished={len(self._finished)}>"

    # -- membership -----------------------------------------------------------

    def add_thread(self, t: Thread[TR]) -> None:
        """Put an existing (started) thread under this group.

        Raises:
            RuntimeError: the thread already has a group, or the group was joined.
        """
        with self._mutex:
            if self._joined:
                raise RuntimeError("ThreadGroup already joined")
            if t.group is not None:
                raise RuntimeError("Thread is already part of a thread group")
            t.group = self
            running = t._on_exit(self._thread_done)
            if not t.daemon:
                self._threads.add(t)
                if running:
                    self._running.add(t)
                else:
                    self._finished.append(t)
                    self._done.notify()
            elif running:
                self._daemonic.add(t)

    # Typed as thredo.spawn (see the note there); ``self: ThreadGroup[T]``
    # makes func's result type the group's: a ThreadGroup[int] takes only
    # functions returning int.  An unparametrised ThreadGroup is
    # ThreadGroup[Any]: its spawn returns Thread[Any].
    @overload
    def spawn(
        self: ThreadGroup[T], func: Callable[P, T], *args: P.args, **kwargs: P.kwargs
    ) -> Thread[T]: ...

    @overload
    def spawn(
        self: ThreadGroup[T],
        func: Callable[[Unpack[Ts]], T],
        *args: Unpack[Ts],
        daemon: bool = ...,
        name: str | None = ...,
    ) -> Thread[T]: ...

    @overload
    def spawn(
        self: ThreadGroup[T],
        func: Callable[[Unpack[Ts]], T],
        *args: Unpack[Ts],
        daemon: bool,
        name: str | None = ...,
        **kwargs: Any,
    ) -> Thread[T]: ...

    @overload
    def spawn(
        self: ThreadGroup[T],
        func: Callable[[Unpack[Ts]], T],
        *args: Unpack[Ts],
        name: str | None,
        **kwargs: Any,
    ) -> Thread[T]: ...

    def spawn(  # type: ignore[misc]
        self,
        func: Callable[..., TR],
        *args: Any,
        daemon: bool = False,
        name: str | None = None,
        **kwargs: Any,
    ) -> Thread[TR]:
        """Spawn a thread into the group (see :func:`thredo.spawn`; typed the same way)."""
        if self._joined:
            raise RuntimeError("ThreadGroup already joined")
        t = spawn(func, *args, daemon=daemon, name=name, **kwargs)
        self.add_thread(t)
        return t

    def _thread_done(self, t: Thread[TR]) -> None:
        """Exit observer of every member."""
        with self._mutex:
            if t.group is not self:
                return
            if t.daemon:
                self._daemonic.discard(t)
            elif t in self._running:
                self._running.discard(t)
                self._finished.append(t)
                # All: join() and next_done() may both be waiting, and each
                # re-checks; waking one could wake the one that loses the race.
                self._done.notify_all()

    def _discard(self, t: Thread[TR]) -> None:
        """Forget ``t`` (it was joined directly, or cancelled by cancel_remaining)."""
        with self._mutex:
            if t.group is not self:
                return
            t.group = None
            self._threads.discard(t)
            self._running.discard(t)
            self._daemonic.discard(t)
            try:
                self._finished.remove(t)
            except ValueError:
                pass
            self._done.notify_all()  # waiters re-check: maybe nothing is left

    def statistics(self) -> ThreadGroupStatistics:
        """A snapshot of the group's bookkeeping (a test hook, as trio's and anyio's)."""
        with self._mutex:
            return ThreadGroupStatistics(
                len(self._running), len(self._finished), len(self._daemonic), len(self._done)
            )

    @property
    def threads(self) -> list[Thread[TR]]:
        """Every tracked thread, in creation order."""
        with self._mutex:
            return sorted(self._threads, key=lambda t: t.id)

    # -- waiting ----------------------------------------------------------

    def next_done(self) -> Thread[TR] | None:
        """Wait for the next thread to finish and return it (None if none left).

        The thread leaves the group; its failure counts as retrieved.
        """
        with self._mutex:
            self._done.wait_until(self._mutex, self._settled, None, "ThreadGroup.next_done", self)
            if not self._finished:
                return None
            t = self._finished.popleft()
            t.group = None
            self._threads.discard(t)
        t._retrieved = True
        t.wait()
        return t

    def _settled(self) -> bool:
        """A finished thread to look at, or none left running (mutex held)."""
        return bool(self._finished) or not self._running

    def next_result(self) -> TR:
        """The result of the next thread to finish (raising its exception)."""
        t = self.next_done()
        if t is None:
            raise RuntimeError("No thread available")
        return t.result

    def __iter__(self) -> Iterator[Thread[TR]]:
        return self

    def __next__(self) -> Thread[TR]:
        t = self.next_done()
        if t is None:
            raise StopIteration
        return t

    def cancel_remaining(self) -> None:
        """Cancel every running thread and wait until they exit; they leave the group."""
        with self._mutex:
            running = list(self._running)
        self._cancel_and_wait(running)
        for t in running:
            self._discard(t)

    @staticmethod
    def _cancel_and_wait(threads: list[Thread[Any]]) -> None:
        for t in threads:
            t.cancel(blocking=False)
        with disable_cancellation():  # nothing may outlive the group
            for t in threads:
                t.wait()

    def join(self) -> None:
        """Wait per the group's policy, then cancel what is left and wait for it."""
        wait = self._wait
        try:
            if wait is None:
                return
            with self._mutex:
                while True:
                    self._done.wait_until(
                        self._mutex, self._settled, None, "ThreadGroup.join", self
                    )
                    if not self._finished:
                        return  # nothing left running
                    while self._finished:
                        t = self._finished.popleft()
                        if _ended_by_cancel(t):
                            continue  # cancelled by someone: an outcome that decides nothing
                        exc, res = t._exception, t._result
                        if self.completed is None and not (
                            wait is object and exc is None and res is None
                        ):
                            self.completed = t
                        if exc is not None or wait is any or (wait is object and res is not None):
                            return
        finally:
            with self._mutex:
                left = list(self._running) + list(self._daemonic)
                self._joined = True
            self._cancel_and_wait(left)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, ty: type[BaseException] | None, *exc: object) -> None:
        if ty is not None:
            self.cancel_remaining()
        self.join()
        if ty is None:
            self._raise_unretrieved()

    def _raise_unretrieved(self) -> None:
        """Leaving the block: a member's failure the body did not retrieve is raised."""
        with self._mutex:
            members = list(self._threads)
        failed = [t for t in members if not t._retrieved and _failed(t)]
        if not failed:
            return
        first = min(failed, key=lambda t: t._finish_order)
        for t in failed:
            t._retrieved = True  # reported here, as the cause (or in its context)
        raise ThreadError(
            f"thread {first.name!r} of the ThreadGroup failed and the block did not "
            "retrieve its failure"
        ) from first._exception

    # -- outcome (after join) -----------------------------------------------

    def _check_joined(self) -> None:
        if not self._joined:
            raise RuntimeError("ThreadGroup not yet joined")

    @property
    def result(self) -> TR:
        """Result of the first thread to complete (per the policy); raises its error."""
        self._check_joined()
        if self.completed is None:
            raise RuntimeError("No thread successfully completed")
        return self.completed.result

    @property
    def exception(self) -> BaseException | None:
        """Exception of the first thread to complete, or None."""
        self._check_joined()
        return self.completed.exception if self.completed is not None else None

    @property
    def results(self) -> list[TR]:
        """Results of the tracked threads in creation order, leaving out cancelled ones.

        A member ended by a cancel (:attr:`cancelled` lists them: cancelled
        by another thread, the monitor, or the group itself) has no result
        and is not in the list; ``exceptions`` still shows its exception.

        Raises:
            BaseException: the first failure (in finishing order) of a member
                that failed by itself; a cancellation that escaped a member not
                cancelled by anyone (e.g. its own ``timeout_after``) otherwise.
        """
        self._check_joined()
        threads = self.threads
        for t in threads:
            t._retrieved = True
        kept = [t for t in threads if not _ended_by_cancel(t)]
        failed = [t for t in kept if t._exception is not None]
        if failed:
            real = [t for t in failed if _is_failure(t._exception)] or failed
            raise min(real, key=lambda t: t._finish_order)._exception  # type: ignore[misc]
        return [t._result for t in kept]

    @property
    def cancelled(self) -> list[Thread[TR]]:
        """The tracked threads that ended because they were cancelled, in creation order."""
        self._check_joined()
        return [t for t in self.threads if _ended_by_cancel(t)]

    @property
    def exceptions(self) -> list[BaseException | None]:
        """Exceptions (or None) of all tracked threads in creation order."""
        self._check_joined()
        return [t.exception for t in self.threads]
