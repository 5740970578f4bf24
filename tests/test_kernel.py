"""Ctrl-C under thredo.run(), tested on real child processes.

Each test writes a small script, starts it with the current interpreter,
waits for the line it prints once it is blocked (``READY``), sends SIGINT
and checks what the process printed and how it ended.

What counts as a clean Ctrl-C: every ``finally`` ran, and stderr holds
nothing but the single top-level ``KeyboardInterrupt`` traceback of an
uncaught interrupt (or nothing at all when the script catches it) -- no
"Exception in thread", no "Exception ignored", no cancellation traceback
from another thread.
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

TIMEOUT = 20  # generous upper bound for any step

# Every script starts with this.  say() is one write(2), so lines printed by
# concurrent threads never interleave.
PRELUDE = """\
import os
import sys

import thredo


def say(msg):
    os.write(1, (msg + "\\n").encode())

"""


class Script:
    """A Python script running in a child process, its stdout read as it comes."""

    def __init__(self, path: Path, source: str, *args: str) -> None:
        path.write_text(PRELUDE + textwrap.dedent(source))
        self.proc = subprocess.Popen(
            [sys.executable, str(path), *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
            # Ctrl-C must reach the child even when the suite runs with SIGINT
            # ignored (`nohup`, a CI shell): its children inherit that.
            preexec_fn=_sigint_default,
        )
        self._seen = b""
        self._err = b""

    def wait_for(self, marker: str, timeout: float = TIMEOUT) -> None:
        """Read stdout (unbuffered, so communicate() gets the rest) up to ``marker``."""
        fd = self.proc.stdout.fileno()
        want = marker.encode()
        end = time.monotonic() + timeout
        while want not in self._seen:
            left = end - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no {marker!r} within {timeout} s; stdout: {self._seen!r}")
            ready, _, _ = select.select([fd], [], [], left)
            if ready:
                chunk = os.read(fd, 4096)
                if not chunk:
                    _, err = self.proc.communicate(timeout=TIMEOUT)
                    raise AssertionError(
                        f"exited before {marker!r}; stdout: {self._seen!r}; stderr: {err.decode()}"
                    )
                self._seen += chunk

    def wait_for_err(self, marker: str, timeout: float = TIMEOUT) -> str:
        """Read stderr up to ``marker``; return what was read so far."""
        fd = self.proc.stderr.fileno()
        want = marker.encode()
        end = time.monotonic() + timeout
        while want not in self._err:
            left = end - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no {marker!r} on stderr within {timeout} s: {self._err!r}")
            ready, _, _ = select.select([fd], [], [], left)
            if ready:
                chunk = os.read(fd, 4096)
                if not chunk:
                    raise AssertionError(f"stderr closed before {marker!r}: {self._err!r}")
                self._err += chunk
        return self._err.decode()

    def sigint(self) -> None:
        self.proc.send_signal(signal.SIGINT)

    def finish(self, timeout: float = TIMEOUT) -> tuple[int, list[str], str]:
        """Wait for exit; return (returncode, stdout lines, stderr)."""
        out, err = self.proc.communicate(timeout=timeout)
        lines = (self._seen + out).decode().splitlines()
        return self.proc.returncode, lines, (self._err + err).decode()

    def ctrl_c_when_ready(self) -> tuple[int, list[str], str]:
        """Wait for ``READY``, send SIGINT, then ``finish()``."""
        self.wait_for("READY")
        self.sigint()
        return self.finish()

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.communicate()


def _sigint_default() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.fixture
def script(tmp_path: Path) -> Iterator[Callable[..., Script]]:
    started: list[Script] = []

    def start(source: str, *args: str) -> Script:
        s = Script(tmp_path / f"script{len(started)}.py", source, *args)
        started.append(s)
        return s

    yield start
    for s in started:
        s.close()


def assert_single_keyboard_interrupt_traceback(err: str) -> None:
    """stderr is exactly one traceback, the uncaught KeyboardInterrupt of run()."""
    lines = err.strip().splitlines()
    assert lines, "stderr is empty"
    assert lines[0] == "Traceback (most recent call last):", err
    assert lines[-1] == "KeyboardInterrupt", err
    assert err.count("Traceback") == 1, err
    assert "thredo.run(main)" in err, err
    for noise in ("Exception in thread", "Exception ignored", "ThreadCancelled", "During handling"):
        assert noise not in err, err


# The main thread blocks in a group of three members, beside a daemon thread.
GROUP_SCRIPT = """
    def member(name):
        try:
            thredo.sleep(3600)
        finally:
            say(f"{name} finally")

    def main():
        try:
            thredo.spawn(member, "daemon", daemon=True)
            with thredo.ThreadGroup() as g:
                for n in range(3):
                    g.spawn(member, f"member{n}")
                say("READY")
                thredo.sleep(3600)
            say("not reached")
        finally:
            say("main finally")

    if sys.argv[1:] == ["catch"]:
        try:
            thredo.run(main)
        except KeyboardInterrupt:
            say("CAUGHT KeyboardInterrupt")
            sys.exit(3)
    else:
        thredo.run(main)
    say("not reached either")
"""


class TestFirstCtrlC:
    def test_unwinds_group_and_raises_keyboard_interrupt(self, script):
        s = script(GROUP_SCRIPT)
        rc, out, err = s.ctrl_c_when_ready()
        assert rc == -signal.SIGINT  # an uncaught KeyboardInterrupt ends Python so
        members = ["member0 finally", "member1 finally", "member2 finally"]
        assert sorted(out) == sorted(["READY", *members, "daemon finally", "main finally"])
        # the group's members had exited before the main thread's finally ran
        main_at = out.index("main finally")
        assert all(out.index(m) < main_at for m in members)
        assert_single_keyboard_interrupt_traceback(err)

    def test_keyboard_interrupt_can_be_caught_cleanly(self, script):
        s = script(GROUP_SCRIPT, "catch")
        rc, out, err = s.ctrl_c_when_ready()
        assert rc == 3
        assert out[-1] == "CAUGHT KeyboardInterrupt"
        assert {"member0 finally", "member1 finally", "member2 finally"} <= set(out)
        assert {"daemon finally", "main finally"} <= set(out)
        assert "not reached" not in out
        assert err == ""

    def test_cleanup_in_finally_may_block(self, script):
        s = script(
            """
            def main():
                try:
                    say("READY")
                    thredo.sleep(3600)
                finally:
                    t = thredo.spawn(lambda: "helper result")
                    thredo.sleep(0.01)  # the delivered cancel is not raised again
                    say(f"cleanup {t.join()}")

            try:
                thredo.run(main)
            except KeyboardInterrupt:
                say("CAUGHT")
            """
        )
        rc, out, err = s.ctrl_c_when_ready()
        assert rc == 0
        assert out == ["READY", "cleanup helper result", "CAUGHT"]
        assert err == ""

    def test_after_main_returned_cancels_remaining_threads(self, script):
        s = script(
            """
            def worker(main_thread):
                try:
                    main_thread.wait()
                    say("READY")
                    thredo.sleep(3600)
                finally:
                    say("worker finally")

            def main():
                thredo.spawn(worker, thredo.current_thread())
                return "main result"

            try:
                thredo.run(main)
            except KeyboardInterrupt:
                say("CAUGHT")
            """
        )
        rc, out, err = s.ctrl_c_when_ready()
        assert rc == 0
        assert out == ["READY", "worker finally", "CAUGHT"]
        assert err == ""

    def test_cancels_threads_main_left_blocked(self, script):
        """A non-daemon thread outside any group goes too: run() does not hang on it."""
        s = script(
            """
            def orphan():
                try:
                    thredo.sleep(3600)
                finally:
                    say("orphan finally")

            def main():
                thredo.spawn(orphan)
                try:
                    say("READY")
                    thredo.sleep(3600)
                finally:
                    say("main finally")

            try:
                thredo.run(main)
            except KeyboardInterrupt:
                say("CAUGHT")
            """
        )
        rc, out, err = s.ctrl_c_when_ready()
        assert rc == 0
        assert out[0] == "READY"
        assert out[-1] == "CAUGHT"
        assert sorted(out[1:-1]) == ["main finally", "orphan finally"]
        assert err == ""

    def test_cancels_curio_coroutine_main_awaits(self, script):
        s = script(
            """
            import curio

            async def forever():
                try:
                    say("READY")
                    await curio.sleep(3600)
                except curio.TaskCancelled:
                    say("coroutine cancelled")
                    raise

            def main():
                try:
                    thredo.AWAIT(forever)
                finally:
                    say("main finally")

            try:
                thredo.run(main)
            except KeyboardInterrupt:
                say("CAUGHT")
            """
        )
        rc, out, err = s.ctrl_c_when_ready()
        assert rc == 0
        assert out == ["READY", "coroutine cancelled", "main finally", "CAUGHT"]
        assert err == ""

    def test_run_usable_again_after_ctrl_c(self, script):
        s = script(
            """
            def main():
                say("READY")
                thredo.sleep(3600)

            try:
                thredo.run(main)
            except KeyboardInterrupt:
                say("CAUGHT")
            say(f"second run {thredo.run(lambda: thredo.spawn(lambda: 42).join())}")
            """
        )
        rc, out, err = s.ctrl_c_when_ready()
        assert rc == 0
        assert out == ["READY", "CAUGHT", "second run 42"]
        assert err == ""


# The main thread's finally blocks in cleanup that cannot be cancelled.
STUCK_CLEANUP_SCRIPT = """
    def member():
        try:
            thredo.sleep(3600)
        finally:
            say("member finally")

    def main():
        try:
            with thredo.ThreadGroup() as g:
                g.spawn(member)
                say("READY")
                thredo.sleep(3600)
        finally:
            with thredo.disable_cancellation():
                say("CLEANUP")
                thredo.sleep(3600)
            say("after cleanup")

    if sys.argv[1:] == ["catch"]:
        try:
            thredo.run(main)
        except KeyboardInterrupt:
            say("CAUGHT KeyboardInterrupt")
            sys.exit(3)
    else:
        thredo.run(main)
"""


class TestSecondCtrlC:
    def _interrupt_twice(self, s: Script) -> tuple[int, list[str], str, float]:
        s.wait_for("READY")
        s.sigint()
        s.wait_for("CLEANUP")
        start = time.monotonic()
        s.sigint()
        rc, out, err = s.finish()
        return rc, out, err, time.monotonic() - start

    def test_ends_process_promptly(self, script):
        rc, out, err, elapsed = self._interrupt_twice(script(STUCK_CLEANUP_SCRIPT))
        assert elapsed < 10
        assert rc == -signal.SIGINT
        assert out == ["READY", "member finally", "CLEANUP"]
        assert "\nKeyboardInterrupt\n" in err
        assert "Exception in thread" not in err

    def test_keyboard_interrupt_can_be_caught(self, script):
        rc, out, err, elapsed = self._interrupt_twice(script(STUCK_CLEANUP_SCRIPT, "catch"))
        assert elapsed < 10
        assert rc == 3
        assert out == ["READY", "member finally", "CLEANUP", "CAUGHT KeyboardInterrupt"]
        assert "Exception in thread" not in err

    def test_stderr_is_clean(self, script):
        rc, out, err, elapsed = self._interrupt_twice(script(STUCK_CLEANUP_SCRIPT))
        assert_single_keyboard_interrupt_traceback(err)

    def test_stderr_is_empty_when_caught(self, script):
        rc, out, err, elapsed = self._interrupt_twice(script(STUCK_CLEANUP_SCRIPT, "catch"))
        assert err == ""


class TestSignalsAndProcessLife:
    def test_sigint_ignored_at_start_stays_ignored(self, script):
        s = script(
            """
            import signal
            assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN

            def main():
                say(f"inside {signal.getsignal(signal.SIGINT) is signal.SIG_IGN}")
                say("READY")
                thredo.sleep(0.5)
                say("main done")

            thredo.run(main)
            say(f"after {signal.getsignal(signal.SIGINT) is signal.SIG_IGN}")
            """
        )
        # Started as `nohup` / `cmd &` would: SIGINT ignored from the start.
        s.proc.kill()
        s.proc.communicate()
        path = s.proc.args[1]
        proc = subprocess.Popen(
            [sys.executable, path],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
        )
        fd = proc.stdout.fileno()
        seen = b""
        while b"READY" not in seen:
            chunk = os.read(fd, 4096)
            assert chunk, proc.communicate()
            seen += chunk
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=TIMEOUT)
        lines = (seen + out).decode().splitlines()
        assert proc.returncode == 0, err
        assert lines == ["inside True", "READY", "main done", "after True"]
        assert err.decode() == ""

    def test_first_ctrl_c_in_uncancellable_call_says_so(self, script):
        s = script(
            """
            import time

            def main():
                try:
                    say("READY")
                    time.sleep(2)  # thredo cannot interrupt this
                    say("slept")
                    thredo.sleep(3600)  # the cancel lands here
                finally:
                    say("main finally")

            try:
                thredo.run(main)
            except KeyboardInterrupt:
                say("CAUGHT")
            """
        )
        rc, out, err = s.ctrl_c_when_ready()
        assert rc == 0
        assert out == ["READY", "slept", "main finally", "CAUGHT"]
        hint = [line for line in err.splitlines() if line]
        assert len(hint) == 2, err
        assert "cannot interrupt" in hint[0]
        assert "Ctrl-C again" in hint[0]
        assert hint[1].startswith("  'thredo-main': in time.sleep(2) at "), err
        assert hint[1].endswith(":16"), err

    def test_no_hint_when_the_cancel_is_delivered(self, script):
        s = script(
            """
            def main():
                say("READY")
                thredo.sleep(3600)

            try:
                thredo.run(main)
            except KeyboardInterrupt:
                say("CAUGHT")
            """
        )
        rc, out, err = s.ctrl_c_when_ready()
        assert (rc, out, err) == (0, ["READY", "CAUGHT"], "")


def test_run_of_an_async_function_is_a_type_error():
    import thredo

    async def coro_main():
        return 1

    with pytest.raises(TypeError, match="AWAIT"):
        thredo.run(coro_main)

    def main():
        with pytest.raises(TypeError, match="AWAIT"):
            thredo.spawn(coro_main)
        return "ok"

    assert thredo.run(main) == "ok"


def test_a_partial_of_an_async_function_fails_with_type_error():
    import functools

    import thredo

    async def coro_main(x):
        return x

    with pytest.raises(TypeError, match="AWAIT"):
        thredo.run(functools.partial(coro_main, 1))


def test_100_runs_with_socket_workers_leave_no_os_thread():
    import threading

    import thredo
    from thredo.net import socket as tsocket

    def worker(sock):
        while data := sock.recv(100):
            sock.sendall(data)

    def main():
        for _ in range(3):
            a, b = tsocket.socketpair()
            with a, b:
                t = thredo.spawn(worker, b)
                a.sendall(b"ping")
                assert a.recv(100) == b"ping"
                a.shutdown(tsocket.SHUT_WR)
                t.join()

    before = set(threading.enumerate())
    for _ in range(100):
        thredo.run(main)
        left = set(threading.enumerate()) - before
        assert not left, left


class TestStuckWhereThredoCannotReach:
    """Issue 22.6: Ctrl-C names what holds run() up, and the second one always ends it."""

    def test_first_ctrl_c_names_a_worker_stuck_on_a_threading_lock(self, script):
        """Promise: the first Ctrl-C names every thread run() waits for and cannot interrupt."""
        s = script(
            """
            import threading

            lock = threading.Lock()
            lock.acquire()

            def worker():
                say("READY")
                lock.acquire()  # thredo cannot interrupt this

            def main():
                t = thredo.spawn(worker, name="stuck-worker")
                t.join()

            thredo.run(main)
            """
        )
        s.wait_for("READY")
        s.sigint()
        err = s.wait_for_err("stuck-worker")
        s.wait_for_err("\n", timeout=TIMEOUT)
        line = next(x for x in err.splitlines() if "stuck-worker" in x)
        assert "lock.acquire()" in line, err
        assert f"{s.proc.args[1]}:18" in line, err
        assert "Ctrl-C again" in err
        start = time.monotonic()
        s.sigint()
        rc, out, err = s.finish()
        assert time.monotonic() - start < 10
        assert rc == -signal.SIGINT, err
        assert out == ["READY"]

    def test_second_ctrl_c_ends_a_program_with_a_busy_thread_pool(self, script):
        """Promise: the second Ctrl-C ends the program though plain threads would be joined."""
        s = script(
            """
            import concurrent.futures
            import threading

            never = threading.Event()

            def main():
                pool = concurrent.futures.ThreadPoolExecutor(1)
                job = pool.submit(never.wait)
                say("READY")
                job.result()  # thredo cannot interrupt this

            thredo.run(main)
            """
        )
        s.wait_for("READY")
        s.sigint()
        err = s.wait_for_err("Ctrl-C again")
        s.wait_for_err("job.result()")
        err = s.wait_for_err("\n  ")  # the thread's line follows the first
        assert "thredo-main" in err, err
        start = time.monotonic()
        s.sigint()
        rc, out, err = s.finish()
        assert time.monotonic() - start < 10
        assert rc == -signal.SIGINT, err
        assert "\nKeyboardInterrupt\n" in err
