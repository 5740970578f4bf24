"""thredo: threads on async.

Real OS threads whose blocking calls are cancellable, obey ``timeout_after``
and run under thread groups, on a curio kernel started by :func:`run`.

Layout -- each module imports only modules on lower lines (checked by
``tests/test_layers.py``, which reads this table)::

    # layer  module               job
    # 0      _errors              every exception
    # 0      _meta                exported objects report their public home
    # 1      _runctx              one run: its thread registry and its kernel inbox (post)
    # 2      _wait                the wait mechanism: per-thread state, Waiter, WaitQueue, park
    # 3      _fdwait              waits on file descriptors (eventfd, budget, shared epoll)
    # 3      _timeouts            sleep, timeout_after, ignore_after, disable_cancellation
    # 3      _await               AWAIT: curio coroutines run by the kernel for a thread
    # 4      _thread              Thread, ThreadGroup, spawn; the thread-exit protocol
    # 4      _sync                Lock, RLock, Condition, Semaphore, Event, Barrier
    # 5      _queue               Queue, LifoQueue, PriorityQueue, SimpleQueue
    # 5      _signals             SignalEvent
    # 5      _introspect          ps(), dump(): what every live thread is doing
    # 6      _monitor             the monitor server of a live process (its own OS thread)
    # 6      net._usertimeout     the user-visible timeout of thredo sockets
    # 6      net._worker          blocking calls with no cancellable form (DNS), in a worker
    # 6      net._streams         SocketStream, FileStream
    # 6      net._pipes           cancellable pipe file objects (Popen's stdin/stdout/stderr)
    # 6      net.select           the stdlib select module, cancellable
    # 7      net.socket           the stdlib socket module, cancellable
    # 7      net.subprocess       the stdlib subprocess module, cancellable; child reaping on cancel
    # 7      net.selectors        the stdlib selectors module, cancellable
    # 8      net.ssl              the stdlib ssl module, cancellable
    # 9      net._servers         tcp_server, unix_server, open_connection
    # 9      _mixin               ThredoMixIn: socketserver servers on thredo threads
    # 10     net                  the public networking namespace
    # 10     _patch               patch()/more_magic(): modules imported on thredo's stdlib
    # 10     _kernel              run(): the curio kernel that owns a run, Ctrl-C, the monitor
    # 11     thredo               this public namespace: re-exports only
    # 12     requests             get_session(): a requests.Session whose requests cancel
    # 12     monitor              python -m thredo.monitor PID: the monitor's client

A module may import modules of a lower layer only (same-layer modules do
not import each other).  The public namespaces only re-export.
"""

import sys as _sys
import threading as _threading

from . import net as net
from ._await import AWAIT as AWAIT
from ._errors import CancelledError as CancelledError
from ._errors import ThreadCancelled as ThreadCancelled
from ._errors import ThreadError as ThreadError
from ._errors import ThreadTimeout as ThreadTimeout
from ._errors import TimeoutCancellationError as TimeoutCancellationError
from ._errors import UncancellableWarning as UncancellableWarning
from ._errors import UncaughtTimeoutError as UncaughtTimeoutError
from ._introspect import BlockedInfo as BlockedInfo
from ._introspect import ThreadInfo as ThreadInfo
from ._introspect import dump as dump
from ._introspect import ps as ps
from ._kernel import run as run
from ._meta import fixup_module_metadata as _fixup_module_metadata
from ._mixin import ThreadingHTTPServer as ThreadingHTTPServer
from ._mixin import ThreadingTCPServer as ThreadingTCPServer
from ._mixin import ThredoMixIn as ThredoMixIn
from ._patch import more_magic as more_magic
from ._patch import patch as patch
from ._queue import LifoQueue as LifoQueue
from ._queue import PriorityQueue as PriorityQueue
from ._queue import Queue as Queue
from ._queue import QueueStatistics as QueueStatistics
from ._queue import ShutDown as QueueShutDown
from ._queue import SimpleQueue as SimpleQueue
from ._queue import SimpleQueueStatistics as SimpleQueueStatistics
from ._signals import SignalEvent as SignalEvent
from ._sync import Barrier as Barrier
from ._sync import BarrierStatistics as BarrierStatistics
from ._sync import BoundedSemaphore as BoundedSemaphore
from ._sync import BrokenBarrierError as BrokenBarrierError
from ._sync import Condition as Condition
from ._sync import ConditionStatistics as ConditionStatistics
from ._sync import Event as Event
from ._sync import EventStatistics as EventStatistics
from ._sync import Lock as Lock
from ._sync import LockStatistics as LockStatistics
from ._sync import RLock as RLock
from ._sync import Semaphore as Semaphore
from ._sync import SemaphoreStatistics as SemaphoreStatistics
from ._thread import Thread as Thread
from ._thread import ThreadGroup as ThreadGroup
from ._thread import ThreadGroupStatistics as ThreadGroupStatistics
from ._thread import active_count as active_count
from ._thread import current_thread as current_thread
from ._thread import enumerate as enumerate
from ._thread import spawn as spawn
from ._timeouts import disable_cancellation as disable_cancellation
from ._timeouts import ignore_after as ignore_after
from ._timeouts import sleep as sleep
from ._timeouts import timeout_after as timeout_after
from ._wait import BlockedOn as BlockedOn
from .net import socket as socket

local = _threading.local  # thredo threads are real threads: threading.local is theirs

# The original thredo's import path: `from thredo.socket import *`.
_sys.modules[__name__ + ".socket"] = socket

__version__ = "0.1.0"

__all__ = (
    "run",
    "spawn",
    "Thread",
    "current_thread",
    "enumerate",
    "active_count",
    "local",
    "BlockedOn",
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
    "ThreadGroupStatistics",
    "LockStatistics",
    "ConditionStatistics",
    "SemaphoreStatistics",
    "EventStatistics",
    "BarrierStatistics",
    "QueueStatistics",
    "SimpleQueueStatistics",
    "CancelledError",
    "ThreadCancelled",
    "ThreadTimeout",
    "TimeoutCancellationError",
    "UncaughtTimeoutError",
    "UncancellableWarning",
    "ThreadError",
    "ThredoMixIn",
    "ThreadingTCPServer",
    "ThreadingHTTPServer",
    "patch",
    "more_magic",
    "ps",
    "dump",
    "ThreadInfo",
    "BlockedInfo",
)

_fixup_module_metadata(globals(), __name__, __all__)
