"""The monitor of a live process: ps, tree, where, cancel over a private Unix socket.

Theory of operation
-------------------

``thredo.run(main, monitor=True)`` (or ``THREDO_MONITOR=1`` in the
environment) starts one :class:`Monitor` per process.  It listens on a Unix
socket named by the pid in a private directory, and serves it from *plain
OS threads* using only the stdlib (``socket``, ``select``, ``threading``):
none of its waits goes through thredo's wait mechanism, so it answers while
every thredo thread is deadlocked, and a thredo thread stuck in a call
nothing can interrupt cannot hang it (``cancel`` is
``Thread.cancel(blocking=False)``)::

    python -m thredo.monitor PID        monitor thread           thredo threads
    ----------------------------        --------------           --------------
    connect(DIR/PID.sock)  ---------->  accept; SO_PEERCRED uid
                                        == ours? else refuse
    "ps --json\\n"  ------------------>  thredo.ps()  ..........  (read only)
                    <------------------  {"ok": true, "data": ..., "text": ...}
    "cancel 7\\n"  ------------------->  t.cancel(blocking=False) -> #7 raises

Protocol: one command per line (UTF-8), one JSON object per line back:
``{"ok": bool, "text": str, "data": ...}`` (``docs/monitor.md``).  Commands:
``ps``, ``tree``, ``dump [--stacks]``, ``deadlocks``, ``where ID``, ``cancel ID``, ``help``.

Who may connect: the directory is ``$XDG_RUNTIME_DIR/thredo`` or
``tempfile.gettempdir()/thredo-UID``, mode 0700 and owned by us (checked;
the monitor refuses to start in one that is not), and every connection's
peer uid (``SO_PEERCRED``) must be ours.  There is no TCP listener.

Layering: uses ``_introspect`` (what is printed) and the run registry;
``_kernel`` starts and stops it.  The socket is removed when the last run
that asked for it ends.
"""

from __future__ import annotations

import errno
import json
import os
import resource
import select
import socket
import stat
import struct
import sys
import tempfile
import threading
import time
import warnings
from _thread import allocate_lock
from typing import Any

from ._core import RunContext
from ._introspect import (
    deadlocks,
    format_deadlocks,
    format_text,
    live_threads,
    ps,
    snapshot,
    stack_of,
)

__all__ = (
    "Monitor",
    "socket_dir",
    "socket_path",
    "peer_uid",
    "wanted",
    "acquire",
    "release",
    "ENV",
    "HELP",
)

#: The environment variable that turns the monitor on for every ``run()``.
ENV = "THREDO_MONITOR"
#: Seconds one whole reply may take to go out before its client is dropped
#: (a client that stops reading, or reads a little at a time, cannot hold a
#: monitor thread; an idle interactive session, which sends nothing, is kept).
SEND_TIMEOUT = 2.0
#: Clients served at once; more wait in the listen backlog (their connect
#: succeeds, the reply comes when a slot frees) -- each costs a thread and a
#: descriptor, so the bound keeps the monitor from taking what the program needs.
MAX_CLIENTS = 16
#: The listen backlog (was 8: 118 of 150 concurrent clients got EAGAIN).
BACKLOG = 128
#: Descriptors the monitor never takes: a connection accepted on one of the
#: last RESERVE_FDS below RLIMIT_NOFILE is refused and closed at once.
RESERVE_FDS = 16
#: Seconds the accept loop pauses after EMFILE/ENFILE/ENOMEM or a refusal
#: for lack of descriptors (it does not spin on a listener that stays readable).
ACCEPT_BACKOFF = 0.5
#: Seconds close() waits for client threads (all of them, together).
CLOSE_WAIT = 1.0
MAX_LINE = 4096  # bytes: no command is longer
_PEERCRED = struct.Struct("3i")  # struct ucred: pid, uid, gid


def socket_dir() -> str:
    """The private directory of this user's monitor sockets."""
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime:
        return os.path.join(runtime, "thredo")
    return os.path.join(tempfile.gettempdir(), f"thredo-{os.getuid()}")


def socket_path(pid: int) -> str:
    """Where the monitor of process ``pid`` (of this user) listens."""
    return os.path.join(socket_dir(), f"{pid}.sock")


def _private_dir(path: str) -> None:
    """Make ``path`` (mode 0700), or check that an existing one is ours and private."""
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        pass
    st = os.lstat(path)
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid() or st.st_mode & 0o077:
        raise PermissionError(
            errno.EPERM, "not a private directory of this user (mode 0700, ours)", path
        )


def _fd_limit() -> int:
    """The soft RLIMIT_NOFILE (read each time: the program may change it)."""
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    return soft if soft != resource.RLIM_INFINITY else 1 << 20


def _free_fd_below(limit: int) -> bool:
    """Whether some descriptor number below ``limit`` is free, taking none to find out.

    ``accept()`` takes the lowest free number; ``fstat`` of each number from 0
    up finds it (EBADF) at the cost of one system call per open descriptor,
    paid only while the monitor backs off near the limit.
    """
    for fd in range(max(0, limit)):
        try:
            os.fstat(fd)
        except OSError as e:
            if e.errno == errno.EBADF:
                return True
    return False


def peer_uid(sock: socket.socket) -> int:
    """The uid of the process at the other end of a Unix socket (``SO_PEERCRED``)."""
    raw = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _PEERCRED.size)
    return int(_PEERCRED.unpack(raw)[1])


class Monitor:
    """A monitor server: a listening Unix socket and its plain OS threads.

    Thread safety: :meth:`start` and :meth:`close` are called by one thread
    (``run()``'s); everything else runs in the monitor's own threads.
    ``_lock`` guards ``_clients``.
    """

    def __init__(self, path: str | None = None) -> None:
        self.path = socket_path(os.getpid()) if path is None else path
        self._listener: socket.socket | None = None
        self._stop_r, self._stop_w = os.pipe()
        self._lock = allocate_lock()
        self._clients: dict[socket.socket, threading.Thread] = {}
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Listen and start serving.

        Raises:
            OSError: the directory is not private, or the socket cannot be made.
        """
        try:
            if os.path.dirname(self.path) == socket_dir():
                _private_dir(socket_dir())
            lsock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                try:
                    os.unlink(self.path)  # a stale socket of a dead process with our pid
                except FileNotFoundError:
                    pass
                lsock.bind(self.path)
                os.chmod(self.path, 0o600)  # the directory already keeps others out
                lsock.listen(BACKLOG)
            except BaseException:
                lsock.close()
                raise
        except BaseException:
            self._close_pipe()
            raise
        self._listener = lsock
        self._thread = threading.Thread(target=self._serve, name="thredo-monitor", daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Stop serving, drop every client, remove the socket.

        Never waits on a client: every wait of the monitor's threads also
        watches the stop pipe, so they all return promptly; the join is
        bounded by ``CLOSE_WAIT`` anyway (the threads are daemons).
        """
        os.write(self._stop_w, b"x")
        if self._thread is not None:
            self._thread.join()
        with self._lock:
            clients = list(self._clients.values())
        end = time.monotonic() + CLOSE_WAIT
        for t in clients:
            t.join(max(0.0, end - time.monotonic()))
        if self._listener is not None:
            self._listener.close()
            try:
                os.unlink(self.path)
            except FileNotFoundError:
                pass
        if all(not t.is_alive() for t in clients):
            self._close_pipe()  # else a straggler still polls it: left to the GC of the process

    def _close_pipe(self) -> None:
        for fd in (self._stop_r, self._stop_w):
            try:
                os.close(fd)
            except OSError:
                pass

    # -- the monitor's threads -------------------------------------------------------

    def _serve(self) -> None:
        lsock = self._listener
        assert lsock is not None
        stop = select.poll()
        stop.register(self._stop_r, select.POLLIN)
        p = select.poll()
        p.register(lsock, select.POLLIN)
        p.register(self._stop_r, select.POLLIN)
        near_limit = False  # set by EMFILE or a refusal; cleared once descriptors are free
        while True:
            with self._lock:
                full = len(self._clients) >= MAX_CLIENTS
            if full:  # the next clients wait in the backlog until a slot frees
                if stop.poll(ACCEPT_BACKOFF * 1000):
                    return
                continue
            if near_limit:
                # Near the limit, accept() itself would take a descriptor the
                # program may be about to need (it freed two for an os.pipe()):
                # look first, with fstat(), which takes none.
                if not _free_fd_below(_fd_limit() - RESERVE_FDS):
                    if stop.poll(ACCEPT_BACKOFF * 1000):
                        return
                    continue
                near_limit = False
            ready = {fd for fd, _ in p.poll()}
            if self._stop_r in ready:
                return
            try:
                client, _ = lsock.accept()
            except OSError as e:
                if e.errno in (errno.EMFILE, errno.ENFILE, errno.ENOMEM, errno.ENOBUFS):
                    # The listener stays readable: pause instead of spinning.
                    near_limit = True
                    if stop.poll(ACCEPT_BACKOFF * 1000):
                        return
                continue  # (or a client gone before we took it)
            if client.fileno() >= _fd_limit() - RESERVE_FDS:
                # Lowest free descriptor this high: the program is near its
                # limit; give the descriptor back at once.
                self._refuse(client, "refused: the program is near its descriptor limit")
                near_limit = True
                if stop.poll(ACCEPT_BACKOFF * 1000):
                    return
                continue
            try:
                if peer_uid(client) != os.getuid():
                    self._refuse(client, "refused: another user")
                    continue
            except OSError:
                client.close()
                continue
            t = threading.Thread(
                target=self._client, args=(client,), name="thredo-monitor client", daemon=True
            )
            with self._lock:
                self._clients[client] = t
            t.start()

    def _refuse(self, client: socket.socket, why: str) -> None:
        try:
            client.setblocking(False)
            client.send(json.dumps({"ok": False, "text": why, "data": None}).encode() + b"\n")
        except OSError:
            pass
        client.close()

    def _client(self, sock: socket.socket) -> None:
        buf = b""
        sock.setblocking(False)
        p = select.poll()
        p.register(sock, select.POLLIN)
        p.register(self._stop_r, select.POLLIN)
        try:
            while True:
                if any(fd == self._stop_r for fd, _ in p.poll()):
                    return
                try:
                    chunk = sock.recv(4096)
                except BlockingIOError:
                    continue
                if not chunk:
                    return
                buf += chunk
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    if not self._send(sock, self.command(line.decode("utf-8", "replace"))):
                        return
                if len(buf) > MAX_LINE:
                    self._send(sock, {"ok": False, "text": "line too long", "data": None})
                    return
        except OSError:  # the client went away
            pass
        finally:
            with self._lock:
                self._clients.pop(sock, None)
            sock.close()

    def _send(self, sock: socket.socket, reply: dict[str, Any]) -> bool:
        """Send one reply within ``SEND_TIMEOUT`` seconds; False: the client is to be dropped.

        A reply that fits in the socket buffer goes out even while close()
        runs (the answer to a ``cancel`` that ends the run); one that has to
        wait for the client gives up at once when the monitor stops.
        """
        data = memoryview(json.dumps(reply).encode() + b"\n")
        end = time.monotonic() + SEND_TIMEOUT
        p = select.poll()
        p.register(sock, select.POLLOUT)
        p.register(self._stop_r, select.POLLIN)
        while data:
            try:
                data = data[sock.send(data) :]
                continue
            except BlockingIOError:
                pass
            left = end - time.monotonic()
            if left <= 0:
                return False
            ready = p.poll(left * 1000)
            if any(fd == self._stop_r for fd, _ in ready):
                return False
        return True

    # -- commands ------------------------------------------------------------------------

    def command(self, line: str) -> dict[str, Any]:
        """Run one command line; the reply object (never raises)."""
        words = line.split()
        if not words:
            return {"ok": True, "text": "", "data": None}
        cmd, args = words[0], words[1:]
        try:
            if cmd == "ps" and not args:
                infos = ps()
                text = "\n".join(str(i) for i in infos) + ("\n" if infos else "")
                return {"ok": True, "text": text, "data": [i.to_json() for i in infos]}
            if cmd == "tree" and not args:
                snap = snapshot()
                return {"ok": True, "text": format_text(snap), "data": snap}
            if cmd == "dump" and args in ([], ["--stacks"]):
                stacks = bool(args)
                snap = snapshot(stacks=stacks)
                return {"ok": True, "text": format_text(snap, stacks=stacks), "data": snap}
            if cmd == "deadlocks" and not args:
                cycles = deadlocks(ps())
                text = (
                    format_deadlocks(cycles) or "no deadlock: no wait cycle among known holders\n"
                )
                return {"ok": True, "text": text, "data": [[i.id for i in c] for c in cycles]}
            if cmd in ("where", "cancel") and len(args) == 1:
                return self._on_thread(cmd, args[0])
            if cmd == "help":
                return {"ok": True, "text": HELP, "data": None}
        except Exception as e:  # a bug here must not take the monitor down
            return {"ok": False, "text": f"{cmd} failed: {e!r}", "data": None}
        return {"ok": False, "text": f"unknown command {line.strip()!r}\n{HELP}", "data": None}

    def _on_thread(self, cmd: str, arg: str) -> dict[str, Any]:
        try:
            digits = arg[1:] if arg.startswith("#") else arg
            if not (digits.isascii() and digits.isdigit()):  # not "٢", "+1", "1_0"
                raise ValueError(arg)
            tid = int(digits)
        except ValueError:
            return {"ok": False, "text": f"not a thread id: {arg!r}", "data": None}
        t = next((t for t in live_threads(RunContext.running()) if t.id == tid), None)
        if t is None:
            return {"ok": False, "text": f"no live thredo thread #{tid}", "data": None}
        if cmd == "cancel":
            t.cancel(blocking=False)  # never waits: the thread may be stuck for good
            return {
                "ok": True,
                "text": f"cancel sent to #{tid} {t.name!r}\n",
                "data": {"id": tid, "cancelled": True},
            }
        frames = sys._current_frames()
        stack = stack_of(t.ident, frames)
        lines = [f"#{tid} {t.name}"]
        for f in stack:
            lines.append(f'  File "{f.file}", line {f.line}, in {f.function}')
            if f.code:
                lines.append(f"    {f.code}")
        return {
            "ok": True,
            "text": "\n".join(lines) + "\n",
            "data": {"id": tid, "name": t.name, "stack": [f.to_json() for f in stack]},
        }


HELP = """commands:
  ps           the live thredo threads: what each is blocked on, deadline, parent
  tree         groups and threads as a tree (servers and their handlers included)
  dump [--stacks]  the tree with every thread's stack (--stacks), as thredo.dump()
  deadlocks    wait cycles (locks, joins) among the threads, named
  where ID     the stack of thread ID
  cancel ID    cancel thread ID (Thread.cancel(blocking=False))
  help         this text
"""


# -- one monitor per process, shared by concurrent runs ---------------------------------

_users = 0  # runs using the monitor; guarded by _users_lock
_current: Monitor | None = None
_users_lock = allocate_lock()


def _forget_in_child() -> None:
    """After fork(): the monitor's threads did not survive; a run in the child starts afresh."""
    global _users, _current, _users_lock
    _users, _current, _users_lock = 0, None, allocate_lock()


os.register_at_fork(after_in_child=_forget_in_child)


def wanted(flag: bool) -> bool:
    """Whether a run asked for the monitor (``monitor=True`` or ``THREDO_MONITOR=1``)."""
    return flag or os.environ.get(ENV, "") not in ("", "0")


def acquire() -> bool:
    """A run starts that wants the monitor: start it if it is not running.

    Returns whether it runs (a failure to start it warns and the run goes on).
    """
    global _users, _current
    with _users_lock:
        if _current is None:
            m = Monitor()
            try:
                m.start()
            except OSError as e:
                warnings.warn(f"thredo monitor not started: {e}", RuntimeWarning, stacklevel=3)
                return False
            _current = m
        _users += 1
        return True


def release() -> None:
    """A run that had the monitor ends: stop it when it was the last."""
    global _users, _current
    with _users_lock:
        _users -= 1
        if _users or _current is None:
            return
        m, _current = _current, None
        m.close()  # under the lock: a run starting now must not bind before the unlink
