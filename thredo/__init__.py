"""thredo: threads on async.

Real OS threads whose blocking calls are cancellable, obey ``timeout_after``
and run under thread groups, on a curio kernel started by :func:`run`.

Layout -- each module uses only modules on lower lines (checked by
``tests/test_layers.py``, which reads this table)::

    # layer  module               job
    # 0      _core._errors        every exception
    # 0      _core._runctx        one run: its thread registry and its kernel inbox (post)
    # 0      _chunks              a read buffer of chunks (pipes, makefile): nothing copied twice
    # 0      _meta                exported objects report their public home
    # 0      _speedups            the optional C accelerator: socket recv/send, Lock (no Python)
    # 1      _accel               loads the accelerator once; a stale build is refused
    # 1      _core._wait          the wait mechanism: per-thread state, Waiter, WaitQueue, park
    # 2      _core._await         AWAIT: curio coroutines run by the kernel for a thread
    # 2      _core._fdwait        waits on file descriptors (eventfd, budget, shared epoll)
    # 2      _core._timeouts      sleep, timeout_after, ignore_after, disable_cancellation
    # 3      _core._kernel        run_kernel(): the curio kernel that owns a run, Ctrl-C
    # 4      _core                the core's one surface: re-exports only (its docstring: rules)
    # 5      _sync                Lock, RLock, Condition, Semaphore, Event, Barrier
    # 5      _threads             Thread, ThreadGroup, spawn; the thread-exit protocol
    # 5      net._pipes           cancellable pipe file objects (Popen's stdin/stdout/stderr)
    # 5      net._makefile        makefile()'s file objects: cancellable, a cut read loses nothing
    # 5      net._streams         SocketStream, FileStream
    # 5      net._usertimeout     the user-visible timeout of thredo sockets
    # 5      net._worker          blocking calls with no cancellable form (DNS), in a worker
    # 5      net.select           the stdlib select module, cancellable
    # 6      _executor            ThreadPoolExecutor: concurrent.futures' pool on thredo threads
    # 6      _introspect          ps(), dump(): what every live thread is doing
    # 6      _queue               Queue, LifoQueue, PriorityQueue, SimpleQueue
    # 6      _signals             SignalEvent
    # 6      net.selectors        the stdlib selectors module, cancellable
    # 6      net.socket           the stdlib socket module, cancellable
    # 6      net.subprocess       the stdlib subprocess module, cancellable; child reaping on cancel
    # 7      _monitor             the monitor server of a live process (its own OS thread)
    # 7      net.ssl              the stdlib ssl module, cancellable
    # 8      _run                 run(): the main thread, the monitor, the core's kernel
    # 8      monitor              python -m thredo.monitor PID: the monitor's client
    # 8      net._servers         tcp_server, unix_server, open_connection
    # 9      net                  the public networking namespace
    # 10     _mixin               ThredoMixIn: socketserver servers on thredo threads
    # 10     _patch               patch()/more_magic(): modules imported on thredo's stdlib
    # 10     requests             get_session(): a requests.Session whose requests cancel
    # 11     thredo               this public namespace: re-exports only

A module uses modules of a lower layer only, and its number is exactly one
more than the highest it needs (importing ``thredo.net.x`` runs ``net``'s
``__init__`` too, so it counts as needing ``net``).  Outside ``_core`` only the
names of the core's surface are used (``from ._core import ...``), and only
the core imports curio.  The public namespaces only re-export.
"""

import sys as _sys
import threading as _threading
from collections.abc import Sequence as _Sequence
from importlib.machinery import ModuleSpec as _ModuleSpec
from types import ModuleType as _ModuleType
from typing import TYPE_CHECKING as _TYPE_CHECKING

from ._core import AWAIT as AWAIT
from ._core import BlockedOn as BlockedOn
from ._core import CancelledError as CancelledError
from ._core import ThreadCancelled as ThreadCancelled
from ._core import ThreadError as ThreadError
from ._core import ThreadTimeout as ThreadTimeout
from ._core import TimeoutCancellationError as TimeoutCancellationError
from ._core import UncancellableWarning as UncancellableWarning
from ._core import UncaughtTimeoutError as UncaughtTimeoutError
from ._core import disable_cancellation as disable_cancellation
from ._core import ignore_after as ignore_after
from ._core import sleep as sleep
from ._core import timeout_after as timeout_after
from ._meta import fixup_module_metadata as _fixup_module_metadata

# Start-up (issue 22.9): only the core is imported with thredo; every other
# name is loaded when first used (PEP 562 ``__getattr__``), so ``import
# thredo`` costs little more than ``import curio`` (net, ssl, http.server,
# subprocess and the introspection are each ~10-40 ms).  The imports below
# are what the type checker reads; at run time ``__getattr__`` does them.
if _TYPE_CHECKING:
    from . import net as net
    from ._executor import ThreadPoolExecutor as ThreadPoolExecutor
    from ._introspect import BlockedInfo as BlockedInfo
    from ._introspect import ThreadInfo as ThreadInfo
    from ._introspect import dump as dump
    from ._introspect import ps as ps
    from ._mixin import ThreadingHTTPServer as ThreadingHTTPServer
    from ._mixin import ThreadingTCPServer as ThreadingTCPServer
    from ._mixin import ThredoMixIn as ThredoMixIn
    from ._patch import more_magic as more_magic
    from ._patch import patch as patch
    from ._queue import Empty as Empty
    from ._queue import Full as Full
    from ._queue import LifoQueue as LifoQueue
    from ._queue import PriorityQueue as PriorityQueue
    from ._queue import Queue as Queue
    from ._queue import QueueStatistics as QueueStatistics
    from ._queue import ShutDown as QueueShutDown
    from ._queue import SimpleQueue as SimpleQueue
    from ._queue import SimpleQueueStatistics as SimpleQueueStatistics
    from ._run import run as run
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
    from ._threads import TIMEOUT_MAX as TIMEOUT_MAX
    from ._threads import ExceptHookArgs as ExceptHookArgs
    from ._threads import Thread as Thread
    from ._threads import ThreadGroup as ThreadGroup
    from ._threads import ThreadGroupStatistics as ThreadGroupStatistics
    from ._threads import Timer as Timer
    from ._threads import active_count as active_count
    from ._threads import current_thread as current_thread
    from ._threads import enumerate as enumerate
    from ._threads import excepthook as excepthook
    from ._threads import get_ident as get_ident
    from ._threads import get_native_id as get_native_id
    from ._threads import main_thread as main_thread
    from ._threads import setprofile as setprofile
    from ._threads import settrace as settrace
    from ._threads import spawn as spawn
    from ._threads import stack_size as stack_size
    from .net import socket as socket

# name -> (the module it comes from, relative to thredo; its name there)
_LAZY: dict[str, tuple[str, str]] = {
    "net": ("", "net"),
    "ThreadPoolExecutor": ("_executor", "ThreadPoolExecutor"),
    "BlockedInfo": ("_introspect", "BlockedInfo"),
    "ThreadInfo": ("_introspect", "ThreadInfo"),
    "dump": ("_introspect", "dump"),
    "ps": ("_introspect", "ps"),
    "ThreadingHTTPServer": ("_mixin", "ThreadingHTTPServer"),
    "ThreadingTCPServer": ("_mixin", "ThreadingTCPServer"),
    "ThredoMixIn": ("_mixin", "ThredoMixIn"),
    "more_magic": ("_patch", "more_magic"),
    "patch": ("_patch", "patch"),
    "LifoQueue": ("_queue", "LifoQueue"),
    "PriorityQueue": ("_queue", "PriorityQueue"),
    "Queue": ("_queue", "Queue"),
    "QueueStatistics": ("_queue", "QueueStatistics"),
    "QueueShutDown": ("_queue", "ShutDown"),
    "SimpleQueue": ("_queue", "SimpleQueue"),
    "SimpleQueueStatistics": ("_queue", "SimpleQueueStatistics"),
    "run": ("_run", "run"),
    "SignalEvent": ("_signals", "SignalEvent"),
    "Barrier": ("_sync", "Barrier"),
    "BarrierStatistics": ("_sync", "BarrierStatistics"),
    "BoundedSemaphore": ("_sync", "BoundedSemaphore"),
    "BrokenBarrierError": ("_sync", "BrokenBarrierError"),
    "Condition": ("_sync", "Condition"),
    "ConditionStatistics": ("_sync", "ConditionStatistics"),
    "Event": ("_sync", "Event"),
    "EventStatistics": ("_sync", "EventStatistics"),
    "Lock": ("_sync", "Lock"),
    "LockStatistics": ("_sync", "LockStatistics"),
    "RLock": ("_sync", "RLock"),
    "Semaphore": ("_sync", "Semaphore"),
    "SemaphoreStatistics": ("_sync", "SemaphoreStatistics"),
    "Thread": ("_threads", "Thread"),
    "ThreadGroup": ("_threads", "ThreadGroup"),
    "ThreadGroupStatistics": ("_threads", "ThreadGroupStatistics"),
    "active_count": ("_threads", "active_count"),
    "current_thread": ("_threads", "current_thread"),
    "enumerate": ("_threads", "enumerate"),
    "spawn": ("_threads", "spawn"),
    "Empty": ("_queue", "Empty"),
    "Full": ("_queue", "Full"),
    "Timer": ("_threads", "Timer"),
    "main_thread": ("_threads", "main_thread"),
    "get_ident": ("_threads", "get_ident"),
    "get_native_id": ("_threads", "get_native_id"),
    "TIMEOUT_MAX": ("_threads", "TIMEOUT_MAX"),
    "stack_size": ("_threads", "stack_size"),
    "settrace": ("_threads", "settrace"),
    "setprofile": ("_threads", "setprofile"),
    "excepthook": ("_threads", "excepthook"),
    "ExceptHookArgs": ("_threads", "ExceptHookArgs"),
    "socket": ("net", "socket"),
}


def __getattr__(name: str) -> object:
    """Import a public name's module on first use, then keep the name here (PEP 562)."""
    try:
        home, attr = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    # Literal imports, one per module, so the layering check sees them.
    if home in ("", "net"):
        import thredo.net
    elif home == "_executor":
        import thredo._executor
    elif home == "_introspect":
        import thredo._introspect
    elif home == "_mixin":
        import thredo._mixin
    elif home == "_patch":
        import thredo._patch
    elif home == "_queue":
        import thredo._queue
    elif home == "_run":
        import thredo._run
    elif home == "_signals":
        import thredo._signals
    elif home == "_sync":
        import thredo._sync
    elif home == "_threads":
        import thredo._threads  # noqa: F401 (bound as thredo; read from sys.modules)
    module = _sys.modules[f"{__name__}.{home or 'net'}"]
    value = module if home == "" else getattr(module, attr)
    globals()[name] = value
    _fixup_module_metadata(globals(), __name__, (name,))
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


class _SocketAlias:
    """``thredo.socket`` is ``thredo.net.socket`` (the original thredo's import path).

    A finder on ``sys.meta_path`` for that one name, so that ``import
    thredo.socket`` and ``from thredo.socket import *`` work without
    importing the networking layer with thredo.  The module keeps its own
    ``__spec__`` (the import system sets the alias's on what the loader gives).
    """

    def find_spec(
        self, fullname: str, path: _Sequence[str] | None, target: _ModuleType | None = None
    ) -> _ModuleSpec | None:
        if fullname != __name__ + ".socket":
            return None
        return _ModuleSpec(fullname, self)  # type: ignore[arg-type]  # a Loader by its methods

    def create_module(self, spec: _ModuleSpec) -> _ModuleType:
        import thredo.net.socket

        self.spec = thredo.net.socket.__spec__
        return thredo.net.socket

    def exec_module(self, module: _ModuleType) -> None:
        module.__spec__ = self.spec


_sys.meta_path.append(_SocketAlias())

local = _threading.local  # thredo threads are real threads: threading.local is theirs

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
    "ThreadPoolExecutor",
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
    "Empty",
    "Full",
    "Timer",
    "main_thread",
    "get_ident",
    "get_native_id",
    "TIMEOUT_MAX",
    "stack_size",
    "settrace",
    "setprofile",
    "excepthook",
    "ExceptHookArgs",
)

_fixup_module_metadata(globals(), __name__, tuple(n for n in __all__ if n not in _LAZY))
