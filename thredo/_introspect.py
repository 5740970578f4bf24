"""ps() and dump(): what every live thredo thread is doing, and who started it.

Theory of operation
-------------------

Nothing here records anything.  The wait mechanism already keeps, per
thread, the record a person needs (``ThreadState.blocked``, the fields of
a :class:`~thredo._core.BlockedOn` in a plain tuple: the call, the object,
since when, until when), set only while the thread really waits; the thread's state holds its
pending cancel and its ``timeout_after`` stack; the :class:`~thredo.Thread`
knows its group and (weakly) the thread that started it.  :func:`ps` reads
those fields -- each one a single reference read, so no lock of the thread
is taken and a thread that exits meanwhile is simply reported as it was --
and turns the waited-on object into words (:func:`_describe`)::

    thread X (waiting)             caller of ps() (any thread, the monitor's too)
    ------------------             ----------------------------------------------
    st.blocked = (call, obj, ...)  for t in run.live():
    lock.acquire() ......              b = blocked_on(t._state) (one read)
         :                             words = _describe(b.call, b.obj)
    st.blocked = None                  -> ThreadInfo(...)

Describing an object duck-types it (this module sits below the queues and
the network in the layers): ``statistics()`` for primitives and queues,
``getsockname``/``getpeername`` for sockets, ``pid`` for a child process.
Every description is guarded: a socket closed meanwhile, a queue subclass
whose ``_qsize`` raises, yield a shorter description, never an exception.

The holder of a :class:`~thredo.Lock` is known only when it got the lock by
waiting for it while others still wait (``Lock._holder``): the uncontended
acquire records nothing, so that it stays one raw lock operation.  An
``RLock`` always knows its owner.

Invariants: :func:`ps` and :func:`dump` never block on a thredo primitive
and hold no lock longer than a snapshot of a registry; they may be called
from any thread, including plain threads and the monitor's.

Waits thredo does not own (a ``threading`` or ``queue`` primitive of the
stdlib, ``time.sleep``, a stdlib socket) leave no record; :func:`_stack_wait`
reads them from the thread's Python stack (``sys._current_frames()``) and
reports them as blocked, *not cancellable*.  The same reading describes the
process's other threads (the kernel's, the monitor's, plain ones) in
:func:`snapshot`'s ``"others"``, and a ``socketserver`` loop's selector wait
as ``serve_forever on HOST:PORT``.

Non-goals: a history of waits (only the current one); C code that blocks
with no Python frame of its own naming the call shows as running.
"""

from __future__ import annotations

import ast
import builtins
import functools
import inspect
import json
import linecache
import os
import queue
import re
import select
import selectors
import shlex
import socket
import sys
import threading
import time
import traceback
import types
import warnings
from _thread import allocate_lock, get_ident
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from types import FrameType
from typing import IO, Any, Literal

from ._core import RunContext, blocked_on, current_state
from ._sync import Lock
from ._threads import Thread, ThreadGroup

__all__ = (
    "ThreadInfo",
    "BlockedInfo",
    "FrameInfo",
    "ps",
    "dump",
    "snapshot",
    "live_threads",
    "stack_of",
    "deadlocks",
    "format_deadlocks",
    "track_lock_owners",
    "lock_owner",
    "LOCK_OWNERS_ENV",
    "JSON_VERSION",
)

#: The ``"version"`` of :func:`dump`'s JSON (``docs/monitor.md``); raised
#: only when a field changes meaning or goes away (new fields may appear).
JSON_VERSION = 1


@dataclass(frozen=True, slots=True)
class BlockedInfo:
    """What a blocked thread waits for (part of :class:`ThreadInfo`).

    Attributes:
        call: the blocking call, as the user wrote it: ``"Queue.get"``,
            ``"Lock.acquire"``, ``"recv"``, ``"accept"``, ``"sleep"``,
            ``"wait"`` (a child process), ``"Thread.join"`` ...
        kind: what sort of object it waits on: ``"queue"``, ``"lock"``,
            ``"socket"``, ``"listener"``, ``"process"``, ``"thread"``,
            ``"group"``, ``"event"``, ``"condition"``, ``"semaphore"``,
            ``"barrier"``, ``"pipe"``, ``"server"``, ``"none"`` (sleep) or
            ``"object"``.
        object: the object in words: ``"Queue 0x7f3a1c2b (0 items)"``,
            ``"socket 127.0.0.1:25000 <- 127.0.0.1:51234"`` ...
        since: ``time.monotonic()`` when the wait began.
        waited: seconds it has waited so far.
        time_left: seconds until the call's own timeout ends it (what is
            left of a ``sleep``, a ``get(timeout=...)``, a socket timeout);
            None when it has none.
        size: items in the queue (queues).
        maxsize: the queue's bound (queues; ``<= 0``: unbounded).
        holder: id of the thredo thread holding the lock, when known.
        holder_name: name of the thread holding the lock (also a plain
            thread's), when known.
        local: the socket's local address (``"host:port"`` or a path).
        peer: the socket's peer address, when connected.
        pid: the child process's pid (``wait``/``communicate``).
        thread: id of the thread being joined (``Thread.join``).
        cancellable: False for a wait thredo does not own, seen on the
            thread's stack (a ``threading``/``queue`` primitive of the
            stdlib, ``time.sleep``, a stdlib socket): a cancel or a deadline
            reaches the thread only once that call returns.  ``since`` is
            then the time of the snapshot and ``waited`` 0 (not known).
    """

    call: str
    kind: str
    object: str
    since: float
    waited: float
    time_left: float | None = None
    size: int | None = None
    maxsize: int | None = None
    holder: int | None = None
    holder_name: str | None = None
    local: str | None = None
    peer: str | None = None
    pid: int | None = None
    thread: int | None = None
    cancellable: bool = True

    def __str__(self) -> str:
        text = f"{self.call} on {self.object}" if self.kind != "none" else self.call
        if not self.cancellable:
            text += " (not cancellable: not a thredo call)"
        else:
            text += f" for {_secs(self.waited)}"
        if self.time_left is not None:
            text += f", {_secs(self.time_left)} left"
        return text


@dataclass(frozen=True, slots=True)
class FrameInfo:
    """One frame of a thread's stack (``dump(stacks=True)``, the monitor's ``where``)."""

    file: str
    line: int | None
    function: str
    code: str | None

    def to_json(self) -> dict[str, Any]:
        """The frame as JSON-ready data."""
        return {"file": self.file, "line": self.line, "function": self.function, "code": self.code}


@dataclass(frozen=True, slots=True)
class ThreadInfo:
    """One live thredo thread, as :func:`ps` reports it (a snapshot).

    Attributes:
        id: the thread's :attr:`thredo.Thread.id` (what the monitor's
            ``where ID``/``cancel ID`` take).
        name: its name.
        ident: its ``threading`` ident (keys ``sys._current_frames()``).
        native_id: the operating system's thread id (``top -H``, ``gdb``).
        daemon: whether it is a daemon thread.
        state: ``"blocked"`` while it waits in a thredo call for another
            thread, the network, a child or the clock, or in a stdlib wait
            seen on its stack (``blocked.cancellable`` False); else
            ``"running"``.
        blocked: what it waits for (None when running).
        deadline: seconds left before its innermost ``timeout_after``
            deadline (negative once passed); None when it has none.
        cancel_pending: a cancel waits to be delivered at its next
            blocking call (e.g. it is inside ``disable_cancellation``).
        parent: id of the thredo thread that started it; None for the
            main thread of a run.
        group: an id of its :class:`thredo.ThreadGroup` (the group's
            ``id()``, shared by its members), or None.
    """

    id: int
    name: str
    ident: int | None
    native_id: int | None
    daemon: bool
    state: Literal["running", "blocked"]
    blocked: BlockedInfo | None
    deadline: float | None
    cancel_pending: bool
    parent: int | None
    group: int | None

    def __str__(self) -> str:
        text = f"#{self.id} {self.name}"
        if self.daemon:
            text += " (daemon)"
        text += f": blocked in {self.blocked}" if self.blocked is not None else ": running"
        if self.deadline is not None:
            text += f"; deadline in {_secs(self.deadline)}"
        if self.cancel_pending:
            text += "; cancel pending"
        return text

    def to_json(self) -> dict[str, Any]:
        """The record as JSON-ready data (``docs/monitor.md``)."""
        # Not dataclasses.asdict: it deep-copies every value, 5x slower here.
        d = {f: getattr(self, f) for f in _THREAD_FIELDS}
        b = self.blocked
        if b is not None:
            d["blocked"] = {f: getattr(b, f) for f in _BLOCKED_FIELDS}
        return d

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ThreadInfo:
        """The record back from :meth:`to_json`'s data (unknown keys are ignored)."""
        fields = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
        b = fields.get("blocked")
        if b is not None:
            names = BlockedInfo.__dataclass_fields__
            fields["blocked"] = BlockedInfo(**{k: v for k, v in b.items() if k in names})
        return cls(**fields)


_THREAD_FIELDS = tuple(ThreadInfo.__dataclass_fields__)
_BLOCKED_FIELDS = tuple(BlockedInfo.__dataclass_fields__)


def _secs(s: float) -> str:
    if s < 0:
        return f"-{_secs(-s)}"
    if s < 10:
        return f"{s:.2f}s"
    if s < 3600:
        return f"{s:.0f}s"
    return f"{s / 3600:.1f}h"


def _addr(a: Any) -> str | None:
    """``host:port`` (``[host]:port`` for IPv6), a Unix path as given."""
    if isinstance(a, tuple) and len(a) >= 2:
        host, port = a[0], a[1]
        return f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"
    if isinstance(a, bytes):
        a = a.decode(errors="replace")
    if a == "" or a is None:
        return None
    return str(a)


def _short(obj: object) -> str:
    return f"{type(obj).__name__} {id(obj):#x}"


_KINDS = {
    "Lock": "lock",
    "RLock": "lock",
    "Condition": "condition",
    "Semaphore": "semaphore",
    "BoundedSemaphore": "semaphore",
    "Event": "event",
    "Barrier": "barrier",
    "SignalEvent": "event",
}


def _describe(
    call: str, obj: object, by_ident: dict[int, Thread[Any]]
) -> tuple[str, str, dict[str, Any]]:
    """(kind, words, facts) for the object a thread waits on; never raises."""
    facts: dict[str, Any] = {}
    if obj is None:
        return "none", "nothing", facts
    try:
        if isinstance(obj, Thread):
            facts["thread"] = obj.id
            return "thread", f"thread #{obj.id} {obj.name!r}", facts
        if isinstance(obj, ThreadGroup):
            st = obj.statistics()
            return "group", f"{_short(obj)} ({st.running} running)", facts
        if hasattr(obj, "getsockname"):
            return _describe_socket(call, obj, facts)
        sock = getattr(obj, "_sock", None)  # a SocketStream: its socket
        if callable(sock) and call in ("read", "write"):
            s = sock()
            if hasattr(s, "getsockname"):
                kind, words, facts = _describe_socket(call, s, facts)
                return kind, f"stream over {words}", facts
        pid = getattr(obj, "pid", None)
        if isinstance(pid, int) and hasattr(obj, "returncode"):
            facts["pid"] = pid
            return "process", f"child pid {pid}{_command(getattr(obj, 'args', None))}", facts
        stats = getattr(obj, "statistics", None)
        if callable(stats):
            return _describe_stats(obj, stats(), by_ident, facts)
        live = getattr(obj, "live", None)  # a server's handler set (server.wait_idle)
        if isinstance(live, set):
            return "server", f"{len(live)} handler threads to exit", facts
        fileno = getattr(obj, "fileno", None)
        if callable(fileno):
            return "pipe", f"{type(obj).__name__} fd {fileno()}", facts
    except Exception:  # closed meanwhile, a subclass that raises: say less
        pass
    return "object", _short(obj), facts


def _command(args: Any) -> str:
    """`` (python -c 'import time; ...')``: a child's command line, shortened."""
    if isinstance(args, (list, tuple)) and args:
        words = [os.path.basename(os.fsdecode(args[0]))] + [os.fsdecode(a) for a in args[1:]]
        text = shlex.join(words)
    elif isinstance(args, (str, bytes)):
        text = os.fsdecode(args)
    else:
        return ""
    return f" ({text[:57] + '...' if len(text) > 60 else text})"


def _describe_socket(
    call: str, sock: Any, facts: dict[str, Any]
) -> tuple[str, str, dict[str, Any]]:
    try:
        facts["local"] = local = _addr(sock.getsockname())
    except (OSError, ValueError):
        local = None
    try:
        facts["peer"] = peer = _addr(sock.getpeername())
    except (OSError, ValueError):  # not connected, or closed
        peer = None
    if call == "accept":
        return "listener", f"listener {local or '?'}", facts
    words = "socket"
    if local is not None:
        words += f" {local}"
    if peer is not None:
        words += f" <- {peer}" if call.startswith("recv") else f" -> {peer}"
    return "socket", words, facts


def _describe_stats(
    obj: object, st: Any, by_ident: dict[int, Thread[Any]], facts: dict[str, Any]
) -> tuple[str, str, dict[str, Any]]:
    name = type(obj).__name__
    size = getattr(st, "qsize", None)
    if isinstance(size, int):  # a queue
        facts["size"] = size
        maxsize = getattr(st, "maxsize", None)
        bound = ""
        if isinstance(maxsize, int):
            facts["maxsize"] = maxsize
            bound = f" of {maxsize}" if maxsize > 0 else ""
        return "queue", f"{_short(obj)} ({size} items{bound})", facts
    kind = next((k for c, k in _KINDS.items() if c == name), None)
    if kind is None:
        kind = next(
            (_KINDS[c.__name__] for c in type(obj).__mro__ if c.__name__ in _KINDS), "object"
        )
    if kind == "condition":
        st = getattr(st, "lock", None) or st
    if hasattr(st, "locked") and hasattr(st, "owner"):  # a lock (or a condition's lock)
        owner = st.owner
        if owner is None and st.locked:
            target = getattr(obj, "_lock", None) if kind == "condition" else obj
            holder = lock_owner(target)  # every holder, with tracking on
            if holder is None:
                holder = getattr(target, "_holder", None)
            lk = getattr(target, "_lock", None)
            if holder is not None and lk is not None and lk.locked():
                owner = holder
        held = "unlocked"
        if st.locked:
            held = f"held; holder not recorded (taken uncontended; {LOCK_OWNERS_ENV}=1 records it)"
            if owner is not None:
                t = by_ident.get(owner)
                if t is not None:
                    facts["holder"] = t.id
                    facts["holder_name"] = t.name
                    held = f"held by #{t.id} {t.name!r}"
                else:
                    plain = threading._active.get(owner)  # type: ignore[attr-defined]
                    pname = plain.name if plain is not None else f"thread {owner}"
                    facts["holder_name"] = pname
                    held = f"held by {pname!r}"
        return kind, f"{_short(obj)} ({held})", facts
    if kind == "semaphore":
        return kind, f"{_short(obj)} (value {getattr(st, 'value', '?')})", facts
    if kind == "barrier":
        return kind, f"{_short(obj)} ({getattr(st, 'n_waiting', '?')} waiting)", facts
    return kind, _short(obj), facts


# -- waits thredo does not own: read from the thread's Python stack ----------------------
#
# A thread waiting in a stdlib primitive has no BlockedOn record.  Its stack
# says where it is: the innermost frames in threading.py/queue.py (the call
# the user made is the outermost of them, its ``self`` the object), or a
# user frame whose current line calls a C-level blocking function on an
# object the line names (``lock.acquire()``, ``with lock:``, ``time.sleep``).
# Only names and attributes are resolved (never a call or a property), so
# reading a stack runs no code of the program.

_STDLIB_WAITS = {
    os.path.normcase(m.__file__ or ""): m.__name__ for m in (threading, queue, selectors)
}
#: select.poll()/epoll() objects: their poll() waits (the kernel's, the monitor's loops).
_POLLERS: tuple[type, ...] = tuple(
    t
    for t in (
        type(select.poll()) if hasattr(select, "poll") else None,  # takes no descriptor
        getattr(select, "epoll", None),  # the class itself: no descriptor made
    )
    if t is not None
)
_LOCK_TYPES = (type(allocate_lock()), type(threading.RLock()))
#: Calls that, innermost in threading.py/queue.py, mean the thread waits.
_WAIT_CALLS = frozenset(
    {"acquire", "__enter__", "wait", "join", "_wait_for_tstate_lock", "poll", "select"}
)
#: threading.Thread's own frames under a thread's target (``target=event.wait``).
_BOOTSTRAP = frozenset({"run", "_bootstrap", "_bootstrap_inner"})
_SOCKET_WAITS = frozenset(
    {"recv", "recv_into", "recvfrom", "recvfrom_into", "accept", "connect", "send", "sendall"}
)
_OWNER = re.compile(r"\bowner=(\d+)")


def _calls_on_line(frame: FrameType) -> tuple[tuple[str, ast.expr | None], ...]:
    """The method calls and ``with`` items of the frame's current line: (name, receiver)."""
    return _calls_in(linecache.getline(frame.f_code.co_filename, frame.f_lineno).strip())


@functools.lru_cache(maxsize=1024)  # a blocked thread's line is read at every snapshot
def _calls_in(line: str) -> tuple[tuple[str, ast.expr | None], ...]:
    if not line:
        return ()
    tree = None
    for text in (line, line + " pass"):  # `with lock:` / `if lock.acquire():` need a body
        try:
            tree = ast.parse(text)
            break
        except SyntaxError:
            continue
    if tree is None:
        return ()
    found: list[tuple[str, ast.expr | None]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.With):
            found.extend(("__enter__", item.context_expr) for item in node.items)
        elif isinstance(node, ast.Call):
            if isinstance(node.func, ast.Attribute):
                found.append((node.func.attr, node.func.value))
            elif isinstance(node.func, ast.Name):
                found.append((node.func.id, None))
    return tuple(found)


_MISSING = object()


def _resolve(expr: ast.expr, frame: FrameType) -> object:
    """The value of a name or attribute chain in ``frame``; _MISSING if anything else."""
    if isinstance(expr, ast.Name):
        for scope in (frame.f_locals, frame.f_globals, builtins.__dict__):
            if expr.id in scope:
                return scope[expr.id]
        return _MISSING
    if isinstance(expr, ast.Attribute):
        base = _resolve(expr.value, frame)
        if base is _MISSING:
            return _MISSING
        try:
            v = inspect.getattr_static(base, expr.attr)
        except AttributeError:
            return _MISSING
        if isinstance(v, types.MemberDescriptorType):  # a __slots__ attribute
            try:
                return v.__get__(base)
            except AttributeError:
                return _MISSING
        if isinstance(v, (property, types.GetSetDescriptorType)):
            return _MISSING  # would run code
        return v
    return _MISSING


def _thread_name(ident: int, by_ident: dict[int, Thread[Any]]) -> tuple[int | None, str]:
    t = by_ident.get(ident)
    if t is not None:
        return t.id, t.name
    plain = threading._active.get(ident)  # type: ignore[attr-defined]
    return None, plain.name if plain is not None else f"thread {ident}"


def _describe_plain(
    obj: object, by_ident: dict[int, Thread[Any]]
) -> tuple[str, str, dict[str, Any]]:
    """(kind, words, facts) for a stdlib object a thread waits on; never raises."""
    facts: dict[str, Any] = {}
    try:
        if isinstance(obj, _LOCK_TYPES):
            kind = "lock"
            text = repr(obj)  # a C RLock has no locked() before 3.14, nor an owner but here
            held = "unlocked" if text.startswith("<unlocked") else "held"
            m = _OWNER.search(text)
            if m is not None and int(m.group(1)):
                tid, name = _thread_name(int(m.group(1)), by_ident)
                facts["holder_name"] = name
                if tid is not None:
                    facts["holder"] = tid
                held = f"held by {f'#{tid} ' if tid is not None else ''}{name!r}"
            elif held == "held":
                held = "held; a threading lock has no owner"
            return kind, f"{_short(obj)} ({held})", facts
        if isinstance(obj, threading.Thread):
            return "thread", f"thread {obj.name!r}", facts
        if isinstance(obj, queue.Queue):
            facts["size"] = size = len(obj.queue)  # no qsize(): it takes the mutex
            facts["maxsize"] = obj.maxsize
            bound = f" of {obj.maxsize}" if obj.maxsize > 0 else ""
            return "queue", f"{_short(obj)} ({size} items{bound})", facts
        if isinstance(obj, threading.Event):
            return "event", f"{_short(obj)} ({'set' if obj.is_set() else 'not set'})", facts
        if isinstance(obj, threading.Condition):
            return "condition", _short(obj), facts
        if isinstance(obj, threading.Semaphore):
            return "semaphore", f"{_short(obj)} (value {obj._value})", facts
        if isinstance(obj, threading.Barrier):
            return "barrier", f"{_short(obj)} ({obj.n_waiting} waiting)", facts
        if isinstance(obj, socket.socket):
            return _describe_socket("recv", obj, facts)
    except Exception:  # closed meanwhile: say less
        pass
    return "object", _short(obj), facts


def _stack_wait(
    frame: FrameType | None, now: float, by_ident: dict[int, Thread[Any]]
) -> BlockedInfo | None:
    """What a thread with no thredo record waits in, read from its stack; None: running."""
    if frame is None:
        return None
    try:
        mod = _STDLIB_WAITS.get(os.path.normcase(frame.f_code.co_filename))
        if mod is not None:
            if not any(name in _WAIT_CALLS for name, _ in _calls_on_line(frame)):
                return None  # inside threading.py, but not at a wait
            outer = frame
            while (
                outer.f_back is not None
                and os.path.normcase(outer.f_back.f_code.co_filename) in _STDLIB_WAITS
                and outer.f_back.f_code.co_name not in _BOOTSTRAP
            ):
                outer = outer.f_back
            mod = _STDLIB_WAITS[os.path.normcase(outer.f_code.co_filename)]
            me = outer.f_locals.get("self", _MISSING)
            if me is _MISSING:
                call, kind, words = f"{mod}.{outer.f_code.co_name}", "object", "?"
                facts: dict[str, Any] = {}
            else:
                call = f"{mod}.{type(me).__name__}.{outer.f_code.co_name}"
                kind, words, facts = _describe_plain(me, by_ident)
            return BlockedInfo(call, kind, words, now, 0.0, cancellable=False, **facts)
        for name, expr in _calls_on_line(frame):
            if expr is None:
                func = _resolve(ast.Name(id=name), frame)
                if func is time.sleep:
                    return BlockedInfo("time.sleep", "none", "nothing", now, 0.0, cancellable=False)
                continue
            obj = _resolve(expr, frame)
            if obj is time and name == "sleep":
                return BlockedInfo("time.sleep", "none", "nothing", now, 0.0, cancellable=False)
            if (obj is select and name == "select") or (
                isinstance(obj, _POLLERS) and name == "poll"
            ):
                call = "select.select" if obj is select else f"select.{type(obj).__name__}.poll"
                words = "descriptors" if obj is select else _short(obj)
                return BlockedInfo(call, "object", words, now, 0.0, cancellable=False)
            lock = isinstance(obj, _LOCK_TYPES) and name in ("acquire", "__enter__")
            sock = type(obj) is socket.socket and name in _SOCKET_WAITS
            if lock or sock:
                kind, words, facts = _describe_plain(obj, by_ident)
                if sock:
                    kind, words, facts = _describe_socket(name, obj, {})
                call = f"{'threading' if lock else 'socket'}.{type(obj).__name__}.{name}"
                if lock:
                    call = f"threading.{'RLock' if 'RLock' in type(obj).__name__ else 'Lock'}"
                    call += ".acquire"
                return BlockedInfo(call, kind, words, now, 0.0, cancellable=False, **facts)
    except Exception:  # a frame that changed under us: say nothing
        return None
    return None


_KERNEL_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_core", "_kernel.py")


def _role(t: threading.Thread, frame: FrameType | None) -> str:
    """What a plain thread is to thredo: ``kernel``, ``monitor``, ``thredo`` or ``plain``."""
    if t.name.startswith("thredo-monitor"):
        return "monitor"
    f = frame
    while f is not None:
        code = f.f_code
        if code.co_filename == _KERNEL_FILE:
            # The thread that called run(): it runs the curio kernel.  (Any
            # frame of the kernel module: a coroutine's frame may show no
            # caller, so run_kernel itself is not always on the stack.)
            return "kernel"
        f = f.f_back
    if t.name.startswith("thredo"):
        return "thredo"  # thredo's own helpers (signal, DNS worker)
    return "plain"


def _others(
    thredo_idents: set[int], frames: dict[int, FrameType], by_ident: dict[int, Thread[Any]]
) -> list[dict[str, Any]]:
    """The process's other threads (not thredo threads), as JSON-ready records."""
    now = time.monotonic()
    out: list[dict[str, Any]] = []
    for t in threading.enumerate():
        ident = t.ident
        if ident is None or ident in thredo_idents or ident not in frames:
            continue  # a thredo thread, or one that has not started or has ended
        frame = frames.get(ident)
        b = _stack_wait(frame, now, by_ident)
        out.append(
            {
                "name": t.name,
                "ident": ident,
                "native_id": t.native_id,
                "daemon": t.daemon,
                "role": _role(t, frame),
                "state": "blocked" if b is not None else "running",
                "blocked": None if b is None else {f: getattr(b, f) for f in _BLOCKED_FIELDS},
            }
        )
    order = {"kernel": 0, "plain": 1, "thredo": 2, "monitor": 3}
    out.sort(key=lambda d: (order[d["role"]], d["name"], d["ident"]))
    return out


# -- opt-in: the holder of every thredo Lock, and wait cycles ----------------------------
#
# A Lock taken uncontended records nothing: that acquire is one raw lock
# operation, the hottest path in thredo.  With THREDO_LOCK_OWNERS=1 (or
# track_lock_owners()), Lock's four entry points are wrapped to keep its
# holder in a side table, so every holder is known and a wait cycle can be
# named; it costs a dict store and a dict pop per acquire/release pair
# (docs/monitor.md has the measurement).  Off, Lock's methods are untouched.
#
# The table maps id() of a held Lock to the ident of the thread that took it.
# Its rule: the entry is written right after the lock is taken and removed
# right before it is released, so an entry names the thread that holds the
# lock now -- but for a Lock released by another thread while its holder is
# between its raw acquire and its store (not guarded: that rare).  Keyed by
# id(), not weakly by the lock (a WeakKeyDictionary made the pair 4.5x
# slower, 268 -> 1215 ns): a lock dropped while held leaves its entry, which
# is trusted only while a lock of that id is locked and was taken since
# tracking began (its acquire overwrites it).  A dict store and a pop need
# no lock of ours: each is one atomic dict operation (also free-threaded).

#: The environment variable that turns lock-owner tracking on at import.
LOCK_OWNERS_ENV = "THREDO_LOCK_OWNERS"

_owners: dict[int, int] = {}  # id(Lock) -> holder's ident
_unwrapped: dict[str, Any] = {}  # Lock's own methods while tracking is on


def track_lock_owners(on: bool = True) -> bool:
    """Turn recording every :class:`thredo.Lock`'s holder on or off; the previous setting.

    Thread safety: call it before the threads that use locks start, or
    accept that a lock taken before the switch shows its holder as not
    recorded until it is taken again.

    Returns:
        Whether tracking was on.

    Raises:
        TypeError: ``Lock``'s methods cannot be wrapped (an accelerated
            ``Lock`` type that offers no hook).
    """
    was = bool(_unwrapped)
    if on and not was:
        acquire, release = Lock.acquire, Lock.release
        enter, exit_ = Lock.__enter__, Lock.__exit__

        def traced_acquire(self: Lock, blocking: bool = True, timeout: float = -1) -> bool:
            ok = acquire(self, blocking, timeout)
            if ok:
                _owners[id(self)] = get_ident()
            return ok

        def traced_release(self: Lock) -> None:
            _owners.pop(id(self), None)  # before: the next holder's entry must survive
            release(self)

        def traced_enter(self: Lock) -> bool:
            ok = enter(self)
            _owners[id(self)] = get_ident()
            return ok

        def traced_exit(self: Lock, *exc: Any) -> None:
            _owners.pop(id(self), None)
            exit_(self, *exc)

        saved: dict[str, Callable[..., Any]] = {
            "acquire": acquire,
            "release": release,
            "__enter__": enter,
            "__exit__": exit_,
        }
        traced: dict[str, Callable[..., Any]] = {
            "acquire": traced_acquire,
            "release": traced_release,
            "__enter__": traced_enter,
            "__exit__": traced_exit,
        }
        for name, f in traced.items():
            setattr(Lock, name, functools.wraps(saved[name])(f))
        _unwrapped.update(saved)
    elif not on and was:
        for name, f in _unwrapped.items():
            setattr(Lock, name, f)
        _unwrapped.clear()
        _owners.clear()
    return was


def lock_owner(lock: object) -> int | None:
    """The ident of the thread holding thredo ``lock`` as tracking recorded it, or None."""
    return _owners.get(id(lock)) if isinstance(lock, Lock) else None


if os.environ.get(LOCK_OWNERS_ENV, "") not in ("", "0"):
    try:
        track_lock_owners()
    except TypeError as e:  # the program runs on, with holders recorded as before
        warnings.warn(f"{LOCK_OWNERS_ENV}: lock owners not tracked: {e}", RuntimeWarning, 2)


def deadlocks(infos: Iterable[ThreadInfo]) -> list[list[ThreadInfo]]:
    """The wait cycles among ``infos``: each a list of threads, each waiting for the next.

    A thread waits for another when it is blocked on a lock that thread
    holds (``blocked.holder``: known for an ``RLock``, a stdlib ``RLock``, a
    ``Lock`` taken by waiting, and every ``Lock`` with owner tracking on) or
    joins it (``blocked.thread``).  A cycle is a deadlock: no thread of it
    can go on until one is cancelled.
    """
    by_id = {i.id: i for i in infos}

    def waits_for(i: ThreadInfo) -> int | None:
        b = i.blocked
        if b is None:
            return None
        nxt = b.holder if b.kind in ("lock", "condition") else None
        if b.kind == "thread":
            nxt = b.thread
        return nxt if nxt in by_id else None

    cycles: list[list[ThreadInfo]] = []
    done: set[int] = set()
    for start in by_id:
        path: list[int] = []
        at: int | None = start
        while at is not None and at not in done and at not in path:
            path.append(at)
            at = waits_for(by_id[at])
        if at is not None and at in path:
            cycles.append([by_id[k] for k in path[path.index(at) :]])
        done.update(path)
    return cycles


def format_deadlocks(cycles: list[list[ThreadInfo]]) -> str:
    """The cycles of :func:`deadlocks` in words (empty when there are none)."""
    lines = []
    for cycle in cycles:
        lines.append(
            f"DEADLOCK: {len(cycle)} thread{'s' if len(cycle) != 1 else ''} wait in a cycle"
        )
        for i in cycle:
            lines.append(f"  #{i.id} {i.name!r} waits in {i.blocked}")
    return "\n".join(lines) + ("\n" if lines else "")


def _runs() -> list[RunContext]:
    st = current_state()
    return [st.run] if st is not None else RunContext.running()


def live_threads(runs: Iterable[RunContext]) -> list[Thread[Any]]:
    """The live thredo threads of ``runs``, oldest first (the monitor's view too)."""
    live: list[Thread[Any]] = []
    for run in runs:
        live.extend(t for t in run.live() if isinstance(t, Thread) and t.is_alive())
    live.sort(key=lambda t: t.id)
    return live


def _info(
    t: Thread[Any], now: float, by_ident: dict[int, Thread[Any]], frames: dict[int, FrameType]
) -> ThreadInfo:
    st = t._state
    rec = None if st is None else blocked_on(st)  # one read: the record is immutable
    blocked = None
    if rec is not None:
        kind, words, facts = _describe(rec.call, rec.obj, by_ident)
        call = rec.call
        if kind in ("pipe", "object") and t.ident is not None:
            # A socketserver's loop waits on a selector: say which server.
            server = _server_on_stack(frames.get(t.ident))
            if server is not None:
                call, kind, words, facts = server
        blocked = BlockedInfo(
            call,
            kind,
            words,
            rec.since,
            max(0.0, now - rec.since),
            None if rec.until is None else rec.until - now,
            **facts,
        )
    elif t.ident is not None:
        blocked = _stack_wait(frames.get(t.ident), now, by_ident)
    deadline = None
    if st is not None:
        finite = [d for d in list(st.deadlines) if d != float("inf")]  # list(): one C-level copy
        if finite:
            deadline = finite[-1] - now
    ref = t._parent
    parent = None if ref is None else ref()
    group = t.group
    return ThreadInfo(
        t.id,
        t.name,
        t.ident,
        t.native_id,
        t.daemon,
        "blocked" if blocked is not None else "running",
        blocked,
        deadline,
        st is not None and st.cancel_pending is not None,
        None if parent is None else parent.id,
        None if group is None else id(group),
    )


def _server_on_stack(frame: FrameType | None) -> tuple[str, str, str, dict[str, Any]] | None:
    """(call, kind, words, facts) of the ``socketserver`` loop on a stack, if any."""
    f = frame
    while f is not None:
        if f.f_code.co_name in ("serve_forever", "handle_request"):
            server = f.f_locals.get("self")
            addr = getattr(server, "server_address", None)  # a plain attribute of the server
            if addr is not None:
                local = _addr(addr)
                return f.f_code.co_name, "server", f"{local}", {"local": local}
        f = f.f_back
    return None


def _snapshot_threads(
    runs: Iterable[RunContext],
) -> tuple[list[Thread[Any]], list[ThreadInfo], dict[int, FrameType]]:
    live = live_threads(runs)
    by_ident = {t.ident: t for t in live if t.ident is not None}
    frames = sys._current_frames()  # one dict of references: cheap, and no lock of a thread
    now = time.monotonic()
    return live, [_info(t, now, by_ident, frames) for t in live], frames


def ps() -> list[ThreadInfo]:
    """The live thredo threads, as records, in the order they were created.

    From a thredo thread: the threads of its run; from any other thread
    (the monitor's, a plain thread's): those of every run in the process.
    Cheap (no lock of any thread is taken; see ``docs/monitor.md`` for the
    cost per call) and safe while threads come and go: a thread that exits
    during the call appears as it was, or not at all.

    Returns:
        One :class:`ThreadInfo` per thread, sorted by ``id``.
    """
    return _snapshot_threads(_runs())[1]


def _policy(g: ThreadGroup) -> str:
    wait = g._wait
    names = {builtins.all: "all", builtins.any: "any", object: "object"}
    return next((n for p, n in names.items() if wait is p), "None")


def stack_of(ident: int | None, frames: dict[int, Any]) -> list[FrameInfo]:
    """The stack of the OS thread ``ident`` in ``frames`` (``sys._current_frames()``)."""
    frame = frames.get(ident) if ident is not None else None
    if frame is None:
        return []
    return [
        FrameInfo(f.filename, f.lineno, f.name, f.line or None)
        for f in traceback.extract_stack(frame)
    ]


def snapshot(*, stacks: bool = False, runs: Iterable[RunContext] | None = None) -> dict[str, Any]:
    """What :func:`dump` prints, as JSON-ready data (the format of ``docs/monitor.md``)."""
    live, infos, frames = _snapshot_threads(_runs() if runs is None else runs)
    ids = {i.id for i in infos}
    groups: dict[int, dict[str, Any]] = {}
    for t, info in zip(live, infos, strict=True):
        g = t.group
        if g is not None and info.group is not None:
            entry = groups.get(info.group)
            if entry is None:
                entry = groups[info.group] = {
                    "id": info.group,
                    "wait": _policy(g),
                    "parent": info.parent if info.parent in ids else None,
                    "threads": [],
                }
            entry["threads"].append(info.id)
    threads = []
    for t, info in zip(live, infos, strict=True):
        d = info.to_json()
        if stacks:
            d["stack"] = [f.to_json() for f in stack_of(t.ident, frames)]
        threads.append(d)
    by_ident = {t.ident: t for t in live if t.ident is not None}
    others = _others(set(by_ident), frames, by_ident)
    if stacks:
        for o in others:
            o["stack"] = [f.to_json() for f in stack_of(o["ident"], frames)]
    return {
        "version": JSON_VERSION,
        "pid": os.getpid(),
        "time": time.time(),
        "threads": threads,
        "groups": list(groups.values()),
        "tree": _tree(infos, groups),
        "others": others,
        "deadlocks": [[i.id for i in cycle] for cycle in deadlocks(infos)],
    }


def _tree(infos: list[ThreadInfo], groups: dict[int, dict[str, Any]]) -> list[dict[str, Any]]:
    """Nodes ``{"thread": id, "children": [...]}`` / ``{"group": id, "children": [...]}``.

    A thread's children are the threads it started; members of a group sit
    under the group, which sits under the thread that started its first
    member.  A thread whose parent has exited is a root.
    """
    by_id = {i.id: i for i in infos}
    kids: dict[int | None, list[ThreadInfo]] = {}
    for i in infos:
        if i.group is not None and i.group in groups:
            continue  # placed under its group
        parent = i.parent if i.parent in by_id else None
        kids.setdefault(parent, []).append(i)
    group_at: dict[int | None, list[dict[str, Any]]] = {}
    for g in groups.values():
        group_at.setdefault(g["parent"], []).append(g)

    def node(i: ThreadInfo, seen: frozenset[int]) -> dict[str, Any]:
        seen = seen | {i.id}
        return {"thread": i.id, "children": children(i.id, seen)}

    def children(parent: int | None, seen: frozenset[int]) -> list[dict[str, Any]]:
        out = [node(c, seen) for c in kids.get(parent, ()) if c.id not in seen]
        for g in group_at.get(parent, ()):
            members = [by_id[m] for m in g["threads"] if m not in seen]
            out.append({"group": g["id"], "children": [node(m, seen) for m in members]})
        return out

    return children(None, frozenset())


def format_text(snap: dict[str, Any], *, stacks: bool = False) -> str:
    """:func:`snapshot` data as the text tree :func:`dump` prints."""
    infos = {d["id"]: d for d in snap["threads"]}
    groups = {g["id"]: g for g in snap["groups"]}
    n = len(infos)
    lines = [f"thredo: {n} thread{'s' if n != 1 else ''} in process {snap['pid']}"]
    cycles = [[ThreadInfo.from_json(infos[k]) for k in c] for c in snap.get("deadlocks", ())]
    if cycles:
        lines.extend(format_deadlocks(cycles).splitlines())

    def thread_line(d: dict[str, Any]) -> str:
        return str(ThreadInfo.from_json(d))

    def walk(nodes: list[dict[str, Any]], prefix: str) -> None:
        for k, nd in enumerate(nodes):
            last = k == len(nodes) - 1
            branch, cont = ("└─ ", "   ") if last else ("├─ ", "│  ")
            if "group" in nd:
                g = groups[nd["group"]]
                lines.append(f"{prefix}{branch}ThreadGroup {g['id']:#x} (wait={g['wait']})")
            else:
                d = infos[nd["thread"]]
                lines.append(prefix + branch + thread_line(d))
                if stacks:
                    for f in d.get("stack", ()):
                        lines.append(
                            f"{prefix}{cont}    {f['file']}:{f['line']} in {f['function']}"
                        )
                        if f["code"]:
                            lines.append(f"{prefix}{cont}      {f['code']}")
            walk(nd["children"], prefix + cont)

    walk(snap["tree"], "")
    others = snap.get("others") or []
    if others:
        lines.append(f"other threads ({len(others)}; not thredo threads: no cancel reaches them)")
    for k, o in enumerate(others):
        branch, cont = ("└─ ", "   ") if k == len(others) - 1 else ("├─ ", "│  ")
        text = f"{o['name']} [{o['role']}]" + (" (daemon)" if o["daemon"] else "")
        b = o.get("blocked")
        names = BlockedInfo.__dataclass_fields__
        text += (
            f": blocked in {BlockedInfo(**{k: v for k, v in b.items() if k in names})}"
            if b
            else ": running"
        )
        lines.append(branch + text)
        if stacks:
            for f in o.get("stack", ()):
                lines.append(f"{cont}    {f['file']}:{f['line']} in {f['function']}")
                if f["code"]:
                    lines.append(f"{cont}      {f['code']}")
    return "\n".join(lines) + "\n"


def dump(
    file: IO[str] | None = None,
    *,
    format: Literal["text", "json"] = "text",
    stacks: bool = False,
) -> None:
    """Print the tree of groups and threads, with what each one is doing.

    A thread's children are the threads it started (a server's handlers sit
    under the thread running the server); a :class:`ThreadGroup`'s members
    sit under the group.  Which threads: as :func:`ps`.

    Args:
        file: where to write (default ``sys.stderr``, as ``faulthandler``).
        format: ``"text"``, a tree for people; ``"json"``, one JSON document
            whose format ``docs/monitor.md`` documents (it carries a
            ``"version"``).
        stacks: add each thread's stack (from ``sys._current_frames()``).

    Raises:
        ValueError: an unknown ``format``.
    """
    if format not in ("text", "json"):
        raise ValueError(f"format must be 'text' or 'json', not {format!r}")
    snap = snapshot(stacks=stacks)
    out = sys.stderr if file is None else file
    if format == "json":
        out.write(json.dumps(snap, indent=2) + "\n")
    else:
        out.write(format_text(snap, stacks=stacks))
    out.flush()
