"""thredo: threads on async.

Real OS threads whose blocking calls are cancellable, obey ``timeout_after``
and run under thread groups, on a curio kernel started by :func:`run`.

Layout: ``_hop`` is the one wait/wake mechanism; ``_kernel`` runs the curio
kernel (``run``, ``AWAIT``, Ctrl-C); ``_thread``, ``_group`` and
``_timeouts`` are the core API on top of it; ``_errors`` holds every
exception; ``net/`` holds cancellable networking.
"""

import sys as _sys

from . import net as net
from ._errors import CancelledError as CancelledError
from ._errors import ThreadCancelled as ThreadCancelled
from ._errors import ThreadError as ThreadError
from ._errors import ThreadTimeout as ThreadTimeout
from ._errors import TimeoutCancellationError as TimeoutCancellationError
from ._errors import UncaughtTimeoutError as UncaughtTimeoutError
from ._group import ThreadGroup as ThreadGroup
from ._kernel import AWAIT as AWAIT
from ._kernel import run as run
from ._queue import LifoQueue as LifoQueue
from ._queue import PriorityQueue as PriorityQueue
from ._queue import Queue as Queue
from ._queue import ShutDown as QueueShutDown
from ._queue import SimpleQueue as SimpleQueue
from ._signals import SignalEvent as SignalEvent
from ._sync import Barrier as Barrier
from ._sync import BoundedSemaphore as BoundedSemaphore
from ._sync import BrokenBarrierError as BrokenBarrierError
from ._sync import Condition as Condition
from ._sync import Event as Event
from ._sync import Lock as Lock
from ._sync import RLock as RLock
from ._sync import Semaphore as Semaphore
from ._thread import Thread as Thread
from ._thread import current_thread as current_thread
from ._thread import spawn as spawn
from ._timeouts import disable_cancellation as disable_cancellation
from ._timeouts import ignore_after as ignore_after
from ._timeouts import sleep as sleep
from ._timeouts import timeout_after as timeout_after
from .net import socket as socket

# The original thredo's import path: `from thredo.socket import *`.
_sys.modules[__name__ + ".socket"] = socket

__version__ = "0.1.0"

__all__ = (
    "run",
    "spawn",
    "Thread",
    "current_thread",
    "sleep",
    "timeout_after",
    "ignore_after",
    "disable_cancellation",
    "ThreadGroup",
    "AWAIT",
    "Lock",
    "RLock",
    "Condition",
    "Semaphore",
    "BoundedSemaphore",
    "Event",
    "Barrier",
    "BrokenBarrierError",
    "Queue",
    "LifoQueue",
    "PriorityQueue",
    "SimpleQueue",
    "QueueShutDown",
    "SignalEvent",
    "CancelledError",
    "ThreadCancelled",
    "ThreadTimeout",
    "TimeoutCancellationError",
    "UncaughtTimeoutError",
    "ThreadError",
)
