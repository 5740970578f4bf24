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
          └── TimeoutCancellationError   (curio's, unchanged)
    Exception
     └── ThreadError                     (curio.TaskError); __cause__ is the failure
"""

from __future__ import annotations

from curio.errors import (
    CancelledError,
    TaskCancelled,
    TaskError,
    TaskTimeout,
    TimeoutCancellationError,
    UncaughtTimeoutError,
)

__all__ = (
    "CancelledError",
    "ThreadCancelled",
    "ThreadTimeout",
    "TimeoutCancellationError",
    "UncaughtTimeoutError",
    "ThreadError",
)


class ThreadCancelled(TaskCancelled):
    """Raised in a thredo thread at the blocking call where it was cancelled."""


class ThreadTimeout(TaskTimeout):
    """Raised out of a ``timeout_after`` block whose deadline expired.

    ``args[0]`` is the clock (``time.monotonic()``) at which it was raised.
    """


class ThreadError(TaskError):
    """``Thread.join()`` of a thread that failed; ``__cause__`` is the failure."""
