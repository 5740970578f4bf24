"""Thread-per-connection servers and client connections.

``tcp_server``/``unix_server`` bind a listening socket and call
:func:`run_server`, which accepts forever and runs ``handler(client,
address)`` in a new thredo thread per connection::

    server thread                          handler threads
    -------------                          ---------------
    loop: [slots.acquire()]                _serve_one(client, addr):
          client, addr = accept()            with client: handler(client, addr)
          spawn(_serve_one, ...)  ------->   exception -> logged (with address)
                                             finally: leave the live set
    cancelled (or accept fails):
      stop accepting (close the listener we own)
      [grace: wait up to `grace` s for handlers to finish on their own]
      cancel every live handler
      wait (not cancellable) until all have exited -> every client closed

So cancelling the thread that runs a server -- directly, through its
group, or by Ctrl-C on ``thredo.run`` -- returns only when every handler has
exited and every client socket is closed.  A handler that raises is logged
and only its own connection is closed.  ``max_connections`` makes accept
pause while that many handlers run.

The live handler set is kept here, not in a ThreadGroup: a long-running
server must forget finished handlers, which a group keeps for its results.
"""

from __future__ import annotations

import errno
import logging
import os
import stat
from _thread import allocate_lock
from collections.abc import Callable
from typing import Any

from .._errors import CancelledError
from .._sync import Semaphore
from .._thread import Thread, spawn
from .._timeouts import disable_cancellation, ignore_after, sleep
from .._wait import WaitQueue
from . import socket as tsocket
from . import ssl as tssl

__all__ = (
    "tcp_server",
    "unix_server",
    "tcp_server_socket",
    "unix_server_socket",
    "run_server",
    "open_connection",
    "open_unix_connection",
)

log = logging.getLogger("thredo.net")

ACCEPT_RETRY_DELAY = 0.1  # seconds; trio's serve_listeners uses 0.1 too
_OUT_OF_RESOURCES = {errno.EMFILE, errno.ENFILE, errno.ENOMEM, errno.ENOBUFS}
_CLIENT_GONE = {errno.ECONNABORTED, errno.EPROTO}  # one client's failure (trio ignores these too)

DEFAULT_BACKLOG = 128  # as asyncio's start_server; socket.SOMAXCONN caps it anyway

Handler = Callable[[Any, Any], Any]


class _Handlers:
    """The live handler threads of one server, and a way to wait for none."""

    def __init__(self) -> None:
        self._mutex = allocate_lock()  # guards live, _idle
        self.live: set[Thread[Any]] = set()
        self._idle = WaitQueue()

    def spawn(self, name: str, func: Callable[..., Any], *args: Any) -> None:
        # Holding the mutex across spawn: the new thread's exit cannot be
        # observed before it is in the set.
        with self._mutex:
            t = spawn(func, *args, name=name)
            self.live.add(t)
            if not t._on_exit(self.discard):  # the thread-exit protocol (_thread.py)
                self.live.discard(t)

    def discard(self, t: Thread[Any]) -> None:
        """Exit observer of every handler thread (called with no other lock held)."""
        with self._mutex:
            self.live.discard(t)
            if not self.live:
                self._idle.notify_all()

    def wait_idle(self) -> None:
        with self._mutex:
            self._idle.wait_until(
                self._mutex, lambda: not self.live, None, "server.wait_idle", self
            )

    def cancel_all(self) -> None:
        with self._mutex:
            live = list(self.live)
        for t in live:
            t.cancel(blocking=False)


def _serve_one(
    handler: Handler,
    client: Any,
    address: Any,
    ssl: Any,
    slots: Semaphore | None,
) -> None:
    try:
        with client:
            if ssl is not None:
                try:
                    client = tssl.wrap(client, ssl, server_side=True)  # cancellable handshake
                except OSError as e:  # ssl.SSLError included: a bad peer, not a crash
                    log.info("TLS handshake with %r failed: %s", address, e)
                    return
            with client:
                handler(client, address)
    except CancelledError:
        raise
    except Exception:
        log.exception("handler for %r crashed; its connection is closed", address)
    finally:
        if slots is not None:
            slots.release()


def run_server(
    sock: Any,
    handler: Handler,
    *,
    ssl: Any = None,
    grace: float = 0.0,
    max_connections: int | None = None,
    close_listener: bool = False,
) -> None:
    """Accept on the listening thredo socket ``sock`` forever, a thread per client.

    Args:
        sock: a bound, listening :class:`thredo.net.socket.socket`.
        handler: called as ``handler(client_socket, address)`` in its own
            thredo thread; the client socket is closed when it returns.
        ssl: an ``SSLContext`` to wrap each client in (server side).
        grace: on cancel, seconds to let running handlers finish on their
            own before cancelling them.
        max_connections: pause accepting while this many handlers run.
        close_listener: close ``sock`` as soon as accepting stops.

    Returns only by raising: the cancellation of the calling thread, or the
    error ``accept`` failed with, after every handler has exited.
    """
    if max_connections is not None and max_connections < 1:
        raise ValueError("max_connections must be at least 1")
    if grace < 0:
        raise ValueError("grace must be >= 0")
    slots = Semaphore(max_connections) if max_connections else None
    handlers = _Handlers()
    try:
        while True:
            if slots is not None:
                slots.acquire()
            try:
                client, address = sock.accept()
            except OSError as e:
                if slots is not None:
                    slots.release()
                if e.errno in _CLIENT_GONE:
                    continue  # that client gave up before we took it
                if e.errno not in _OUT_OF_RESOURCES:
                    raise
                # Out of descriptors or memory: the pending client waits in
                # the backlog; retry once some connection has closed (as
                # trio's serve_listeners does).
                log.error("accept failed (%s); retrying in %s s", e, ACCEPT_RETRY_DELAY)
                sleep(ACCEPT_RETRY_DELAY)
                continue
            except BaseException:
                if slots is not None:
                    slots.release()
                raise
            try:
                handlers.spawn(
                    f"thredo handler {_peer_name(address)}",
                    _serve_one,
                    handler,
                    client,
                    address,
                    ssl,
                    slots,
                )
            except BaseException:
                client.close()
                raise
    finally:
        with disable_cancellation():
            if close_listener:
                sock.close()
            if grace and handlers.live:
                with ignore_after(grace):
                    handlers.wait_idle()
            handlers.cancel_all()
            handlers.wait_idle()


def _peer_name(address: Any) -> str:
    """``host:port`` (``[host]:port`` for IPv6) for a thread name; Unix peers as given."""
    if isinstance(address, tuple) and len(address) >= 2:
        host, port = address[0], address[1]
        return f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"
    return str(address) or "unix-peer"


def tcp_server_socket(
    host: str | None,
    port: int,
    *,
    backlog: int = DEFAULT_BACKLOG,
    reuse_address: bool = True,
    reuse_port: bool = False,
) -> Any:
    """A listening thredo TCP socket on ``(host, port)``.

    ``host`` None or "" listens on every interface, dual-stack IPv6 where
    the system has it (as ``socket.create_server(dualstack_ipv6=True)``);
    an IPv6 address listens on IPv6 only.
    """
    if not host:
        if tsocket.has_dualstack_ipv6():
            return _listen(("", port), tsocket.AF_INET6, backlog, reuse_address, reuse_port, True)
        host = "0.0.0.0"
    infos = tsocket.getaddrinfo(host, port, 0, tsocket.SOCK_STREAM, 0, tsocket.AI_PASSIVE)
    family, _, _, _, sockaddr = infos[0]
    return _listen(sockaddr, family, backlog, reuse_address, reuse_port, False)


def _listen(
    address: Any, family: int, backlog: int, reuse_address: bool, reuse_port: bool, dual: bool
) -> Any:
    sock = tsocket.socket(family, tsocket.SOCK_STREAM)
    try:
        if reuse_address:
            sock.setsockopt(tsocket.SOL_SOCKET, tsocket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(tsocket.SOL_SOCKET, tsocket.SO_REUSEPORT, 1)
        if family == tsocket.AF_INET6:
            sock.setsockopt(tsocket.IPPROTO_IPV6, tsocket.IPV6_V6ONLY, 0 if dual else 1)
        sock.bind(address)
        sock.listen(backlog)
    except BaseException:
        sock.close()
        raise
    return sock


def tcp_server(
    host: str | None,
    port: int,
    handler: Handler,
    *,
    ssl: Any = None,
    backlog: int = DEFAULT_BACKLOG,
    reuse_address: bool = True,
    reuse_port: bool = False,
    grace: float = 0.0,
    max_connections: int | None = None,
    ready: Callable[[Any], Any] | None = None,
) -> None:
    """Serve TCP on ``(host, port)`` forever, ``handler(client, address)`` per connection.

    Cancel the calling thread to stop: accepting stops at once, handlers get
    ``grace`` seconds, then are cancelled; returns (by raising the
    cancellation) after all have exited and every client socket is closed.
    ``ready``, if given, is called with the listening socket once it listens
    (to learn the port when ``port`` is 0).  See :func:`run_server` for the
    other options.
    """
    sock = tcp_server_socket(
        host, port, backlog=backlog, reuse_address=reuse_address, reuse_port=reuse_port
    )
    _serve_on(sock, handler, ready, ssl=ssl, grace=grace, max_connections=max_connections)


def _serve_on(
    sock: Any, handler: Handler, ready: Callable[[Any], Any] | None, **options: Any
) -> None:
    """Own the listening ``sock``: tell ``ready``, serve, close it."""
    with sock:
        if ready is not None:
            ready(sock)
        run_server(sock, handler, close_listener=True, **options)


def unix_server_socket(path: str, *, backlog: int = DEFAULT_BACKLOG) -> Any:
    """A listening thredo Unix socket at ``path`` (a stale socket file is replaced)."""
    try:
        if stat.S_ISSOCK(os.stat(path).st_mode):
            os.unlink(path)
    except FileNotFoundError:
        pass
    sock = tsocket.socket(tsocket.AF_UNIX, tsocket.SOCK_STREAM)
    try:
        sock.bind(path)
        sock.listen(backlog)
    except BaseException:
        sock.close()
        raise
    return sock


def unix_server(
    path: str,
    handler: Handler,
    *,
    ssl: Any = None,
    backlog: int = DEFAULT_BACKLOG,
    grace: float = 0.0,
    max_connections: int | None = None,
    ready: Callable[[Any], Any] | None = None,
) -> None:
    """Like :func:`tcp_server` on a Unix socket at ``path`` (removed when it stops)."""
    sock = unix_server_socket(path, backlog=backlog)
    try:
        _serve_on(sock, handler, ready, ssl=ssl, grace=grace, max_connections=max_connections)
    finally:
        try:
            os.unlink(path)
        except OSError:
            pass


def open_connection(
    host: str,
    port: int,
    *,
    ssl: Any = None,
    server_hostname: str | None = None,
    source_addr: Any = None,
) -> Any:
    """Connect to ``(host, port)``; returns a connected thredo socket.

    With ``ssl`` (an ``SSLContext``, or True for the default context) the
    socket is wrapped for TLS, checking ``server_hostname`` (default: host).
    """
    sock = tsocket.create_connection((host, port), source_address=source_addr)
    return _client_tls(sock, ssl, server_hostname or host)


def open_unix_connection(path: str, *, ssl: Any = None, server_hostname: str | None = None) -> Any:
    """Connect to the Unix socket at ``path``; returns a connected thredo socket."""
    sock = tsocket.socket(tsocket.AF_UNIX, tsocket.SOCK_STREAM)
    try:
        sock.connect(path)
    except BaseException:
        sock.close()
        raise
    return _client_tls(sock, ssl, server_hostname)


def _client_tls(sock: Any, ssl: Any, server_hostname: str | None) -> Any:
    if not ssl:
        return sock
    try:
        if ssl is True:
            ssl = tssl.create_default_context()
        return tssl.wrap(sock, ssl, server_hostname=server_hostname)
    except BaseException:
        sock.close()
        raise
