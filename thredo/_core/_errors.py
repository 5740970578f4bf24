"""Every exception thredo raises.

Cancellation exceptions derive from :class:`BaseException` (through curio's
``CancelledError``), so ``except Exception`` never swallows a cancel or a
timeout.  They subclass curio's own classes, so code that runs curio
coroutines through :func:`thredo.AWAIT` can catch either name.

::

    BaseException
     └── CancelledError                  (curio.CancelledError)
          ├── ThreadCancelled            (curio.TaskCancelled)
          ├── ThreadTimeout              (curio.TaskTimeout)
          ├── TimeoutCancellationError   (curio.TimeoutCancellationError)
          └── UncaughtTimeoutError       (curio.UncaughtTimeoutError)
    Exception
     └── ThreadError                     (curio.TaskError); __cause__ is the failure
    RuntimeWarning
     └── UncancellableWarning            a deadline thredo could not deliver

``str()`` of each is a sentence; the timeouts keep curio's ``args[0]``, the
clock reading at which they were raised.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    # curio ships no types, so to a type checker its classes are Any, and so
    # is every class derived from them: any attribute of a caught
    # ThreadTimeout or ThreadError (``e.bogus``) would pass unchecked.  Type
    # checkers see instead the hierarchy curio's classes have, declared from
    # the builtins; at run time the bases are curio's own.
    class CancelledError(BaseException):
        """Base class of every cancellation (curio's ``CancelledError``)."""

    class _TaskCancelled(CancelledError): ...

    class _TaskTimeout(CancelledError): ...

    class _TimeoutCancellationError(CancelledError): ...

    class _CurioError(Exception): ...

    class _UncaughtTimeoutError(_CurioError): ...

    class _TaskError(_CurioError): ...
else:
    from curio.errors import CancelledError as CancelledError
    from curio.errors import TaskCancelled as _TaskCancelled
    from curio.errors import TaskError as _TaskError
    from curio.errors import TaskTimeout as _TaskTimeout
    from curio.errors import TimeoutCancellationError as _TimeoutCancellationError
    from curio.errors import UncaughtTimeoutError as _UncaughtTimeoutError

__all__ = (
    "CancelledError",
    "ThreadCancelled",
    "ThreadTimeout",
    "TimeoutCancellationError",
    "UncaughtTimeoutError",
    "ThreadError",
    "UncancellableWarning",
)


class _PartialResults:
    """Attributes of a cut call's exception that are computed when first read.

    A call cut while data flows (a child that keeps its pipe full, a peer
    that never stops sending) reports what it had gathered -- ``bytes_read``,
    ``stdout`` -- and that may be hundreds of MB in chunks.  Joining them
    costs 0.5-0.7 ms per MB (113-143 ms for 210 MB, measured), which would
    make the call leave that much past its deadline (issue 22, item 1).  So
    the join waits until someone reads the attribute; the exception holds
    the chunks meanwhile (memory the call held already).  Set with
    :func:`set_partial`.  Hidden from type checkers: a misspelled attribute
    must still be an error to them.
    """

    if not TYPE_CHECKING:

        def __getattr__(self, name: str) -> Any:
            lazy = self.__dict__.get("_partial_results")
            compute = None if lazy is None else lazy.get(name)
            if compute is None:
                try:  # another thread computed it between our lookup and now
                    return self.__dict__[name]
                except KeyError:
                    raise AttributeError(
                        f"{type(self).__name__!r} object has no attribute {name!r}"
                    ) from None
            value = compute()
            self.__dict__[name] = value  # before the pop: a reader finds one or the other
            lazy.pop(name, None)
            return value


class Joined:
    """``b"".join(chunks)`` computed once, on the first call (shared by several attributes)."""

    __slots__ = ("_chunks", "_value")

    def __init__(self, chunks: list[bytes]) -> None:
        self._chunks: list[bytes] | None = chunks
        self._value = b""

    def __call__(self) -> bytes:
        chunks = self._chunks
        if chunks is not None:  # two threads at once join twice: equal values, no harm
            self._value = b"".join(chunks)
            self._chunks = None
        return self._value


def set_partial(e: BaseException, name: str, compute: Callable[[], Any]) -> None:
    """Set ``e.<name>`` to ``compute()``: when first read if ``e`` is thredo's, else now.

    Replaces an earlier value of the attribute, lazy or not.
    """
    if isinstance(e, _PartialResults):
        e.__dict__.pop(name, None)
        e.__dict__.setdefault("_partial_results", {})[name] = compute
    else:
        setattr(e, name, compute())


def partial_of(e: BaseException, name: str) -> Callable[[], Any] | None:
    """What ``e.<name>`` is or will be, without computing it: a callable, or None if unset."""
    if name in e.__dict__:  # as attribute lookup: a value set later hides a lazy one
        value = e.__dict__[name]
        return lambda: value
    lazy = e.__dict__.get("_partial_results")
    if lazy is not None and name in lazy:
        compute: Callable[[], Any] = lazy[name]
        return compute
    return None


def _clock_sentence(what: str, args: tuple[object, ...]) -> str:
    if args and isinstance(args[0], float):
        return f"{what} (at time.monotonic() {args[0]:.3f})"
    return str(args[0]) if args else what


class ThreadCancelled(_PartialResults, _TaskCancelled):
    """Raised in a thredo thread at the blocking call where it was cancelled."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "the thread was cancelled"


class ThreadTimeout(_PartialResults, _TaskTimeout):
    """Raised out of a ``timeout_after`` block whose deadline expired.

    ``args[0]`` is the clock (``time.monotonic()``) at which it was raised.
    """

    def __str__(self) -> str:
        return _clock_sentence("the timeout_after deadline expired", self.args)


class TimeoutCancellationError(_PartialResults, _TimeoutCancellationError):
    """Seen inside a block when an *outer* ``timeout_after`` deadline expired.

    ``args[0]`` is the clock at which it was raised.
    """

    def __str__(self) -> str:
        return _clock_sentence("an outer timeout_after deadline expired", self.args)


class UncaughtTimeoutError(_UncaughtTimeoutError):
    """A timeout exception escaped the ``timeout_after`` block it belonged to."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "a timeout escaped its timeout_after block"


class ThreadError(_TaskError):
    """``Thread.join()`` of a thread that failed; ``__cause__`` is the failure."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "a thredo thread failed"


class UncancellableWarning(RuntimeWarning):
    """A ``timeout_after``/``ignore_after`` deadline passed where thredo could not deliver it.

    The block's thread sat in a call thredo cannot interrupt (``time.sleep``,
    a ``threading`` lock, a C extension's own I/O) when the deadline came;
    the warning names the block's file and line and how late it ended.
    """
