"""thredo.patch() / more_magic(): copies of urllib, http.client and requests on thredo's stdlib.

Real servers on 127.0.0.1 (thredo tcp_server in a thredo thread): one that
answers, one that accepts and never answers (for HTTPS: never finishes the
TLS handshake), one that answers byte by byte forever.  The same libraries
imported before the scope (the stdlib copies) are checked to be untouched.
"""

from __future__ import annotations

import http.client as std_http_client
import socket as std_socket
import ssl as std_ssl
import sys
import threading
import time
import urllib.error
import urllib.request as std_urllib_request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests as std_requests
import trustme
from helpers import (
    HOWS,
    LOCAL,
    WAIT,
    PlainThread,
    at_once,
    expected,
    interrupted,
    wait_until,
)

import thredo
from thredo import net
from thredo._patch import FACADES

SNAPSHOT_BEFORE = dict(sys.modules)
STD_HTTP_CLIENT_VARS = dict(vars(std_http_client))

with thredo.patch():
    import http.client as p_http_client
    import urllib.request as p_urllib_request

    import requests as p_requests
    import urllib3 as p_urllib3

with thredo.more_magic():
    import urllib.request as p2_urllib_request


# -- servers -------------------------------------------------------------------------


class HTTPServer:
    """A thredo tcp_server in a thredo thread (call inside thredo.run).

    ``mode`` "http" answers by path: ``/ok`` (keep-alive, "ok"), ``/hang``
    (reads the request, never answers), ``/drip`` (headers, then a body one
    byte every few ms, forever).  ``mode`` "silent" accepts and never
    answers, not even a TLS handshake.  ``connections`` counts accepted
    connections, ``dripped`` the body bytes sent.
    """

    def __init__(self, mode: str = "http", tls: std_ssl.SSLContext | None = None) -> None:
        self.mode = mode
        self.connections = 0
        self.dripped = 0
        self.closed = 0  # connections whose client went away
        self.port = 0
        ready = threading.Event()

        def on_ready(sock: Any) -> None:
            self.port = sock.getsockname()[1]
            ready.set()

        # The silent server wraps no TLS: an HTTPS client's handshake stalls.
        ssl = tls if mode == "http" else None
        self.thread = thredo.spawn(net.tcp_server, LOCAL, 0, self._handle, ssl=ssl, ready=on_ready)
        assert ready.wait(WAIT)

    def url(self, path: str, scheme: str = "http") -> str:
        return f"{scheme}://{LOCAL}:{self.port}{path}"

    def _handle(self, client: Any, address: Any) -> None:
        self.connections += 1
        try:
            if self.mode == "silent":
                while client.recv(65536):
                    pass
                return
            with client.makefile("rb") as f:
                self._answer(client, f)
        except OSError:  # the client went away mid-answer
            pass
        finally:
            self.closed += 1

    def _answer(self, client: Any, f: Any) -> None:
        while True:
            line = f.readline()
            if not line:
                return
            path = line.split()[1]
            while f.readline() not in (b"\r\n", b"\n", b""):
                pass
            if path == b"/ok":
                client.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            elif path == b"/hang":
                while client.recv(65536):
                    pass
                return
            else:  # /drip
                client.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1000000000\r\n\r\n")
                while True:
                    client.sendall(b"x")
                    self.dripped += 1
                    thredo.sleep(0.002)  # the pace of the drip, not an ordering

    def close(self) -> None:
        self.thread.cancel()


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A trustme CA: server context (cert for 127.0.0.1), thredo client context, CA file."""
    ca = trustme.CA()
    server = std_ssl.create_default_context(std_ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(LOCAL).configure_cert(server)
    client = net.ssl.create_default_context()
    ca.configure_trust(client)
    path = tmp_path_factory.mktemp("ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return {"server": server, "client": client, "cafile": str(path)}


# -- the three libraries, as a caller uses them -----------------------------------------


def get_urllib(mod: Any, url: str, ctx: Any, timeout: float | None = None) -> bytes:
    kw: dict[str, Any] = {} if timeout is None else {"timeout": timeout}
    with mod.urlopen(url, context=ctx if url.startswith("https") else None, **kw) as r:
        return r.read()  # type: ignore[no-any-return]


def get_http_client(mod: Any, url: str, ctx: Any, timeout: float | None = None) -> bytes:
    scheme, _, rest = url.partition("://")
    hostport, _, path = rest.partition("/")
    host, port = hostport.split(":")
    kw: dict[str, Any] = {} if timeout is None else {"timeout": timeout}
    if scheme == "https":
        conn = mod.HTTPSConnection(host, int(port), context=ctx, **kw)
    else:
        conn = mod.HTTPConnection(host, int(port), **kw)
    try:
        conn.request("GET", "/" + path)
        return conn.getresponse().read()  # type: ignore[no-any-return]
    finally:
        conn.close()


def get_requests(mod: Any, url: str, cafile: str, timeout: float | None = None) -> bytes:
    return mod.get(url, verify=cafile, timeout=timeout).content  # type: ignore[no-any-return]


LIBS = ["urllib", "http.client", "requests"]


def patched_call(lib: str, url: str, tls: dict[str, Any], timeout: float | None = None) -> bytes:
    if lib == "urllib":
        return get_urllib(p_urllib_request, url, tls["client"], timeout)
    if lib == "http.client":
        return get_http_client(p_http_client, url, tls["client"], timeout)
    return get_requests(p_requests, url, tls["cafile"], timeout)


def in_run(scenario: Callable[[], Any]) -> Any:
    return thredo.run(scenario)


def serving(
    mode: str, tls: dict[str, Any], body: Callable[[HTTPServer], Any], scheme: str = "http"
) -> Callable[[], Any]:
    """A scenario for thredo.run: ``body(server)`` with a server of ``mode`` for ``scheme``."""

    def scenario() -> Any:
        srv = HTTPServer(mode, tls["server"] if scheme == "https" else None)
        try:
            return body(srv)
        finally:
            srv.close()

    return scenario


# -- the scope and sys.modules -------------------------------------------------------


def test_sys_modules_socket_is_the_stdlib_after_the_scope() -> None:
    import select
    import selectors
    import time as time_mod

    assert sys.modules["socket"] is std_socket
    assert sys.modules["socket"].socket is std_socket.socket
    assert not issubclass(sys.modules["socket"].socket, net.socket.socket)
    assert sys.modules["ssl"].SSLContext is std_ssl.SSLContext
    assert sys.modules["select"] is select
    assert sys.modules["selectors"] is selectors
    assert sys.modules["time"].sleep is time_mod.sleep
    assert sys.modules["time"].sleep is not thredo.sleep


def test_modules_imported_before_the_scope_are_untouched() -> None:
    for name, mod in SNAPSHOT_BEFORE.items():
        assert sys.modules.get(name) is mod, name
    assert dict(vars(std_http_client)) == STD_HTTP_CLIENT_VARS
    assert std_http_client.socket is std_socket
    assert std_urllib_request.socket is std_socket
    assert std_requests.utils.socket is std_socket
    assert p_http_client is not std_http_client
    assert p_requests is not std_requests


def test_a_scope_leaves_sys_modules_as_it_found_it() -> None:
    before = dict(sys.modules)
    with thredo.patch():
        import http.client as x
        import xmlrpc.client as y

        assert sys.modules["socket"] is std_socket  # during the scope too
        import socket as facade

    assert facade is FACADES["socket"]
    assert x.socket is FACADES["socket"]
    assert y.http.client is x
    assert sys.modules.get("xmlrpc.client") is before.get("xmlrpc.client")
    for name, mod in before.items():
        assert sys.modules.get(name) is mod, name
    assert set(sys.modules) - set(before) <= {n for n in sys.modules if not _copied(n)}


def _copied(name: str) -> bool:
    from thredo._patch import _copied as copied

    return copied(name)


def test_copies_see_thredo_socket_ssl_select_selectors_and_sleep() -> None:
    assert issubclass(p_http_client.socket.socket, net.socket.socket)
    assert p_http_client.socket.create_connection is net.socket.create_connection
    assert p_urllib_request.ssl.SSLContext is net.ssl.SSLContext
    assert p_urllib_request.http.client is p_http_client
    assert p2_urllib_request is not std_urllib_request
    wait_mod = sys.modules.get("urllib3.util.wait")
    assert p_urllib3.util.wait is not wait_mod
    assert p_urllib3.util.wait.select.poll is net.select.poll
    assert p_urllib3.util.retry.time.sleep is thredo.sleep
    assert p_requests.adapters.HTTPAdapter is not std_requests.adapters.HTTPAdapter
    # The https context factories http.client and urllib call make thredo contexts.
    assert isinstance(p_http_client.ssl._create_default_https_context(), net.ssl.SSLContext)
    assert isinstance(p_http_client.ssl._create_stdlib_context(), net.ssl.SSLContext)


def test_thredo_reaches_the_real_stdlib_under_the_scope() -> None:
    """No recursion: thredo's getaddrinfo and SSLContext call the stdlib, not themselves."""

    def scenario() -> None:
        with thredo.patch():
            infos = net.socket.getaddrinfo("localhost", 80, type=std_socket.SOCK_STREAM)
            assert infos
            ctx = net.ssl.create_default_context()
            ctx.minimum_version = std_ssl.TLSVersion.TLSv1_2  # the stdlib setter's super() path
            p_ctx = p_urllib_request.ssl.create_default_context()
            assert isinstance(p_ctx, net.ssl.SSLContext)

    in_run(scenario)


def test_scopes_nest() -> None:
    before = dict(sys.modules)
    with thredo.patch():
        with thredo.more_magic():
            import http.client as inner
        import http.client as outer
    assert inner.socket is FACADES["socket"]
    assert outer.socket is FACADES["socket"]
    assert sys.modules["http.client"] is before["http.client"]
    assert __import__ is not None
    assert __builtins__ is not None
    import builtins

    assert builtins.__import__.__module__ != "thredo._patch"


def test_only_the_scope_thread_sees_the_facades() -> None:
    got: list[Any] = []

    def other() -> None:
        got.append(__import__("socket"))

    with thredo.patch():
        t = threading.Thread(target=other)
        t.start()
        t.join(WAIT)
    assert got == [std_socket]


# -- a true total deadline: cancel and timeout, HTTP and HTTPS --------------------------


@pytest.mark.parametrize("how", HOWS)
@pytest.mark.parametrize("scheme", ["http", "https"])
@pytest.mark.parametrize("lib", LIBS)
def test_silent_server(lib: str, scheme: str, how: str, tls: dict[str, Any]) -> None:
    """Accepts, never answers (HTTPS: the handshake never completes)."""

    def body(srv: HTTPServer) -> None:
        t0 = time.monotonic()
        exc = interrupted(how, lambda: patched_call(lib, srv.url("/", scheme), tls))
        assert isinstance(exc, expected(how))
        assert time.monotonic() - t0 < WAIT
        wait_until(lambda: srv.closed == srv.connections == 1, "the client to hang up")

    in_run(serving("silent", tls, body, scheme))


@pytest.mark.parametrize("how", HOWS)
@pytest.mark.parametrize("scheme", ["http", "https"])
@pytest.mark.parametrize("lib", LIBS)
def test_server_answering_byte_by_byte_forever(
    lib: str, scheme: str, how: str, tls: dict[str, Any]
) -> None:
    def body(srv: HTTPServer) -> None:
        def call() -> Any:
            return patched_call(lib, srv.url("/drip", scheme), tls)

        if how == "cancel":

            def fetch() -> Any:
                try:
                    return call()
                except thredo.ThreadCancelled as e:
                    return e

            t = thredo.spawn(fetch)
            wait_until(lambda: srv.dripped > 20, "the body to flow")
            t0 = time.monotonic()
            t.cancel()
            assert isinstance(t.join(), thredo.ThreadCancelled)
        else:
            t0 = time.monotonic()
            with pytest.raises(thredo.ThreadTimeout):
                with thredo.timeout_after(0.5):
                    call()
            assert time.monotonic() - t0 >= 0.5 * 0.6
            assert srv.dripped > 0  # the deadline bounded the body, not just the connect
        assert time.monotonic() - t0 < WAIT
        wait_until(lambda: srv.closed == 1, "the client to hang up")

    in_run(serving("http", tls, body, scheme))


@pytest.mark.parametrize("how", HOWS)
@pytest.mark.parametrize("lib", LIBS)
def test_a_request_is_a_cancellation_point(lib: str, how: str, tls: dict[str, Any]) -> None:
    """No wait needed (a fast server): a pending cancel or expired deadline still stops it."""

    def body(srv: HTTPServer) -> None:
        assert patched_call(lib, srv.url("/ok"), tls) == b"ok"  # no-wait path works
        assert at_once(how, lambda: patched_call(lib, srv.url("/ok"), tls)) is expected(how)

    in_run(serving("http", tls, body))


@pytest.mark.parametrize("scheme", ["http", "https"])
@pytest.mark.parametrize("lib", LIBS)
def test_copies_work_normally(lib: str, scheme: str, tls: dict[str, Any]) -> None:
    def body(srv: HTTPServer) -> None:
        with thredo.timeout_after(WAIT):
            assert patched_call(lib, srv.url("/ok", scheme), tls) == b"ok"

    in_run(serving("http", tls, body, scheme))


def test_total_deadline_covers_dns() -> None:
    """A name (not a literal) is resolved by thredo's cancellable getaddrinfo."""

    def body(srv: HTTPServer) -> None:
        with thredo.timeout_after(WAIT):
            url = f"http://localhost:{srv.port}/ok"
            try:
                assert p_requests.get(url).content == b"ok"
            except p_requests.exceptions.ConnectionError:  # localhost is ::1 only here
                pytest.skip("localhost does not resolve to 127.0.0.1")

    in_run(serving("http", {"server": None}, body))


# -- plain threads and the stdlib copies ----------------------------------------------------


@pytest.mark.parametrize("lib", LIBS)
def test_copies_in_plain_threads_behave_as_the_stdlib(lib: str, tls: dict[str, Any]) -> None:
    """Their own timeout= raises the stdlib's errors; a good request succeeds."""

    def body(srv: HTTPServer) -> None:
        url = srv.url("/hang")
        assert PlainThread(patched_call, lib, srv.url("/ok"), tls).join() == b"ok"
        t0 = time.monotonic()
        with pytest.raises((TimeoutError, urllib.error.URLError, p_requests.Timeout)):
            PlainThread(patched_call, lib, url, tls, 0.2).join()
        assert 0.2 * 0.6 <= time.monotonic() - t0 < WAIT

    in_run(serving("http", tls, body))


@pytest.mark.parametrize("lib", LIBS)
def test_stdlib_copies_outside_the_scope_are_stdlib(lib: str, tls: dict[str, Any]) -> None:
    """In a thredo thread, the copies imported before the scope still use stdlib sockets."""

    def body(srv: HTTPServer) -> None:
        if lib == "http.client":
            conn = std_http_client.HTTPConnection(LOCAL, srv.port, timeout=WAIT)
            try:
                conn.request("GET", "/ok")
                assert conn.getresponse().read() == b"ok"
                assert type(conn.sock) is std_socket.socket
            finally:
                conn.close()
        elif lib == "urllib":
            assert get_urllib(std_urllib_request, srv.url("/ok"), None, WAIT) == b"ok"
        else:
            with std_requests.Session() as s:
                r = s.get(srv.url("/ok"), timeout=WAIT, stream=True)
                assert type(r.raw.connection.sock) is std_socket.socket
                assert r.content == b"ok"

        # Their own timeout= is the stdlib's, in a thredo thread too.
        def hang() -> Any:
            if lib == "http.client":
                return get_http_client(std_http_client, srv.url("/hang"), None, 0.2)
            if lib == "urllib":
                return get_urllib(std_urllib_request, srv.url("/hang"), None, 0.2)
            return std_requests.get(srv.url("/hang"), timeout=0.2)

        with pytest.raises((TimeoutError, urllib.error.URLError, std_requests.Timeout)):
            hang()

    in_run(serving("http", tls, body))


@pytest.fixture
def tmp_module(tmp_path: Path) -> Iterator[Path]:
    sys.path.insert(0, str(tmp_path))
    try:
        yield tmp_path
    finally:
        sys.path.remove(str(tmp_path))
        for name in [n for n in sys.modules if n.startswith("patchmod_")]:
            del sys.modules[name]


def test_a_user_module_imported_under_the_scope(tmp_module: Path) -> None:
    (tmp_module / "patchmod_a.py").write_text(
        "import socket, time\nfrom socket import create_connection\n"
    )
    with thredo.patch():
        import patchmod_a  # type: ignore[import-not-found]
    assert patchmod_a.socket is FACADES["socket"]
    assert patchmod_a.create_connection is net.socket.create_connection
    assert patchmod_a.time.sleep is thredo.sleep
    assert "patchmod_a" not in sys.modules  # an import after the scope gets a stdlib copy
    import patchmod_a as again

    assert again.socket is std_socket
    assert again is not patchmod_a


def test_a_module_imported_before_is_copied_afresh(tmp_module: Path) -> None:
    (tmp_module / "patchmod_b.py").write_text("import socket\n")
    import patchmod_b  # type: ignore[import-not-found]

    with thredo.patch():
        import patchmod_b as fresh
    assert patchmod_b.socket is std_socket
    assert fresh.socket is FACADES["socket"]
    assert sys.modules["patchmod_b"] is patchmod_b


# -- blocks in several threads (issue 22.2) ---------------------------------------------


def test_overlapping_blocks_in_two_threads_leave_sys_modules_as_before() -> None:
    """Promise: enter 1, enter 2, leave 1, leave 2 leaves sys.modules as before either."""
    import http.server  # noqa: F401  (a stdlib client imported before both blocks)

    before = dict(sys.modules)
    entered = [threading.Event(), threading.Event()]
    leave = [threading.Event(), threading.Event()]
    left = [threading.Event(), threading.Event()]
    got: list[Any] = [None, None]

    def block(i: int) -> None:
        with thredo.patch():
            import http.client as c

            got[i] = c
            entered[i].set()
            assert leave[i].wait(WAIT)
        left[i].set()

    threads = [threading.Thread(target=block, args=(i,)) for i in (0, 1)]
    threads[0].start()
    assert entered[0].wait(WAIT)
    threads[1].start()
    assert entered[1].wait(WAIT)
    leave[0].set()
    assert left[0].wait(WAIT)
    leave[1].set()
    for t in threads:
        t.join(WAIT)
    assert got[0].socket is FACADES["socket"]
    assert got[1].socket is FACADES["socket"]
    for name, mod in before.items():
        assert sys.modules.get(name) is mod, name
    import http.client as after

    assert after is std_http_client
    assert after.socket is std_socket
    import builtins

    assert builtins.__import__.__module__ != "thredo._patch"


@pytest.fixture
def tmp_pkg(tmp_module: Path) -> Path:
    """A package ``patchpkg_c`` (network-doing, lazy submodule) and a gate module."""
    pkg = tmp_module / "patchpkg_c"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("import socket\n")
    (pkg / "lazy.py").write_text("import socket\nimport patchpkg_c as pkg\n")
    (tmp_module / "patchmod_gate.py").write_text(
        "import threading\ninside = threading.Event()\ngo = threading.Event()\n"
    )
    (tmp_module / "patchmod_slow.py").write_text(
        "import socket, threading\n"
        "import patchmod_gate\n"
        "if threading.current_thread().name == 'plain-importer':\n"
        "    patchmod_gate.inside.set()\n"
        "    assert patchmod_gate.go.wait(10)\n"
    )
    return tmp_module


def test_a_plain_thread_importing_the_same_package_during_a_block_is_untouched(
    tmp_pkg: Path,
) -> None:
    """Promise: a plain thread lazily importing a package a block copies sees its own modules."""
    import patchpkg_c  # type: ignore[import-not-found]

    seen: list[Any] = []

    def plain() -> None:
        import patchpkg_c.lazy

        seen.append((sys.modules.get("patchpkg_c"), patchpkg_c.lazy.pkg, patchpkg_c.lazy.socket))

    with thredo.patch():
        import patchpkg_c as copy

        t = threading.Thread(target=plain)
        t.start()
        t.join(WAIT)
    assert copy.socket is FACADES["socket"]
    assert seen == [(patchpkg_c, patchpkg_c, std_socket)]
    assert sys.modules["patchpkg_c"] is patchpkg_c


def test_a_block_never_waits_for_a_plain_thread_importing_the_same_module(
    tmp_pkg: Path,
) -> None:
    """Promise: a block's import neither fails nor waits on another thread's import of it."""
    import patchmod_gate  # type: ignore[import-not-found]

    def plain() -> None:
        import patchmod_slow  # type: ignore[import-not-found]  # noqa: F401

    importer = threading.Thread(target=plain, name="plain-importer")
    importer.start()
    try:
        assert patchmod_gate.inside.wait(WAIT)  # the plain thread is inside the module's body
        got: list[Any] = []

        def block() -> None:
            with thredo.patch():
                import patchmod_slow as copy

            got.append(copy)

        b = threading.Thread(target=block)
        b.start()
        b.join(WAIT)
        assert not b.is_alive(), "the block waited for the plain thread's import"
        assert got[0].socket is FACADES["socket"]
    finally:
        patchmod_gate.go.set()
        importer.join(WAIT)
    assert sys.modules["patchmod_slow"].socket is std_socket
