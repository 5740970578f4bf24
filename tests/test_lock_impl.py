"""thredo.Lock's two implementations: the C fast path and the pure-Python reference.

``thredo.Lock`` is ``_CLock`` (``_speedups.LockBase`` plus the shared
Python slow paths) where the accelerator is built, else ``_PyLock``;
``THREDO_PURE=1`` forces the pure one (CI runs test_sync.py that way too).
Here both run side by side in one process: the same calls must give the
same results, errors, cancellation points and monitor attributes.
"""

from __future__ import annotations

import gc
import inspect
import os
import subprocess
import sys
import threading
import weakref
from functools import partial
from typing import Any

import pytest
from helpers import WAIT, wait_blocked

import thredo
from thredo import _sync

IMPLS = [pytest.param(_sync._PyLock, id="pure")]
if _sync._CLock is not None:
    IMPLS.append(pytest.param(_sync._CLock, id="c"))
else:
    IMPLS.append(
        pytest.param(None, id="c", marks=pytest.mark.skip(reason="the C accelerator is not built"))
    )


RIMPLS = [pytest.param(_sync._PyRLock, id="pure")]
if _sync._CRLock is not None:
    RIMPLS.append(pytest.param(_sync._CRLock, id="c"))
else:
    RIMPLS.append(
        pytest.param(None, id="c", marks=pytest.mark.skip(reason="the C accelerator is not built"))
    )


@pytest.fixture(params=IMPLS)
def lock_class(request: pytest.FixtureRequest) -> Any:
    return request.param


@pytest.fixture(params=RIMPLS)
def rlock_class(request: pytest.FixtureRequest) -> Any:
    return request.param


def _outcome(call: Any) -> Any:
    try:
        return ("ok", call())
    except Exception as e:  # the type and message are what must match
        return (type(e).__name__, str(e))


def test_thredo_lock_is_the_c_one_where_built_and_not_pure() -> None:
    pure = os.environ.get("THREDO_PURE", "") not in ("", "0")
    if pure or _sync._speedups is None:
        assert thredo.Lock is _sync._PyLock
        assert thredo.RLock is _sync._PyRLock
    else:
        assert thredo.Lock is _sync._CLock
        assert thredo.RLock is _sync._CRLock
    assert thredo.Lock.__name__ == thredo.Lock.__qualname__ == "Lock"
    assert thredo.RLock.__name__ == thredo.RLock.__qualname__ == "RLock"


def test_same_results_and_errors_as_the_reference_in_a_plain_thread(lock_class: Any) -> None:
    """Every argument form, both implementations, against threading.Lock's answers."""
    forms: list[tuple[tuple[Any, ...], dict[str, Any]]] = [
        ((), {}),
        ((False,), {}),
        ((True,), {}),
        ((), {"blocking": False}),
        ((), {"timeout": 0}),
        ((), {"timeout": 0.001}),
        ((True, -1), {}),
        ((False, -1), {}),
        ((False, 1), {}),
        ((), {"timeout": float("nan")}),
        ((), {"timeout": -2}),
        ((), {"timeout": 1e300}),
        ((0,), {"timeout": -1}),
    ]
    for args, kwargs in forms:
        for held in (False, True):
            got = []
            for make in (threading.Lock, lock_class):
                lock = make()
                if held:
                    lock.acquire()
                if held and (args[:1] in ((), (True,)) and kwargs.get("blocking", True)):
                    if kwargs.get("timeout", args[1] if len(args) > 1 else -1) == -1:
                        continue  # would block forever on both
                call = partial(lock.acquire, *args, **kwargs)
                got.append((_outcome(call), lock.locked()))
            if len(got) == 2:
                assert got[0][0][0] == got[1][0][0], (args, kwargs, held, got)
                assert got[0][1] == got[1][1], (args, kwargs, held, got)


def test_argument_errors_match_the_pure_one() -> None:
    if _sync._CLock is None:
        pytest.skip("the C accelerator is not built")
    calls = [
        lambda lk: lk.acquire(True, -1, 3),
        lambda lk: lk.acquire(nope=1),
        lambda lk: lk.acquire(True, blocking=True),
        lambda lk: lk.acquire(timeout="x"),
        lambda lk: lk.release(),
    ]
    for call in calls:
        a = _outcome(partial(call, _sync._PyLock()))
        b = _outcome(partial(call, _sync._CLock()))
        assert a[0] == b[0], (a, b)
    assert _outcome(lambda: _sync._CLock().release()) == ("RuntimeError", "release unlocked lock")


def test_signatures_and_docs(lock_class: Any) -> None:
    for name in ("acquire", "release", "locked", "__enter__", "__exit__"):
        assert inspect.getdoc(getattr(lock_class, name)), name
    sig = inspect.signature(lock_class.acquire)
    assert list(sig.parameters)[1:] == ["blocking", "timeout"]


def test_with_release_locked_repr_weakref_statistics(lock_class: Any) -> None:
    lock = lock_class()
    assert repr(lock).startswith("<unlocked thredo.Lock object at ")
    with lock as got:
        assert got is True
        assert lock.locked()
        assert lock._is_owned()
        assert repr(lock).startswith("<locked thredo.Lock")
        assert lock.statistics() == _sync.LockStatistics(True, None, 0)
    assert not lock.locked()
    with pytest.raises(ZeroDivisionError), lock:
        raise ZeroDivisionError
    assert not lock.locked()
    ref = weakref.ref(lock)
    del lock
    gc.collect()
    assert ref() is None


def test_a_subclass_works(lock_class: Any) -> None:
    class Mine(lock_class):  # type: ignore[misc,valid-type]
        __slots__ = ("extra",)

        def __init__(self) -> None:
            super().__init__()
            self.extra = 1

    m = Mine()
    assert m.acquire()
    assert m.locked()
    assert m.extra == 1
    m.release()
    assert not m.locked()


def test_reference_cycles_through_a_lock_are_collected(lock_class: Any, rlock_class: Any) -> None:
    """The C types take part in the cyclic GC (their members are traversed and cleared)."""
    for _ in range(3):

        class Mine(lock_class):  # type: ignore[misc,valid-type]
            __slots__ = ("me",)

        m = Mine()
        m.me = m  # a cycle through a subclass slot
        lk = lock_class()
        lk._holder = lk  # ...through a C member (a Python slot on the pure one)
        r = rlock_class()
        r._block._holder = r  # ...through an RLock's block
        refs = [weakref.ref(o) for o in (m, lk, r, Mine)]
        del m, lk, r, Mine
        gc.collect()
        assert [ref() for ref in refs] == [None] * 4


def test_contended_acquire_waits_is_woken_and_records_the_holder(lock_class: Any) -> None:
    """Two waiters: the first woken records itself as holder while the other still waits."""

    def main() -> None:
        lock = lock_class()
        lock.acquire()
        order: list[str] = []

        def taker(tag: str) -> str:
            with lock:
                order.append(tag)
                if tag == "a":
                    wait_blocked(tb, "Lock.acquire", lock)
                    assert lock._holder is not None  # known: others still wait
            return tag

        ta = thredo.spawn(taker, "a")
        wait_blocked(ta, "Lock.acquire", lock)
        tb = thredo.spawn(taker, "b")
        wait_blocked(tb, "Lock.acquire", lock)
        assert lock.statistics().waiting == 2
        lock.release()
        assert ta.join() == "a"
        assert tb.join() == "b"
        assert order == ["a", "b"]
        assert not lock.locked()
        assert lock._holder is None
        assert not lock._waiters

    thredo.run(main)


@pytest.mark.parametrize("how", ["cancel", "timeout_after", "timeout"])
def test_a_blocked_acquire_is_cancelled_or_times_out_holding_nothing(
    lock_class: Any, how: str
) -> None:
    def main() -> None:
        lock = lock_class()
        lock.acquire()

        def taker() -> Any:
            if how == "timeout_after":
                return thredo.timeout_after(0.05, lock.acquire)
            if how == "timeout":
                return lock.acquire(timeout=0.05)
            return lock.acquire()

        t = thredo.spawn(taker)
        if how == "cancel":  # (a timed one may be over before a poll could see it blocked)
            wait_blocked(t, "Lock.acquire", lock)
            t.cancel()
        try:
            result = t.join()
        except thredo.ThreadError as e:
            result = type(e.__cause__).__name__
        want = {"cancel": "ThreadCancelled", "timeout_after": "ThreadTimeout", "timeout": False}
        assert result == want[how]
        assert lock.locked()  # still ours only
        assert not lock._waiters
        lock.release()
        assert lock.acquire(False)
        lock.release()

    thredo.run(main)


def test_an_uncontended_acquire_is_still_a_cancellation_point(lock_class: Any) -> None:
    """A pending cancel is raised by acquire() and by `with`, even on a free lock."""

    def main() -> None:
        lock = lock_class()
        go = threading.Event()
        results: list[str] = []

        def child() -> None:
            go.wait()
            for call in (lock.acquire, lock.__enter__):
                try:
                    call()
                    results.append("acquired")
                    lock.release()
                except thredo.ThreadCancelled:
                    results.append("cancelled")

        t = thredo.spawn(child)
        t.cancel(blocking=False)
        go.set()
        try:
            t.join()
        except thredo.ThreadError:
            pass
        assert results[:1] == ["cancelled"]
        assert not lock.locked()
        assert lock.acquire(False)  # non-blocking: never a point, works
        lock.release()

    thredo.run(main)


def test_the_monitor_reads_what_it_needs(lock_class: Any) -> None:
    lock = lock_class()
    for name in ("_lock", "_waiters", "_holder", "_mutex"):
        assert hasattr(lock, name), name
    assert lock._holder is None
    assert not lock._lock.locked()
    lock.acquire()
    assert lock._lock.locked()
    lock.release()


def test_the_c_raw_lock_and_setup_refuse_misuse() -> None:
    if _sync._speedups is None:
        pytest.skip("the C accelerator is not built")
    sp = _sync._speedups
    raw = _sync._CLock()._lock
    assert raw.acquire(False) is True
    assert raw.acquire(False) is False
    assert raw.locked()
    with pytest.raises(ValueError, match="acquire\\(False\\)"):
        raw.acquire(True)  # waiting is the wait queue's business, never a spin
    raw.release()
    with pytest.raises(RuntimeError, match="release unlocked lock"):
        raw.release()
    sp.sync_setup(_sync.attention, _sync.checkpoint)  # the same pair again: a no-op
    with pytest.raises(RuntimeError, match="already"):
        sp.sync_setup(set(), _sync.checkpoint)


def test_many_threads_hammering_one_lock_lose_no_increment(lock_class: Any) -> None:
    """Plain threads, raw fast path and slow path mixed: the count is exact."""
    lock = lock_class()
    count = [0]
    n, k = 4, 5000

    def work() -> None:
        for _ in range(k):
            with lock:
                count[0] += 1

    threads = [threading.Thread(target=work) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(WAIT)
    assert count[0] == n * k
    assert not lock.locked()
    assert not lock._waiters


@pytest.mark.parametrize("pure", ["1", "no-accelerator"])
def test_the_pure_path_in_a_process(pure: str) -> None:
    """THREDO_PURE=1, or a process where _speedups cannot be imported: the pure Lock, working."""
    code = (
        ("import sys; sys.modules['thredo._speedups'] = None\n" if pure != "1" else "")
        + "import thredo, thredo._sync as s\n"
        "assert thredo.Lock is s._PyLock and s._CLock is None and s._speedups is None\n"
        "def main():\n"
        "    lk = thredo.Lock(); lk.acquire()\n"
        "    t = thredo.spawn(lk.acquire)\n"
        "    lk.release(); assert t.join() is True and lk.locked()\n"
        "thredo.run(main); print('ok')\n"
    )
    env = {**os.environ, "THREDO_PURE": "1" if pure == "1" else "0"}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=WAIT * 3, env=env
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout == "ok\n"


def test_rlock_same_results_and_errors_as_threading(rlock_class: Any) -> None:
    forms: list[tuple[tuple[Any, ...], dict[str, Any]]] = [
        ((), {}),
        ((False,), {}),
        ((), {"timeout": 0.001}),
        ((False, 1), {}),
        ((), {"timeout": float("nan")}),
        ((), {"timeout": -2}),
        ((), {"timeout": 1e300}),
        ((True, -1, 1), {}),
        ((), {"nope": 1}),
    ]
    for args, kwargs in forms:
        got = []
        for make in (threading.RLock, rlock_class):
            lock = make()
            got.append((_outcome(partial(lock.acquire, *args, **kwargs))[0], lock._is_owned()))
        assert got[0] == got[1], (args, kwargs, got)


def test_rlock_reentry_owner_count_and_release_by_another_thread(rlock_class: Any) -> None:
    r = rlock_class()
    assert r.acquire()
    assert r.acquire(timeout=1)
    with r:
        assert r._count == 3
        assert r._owner == threading.get_ident()
        assert r._recursion_count() == 3
        assert r.statistics() == _sync.LockStatistics(True, threading.get_ident(), 0)
        assert repr(r).startswith("<locked thredo.RLock object owner=")
    errors: list[Any] = []
    t = threading.Thread(target=lambda: errors.append(_outcome(r.release)))
    t.start()
    t.join(WAIT)
    assert errors == [("RuntimeError", "cannot release un-acquired lock")]
    r.release()
    r.release()
    assert not r.locked()
    assert r._owner is None
    assert _outcome(r.release) == ("RuntimeError", "cannot release un-acquired lock")
    state = (r.acquire(), r._release_save())[1]  # what Condition.wait does
    assert not r.locked()
    r._acquire_restore(state)
    assert r._is_owned()
    r.release()
    assert not r.locked()


def test_rlock_blocked_acquire_is_cancellable_and_a_condition_works(rlock_class: Any) -> None:
    def main() -> None:
        r = rlock_class()
        r.acquire()
        t = thredo.spawn(r.acquire)
        wait_blocked(t, "RLock.acquire", r)
        t.cancel()
        with pytest.raises(thredo.ThreadError) as info:
            t.join()
        assert isinstance(info.value.__cause__, thredo.ThreadCancelled)
        assert r._is_owned()
        assert not r._block._waiters
        r.release()
        c = thredo.Condition(r)
        box: list[int] = []

        def waiter() -> int:
            with c:
                c.wait_for(lambda: box)
                return box[0]

        w = thredo.spawn(waiter)
        wait_blocked(w, "Condition.wait")
        with c:
            box.append(7)
            c.notify()
        assert w.join() == 7
        assert not r.locked()

    thredo.run(main)


def test_rlock_hammered_by_plain_threads_loses_no_increment(rlock_class: Any) -> None:
    r = rlock_class()
    count = [0]

    def work() -> None:
        for _ in range(3000):
            with r, r:
                count[0] += 1

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(WAIT)
    assert count[0] == 12000
    assert not r.locked()


def test_free_threaded_build() -> None:
    if not sysconfig_gil_disabled():
        pytest.skip("not a free-threaded CPython (none on this machine)")
    # On a free-threaded build the hammering test above is the real check.
    test_many_threads_hammering_one_lock_lose_no_increment(thredo.Lock)


def sysconfig_gil_disabled() -> bool:
    import sysconfig

    return bool(sysconfig.get_config_var("Py_GIL_DISABLED"))
