"""sleep, timeout_after, ignore_after, disable_cancellation.

A ``timeout_after`` block pushes an absolute deadline on the calling
thread's deadline stack (``ThreadState.deadlines``); every wait in
``thredo._core._wait`` waits at most until the nearest armed deadline and then raises
``ThreadTimeout(now)``.  The rules for nested blocks are curio's
(``curio/time.py``), applied as the exception leaves each block:

1. the outermost block whose deadline has passed reports it: it raises
   ``ThreadTimeout`` (or, for ``ignore_after``, swallows it and sets
   ``expired``);
2. blocks inside it see ``TimeoutCancellationError`` instead, so an inner
   handler of its own timeout does not mistake an outer one for it;
3. a timeout exception that matches no expired deadline raises
   ``UncaughtTimeoutError`` (it escaped the block it belonged to).

A deadline fires once, and is re-armed when an inner block exits, so an
outer deadline that passed during an inner block fires at the next
blocking call.  Timeouts only work in thredo threads, where waits look at
deadlines; a block in a plain thread raises ``RuntimeError``.

``disable_cancellation`` defers cancellation, and the deadlines of blocks
outside it, until the outermost ``disable_cancellation`` block exits; the
deferred exception is raised at the next blocking call after that.
"""

from __future__ import annotations

import os
import sys
import time
import warnings
from collections.abc import Callable
from time import monotonic
from types import FrameType, TracebackType
from typing import TYPE_CHECKING, Any, TypeVar, overload

from curio.errors import TaskTimeout
from curio.errors import TimeoutCancellationError as _CurioTimeoutCancellation

from ._errors import (
    ThreadTimeout,
    TimeoutCancellationError,
    UncancellableWarning,
    UncaughtTimeoutError,
)
from ._wait import ThreadState, Waiter, checkpoint, current_state, park

_INF = float("inf")
T = TypeVar("T")
R = TypeVar("R")
if TYPE_CHECKING:
    # Type checkers only (they bundle typing_extensions' stubs): no run-time
    # dependency.  The call forms check ``args`` against ``func``.
    from typing_extensions import TypeVarTuple, Unpack

    Ts = TypeVarTuple("Ts")

__all__ = ("sleep", "timeout_after", "ignore_after", "disable_cancellation", "nan_is_zero")


def nan_is_zero(timeout: float | None) -> float | None:
    """A NaN timeout times out at once (as ``threading.Condition.wait(nan)``), never spins."""
    if timeout is not None and timeout != timeout:
        return 0.0
    return timeout


def sleep(seconds: float) -> None:
    """Sleep, cancellably in a thredo thread; ``sleep(0)`` yields the GIL.

    As ``time.sleep`` otherwise; in a thredo thread it is a cancellation
    point and obeys ``timeout_after`` (``sleep(0)`` included).

    Raises:
        ValueError: ``seconds`` is negative or NaN.
    """
    if seconds != seconds:
        raise ValueError("Invalid value NaN (not a number)")
    if seconds < 0:
        raise ValueError("sleep length must be non-negative")
    st = current_state()
    if st is None:
        time.sleep(seconds)
        return
    if seconds == 0:
        checkpoint()
        # Not time.sleep(0): that is a clock_nanosleep padded to the timer
        # slack (~85 us measured); sched_yield releases the GIL in ~1 us.
        os.sched_yield()
        return
    exc = park(Waiter(), seconds, None, "sleep")
    if exc is not None:
        raise exc


#: A block that ends more than this many seconds after its deadline, the
#: deadline never delivered, warns (UncancellableWarning).  Pure-Python work
#: between two blocking calls may overrun a deadline a little; that is not
#: worth a warning.
LATE_WARNING_SLACK = 0.05


class _TimeoutAfter:
    """The context manager returned by timeout_after() and ignore_after()."""

    __slots__ = (
        "_seconds",
        "_ignore",
        "_timeout_result",
        "_st",
        "_deadline",
        "_fired",
        "_where",
        "expired",
        "result",
    )

    def __init__(
        self,
        seconds: float | None,
        where: FrameType,
        ignore: bool = False,
        timeout_result: Any = None,
    ):
        if seconds is not None and seconds != seconds:  # NaN
            raise ValueError("timeout must be a number, not NaN")
        self._seconds = seconds
        self._ignore = ignore
        self._timeout_result = timeout_result
        self._st: ThreadState | None = None
        self._deadline = _INF
        self._fired = 0
        self._where = (where.f_code.co_filename, where.f_lineno)
        self.expired = False
        self.result: Any = True

    def __enter__(self) -> _TimeoutAfter:
        st = current_state()
        if st is None:
            raise RuntimeError("timeout_after()/ignore_after() need a thredo thread")
        seconds = self._seconds
        self._deadline = deadline = _INF if seconds is None else monotonic() + seconds
        self._fired = st.fired
        st.push_deadline(deadline)
        self._st = st
        return self

    def _warn_if_late(self, st: ThreadState) -> None:
        """The block ended well past its deadline and nothing delivered it: say so."""
        # Counted from the later of the deadline and the last thredo call that
        # returned past it (_wait.note_return): a thredo call is never blamed.
        late = monotonic() - max(self._deadline, st.returned)
        if late > LATE_WARNING_SLACK and st.fired == self._fired and not st.nocancel:
            filename, lineno = self._where
            warnings.warn_explicit(
                f"the {'ignore_after' if self._ignore else 'timeout_after'}({self._seconds}) "
                f"block at {filename}:{lineno} ended {late:.3f} s after its deadline: it sat "
                "in a call thredo cannot interrupt (time.sleep, a threading lock, "
                "a C extension's own I/O, or long pure-Python work)",
                UncancellableWarning,
                filename,
                lineno,
            )

    def __exit__(
        self,
        ty: type[BaseException] | None,
        val: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        st = self._st
        assert st is not None
        deadlines = st.deadlines
        try:
            if ty is None:
                if monotonic() >= self._deadline:
                    # The deadline passed where it could not be delivered (an
                    # uncancellable call, pure-Python work): the work is done,
                    # so nothing is raised after the fact, but it is no secret.
                    self.expired = True
                    if self._ignore:
                        self.result = self._timeout_result
                    self._warn_if_late(st)
                return False
            if not issubclass(ty, (TaskTimeout, _CurioTimeoutCancellation)):
                return False
            clock = val.args[0] if val is not None and val.args else monotonic()
            for n, deadline in enumerate(deadlines):  # noqa: B007 - the outermost expired one
                if deadline <= clock:
                    break
            else:
                raise UncaughtTimeoutError("Uncaught timeout received")
            if n < len(deadlines) - 1:  # an outer block's deadline
                if issubclass(ty, TaskTimeout):
                    raise TimeoutCancellationError(clock).with_traceback(tb) from None
                return False
            self.result = self._timeout_result
            self.expired = True
            if self._ignore:
                return True
            if issubclass(ty, _CurioTimeoutCancellation):
                raise ThreadTimeout(clock).with_traceback(tb) from None
            return False
        finally:
            st.pop_deadline()


@overload
def timeout_after(seconds: float | None, func: None = None) -> _TimeoutAfter: ...


@overload
def timeout_after(
    seconds: float | None, func: Callable[[Unpack[Ts]], T], *args: Unpack[Ts]
) -> T: ...


# The ignore: mypy's check that the implementation accepts every overload's
# parameters does not follow ``Unpack[Ts]`` (it does accept them).
def timeout_after(  # type: ignore[misc]
    seconds: float | None, func: Callable[..., Any] | None = None, *args: Any
) -> Any:
    """Raise ``ThreadTimeout`` if the block (or ``func(*args)``) takes longer.

    Without ``func``, returns a context manager; with it, calls
    ``func(*args)`` under the timeout and returns its result.

    A deadline that passes inside a call thredo cannot interrupt
    (``time.sleep``, a ``threading`` lock, a C extension's own I/O) is
    delivered at the block's next thredo blocking call.  If the block ends
    first, nothing is raised after the fact -- its work is done and its
    result kept -- but the context manager's ``expired`` is true, and an
    :class:`~thredo.UncancellableWarning` names the block when it ended more
    than ``LATE_WARNING_SLACK`` late.
    """
    cm = _TimeoutAfter(seconds, sys._getframe(1))
    if func is None:
        return cm
    with cm:
        return func(*args)


@overload
def ignore_after(
    seconds: float | None, func: None = None, *, timeout_result: Any = None
) -> _TimeoutAfter: ...


@overload
def ignore_after(
    seconds: float | None,
    func: Callable[[Unpack[Ts]], T],
    *args: Unpack[Ts],
    timeout_result: R,
) -> T | R: ...


@overload
def ignore_after(
    seconds: float | None, func: Callable[[Unpack[Ts]], T], *args: Unpack[Ts]
) -> T | None: ...


def ignore_after(  # type: ignore[misc]  # (Unpack[Ts]: see timeout_after)
    seconds: float | None,
    func: Callable[..., Any] | None = None,
    *args: Any,
    timeout_result: Any = None,
) -> Any:
    """Like :func:`timeout_after`, but expiry just ends the block.

    The context manager's ``expired`` tells whether time ran out, and its
    ``result`` is then ``timeout_result``.  The call form returns
    ``func(*args)``, or ``timeout_result`` on expiry.  A deadline that passed
    inside a call thredo cannot interrupt, the block ending by itself, counts
    as expiry too (``expired`` true, ``result`` ``timeout_result``); the call
    form then returns what ``func`` returned (see :func:`timeout_after`).
    """
    cm = _TimeoutAfter(seconds, sys._getframe(1), ignore=True, timeout_result=timeout_result)
    if func is None:
        return cm
    with cm:
        return func(*args)
    return timeout_result


class disable_cancellation:
    """Defer cancellation (and outer timeouts) until the block exits.

    For cleanup that must finish.  Nestable; a no-op in plain threads.
    """

    __slots__ = ("_st",)

    def __enter__(self) -> disable_cancellation:
        self._st = current_state()
        if self._st is not None:
            self._st.disable()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._st is not None:
            self._st.enable()
