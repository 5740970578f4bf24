"""The hot-path shortcuts of issue 14: each keeps every cancellation and timeout rule.

Every fast path is checked with a cancel (and a ``timeout_after`` deadline)
arriving at each of its steps: before the call (a pending cancel: the call
is a cancellation point and does nothing), while it waits (the wait is
cancellable and leaves the object usable), and between the wait and the
work that completes the call (the work is done, nothing is lost, and the
cancel is raised by the next point).  Socket tests run with the GIL-keeping
recv/send (``thredo.net.socket._keepgil_recv``/``_keepgil_send``, the C
accelerator) on and off.
"""

from __future__ import annotations

import os
import socket as std_socket
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from helpers import (
    HOWS,
    LOCAL,
    PAYLOAD,
    SHORT,
    WAIT,
    at_a_point,
    drain,
    interrupted,
    wait_blocked,
)

import thredo
import thredo.net.socket as tsocket
from thredo import ThreadCancelled, ThreadTimeout

MADE = tsocket._keepgil_make()  # the GIL-keeping (recv, send): thredo._speedups, if built
needs_made = pytest.mark.skipif(MADE is None, reason="the C accelerator is not built")


@pytest.fixture(params=["keepgil", "gil"])
def keepgil(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run the test with GIL-keeping recv/send (THREDO_KEEP_GIL=1) and with the ordinary calls."""
    if request.param == "keepgil":
        if MADE is None:
            pytest.skip("the C accelerator is not built")
        monkeypatch.setattr(tsocket, "_keepgil_recv", MADE[0])
        monkeypatch.setattr(tsocket, "_keepgil_send", MADE[1])
    else:
        monkeypatch.setattr(tsocket, "_keepgil_recv", None)
        monkeypatch.setattr(tsocket, "_keepgil_send", None)
    return str(request.param)


def tcp_pair(small: bool = False) -> tuple[Any, Any]:
    """A connected (client, server) pair of thredo TCP sockets on 127.0.0.1.

    ``small``: 4 KiB buffers, so a large sendall has to wait.
    """
    with tsocket.socket() as lst:
        if small:
            lst.setsockopt(tsocket.SOL_SOCKET, tsocket.SO_RCVBUF, 4096)
        lst.bind((LOCAL, 0))
        lst.listen(1)
        c = tsocket.socket()
        if small:
            c.setsockopt(tsocket.SOL_SOCKET, tsocket.SO_RCVBUF, 4096)
        c.connect(lst.getsockname())
        s, _ = lst.accept()
    if small:
        s.setsockopt(tsocket.SOL_SOCKET, tsocket.SO_SNDBUF, 4096)
    return c, s


def primed_pair() -> tuple[Any, Any]:
    """A pair whose server side has had a recv wait (so its next recv polls first)."""
    c, s = tcp_pair()
    got: list[bytes] = []
    t = thredo.spawn(lambda: got.append(s.recv(100)))
    wait_blocked(t, "recv")  # the recv had to wait: the socket now polls first
    c.sendall(b"prime")
    t.join()
    assert got == [b"prime"]
    assert s._pollfirst
    return c, s


def recv_step_name(keepgil: str) -> str:
    """The module global the recv calls after its readiness wait."""
    return "_keepgil_recv" if keepgil == "keepgil" else "_recv"


def send_step_name(keepgil: str) -> str:
    return "_keepgil_send" if keepgil == "keepgil" else "_send"


# -- the helpers themselves ----------------------------------------------------------------


def test_gil_keeping_calls_are_on_where_built_and_more_than_one_cpu() -> None:
    setting = os.environ.get("THREDO_KEEP_GIL", "")
    wanted = setting == "1" if setting in ("0", "1") else len(os.sched_getaffinity(0)) > 1
    on = wanted and MADE is not None
    assert (tsocket._keepgil_recv is not None) == on
    assert (tsocket._keepgil_send is not None) == on


@pytest.mark.parametrize(
    ("setting", "cpus", "expected"),
    [("", {0}, False), ("", {0, 1}, True), ("0", {0, 1}, False), ("1", {0}, True)],
)
def test_gil_keeping_rule(
    monkeypatch: pytest.MonkeyPatch, setting: str, cpus: set[int], expected: bool
) -> None:
    """One CPU: release the GIL (a woken thread runs meanwhile); more: keep it; env overrides."""
    monkeypatch.setenv("THREDO_KEEP_GIL", setting)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: cpus)
    assert tsocket._keepgil_enabled() is expected


def test_the_pure_python_path_is_complete_without_the_accelerator() -> None:
    """A process where thredo._speedups cannot be imported: sockets work, on the stdlib calls."""
    import subprocess
    import sys

    code = (
        "import sys; sys.modules['thredo._speedups'] = None\n"  # import fails: not built
        "import thredo, thredo.net.socket as s\n"
        "assert s._keepgil_make() is None and s._keepgil_recv is None and s._keepgil_send is None\n"
        "def main():\n"
        "    a, b = s.socketpair()\n"
        "    t = thredo.spawn(a.recv, 10)\n"
        "    b.sendall(b'ping')\n"
        "    assert t.join() == b'ping'\n"
        "    a.sendall(b'pong'); assert b.recv(10) == b'pong'\n"
        "    a.close(); b.close()\n"
        "thredo.run(main); print('ok')\n"
    )
    env = {**os.environ, "THREDO_KEEP_GIL": "1"}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=WAIT * 3, env=env
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout == "ok\n"


@needs_made
def test_gil_keeping_calls_report_eagain_as_none_and_errors_as_oserror() -> None:
    assert MADE is not None
    recv, send = MADE
    a, b = std_socket.socketpair()
    with a, b:
        assert recv(a.fileno(), 100, 0) is None  # nothing there: EAGAIN
        assert send(b.fileno(), b"hello", 0) == 5
        assert recv(a.fileno(), 100, 0) == b"hello"
        assert recv(a.fileno(), 100, 0) is None
        b.close()
        assert recv(a.fileno(), 100, 0) == b""  # EOF
        with pytest.raises(BrokenPipeError):
            send(a.fileno(), b"x", 0)
    with pytest.raises(OSError, match="Bad file descriptor") as info:
        recv(-1, 100, 0)
    assert info.value.errno == 9  # EBADF


@needs_made
def test_gil_keeping_recv_never_mixes_up_threads_buffers() -> None:
    # Threads switching around the recv must each get their own bytes.
    assert MADE is not None
    recv = MADE[0]
    errors: list[str] = []

    def worker(k: int) -> None:
        a, b = std_socket.socketpair()
        with a, b:
            a.setblocking(False)
            msg = bytes([k]) * 64
            for _ in range(2000):
                b.sendall(msg)
                got = None
                while got is None:
                    got = recv(a.fileno(), 64, 0)
                if got != msg:
                    errors.append(f"thread {k} got {got[:4]!r}")
                    return

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(WAIT)
    assert errors == []


# -- recv after a wait (poll first, then the GIL-keeping recv) -------------------------------


def test_recv_fast_path_round_trips(run: Any, keepgil: str) -> None:
    def main() -> None:
        c, s = primed_pair()
        with c, s:
            for i in range(200):
                msg = b"%d" % i
                c.sendall(msg)
                assert s.recv(100) == msg
                s.sendall(msg)
                assert c.recv(100) == msg
            c.shutdown(tsocket.SHUT_WR)
            assert s.recv(100) == b""

    run(main)


@pytest.mark.parametrize("mode", HOWS)
def test_recv_fast_path_cancel_pending_consumes_nothing(run: Any, keepgil: str, mode: str) -> None:
    # Step 1: the cancel is there before the call, and so is the data.
    def main() -> None:
        c, s = primed_pair()
        with c, s:
            c.sendall(b"waiting")
            time.sleep(SHORT)
            exc = at_a_point(mode, lambda: s.recv(100))
            assert isinstance(exc, ThreadCancelled if mode == "cancel" else ThreadTimeout)
            assert s.recv(100) == b"waiting"

    run(main)


@pytest.mark.parametrize("mode", HOWS)
def test_recv_fast_path_cancelled_in_the_wait(run: Any, keepgil: str, mode: str) -> None:
    # Step 2: the cancel comes while the recv polls; the socket stays usable.
    def main() -> None:
        c, s = primed_pair()
        with c, s:
            interrupted(mode, lambda: s.recv(100), "recv")
            c.sendall(b"after")
            assert s.recv(100) == b"after"

    run(main)


@pytest.mark.parametrize("mode", HOWS)
def test_recv_fast_path_cancel_between_wait_and_recv(
    run: Any, keepgil: str, mode: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Step 3: readiness seen, then the cancel (or the deadline) arrives just
    # before the recv: the data is delivered, the next call raises.
    name = recv_step_name(keepgil)
    real: Callable[..., Any] = getattr(tsocket, name)
    arrived = threading.Event()
    cancelled = threading.Event()

    def step(*args: Any) -> Any:
        if not arrived.is_set():
            arrived.set()
            if mode == "cancel":
                assert cancelled.wait(WAIT)  # a threading wait: the cancel is only stored
            else:
                time.sleep(SHORT * 2)  # the deadline passes here
        return real(*args)

    def main() -> None:
        c, s = primed_pair()
        with c, s:
            monkeypatch.setattr(tsocket, name, step)
            c.sendall(b"ready")

            def body() -> Any:
                assert s.recv(100) == b"ready"
                with pytest.raises(ThreadCancelled):
                    s.recv(100)
                return "ok"

            if mode == "cancel":
                t = thredo.spawn(body)
                assert arrived.wait(WAIT)
                t.cancel(blocking=False)
                cancelled.set()
                assert t.join() == "ok"
            else:
                got = []
                with pytest.raises(ThreadTimeout), thredo.timeout_after(SHORT):  # noqa: PT012
                    got.append(s.recv(100))
                    s.recv(100)
                assert got == [b"ready"]
            c.sendall(b"more")
            assert s.recv(100) == b"more"

    run(main)


def test_recv_fast_path_reports_a_reset_like_the_stdlib(run: Any, keepgil: str) -> None:
    def main() -> None:
        c, s = primed_pair()
        with s:
            c.setsockopt(tsocket.SOL_SOCKET, tsocket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            c.close()  # RST
            with pytest.raises(ConnectionResetError):
                s.recv(100)

    run(main)


def test_recv_fast_path_on_a_closed_socket_raises_ebadf(run: Any, keepgil: str) -> None:
    def main() -> None:
        c, s = primed_pair()
        with c:
            s.close()
            with pytest.raises(OSError, match="Bad file descriptor") as info:
                s.recv(100)
            assert info.value.errno == 9

    run(main)


def test_recv_past_the_gil_keeping_limit_takes_the_ordinary_path(run: Any, keepgil: str) -> None:
    def main() -> None:
        c, s = primed_pair()
        with c, s:
            c.sendall(b"big")
            assert s.recv(tsocket._KEEPGIL_MAX * 2) == b"big"
            c.sendall(b"zero")
            assert s.recv(0) == b""  # as the stdlib: recv(0) returns b"" at once

    run(main)


# -- sendall's first send --------------------------------------------------------------------


@pytest.mark.parametrize("mode", HOWS)
def test_sendall_fast_path_cancel_pending_sends_nothing(run: Any, keepgil: str, mode: str) -> None:
    def main() -> None:
        c, s = tcp_pair()
        with c, s:
            exc = at_a_point(mode, lambda: s.sendall(b"never"))
            assert exc.bytes_sent == 0  # type: ignore[attr-defined]
            s.sendall(b"sent")
            assert c.recv(100) == b"sent"

    run(main)


@pytest.mark.parametrize("mode", HOWS)
def test_sendall_fast_path_cancel_during_the_send(
    run: Any, keepgil: str, mode: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The cancel (or deadline) arrives while the first send is under way:
    # the send completes, sendall returns, the next point raises.
    name = send_step_name(keepgil)
    real: Callable[..., Any] = getattr(tsocket, name)
    arrived = threading.Event()
    cancelled = threading.Event()

    def step(*args: Any) -> Any:
        if not arrived.is_set():
            arrived.set()
            if mode == "cancel":
                assert cancelled.wait(WAIT)
            else:
                time.sleep(SHORT * 2)
        return real(*args)

    def main() -> None:
        c, s = tcp_pair()
        with c, s:
            monkeypatch.setattr(tsocket, name, step)

            def body() -> Any:
                s.sendall(b"whole")
                with pytest.raises(ThreadCancelled) as info:
                    s.sendall(b"never")
                assert info.value.bytes_sent == 0  # type: ignore[attr-defined]
                return "ok"

            if mode == "cancel":
                t = thredo.spawn(body)
                assert arrived.wait(WAIT)
                t.cancel(blocking=False)
                cancelled.set()
                assert t.join() == "ok"
            else:
                with pytest.raises(ThreadTimeout) as tinfo, thredo.timeout_after(SHORT):  # noqa: PT012
                    s.sendall(b"whole")
                    s.sendall(b"never")
                assert tinfo.value.bytes_sent == 0  # type: ignore[attr-defined]
            assert c.recv(100) == b"whole"

    run(main)


@pytest.mark.parametrize("mode", HOWS)
def test_sendall_past_the_send_buffer_reports_bytes_sent(run: Any, keepgil: str, mode: str) -> None:
    # The first (GIL-keeping) send fills the buffer; the rest waits, is
    # interrupted, and bytes_sent matches what the peer receives.
    def main() -> None:
        c, s = tcp_pair(small=True)
        with c, s:
            exc = interrupted(mode, lambda: s.sendall(PAYLOAD), "sendall")
            sent = exc.bytes_sent  # type: ignore[attr-defined]
            assert 0 < sent < len(PAYLOAD)
            s.shutdown(tsocket.SHUT_WR)
            assert drain(c) == sent

    run(main)


def test_sendall_to_a_closed_peer_raises_like_the_stdlib(run: Any, keepgil: str) -> None:
    def main() -> None:
        c, s = tcp_pair()
        with s:
            c.setsockopt(tsocket.SOL_SOCKET, tsocket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            c.close()
            time.sleep(SHORT)

            def send_until_it_fails() -> None:
                for _ in range(100):
                    s.sendall(b"x" * 100)

            with pytest.raises((ConnectionResetError, BrokenPipeError)):
                send_until_it_fails()

    run(main)


def test_sendall_in_a_plain_thread_uses_the_same_path(keepgil: str) -> None:
    c, s = tcp_pair()
    with c, s:
        s.sendall(b"plain")
        assert c.recv(100) == b"plain"


# -- Lock: the attention set in front of the per-thread lookup ---------------------------------


def test_attention_set_holds_exactly_the_states_with_something_pending(run: Any) -> None:
    from thredo import _core

    def main() -> None:
        st = _core.current_state()
        assert st is not None
        assert st not in _core.attention
        with thredo.timeout_after(WAIT):
            assert st in _core.attention
        assert st not in _core.attention
        with thredo.timeout_after(None):  # no deadline: not pending
            assert st not in _core.attention
        with thredo.ignore_after(0):
            thredo.sleep(1)
        assert st not in _core.attention

    run(main)


@pytest.mark.parametrize("mode", HOWS)
def test_lock_fast_path_is_a_cancellation_point(run: Any, mode: str) -> None:
    def main() -> None:
        lock = thredo.Lock()
        exc = at_a_point(mode, lock.acquire)
        assert isinstance(exc, ThreadCancelled if mode == "cancel" else ThreadTimeout)
        assert not lock.locked()

        def with_block() -> None:
            with lock:
                raise AssertionError("entered")

        at_a_point(mode, with_block)
        assert not lock.locked()
        assert lock.acquire(False)  # not a point: works with anything pending
        lock.release()

    run(main)


def test_lock_fast_path_sees_a_cancel_delivered_to_another_thread_only_there(run: Any) -> None:
    # Another thread's pending cancel fills the attention set; this thread
    # then takes the full check, which finds nothing of its own.
    def main() -> None:
        lock = thredo.Lock()
        hold = threading.Event()
        other = thredo.spawn(hold.wait, WAIT)  # a threading wait: the cancel stays pending
        try:
            time.sleep(SHORT)
            other.cancel(blocking=False)
            for _ in range(100):
                with lock:
                    pass
        finally:
            hold.set()
            other.wait()

    run(main)


def test_a_thread_exiting_with_a_cancel_pending_leaves_the_attention_set(run: Any) -> None:
    from thredo import _core

    def main() -> None:
        hold = threading.Event()
        t = thredo.spawn(hold.wait, WAIT)
        time.sleep(SHORT)
        t.cancel(blocking=False)
        st = t._state
        assert st in _core.attention
        hold.set()
        t.wait()
        assert st not in _core.attention
        assert st is not None
        st.deliver(ThreadCancelled("late"))  # a cancel racing the exit
        assert st not in _core.attention

    run(main)


def test_the_old_environment_name_still_works_with_a_deprecation_warning(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """THREDO_NOGIL (the old, misleading name of THREDO_KEEP_GIL) is read, with a warning."""
    monkeypatch.delenv("THREDO_KEEP_GIL", raising=False)
    monkeypatch.setenv("THREDO_NOGIL", "1")
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0})
    with pytest.warns(DeprecationWarning, match="THREDO_KEEP_GIL"):
        assert tsocket._keepgil_enabled() is True
    monkeypatch.setenv("THREDO_KEEP_GIL", "0")
    assert tsocket._keepgil_enabled() is False  # the new name wins, no warning
