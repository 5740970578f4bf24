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

from curio import errors as _curio

CancelledError = _curio.CancelledError

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


class ThreadCancelled(_curio.TaskCancelled):
    """Raised in a thredo thread at the blocking call where it was cancelled."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "the thread was cancelled"


class ThreadTimeout(_curio.TaskTimeout):
    """Raised out of a ``timeout_after`` block whose deadline expired.

    ``args[0]`` is the clock (``time.monotonic()``) at which it was raised.
    """

    def __str__(self) -> str:
        return _clock_sentence("the timeout_after deadline expired", self.args)


class TimeoutCancellationError(_curio.TimeoutCancellationError):
    """Seen inside a block when an *outer* ``timeout_after`` deadline expired.

    ``args[0]`` is the clock at which it was raised.
    """

    def __str__(self) -> str:
        return _clock_sentence("an outer timeout_after deadline expired", self.args)


class UncaughtTimeoutError(_curio.UncaughtTimeoutError):
    """A timeout exception escaped the ``timeout_after`` block it belonged to."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "a timeout escaped its timeout_after block"


class ThreadError(_curio.TaskError):
    """``Thread.join()`` of a thread that failed; ``__cause__`` is the failure."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "a thredo thread failed"


class UncancellableWarning(RuntimeWarning):
    """A ``timeout_after``/``ignore_after`` deadline passed where thredo could not deliver it.

    The block's thread sat in a call thredo cannot interrupt (``time.sleep``,
    a ``threading`` lock, a C extension's own I/O) when the deadline came;
    the warning names the block's file and line and how late it ended.
    """
