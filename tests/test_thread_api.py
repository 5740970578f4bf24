"""thredo.Thread as a drop-in ``threading.Thread``, and what happens to failures.

(``test_thread.py`` covers spawn/join/cancel; this file the ``threading``-shaped
API and the failure reporting rules of ``_thread.py``.)
"""

from __future__ import annotations

import gc
import logging
import os
import subprocess
import sys
import textwrap
import threading
import warnings
from typing import Any

import pytest
from helpers import FOREVER, wait_blocked

import thredo


class TestLikeThreadingThread:
    def test_target_args_kwargs_name_daemon(self, run):
        def main():
            got = []
            t = thredo.Thread(
                target=lambda a, b=0: got.append((a, b)) or a + b,
                args=(1,),
                kwargs={"b": 2},
                name="adder",
                daemon=False,
            )
            assert not t.is_alive()
            assert t.ident is None
            assert t.native_id is None
            assert t.start() is t
            assert t.join() == 3
            assert not t.is_alive()
            assert t.name == "adder"
            assert isinstance(t.native_id, int)
            return got

        assert run(main) == [(1, 2)]

    def test_subclass_overriding_run(self, run):
        class Worker(thredo.Thread):
            def __init__(self, n: int) -> None:
                super().__init__(name=f"worker-{n}")
                self.n = n
                self.seen: list[int] = []

            def run(self) -> int:
                self.seen.append(self.n)
                return self.n * 10

        def main():
            w = Worker(4)
            w.start()
            w.join()
            return w.seen, w.result, w.name

        assert run(main) == ([4], 40, "worker-4")

    def test_join_with_timeout_returns_none_while_alive(self, run):
        def main():
            ev = thredo.Event()
            t = thredo.Thread(target=ev.wait)
            t.start()
            assert t.join(timeout=0.05) is None
            assert t.is_alive()
            ev.set()
            assert t.join(timeout=30) is True
            assert not t.is_alive()

        run(main)

    def test_daemon_after_start_raises(self, run):
        def main():
            t = thredo.Thread(target=thredo.sleep, args=(FOREVER,))
            t.daemon = True
            t.start()
            with pytest.raises(RuntimeError):
                t.daemon = False
            assert t.daemon is True
            return "ok"  # run() cancels the daemon thread at the end

        assert run(main) == "ok"

    def test_daemon_is_inherited_from_the_creating_thread(self, run):
        def main():
            inner: list[bool] = []
            outer = thredo.spawn(
                lambda: inner.append(thredo.Thread(target=int).daemon), daemon=True
            )
            outer.join()
            return inner, thredo.Thread(target=int).daemon

        assert run(main) == ([True], False)

    def test_start_twice_and_outside_run(self, run):
        t = thredo.Thread(target=int)
        with pytest.raises(RuntimeError, match="thredo.run"):
            t.start()

        def main():
            t = thredo.Thread(target=int)
            t.start()
            with pytest.raises(RuntimeError, match="once"):
                t.start()
            t.join()

        run(main)

    def test_group_argument_must_be_none(self):
        with pytest.raises(AssertionError):
            thredo.Thread(group=object())  # type: ignore[arg-type]

    def test_local_enumerate_active_count(self, run):
        data = thredo.local()

        def main():
            data.x = "main"
            seen = []
            ev = thredo.Event()

            def child():
                seen.append(getattr(data, "x", None))
                data.x = "child"
                ev.wait()
                seen.append(data.x)

            t = thredo.spawn(child)
            thredo.sleep(0.01)
            live = thredo.enumerate()
            count = thredo.active_count()
            ev.set()
            t.join()
            return seen, data.x, live, count, t

        seen, x, live, count, t = run(main)
        assert seen == [None, "child"]
        assert x == "main"
        assert t in live
        assert count == len(live) >= 2
        assert all(isinstance(u, thredo.Thread) for u in live)
        assert thredo.enumerate() == []

    def test_ported_worker_pool(self, run):
        """A threading/queue program: only the imports and the call through run() change."""
        threading_mod, queue_mod = thredo, thredo  # `import thredo as threading, queue`

        def worker(q: Any, results: Any, lock: Any) -> None:
            while True:
                item = q.get()
                if item is None:
                    q.task_done()
                    break
                with lock:
                    results.append(item * item)
                q.task_done()

        def program() -> list[int]:
            q = queue_mod.Queue()
            results: list[int] = []
            lock = threading_mod.Lock()
            workers = [
                threading_mod.Thread(target=worker, args=(q, results, lock), daemon=True)
                for _ in range(4)
            ]
            for w in workers:
                w.start()
            for n in range(100):
                q.put(n)
            for _ in workers:
                q.put(None)
            q.join()
            for w in workers:
                w.join()
            return sorted(results)

        assert run(program) == [n * n for n in range(100)]


class TestFailures:
    def test_retrieved_failure_logs_nothing(self, run, caplog):
        def main():
            t = thredo.spawn(int, "3x")
            with pytest.raises(thredo.ThreadError) as ei:
                t.join()
            assert isinstance(ei.value.__cause__, ValueError)
            u = thredo.spawn(int, "4x")
            u.wait()
            assert isinstance(u.exception, ValueError)

        with caplog.at_level(logging.DEBUG, logger="thredo"):
            run(main)
        assert caplog.records == []

    @pytest.mark.usefixtures("default_excepthook")
    def test_unretrieved_failure_is_reported_exactly_once(self, run, caplog):
        kept = []

        def main():
            t = thredo.spawn(int, "nope")
            t.wait()  # waited for, but its outcome never looked at
            kept.append(t)

        with caplog.at_level(logging.ERROR, logger="thredo"):
            run(main)
        records = [r for r in caplog.records if r.name == "thredo"]
        assert len(records) == 1
        assert "nobody retrieved" in records[0].getMessage()
        assert records[0].exc_info is not None
        assert records[0].exc_info[0] is ValueError
        del kept[:]  # freeing it later does not report it again
        assert len([r for r in caplog.records if r.name == "thredo"]) == 1

    @pytest.mark.usefixtures("default_excepthook")
    def test_dropped_failed_thread_is_reported_when_freed(self, run, caplog):
        def main():
            t = thredo.spawn(int, "gone")
            t.wait()
            del t  # freed here: reported now, not only at the end of run()
            gc.collect()  # its traceback's frames refer to it
            return len([r for r in caplog.records if r.name == "thredo"])

        with caplog.at_level(logging.ERROR, logger="thredo"):
            during = run(main)
        assert during == 1
        assert len([r for r in caplog.records if r.name == "thredo"]) == 1

    def test_cancelled_threads_are_never_reported(self, run, caplog):
        def main():
            t = thredo.spawn(thredo.sleep, FOREVER)
            t.cancel()

        with caplog.at_level(logging.DEBUG, logger="thredo"):
            run(main)
        assert caplog.records == []

    def test_group_raises_the_failure_the_body_did_not_retrieve(self, run):
        err = KeyError("root cause")

        def fail() -> None:
            raise err

        def main():
            with pytest.raises(thredo.ThreadError) as ei:  # noqa: PT012 - leaving the group block is what raises
                with thredo.ThreadGroup() as g:
                    g.spawn(thredo.sleep, FOREVER)
                    g.spawn(fail)
            assert ei.value.__cause__ is err
            with pytest.raises(KeyError):  # the root cause, not the sibling's cancel
                g.results  # noqa: B018
            # retrieved in the body: leaving the block does not raise
            with thredo.ThreadGroup() as g2:
                t = g2.spawn(fail)
                assert g2.next_done() is t
                assert t.exception is err

        run(main)

    def test_talk_ex1_handled_failure_leaves_stderr_empty(self, tmp_path):
        src = tmp_path / "ex1.py"
        src.write_text(
            textwrap.dedent(
                """
                import thredo

                def func(x, y):
                    return x + y

                def main():
                    t1 = thredo.spawn(func, 2, 3)
                    print("Result:", t1.join())
                    t2 = thredo.spawn(func, 2, '3')
                    try:
                        t2.join()
                    except thredo.ThreadError as e:
                        print("Failed:", repr(e.__cause__))

                thredo.run(main)
                """
            )
        )
        proc = subprocess.run(
            [sys.executable, str(src)], capture_output=True, text=True, timeout=30
        )
        assert proc.returncode == 0
        assert proc.stdout.splitlines()[0] == "Result: 5"
        assert proc.stdout.splitlines()[1].startswith("Failed: TypeError(")
        assert proc.stderr == ""


def test_threads_are_real_threads(run):
    def main():
        t = thredo.spawn(threading.get_ident)
        ident = t.join()
        return ident == t.ident

    assert run(main)


class TestThreadingSurface:
    """The rest of the ``threading`` surface (issue 21 item 5)."""

    def test_module_functions_are_threadings(self):
        assert thredo.get_ident is threading.get_ident
        assert thredo.get_native_id is threading.get_native_id
        assert thredo.TIMEOUT_MAX == threading.TIMEOUT_MAX
        assert thredo.stack_size is threading.stack_size
        assert thredo.excepthook is threading.__excepthook__  # pytest swaps the live hook
        assert thredo.ExceptHookArgs is threading.ExceptHookArgs
        import queue

        assert thredo.Empty is queue.Empty
        assert thredo.Full is queue.Full
        assert thredo.main_thread() is threading.main_thread()  # outside a run

    def test_main_thread_inside_a_run(self, run):
        def main():
            me = thredo.current_thread()
            assert thredo.main_thread() is me
            t = thredo.spawn(thredo.main_thread)
            assert t.join() is me

        run(main)

    def test_settrace_reaches_thredo_threads(self, run):
        seen = []

        def tracer(frame, event, arg):
            if frame.f_code is work.__code__:
                seen.append(event)
            return None

        def work():
            return 1

        def main():
            thredo.settrace(tracer)
            try:
                thredo.spawn(work).join()
            finally:
                threading.settrace(None)  # type: ignore[arg-type]

        run(main)
        assert "call" in seen

    def test_camel_case_methods_warn(self, run):
        def main():
            t = thredo.Thread(target=lambda: None)
            with pytest.deprecated_call():
                assert t.getName() == t.name
            with pytest.deprecated_call():
                t.setName("x")
            assert t.name == "x"
            with pytest.deprecated_call():
                t.setDaemon(True)
            with pytest.deprecated_call():
                assert t.isDaemon()
            ev = thredo.Event()
            with pytest.deprecated_call():
                assert not ev.isSet()
            c = thredo.Condition()
            with c, pytest.deprecated_call():
                c.notifyAll()

        run(main)

    def test_repr_as_threading(self, run):
        class Sub(thredo.Thread):
            pass

        def main():
            t = Sub(target=lambda: None, name="w", daemon=True)
            assert repr(t) == "<Sub(w, initial daemon)>"
            t.start()
            t.join()
            assert repr(t) == f"<Sub(w, stopped daemon {t.ident})>"
            assert repr(thredo.main_thread()).startswith("<Thread(thredo-main, started ")

        run(main)

    def test_failed_thread_frees_its_target_and_args(self, run):
        import weakref

        class Arg:
            pass

        def fail(a):
            raise ValueError("boom")

        def main():
            a = Arg()
            ref = weakref.ref(a)
            t = thredo.Thread(target=fail, args=(a,))
            del a
            t.start()
            with pytest.raises(thredo.ThreadError):
                t.join()
            return ref

        gc.disable()
        try:
            ref = run(main)
            assert ref() is None
        finally:
            gc.enable()


class TestTimer:
    def test_fires(self, run):
        def main():
            got = []
            t = thredo.Timer(0.01, got.append, args=(1,))
            t.start()
            t.join()
            assert got == [1]

        run(main)

    def test_cancel_before_it_fires(self, run):
        def main():
            got = []
            t = thredo.Timer(FOREVER, got.append, args=(1,))
            t.start()
            wait_blocked(t, "Timer")
            t.cancel()
            t.join()
            assert got == []

        run(main)

    def test_cancel_before_start(self, run):
        def main():
            got = []
            t = thredo.Timer(0, got.append, args=(1,))
            t.cancel()
            t.start()
            t.join()
            assert got == []

        run(main)

    def test_thread_cancel_and_timeout(self, run):
        def main():
            got = []
            t = thredo.Timer(FOREVER, got.append, args=(1,))
            t.start()
            wait_blocked(t, "Timer")
            t.cancel(exc=thredo.ThreadCancelled, blocking=True)
            assert t.cancelled
            assert t.terminated
            assert isinstance(t.exception, thredo.ThreadCancelled)

            def timed():
                thredo.timeout_after(0.01, lambda: thredo.Timer(FOREVER, got.append).run())

            with pytest.raises(thredo.ThreadError) as e:
                thredo.spawn(timed).join()
            assert isinstance(e.value.__cause__, thredo.ThreadTimeout)
            assert got == []

        run(main)


class TestDaemonAndNames:
    """Issue 21 item 5: plain threads started in a run, and default names, as the stdlib's."""

    def test_a_plain_thread_started_in_a_run_is_not_silently_a_daemon(self, run):
        def plain_daemon() -> bool:
            t = threading.Thread(target=lambda: None)
            t.start()
            t.join()
            return t.daemon

        def main():
            # the stdlib rule: a new threading.Thread inherits the daemon flag
            # of the thread creating it -- here, the thredo thread's own flag
            assert threading.current_thread().daemon is False
            assert plain_daemon() is False
            assert thredo.spawn(plain_daemon).join() is False
            d = thredo.spawn(plain_daemon, daemon=True)
            assert d.join() is True
            assert thredo.spawn(lambda: threading.current_thread().daemon, daemon=True).join()
            assert d.os_thread().daemon is True
            assert thredo.current_thread().os_thread().daemon is False

        run(main)

    def test_default_names_are_threadings_form(self, run):
        def func():
            return threading.current_thread().name

        class Sub(thredo.Thread):
            def run(self):
                return self.name

        def main():
            import re

            t = thredo.spawn(func)
            assert re.fullmatch(r"Thread-\d+ \(func\)", t.name), t.name
            assert t.join() == t.name  # threading.current_thread() agrees
            assert re.fullmatch(r"Thread-\d+", thredo.Thread(target=None).name)
            assert re.fullmatch(r"Thread-\d+", Sub().start().join())
            assert thredo.Thread(name="").name.startswith("Thread-")  # falsy: a default name
            assert thredo.Thread(name=123).name == "123"  # type: ignore[arg-type]
            assert thredo.Thread(target=func, name="mine").name == "mine"
            # one counter with threading's: the numbers go up across both kinds
            n1 = int(threading.Thread().name.split("-")[1])
            n2 = int(thredo.Thread().name.split("-")[1])
            n3 = int(threading.Thread().name.split("-")[1])
            assert n1 < n2 < n3
            assert thredo.current_thread().name == "thredo-main"  # the contract's name (docs)

        run(main)


class TestThreadingSeesThredoThreads:
    """Issue 24: the OS thread under a thredo thread is a lighter ``threading.Thread``.

    It skips ``threading.Thread.__init__``'s Event and closure and its start
    handshake (``_threads._OSThread``); whatever looks at threads through
    ``threading`` still sees a real one.  Some checks hold
    ``threading._active_limbo_lock``: the new thread's bootstrap takes it to
    move from ``_limbo`` to ``_active``, so holding it keeps the thread
    *before* that step, deterministically (an RLock: start() and
    enumerate() in the holding thread still take it).
    """

    def test_current_thread_is_the_os_thread(self, run):
        def child():
            me = threading.current_thread()
            ids = threading.get_ident(), threading.get_native_id()
            return me, me.name, me.ident, me.native_id, *ids

        def main():
            t = thredo.spawn(child, name="worker")
            me, name, ident, native_id, get_ident, get_native_id = t.join()
            assert me is t.os_thread()
            assert isinstance(me, threading.Thread)
            assert name == t.name == "worker"
            assert ident == get_ident == t.ident
            assert native_id == get_native_id == t.native_id

        run(main)

    def test_ident_and_native_id_as_soon_as_start_returns(self, run):
        limbo_lock = threading._active_limbo_lock  # type: ignore[attr-defined]

        def main():
            ev = thredo.Event()
            with limbo_lock:  # the new thread cannot finish its bootstrap meanwhile
                t = thredo.spawn(lambda: (ev.wait(), threading.get_native_id())[1])
                assert t.ident is not None
                os_thread = t.os_thread()
                assert os_thread.is_alive()
                assert t.is_alive()
                assert os_thread in threading.enumerate()  # in _limbo, as threading lists it
                assert "started" in repr(os_thread) or "initial" in repr(os_thread)
            assert t.native_id is not None  # waits for the bootstrap if it must
            ev.set()
            assert t.join() == t.native_id

        run(main)

    def test_enumerate_lists_it_while_alive_and_not_after(self, run):
        def main():
            ev = thredo.Event()
            t = thredo.spawn(ev.wait)
            wait_blocked(t, "Event.wait", ev)
            os_thread = t.os_thread()
            assert os_thread in threading.enumerate()
            assert threading._active[t.ident] is os_thread  # type: ignore[attr-defined]
            assert os_thread.is_alive()
            count = threading.active_count()
            ev.set()
            t.join()
            assert os_thread not in threading.enumerate()
            assert not os_thread.is_alive()
            assert threading.active_count() == count - 1
            assert "stopped" in repr(os_thread)

        run(main)

    def test_threading_join_of_the_os_thread(self, run):
        limbo_lock = threading._active_limbo_lock  # type: ignore[attr-defined]

        def main():
            with limbo_lock:
                t = thredo.spawn(lambda: 7)
                os_thread = t.os_thread()
            os_thread.join(timeout=FOREVER)  # from the start, as threading's join
            assert not os_thread.is_alive()
            assert t.terminated
            assert t.join() == 7
            with pytest.raises(RuntimeError, match="before it is started"):
                thredo.Thread(target=int).os_thread().join()
            with pytest.raises(RuntimeError, match="only be started once"):
                os_thread.start()

        run(main)

    def test_setprofile_reaches_thredo_threads(self, run):
        seen = []

        def profiler(frame, event, arg):
            if frame.f_code is work.__code__:
                seen.append(event)

        def work():
            return 1

        def main():
            thredo.setprofile(profiler)
            try:
                thredo.spawn(work).join()
            finally:
                threading.setprofile(None)  # type: ignore[arg-type]

        run(main)
        assert "call" in seen

    def test_excepthook_gets_an_unretrieved_failure(self, run, monkeypatch):
        got = []
        monkeypatch.setattr(threading, "excepthook", got.append)

        def main():
            t = thredo.spawn(int, "x")
            t.wait()
            os_thread = t.os_thread()
            del t
            gc.collect()
            return os_thread

        os_thread = run(main)
        assert len(got) == 1
        assert got[0].exc_type is ValueError
        assert got[0].thread is os_thread

    def test_excepthook_gets_a_failure_past_the_thredo_bootstrap(self, run, monkeypatch):
        # An exit observer (the thread-exit protocol) that raises: the only
        # way out of the thredo bootstrap; threading's own hook takes it, as
        # for any threading.Thread (its _invoke_excepthook, made on demand).
        got = []
        monkeypatch.setattr(threading, "excepthook", got.append)

        def boom(t):
            raise KeyError("observer")

        def main():
            ev = thredo.Event()
            t = thredo.spawn(ev.wait)
            assert t._on_exit(boom)
            ev.set()
            t.os_thread().join()  # not t.wait(): a raising observer ends _finish early
            return t

        t = run(main)
        assert len(got) == 1
        assert got[0].exc_type is KeyError
        assert got[0].thread is t.os_thread()

    def test_threading_local_is_per_thread_and_freed_with_it(self, run):
        import weakref

        data = threading.local()

        class Value:
            pass

        def child(n):
            assert not hasattr(data, "x")
            v = Value()
            data.x = (n, v)
            thredo.sleep(0)
            return data.x[0], weakref.ref(v)

        def main():
            data.x = ("main", None)
            a, b = thredo.spawn(child, 1), thredo.spawn(child, 2)
            (na, ra), (nb, rb) = a.join(), b.join()
            assert (na, nb) == (1, 2)
            assert data.x == ("main", None)
            gc.collect()
            assert ra() is None  # gone with their threads
            assert rb() is None

        run(main)

    def test_logging_thread_name(self, run):
        records = []

        class Keep(logging.Handler):
            def emit(self, record):
                records.append(self.format(record))

        h = Keep()
        h.setFormatter(logging.Formatter("%(threadName)s|%(thread)d|%(message)s"))
        log = logging.getLogger("thredo-test-threadname")
        log.addHandler(h)
        log.setLevel(logging.INFO)
        log.propagate = False

        def main():
            t = thredo.spawn(log.info, "hello", name="logger-thread")
            t.join()
            return t.ident

        try:
            ident = run(main)
        finally:
            log.removeHandler(h)
        assert records == [f"logger-thread|{ident}|hello"]

    def test_daemon_flag_as_threading_reports_it(self, run):
        def flags():
            me = threading.current_thread()
            child = threading.Thread(target=int)
            return me.daemon, child.daemon

        def main():
            assert thredo.spawn(flags).join() == (False, False)
            assert thredo.spawn(flags, daemon=True).join() == (True, True)
            t = thredo.Thread(target=int)
            t.daemon = True  # before start: allowed, as threading's
            assert t.os_thread().daemon is True  # not started: daemonic for the interpreter
            t.start()
            with pytest.raises(RuntimeError, match="daemon status"):
                t.os_thread().daemon = False
            t.join()

        run(main)

    @pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
    def test_fork_in_a_thredo_thread(self, run):
        # threading's at-fork hook resets every thread in threading._active:
        # the lighter OS threads (no Event, a _Started view) take it, and in
        # the child the forking thread is threading's current (and main) thread.
        def child_checks():
            me = threading.current_thread()
            with warnings.catch_warnings():  # 3.12+: "multi-threaded, fork() may deadlock"
                warnings.simplefilter("ignore", DeprecationWarning)
                pid = os.fork()
            if pid == 0:  # the child: os._exit only, whatever happens
                try:
                    ok = (
                        threading.current_thread() is me
                        and me.is_alive()
                        and threading.enumerate() == [me]
                    )
                    os._exit(0 if ok else 1)
                finally:
                    os._exit(2)
            return os.waitpid(pid, 0)[1]

        def main():
            ev = thredo.Event()
            other = thredo.spawn(ev.wait)  # another live thredo thread, gone in the child
            wait_blocked(other, "Event.wait", ev)
            status = thredo.spawn(child_checks).join()
            ev.set()
            other.join()
            return status

        assert os.waitstatus_to_exitcode(run(main)) == 0
