"""ThreadGroup: wait policies, next_done, iteration, membership, cancellation."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from helpers import FOREVER, block_forever

import thredo
from thredo import ThreadCancelled, ThreadError, ThreadGroup


class Gate:
    """A one-shot release for thredo threads, made of core calls only.

    ``wait()`` is a cancellable thredo blocking call (``Thread.wait`` on a
    sleeping daemon thread); ``open()`` cancels that thread, releasing every
    waiter.  Gates left closed are cleaned up by ``run()`` (daemon).
    """

    def __init__(self) -> None:
        self._t = thredo.spawn(thredo.sleep, FOREVER, daemon=True)

    def wait(self) -> None:
        self._t.wait()

    def open(self) -> None:
        self._t.cancel()


def gated(gate: Gate, outcome: Any, log: list[str] | None = None, tag: str = "") -> Any:
    """Wait for ``gate``, then return ``outcome`` (or raise it if an exception)."""
    try:
        gate.wait()
    finally:
        if log is not None:
            log.append(f"{tag} finally")
    if isinstance(outcome, BaseException):
        raise outcome
    return outcome


def fail(exc: BaseException) -> None:
    raise exc


class TestWaitAll:
    def test_waits_for_every_thread(self, run):
        def main():
            gates = [Gate() for _ in range(3)]
            with ThreadGroup() as g:
                ts = [g.spawn(gated, gates[i], i * 10) for i in range(3)]
                gates[1].open()
                ts[1].wait()  # ts[1] finishes first
                gates[2].open()
                gates[0].open()
            return g, ts

        g, ts = run(main)
        assert all(t.terminated for t in ts)
        assert g.threads == ts
        assert g.results == [0, 10, 20]
        assert g.exceptions == [None, None, None]
        assert g.completed is ts[1]
        assert g.result == 10
        assert g.exception is None

    def test_default_policy_is_all(self, run):
        def main():
            gate = Gate()
            with ThreadGroup() as g:
                a = g.spawn(gated, gate, "a")
                b = g.spawn(lambda: "b")
                b.wait()
                gate.open()
            return g, a

        g, a = run(main)
        assert g.results == ["a", "b"]
        assert not a.cancelled

    def test_empty_group(self, run):
        def main():
            with ThreadGroup() as g:
                pass
            return g

        g = run(main)
        assert g.results == []
        assert g.exceptions == []
        assert g.completed is None
        assert g.exception is None
        with pytest.raises(RuntimeError, match="No thread successfully completed"):
            g.result  # noqa: B018

    def test_failing_thread_stops_wait_and_cancels_others(self, run):
        log: list[str] = []
        err = ValueError("member failed")

        def main():
            with pytest.raises(ThreadError) as ei:  # noqa: PT012 - leaving the group block is what raises
                with ThreadGroup() as g:
                    a = g.spawn(block_forever, log, "a")
                    b = g.spawn(fail, err)
                    c = g.spawn(block_forever, log, "c")
            # leaving the block raises the failure the body did not retrieve
            assert ei.value.__cause__ is err
            return g, a, b, c

        g, a, b, c = run(main)
        assert sorted(log) == ["a finally", "c finally"]
        assert a.cancelled
        assert c.cancelled
        assert not b.cancelled
        assert g.completed is b
        assert g.exception is err
        with pytest.raises(ValueError, match="member failed") as ei:
            g.result  # noqa: B018
        assert ei.value is err
        exceptions = g.exceptions
        assert exceptions[1] is err
        assert isinstance(exceptions[0], ThreadCancelled)
        assert isinstance(exceptions[2], ThreadCancelled)
        with pytest.raises(ValueError, match="member failed"):  # the root cause
            g.results  # noqa: B018

    def test_failure_after_successes(self, run):
        log: list[str] = []

        def main():
            gate = Gate()
            with pytest.raises(ThreadError) as ei:  # noqa: PT012 - leaving the group block is what raises
                with ThreadGroup() as g:
                    ok = g.spawn(lambda: "ok")
                    ok.wait()
                    bad = g.spawn(gated, gate, KeyError("late"))
                    rest = g.spawn(block_forever, log, "rest")
                    gate.open()
            assert isinstance(ei.value.__cause__, KeyError)
            return g, ok, bad, rest

        g, ok, bad, rest = run(main)
        assert g.completed is ok
        assert g.result == "ok"
        assert log == ["rest finally"]
        assert isinstance(bad.exception, KeyError)
        assert rest.cancelled

    def test_join_outside_with(self, run):
        def main():
            g = ThreadGroup()
            g.spawn(lambda: 1)
            g.spawn(lambda: 2)
            with pytest.raises(RuntimeError, match="not yet joined"):
                g.results  # noqa: B018
            with pytest.raises(RuntimeError, match="not yet joined"):
                g.result  # noqa: B018
            g.join()
            return g

        g = run(main)
        assert g.results == [1, 2]
        assert g.exceptions == [None, None]

    def test_spawn_or_add_after_join_raises(self, run):
        def main():
            g = ThreadGroup()
            g.join()
            with pytest.raises(RuntimeError, match="already joined"):
                g.spawn(lambda: None)
            t = thredo.spawn(lambda: None)
            with pytest.raises(RuntimeError, match="already joined"):
                g.add_thread(t)
            t.join()
            return t.group

        assert run(main) is None

    @pytest.mark.parametrize("taker", ["Thread.join", "next_done"])
    def test_member_taken_by_another_thread_during_join(self, run, taker):
        """Another thread joining a member (or taking it with next_done) while the
        group is being joined: the member leaves the group and join returns.

        Whether the other thread takes the member before the joining thread sees
        it is a race, so the scenario is repeated (with a 1 s bound each time)
        until it has surely happened; a correct join returns every time.
        """

        def take(g, member, finish):
            finish.set()
            if taker == "Thread.join":
                member.join()
                return member
            return g.next_done()

        def main():
            for attempt in range(200):
                finish = threading.Event()
                g = ThreadGroup()
                member = g.spawn(finish.wait)
                other = thredo.spawn(take, g, member, finish)
                with thredo.ignore_after(1) as cm:
                    g.join()
                taken = other.join()
                # next_done may find nothing if join() saw the member first
                assert taken is member or (taker == "next_done" and taken is None)
                if cm.expired:
                    return attempt, g.threads
            return None

        assert run(main) is None  # else: (attempt at which join hung, threads left)

    def test_joined_member_leaves_group(self, run):
        def main():
            with ThreadGroup() as g:
                a = g.spawn(lambda: "a")
                b = g.spawn(lambda: "b")
                assert a.join() == "a"
            return g, b

        g, b = run(main)
        assert g.threads == [b]
        assert g.results == ["b"]


class TestWaitAny:
    def test_first_to_finish_completes_and_rest_cancelled(self, run):
        log: list[str] = []

        def main():
            gates = [Gate() for _ in range(3)]
            with ThreadGroup(wait=any) as g:
                ts = [g.spawn(gated, gates[i], i, log, f"t{i}") for i in range(3)]
                gates[1].open()
            return g, ts

        g, ts = run(main)
        assert g.completed is ts[1]
        assert g.result == 1
        assert g.exception is None
        assert sorted(log) == ["t0 finally", "t1 finally", "t2 finally"]
        assert ts[0].cancelled
        assert ts[2].cancelled
        assert not ts[1].cancelled
        exceptions = g.exceptions
        assert exceptions[1] is None
        assert isinstance(exceptions[0], ThreadCancelled)
        assert isinstance(exceptions[2], ThreadCancelled)

    def test_first_to_finish_failed(self, run):
        log: list[str] = []
        err = OSError("first")

        def main():
            with pytest.raises(ThreadError) as ei:  # noqa: PT012 - leaving the group block is what raises
                with ThreadGroup(wait=any) as g:
                    a = g.spawn(block_forever, log, "a")
                    b = g.spawn(fail, err)
            assert ei.value.__cause__ is err
            return g, a, b

        g, a, b = run(main)
        assert g.completed is b
        assert g.exception is err
        with pytest.raises(OSError, match="first") as ei:
            g.result  # noqa: B018
        assert ei.value is err
        assert log == ["a finally"]

    def test_first_returning_none_counts(self, run):
        log: list[str] = []

        def main():
            with ThreadGroup(wait=any) as g:
                a = g.spawn(lambda: None)
                g.spawn(block_forever, log, "b")
            return g, a

        g, a = run(main)
        assert g.completed is a
        assert g.result is None
        assert log == ["b finally"]


class TestWaitObject:
    def test_first_non_none_result(self, run):
        log: list[str] = []

        def main():
            gate_none, gate_value = Gate(), Gate()
            with ThreadGroup(wait=object) as g:
                n = g.spawn(gated, gate_none, None)
                v = g.spawn(gated, gate_value, "value")
                rest = g.spawn(block_forever, log, "rest")
                gate_none.open()
                n.wait()  # the None result finishes first, and is skipped
                gate_value.open()
            return g, n, v, rest

        g, n, v, rest = run(main)
        assert g.completed is v
        assert g.result == "value"
        assert g.exception is None
        assert not n.cancelled
        assert n.result is None
        assert rest.cancelled
        assert log == ["rest finally"]

    def test_all_none(self, run):
        def main():
            with ThreadGroup(wait=object) as g:
                g.spawn(lambda: None)
                g.spawn(lambda: None)
            return g

        g = run(main)
        assert g.completed is None
        assert g.exception is None
        assert g.results == [None, None]
        with pytest.raises(RuntimeError, match="No thread successfully completed"):
            g.result  # noqa: B018

    def test_failure_stops_wait(self, run):
        log: list[str] = []
        err = ValueError("object failed")

        def main():
            with pytest.raises(ThreadError) as ei:  # noqa: PT012 - leaving the group block is what raises
                with ThreadGroup(wait=object) as g:
                    g.spawn(block_forever, log, "a")
                    b = g.spawn(fail, err)
            assert ei.value.__cause__ is err
            return g, b

        g, b = run(main)
        assert g.completed is b
        assert g.exception is err
        assert log == ["a finally"]

    def test_falsy_non_none_result_counts(self, run):
        log: list[str] = []

        def main():
            with ThreadGroup(wait=object) as g:
                z = g.spawn(lambda: 0)
                g.spawn(block_forever, log, "b")
            return g, z

        g, z = run(main)
        assert g.completed is z
        assert g.result == 0
        assert log == ["b finally"]


class TestWaitNone:
    def test_cancels_everything_at_exit(self, run):
        log: list[str] = []

        def main():
            with ThreadGroup(wait=None) as g:
                ts = [g.spawn(block_forever, log, f"t{i}") for i in range(3)]
            alive = [t.is_alive() for t in ts]
            return g, ts, alive

        g, ts, alive = run(main)
        assert alive == [False, False, False]
        assert sorted(log) == ["t0 finally", "t1 finally", "t2 finally"]
        assert all(t.cancelled for t in ts)
        assert g.completed is None
        assert g.exception is None
        assert all(isinstance(e, ThreadCancelled) for e in g.exceptions)

    def test_finished_threads_keep_their_results(self, run):
        def main():
            with ThreadGroup(wait=None) as g:
                t = g.spawn(lambda: "early")
                t.wait()
            return g, t

        g, t = run(main)
        assert not t.cancelled
        assert g.results == ["early"]

    def test_invalid_policy(self):
        with pytest.raises(ValueError, match="wait must be"):
            ThreadGroup(wait="all")


class TestBodyException:
    def test_exception_in_body_cancels_members_and_propagates(self, run):
        log: list[str] = []
        err = RuntimeError("body failed")
        members: list[thredo.Thread] = []

        def body():
            with ThreadGroup() as g:
                for i in range(3):
                    members.append(g.spawn(block_forever, log, f"m{i}"))
                raise err

        def main():
            with pytest.raises(RuntimeError) as ei:
                body()
            return ei.value

        assert run(main) is err
        assert sorted(log) == ["m0 finally", "m1 finally", "m2 finally"]
        assert all(m.cancelled and m.terminated for m in members)

    @pytest.mark.parametrize("policy", [all, any, object, None])
    def test_exception_in_body_with_every_policy(self, run, policy):
        log: list[str] = []

        def body():
            with ThreadGroup(wait=policy) as g:
                g.spawn(block_forever, log, "m")
                g.spawn(block_forever, log, "d", daemon=True)
                raise KeyError("x")

        def main():
            with pytest.raises(KeyError):
                body()
            return True

        assert run(main) is True
        assert sorted(log) == ["d finally", "m finally"]

    def test_finished_members_keep_results_after_body_exception(self, run):
        threads: list[thredo.Thread] = []

        def body():
            with ThreadGroup() as g:
                threads.append(g.spawn(lambda: "done"))
                threads[0].wait()
                1 / 0  # noqa: B018

        def main():
            with pytest.raises(ZeroDivisionError):
                body()

        run(main)
        (done,) = threads
        assert done.result == "done"
        assert not done.cancelled


class TestNextDone:
    def test_order_follows_finishing(self, run):
        def main():
            gates = [Gate() for _ in range(3)]
            order = []
            with ThreadGroup() as g:
                ts = [g.spawn(gated, gates[i], i) for i in range(3)]
                for i in (2, 0, 1):
                    gates[i].open()
                    order.append(g.next_done())
                last = g.next_done()
                remaining = g.threads
            return ts, order, last, remaining, g

        ts, order, last, remaining, g = run(main)
        assert order == [ts[2], ts[0], ts[1]]
        assert [t.result for t in order] == [2, 0, 1]
        assert last is None
        assert remaining == []  # next_done removes the thread from the group
        assert g.results == []
        assert all(t.group is None for t in ts)

    def test_returns_already_finished_first_in_finishing_order(self, run):
        def main():
            with ThreadGroup() as g:
                a = g.spawn(lambda: "a")
                a.wait()
                b = g.spawn(lambda: "b")
                b.wait()
                return [g.next_done(), g.next_done(), g.next_done()], a, b

        (first, second, third), a, b = run(main)
        assert (first, second, third) == (a, b, None)

    def test_empty_group(self, run):
        def main():
            g = ThreadGroup()
            value = g.next_done()
            g.join()
            return value

        assert run(main) is None

    def test_next_result(self, run):
        err = ValueError("second")

        def main():
            gates = [Gate(), Gate()]
            with ThreadGroup() as g:
                g.spawn(gated, gates[0], "first")
                g.spawn(gated, gates[1], err)
                gates[0].open()
                first = g.next_result()
                gates[1].open()
                with pytest.raises(ValueError, match="second") as ei:
                    g.next_result()
                with pytest.raises(RuntimeError, match="No thread available"):
                    g.next_result()
            return first, ei.value

        first, second = run(main)
        assert first == "first"
        assert second is err

    def test_iteration(self, run):
        def main():
            gates = [Gate() for _ in range(4)]
            release_order = [3, 1, 0, 2]
            seen = []
            with ThreadGroup() as g:
                ts = [g.spawn(gated, gates[i], i) for i in range(4)]
                gates[release_order[0]].open()
                for t in g:
                    seen.append(t)
                    if len(seen) < len(release_order):
                        gates[release_order[len(seen)]].open()
            return ts, seen

        ts, seen = run(main)
        assert seen == [ts[3], ts[1], ts[0], ts[2]]
        assert [t.result for t in seen] == [3, 1, 0, 2]

    def test_iteration_includes_failed_threads(self, run):
        def main():
            with ThreadGroup() as g:
                bad = g.spawn(fail, KeyError("k"))
                bad.wait()
                good = g.spawn(lambda: 1)
                good.wait()
                return list(g), bad, good

        seen, bad, good = run(main)
        assert seen == [bad, good]


class TestMembership:
    def test_add_running_thread(self, run):
        def main():
            gate = Gate()
            t = thredo.spawn(gated, gate, 5)
            g = ThreadGroup([t])
            assert t.group is g
            with g:
                gate.open()
            return g, t

        g, t = run(main)
        assert g.threads == [t]
        assert g.results == [5]

    def test_add_thread_method_running(self, run):
        log: list[str] = []

        def main():
            t = thredo.spawn(block_forever, log, "t")
            with ThreadGroup(wait=None) as g:
                g.add_thread(t)
            return t

        t = run(main)
        assert t.cancelled  # the group's exit cancelled it
        assert log == ["t finally"]

    def test_add_finished_thread(self, run):
        def main():
            t = thredo.spawn(lambda: "finished")
            t.wait()
            with ThreadGroup() as g:
                g.add_thread(t)
                nxt = g.next_done()
            return t, nxt, g

        t, nxt, g = run(main)
        assert nxt is t
        assert t.result == "finished"
        assert g.threads == []

    def test_add_finished_thread_counts_for_policy(self, run):
        log: list[str] = []

        def main():
            t = thredo.spawn(lambda: "finished")
            t.wait()
            with ThreadGroup(wait=any) as g:
                other = g.spawn(block_forever, log, "other")
                g.add_thread(t)
            return g, t, other

        g, t, other = run(main)
        assert g.completed is t
        assert g.result == "finished"
        assert other.cancelled
        assert log == ["other finally"]

    def test_add_thread_already_in_group(self, run):
        log: list[str] = []

        def main():
            with ThreadGroup(wait=None) as g1:
                t = g1.spawn(block_forever, log, "t")
                g2 = ThreadGroup()
                with pytest.raises(RuntimeError, match="already part of a thread group"):
                    g2.add_thread(t)
                with pytest.raises(RuntimeError, match="already part of a thread group"):
                    ThreadGroup([t])
                g2.join()
                assert t.group is g1
            return t

        t = run(main)
        assert t.cancelled
        assert log == ["t finally"]

    def test_threads_in_creation_order(self, run):
        def main():
            gates = [Gate() for _ in range(4)]
            with ThreadGroup() as g:
                ts = [g.spawn(gated, gates[i], i) for i in range(4)]
                for i in reversed(range(4)):  # finish in reverse order
                    gates[i].open()
                    ts[i].wait()
                during = g.threads
            return g, ts, during

        g, ts, during = run(main)
        assert during == ts
        assert g.threads == ts
        assert g.results == [0, 1, 2, 3]

    def test_threads_in_creation_order_when_added(self, run):
        def main():
            gates = [Gate(), Gate()]
            a = thredo.spawn(gated, gates[0], "a")
            b = thredo.spawn(gated, gates[1], "b")
            with ThreadGroup([b, a]) as g:
                for gate in gates:
                    gate.open()
            return g, a, b

        g, a, b = run(main)
        assert g.threads == [a, b]
        assert g.results == ["a", "b"]


class TestCancel:
    def test_cancel_remaining(self, run):
        log: list[str] = []

        def main():
            with ThreadGroup() as g:
                done = g.spawn(lambda: "done")
                done.wait()
                f1 = g.spawn(block_forever, log, "f1")
                f2 = g.spawn(block_forever, log, "f2")
                g.cancel_remaining()
                alive = (f1.is_alive(), f2.is_alive())
                during = g.threads
            return g, done, f1, f2, alive, during

        g, done, f1, f2, alive, during = run(main)
        assert alive == (False, False)
        assert sorted(log) == ["f1 finally", "f2 finally"]
        assert f1.cancelled
        assert f2.cancelled
        assert not done.cancelled
        assert during == [done]  # cancelled threads leave the group
        assert g.results == ["done"]
        assert f1.group is None
        assert f2.group is None

    def test_cancel_remaining_then_spawn_more(self, run):
        log: list[str] = []

        def main():
            with ThreadGroup() as g:
                g.spawn(block_forever, log, "old")
                g.cancel_remaining()
                g.spawn(lambda: "new")
            return g

        g = run(main)
        assert log == ["old finally"]
        assert g.results == ["new"]

    def test_daemon_members_cancelled_at_exit(self, run):
        log: list[str] = []

        def main():
            with ThreadGroup() as g:
                d = g.spawn(block_forever, log, "daemon", daemon=True)
                n = g.spawn(lambda: "n")
            daemon_alive = d.is_alive()
            return g, d, n, daemon_alive

        g, d, n, daemon_alive = run(main)
        assert daemon_alive is False
        assert log == ["daemon finally"]
        assert d.cancelled
        assert g.threads == [n]  # daemon threads are not tracked
        assert g.results == ["n"]

    @pytest.mark.parametrize("where", ["body", "exit"])
    def test_cancelling_owner_cancels_every_member(self, run, where):
        log: list[str] = []
        ready = threading.Event()
        members: list[thredo.Thread] = []

        def owner():
            try:
                with ThreadGroup() as g:
                    for i in range(3):
                        members.append(g.spawn(block_forever, log, f"m{i}"))
                    members.append(g.spawn(block_forever, log, "d", daemon=True))
                    ready.set()
                    if where == "body":
                        thredo.sleep(FOREVER)
                    # else: blocked in the group's join on leaving the block
            finally:
                log.append("owner finally")

        def main():
            t = thredo.spawn(owner)
            ready.wait()
            t.cancel()
            return t

        t = run(main)
        assert t.cancelled
        assert isinstance(t.exception, ThreadCancelled)
        assert sorted(log[:-1]) == ["d finally", "m0 finally", "m1 finally", "m2 finally"]
        assert log[-1] == "owner finally"  # members had exited before the owner
        assert all(m.cancelled and m.terminated for m in members)

    def test_members_cancelled_by_timeout_on_group(self, run):
        log: list[str] = []

        def main():
            with thredo.ignore_after(0.05) as cm:
                with ThreadGroup() as g:
                    ts = [g.spawn(block_forever, log, f"m{i}") for i in range(2)]
            return cm.expired, ts

        expired, ts = run(main)
        assert expired is True
        assert sorted(log) == ["m0 finally", "m1 finally"]
        assert all(t.cancelled for t in ts)


def test_statistics_count_running_finished_and_waiters(run):
    def main():
        gate = thredo.Event()
        with ThreadGroup() as g:
            g.spawn(gate.wait)
            g.spawn(gate.wait)
            d = g.spawn(gate.wait, daemon=True)
            done = g.spawn(lambda: 1)
            done.wait()
            s1 = g.statistics()
            waiter = thredo.spawn(g.join)
            while waiter.blocked_on is None:
                thredo.sleep(0.001)
            s2 = g.statistics()
            gate.set()
            waiter.join()
        d.wait()
        return s1, s2, g.statistics()

    s1, s2, s3 = run(main)
    assert (s1.running, s1.finished, s1.daemonic, s1.waiting) == (2, 1, 1, 0)
    assert s2.waiting == 1
    assert (s3.running, s3.daemonic, s3.waiting) == (0, 0, 0)
