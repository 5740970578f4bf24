"""thredo.ps() and thredo.dump() (thredo/_introspect.py)."""

from __future__ import annotations

import io
import json
import os
import queue
import select
import socket as std_socket
import sys
import threading
import time
from typing import Any

import pytest
from helpers import LOCAL, WAIT, wait_blocked, wait_until

import thredo
from thredo import ThreadInfo
from thredo._introspect import deadlocks, lock_owner, track_lock_owners
from thredo._introspect import snapshot as thredo_snapshot
from thredo.net import subprocess as tsubprocess
from thredo.net import tcp_server

FOREVER = 3600.0
DEADLINE = 600.0  # a timeout_after that must not expire during the test


def info_of(t: thredo.Thread[Any]) -> ThreadInfo:
    found = [i for i in thredo.ps() if i.id == t.id]
    assert found, f"{t.name} not in ps()"
    return found[0]


class TestScene:
    """The scene of issue 13: a server with clients, and one thread per kind of wait."""

    def test_every_record_names_call_object_peer_deadline_parent(self) -> None:
        def main() -> None:
            me = thredo.current_thread()
            assert me is not None
            listening: list[Any] = []
            got = threading.Event()

            def on_ready(sock: Any) -> None:
                listening.append(sock)
                got.set()

            def handler(client: Any, address: Any) -> None:
                client.recv(100)

            server = thredo.spawn(tcp_server, LOCAL, 0, handler, ready=on_ready, name="server")
            assert got.wait(WAIT)
            port = listening[0].getsockname()[1]
            clients = [std_socket.create_connection((LOCAL, port)) for _ in range(3)]
            q: thredo.Queue[int] = thredo.Queue(maxsize=5)
            worker = thredo.spawn(q.get, name="worker")
            lock = thredo.Lock()
            taken, done = thredo.Event(), thredo.Event()

            def holder() -> None:
                with lock:
                    taken.set()
                    done.wait()

            hold = thredo.spawn(holder, name="holder")
            taken.wait()
            locker = thredo.spawn(lock.acquire, name="locker")

            def sleeper() -> None:
                with thredo.timeout_after(DEADLINE):
                    thredo.sleep(FOREVER)

            sleepy = thredo.spawn(sleeper, name="sleeper")
            child = tsubprocess.Popen([sys.executable, "-c", "import time; time.sleep(3600)"])
            waiter = thredo.spawn(child.wait, name="waiter")
            try:
                wait_blocked(worker, "Queue.get")
                wait_blocked(locker, "Lock.acquire")
                wait_blocked(sleepy, "sleep")
                wait_blocked(waiter, "wait")
                wait_blocked(server, "accept")
                wait_until(
                    lambda: (
                        sum(
                            1
                            for i in thredo.ps()
                            if i.blocked is not None and i.blocked.call == "recv"
                        )
                        == 3
                    ),
                    "three handlers in recv",
                )
                infos = {i.id: i for i in thredo.ps()}
                assert [i.id for i in thredo.ps()] == sorted(infos)

                w = infos[worker.id]
                assert (w.name, w.state, w.parent, w.daemon) == ("worker", "blocked", me.id, False)
                assert w.blocked is not None
                assert (w.blocked.call, w.blocked.kind, w.blocked.size, w.blocked.maxsize) == (
                    "Queue.get",
                    "queue",
                    0,
                    5,
                )
                assert f"{id(q):#x}" in w.blocked.object
                assert "0 items of 5" in w.blocked.object
                assert w.blocked.time_left is None
                assert w.deadline is None
                assert 0 <= w.blocked.waited < WAIT + 5
                assert not w.cancel_pending
                assert worker.parent is me
                assert w.group is None

                lk = infos[locker.id]
                assert lk.blocked is not None
                assert (lk.blocked.call, lk.blocked.kind) == ("Lock.acquire", "lock")
                assert f"{id(lock):#x}" in lk.blocked.object
                assert "held" in lk.blocked.object
                assert infos[hold.id].blocked is not None  # the holder waits on its Event
                assert infos[hold.id].blocked.call == "Event.wait"  # type: ignore[union-attr]

                s = infos[sleepy.id]
                assert s.blocked is not None
                assert s.blocked.call == "sleep"
                assert s.blocked.time_left is not None
                assert FOREVER - WAIT - 5 < s.blocked.time_left <= FOREVER
                assert s.deadline is not None
                assert DEADLINE - WAIT - 5 < s.deadline <= DEADLINE
                assert s.parent == me.id

                wt = infos[waiter.id]
                assert wt.blocked is not None
                assert (wt.blocked.call, wt.blocked.kind, wt.blocked.pid) == (
                    "wait",
                    "process",
                    child.pid,
                )
                assert str(child.pid) in wt.blocked.object

                srv = infos[server.id]
                assert srv.blocked is not None
                assert (srv.blocked.call, srv.blocked.kind) == ("accept", "listener")
                assert srv.blocked.local == f"{LOCAL}:{port}"
                handlers = [i for i in infos.values() if i.parent == server.id]
                assert len(handlers) == 3
                peers = {f"{LOCAL}:{c.getsockname()[1]}" for c in clients}
                assert {h.blocked.peer for h in handlers if h.blocked} == peers
                for h in handlers:
                    assert h.blocked is not None
                    assert (h.blocked.call, h.blocked.kind) == ("recv", "socket")
                    assert h.blocked.local == f"{LOCAL}:{port}"
                    assert h.blocked.peer in h.blocked.object

                # JSON round trip: records and the whole dump.
                for i in infos.values():
                    assert ThreadInfo.from_json(json.loads(json.dumps(i.to_json()))) == i
                out = io.StringIO()
                thredo.dump(out, format="json")
                data = json.loads(out.getvalue())
                assert data["version"] == 1
                ids = {d["id"] for d in data["threads"]}
                assert ids == set(infos)
                by_id = {d["id"]: ThreadInfo.from_json(d) for d in data["threads"]}
                assert by_id[worker.id].blocked.call == "Queue.get"  # type: ignore[union-attr]
                assert by_id[waiter.id].blocked.pid == child.pid  # type: ignore[union-attr]

                def tree_ids(nodes: list[dict[str, Any]]) -> list[int]:
                    out = []
                    for n in nodes:
                        if "thread" in n:
                            out.append(n["thread"])
                        out.extend(tree_ids(n["children"]))
                    return out

                assert sorted(tree_ids(data["tree"])) == sorted(ids)  # each exactly once
                (root,) = data["tree"]
                assert root["thread"] == me.id
                srv_node = next(n for n in root["children"] if n.get("thread") == server.id)
                assert {n["thread"] for n in srv_node["children"]} == {h.id for h in handlers}

                text = io.StringIO()
                thredo.dump(text)
                t = text.getvalue()
                assert f"#{server.id} server: blocked in accept on listener {LOCAL}:{port}" in t
                for peer in peers:
                    assert f"recv on socket {LOCAL}:{port} <- {peer}" in t
                assert "Queue.get on Queue" in t
                assert "deadline in" in t
            finally:
                for t in (worker, locker, sleepy, waiter, server):
                    t.cancel()
                done.set()
                hold.join()
                for c in clients:
                    c.close()
            assert child.returncode is not None  # the cancelled wait reaped it

        thredo.run(main)


class TestRecords:
    def test_group_and_str(self) -> None:
        def main() -> None:
            with thredo.ThreadGroup(wait=None) as g:
                t = g.spawn(thredo.sleep, FOREVER, name="napper")
                wait_blocked(t, "sleep")
                i = info_of(t)
                assert i.group == id(g)
                assert str(i).startswith(f"#{t.id} napper: blocked in sleep for ")
                out = io.StringIO()
                thredo.dump(out, format="json")
                data = json.loads(out.getvalue())
                (grp,) = data["groups"]
                assert grp == {"id": id(g), "wait": "None", "parent": i.parent, "threads": [t.id]}
                text = io.StringIO()
                thredo.dump(text)
                assert f"ThreadGroup {id(g):#x} (wait=None)" in text.getvalue()

        thredo.run(main)

    def test_running_thread_and_cancel_pending(self) -> None:
        def main() -> None:
            go, stop = threading.Event(), threading.Event()

            def busy() -> None:
                with thredo.disable_cancellation():
                    go.set()
                    while not stop.is_set():  # computing: no wait of any kind
                        pass

            t = thredo.spawn(busy, name="busy")
            go.wait()
            t.cancel(blocking=False)
            try:
                i = info_of(t)
                assert (i.state, i.blocked, i.cancel_pending) == ("running", None, True)
                assert "cancel pending" in str(i)
            finally:
                stop.set()
            t.wait()

        thredo.run(main)

    def test_join_names_the_thread(self) -> None:
        def main() -> None:
            target = thredo.spawn(thredo.sleep, FOREVER, name="target")
            joiner = thredo.spawn(target.wait, name="joiner")
            wait_blocked(joiner, "Thread.join")
            b = info_of(joiner).blocked
            assert b is not None
            assert (b.kind, b.thread) == ("thread", target.id)
            assert f"thread #{target.id} 'target'" in b.object
            target.cancel()
            joiner.join()

        thredo.run(main)

    def test_lock_holder_recorded_when_handed_over_a_queue(self) -> None:
        def main() -> None:
            lock = thredo.Lock()
            done = thredo.Event()

            def take(then_wait: bool) -> None:
                lock.acquire()
                if then_wait:
                    done.wait()
                lock.release()

            lock.acquire()  # uncontended: nothing recorded
            b = thredo.spawn(take, True, name="b", daemon=True)
            wait_blocked(b, "Lock.acquire")
            assert info_of(b).blocked.holder is None  # type: ignore[union-attr]
            assert "holder not recorded" in info_of(b).blocked.object  # type: ignore[union-attr]
            c = thredo.spawn(take, False, name="c", daemon=True)
            wait_blocked(c, "Lock.acquire")
            lock.release()  # to b, with c still waiting: b is recorded
            wait_blocked(b, "Event.wait")
            blk = info_of(c).blocked
            assert blk is not None
            assert (blk.holder, blk.holder_name) == (b.id, "b")
            assert f"held by #{b.id} 'b'" in blk.object
            done.set()  # b releases to c, nobody behind it: nothing recorded, nothing stale
            b.join()
            c.join()
            assert lock._holder is None
            assert not lock.locked()

        thredo.run(main)

    def test_rlock_owner_always_known(self) -> None:
        def main() -> None:
            rlock = thredo.RLock()
            me = thredo.current_thread()
            assert me is not None
            with rlock:
                t = thredo.spawn(rlock.acquire, name="waits")
                wait_blocked(t, "RLock.acquire")
                blk = info_of(t).blocked
                assert blk is not None
                assert blk.holder == me.id
                t.cancel()

        thredo.run(main)

    def test_stacks(self) -> None:
        def main() -> None:
            q: thredo.Queue[int] = thredo.Queue()

            def deep_in_the_worker() -> int:
                return q.get()

            t = thredo.spawn(deep_in_the_worker)
            wait_blocked(t, "Queue.get")
            out = io.StringIO()
            thredo.dump(out, format="json", stacks=True)
            data = json.loads(out.getvalue())
            (rec,) = [d for d in data["threads"] if d["id"] == t.id]
            assert "deep_in_the_worker" in [f["function"] for f in rec["stack"]]
            text = io.StringIO()
            thredo.dump(text, stacks=True)
            assert "in deep_in_the_worker" in text.getvalue()
            q.put(1)
            t.join()

        thredo.run(main)

    def test_bad_format(self) -> None:
        with pytest.raises(ValueError, match="format"):
            thredo.dump(io.StringIO(), format="xml")  # type: ignore[arg-type]

    def test_outside_a_run_is_empty(self) -> None:
        assert thredo.ps() == []
        out = io.StringIO()
        thredo.dump(out)
        assert "0 threads" in out.getvalue()


class TestRun:
    def test_env_turns_the_monitor_on(self, monkeypatch: Any) -> None:
        from thredo import _monitor

        for value, on in (("", False), ("0", False), ("1", True)):
            monkeypatch.setenv(_monitor.ENV, value)
            assert _monitor.wanted(False) is on
        assert _monitor.wanted(True)

    def test_monitor_is_a_reserved_keyword_others_pass_through(self) -> None:
        def main(a: int, *, b: int) -> int:
            return a + b

        assert thredo.run(main, 1, b=2) == 3
        assert thredo.run(main, 1, b=2, monitor=False) == 3


class TestChurn:
    def test_ps_and_dump_while_1000_threads_come_and_go(self) -> None:
        errors: list[BaseException] = []
        calls = [0]
        stop = threading.Event()

        def check(infos: list[ThreadInfo]) -> None:
            ids = [i.id for i in infos]
            assert ids == sorted(set(ids))
            for i in infos:
                assert (i.state == "blocked") == (i.blocked is not None)
                if i.blocked is not None:
                    assert i.blocked.call
                    assert i.blocked.waited >= 0
                assert i.parent is None or i.parent < i.id

        def observer() -> None:  # a plain thread, as the monitor's
            try:
                while not stop.is_set():
                    check(thredo.ps())
                    out = io.StringIO()
                    thredo.dump(out, format="json", stacks=True)
                    data = json.loads(out.getvalue())
                    check([ThreadInfo.from_json(d) for d in data["threads"]])
                    thredo.dump(io.StringIO())
                    calls[0] += 1
            except BaseException as e:
                errors.append(e)

        def main() -> None:
            q: thredo.Queue[int] = thredo.Queue()
            lock = thredo.Lock()

            def short(n: int) -> None:
                if n % 3 == 0:
                    q.get()
                elif n % 3 == 1:
                    with lock:
                        thredo.sleep(0)
                else:
                    with thredo.timeout_after(60):
                        thredo.sleep(0.001)

            for batch in range(20):
                with thredo.ThreadGroup() as g:
                    for k in range(50):
                        g.spawn(short, batch * 50 + k)
                    for _ in range(17):  # the q.get() ones of this batch
                        q.put(0)

        obs = threading.Thread(target=observer)
        obs.start()
        try:
            thredo.run(main)
        finally:
            stop.set()
            obs.join(WAIT)
        assert not errors, errors
        assert calls[0] > 0


def test_ps_cost_is_small() -> None:
    """Not a timed test: a generous bound, so a quadratic slip would show."""

    def main() -> float:
        ts = [thredo.spawn(thredo.sleep, FOREVER) for _ in range(100)]
        for t in ts:
            wait_blocked(t, "sleep")
        t0 = time.perf_counter()
        for _ in range(20):
            thredo.ps()
        per_call = (time.perf_counter() - t0) / 20
        for t in ts:
            t.cancel(blocking=False)
        for t in ts:
            t.wait()
        return per_call

    assert thredo.run(main) < 0.5


class TestWaitsThredoDoesNotOwn:
    """Issue 23.3: a wait in a stdlib primitive is "blocked there, not cancellable"."""

    def blocked(self, t: thredo.Thread[Any], call: str) -> thredo.BlockedInfo:
        def seen() -> bool:
            b = info_of(t).blocked
            return b is not None and b.call == call

        wait_until(seen, f"{t.name} seen in {call}")
        b = info_of(t).blocked
        assert b is not None
        assert not b.cancellable
        assert "not cancellable" in str(info_of(t))
        assert info_of(t).state == "blocked"
        return b

    def test_threading_and_queue_primitives(self) -> None:
        def main() -> None:
            ev = threading.Event()
            lk = threading.Lock()
            rl = threading.RLock()
            q: queue.Queue[int] = queue.Queue(maxsize=3)
            lk.acquire()
            rl.acquire()

            def with_lock() -> None:
                with lk:
                    pass

            def acquire_rlock() -> None:
                if rl.acquire():
                    rl.release()

            def nap() -> None:
                while not ev.is_set():
                    time.sleep(0.05)  # a wait thredo cannot see

            ts = [
                (thredo.spawn(ev.wait, name="ev"), "threading.Event.wait"),
                (thredo.spawn(with_lock, name="lk"), "threading.Lock.acquire"),
                (thredo.spawn(acquire_rlock, name="rl"), "threading.RLock.acquire"),
                (thredo.spawn(q.get, name="q"), "queue.Queue.get"),
            ]
            napper = thredo.spawn(nap, name="nap")
            try:
                found = {t.name: self.blocked(t, call) for t, call in ts}
                assert found["ev"].kind == "event"
                assert "(not set)" in found["ev"].object
                assert found["lk"].kind == "lock"
                assert found["rl"].holder_name == "thredo-main"
                assert found["rl"].holder == thredo.current_thread().id  # type: ignore[union-attr]
                assert (found["q"].kind, found["q"].size, found["q"].maxsize) == ("queue", 0, 3)
                assert self.blocked(napper, "time.sleep").kind == "none"
            finally:
                ev.set()
                lk.release()
                rl.release()
                q.put(1)
            for t, _ in ts:
                t.join()
            napper.join()

        thredo.run(main)

    def test_plain_threads_listed_with_their_role(self) -> None:
        def main() -> None:
            ev = threading.Event()
            plain = threading.Thread(target=ev.wait, name="plainer")
            plain.start()
            r, w = os.pipe()

            def poller() -> None:
                p = select.poll()
                p.register(r, select.POLLIN)
                p.poll()

            polling = threading.Thread(target=poller, name="poller")
            polling.start()
            try:

                def plain_seen() -> bool:
                    others = {o["name"]: o for o in thredo_snapshot()["others"]}
                    b = others.get("plainer", {}).get("blocked")
                    return b is not None and b["call"] == "threading.Event.wait"

                wait_until(plain_seen, "the plain thread in Event.wait")
                snap = thredo_snapshot(stacks=True)
                others = {o["name"]: o for o in snap["others"]}
                assert others["plainer"]["role"] == "plain"
                assert others["plainer"]["blocked"]["cancellable"] is False
                assert others["plainer"]["stack"]
                kernel = [o for o in snap["others"] if o["role"] == "kernel"]
                assert len(kernel) == 1
                assert all(o["name"] != "thredo-main" for o in snap["others"])
                text = io.StringIO()
                thredo.dump(text)
                (line,) = [ln for ln in text.getvalue().splitlines() if "plainer [plain]" in ln]
                assert "blocked in threading.Event.wait" in line
                assert "[kernel]" in text.getvalue()

                def poller_seen() -> bool:
                    others = {o["name"]: o for o in thredo_snapshot()["others"]}
                    b = others.get("poller", {}).get("blocked")
                    return b is not None and b["call"] == "select.poll.poll"

                wait_until(poller_seen, "the plain thread in poll()")
            finally:
                ev.set()
                os.write(w, b"x")
                plain.join()
                polling.join()
                os.close(r)
                os.close(w)

        thredo.run(main)


class TestLockOwnersAndDeadlocks:
    """Issue 23.3: holders of uncontended Locks (opt-in), wait cycles named."""

    def test_tracking_records_uncontended_holders_and_switches_off(self) -> None:
        original = thredo.Lock.__enter__
        was = track_lock_owners()
        try:
            assert thredo.Lock.__enter__ is not original

            def main() -> None:
                lock = thredo.Lock()
                taken, done = thredo.Event(), thredo.Event()

                def holder() -> None:
                    with lock:  # uncontended
                        taken.set()
                        done.wait()

                hold = thredo.spawn(holder, name="holder")
                taken.wait()
                assert lock_owner(lock) == hold.ident
                locker = thredo.spawn(lock.acquire, name="locker")
                wait_blocked(locker, "Lock.acquire")
                b = info_of(locker).blocked
                assert b is not None
                assert (b.holder, b.holder_name) == (hold.id, "holder")
                done.set()
                hold.join()
                assert locker.join() is True
                assert lock_owner(lock) == locker.ident  # the new holder
                lock.release()
                assert lock_owner(lock) is None
                with thredo.Condition(lock):  # a Condition on a tracked Lock still works
                    pass

            thredo.run(main)
        finally:
            track_lock_owners(was)
        assert thredo.Lock.__enter__ is original  # off: Lock's own methods again

    def test_lock_cycle_and_join_cycle_reported(self) -> None:
        was = track_lock_owners()
        try:

            def main() -> None:
                a, b = thredo.Lock(), thredo.Lock()
                both = thredo.Barrier(2)

                def one(first: thredo.Lock, second: thredo.Lock) -> None:
                    with first:
                        both.wait()
                        with second:
                            pass

                t1 = thredo.spawn(one, a, b, name="ab")
                t2 = thredo.spawn(one, b, a, name="ba")
                peers: list[thredo.Thread[Any]] = []
                ready = thredo.Event()

                def joiner(k: int) -> None:
                    ready.wait()
                    peers[1 - k].wait()  # blocked in Thread.join; no error when it is cancelled

                j1 = thredo.spawn(joiner, 0, name="j1")
                j2 = thredo.spawn(joiner, 1, name="j2")
                peers.extend([j1, j2])
                ready.set()
                for t, call in ((t1, "Lock.acquire"), (t2, "Lock.acquire")):
                    wait_blocked(t, call)
                wait_blocked(j1, "Thread.join")
                wait_blocked(j2, "Thread.join")
                cycles = deadlocks(thredo.ps())
                assert sorted(sorted(i.name for i in c) for c in cycles) == [
                    ["ab", "ba"],
                    ["j1", "j2"],
                ]
                text = io.StringIO()
                thredo.dump(text)
                assert text.getvalue().count("DEADLOCK: 2 threads wait in a cycle") == 2
                assert f"waits in Lock.acquire on Lock {id(b):#x} (held by #{t2.id} 'ba')" in (
                    text.getvalue()
                )
                t1.cancel()
                t2.join()
                j1.cancel()
                j2.join()  # its wait for j1 ended when j1 was cancelled
                assert deadlocks(thredo.ps()) == []

            thredo.run(main)
        finally:
            track_lock_owners(was)
