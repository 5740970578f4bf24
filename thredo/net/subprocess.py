"""Cancellable child processes: the stdlib ``subprocess`` module for thredo threads.

Every public name of the stdlib module is here; ``PIPE``, ``DEVNULL``,
``STDOUT``, ``CalledProcessError``, ``TimeoutExpired``, ``SubprocessError``
and ``CompletedProcess`` are the stdlib's own objects, so existing
``except`` clauses keep working.  :class:`Popen` subclasses
``subprocess.Popen``: the stdlib starts the child (every argument: ``cwd``,
``env``, ``pass_fds``, ``start_new_session``, ``process_group``, text mode,
``bufsize`` ...), then its pipes are swapped for cancellable file objects
(``thredo.net._pipes``) and its waits go through thredo's one fd wait.
``run``, ``call``, ``check_call``, ``check_output``, ``getoutput`` and
``getstatusoutput`` are the stdlib's, built on this ``Popen``.

Theory of operation
-------------------

Waiting for exit (``wait``, and the end of ``communicate``)::

    thread                                         kernel
    ------                                         ------
    pidfd = os.pidfd_open(pid)
    wait_fd(pidfd, POLLIN) ..................  <-  child exits: pidfd readable
    (the child is a zombie now, not reaped)        (or a cancel rings the bell)
    Popen._wait()  -> os.waitpid(pid)  reaps, sets returncode

No thread per child, no polling, no SIGCHLD handler; only our own pid is
ever passed to ``waitpid``, so other code of the process that uses the
stdlib ``subprocess`` or ``os.waitpid(pid)`` is unaffected.  Where there is
no ``os.pidfd_open`` (not Linux, Linux < 5.3, or ``_USE_PIDFD = False``, the
documented switch the test suite flips), the wait polls
``os.waitid(P_PID, pid, WEXITED | WNOHANG | WNOWAIT)`` with short sleeps
that double from ``_POLL_MIN`` to ``_POLL_MAX`` -- the stdlib's own
``wait(timeout)`` loop, parked on thredo's wait so it is cancellable.

``communicate`` serves every pipe (feed ``stdin``, drain ``stdout`` and
``stderr``) from the calling thread: the pipes go in an epoll, and the
epoll's own descriptor -- readable when any pipe is ready -- is what the
thread waits on with ``wait_fd``, so one cancellable fd wait covers them
all, with no thread started.  Without epoll (or ``_COMMUNICATE_EPOLL =
False``) each pipe gets a pump loop of its own, the calling thread running
one and helper thredo threads in a ``ThreadGroup`` the others.  Either
way no pipe waits on another, so large output on both streams and large
input cannot deadlock.

Cancellation policy -- one rule for every call
----------------------------------------------

The stdlib's own ``timeout=`` arguments keep their stdlib meaning exactly:
``wait(timeout)`` and ``communicate(timeout=)`` raise ``TimeoutExpired`` and
leave the child running (so ``kill(); communicate()`` works and returns all
the output), ``run(timeout=)`` and ``call(timeout=)`` kill the child.

A *cancellation* -- ``ThreadCancelled``, an expired ``timeout_after``
deadline (``ThreadTimeout``), any ``thredo.CancelledError`` -- raised by a
call of a :class:`Popen` (``wait``, ``communicate``, ``poll``) or of its
pipes (``read*``, ``readline``, iteration, ``write``), or reaching the end
of a ``with Popen(...)`` block, ends the child before it propagates:

1. ``SIGTERM`` to the child -- to its whole process group (``os.killpg``)
   when it was started with ``start_new_session=True`` or ``process_group=``;
2. up to ``cancel_grace`` seconds (a ``Popen`` argument, default the private
   module constant ``_CANCEL_GRACE``, one second) for it to exit; then ``SIGKILL`` (for a group:
   ``SIGKILL`` to the group in any case, once the child has exited and
   before it is reaped, so no grandchild survives and the group id cannot
   have been reused);
3. the child is reaped and the ``Popen``'s pipes closed;

all under ``thredo.disable_cancellation()``, so a second cancel cannot
leave a zombie.  The exception then carries ``returncode`` (the child's,
e.g. ``-15``), ``stdout`` and ``stderr`` (the bytes read so far by the
cancelled ``communicate``; for a pipe read, ``stdout``/``stderr`` is what
the pipe had buffered, also in ``bytes_read``; None otherwise) and, for
``communicate`` with input or a pipe write, ``bytes_written``.  Note that
``timeout_after`` around a call is therefore a kill-on-expiry limit; use
the stdlib ``timeout=`` argument to wait without killing.

A cancellation point: every one of those calls raises a pending cancel or
an expired deadline even when it would not wait (``poll()``, ``wait()`` on a
child that has exited) -- and the rule above applies.  ``send_signal``,
``terminate`` and ``kill`` never block and are not points.

A bare ``Popen`` whose thread ends normally belongs to the program, as in
the stdlib.  In plain threads (no thredo thread) ``wait`` and
``communicate`` are the stdlib's; the pipes wait in ``poll()`` and behave as
blocking files.
"""

import errno as _errno
import io as _io
import os as _os
import select as _select
import signal as _signal
import subprocess as _sp
import typing as _typing
import weakref as _weakref
from collections.abc import Callable as _Callable
from time import monotonic as _monotonic
from types import TracebackType as _TracebackType
from typing import Any as _Any

from .._core import POLLIN as _POLLIN
from .._core import POLLOUT as _POLLOUT
from .._core import CancelledError as _CancelledError
from .._core import Joined as _Joined
from .._core import Waiter as _Waiter
from .._core import checkpoint as _checkpoint
from .._core import current_state as _current_state
from .._core import disable_cancellation as _disable_cancellation
from .._core import note_return as _note_return
from .._core import park as _park
from .._core import partial_of as _partial_of
from .._core import set_partial as _set_partial
from .._core import wait_fd as _wait_fd
from .._threads import ThreadGroup as _ThreadGroup
from ._pipes import READ_CHUNK as _READ_CHUNK
from ._pipes import PipeReader as _PipeReader
from ._pipes import PipeWriter as _PipeWriter
from ._pipes import RawPipeReader as _RawPipeReader
from ._pipes import RawPipeWriter as _RawPipeWriter
from ._pipes import read_nowait as _read_nowait
from ._pipes import write_nowait as _write_nowait

if not _typing.TYPE_CHECKING:
    from subprocess import *  # noqa: F403  (every stdlib name; ours follow)

from subprocess import DEVNULL as DEVNULL
from subprocess import PIPE as PIPE
from subprocess import STDOUT as STDOUT
from subprocess import CalledProcessError as CalledProcessError
from subprocess import CompletedProcess as CompletedProcess
from subprocess import SubprocessError as SubprocessError
from subprocess import TimeoutExpired as TimeoutExpired
from subprocess import list2cmdline as list2cmdline

# The stdlib's public names, exactly, and no other public name (CPython's
# test_subprocess.test__all__ checks both): the tunables below are private
# module constants -- documented here and in the module docstring, read at
# call time so tests (and a program that must) can monkeypatch them; the one
# a program is meant to set per child is Popen's ``cancel_grace`` argument.
__all__ = list(_sp.__all__)

#: Wait for exit on a process file descriptor (Linux 5.3+).  False selects the
#: portable fallback (short sleeps around ``os.waitid(..., WNOWAIT)``).
_USE_PIDFD = True

#: Seconds between SIGTERM and SIGKILL when a cancel ends a child.  One
#: second: long enough for a well-behaved child to flush and exit on SIGTERM,
#: short enough that a cancelled thread (a server shutting down) is not held up.
_CANCEL_GRACE = 1.0

#: The fallback's sleeps between checks, doubling from _POLL_MIN to _POLL_MAX
#: (the stdlib's ``Popen._wait(timeout)`` uses 0.0005 to 0.05 the same way).
_POLL_MIN = 0.0005
_POLL_MAX = 0.05

#: ``communicate`` over several pipes waits on an epoll of them, in the calling
#: thread.  False (or no epoll: not Linux) selects one helper thredo thread per
#: extra pipe in a ThreadGroup: portable, but a thread start per call (the
#: run_capture benchmark: ~0.7x the stdlib's run rate, against ~1.0x).
_COMMUNICATE_EPOLL = True

_HAVE_PIDFD = hasattr(_os, "pidfd_open")
_HAVE_EPOLL = hasattr(_select, "epoll")
_HAVE_WAITID = hasattr(_os, "waitid") and hasattr(_os, "WNOWAIT")


class _Comm:
    """The progress of a Popen's communicate(), kept across calls (TimeoutExpired)."""

    __slots__ = ("out", "err", "input", "offset", "fed")

    def __init__(self) -> None:
        self.out: list[bytes] = []
        self.err: list[bytes] = []
        self.input: memoryview | None = None
        self.offset = 0
        self.fed = False  # stdin is closed: all the input went, or the child stopped reading


def _buffer_size(fd: int, bufsize: int) -> int:
    """The write buffer ``io.open(fd, "wb", bufsize)`` gives (its st_blksize rule)."""
    if bufsize > 1:
        return bufsize
    try:
        blksize = _os.fstat(fd).st_blksize
    except OSError:
        blksize = 0
    return blksize if blksize > 1 else _io.DEFAULT_BUFFER_SIZE


class Popen(_sp.Popen[_Any]):
    """``subprocess.Popen`` whose waits and pipes are cancellable.

    Takes every argument of the stdlib class, plus ``cancel_grace`` (seconds
    between SIGTERM and SIGKILL when a cancel ends the child; None: one
    second, the module's private default ``_CANCEL_GRACE``).  ``stdin``/``stdout``/``stderr`` are
    cancellable file objects of the types the stdlib's ``bufsize`` gives
    (buffered by default, raw for ``bufsize=0``; in text mode wrapped in
    ``io.TextIOWrapper`` as the stdlib does).  See the module docstring for
    the cancellation rule.  While a thread waits, its ``Thread.blocked_on``
    shows ``"wait"`` or ``"communicate"`` and this object, or ``"read"`` /
    ``"write"`` and the pipe.
    """

    def __init__(
        self, args: _Any, *posargs: _Any, cancel_grace: float | None = None, **kwargs: _Any
    ):
        super().__init__(args, *posargs, **kwargs)
        self.cancel_grace = cancel_grace
        self._comm: _Comm | None = None
        pgid: int | None = None
        if kwargs.get("start_new_session"):
            pgid = self.pid
        elif kwargs.get("process_group") is not None and kwargs["process_group"] >= 0:
            pgid = kwargs["process_group"] or self.pid
        self._pgid = pgid
        bufsize = posargs[0] if posargs else kwargs.get("bufsize", -1)
        self._bufsize = -1 if bufsize is None else bufsize
        # A weak reference: a Popen nobody references is freed at once (and its
        # __del__ warns and queues the child for reaping, as the stdlib's),
        # not kept alive by a cycle through its pipes.
        self._on_cancel = _weakref.WeakMethod(self._pipe_cancelled)
        self.stdin = self._swap(self.stdin, "stdin")
        self.stdout = self._swap(self.stdout, "stdout")
        self.stderr = self._swap(self.stderr, "stderr")

    def _swap(self, f: _Any, name: str) -> _Any:
        """Replace a stdlib pipe file object with ours over the same descriptor."""
        if f is None:
            return None
        text: dict[str, _Any] | None = None
        if isinstance(f, _io.TextIOWrapper):
            text = {
                "encoding": f.encoding,
                "errors": f.errors,
                "line_buffering": f.line_buffering,
                "write_through": f.write_through,
            }
            f = f.detach()
        pipe: _Any
        if isinstance(f, (_io.BufferedReader, _io.BufferedWriter)):
            raw = f.detach()
            if name == "stdin":
                pipe = _PipeWriter(raw, name, _buffer_size(raw.fileno(), self._bufsize))
            else:
                pipe = _PipeReader(raw, name)
        else:  # bufsize=0: the stdlib's FileIO
            pipe = _RawPipeWriter(f, name) if name == "stdin" else _RawPipeReader(f, name)
        pipe.on_cancel = self._on_cancel
        if text is not None:
            return _io.TextIOWrapper(pipe, **text)
        return pipe

    # -- the cancellation policy -------------------------------------------

    def _pipe_cancelled(self, e: BaseException, pipe: _Any) -> None:
        data = _partial_of(e, "bytes_read")  # not computed: see _core.set_partial
        out = data if self.stdout is not None and _raw_of(self.stdout) is pipe else None
        err = data if self.stderr is not None and _raw_of(self.stderr) is pipe else None
        self._cancelled(e, out, err)

    def _cancelled(
        self,
        e: BaseException,
        stdout: _Callable[[], _Any] | None = None,
        stderr: _Callable[[], _Any] | None = None,
    ) -> None:
        """Apply the policy for ``e`` leaving a call: end the child, reap it, annotate ``e``.

        ``stdout``/``stderr`` compute the output gathered so far (None: none);
        on thredo's exceptions they run when the attribute is first read.
        """
        self._end_child()
        _set_partial(e, "stdout", stdout or _none)
        _set_partial(e, "stderr", stderr or _none)
        e.returncode = self.returncode  # type: ignore[attr-defined]

    def _end_child(self) -> None:
        """SIGTERM, grace, SIGKILL (the group too), reap, close the pipes. Idempotent."""
        with _disable_cancellation():
            try:
                if self.returncode is None:
                    grace = _CANCEL_GRACE if self.cancel_grace is None else self.cancel_grace
                    if not self._exited(0):
                        self._signal(_signal.SIGTERM)
                        if not self._exited(grace):
                            self._signal(_signal.SIGKILL)
                            self._exited(None)
                    if self._pgid is not None and self.returncode is None:
                        # The child is exited but not reaped: its pid, and so the
                        # group id, cannot have been reused; now no member survives.
                        try:
                            _os.killpg(self._pgid, _signal.SIGKILL)
                        except (ProcessLookupError, PermissionError):
                            pass
                    self._reap()
            finally:
                for f in (self.stdin, self.stdout, self.stderr):
                    if f is not None:
                        try:
                            f.close()
                        except OSError:  # BrokenPipeError flushing stdin
                            pass

    def _signal(self, sig: int) -> None:
        if self.returncode is not None:
            return
        try:
            if self._pgid is not None:
                _os.killpg(self._pgid, sig)
            else:
                _os.kill(self.pid, sig)
        except ProcessLookupError:
            pass

    # -- waiting for exit ------------------------------------------------------

    def _exited(self, timeout: float | None) -> bool:
        """Block until the child has exited (not reaped) or ``timeout`` passed.

        True when it exited (or is already reaped, by us or by someone
        else: the reaping then tells).  A thredo thread's cancellation point.
        """
        if self.returncode is not None:
            return True
        if _USE_PIDFD and _HAVE_PIDFD:
            try:
                pidfd = _os.pidfd_open(self.pid)
            except ProcessLookupError:
                return True  # reaped already (by code of the process other than us)
            except OSError:  # ENOSYS (old kernel), EMFILE: the fallback works anyway
                pass
            else:
                try:
                    return _wait_fd(pidfd, _POLLIN, timeout, self, "wait")
                finally:
                    _os.close(pidfd)
        endtime = None if timeout is None else _monotonic() + timeout
        delay = _POLL_MIN
        while True:
            if self._exited_now():
                return True
            wait = delay
            if endtime is not None:
                remaining = endtime - _monotonic()
                if remaining <= 0:
                    return False
                wait = min(wait, remaining)
            exc = _park(_Waiter(), wait, None, "wait", self)
            if exc is not None:
                raise exc
            delay = min(delay * 2, _POLL_MAX)

    def _exited_now(self) -> bool:
        if self.returncode is not None:
            return True
        if _HAVE_WAITID:
            try:
                return (
                    _os.waitid(_os.P_PID, self.pid, _os.WEXITED | _os.WNOHANG | _os.WNOWAIT)
                    is not None
                )
            except ChildProcessError:
                return True
        return _sp.Popen.poll(self) is not None  # reaps: fine where there is no waitid

    def _reap(self) -> int:
        """Reap the exited child (``os.waitpid`` on our pid, the stdlib's bookkeeping)."""
        return self._wait(timeout=None)  # type: ignore[attr-defined, no-any-return]

    def wait(self, timeout: float | None = None) -> int:
        """As ``subprocess.Popen.wait``; cancellable (see the policy).

        Raises:
            TimeoutExpired: ``timeout`` passed; the child keeps running.
        """
        if _current_state() is None:
            return super().wait(timeout)
        try:
            _checkpoint()
            return self._wait_thredo(timeout)
        except _CancelledError as e:
            self._cancelled(e)
            raise

    def _wait_thredo(self, timeout: float | None) -> int:
        if self.returncode is not None:
            return self.returncode
        if timeout is not None and timeout != timeout:
            raise ValueError("Invalid value NaN (not a number)")
        if not self._exited(timeout):
            raise TimeoutExpired(self.args, timeout)  # type: ignore[arg-type]
        code = self._reap()
        _note_return()  # done, maybe past a deadline: not uncancellable time
        return code

    def poll(self) -> int | None:
        """As ``subprocess.Popen.poll``; a cancellation point in a thredo thread."""
        try:
            _checkpoint()
        except _CancelledError as e:
            self._cancelled(e)
            raise
        return super().poll()

    def send_signal(self, sig: int) -> None:
        """As ``subprocess.Popen.send_signal`` (not a cancellation point)."""
        _sp.Popen.poll(self)  # the stdlib's check, without our point
        if self.returncode is not None:
            return
        try:
            _os.kill(self.pid, sig)
        except ProcessLookupError:
            pass

    # -- communicate -----------------------------------------------------------

    def communicate(self, input: _Any = None, timeout: float | None = None) -> tuple[_Any, _Any]:
        """As ``subprocess.Popen.communicate``; cancellable (see the policy).

        Every chunk it moves is a cancellation point, so a child that keeps
        its pipes full does not hold a cancel or a deadline off.

        Raises:
            TimeoutExpired: ``timeout`` passed (with the output so far); the
                child keeps running, and a later call carries on.
        """
        if _current_state() is None:
            return super().communicate(input, timeout)
        if self._communication_started and input:
            raise ValueError("Cannot send input after starting communication")
        # The stdlib's own shortcut (no timeout, one pipe at most): the input
        # goes through ``self.stdin.write`` and ``close`` (so a wrapper of the
        # pipe sees the calls), the output through ``read``.  A cancel there
        # leaves a pipe call, whose policy (on_cancel) annotates it.
        if (
            timeout is None
            and not self._communication_started
            and [self.stdin, self.stdout, self.stderr].count(None) >= 2
        ):
            try:
                _checkpoint()
            except _CancelledError as e:
                self._cancelled(e)
                raise
            stdout = stderr = None
            try:
                if self.stdin:
                    self._stdin_write(input)  # type: ignore[attr-defined]
                elif self.stdout:
                    stdout = self.stdout.read()
                    self.stdout.close()
                elif self.stderr:
                    stderr = self.stderr.read()
                    self.stderr.close()
            except _CancelledError as e:
                if not hasattr(e, "returncode"):  # not from a pipe of ours (a wrapper's own)
                    self._cancelled(e)
                raise
            self.wait()
            return stdout, stderr
        comm = self._comm
        try:
            _checkpoint()
            if comm is None:
                comm = self._comm = _Comm()
            return self._communicate_thredo(comm, input, timeout)
        except _CancelledError as e:
            out = _Joined(list(comm.out)) if comm is not None and self.stdout is not None else None
            err = _Joined(list(comm.err)) if comm is not None and self.stderr is not None else None
            self._cancelled(e, out, err)
            if comm is not None and comm.input is not None:
                e.bytes_written = comm.offset  # type: ignore[attr-defined]
            raise

    def _communicate_thredo(
        self, comm: _Comm, input: _Any, timeout: float | None
    ) -> tuple[_Any, _Any]:
        me: _Any = self  # the stdlib's private attributes, which typeshed does not list
        endtime = None if timeout is None else _monotonic() + timeout
        if not self._communication_started:  # type: ignore[has-type]
            self._communication_started = True
            if self.stdin:
                # As the stdlib: flush what the user wrote, close at once if no input.
                try:
                    self.stdin.flush()
                except BrokenPipeError:
                    pass  # communicate() must ignore BrokenPipeError
                if input:
                    if me.text_mode:
                        input = input.encode(me.stdin.encoding, me.stdin.errors)
                    comm.input = memoryview(input).cast("B")
                else:
                    _close_quietly(self.stdin)
        pumps: list[_Callable[[float | None], bool]] = []
        if self.stdout is not None and not self.stdout.closed:
            pumps.append(lambda end: self._drain(self.stdout, comm.out, end))
        if self.stdin and comm.input is not None and not comm.fed:
            pumps.append(lambda end: self._feed(comm, end))
        if self.stderr is not None and not self.stderr.closed:
            pumps.append(lambda end: self._drain(self.stderr, comm.err, end))
        if len(pumps) > 1 and _COMMUNICATE_EPOLL and _HAVE_EPOLL:
            done = self._pump_epoll(comm, endtime)
        else:
            done = _run_pumps(pumps, endtime)
        if not done:
            raise TimeoutExpired(
                self.args,
                timeout,  # type: ignore[arg-type]
                output=b"".join(comm.out) if comm.out else None,
                stderr=b"".join(comm.err) if comm.err else None,
            )
        stdout = b"".join(comm.out) if self.stdout is not None else None
        stderr = b"".join(comm.err) if self.stderr is not None else None
        remaining = None if endtime is None else max(0.0, endtime - _monotonic())
        self._wait_thredo(remaining)
        if me.text_mode:
            if stdout is not None:
                stdout = me._translate_newlines(stdout, me.stdout.encoding, me.stdout.errors)
            if stderr is not None:
                stderr = me._translate_newlines(stderr, me.stderr.encoding, me.stderr.errors)
        return stdout, stderr

    def _pump_epoll(self, comm: _Comm, endtime: float | None) -> bool:
        """Every pipe in this thread: an epoll over them, waited on with ``wait_fd``.

        The epoll's own descriptor is readable when one of the pipes is
        ready, so the one fd wait serves several pipes, cancellably; False if
        ``endtime`` passed first.  A cancellation point before every chunk.
        """
        ep = _select.epoll()
        try:
            files: dict[int, tuple[_Any, list[bytes] | None]] = {}
            # Descriptors epoll refuses (EPERM: a regular file or /dev/null behind
            # a wrapper's fileno()) are always ready, as poll() reports them.
            always: list[int] = []

            def watch(fd: int, events: int) -> None:
                try:
                    ep.register(fd, events)
                except PermissionError:
                    always.append(fd)

            for f, chunks in ((self.stdout, comm.out), (self.stderr, comm.err)):
                if f is not None and not f.closed:
                    pipe = _raw_of(f)
                    buffered = pipe.take_buffer()  # what a readline left behind
                    if buffered:
                        chunks.append(buffered)
                    files[pipe.fileno()] = (f, chunks)
                    watch(pipe.fileno(), _select.EPOLLIN)
            if self.stdin and comm.input is not None and not comm.fed:
                if comm.offset >= len(comm.input):
                    comm.fed = True
                    _close_quietly(self.stdin)
                else:
                    fd = self.stdin.fileno()
                    files[fd] = (self.stdin, None)
                    watch(fd, _select.EPOLLOUT)
            epfd = ep.fileno()
            first = True
            while files:
                if not first:
                    # A child that keeps its pipes full: a point per round of chunks.
                    # Not before the first round after a wait, so that the data the
                    # wait was for is read (and reported) even if a cancel came with it.
                    _checkpoint()
                first = False
                ready = [fd for fd, _ in ep.poll(0)] + always
                if not ready:
                    timeout = None if endtime is None else max(0.0, endtime - _monotonic())
                    if not _wait_fd(epfd, _POLLIN, timeout, self, "communicate"):
                        return False
                    first = True
                    continue
                if endtime is not None and _monotonic() >= endtime:
                    return False
                for fd in ready:
                    f, sink = files[fd]
                    if sink is not None:
                        data = _read_nowait(fd, _READ_CHUNK)
                        if data is None:
                            continue
                        if data:
                            sink.append(data)
                            continue
                    else:
                        inp = comm.input
                        assert inp is not None
                        try:
                            n = _write_nowait(fd, inp[comm.offset :])
                        except BrokenPipeError:  # the child stopped reading: ignored, as the stdlib
                            pass
                        else:
                            if n is None:
                                continue
                            comm.offset += n
                            if comm.offset < len(inp):
                                continue
                    if fd in always:
                        always.remove(fd)
                    else:
                        ep.unregister(fd)
                    del files[fd]
                    if sink is None:
                        comm.fed = True
                    _close_quietly(f)
            return True
        finally:
            ep.close()

    @staticmethod
    def _drain(f: _Any, chunks: list[bytes], endtime: float | None) -> bool:
        """Read ``f`` to end of file into ``chunks``; False if ``endtime`` passed first."""
        pipe = _raw_of(f)
        while True:
            timeout = None if endtime is None else max(0.0, endtime - _monotonic())
            if timeout == 0.0:
                return False
            data = pipe.read_chunk(timeout)
            if data is None:
                return False
            if not data:
                _close_quietly(f)
                return True
            chunks.append(data)
            _checkpoint()  # a point per chunk (after it: what a wait brought is kept)

    def _feed(self, comm: _Comm, endtime: float | None) -> bool:
        """Write the rest of the input, then close stdin; False if ``endtime`` passed first."""
        f: _Any = self.stdin
        data = comm.input
        if data is not None:
            fd = f.fileno()
            started = comm.offset
            while comm.offset < len(data):
                if comm.offset > started:
                    _checkpoint()  # a point per chunk
                try:
                    n = _write_nowait(fd, data[comm.offset :])
                except BrokenPipeError:  # the child stopped reading: as the stdlib, ignore
                    break
                if n is not None:
                    comm.offset += n
                    continue
                timeout = None if endtime is None else max(0.0, endtime - _monotonic())
                if not _wait_fd(fd, _POLLOUT, timeout, f, "communicate"):
                    return False
        comm.fed = True
        _close_quietly(f)
        return True

    # -- context manager ---------------------------------------------------------

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        value: BaseException | None,
        traceback: _TracebackType | None,
    ) -> None:
        if isinstance(value, _CancelledError) and _current_state() is not None:
            self._end_child()
            if not hasattr(value, "returncode"):
                value.returncode = self.returncode  # type: ignore[attr-defined]
            return
        super().__exit__(exc_type, value, traceback)


def _none() -> None:
    return None


def _raw_of(f: _Any) -> _Any:
    """Our pipe under a (maybe text-wrapped) file object."""
    return f.buffer if isinstance(f, _io.TextIOWrapper) else f


def _close_quietly(f: _Any) -> None:
    try:
        f.close()
    except BrokenPipeError:
        pass
    except OSError as e:  # as the stdlib's _stdin_write
        if e.errno != _errno.EINVAL:
            raise


def _run_pumps(pumps: list[_Callable[[float | None], bool]], endtime: float | None) -> bool:
    """Run every pump to completion, the first in this thread, the others in helpers.

    Returns False if one of them stopped at ``endtime``.  A cancellation of
    this thread cancels the helpers (the group) before it propagates.
    """
    if not pumps:
        return True
    if len(pumps) == 1:
        return pumps[0](endtime)
    results = [False] * len(pumps)

    def run_pump(i: int) -> None:
        results[i] = pumps[i](endtime)

    with _ThreadGroup(wait=all) as g:
        for i in range(1, len(pumps)):
            g.spawn(run_pump, i, name="communicate")
        run_pump(0)
    return all(results)


# -- the stdlib's convenience functions, on this Popen --------------------------


def run(
    *popenargs: _Any,
    input: _Any = None,
    capture_output: bool = False,
    timeout: float | None = None,
    check: bool = False,
    **kwargs: _Any,
) -> CompletedProcess[_Any]:
    """As ``subprocess.run``; a cancel or ``timeout_after`` ends the child (module docstring)."""
    if input is not None:
        if kwargs.get("stdin") is not None:
            raise ValueError("stdin and input arguments may not both be used.")
        kwargs["stdin"] = PIPE
    if capture_output:
        if kwargs.get("stdout") is not None or kwargs.get("stderr") is not None:
            raise ValueError("stdout and stderr arguments may not be used with capture_output.")
        kwargs["stdout"] = PIPE
        kwargs["stderr"] = PIPE
    with Popen(*popenargs, **kwargs) as process:
        try:
            stdout, stderr = process.communicate(input, timeout=timeout)
        except TimeoutExpired:
            process.kill()
            process.wait()
            raise
        except BaseException:
            process.kill()
            raise
        retcode = _sp.Popen.poll(process)
        if check and retcode:
            raise CalledProcessError(retcode, process.args, output=stdout, stderr=stderr)
    assert retcode is not None
    return CompletedProcess(process.args, retcode, stdout, stderr)


def call(*popenargs: _Any, timeout: float | None = None, **kwargs: _Any) -> int:
    """As ``subprocess.call``."""
    with Popen(*popenargs, **kwargs) as p:
        try:
            return p.wait(timeout=timeout)
        except BaseException:
            p.kill()
            raise


def check_call(*popenargs: _Any, **kwargs: _Any) -> int:
    """As ``subprocess.check_call``."""
    retcode = call(*popenargs, **kwargs)
    if retcode:
        cmd = kwargs.get("args")
        if cmd is None:
            cmd = popenargs[0]
        raise CalledProcessError(retcode, cmd)
    return 0


def check_output(*popenargs: _Any, timeout: float | None = None, **kwargs: _Any) -> _Any:
    """As ``subprocess.check_output``."""
    for kw in ("stdout", "check"):
        if kw in kwargs:
            raise ValueError(f"{kw} argument not allowed, it will be overridden.")
    if "input" in kwargs and kwargs["input"] is None:
        text = (
            kwargs.get("universal_newlines")
            or kwargs.get("text")
            or kwargs.get("encoding")
            or kwargs.get("errors")
        )
        kwargs["input"] = "" if text else b""
    return run(*popenargs, stdout=PIPE, timeout=timeout, check=True, **kwargs).stdout


def getstatusoutput(
    cmd: str | bytes, *, encoding: str | None = None, errors: str | None = None
) -> tuple[int, str]:
    """As ``subprocess.getstatusoutput``."""
    try:
        data = check_output(
            cmd, shell=True, text=True, stderr=STDOUT, encoding=encoding, errors=errors
        )
        exitcode = 0
    except CalledProcessError as ex:
        data = ex.output
        exitcode = ex.returncode
    if data[-1:] == "\n":
        data = data[:-1]
    return exitcode, data


def getoutput(cmd: str | bytes, *, encoding: str | None = None, errors: str | None = None) -> str:
    """As ``subprocess.getoutput``."""
    return getstatusoutput(cmd, encoding=encoding, errors=errors)[1]
