"""thredo.run(): results, phases, daemon threads (``_kernel.py``; Ctrl-C: test_kernel.py)."""

from __future__ import annotations

import queue
import signal
import socket
import threading

import pytest
from helpers import FOREVER, block_forever

import thredo
from thredo import ThreadCancelled, ThreadError


class TestRun:
    def test_returns_result_with_args(self, run):
        assert run(lambda a, b=0: a * b, 6, b=7) == 42

    def test_spawn_outside_run(self):
        with pytest.raises(RuntimeError, match=r"thredo\.run"):
            thredo.spawn(lambda: None)

    def test_run_inside_run(self, run):
        def main():
            with pytest.raises(RuntimeError, match="inside a thredo thread"):
                thredo.run(lambda: None)
            return "ok"

        assert run(main) == "ok"

    def test_run_inside_spawned_thread(self, run):
        def child():
            thredo.run(lambda: None)

        def main():
            t = thredo.spawn(child)
            t.wait()
            return t.exception

        exc = run(main)
        assert isinstance(exc, RuntimeError)
        assert "inside a thredo thread" in str(exc)

    def test_reraises_main_exception_unchanged(self, run):
        original = ValueError("main failed")

        def main():
            raise original

        with pytest.raises(ValueError, match="main failed") as ei:
            run(main)
        assert ei.value is original
        assert not isinstance(ei.value, ThreadError)

    def test_reraises_base_exception_unchanged(self, run):
        original = SystemExit(4)

        def main():
            raise original

        with pytest.raises(SystemExit) as ei:
            run(main)
        assert ei.value is original

    def test_waits_for_non_daemon_threads(self, run):
        log: list[str] = []
        threads = []

        def child(main_thread):
            main_thread.wait()  # finishes only after main has returned
            log.append("child done")
            return "child"

        def main():
            t = thredo.spawn(child, thredo.current_thread())
            threads.append(t)
            log.append("main returns")
            return "main"

        assert run(main) == "main"
        assert log == ["main returns", "child done"]
        assert threads[0].terminated
        assert threads[0].result == "child"

    def test_waits_for_non_daemon_threads_after_main_failed(self, run):
        log: list[str] = []

        def child(main_thread):
            main_thread.wait()
            log.append("child done")

        def main():
            thredo.spawn(child, thredo.current_thread())
            raise KeyError("main")

        with pytest.raises(KeyError):
            run(main)
        assert log == ["child done"]

    def test_daemon_threads_cancelled_and_joined_at_end(self, run):
        log: list[str] = []
        daemons = []

        def main():
            for n in range(3):
                daemons.append(thredo.spawn(block_forever, log, f"d{n}", daemon=True))
            return "done"

        assert run(main) == "done"
        assert sorted(log) == ["d0 finally", "d1 finally", "d2 finally"]
        for d in daemons:
            assert d.terminated
            assert d.cancelled
            assert isinstance(d.exception, ThreadCancelled)

    def test_daemon_threads_cancelled_only_after_non_daemons(self, run):
        log: list[str] = []
        seen: list[bool] = []

        def watcher(main_thread, daemon):
            main_thread.wait()
            seen.append(daemon.is_alive())  # main is done, daemon still running
            log.append("watcher done")

        def main():
            d = thredo.spawn(block_forever, log, "daemon", daemon=True)
            thredo.spawn(watcher, thredo.current_thread(), d)

        run(main)
        assert seen == [True]
        assert log == ["watcher done", "daemon finally"]

    def test_threads_spawned_by_daemons_during_shutdown_are_cancelled(self, run):
        log: list[str] = []
        spawned = []

        def daemon():
            try:
                thredo.sleep(FOREVER)
            finally:
                spawned.append(thredo.spawn(block_forever, log, "late"))
                log.append("daemon finally")

        def main():
            thredo.spawn(daemon, daemon=True)

        run(main)
        assert sorted(log) == ["daemon finally", "late finally"]
        assert spawned[0].terminated

    def test_run_twice(self, run):
        log: list[str] = []

        def main(n):
            t = thredo.spawn(lambda: n * 10)
            thredo.spawn(block_forever, log, f"run{n}", daemon=True)
            return t.join()

        assert run(main, 1) == 10
        assert run(main, 2) == 20
        assert log == ["run1 finally", "run2 finally"]

    def test_restores_sigint_handler(self, run):
        before = signal.getsignal(signal.SIGINT)
        run(lambda: None)
        assert signal.getsignal(signal.SIGINT) is before
        with pytest.raises(ZeroDivisionError):
            run(lambda: 1 / 0)
        assert signal.getsignal(signal.SIGINT) is before

    def test_restores_signal_wakeup_fd(self, run):
        r, w = socket.socketpair()
        try:
            w.setblocking(False)
            previous = signal.set_wakeup_fd(w.fileno())
            try:
                run(lambda: None)
            finally:
                current = signal.set_wakeup_fd(previous)
            assert current == w.fileno()
        finally:
            r.close()
            w.close()

    def test_main_cancelled_by_another_thread(self, run):
        def killer(main_thread):
            main_thread.cancel()

        def main():
            thredo.spawn(killer, thredo.current_thread())
            thredo.sleep(FOREVER)

        with pytest.raises(ThreadCancelled):
            run(main)

    def test_spawn_from_plain_thread_during_run(self, run):
        def main():
            out: queue.Queue = queue.Queue()

            def plain():
                try:
                    thredo.spawn(lambda: None)
                except RuntimeError as e:
                    out.put(e)

            th = threading.Thread(target=plain)
            th.start()
            th.join()
            return out.get_nowait()

        assert "thredo.run" in str(run(main))

    def test_run_from_plain_thread(self, run):
        out: queue.Queue = queue.Queue()
        log: list[str] = []
        before = signal.getsignal(signal.SIGINT)

        def main():
            t = thredo.spawn(lambda: "child")
            thredo.spawn(block_forever, log, "daemon", daemon=True)
            return t.join(), thredo.current_thread() is not None

        def plain():
            try:
                out.put(("ok", thredo.run(main)))
            except BaseException as e:
                out.put(("error", e))

        th = threading.Thread(target=plain)
        th.start()
        th.join()
        assert out.get_nowait() == ("ok", ("child", True))
        assert log == ["daemon finally"]
        assert signal.getsignal(signal.SIGINT) is before

    def test_concurrent_runs_in_two_plain_threads(self, run):
        out: queue.Queue = queue.Queue()
        both_running = threading.Barrier(2)

        def main(n):
            both_running.wait()
            return thredo.spawn(lambda: n).join()

        def plain(n):
            out.put(thredo.run(main, n))

        ths = [threading.Thread(target=plain, args=(n,)) for n in (1, 2)]
        for th in ths:
            th.start()
        for th in ths:
            th.join()
        assert sorted([out.get_nowait(), out.get_nowait()]) == [1, 2]


def test_a_thread_that_fails_to_start_does_not_hang_run(monkeypatch: pytest.MonkeyPatch) -> None:
    def main() -> str:
        with monkeypatch.context() as m:
            m.setattr(threading.Thread, "start", _refuse_start)
            # thredo's lighter threading.Thread starts itself (_threads._OSThread)
            m.setattr(type(thredo.Thread().os_thread()), "start", _refuse_start)
            with pytest.raises(RuntimeError, match="can't start new thread"):
                thredo.spawn(lambda: None)
        return "main done"

    assert thredo.run(main) == "main done"


def _refuse_start(self: threading.Thread) -> None:
    raise RuntimeError("can't start new thread")


def test_import_thredo_loads_the_core_only() -> None:
    """``import thredo`` leaves networking, TLS, servers, introspection to first use (issue 22.9).

    (curio itself imports the stdlib's ssl and subprocess.)
    They were ~60% of its start-up (156-304 ms against 72-101 ms for
    ``import curio``); each documented name still loads on first use.
    """
    import subprocess
    import sys

    code = (
        "import sys, thredo\n"
        "heavy = ['http.server', 'thredo.net', 'thredo.net.ssl', 'thredo.net.subprocess',"
        " 'thredo._introspect', 'thredo._monitor', 'thredo._mixin', 'thredo._patch']\n"
        "print([m for m in heavy if m in sys.modules])\n"
        "assert thredo.Queue.__module__ == 'thredo' and 'tcp_server' in dir(thredo.net)\n"
        "from thredo.socket import socketpair\n"
        "import thredo.socket\n"
        "assert thredo.socket is thredo.net.socket and thredo.socket.socketpair is socketpair\n"
        "assert thredo.net.socket.__spec__.name == 'thredo.net.socket'\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert out.stdout.strip() == "[]"
