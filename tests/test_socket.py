"""thredo.net.socket: the stdlib socket module with cancellable blocking calls.

Every blocking call is interrupted twice over -- by ``Thread.cancel`` from
another thredo thread while it is blocked, and by ``timeout_after`` -- and
the socket is then shown to be usable (or cleanly closed), with partial
progress (``bytes_sent``) accounted for to the byte.  Timeout semantics are
checked against the stdlib by running the same scenario on both.
Real sockets on 127.0.0.1 (and ::1) only.
"""

from __future__ import annotations

import array
import errno
import fcntl
import io
import os
import socket as std_socket
import termios
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import helpers
import pytest
from helpers import (
    HOWS,
    LOCAL,
    PAYLOAD,
    WAIT,
    PlainThread,
    at_a_point,
    drain,
    needs_ipv6,
    read_to_eof,
    shared_epolls,
    stopped_promptly,
    tcp_accept_queue,
    wait_blocked,
    wait_in_poll,
    wait_until,
)

import thredo
from thredo.net import socket as tsocket

TCP_SYN_SENT = 2


# -- helpers ------------------------------------------------------------------


def interrupted(
    mode: str, call: Callable[[], Any], blocked_in: str | tuple[str, ...] | None = None
) -> BaseException:
    """``helpers.interrupted``; a ``timeout`` also lasts its full 0.1 s."""
    t0 = time.monotonic()
    exc = helpers.interrupted(mode, call, blocked_in)
    if mode == "timeout":
        assert time.monotonic() - t0 >= 0.09
    return exc


def tcp_pair(mod: Any = tsocket, small: bool = False) -> tuple[Any, Any]:
    """A connected (client, server) TCP pair on 127.0.0.1; ``small`` buffers if asked."""
    with mod.socket() as lst:
        if small:
            lst.setsockopt(mod.SOL_SOCKET, mod.SO_RCVBUF, 4096)
        lst.bind((LOCAL, 0))
        lst.listen(1)
        c = mod.socket()
        if small:
            c.setsockopt(mod.SOL_SOCKET, mod.SO_SNDBUF, 4096)
        c.connect(lst.getsockname())
        s, _ = lst.accept()
    if small:
        s.setsockopt(mod.SOL_SOCKET, mod.SO_RCVBUF, 4096)
    return c, s


def small_unix_pair() -> tuple[tsocket.socket, tsocket.socket]:
    a, b = tsocket.socketpair()
    a.setsockopt(tsocket.SOL_SOCKET, tsocket.SO_SNDBUF, 4096)
    b.setsockopt(tsocket.SOL_SOCKET, tsocket.SO_RCVBUF, 4096)
    return a, b


def fill(sock: Any) -> int:
    """Send until the send buffer is full (the peer never reads); bytes sent."""
    prev = sock.gettimeout()
    sock.setblocking(False)
    total = 0
    try:
        while True:
            total += sock.send(b"f" * 65536)
    except BlockingIOError:
        pass
    finally:
        sock.settimeout(prev)
    assert total > 0
    return total


def recv_exactly(sock: Any, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        assert chunk, "unexpected EOF"
        data += chunk
    return data


def tcp_state(sock: Any) -> int:
    return int(sock.getsockopt(tsocket.IPPROTO_TCP, tsocket.TCP_INFO, 104)[0])


def full_backlog() -> tuple[tsocket.socket, list[Any]]:
    """A listener with ``listen(0)`` whose backlog is full of never-accepted connections.

    On Linux a further connect to it gets no SYN-ACK: it blocks, retransmitting SYN.
    """
    lst = tsocket.socket()
    lst.bind((LOCAL, 0))
    lst.listen(0)
    fillers = []
    try:
        c = std_socket.create_connection(lst.getsockname(), timeout=5)
        fillers.append(c)

        wait_until(lambda: tcp_accept_queue(lst) >= 1, "the filler connection to be queued")
    except BaseException:
        for c in fillers:
            c.close()
        lst.close()
        raise
    return lst, fillers


def fionread(sock: Any) -> int:
    buf = array.array("i", [0])
    fcntl.ioctl(sock.fileno(), termios.FIONREAD, buf)
    return buf[0]


@pytest.fixture
def default_timeout() -> Iterator[None]:
    """Tests that call setdefaulttimeout: put it back afterwards."""
    saved = std_socket.getdefaulttimeout()
    try:
        yield
    finally:
        std_socket.setdefaulttimeout(saved)


# -- the module -----------------------------------------------------------------


STDLIB_REPLACED = {
    "socket",
    "SocketType",
    "socketpair",
    "fromfd",
    "create_connection",
    "create_server",
    "getaddrinfo",
    "gethostbyname",
    "gethostbyname_ex",
    "gethostbyaddr",
    "getnameinfo",
    "getfqdn",
}


def test_thredo_socket_is_an_alias_of_thredo_net_socket() -> None:
    assert thredo.socket is thredo.net.socket is tsocket
    import thredo.net.socket as via_import

    assert via_import is tsocket
    from thredo import socket as attr

    assert attr is tsocket


def test_original_thredo_import_idiom_works() -> None:
    namespace: dict[str, Any] = {}
    exec("from thredo.socket import *", namespace)  # what the original thredo's examples do
    assert namespace["socket"] is tsocket.socket
    assert namespace["AF_INET"] == std_socket.AF_INET
    import thredo.socket as via_import  # type: ignore[import-not-found]

    assert via_import is tsocket


def test_module_mirrors_every_stdlib_name() -> None:
    missing = [name for name in std_socket.__all__ if not hasattr(tsocket, name)]
    assert not missing
    for name in std_socket.__all__:
        if name not in STDLIB_REPLACED:
            assert getattr(tsocket, name) is getattr(std_socket, name), name
    for name in STDLIB_REPLACED:
        assert getattr(tsocket, name) is not getattr(std_socket, name), name
    assert set(std_socket.__all__) <= set(tsocket.__all__)
    assert tsocket.timeout is TimeoutError
    assert tsocket.SocketType is tsocket.socket


def test_socket_class_has_the_stdlib_method_set() -> None:
    assert issubclass(tsocket.socket, std_socket.socket)
    methods = [
        "accept",
        "connect",
        "connect_ex",
        "recv",
        "recv_into",
        "recvfrom",
        "recvfrom_into",
        "send",
        "sendall",
        "sendto",
        "sendmsg",
        "recvmsg",
        "recvmsg_into",
        "sendfile",
        "makefile",
        "shutdown",
        "close",
        "detach",
        "dup",
        "settimeout",
        "gettimeout",
        "setblocking",
        "getblocking",
        "as_stream",
        "__enter__",
        "__exit__",
    ]
    for name in methods:
        assert callable(getattr(tsocket.socket, name)), name
    with tsocket.socket() as s:
        assert isinstance(s, std_socket.socket)
        assert (s.family, s.type) == (tsocket.AF_INET, tsocket.SOCK_STREAM)
        assert s.fileno() >= 0
    assert s.fileno() == -1  # the context manager closed it


def test_socketpair_fromfd_dup_detach_return_sensible_types() -> None:
    a, b = tsocket.socketpair()
    with a, b:
        assert type(a) is tsocket.socket
        assert type(b) is tsocket.socket
        assert a.family == tsocket.AF_UNIX
        assert a.type == tsocket.SOCK_STREAM
        f = tsocket.fromfd(a.fileno(), tsocket.AF_UNIX, tsocket.SOCK_STREAM)
        with f:
            assert type(f) is tsocket.socket
            assert f.fileno() != a.fileno()  # a duplicate, as the stdlib's
            f.sendall(b"via fromfd")
            assert recv_exactly(b, 10) == b"via fromfd"
        d = b.dup()
        with d:
            assert type(d) is tsocket.socket
            assert d.fileno() != b.fileno()
            a.sendall(b"to dup")
            assert recv_exactly(d, 6) == b"to dup"
        fd = a.detach()
        assert isinstance(fd, int)
        assert a.fileno() == -1
        with tsocket.socket(fileno=fd) as again:
            assert type(again) is tsocket.socket
            assert again.family == tsocket.AF_UNIX
            again.sendall(b"again")
            assert recv_exactly(b, 5) == b"again"


def test_socketpair_second_socket_closed_too() -> None:
    a, b = tsocket.socketpair(tsocket.AF_UNIX, tsocket.SOCK_DGRAM)
    with a, b:
        a.send(b"dgram")
        assert b.recv(100) == b"dgram"
        assert b.type == tsocket.SOCK_DGRAM


def test_detach_hands_back_a_blocking_fd_like_the_stdlib() -> None:
    for mod in (std_socket, tsocket):
        a, b = mod.socketpair()
        with b:
            fd = a.detach()
            try:
                assert os.get_blocking(fd), mod.__name__
            finally:
                os.close(fd)


# -- outside thredo threads: exactly the stdlib ---------------------------------


def test_plain_threads_use_thredo_sockets_like_stdlib_sockets() -> None:
    a, b = tsocket.socketpair()
    with a, b:
        started = threading.Event()
        got: list[bytes] = []

        def blocked_reader() -> None:
            started.set()
            got.append(a.recv(100))  # blocks: nothing sent yet

        t = threading.Thread(target=blocked_reader)
        t.start()
        started.wait(5)
        wait_in_poll(t)
        b.sendall(b"hello plain thread")
        t.join(5)
        assert got == [b"hello plain thread"]
        # sendall of more than the buffer holds, with a plain reader thread draining it
        chunks: list[bytes] = []

        def drain() -> None:
            total = 0
            while total < len(PAYLOAD):
                chunk = a.recv(65536)
                chunks.append(chunk)
                total += len(chunk)

        t = threading.Thread(target=drain)
        t.start()
        b.sendall(PAYLOAD)
        t.join(10)
        assert b"".join(chunks) == PAYLOAD


def test_sockets_cross_between_plain_and_thredo_threads(run: Any) -> None:
    a, b = tsocket.socketpair()  # created outside run()
    with a, b:

        def main() -> bytes:
            plain = threading.Thread(target=lambda: b.sendall(b"from a plain thread"))
            plain.start()
            data = recv_exactly(a, 19)
            plain.join()
            return data

        assert run(main) == b"from a plain thread"
        a.sendall(b"after run")  # still a working socket in the plain main thread
        assert recv_exactly(b, 9) == b"after run"


# -- timeout semantics: the same scenario on stdlib and thredo sockets -----------


def outcome(func: Callable[..., Any], *args: Any) -> tuple[Any, ...]:
    try:
        return ("ok", func(*args))
    except Exception as e:
        return ("raised", type(e), str(e))


def timeout_scenario(mod: Any) -> list[Any]:
    obs: list[Any] = []
    a, b = mod.socketpair()
    with a, b:
        obs.append(("default", a.gettimeout(), a.getblocking()))
        a.setblocking(False)
        obs.append(("setblocking(False)", a.gettimeout(), a.getblocking()))
        obs.append(("recv", outcome(a.recv, 10)))
        obs.append(("recv_into", outcome(a.recv_into, bytearray(4))))
        obs.append(("recvmsg", outcome(a.recvmsg, 10)))
        b.sendall(b"ready")
        obs.append(("recv ready data", outcome(a.recv, 10)))
        a.settimeout(0.05)
        obs.append(("settimeout(0.05)", a.gettimeout(), a.getblocking()))
        obs.append(("recv", outcome(a.recv, 10)))
        obs.append(("recv_into", outcome(a.recv_into, bytearray(4))))
        b.sendall(b"x")
        obs.append(("recv after timeout", outcome(a.recv, 10)))
        a.settimeout(0)
        obs.append(("settimeout(0)", a.gettimeout(), a.getblocking()))
        a.setblocking(True)
        obs.append(("setblocking(True)", a.gettimeout(), a.getblocking()))
        a.settimeout(2.5)
        obs.append(("settimeout(2.5)", a.gettimeout(), a.getblocking()))
        a.setblocking(True)
        obs.append(("setblocking(True) again", a.gettimeout(), a.getblocking()))
        obs.append(("settimeout(-1)", outcome(a.settimeout, -1)))
        obs.append(("settimeout('x')", outcome(a.settimeout, "x")))
        obs.append(("unchanged", a.gettimeout()))
        a.settimeout(1.5)
        d = a.dup()
        with d:
            obs.append(("dup keeps timeout", d.gettimeout(), d.getblocking()))
        # sending into a full buffer (b never reads)
        a.setblocking(False)
        sent = 0
        while True:
            r = outcome(a.send, b"z" * 65536)
            if r[0] != "ok":
                break
            sent += r[1]
        obs.append(("non-blocking send into full buffer", r))
        obs.append(("non-blocking sendall into full buffer", outcome(a.sendall, b"z" * 100)))
        a.settimeout(0.05)
        obs.append(("send with timeout, full buffer", outcome(a.send, b"z")))
        obs.append(("sendall with timeout, full buffer", outcome(a.sendall, b"z" * 100)))
        # a file over a socket with a timeout: the stdlib's SocketIO rules
        c, e = mod.socketpair()
        with c, e:
            c.settimeout(0.05)
            with c.makefile("rb", buffering=0) as f:
                obs.append(("makefile read timeout", outcome(f.read, 10)))
                e.sendall(b"late")
                obs.append(("makefile read after timeout", outcome(f.read, 10)))
    return obs


def test_timeout_semantics_match_stdlib_in_a_plain_thread() -> None:
    expected = timeout_scenario(std_socket)
    assert timeout_scenario(tsocket) == expected
    # and the stdlib's answers are what we think they are
    d = dict(
        (o[0], o[1:])
        for o in expected
        if o[0] in ("default", "setblocking(False)", "settimeout(0.05)")
    )
    assert d["default"] == (None, True)
    assert d["setblocking(False)"] == (0.0, False)
    assert d["settimeout(0.05)"] == (0.05, True)
    assert ("recv", ("raised", TimeoutError, "timed out")) in expected
    assert (
        "recv",
        ("raised", BlockingIOError, "[Errno 11] Resource temporarily unavailable"),
    ) in expected


def test_timeout_semantics_match_stdlib_in_a_thredo_thread(run: Any) -> None:
    expected = timeout_scenario(std_socket)
    assert run(timeout_scenario, tsocket) == expected
    assert run(timeout_scenario, std_socket) == expected


def default_timeout_scenario(mod: Any) -> list[Any]:
    obs: list[Any] = []
    try:
        mod.setdefaulttimeout(0.25)
        obs.append(("getdefaulttimeout", mod.getdefaulttimeout()))
        a, b = mod.socketpair()
        with a, b:
            obs.append(("socketpair", a.gettimeout(), b.gettimeout(), a.getblocking()))
            obs.append(("recv", outcome(a.recv, 1)))
        with mod.socket() as s:
            obs.append(("socket()", s.gettimeout()))
        with mod.socket() as lst:
            lst.bind((LOCAL, 0))
            lst.listen(1)
            with mod.create_connection(lst.getsockname()) as c:
                conn, _ = lst.accept()
                with conn:
                    obs.append(("create_connection", c.gettimeout()))
                    obs.append(("accepted", conn.gettimeout(), conn.getblocking()))
        mod.setdefaulttimeout(0.0)
        a, b = mod.socketpair()
        with a, b:
            obs.append(("socketpair non-blocking", a.gettimeout(), a.getblocking()))
            obs.append(("recv", outcome(a.recv, 1)))
        mod.setdefaulttimeout(None)
        a, b = mod.socketpair()
        with a, b:
            obs.append(("socketpair blocking", a.gettimeout(), a.getblocking()))
        # a listener with a timeout hands out blocking sockets when the default is None
        with mod.socket() as lst:
            lst.bind((LOCAL, 0))
            lst.listen(1)
            lst.settimeout(3.0)
            with mod.create_connection(lst.getsockname()) as c:
                conn, _ = lst.accept()
                with conn:
                    obs.append(
                        ("accepted from timeout listener", conn.gettimeout(), conn.getblocking())
                    )
            lst.setblocking(False)
            with mod.create_connection(lst.getsockname()) as c:
                wait_until(lambda: select_readable(lst), "a pending connection")
                conn, _ = lst.accept()
                with conn:
                    obs.append(
                        (
                            "accepted from non-blocking listener",
                            conn.gettimeout(),
                            conn.getblocking(),
                        )
                    )
    finally:
        mod.setdefaulttimeout(None)
    return obs


def select_readable(sock: Any) -> bool:
    import select

    return bool(select.select([sock], [], [], 0)[0])


@pytest.mark.usefixtures("default_timeout")
@pytest.mark.parametrize("where", ["plain", "thredo"])
def test_setdefaulttimeout_affects_new_sockets_like_stdlib(run: Any, where: str) -> None:
    expected = default_timeout_scenario(std_socket)
    assert ("socketpair", 0.25, 0.25, True) in expected
    assert ("accepted", 0.25, True) in expected
    assert ("accepted from timeout listener", None, True) in expected
    if where == "plain":
        assert default_timeout_scenario(tsocket) == expected
    else:
        assert run(default_timeout_scenario, tsocket) == expected
    assert std_socket.getdefaulttimeout() is None


@pytest.mark.parametrize("where", ["plain", "thredo", "thredo-after-short-read"])
def test_recv_msg_dontwait_on_blocking_socket_does_not_wait(run: Any, where: str) -> None:
    sa, sb = std_socket.socketpair()
    with sa, sb:
        expected = outcome(sa.recv, 10, std_socket.MSG_DONTWAIT)
    assert expected[:2] == ("raised", BlockingIOError)
    a, b = tsocket.socketpair()
    with a, b:
        assert a.gettimeout() is None
        if where == "plain":
            box: list[Any] = []
            t = threading.Thread(
                target=lambda: box.append(outcome(a.recv, 10, tsocket.MSG_DONTWAIT))
            )
            t.start()
            t.join(0.5)  # upper bound: the stdlib returns at once
            if t.is_alive():
                b.sendall(b"unblock")
                t.join(5)
            got = box[0]
        else:

            def guarded() -> Any:
                if where == "thredo-after-short-read":
                    b.sendall(b"abc")
                    assert a.recv(10) == b"abc"  # a short read
                try:
                    with thredo.timeout_after(0.5):  # a wrong wait is cut short, not hung
                        return outcome(a.recv, 10, tsocket.MSG_DONTWAIT)
                except thredo.ThreadTimeout:
                    return "waited"

            got = run(guarded)
        assert got == expected


def test_send_msg_dontwait_on_blocking_socket_does_not_wait(run: Any) -> None:
    sa, sb = std_socket.socketpair()
    with sa, sb:
        fill(sa)
        expected = outcome(sa.send, b"y", std_socket.MSG_DONTWAIT)
    assert expected[:2] == ("raised", BlockingIOError)

    def main() -> Any:
        a, b = tsocket.socketpair()
        with a, b:
            fill(a)
            assert a.gettimeout() is None
            try:
                with thredo.timeout_after(0.5):  # a wrong wait is cut short, not hung
                    return outcome(a.send, b"y", tsocket.MSG_DONTWAIT)
            except thredo.ThreadTimeout:
                return "waited"

    assert run(main) == expected


def test_connect_ex_timeout_returns_errno_like_stdlib(run: Any) -> None:
    def scenario(mod: Any, lst: Any) -> Any:
        with mod.socket() as s:
            s.settimeout(0.1)
            return outcome(s.connect_ex, lst.getsockname())

    def main() -> tuple[Any, Any]:
        lst, fillers = full_backlog()
        try:
            return scenario(std_socket, lst), scenario(tsocket, lst)
        finally:
            for c in fillers:
                c.close()
            lst.close()

    expected, got = run(main)
    assert expected == ("ok", errno.EAGAIN)
    assert got == expected


# -- every blocking call: cancelled and timed out -----------------------------------


@pytest.mark.parametrize("mode", HOWS)
def test_accept_cancelled_then_listener_still_accepts(run: Any, mode: str) -> None:
    def main() -> None:
        with tsocket.socket() as lst:
            lst.bind((LOCAL, 0))
            lst.listen(5)
            interrupted(mode, lst.accept)
            with tsocket.create_connection(lst.getsockname()) as c:
                conn, addr = lst.accept()
                with conn:
                    assert type(conn) is tsocket.socket
                    assert addr == c.getsockname()
                    c.sendall(b"after")
                    assert recv_exactly(conn, 5) == b"after"

    run(main)


@pytest.mark.parametrize("mode", HOWS)
def test_connect_to_full_backlog_cancelled_then_closed_cleanly(run: Any, mode: str) -> None:
    def main() -> None:
        lst, fillers = full_backlog()
        try:
            s = tsocket.socket()
            with s:
                interrupted(mode, lambda: s.connect(lst.getsockname()))
                assert tcp_state(s) == TCP_SYN_SENT  # it never connected
                with pytest.raises(OSError, match="not connected"):
                    s.getpeername()
            assert s.fileno() == -1
            # the listener is unharmed: accept the filler
            conn, _ = lst.accept()
            conn.close()
        finally:
            for c in fillers:
                c.close()
            lst.close()

    run(main)


def test_connect_socket_timeout_raises_timeout_error(run: Any) -> None:
    def main() -> None:
        lst, fillers = full_backlog()
        try:
            with tsocket.socket() as s:
                s.settimeout(0.1)
                t0 = time.monotonic()
                with pytest.raises(TimeoutError, match="timed out"):
                    s.connect(lst.getsockname())
                assert time.monotonic() - t0 >= 0.09
            with pytest.raises(TimeoutError):
                tsocket.create_connection(lst.getsockname(), timeout=0.1)
        finally:
            for c in fillers:
                c.close()
            lst.close()

    run(main)


def test_connect_refused_raises_connection_refused(run: Any) -> None:
    def main() -> None:
        with tsocket.socket() as probe:
            probe.bind((LOCAL, 0))
            addr = probe.getsockname()  # bound, not listening: connects are refused
            with tsocket.socket() as s, pytest.raises(ConnectionRefusedError):
                s.connect(addr)
            with tsocket.socket() as s:
                assert s.connect_ex(addr) == errno.ECONNREFUSED

    run(main)


def _recv_ops() -> dict[str, Callable[[Any], Any]]:
    return {
        "recv": lambda s: lambda: s.recv(100),
        "recv_into": lambda s: lambda: s.recv_into(bytearray(100)),
        "recvmsg": lambda s: lambda: s.recvmsg(100),
        "recvmsg_into": lambda s: lambda: s.recvmsg_into([bytearray(100)]),
        "recvfrom_into": lambda s: lambda: s.recvfrom_into(bytearray(100)),
    }


@pytest.mark.parametrize("op", sorted(_recv_ops()))
@pytest.mark.parametrize("mode", HOWS)
def test_recv_family_cancelled_consumes_nothing_and_socket_still_works(
    run: Any, mode: str, op: str
) -> None:
    def main() -> None:
        a, b = tsocket.socketpair()
        with a, b:
            call = _recv_ops()[op](a)
            interrupted(mode, call)
            b.sendall(b"data after cancel\n")
            if op == "recv":
                assert a.recv(100) == b"data after cancel\n"
            elif op == "recv_into":
                buf = bytearray(100)
                n = a.recv_into(buf)
                assert buf[:n] == b"data after cancel\n"
            elif op == "recvmsg":
                assert a.recvmsg(100)[0] == b"data after cancel\n"
            elif op == "recvmsg_into":
                buf = bytearray(100)
                n = a.recvmsg_into([buf])[0]
                assert buf[:n] == b"data after cancel\n"
            else:
                buf = bytearray(100)
                n, _ = a.recvfrom_into(buf)
                assert buf[:n] == b"data after cancel\n"

    run(main)


@pytest.mark.parametrize("mode", HOWS)
def test_recv_on_tcp_cancelled_after_a_short_read(run: Any, mode: str) -> None:
    # A short recv makes the next one wait for readiness first (the fast-path
    # flag); that wait is cancellable too, and data is still delivered after it.
    def main() -> None:
        c, s = tcp_pair()
        with c, s:
            c.sendall(b"short")
            assert recv_exactly(s, 5) == b"short"
            interrupted(mode, lambda: s.recv(100))
            c.sendall(b"next")
            assert s.recv(100) == b"next"
            c.shutdown(tsocket.SHUT_WR)
            assert s.recv(100) == b""

    run(main)


@pytest.mark.parametrize("mode", HOWS)
def test_recvfrom_udp_cancelled_then_datagram_received(run: Any, mode: str) -> None:
    def main() -> None:
        u1 = tsocket.socket(tsocket.AF_INET, tsocket.SOCK_DGRAM)
        u2 = tsocket.socket(tsocket.AF_INET, tsocket.SOCK_DGRAM)
        with u1, u2:
            u1.bind((LOCAL, 0))
            u2.bind((LOCAL, 0))
            interrupted(mode, lambda: u1.recvfrom(100))
            assert u2.sendto(b"dgram", u1.getsockname()) == 5
            assert u1.recvfrom(100) == (b"dgram", u2.getsockname())
            u1.settimeout(0.05)
            with pytest.raises(TimeoutError):
                u1.recvfrom(100)

    run(main)


def _send_ops() -> dict[str, Callable[[Any, Any, bytes], Any]]:
    return {
        "send": lambda s, f, data: s.send(data),
        "sendmsg": lambda s, f, data: s.sendmsg([data]),
        "makefile-unbuffered-write": lambda s, f, data: f.write(data),
    }


@pytest.mark.parametrize("op", sorted(_send_ops()))
@pytest.mark.parametrize("mode", HOWS)
def test_send_into_full_buffer_cancelled_sends_nothing(run: Any, mode: str, op: str) -> None:
    def main() -> None:
        a, b = small_unix_pair()
        f = a.makefile("wb", buffering=0)
        with a, b, f:
            filled = fill(a)
            send = _send_ops()[op]
            interrupted(mode, lambda: send(a, f, b"y" * 100_000))
            # nothing of the cancelled call went out: the peer reads the fill, then "NEXT"
            r = read_to_eof(b.recv)
            send(a, f, b"NEXT")
            a.shutdown(tsocket.SHUT_WR)
            assert r.join() == b"f" * filled + b"NEXT"

    run(main)


@pytest.mark.parametrize("mode", [*HOWS, "socket-timeout"])
def test_sendall_into_full_buffer_reports_bytes_sent(run: Any, mode: str) -> None:
    def main() -> None:
        c, s = tcp_pair(small=True)
        with c, s:
            if mode == "socket-timeout":
                c.settimeout(0.1)
                with pytest.raises(TimeoutError) as ei:
                    c.sendall(PAYLOAD)
                exc: BaseException = ei.value
                c.settimeout(None)
            else:
                exc = interrupted(mode, lambda: c.sendall(PAYLOAD))
            sent = exc.bytes_sent  # type: ignore[attr-defined]
            assert 0 < sent < len(PAYLOAD)
            r = read_to_eof(s.recv)
            c.sendall(b"NEXT")  # the socket is still usable
            c.shutdown(tsocket.SHUT_WR)
            data = r.join()
            assert len(data) == sent + 4
            assert data == PAYLOAD[:sent] + b"NEXT"

    run(main)


@pytest.mark.parametrize("mode", HOWS)
def test_makefile_readline_cancelled_then_reads_next_line(run: Any, mode: str) -> None:
    def main() -> None:
        a, b = tsocket.socketpair()
        with a, b, a.makefile("rb") as f:
            interrupted(mode, f.readline)
            b.sendall(b"first line\nsecond")
            assert f.readline() == b"first line\n"
            b.sendall(b" line\n")
            assert f.readline() == b"second line\n"
            interrupted(mode, lambda: f.read(4))
            b.sendall(b"1234")
            assert f.read(4) == b"1234"

    run(main)


@pytest.mark.parametrize("mode", HOWS)
def test_makefile_buffered_flush_cancelled_keeps_data(run: Any, mode: str) -> None:
    def main() -> None:
        a, b = small_unix_pair()
        with a, b:
            f = a.makefile("wb")
            try:
                filled = fill(a)
                f.write(b"buffered")  # fits the file's buffer; flushing it must block
                interrupted(mode, f.flush)
                r = read_to_eof(b.recv)
                f.write(b"+more")
            finally:
                f.close()  # flushes what the cancelled flush left behind
            a.shutdown(tsocket.SHUT_WR)
            assert r.join() == b"f" * filled + b"buffered+more"

    run(main)


@pytest.mark.parametrize("where", ["plain", "thredo"])
def test_makefile_round_trips_in_binary_and_text_modes(run: Any, where: str) -> None:
    def scenario() -> None:
        a, b = tsocket.socketpair()
        with a, b:
            with a.makefile("wb") as w, b.makefile("rb") as r:
                w.write(b"line one\nline two\n")
                w.writelines([b"x" * 100_000, b"\n"])
                w.flush()
                assert r.readline() == b"line one\n"
                assert r.readline() == b"line two\n"
                assert r.readline() == b"x" * 100_000 + b"\n"
            with (
                a.makefile("w", encoding="utf-8", newline="\n") as w,
                b.makefile("r", encoding="utf-8") as r,
            ):
                w.write("héllo wörld\n")
                w.write("ünïcode ✓\n")
                w.flush()
                assert r.readline() == "héllo wörld\n"
                assert r.readline() == "ünïcode ✓\n"
            with a.makefile("rwb") as rw:
                rw.write(b"both ways\n")
                rw.flush()
                assert recv_exactly(b, 10) == b"both ways\n"
                b.sendall(b"back\n")
                assert rw.readline() == b"back\n"
            b.shutdown(tsocket.SHUT_WR)
            with a.makefile("rb") as r:
                assert r.read() == b""

    if where == "plain":
        scenario()
    else:
        run(scenario)


def test_sendfile_sends_a_real_file(run: Any, tmp_path: Any) -> None:
    path = tmp_path / "data.bin"
    path.write_bytes(PAYLOAD)

    def main() -> None:
        c, s = tcp_pair()
        with c, s:
            r = read_to_eof(s.recv)
            with open(path, "rb") as f:
                assert c.sendfile(f) == len(PAYLOAD)
                assert f.tell() == len(PAYLOAD)
            with open(path, "rb") as f:
                assert c.sendfile(f, offset=1000, count=5000) == 5000
                assert f.tell() == 6000
            assert c.sendfile(io.BytesIO(b"in memory")) == 9  # no fileno: falls back to send
            with open(tmp_path / "empty", "wb"):
                pass
            with open(tmp_path / "empty", "rb") as f:
                assert c.sendfile(f) == 0
            c.shutdown(tsocket.SHUT_WR)
            assert r.join() == PAYLOAD + PAYLOAD[1000:6000] + b"in memory"
            c.setblocking(False)
            with open(path, "rb") as f, pytest.raises(ValueError, match="non-blocking"):
                c.sendfile(f)

    run(main)


@pytest.mark.parametrize("mode", HOWS)
def test_sendfile_cancelled_reports_bytes_sent(run: Any, tmp_path: Any, mode: str) -> None:
    path = tmp_path / "data.bin"
    path.write_bytes(PAYLOAD)

    def main() -> None:
        c, s = tcp_pair(small=True)
        with c, s, open(path, "rb") as f:
            exc = interrupted(mode, lambda: c.sendfile(f))
            sent = exc.bytes_sent  # type: ignore[attr-defined]
            assert 0 < sent < len(PAYLOAD)
            assert f.tell() == sent  # as the stdlib: the file is positioned after what went out
            r = read_to_eof(s.recv)
            assert c.sendfile(f, offset=sent) == len(PAYLOAD) - sent  # resume where it stopped
            c.shutdown(tsocket.SHUT_WR)
            assert r.join() == PAYLOAD

    run(main)


def test_sendmsg_recvmsg_pass_a_file_descriptor(run: Any) -> None:
    def main() -> None:
        a, b = tsocket.socketpair(tsocket.AF_UNIX, tsocket.SOCK_STREAM)
        rfd, wfd = os.pipe()
        try:
            with a, b:
                fds = array.array("i", [rfd])
                assert (
                    a.sendmsg([b"fd", b"!"], [(tsocket.SOL_SOCKET, tsocket.SCM_RIGHTS, fds)]) == 3
                )
                msg, anc, flags, _addr = b.recvmsg(10, tsocket.CMSG_SPACE(fds.itemsize))
                assert msg == b"fd!"
                assert flags & tsocket.MSG_CTRUNC == 0
                assert len(anc) == 1
                level, kind, data = anc[0]
                assert (level, kind) == (tsocket.SOL_SOCKET, tsocket.SCM_RIGHTS)
                (received,) = array.array("i", data[: fds.itemsize])
                try:
                    assert received != rfd
                    os.write(wfd, b"through the passed fd")
                    assert os.read(received, 100) == b"through the passed fd"
                finally:
                    os.close(received)
        finally:
            os.close(rfd)
            os.close(wfd)

    run(main)


# -- cancellation points: calls that would not wait still raise a cancel or deadline ----


def nothing_to_read(sock: Any) -> bool:
    """True if ``sock`` has no data waiting (checked without blocking or consuming)."""
    try:
        sock.recv(1, tsocket.MSG_PEEK | tsocket.MSG_DONTWAIT)
    except BlockingIOError:
        return True
    return False


def _point_recv(mode: str, op: str) -> None:
    a, b = tsocket.socketpair()
    with a, b:
        b.sendall(b"waiting")  # the call would return at once
        call = _recv_ops()[op](a)
        at_a_point(mode, call)
        assert recv_exactly(a, 7) == b"waiting"  # the point consumed nothing


def _point_recvfrom_udp(mode: str) -> None:
    u1 = tsocket.socket(tsocket.AF_INET, tsocket.SOCK_DGRAM)
    u2 = tsocket.socket(tsocket.AF_INET, tsocket.SOCK_DGRAM)
    with u1, u2:
        u1.bind((LOCAL, 0))
        u2.bind((LOCAL, 0))
        at_a_point(mode, lambda: u2.sendto(b"dgram", u1.getsockname()))
        assert nothing_to_read(u1)  # sendto sent nothing
        u2.sendto(b"dgram", u1.getsockname())
        at_a_point(mode, lambda: u1.recvfrom(100))
        assert u1.recvfrom(100) == (b"dgram", u2.getsockname())


def _point_send(mode: str, op: str) -> None:
    a, b = tsocket.socketpair()
    with a, b:
        if op == "send":
            exc = at_a_point(mode, lambda: a.send(b"lost?"))
        elif op == "sendmsg":
            exc = at_a_point(mode, lambda: a.sendmsg([b"lost?"]))
        else:
            exc = at_a_point(mode, lambda: a.sendall(b"lost?"))
            assert exc.bytes_sent == 0  # type: ignore[attr-defined]
        assert nothing_to_read(b)  # nothing went out
        a.sendall(b"next")
        assert recv_exactly(b, 4) == b"next"


def _point_accept(mode: str) -> None:
    with (
        tsocket.create_server((LOCAL, 0)) as lst,
        tsocket.create_connection(lst.getsockname()) as c,
    ):
        at_a_point(mode, lst.accept)  # a connection is waiting
        conn, addr = lst.accept()  # ... and was not taken by the cancelled call
        with conn:
            assert addr == c.getsockname()


def _point_connect(mode: str, op: str) -> None:
    with tsocket.create_server((LOCAL, 0)) as lst, tsocket.socket() as s:
        if op == "connect":
            at_a_point(mode, lambda: s.connect(lst.getsockname()))
        else:
            at_a_point(mode, lambda: s.connect_ex(lst.getsockname()))
        with pytest.raises(OSError, match="not connected"):
            s.getpeername()  # raised before connecting
        s.connect(lst.getsockname())
        lst.accept()[0].close()


def _point_makefile(mode: str, op: str) -> None:
    a, b = tsocket.socketpair()
    with a, b:
        if op == "makefile-read":
            with a.makefile("rb") as f:
                b.sendall(b"one\ntwo\n")
                assert f.readline() == b"one\n"  # "two\n" is in the file's buffer now
                at_a_point(mode, f.readline)
                at_a_point(mode, lambda: f.read(2))
                at_a_point(mode, lambda: next(f))
                assert f.readline() == b"two\n"  # still there
        elif op == "makefile-text-read":
            with a.makefile("r", encoding="utf-8") as t:
                b.sendall("héllo\nwörld\n".encode())
                assert t.readline() == "héllo\n"
                at_a_point(mode, t.readline)
                assert t.readline() == "wörld\n"
        else:
            with a.makefile("wb") as w:
                at_a_point(mode, lambda: w.write(b"lost?"))  # would only fill the buffer
                w.write(b"kept")
                w.flush()
                assert recv_exactly(b, 4) == b"kept"


def _point_sendfile(mode: str, path: Any) -> None:
    c, s = tcp_pair()
    with c, s, open(path, "rb") as f:
        exc = at_a_point(mode, lambda: c.sendfile(f))
        assert exc.bytes_sent == 0  # type: ignore[attr-defined]
        assert f.tell() == 0
        assert nothing_to_read(s)


POINT_OPS = [
    *(f"recv:{op}" for op in sorted(_recv_ops())),
    "recvfrom+sendto",
    "send",
    "sendmsg",
    "sendall",
    "accept",
    "connect",
    "connect_ex",
    "makefile-read",
    "makefile-text-read",
    "makefile-write",
    "sendfile",
]


@pytest.mark.parametrize("op", POINT_OPS)
@pytest.mark.parametrize("mode", HOWS)
def test_every_blocking_call_is_a_cancellation_point(
    run: Any, tmp_path: Any, mode: str, op: str
) -> None:
    """A call that would complete at once still raises a pending cancel or a past deadline.

    It raises *before* doing its work: a recv consumes nothing, a send sends
    nothing, an accept takes no connection, a connect does not connect.
    """
    path = tmp_path / "data.bin"
    path.write_bytes(b"file data")

    def main() -> None:
        if op.startswith("recv:"):
            _point_recv(mode, op[5:])
        elif op == "recvfrom+sendto":
            _point_recvfrom_udp(mode)
        elif op in ("send", "sendmsg", "sendall"):
            _point_send(mode, op)
        elif op == "accept":
            _point_accept(mode)
        elif op.startswith("connect"):
            _point_connect(mode, op)
        elif op.startswith("makefile"):
            _point_makefile(mode, op)
        else:
            _point_sendfile(mode, path)

    run(main)


def test_getaddrinfo_is_a_cancellation_point(run: Any, monkeypatch: Any) -> None:
    looked_up: list[Any] = []
    monkeypatch.setattr(std_socket, "getaddrinfo", lambda *args: looked_up.append(args))

    def main() -> None:
        for mode in HOWS:
            at_a_point(mode, lambda: tsocket.getaddrinfo("localhost", 80))
        assert looked_up == []  # raised before any lookup (or worker thread) started

    run(main)


def test_calls_on_a_non_blocking_socket_are_not_points(run: Any) -> None:
    """A non-blocking socket (timeout 0.0) never blocks: its calls ignore a pending cancel."""

    def main() -> list[Any]:
        a, b = tsocket.socketpair()
        with a, b:
            a.setblocking(False)
            b.sendall(b"data")
            inside = threading.Event()
            go = threading.Event()
            log: list[Any] = []

            def body() -> None:
                inside.set()
                go.wait(WAIT)  # the cancel arrives here
                log.append(a.recv(10))
                log.append(a.send(b"sent"))
                a.sendall(b"!")
                log.append(outcome(a.recv, 10)[:2])  # nothing left: BlockingIOError, no wait
                with pytest.raises(thredo.ThreadCancelled):
                    thredo.sleep(0)  # still pending: the next point raises it
                log.append("cancelled at sleep(0)")

            t = thredo.spawn(body)
            assert inside.wait(WAIT)
            t.cancel(blocking=False)
            go.set()
            t.join()
            assert recv_exactly(b, 5) == b"sent!"
            return log

    assert run(main) == [b"data", 4, ("raised", BlockingIOError), "cancelled at sleep(0)"]


@pytest.mark.parametrize("call", ["sendall", "send"])
@pytest.mark.parametrize("mode", HOWS)
def test_busy_send_loop_to_a_fast_reader_is_stopped(run: Any, mode: str, call: str) -> None:
    """``while True: sock.sendall(small)`` to a peer that keeps up never waits; it still stops."""

    def main() -> None:
        c, s = tcp_pair()
        with c, s:
            reader = PlainThread(drain, s)
            chunk = b"x" * 64
            step = (lambda: c.sendall(chunk)) if call == "sendall" else (lambda: c.send(chunk))
            stopped_promptly(mode, step)
            c.shutdown(tsocket.SHUT_WR)
            assert reader.join() > 0

    run(main)


@pytest.mark.parametrize("mode", HOWS)
def test_busy_recv_loop_from_a_fast_sender_is_stopped_and_loses_nothing(
    run: Any, mode: str
) -> None:
    """recv() always finds data waiting; the loop still stops, and every byte is accounted for."""

    def main() -> None:
        c, s = tcp_pair()
        with c, s:
            stop = threading.Event()

            def flood() -> int:
                sent = 0
                while not stop.is_set():
                    c.sendall(PAYLOAD)  # far faster than 16-byte reads
                    sent += len(PAYLOAD)
                c.shutdown(tsocket.SHUT_WR)
                return sent

            sender = PlainThread(flood)
            got = [0]

            def step() -> None:
                data = s.recv(16)
                assert data
                got[0] += len(data)

            stopped_promptly(mode, step)
            stop.set()
            rest = drain(s)
            assert got[0] + rest == sender.join()  # no byte lost at the point

    run(main)


# -- helpers that build sockets; DNS ------------------------------------------------


def test_create_server_and_create_connection(run: Any) -> None:
    def main() -> None:
        with tsocket.create_server((LOCAL, 0)) as srv:
            assert type(srv) is tsocket.socket
            assert srv.getsockopt(tsocket.SOL_SOCKET, tsocket.SO_REUSEADDR)
            with tsocket.create_connection(srv.getsockname(), timeout=5) as c:
                assert type(c) is tsocket.socket
                assert c.gettimeout() == 5
                conn, _ = srv.accept()
                with conn:
                    c.sendall(b"ping")
                    assert recv_exactly(conn, 4) == b"ping"
                    conn.sendall(b"pong")
                    assert recv_exactly(c, 4) == b"pong"
            host, port = srv.getsockname()
            with tsocket.create_connection(("localhost", port)) as c:  # resolved, then connected
                conn, _ = srv.accept()
                conn.close()
                assert c.getpeername() == (LOCAL, port)
            with tsocket.create_connection((LOCAL, port), source_address=(LOCAL, 0)) as c:
                conn, _ = srv.accept()
                conn.close()
                assert c.getsockname()[0] == LOCAL

    run(main)


@needs_ipv6
def test_ipv6_and_dualstack_create_server(run: Any) -> None:
    def main() -> None:
        with tsocket.create_server(("::1", 0), family=tsocket.AF_INET6) as srv:
            assert srv.family == tsocket.AF_INET6
            assert srv.getsockopt(tsocket.IPPROTO_IPV6, tsocket.IPV6_V6ONLY) == 1
            with tsocket.create_connection(srv.getsockname()[:2]) as c:
                conn, addr = srv.accept()
                with conn:
                    assert addr[0] == "::1"
                    c.sendall(b"six")
                    assert recv_exactly(conn, 3) == b"six"
        if tsocket.has_dualstack_ipv6():
            kw: dict[str, Any] = {"family": tsocket.AF_INET6, "dualstack_ipv6": True}
            with (
                std_socket.create_server(("::1", 0), **kw) as ref,
                tsocket.create_server(("::1", 0), **kw) as srv,
            ):
                assert type(srv) is tsocket.socket
                opt = (tsocket.IPPROTO_IPV6, tsocket.IPV6_V6ONLY)
                assert srv.getsockopt(*opt) == ref.getsockopt(*opt)
                with tsocket.create_connection(srv.getsockname()[:2]) as c:
                    conn, _ = srv.accept()
                    conn.close()

    run(main)


def test_dns_functions_from_a_thredo_thread(run: Any) -> None:
    expected = {
        (fam, typ, addr)
        for fam, typ, _p, _c, addr in std_socket.getaddrinfo(
            "localhost", 8080, type=std_socket.SOCK_STREAM
        )
    }

    def main() -> None:
        infos = tsocket.getaddrinfo("localhost", 8080, type=tsocket.SOCK_STREAM)
        assert {(fam, typ, addr) for fam, typ, _p, _c, addr in infos} == expected
        assert (tsocket.AF_INET, tsocket.SOCK_STREAM, (LOCAL, 8080)) in expected
        assert tsocket.getaddrinfo(LOCAL, 80, tsocket.AF_INET, tsocket.SOCK_STREAM)[0][4] == (
            LOCAL,
            80,
        )
        assert tsocket.gethostbyname("localhost") == LOCAL
        assert LOCAL in tsocket.gethostbyname_ex("localhost")[2]
        assert tsocket.getnameinfo(
            (LOCAL, 80), tsocket.NI_NUMERICHOST | tsocket.NI_NUMERICSERV
        ) == (LOCAL, "80")
        assert tsocket.gethostbyaddr(LOCAL)[2] == [LOCAL]
        with pytest.raises(tsocket.gaierror):
            tsocket.getaddrinfo("localhost", "no-such-service-name")

    run(main)


@pytest.mark.parametrize("mode", HOWS)
def test_getaddrinfo_is_cancellable(run: Any, monkeypatch: Any, mode: str) -> None:
    entered = threading.Event()
    release = threading.Event()
    real = std_socket.getaddrinfo

    def slow_resolver(*args: Any, **kwargs: Any) -> Any:
        entered.set()
        release.wait(10)  # a resolver that hangs until the test lets it go
        return real(*args, **kwargs)

    monkeypatch.setattr(std_socket, "getaddrinfo", slow_resolver)

    def main() -> None:
        try:
            exc = interrupted(
                mode, lambda: tsocket.getaddrinfo("localhost", 80), blocked_in="getaddrinfo"
            )
            assert entered.is_set()
            assert not release.is_set()
            assert isinstance(exc, thredo.CancelledError)
        finally:
            release.set()
        # the resolver still works afterwards
        assert tsocket.getaddrinfo("localhost", 80, tsocket.AF_INET, tsocket.SOCK_STREAM)[0][4] == (
            LOCAL,
            80,
        )

    run(main)


@needs_ipv6
def test_ipv6_socket_round_trip_with_cancel(run: Any) -> None:
    def main() -> None:
        with tsocket.socket(tsocket.AF_INET6) as lst:
            lst.bind(("::1", 0))
            lst.listen(1)
            interrupted("cancel", lst.accept)
            with tsocket.socket(tsocket.AF_INET6) as c:
                c.connect(lst.getsockname())
                conn, _ = lst.accept()
                with conn:
                    interrupted("timeout", lambda: conn.recv(10))
                    c.sendall(b"v6")
                    assert recv_exactly(conn, 2) == b"v6"

    run(main)


def test_shutdown_and_close_wake_nothing_lost(run: Any) -> None:
    # The peer's shutdown/close ends a blocked recv with EOF (not an error).
    def main() -> None:
        a, b = tsocket.socketpair()
        with a:
            t = thredo.spawn(a.recv, 10)
            wait_blocked(t)
            b.close()
            assert t.join() == b""

    run(main)


def test_recv_on_a_closed_socket_raises_oserror_even_after_waiting() -> None:
    def main() -> None:
        a, b = tsocket.socketpair()
        with b:

            def reader() -> None:
                assert a.recv(1) == b"x"  # had to wait: later recvs wait first
                a.close()
                with pytest.raises(OSError, match="Bad file descriptor") as info:
                    a.recv(1)
                assert info.value.errno == errno.EBADF

            t = thredo.spawn(reader)
            wait_blocked(t)
            b.sendall(b"x")
            t.join()

    thredo.run(main)


def test_threads_past_the_eventfd_budget_may_share_a_listener(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import thredo._core._fdwait

    monkeypatch.setattr(thredo._core._fdwait, "EVENTFD_SHARE", 0.0)

    def main() -> None:
        with tsocket.create_server(("127.0.0.1", 0)) as lsock:

            def acceptor() -> None:
                c, _ = lsock.accept()
                c.close()

            ts = [thredo.spawn(acceptor) for _ in range(2)]
            for t in ts:  # both wait on the one listener before anyone connects
                wait_blocked(t, "accept", lsock)
            assert len(shared_epolls()) == 1  # ... in this run's shared epoll, not on eventfds
            clients = [tsocket.create_connection(lsock.getsockname()) for _ in range(2)]
            for t in ts:
                t.join()
            for c in clients:
                c.close()

    thredo.run(main)


# -- exact stdlib behaviour: names, visible mode, odd arguments --------------------


def test_every_public_name_of_the_stdlib_module_is_here() -> None:
    """Beyond ``__all__``: the enums, SocketIO and the errno aliases (not its imports)."""
    for name in dir(std_socket):
        value = getattr(std_socket, name)
        if name.startswith("_") or isinstance(value, type(os)):
            continue
        if getattr(value, "__module__", "socket") not in ("socket", "_socket", None):
            continue  # what the module imported (IntEnum, ...), not its own
        assert hasattr(tsocket, name), name
    for name in ("AddressInfo", "MsgFlag", "AddressFamily", "SocketKind", "SocketIO"):
        assert getattr(tsocket, name) is getattr(std_socket, name), name
    assert tsocket.MsgFlag.MSG_PEEK == std_socket.MSG_PEEK
    assert tsocket.AddressInfo.AI_PASSIVE == std_socket.AI_PASSIVE


@pytest.mark.parametrize("where", ["plain", "thredo"])
def test_python_visible_mode_is_the_stdlibs(run: Any, where: str) -> None:
    """gettimeout, getblocking and type match the stdlib's after every setting;
    the descriptor's own O_NONBLOCK stays set (by design: see the module docstring)."""

    def scenario() -> None:
        for setting in (None, 0.0, 2.5, True, False):
            seen = []
            for mod in (std_socket, tsocket):
                with mod.socket() as s:
                    if isinstance(setting, bool):
                        s.setblocking(setting)
                    else:
                        s.settimeout(setting)
                    seen.append((s.gettimeout(), s.getblocking(), s.type))
                    if mod is tsocket:
                        assert not os.get_blocking(s.fileno())  # the accepted difference
            assert seen[0] == seen[1], setting

    if where == "plain":
        PlainThread(scenario).join()
    else:
        run(scenario)


def test_setblocking_on_an_invalid_descriptor_raises_as_the_stdlib() -> None:
    """CPython's TestExceptions.test_setblocking_invalidfd, on both modules."""
    for mod in (std_socket, tsocket):
        sock0 = mod.socket(mod.AF_INET, mod.SOCK_STREAM, 0)
        sock = mod.socket(mod.AF_INET, mod.SOCK_STREAM, 0, sock0.fileno())
        sock0.close()
        try:
            with pytest.raises(OSError, match="Bad file descriptor") as info:
                sock.setblocking(False)
            assert info.value.errno == errno.EBADF
        finally:
            sock.detach()


def test_recvmsg_into_takes_any_iterable_even_when_it_has_to_wait(run: Any) -> None:
    def main() -> None:
        a, b = tsocket.socketpair()
        with a, b:
            bufs = [bytearray(5), bytearray(6)]
            t = thredo.spawn(a.recvmsg_into, (buf for buf in bufs))  # a generator
            wait_blocked(t, "recvmsg_into")
            b.sendall(b"hello world")
            assert t.join()[0] == 11
            assert bufs == [bytearray(b"hello"), bytearray(b" world")]

    run(main)


# -- descriptors shared or closed under you -------------------------------------------


def test_fromfd_gives_the_original_its_blocking_mode_back_when_closed() -> None:
    a, b = std_socket.socketpair()
    with a, b:
        assert os.get_blocking(a.fileno())
        with tsocket.fromfd(a.fileno(), tsocket.AF_UNIX, tsocket.SOCK_STREAM) as f:
            f.sendall(b"x")
        assert os.get_blocking(a.fileno())  # the stdlib socket is blocking again
        b.sendall(b"y")
        assert a.recv(1) == b"y"  # ... and waits as one (no BlockingIOError)
        with tsocket.fromfd(a.fileno(), tsocket.AF_UNIX, tsocket.SOCK_STREAM) as f:
            os.close(f.detach())
        assert os.get_blocking(a.fileno())


@pytest.mark.parametrize("how", HOWS)
def test_a_dup_stays_cancellable_after_the_original_is_detached(run: Any, how: str) -> None:
    """``s2 = s.dup(); s.detach()``: s2 must not block in the OS, out of cancel's reach."""

    def main() -> None:
        s, peer = tsocket.socketpair()
        with peer:
            s2 = s.dup()
            os.close(s.detach())
            with s2:
                assert not os.get_blocking(s2.fileno())
                interrupted(how, lambda: s2.recv(10), "recv")
                peer.sendall(b"ok")
                assert recv_exactly(s2, 2) == b"ok"
            fd = None
            s3 = peer.dup()
            with s3:
                fd = peer.detach()  # s3 is still open: the flag stays
                assert not os.get_blocking(fd)
            os.close(fd)

    run(main)


def test_the_last_of_dups_detached_hands_back_a_blocking_descriptor() -> None:
    a, b = tsocket.socketpair()
    with b:
        d = a.dup()
        d.close()
        fd = a.detach()
        try:
            assert os.get_blocking(fd)
        finally:
            os.close(fd)


@pytest.mark.parametrize("path", ["eventfd", "shared epoll"])
@pytest.mark.parametrize("call", ["recv", "accept", "sendall"])
def test_a_socket_closed_by_another_thread_wakes_its_waiter_with_ebadf(
    monkeypatch: pytest.MonkeyPatch, path: str, call: str
) -> None:
    import thredo._core._fdwait

    if path == "shared epoll":
        monkeypatch.setattr(thredo._core._fdwait, "EVENTFD_SHARE", 0.0)

    def main() -> None:
        if call == "accept":
            sock: Any = tsocket.create_server(("127.0.0.1", 0))
            other = None
            op: Callable[[], Any] = sock.accept
        else:
            sock, other = small_unix_pair()
            op = (lambda: sock.recv(10)) if call == "recv" else (lambda: sock.sendall(PAYLOAD))
        t = thredo.spawn(op)
        wait_blocked(t, call, sock)
        t0 = time.monotonic()
        sock.close()  # from this thread: t is blocked on it
        t.wait()
        assert time.monotonic() - t0 < WAIT / 2
        assert isinstance(t.exception, OSError), t.exception
        assert t.exception.errno == errno.EBADF
        if other is not None:
            other.close()

    thredo.run(main)


def test_a_socket_closed_in_a_plain_thread_wakes_a_thredo_waiter() -> None:
    def main() -> None:
        a, b = tsocket.socketpair()
        with b:
            t = thredo.spawn(a.recv, 10)
            wait_blocked(t, "recv", a)
            PlainThread(a.close).join()
            t.wait()
            assert isinstance(t.exception, OSError)
            assert t.exception.errno == errno.EBADF

    thredo.run(main)


def _getnameinfo_refcount_kept() -> bool:
    """CPython's testRefCountGetNameInfo: the failing call keeps no reference to its argument."""
    import sys

    arg = "".join(["not an ", "address"])  # made here: a constant is shared with other code
    orig = sys.getrefcount(arg)
    try:
        tsocket.getnameinfo(arg, 0)
    except TypeError:
        return sys.getrefcount(arg) == orig
    raise AssertionError("getnameinfo accepted a str")


def test_getnameinfo_failure_keeps_no_reference_plain_thread() -> None:
    assert _getnameinfo_refcount_kept()


def test_getnameinfo_failure_keeps_no_reference_thredo_thread(run: Any) -> None:
    assert run(_getnameinfo_refcount_kept)


# -- makefile(): a read cut by a cancel or a deadline loses nothing ------------------------

# Each: (mode, a call that must wait for more than "abc", what it gives once "def\n" came).
_CUT_READS: dict[str, tuple[str, Callable[[Any], Any], Any]] = {
    "readline": ("rb", lambda f: f.readline(), b"abcdef\n"),
    "read(n)": ("rb", lambda f: f.read(7), b"abcdef\n"),
    "iteration": ("rb", lambda f: next(f), b"abcdef\n"),
    "readinto": ("rb", lambda f: _readinto(f, 7), b"abcdef\n"),
    "read()": ("rb", lambda f: f.read(), b"abcdef\n"),
    "rwb readline": ("rwb", lambda f: f.readline(), b"abcdef\n"),
    "text readline": ("r", lambda f: f.readline(), "abcdef\n"),
    "text read(n)": ("r", lambda f: f.read(7), "abcdef\n"),
    "text iteration": ("r", lambda f: next(f), "abcdef\n"),
    "text read()": ("r", lambda f: f.read(), "abcdef\n"),
    "readlines": ("rb", lambda f: f.readlines(), [b"abcdef\n"]),
    "rwb readlines": ("rwb", lambda f: f.readlines(), [b"abcdef\n"]),
    "text readlines": ("r", lambda f: f.readlines(), ["abcdef\n"]),
}


def _readinto(f: Any, n: int) -> bytes:
    buf = bytearray(n)
    got = f.readinto(buf)
    return bytes(buf[:got])


@pytest.mark.parametrize("op", sorted(_CUT_READS))
@pytest.mark.parametrize("mode", HOWS)
def test_makefile_read_cut_by_a_cancel_loses_nothing(run: Any, mode: str, op: str) -> None:
    """The bytes a cut read had taken are the next read's: no silent hole.

    The stdlib's ``io`` drops what a buffered read had gathered when the
    raw read under it raises; thredo's makefile objects give it back.
    """
    fmode, call, expected = _CUT_READS[op]

    def main() -> None:
        a, b = tsocket.socketpair()
        with a, b, a.makefile(fmode, encoding=None if "b" in fmode else "utf-8") as f:
            b.sendall(b"abc")
            interrupted(mode, lambda: call(f), "recv_into")
            b.sendall(b"def\n")
            if op.endswith(("read()", "readlines")):
                b.shutdown(tsocket.SHUT_WR)
            assert call(f) == expected

    run(main)


@pytest.mark.parametrize("mode", HOWS)
def test_makefile_cut_reads_keep_going_and_keep_order(run: Any, mode: str) -> None:
    """Cut after cut, with data in the buffer and lines behind it: the stream is intact."""

    def main() -> None:
        a, b = tsocket.socketpair()
        with a, b, a.makefile("rb", buffering=16) as f:
            b.sendall(b"one\ntwo-is-a-long-line")
            assert f.readline() == b"one\n"
            interrupted(mode, f.readline, "recv_into")
            interrupted(mode, f.readline, "recv_into")
            b.sendall(b"-still\nthree\nfour")
            assert f.readline() == b"two-is-a-long-line-still\n"
            interrupted(mode, lambda: f.read(100), "recv_into")
            b.sendall(b"!")
            b.shutdown(tsocket.SHUT_WR)
            assert f.read() == b"three\nfour!"

    run(main)


@pytest.mark.parametrize("mode", HOWS)
def test_makefile_text_cut_keeps_the_decoder_state(run: Any, mode: str) -> None:
    """A character split across the cut (its first byte before, the rest after) is whole."""
    e_acute = "é".encode()

    def main() -> None:
        a, b = tsocket.socketpair()
        with a, b:
            with a.makefile("r", encoding="utf-8") as f:
                b.sendall(b"ab" + e_acute[:1])
                interrupted(mode, f.readline, "recv_into")
                b.sendall(e_acute[1:] + b"\ncd")
                assert f.readline() == "abé\n"
                interrupted(mode, lambda: f.read(3), "recv_into")
                b.sendall(b"e\r\nf\n")
                assert f.read(3) == "cde"
                assert list(f.readline() for _ in range(2)) == ["\n", "f\n"]
            with a.makefile("r", encoding="utf-8", newline="") as f:
                b.sendall(b"x\r")
                interrupted(mode, f.readline, "recv_into")
                b.sendall(b"\ny\rz\n")
                assert f.readline() == "x\r\n"
                assert f.readline() == "y\r"
                assert f.readline() == "z\n"
                assert f.newlines == ("\r", "\n", "\r\n")

    run(main)


def test_makefile_text_modes_match_the_stdlib() -> None:
    """The text reading of thredo's makefile gives what the stdlib's gives (plain thread)."""
    data = "a\r\nb\rc\nd\u00e9\r\n\re" * 50

    def reads(mod: Any, newline: str | None, how: str) -> list[Any]:
        a, b = mod.socketpair()
        with a, b, a.makefile("r", encoding="utf-8", newline=newline) as f:
            b.sendall(data.encode())
            b.shutdown(mod.SHUT_WR)
            if how == "lines":
                return list(f)
            if how == "sized":
                return [f.readline(3) for _ in range(200)]
            if how == "chunks":
                return [f.read(7) for _ in range(200)]
            return [f.readlines(), f.newlines]

    for newline in (None, "", "\n", "\r", "\r\n"):
        for how in ("lines", "sized", "chunks", "readlines"):
            assert reads(tsocket, newline, how) == reads(std_socket, newline, how), (newline, how)


def test_makefile_repr_is_the_stdlibs() -> None:
    for mod in (tsocket, std_socket):
        a, b = mod.socketpair()
        with a, b:
            r, w, t = a.makefile("rb"), a.makefile("wb"), a.makefile("r", encoding="utf-8")
            fd = a.fileno()
            assert repr(r) == f"<_io.BufferedReader name={fd}>"
            assert repr(w) == f"<_io.BufferedWriter name={fd}>"
            assert repr(t) == f"<_io.TextIOWrapper name={fd} mode='r' encoding='utf-8'>"
            a.close()
            for f in (r, w, t):
                f.close()
            assert repr(r) == "<_io.BufferedReader name=-1>"
            assert repr(w) == "<_io.BufferedWriter name=-1>"

    def reprs(mod: Any) -> list[str]:  # every kind of file, open and closed
        a, b = mod.socketpair()
        with a, b:
            fs = [a.makefile(m) for m in ("rb", "wb", "rwb")]
            fs += [a.makefile(m, encoding="utf-8") for m in ("r", "w", "rw")]
            shown = [repr(f).split(" at 0x")[0] for f in fs]
            a.close()
            for f in fs:
                f.close()
            return shown + [repr(f).split(" at 0x")[0] for f in fs]

    assert reprs(tsocket) == reprs(std_socket)


@pytest.mark.parametrize("op", sorted(_CUT_READS))
@pytest.mark.parametrize("mode", HOWS)
def test_makefile_read_that_need_not_wait_is_a_point_and_loses_nothing(
    run: Any, mode: str, op: str
) -> None:
    """All the data there (part in the file's buffer): still a point, nothing taken."""
    fmode, call, expected = _CUT_READS[op]

    def main() -> None:
        a, b = tsocket.socketpair()
        with a, b, a.makefile(fmode, encoding=None if "b" in fmode else "utf-8") as f:
            b.sendall(b"0\nabcdef\n")
            b.shutdown(tsocket.SHUT_WR)
            assert f.readline() in (b"0\n", "0\n")  # the rest now sits in the buffer
            at_a_point(mode, lambda: call(f))
            assert call(f) == expected

    run(main)


@pytest.mark.parametrize("mode", HOWS)
def test_makefile_rw_text_and_readlines_cut_lose_nothing(run: Any, mode: str) -> None:
    def main() -> None:
        a, b = tsocket.socketpair()
        with a, b, a.makefile("rw", encoding="utf-8", newline="") as f:
            b.sendall(b"one\r\ntw")
            interrupted(mode, f.readlines, "recv_into")
            f.write("ping\n")  # a write in between does not drop decoded text
            f.flush()
            assert recv_exactly(b, 5) == b"ping\n"
            b.sendall(b"o\nthree")
            b.shutdown(tsocket.SHUT_WR)
            assert f.readlines() == ["one\r\n", "two\n", "three"]

    run(main)


@pytest.mark.parametrize("mode", HOWS)
def test_makefile_unbuffered_read_cut_takes_nothing(run: Any, mode: str) -> None:
    """``buffering=0``: the raw file is the user's; a cut raises at once, nothing consumed."""

    def main() -> None:
        a, b = tsocket.socketpair()
        with a, b, a.makefile("rb", buffering=0) as f:
            buf = bytearray(8)
            interrupted(mode, lambda: f.readinto(buf), "recv_into")
            b.sendall(b"xyz")
            assert f.read(8) == b"xyz"

    run(main)


def test_makefile_read_cut_after_many_megabytes_gives_them_back_in_linear_time(run: Any) -> None:
    """A cut ``read()`` that had gathered 96 MiB gives them all back, and reading them again
    in 8 KiB reads costs what reading them did (issue 22, item 1).

    The give-back used to copy what was left of it on every raw read: 96 MiB
    read back 8 KiB at a time copied ~580 GB (the test ran into its timeout).
    """
    data = bytes(range(256)) * (96 * 4096)

    def main() -> None:
        a, b = tsocket.socketpair()
        with a, b, a.makefile("rb") as f:
            sender = threading.Thread(target=b.sendall, args=(data,))  # a plain thread
            reader = thredo.spawn(f.read)
            sender.start()
            sender.join()
            wait_blocked(reader, "recv_into")  # it took all there was: the cut gathered 96 MiB
            reader.cancel()
            assert isinstance(reader.exception, thredo.ThreadCancelled)
            got = bytearray()
            while len(got) < len(data):
                got += f.read(8192)
            assert got == data

    run(main)
