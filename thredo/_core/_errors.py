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

from typing import TYPE_CHECKING

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


def _clock_sentence(what: str, args: tuple[object, ...]) -> str:
    if args and isinstance(args[0], float):
        return f"{what} (at time.monotonic() {args[0]:.3f})"
    return str(args[0]) if args else what


class ThreadCancelled(_TaskCancelled):
    """Raised in a thredo thread at the blocking call where it was cancelled."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "the thread was cancelled"


class ThreadTimeout(_TaskTimeout):
    """Raised out of a ``timeout_after`` block whose deadline expired.

    ``args[0]`` is the clock (``time.monotonic()``) at which it was raised.
    """

    def __str__(self) -> str:
        return _clock_sentence("the timeout_after deadline expired", self.args)


class TimeoutCancellationError(_TimeoutCancellationError):
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
