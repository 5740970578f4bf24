"""thredo.net.subprocess: cancellable child processes, against real children and the stdlib.

Children are ``sys.executable -c ...`` (or ``sleep``).  A child that must be
"running and past its output" signals so on a side pipe (``pass_fds``),
so no test sleeps for ordering; a thread is known to wait through
``Thread.blocked_on``.
"""

from __future__ import annotations

import os
import signal
import subprocess as std
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from helpers import WAIT, wait_blocked, wait_until

import thredo
from thredo.net import subprocess as sp

PY = sys.executable
GRACE = 0.3  # the cancel grace period in these tests


@pytest.fixture(autouse=True)
def short_grace(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sp, "CANCEL_GRACE", GRACE)


@pytest.fixture(params=["pidfd", "fallback"])
def waiter(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Runs the test with each way of waiting for exit (``USE_PIDFD``)."""
    monkeypatch.setattr(sp, "USE_PIDFD", request.param == "pidfd")
    return str(request.param)


@pytest.fixture(params=["epoll", "threads"])
def comm_mode(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Runs the test with each way communicate() serves several pipes."""
    monkeypatch.setattr(sp, "COMMUNICATE_EPOLL", request.param == "epoll")
    return str(request.param)


def gone(pid: int) -> bool:
    """The process no longer runs: reaped (no /proc entry) or a zombie of someone else."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except (FileNotFoundError, ProcessLookupError):
        return True


def assert_reaped(p: sp.Popen) -> None:
    assert p.returncode is not None
    assert not os.path.exists(f"/proc/{p.pid}"), "zombie left behind"
    with pytest.raises(ChildProcessError):
        os.waitpid(p.pid, os.WNOHANG)
    for f in (p.stdin, p.stdout, p.stderr):
        assert f is None or f.closed


class SideChannel:
    """A pipe whose write end a child gets (``pass_fds``); ``ready()`` waits for its byte."""

    def __init__(self) -> None:
        self.r, self.w = os.pipe()

    def child_done(self) -> str:
        """Code for the child: tell the parent it got this far."""
        return f"os.write({self.w}, b'x')"

    def started(self) -> None:
        os.close(self.w)
        self.w = -1

    def ready(self) -> None:
        assert os.read(self.r, 1) == b"x"

    def close(self) -> None:
        os.close(self.r)
        if self.w >= 0:
            os.close(self.w)


@pytest.fixture
def side() -> Iterator[SideChannel]:
    s = SideChannel()
    try:
        yield s
    finally:
        s.close()


def partial_child(side: SideChannel, extra: str = "") -> list[str]:
    """A child that writes b'partial' to stdout and stderr, says so, then sleeps."""
    code = (
        "import os, sys, time, signal\n"
        f"{extra}\n"
        "sys.stdout.write('partial'); sys.stdout.flush()\n"
        "sys.stderr.write('oops'); sys.stderr.flush()\n"
        f"{side.child_done()}\n"
        "time.sleep(60)\n"
    )
    return [PY, "-c", code]


def pipe_empty(f: Any) -> bool:
    import fcntl
    import struct
    import termios

    buf = fcntl.ioctl(f.fileno(), termios.FIONREAD, b"\0\0\0\0")
    return bool(struct.unpack("i", buf)[0] == 0)


# The calls under test: each starts on a fresh child and returns it; how it is
# interrupted (cancel from another thread or a timeout_after deadline) is a parameter.


def call_wait(p: sp.Popen) -> Any:
    return p.wait()


def call_communicate(p: sp.Popen) -> Any:
    return p.communicate()


def call_readline(p: sp.Popen) -> Any:
    assert p.stdout is not None
    return p.stdout.readline()


CALLS: dict[str, tuple[Callable[[sp.Popen], Any], str]] = {
    "wait": (call_wait, "wait"),
    "communicate": (call_communicate, "communicate"),
    "readline": (call_readline, "read"),
}


class TestCancelPolicy:
    @pytest.mark.parametrize("name", sorted(CALLS))
    def test_cancelled(self, name: str, waiter: str, comm_mode: str, side: SideChannel) -> None:
        func, call = CALLS[name]

        def main() -> None:
            p = sp.Popen(partial_child(side), stdout=sp.PIPE, stderr=sp.PIPE, pass_fds=[side.w])
            side.started()
            side.ready()
            t = thredo.spawn(func, p)
            if name == "wait":
                wait_blocked(t, call, p)
            else:
                wait_blocked(t, call)
                wait_until(lambda: pipe_empty(p.stdout), "the partial output read")
            t.cancel()
            exc = t.exception
            assert isinstance(exc, thredo.ThreadCancelled)
            assert exc.returncode == -signal.SIGTERM
            if name == "communicate":
                assert (exc.stdout, exc.stderr) == (b"partial", b"oops")
            elif name == "readline":
                assert exc.stdout == b"partial"
                assert exc.bytes_read == b"partial"
            assert_reaped(p)

        thredo.run(main)

    @pytest.mark.parametrize("name", sorted(CALLS))
    def test_timed_out(self, name: str, waiter: str, comm_mode: str, side: SideChannel) -> None:
        func, _ = CALLS[name]

        def main() -> None:
            p = sp.Popen(partial_child(side), stdout=sp.PIPE, stderr=sp.PIPE, pass_fds=[side.w])
            side.started()
            side.ready()  # the output is in the pipes before the call starts
            with pytest.raises(thredo.ThreadTimeout) as info:
                with thredo.timeout_after(0.1):
                    func(p)
            exc: Any = info.value
            assert exc.returncode == -signal.SIGTERM
            if name == "communicate":
                assert (exc.stdout, exc.stderr) == (b"partial", b"oops")
            elif name == "readline":
                assert exc.stdout == b"partial"
            assert_reaped(p)

        thredo.run(main)

    @pytest.mark.parametrize("how", ["cancel", "timeout"])
    def test_run(self, how: str, comm_mode: str, side: SideChannel) -> None:
        def main() -> None:
            pids: list[int] = []
            real = sp.Popen.__init__

            def spy(self: sp.Popen, *a: Any, **k: Any) -> None:
                real(self, *a, **k)
                pids.append(self.pid)

            sp.Popen.__init__ = spy  # type: ignore[method-assign]
            try:
                cmd = partial_child(side)
                if how == "cancel":
                    t = thredo.spawn(sp.run, cmd, capture_output=True, pass_fds=[side.w])
                    side.ready()
                    wait_blocked(t, "communicate")
                    t.cancel()
                    exc: Any = t.exception
                    assert isinstance(exc, thredo.ThreadCancelled)
                else:
                    with pytest.raises(thredo.ThreadTimeout) as info:
                        with thredo.timeout_after(0.5):
                            sp.run(cmd, capture_output=True, pass_fds=[side.w])
                    exc = info.value
            finally:
                sp.Popen.__init__ = real  # type: ignore[method-assign]
            assert exc.returncode == -signal.SIGTERM
            assert exc.stdout == b"partial"
            assert exc.stderr == b"oops"
            assert not os.path.exists(f"/proc/{pids[0]}")

        thredo.run(main)

    def test_sigterm_ignored_is_killed_after_the_grace(
        self, waiter: str, side: SideChannel
    ) -> None:
        extra = "signal.signal(signal.SIGTERM, signal.SIG_IGN)"

        def main() -> None:
            p = sp.Popen(partial_child(side, extra), stdout=sp.DEVNULL, pass_fds=[side.w])
            side.started()
            side.ready()
            t = thredo.spawn(p.wait)
            wait_blocked(t, "wait", p)
            t0 = time.monotonic()
            t.cancel()
            assert time.monotonic() - t0 >= GRACE * 0.9
            assert p.returncode == -signal.SIGKILL
            assert t.exception.returncode == -signal.SIGKILL  # type: ignore[union-attr]
            assert_reaped(p)

        thredo.run(main)

    def test_grace_is_a_popen_argument(self, side: SideChannel) -> None:
        extra = "signal.signal(signal.SIGTERM, signal.SIG_IGN)"

        def main() -> None:
            cmd = partial_child(side, extra)
            p = sp.Popen(cmd, stdout=sp.DEVNULL, pass_fds=[side.w], cancel_grace=0.0)
            side.started()
            side.ready()
            with pytest.raises(thredo.ThreadTimeout):
                with thredo.timeout_after(0.01):
                    p.wait()
            assert p.returncode == -signal.SIGKILL

        thredo.run(main)

    @pytest.mark.parametrize("how", ["session", "group"])
    def test_grandchild_in_own_session_dies_too(self, how: str, side: SideChannel) -> None:
        if how == "group" and sys.version_info < (3, 11):
            pytest.skip("process_group= is 3.11+")
        code = (
            "import os, subprocess, sys, time\n"
            f"g = subprocess.Popen([{PY!r}, '-c', 'import time; time.sleep(60)'])\n"
            "sys.stdout.write(f'{g.pid}\\n'); sys.stdout.flush()\n"
            f"{side.child_done()}\n"
            "g.wait()\n"
        )
        kw: dict[str, Any] = (
            {"start_new_session": True} if how == "session" else {"process_group": 0}
        )

        def main() -> None:
            with sp.Popen([PY, "-c", code], stdout=sp.PIPE, pass_fds=[side.w], **kw) as p:
                side.started()
                side.ready()
                assert p.stdout is not None
                grandchild = int(p.stdout.readline())
                t = thredo.spawn(p.wait)
                wait_blocked(t, "wait", p)
                t.cancel()
            assert_reaped(p)
            wait_until(lambda: gone(grandchild), "the grandchild killed")

        thredo.run(main)

    def test_with_block_cancelled(self, side: SideChannel) -> None:
        def body(q: thredo.Queue[int]) -> None:
            with sp.Popen(partial_child(side), stdout=sp.PIPE, pass_fds=[side.w]) as p:
                q.put(p.pid)
                thredo.sleep(3600)

        def main() -> None:
            q: thredo.Queue[int] = thredo.Queue()
            t = thredo.spawn(body, q)
            pid = q.get()
            side.ready()
            wait_blocked(t, "sleep")
            t.cancel()
            assert not os.path.exists(f"/proc/{pid}")
            assert t.exception.returncode == -signal.SIGTERM  # type: ignore[union-attr]

        thredo.run(main)

    def test_fifty_children_in_a_group(self, waiter: str) -> None:
        popens: list[sp.Popen] = []

        def child() -> None:
            p = sp.Popen(["sleep", "60"])
            popens.append(p)
            p.wait()

        def main() -> None:
            with thredo.ThreadGroup(wait=None) as g:
                threads = [g.spawn(child) for _ in range(50)]
                for t in threads:
                    wait_blocked(t, "wait")
                t0 = time.monotonic()
                g.cancel_remaining()
            assert time.monotonic() - t0 < GRACE + WAIT
            assert len(popens) == 50
            for p in popens:
                assert p.returncode == -signal.SIGTERM
                assert not os.path.exists(f"/proc/{p.pid}")

        thredo.run(main)

    @pytest.mark.parametrize("call", ["poll", "wait", "communicate"])
    def test_a_call_that_need_not_wait_is_a_cancellation_point(self, call: str) -> None:
        def main() -> None:
            p = sp.Popen([PY, "-c", "pass"], stdout=sp.PIPE)
            p.communicate()
            assert p.returncode == 0
            with thredo.disable_cancellation():  # held pending until the block exits
                me = thredo.current_thread()
                assert me is not None
                me.cancel(blocking=False)
            with pytest.raises(thredo.ThreadCancelled) as info:
                getattr(p, call)()
            assert info.value.returncode == 0
            assert_reaped(p)

        thredo.run(main)

    def test_pipe_read_of_buffered_data_is_a_cancellation_point(self) -> None:
        def main() -> None:
            p = sp.Popen([PY, "-c", "print('a'); print('b')"], stdout=sp.PIPE)
            assert p.stdout is not None
            assert p.stdout.readline() == b"a\n"  # b"b\n" is buffered now, or soon in the pipe
            with thredo.disable_cancellation():  # held pending until the block exits
                me = thredo.current_thread()
                assert me is not None
                me.cancel(blocking=False)
            with pytest.raises(thredo.ThreadCancelled):
                p.stdout.readline()
            assert_reaped(p)

        thredo.run(main)

    def test_blocked_on_names_the_child(self) -> None:
        def main() -> None:
            with sp.Popen(["sleep", "60"]) as p:
                t = thredo.spawn(p.wait)
                rec = wait_blocked(t, "wait")
                assert rec.obj is p
                assert repr(p) == "<Popen: returncode: None args: ['sleep', '60']>"  # the stdlib's
                t.cancel()

        thredo.run(main)


class TestStdlibTimeout:
    def test_wait_timeout_leaves_the_child_running(self, waiter: str) -> None:
        def main() -> None:
            p = sp.Popen(["sleep", "60"])
            with pytest.raises(sp.TimeoutExpired):
                p.wait(timeout=0.05)
            assert p.poll() is None
            p.kill()
            assert p.wait() == -signal.SIGKILL
            assert_reaped(p)

        thredo.run(main)

    def test_communicate_timeout_then_kill_communicate(
        self, comm_mode: str, side: SideChannel
    ) -> None:
        def main() -> None:
            p = sp.Popen(partial_child(side), stdout=sp.PIPE, stderr=sp.PIPE, pass_fds=[side.w])
            side.started()
            side.ready()
            with pytest.raises(sp.TimeoutExpired) as info:
                p.communicate(timeout=0.1)
            assert info.value.output == b"partial"
            assert p.poll() is None
            p.kill()
            assert p.communicate() == (b"partial", b"oops")
            assert p.returncode == -signal.SIGKILL
            assert_reaped(p)

        thredo.run(main)

    def test_run_timeout_kills(self) -> None:
        def main() -> None:
            with pytest.raises(sp.TimeoutExpired):
                sp.run(["sleep", "60"], timeout=0.05)

        thredo.run(main)

    def test_nan_timeout(self) -> None:
        def main() -> None:
            with sp.Popen(["true"]) as p, pytest.raises(ValueError, match="NaN"):
                p.wait(timeout=float("nan"))

        thredo.run(main)


# -- parity with the stdlib -------------------------------------------------------------

SCRIPT = (
    "import os, sys\n"
    "data = sys.stdin.read()\n"
    "sys.stdout.write(data.upper() + 'é\\r\\n' + os.getcwd() + os.environ.get('X', '-'))\n"
    "sys.stderr.write('err')\n"
    "sys.exit(int(sys.argv[1]) if len(sys.argv) > 1 else 0)\n"
)


def both(func: Callable[[Any], Any]) -> tuple[Any, Any]:
    """``func(module)`` with the stdlib module (here) and ours (in a thredo thread)."""
    return func(std), thredo.run(func, sp)


def outcome(func: Callable[[], Any]) -> Any:
    try:
        r = func()
    except (std.CalledProcessError, std.TimeoutExpired, OSError) as e:
        return type(e), str(e), getattr(e, "output", None), getattr(e, "stderr", None)
    if isinstance(r, std.CompletedProcess):
        return ("CP", r.args, r.returncode, r.stdout, r.stderr)
    return r


class TestParity:
    @pytest.mark.parametrize(
        "kw",
        [
            {},
            {"text": True},
            {"encoding": "utf-8", "errors": "replace"},
            {"universal_newlines": True},
            {"check": True},
            {"bufsize": 0},
            {"env": {"X": "42"}},
        ],
        ids=repr,
    )
    @pytest.mark.parametrize("code", ["0", "3"])
    def test_run(self, kw: dict[str, Any], code: str, tmp_path: Any, comm_mode: str) -> None:
        text = kw.get("text") or kw.get("encoding") or kw.get("universal_newlines")
        data: Any = "abc\n" if text else b"abc\n"

        def go(m: Any) -> Any:
            return outcome(
                lambda: m.run(
                    [PY, "-c", SCRIPT, code], input=data, capture_output=True, cwd=tmp_path, **kw
                )
            )

        a, b = both(go)
        assert a == b

    def test_helpers(self) -> None:
        def go(m: Any) -> Any:
            return [
                outcome(lambda: m.call([PY, "-c", "raise SystemExit(4)"])),
                outcome(lambda: m.check_call([PY, "-c", "raise SystemExit(4)"])),
                outcome(lambda: m.check_call([PY, "-c", "pass"])),
                outcome(lambda: m.check_output([PY, "-c", "print('out')"])),
                outcome(lambda: m.check_output([PY, "-c", "print(input())"], input="x", text=True)),
                outcome(lambda: m.check_output([PY, "-c", "print(1); raise SystemExit(2)"])),
                outcome(lambda: m.getoutput("echo hi; echo there >&2")),
                outcome(lambda: m.getstatusoutput("echo hi; exit 3")),
                outcome(lambda: m.run(["/nonexistent/program"])),
                outcome(lambda: m.run("exit 5", shell=True)),
            ]

        a, b = both(go)
        assert a == b

    def test_popen_pipes(self) -> None:
        def go(m: Any) -> Any:
            p = m.Popen(
                [PY, "-c", "import sys\nfor l in sys.stdin: print(l.strip()[::-1], flush=True)"],
                stdin=m.PIPE,
                stdout=m.PIPE,
                text=True,
            )
            out = []
            with p:
                for word in ["abc", "hello"]:
                    p.stdin.write(word + "\n")
                    p.stdin.flush()
                    out.append(p.stdout.readline())
                p.stdin.close()
                out.extend(p.stdout)
            return out, p.returncode

        a, b = both(go)
        assert a == b == (["cba\n", "olleh\n"], 0)

    def test_binary_reads(self) -> None:
        def go(m: Any) -> Any:
            code = "import sys; sys.stdout.buffer.write(b'x' * 100000 + b'\\nend')"
            with m.Popen([PY, "-c", code], stdout=m.PIPE) as p:
                return p.stdout.read(10), len(p.stdout.readline()), p.stdout.read(), p.wait()

        a, b = both(go)
        assert a == b

    def test_stderr_to_stdout(self) -> None:
        def go(m: Any) -> Any:
            code = "import sys; print('a', flush=True); print('b', file=sys.stderr)"
            return m.run([PY, "-c", code], stdout=m.PIPE, stderr=m.STDOUT).stdout

        a, b = both(go)
        assert a == b == b"a\nb\n"

    def test_pass_fds(self) -> None:
        def go(m: Any) -> Any:
            r, w = os.pipe()
            try:
                m.run([PY, "-c", f"import os; os.write({w}, b'via fd')"], pass_fds=[w])
                os.close(w)
                w = -1
                return os.read(r, 100)
            finally:
                os.close(r)
                if w >= 0:
                    os.close(w)

        a, b = both(go)
        assert a == b == b"via fd"

    def test_exports_are_the_stdlib_objects(self) -> None:
        for name in std.__all__:
            assert hasattr(sp, name), name
            assert name in sp.__all__
        for name in ["PIPE", "DEVNULL", "STDOUT", "CalledProcessError", "TimeoutExpired"]:
            assert getattr(sp, name) is getattr(std, name)
        assert sp.SubprocessError is std.SubprocessError
        assert issubclass(sp.Popen, std.Popen)

    def test_plain_thread_behaves_as_stdlib(self) -> None:
        r = sp.run([PY, "-c", SCRIPT], input=b"q", capture_output=True)
        assert r.stdout.startswith(b"Q")
        assert r.stderr == b"err"
        with pytest.raises(sp.TimeoutExpired):
            sp.run(["sleep", "60"], timeout=0.05)


class TestNoDeadlock:
    N = 8 * 1024 * 1024

    def test_large_stdout_and_stderr_and_input(self, comm_mode: str) -> None:
        code = (
            "import sys\n"
            "data = sys.stdin.buffer.read()\n"
            "for _ in range(4):\n"
            "    sys.stdout.buffer.write(data); sys.stderr.buffer.write(data[:1000000])\n"
        )
        blob = os.urandom(1024) * (self.N // 1024)

        def main() -> None:
            r = sp.run([PY, "-c", code], input=blob, capture_output=True)
            assert r.returncode == 0
            assert r.stdout == blob * 4
            assert r.stderr == blob[:1000000] * 4

        thredo.run(main)

    def test_large_output_with_an_input_that_is_not_read(self, comm_mode: str) -> None:
        code = "import sys; sys.stdout.buffer.write(b'y' * 3000000); sys.stdout.flush()"

        def main() -> None:
            r = sp.run([PY, "-c", code], input=b"z" * 3000000, capture_output=True)
            assert r.returncode == 0
            assert len(r.stdout) == 3000000

        thredo.run(main)

    def test_cancelled_communicate_reports_bytes_written(
        self, comm_mode: str, side: SideChannel
    ) -> None:
        code = f"import os, time; {side.child_done()}; time.sleep(60)"

        def main() -> None:
            p = sp.Popen([PY, "-c", code], stdin=sp.PIPE, stdout=sp.PIPE, pass_fds=[side.w])
            side.started()
            side.ready()
            t = thredo.spawn(p.communicate, b"w" * 1000000)
            wait_blocked(t, "communicate")
            t.cancel()
            exc: Any = t.exception
            assert 0 < exc.bytes_written < 1000000
            assert exc.stdout == b""
            assert_reaped(p)

        thredo.run(main)
