"""thredo.ThreadPoolExecutor (thredo/_executor.py): concurrent.futures on thredo threads."""

from __future__ import annotations

import concurrent.futures as cf
import sys
import textwrap
import threading
from pathlib import Path
from typing import Any

import pytest
from helpers import FOREVER, SHORT, WAIT

import thredo


def only_main_left() -> bool:
    return [t.name for t in thredo.enumerate()] == ["thredo-main"]


def blocker(started: thredo.Event, log: list[str], tag: str) -> None:
    started.set()
    try:
        thredo.sleep(FOREVER)
    finally:
        log.append(tag)


def test_map_as_completed_wait() -> None:
    def main() -> None:
        with thredo.ThreadPoolExecutor(3, thread_name_prefix="w") as ex:
            assert list(ex.map(lambda x: x * 2, range(10))) == [x * 2 for x in range(10)]
            fs = [ex.submit(pow, 2, i) for i in range(8)]
            assert sorted(f.result() for f in cf.as_completed(fs, timeout=WAIT)) == [
                2**i for i in range(8)
            ]
            done, pending = cf.wait(fs, timeout=WAIT)
            assert len(done) == 8
            assert not pending
            bad = ex.submit(int, "x")
            assert isinstance(bad.exception(), ValueError)
            names = {t.name for t in thredo.enumerate()} - {"thredo-main"}
            assert names
            assert all(n.startswith("w_") for n in names)
        assert only_main_left()

    thredo.run(main)


def test_cancel_running_call() -> None:
    """Future.cancel() of a running call cancels it; the pool goes on with a new worker."""

    def main() -> None:
        log: list[str] = []
        called: list[cf.Future[Any]] = []
        with thredo.ThreadPoolExecutor(1) as ex:
            started = thredo.Event()
            f = ex.submit(blocker, started, log, "a")
            f.add_done_callback(called.append)
            assert started.wait(WAIT)
            assert f.running()
            assert f.cancel() is True
            assert f.cancelled()
            assert f.done()
            assert called == [f]
            with pytest.raises(cf.CancelledError):
                f.result()
            assert f.cancel() is True  # again: still cancelled
            # The next item runs (on a fresh worker) and as_completed sees both.
            g = ex.submit(lambda: "next")
            assert {h for h in cf.as_completed([f, g], timeout=WAIT)} == {f, g}
            assert g.result() == "next"
            assert g.cancel() is False  # finished: as the stdlib's
        assert log == ["a"]
        assert only_main_left()

    thredo.run(main)


def test_cancel_queued_call_never_runs() -> None:
    def main() -> None:
        log: list[str] = []
        with thredo.ThreadPoolExecutor(1) as ex:
            started = thredo.Event()
            a = ex.submit(blocker, started, log, "a")
            b = ex.submit(log.append, "b")
            assert started.wait(WAIT)
            assert b.cancel()
            assert b.cancelled()
            assert a.cancel()
        assert log == ["a"]

    thredo.run(main)


def test_shutdown_cancel_futures_cancels_running_calls() -> None:
    def main() -> None:
        log: list[str] = []
        ex = thredo.ThreadPoolExecutor(2)
        events = [thredo.Event() for _ in range(2)]
        running = [ex.submit(blocker, e, log, str(i)) for i, e in enumerate(events)]
        queued = ex.submit(log.append, "never")
        for e in events:
            assert e.wait(WAIT)
        ex.shutdown(wait=True, cancel_futures=True)
        assert all(f.cancelled() for f in [*running, queued])
        assert sorted(log) == ["0", "1"]
        with pytest.raises(RuntimeError, match="shutdown"):
            ex.submit(print)
        assert only_main_left()

    thredo.run(main)


def test_shutdown_without_wait_then_the_run_ends() -> None:
    """shutdown(wait=False): returns at once; a running call finishes; nothing outlives the run."""

    def main() -> cf.Future[int]:
        ex = thredo.ThreadPoolExecutor(1)
        go = thredo.Event()
        f = ex.submit(lambda: go.wait(WAIT) and 7)
        ex.shutdown(wait=False)
        go.set()
        assert f.result(timeout=WAIT) == 7
        return f

    assert thredo.run(main).result() == 7


@pytest.mark.parametrize("how", ["timeout", "cancel"])
def test_with_block_left_by_a_deadline_or_cancel(how: str) -> None:
    """Every call cancelled, queued ones never run, the block returns promptly, no thread left."""

    def user(log: list[str], ready: thredo.Event, fs: list[cf.Future[Any]]) -> None:
        with thredo.ThreadPoolExecutor(2) as ex:
            events = [thredo.Event() for _ in range(2)]
            fs += [ex.submit(blocker, e, log, str(i)) for i, e in enumerate(events)]
            fs.append(ex.submit(log.append, "never"))
            for e in events:
                assert e.wait(WAIT)
            ready.set()
            fs[0].result()  # blocks: only the cancel or the deadline ends it

    def main() -> None:
        log: list[str] = []
        fs: list[cf.Future[Any]] = []
        ready = thredo.Event()
        if how == "timeout":
            with pytest.raises(thredo.ThreadTimeout):
                with thredo.timeout_after(SHORT):
                    user(log, ready, fs)
        else:
            t = thredo.spawn(user, log, ready, fs)
            assert ready.wait(WAIT)
            t.cancel()
            assert t.cancelled
        assert all(f.cancelled() for f in fs)
        assert sorted(log) == ["0", "1"]
        assert only_main_left()

    thredo.run(main)


def test_result_timeout_and_no_wait() -> None:
    def main() -> None:
        with thredo.ThreadPoolExecutor(1) as ex:
            done = ex.submit(lambda: 5)
            assert done.result(timeout=WAIT) == 5
            # need not wait: still a cancellation point
            with pytest.raises(thredo.ThreadTimeout), thredo.timeout_after(0):
                done.result()
            with pytest.raises(thredo.ThreadTimeout), thredo.timeout_after(0):
                done.exception()
            started, log = thredo.Event(), []
            f = ex.submit(blocker, started, log, "a")
            with pytest.raises(cf.TimeoutError):
                f.result(timeout=SHORT)
            with pytest.raises(cf.TimeoutError):
                f.exception(timeout=0)
            f.cancel()

    thredo.run(main)


def test_initializer_failure_breaks_the_pool() -> None:
    def init(x: int) -> None:
        raise ValueError(x)

    def main() -> None:
        ex = thredo.ThreadPoolExecutor(1, initializer=init, initargs=(3,))
        f = ex.submit(print, "never")
        with pytest.raises(cf.thread.BrokenThreadPool):
            f.result(timeout=WAIT)
        with pytest.raises(cf.thread.BrokenThreadPool):
            ex.submit(print)
        ex.shutdown()
        assert only_main_left()

    thredo.run(main)


def test_outside_a_run() -> None:
    ex = thredo.ThreadPoolExecutor(1)  # creating it is fine
    with pytest.raises(RuntimeError, match=r"thredo\.run"):
        ex.submit(print)
    ex.shutdown()


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="max_workers"):
        thredo.ThreadPoolExecutor(0)
    with pytest.raises(TypeError):
        thredo.ThreadPoolExecutor(1, initializer=3)  # type: ignore[arg-type]


UNCHANGED = """
    from concurrent.futures import ThreadPoolExecutor
    import concurrent.futures
    import time

    def fetch_all(n):
        with ThreadPoolExecutor(max_workers=n) as pool:
            futures = [pool.submit(time.sleep, 3600) for _ in range(n)]
            return [f.result() for f in futures]
"""


def test_patch_gives_unchanged_code_thredos_executor(tmp_path: Path) -> None:
    (tmp_path / "users2_pool.py").write_text(textwrap.dedent(UNCHANGED))
    sys.path.insert(0, str(tmp_path))
    try:
        with thredo.patch():
            import users2_pool  # type: ignore[import-not-found]
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("users2_pool", None)
    assert users2_pool.ThreadPoolExecutor is thredo.ThreadPoolExecutor
    assert users2_pool.concurrent.futures.ThreadPoolExecutor is thredo.ThreadPoolExecutor
    assert cf.ThreadPoolExecutor is not thredo.ThreadPoolExecutor  # the stdlib's untouched

    def main() -> None:
        with pytest.raises(thredo.ThreadTimeout):
            with thredo.timeout_after(SHORT):
                users2_pool.fetch_all(3)
        assert only_main_left()

    thredo.run(main)


def test_plain_thread_submits_and_cancels_once_bound() -> None:
    """Once a thredo thread has used the pool, any thread may submit to it and cancel."""

    def main() -> None:
        with thredo.ThreadPoolExecutor(2) as ex:
            assert ex.submit(lambda: 1).result() == 1  # binds the pool to this run
            out: list[Any] = []
            started, log = thredo.Event(), []

            def plain() -> None:
                f = ex.submit(blocker, started, log, "p")
                out.append(ex.submit(lambda: "from plain").result(timeout=WAIT))
                assert started.wait(WAIT)
                out.append(f.cancel())
                out.append(f.cancelled())

            t = threading.Thread(target=plain)
            t.start()
            t.join(WAIT)
            assert not t.is_alive()
            assert out == ["from plain", True, True]
        assert log == ["p"]

    thredo.run(main)
