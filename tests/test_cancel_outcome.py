"""A cancel from outside is an outcome, not a crash (thredo/_threads.py, docs/guide.md).

A member of a ThreadGroup that someone else cancelled -- another thread's
``Thread.cancel()``, the monitor's ``cancel`` -- does not stop the group's
wait, never makes its block raise, is left out of ``results`` and listed in
``cancelled``; ``join()`` raises ``ThreadError`` whose ``__cause__`` is the
``ThreadCancelled``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from helpers import FOREVER, wait_blocked, wait_until
from test_monitor import Child, monitor_cmd

import thredo


def fetch(gate: thredo.Event, tag: str) -> str:
    gate.wait()
    return tag


def stuck() -> None:
    thredo.sleep(FOREVER)


def wrapped_stuck() -> None:
    """A library that turns every BaseException into its own error (the cancel is its cause)."""
    try:
        thredo.sleep(FOREVER)
    except BaseException as e:
        raise OSError("connection aborted") from e


@pytest.mark.parametrize("target", [stuck, wrapped_stuck])
def test_member_cancelled_by_another_thread_is_an_outcome(target: Any) -> None:
    def main() -> None:
        gate = thredo.Event()
        with thredo.ThreadGroup() as g:
            a = g.spawn(fetch, gate, "a")
            victim = g.spawn(target)
            b = g.spawn(fetch, gate, "b")
            wait_blocked(victim)

            def other() -> None:
                victim.cancel()  # from another thread, waiting until it has exited
                gate.set()

            thredo.spawn(other)
        # the block did not raise; the siblings were not cancelled because of it
        assert victim.cancelled
        assert not a.cancelled
        assert not b.cancelled
        assert g.results == ["a", "b"]  # the cancelled member is left out
        assert g.cancelled == [victim]
        assert g.completed is not victim
        with pytest.raises(thredo.ThreadError) as ei:
            victim.join()
        cause = ei.value.__cause__
        if target is stuck:
            assert isinstance(cause, thredo.ThreadCancelled)
        else:
            assert isinstance(cause, OSError)
            assert isinstance(cause.__cause__, thredo.ThreadCancelled)

    thredo.run(main)


def test_a_real_failure_still_raises_next_to_a_cancelled_member() -> None:
    err = KeyError("real")

    def fail(gate: thredo.Event) -> None:
        gate.wait()
        raise err

    def main() -> None:
        gate = thredo.Event()
        with pytest.raises(thredo.ThreadError) as ei:  # noqa: PT012 - leaving the block raises
            with thredo.ThreadGroup() as g:
                victim = g.spawn(stuck)
                g.spawn(fail, gate)
                wait_blocked(victim)
                victim.cancel()
                gate.set()
        assert ei.value.__cause__ is err
        with pytest.raises(KeyError):
            g.results  # noqa: B018
        assert g.cancelled == [victim]

    thredo.run(main)


def test_wait_any_is_decided_by_a_member_not_cancelled() -> None:
    def main() -> None:
        gate = thredo.Event()
        with thredo.ThreadGroup(wait=any) as g:
            victim = g.spawn(stuck)
            a = g.spawn(fetch, gate, "a")
            wait_blocked(victim)
            victim.cancel()
            gate.set()
        assert g.completed is a
        assert g.result == "a"

    thredo.run(main)


FETCHERS = """
    import thredo

    def fetch(name):
        try:
            thredo.sleep(3600 if name == "slow" else 0)
        except BaseException as e:  # as a client library does: its own error, caused by e
            raise OSError(f"{name}: aborted") from e
        return name

    def main():
        with thredo.ThreadGroup() as g:
            slow = g.spawn(fetch, "slow", name="fetch slow")
            print("ready", slow.id, flush=True)
            slow.wait()
            fast = g.spawn(fetch, "fast", name="fetch fast")
        print("results", g.results, "cancelled", [t.name for t in g.cancelled], flush=True)

    thredo.run(main)
"""


def test_monitor_cancel_of_a_group_member(tmp_path: Path) -> None:
    child = Child(tmp_path, FETCHERS)
    try:
        word, wid = child.line().split()
        assert word == "ready"
        wait_until(
            lambda: "blocked in sleep" in monitor_cmd(child.pid, "ps").stdout, "fetch in sleep"
        )
        r = monitor_cmd(child.pid, "cancel", wid)
        assert r.returncode == 0, r.stderr
        assert child.line() == "results ['fast'] cancelled ['fetch slow']"
    finally:
        rc = child.finish()
    assert rc == 0  # the cancel did not end the program
