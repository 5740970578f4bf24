"""thredo.requests.get_session(): the program's own requests, cancellable; no cut connection reused.

The servers are test_patch's (thredo tcp_server on 127.0.0.1: answering,
silent, dripping).  requests is imported directly: a missing requests fails
these tests, it never skips them.
"""

from __future__ import annotations

import socket as std_socket
import ssl as std_ssl
import time
from typing import Any

import pytest
import requests
import trustme
from helpers import HOWS, LOCAL, WAIT, PlainThread, at_once, expected, interrupted, wait_until
from test_patch import HTTPServer, serving

import thredo
import thredo.requests as treq
from thredo import net


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A trustme CA: server context (cert for 127.0.0.1) and the CA file for ``verify=``."""
    ca = trustme.CA()
    server = std_ssl.create_default_context(std_ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(LOCAL).configure_cert(server)
    path = tmp_path_factory.mktemp("ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return {"server": server, "cafile": str(path)}


def test_session_is_a_requests_session() -> None:
    with treq.get_session() as s:
        assert isinstance(s, requests.Session)
        assert isinstance(s.get_adapter("http://x/"), treq.ThredoAdapter)
        assert isinstance(s.get_adapter("https://x/"), treq.ThredoAdapter)


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_requests_go_over_thredo_sockets(scheme: str, tls: dict[str, Any]) -> None:
    def body(srv: HTTPServer) -> None:
        with treq.get_session() as s:
            r = s.get(srv.url("/ok", scheme), verify=tls["cafile"], stream=True)
            sock = r.raw.connection.sock
            assert isinstance(sock, net.ssl.SSLSocket if scheme == "https" else net.socket.socket)
            assert r.content == b"ok"
            assert s.get(srv.url("/ok", scheme), verify=tls["cafile"]).text == "ok"
        assert srv.connections == 1  # the pool kept the connection for the second request

    thredo.run(serving("http", tls, body, scheme))


def test_errors_are_the_programs_requests_exceptions() -> None:
    with std_socket.socket() as s:
        s.bind((LOCAL, 0))
        port = s.getsockname()[1]  # nothing listens there once closed

    def main() -> None:
        with treq.get_session() as session, pytest.raises(requests.exceptions.ConnectionError):
            session.get(f"http://{LOCAL}:{port}/")

    thredo.run(main)


@pytest.mark.parametrize("how", HOWS)
@pytest.mark.parametrize("scheme", ["http", "https"])
@pytest.mark.parametrize("mode", ["silent", "drip"])
def test_cancel_and_timeout(mode: str, scheme: str, how: str, tls: dict[str, Any]) -> None:
    """Silent (HTTPS: a stalled handshake) or dripping forever: the whole request is bounded."""

    def body(srv: HTTPServer) -> None:
        with treq.get_session() as s:
            t0 = time.monotonic()
            # Dripping: cancelled in a read (past the TLS handshake: the handler runs).
            exc = interrupted(
                how,
                lambda: s.get(srv.url("/drip", scheme), verify=tls["cafile"]).content,
                ("recv", "recv_into", "read") if mode == "drip" else None,
            )
            assert isinstance(exc, expected(how))
            assert time.monotonic() - t0 < WAIT
        # The server may accept only after the client has gone; a deadline may cut an
        # HTTPS request to the dripping server in its handshake (then no handler runs).
        if how == "timeout" and scheme == "https" and mode == "drip":
            wait_until(lambda: srv.closed == srv.connections, "the client to hang up")
        else:
            wait_until(lambda: srv.closed == srv.connections == 1, "the client to hang up")

    thredo.run(serving("silent" if mode == "silent" else "http", tls, body, scheme))


@pytest.mark.parametrize("how", HOWS)
@pytest.mark.parametrize("path", ["/hang", "/drip"])
@pytest.mark.parametrize("scheme", ["http", "https"])
def test_a_cut_connection_is_discarded_and_the_session_goes_on(
    scheme: str, path: str, how: str, tls: dict[str, Any]
) -> None:
    """Cut while waiting for the answer (/hang) or mid-body (/drip): the next request works."""

    def body(srv: HTTPServer) -> None:
        with treq.get_session() as s:
            assert s.get(srv.url("/ok", scheme), verify=tls["cafile"]).text == "ok"
            assert srv.connections == 1
            exc = interrupted(how, lambda: s.get(srv.url(path, scheme), verify=tls["cafile"]))
            assert isinstance(exc, expected(how))
            wait_until(lambda: srv.closed == 1, "the cut connection to be closed")
            assert s.get(srv.url("/ok", scheme), verify=tls["cafile"]).text == "ok"
            assert srv.connections == 2  # a new connection: the cut one was not reused

    thredo.run(serving("http", tls, body, scheme))


@pytest.mark.parametrize("how", HOWS)
def test_a_request_is_a_cancellation_point(how: str, tls: dict[str, Any]) -> None:
    def body(srv: HTTPServer) -> None:
        with treq.get_session() as s:
            assert s.get(srv.url("/ok")).text == "ok"  # no wait needed...
            assert at_once(how, lambda: s.get(srv.url("/ok"))) is expected(how)  # ...still a point
            assert s.get(srv.url("/ok")).text == "ok"

    thredo.run(serving("http", tls, body))


def test_in_a_plain_thread_it_is_requests(tls: dict[str, Any]) -> None:
    """Outside thredo threads: requests' own timeout= and results, unchanged."""

    def body(srv: HTTPServer) -> None:
        with treq.get_session() as s:

            def calls() -> str:
                text = s.get(srv.url("/ok")).text
                with pytest.raises(requests.exceptions.ReadTimeout):
                    s.get(srv.url("/hang"), timeout=0.2)
                return text

            t0 = time.monotonic()
            assert PlainThread(calls).join() == "ok"
            assert time.monotonic() - t0 >= 0.2 * 0.6

    thredo.run(serving("http", tls, body))


def test_timeout_after_bounds_requests_own_retries(tls: dict[str, Any]) -> None:
    """timeout= is per socket operation; timeout_after bounds the whole call (a drip never
    trips timeout=, the deadline still ends it)."""

    def body(srv: HTTPServer) -> None:
        with treq.get_session() as s:
            t0 = time.monotonic()
            with pytest.raises(thredo.ThreadTimeout), thredo.timeout_after(0.5):
                s.get(srv.url("/drip"), timeout=5)
            assert 0.5 * 0.6 <= time.monotonic() - t0 < WAIT
            assert srv.dripped > 0

    thredo.run(serving("http", tls, body))
