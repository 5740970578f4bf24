"""The core of thredo: the one wait mechanism, and the kernel that owns a run.

What the core is
----------------

thredo's threads are real OS threads; what makes them *thredo* threads is
that every blocking call ends in one wait mechanism, and that mechanism
looks at the thread's state -- a pending cancellation, the nearest
``timeout_after`` deadline -- whenever it waits or wakes.  The core is
that mechanism and what it needs, nothing else:

* ``_errors``   every exception thredo raises (curio's classes, subclassed);
* ``_runctx``   one run: its registry of live threads, its kernel inbox (``post``);
* ``_wait``     per-thread state, ``Waiter``/``WaitQueue``, ``park``, ``checkpoint``;
* ``_fdwait``   waits on descriptors: a per-thread eventfd, or a shared epoll;
* ``_timeouts`` ``sleep``, ``timeout_after``, ``ignore_after``, ``disable_cancellation``;
* ``_await``    ``AWAIT``: curio coroutines run by the kernel for a thread;
* ``_kernel``   ``run_kernel``: the curio kernel of a run, its phases, Ctrl-C.

Everything else in thredo -- the primitives (``_sync``, ``_queue``), threads
and groups (``_threads``), ``net``, the monitor, introspection, the
compatibility layer -- is built on the names below and on nothing else of
the core.

Rules
-----

1. **This module is the surface.**  Code outside ``thredo._core`` imports
   only names listed in ``__all__`` here, never a ``_core._x`` module or a
   private name, and reaches no attribute of a core module
   (``tests/test_layers.py`` checks what the code *uses*, however it is
   spelled).
2. **curio's internals stay inside.**  ``curio.traps``, ``curio.Kernel`` and
   the other curio names appear in the core only; the rest of thredo sees
   thredo's exceptions and ``AWAIT``.
3. **The core knows nothing above it.**  It calls upward only through the
   Protocols below (``Member``, ``MainThread``, ``Interruptible``;
   ``ThreadState.thread`` is a ``Member``): a thread is whatever satisfies
   them.
4. **Waits are in the waiting thread.**  A wake-up goes straight from the
   thread that makes progress to the waiter's lock (or eventfd); the
   kernel is on the path only of what needs it (``AWAIT``, the shared
   epoll, Ctrl-C), always through ``RunContext.post``.
5. **Per-run state lives on the run** (``RunContext``), per-thread state on
   the thread (``ThreadState``); module globals are process-wide facts only
   (the fd budget, the set of states that want attention).  Every shared
   structure has a lock, or a comment saying why it needs none that holds
   without the GIL too.
6. **A notified waiter always completes** (a cancel never loses a wake-up,
   an item, a lock); a delivered cancellation is raised once.

The surface
-----------

Exceptions (also thredo's public ones)::

    CancelledError, ThreadCancelled, ThreadTimeout, TimeoutCancellationError,
    UncaughtTimeoutError, ThreadError, UncancellableWarning
    set_partial     put a cut call's partial result on its exception, computed
                    when first read if the exception is thredo's
    partial_of      that result (or what it will be) without computing it
    Joined          b"".join(chunks), once, on the first call

Runs::

    RunContext      one run: registry (add/exited/live), post(callback), on_close
    Member          Protocol: what the registry needs of a thread
    MainThread      Protocol: what the kernel needs of a run's main thread
    Callback        what post() takes
    run_kernel      run a MainThread under a new curio kernel; its outcome

Per-thread state and waits::

    ThreadState     one thread's cancel, deadlines, nocancel depth, parked, blocked
    current_state   the calling thread's ThreadState (None: a plain thread)
    set_state       install a thread's state (a thredo thread's first and last act)
    Interruptible   Protocol: what a thread can be parked on
    BlockedOn       what a thread is blocked in (call, obj, since, until)
    blocked_on      a ThreadState's BlockedOn now, or None
    Waiter          one blocked call: a locked lock, wake(value), interrupt()
    WaitQueue       FIFO of Waiters under the owner's mutex: wait, wait_until, notify
    park            block on a Waiter until woken, cancelled or timed out
    checkpoint      raise the calling thread's pending cancel or expired deadline
    note_return     a thredo call returns: time past a deadline from here is not
                    spent in an uncancellable call (UncancellableWarning)
    attention       the set of states with something pending: ``if attention:
                    checkpoint()`` is the one fast form of a cancellation point

Descriptors::

    POLLIN, POLLOUT      events for wait_fd
    wait_fd              block until an fd is ready (cancellable, obeys deadlines)
    notify_closing       wake every wait on an fd being closed (trio's name)
    closing_waiters      take an fd's waiters before closing it ...
    wake_closed          ... and wake them after (what notify_closing does in two)
    eventfd_budget       how many per-thread eventfds may be open
    EVENTFD_SHARE        that budget as a share of RLIMIT_NOFILE

Time::

    sleep, timeout_after, ignore_after, disable_cancellation
    nan_is_zero     a NaN timeout as 0.0 (times out at once, as the stdlib's Condition)

curio coroutines::

    AWAIT           run a curio coroutine in the kernel for the calling thread
"""

from ._await import AWAIT
from ._errors import (
    CancelledError,
    Joined,
    ThreadCancelled,
    ThreadError,
    ThreadTimeout,
    TimeoutCancellationError,
    UncancellableWarning,
    UncaughtTimeoutError,
    partial_of,
    set_partial,
)
from ._fdwait import (
    EVENTFD_SHARE,
    POLLIN,
    POLLOUT,
    closing_waiters,
    eventfd_budget,
    notify_closing,
    wait_fd,
    wake_closed,
)
from ._kernel import MainThread, run_kernel
from ._runctx import Callback, Member, RunContext
from ._timeouts import disable_cancellation, ignore_after, nan_is_zero, sleep, timeout_after
from ._wait import (
    BlockedOn,
    Interruptible,
    ThreadState,
    Waiter,
    WaitQueue,
    attention,
    blocked_on,
    checkpoint,
    current_state,
    note_return,
    park,
    set_state,
)

__all__ = (
    # exceptions
    "CancelledError",
    "ThreadCancelled",
    "ThreadTimeout",
    "TimeoutCancellationError",
    "UncaughtTimeoutError",
    "ThreadError",
    "UncancellableWarning",
    "set_partial",
    "partial_of",
    "Joined",
    # runs
    "RunContext",
    "Member",
    "MainThread",
    "Callback",
    "run_kernel",
    # per-thread state and waits
    "ThreadState",
    "current_state",
    "set_state",
    "Interruptible",
    "BlockedOn",
    "blocked_on",
    "Waiter",
    "WaitQueue",
    "park",
    "checkpoint",
    "note_return",
    "attention",
    # descriptors
    "POLLIN",
    "POLLOUT",
    "wait_fd",
    "notify_closing",
    "closing_waiters",
    "wake_closed",
    "eventfd_budget",
    "EVENTFD_SHARE",
    # time
    "sleep",
    "timeout_after",
    "ignore_after",
    "disable_cancellation",
    "nan_is_zero",
    # curio coroutines
    "AWAIT",
)
