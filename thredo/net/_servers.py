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

Next to the stdlib's ``socketserver.ThreadingTCPServer`` (the closest
namesake): a handler is a plain function of the client socket and address,
not a class; stopping is a cancel of the serving thread, not
``shutdown()`` from another thread, and it ends every handler too (the
stdlib's ``server_close`` waits for handlers it cannot interrupt); a
handler streaming to a fast client stops at its next socket call, since
every socket call is a cancellation point.
"""

from __future__ import annotations

import errno
import logging
import os
import ssl as _stdssl
import stat
from _thread import allocate_lock
from collections.abc import Callable
from typing import Any, Literal, overload

from .._core import CancelledError, WaitQueue, disable_cancellation, ignore_after, sleep
from .._sync import Semaphore
from .._threads import Thread, spawn
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

#: A server's per-connection function: ``handler(client, address)``, in its
#: own thredo thread; the return value is ignored.  ``address`` is what
#: ``accept`` returned (a ``(host, port, ...)`` tuple, or a Unix socket's path).
Handler = Callable[[tsocket.socket, Any], object]
#: The same for a TLS server (``ssl=`` given): the client is a thredo SSLSocket.
TLSHandler = Callable[[tssl.SSLSocket, Any], object]
#: Called once with the listening socket when it listens (``ready=``).
Ready = Callable[[tsocket.socket], object]


class _Handlers:
    """The live handler threads of one server, and a way to wait for none."""

    def __init__(self) -> None:
        self._mutex = allocate_lock()  # guards live, _idle
        self.live: set[Thread[Any]] = set()
        self._idle = WaitQueue()
        # One bound method for every handler's exit observer (not a new one
        # per connection: 64 B of each idle connection, docs/design.md 6.1).
        self._on_handler_exit = self.discard

    def spawn(self, name: str, func: Callable[..., Any], *args: Any) -> None:
        # Holding the mutex across spawn: the new thread's exit cannot be
        # observed before it is in the set.
        with self._mutex:
            t = spawn(func, *args, name=name)
            self.live.add(t)
            if not t._on_exit(self._on_handler_exit):  # the thread-exit protocol (_thread.py)
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
    handler: Callable[[Any, Any], object],
    client: tsocket.socket,
    address: Any,
    ssl: _stdssl.SSLContext | None,
    slots: Semaphore | None,
) -> None:
    try:
        with client:
            if ssl is not None:
                try:
                    tls = tssl.wrap(client, ssl, server_side=True)  # cancellable handshake
                except OSError as e:  # ssl.SSLError included: a bad peer, not a crash
                    log.info("TLS handshake with %r failed: %s", address, e)
                    return
                with tls:
                    handler(tls, address)
            else:
                handler(client, address)
    except CancelledError:
        raise
    except Exception:
        log.exception("handler for %r crashed; its connection is closed", address)
    finally:
        if slots is not None:
            slots.release()


@overload
def run_server(
    sock: tsocket.socket,
    handler: Handler,
    *,
    ssl: None = None,
    grace: float = 0.0,
    max_connections: int | None = None,
    close_listener: bool = False,
) -> None: ...


@overload
def run_server(
    sock: tsocket.socket,
    handler: TLSHandler,
    *,
    ssl: _stdssl.SSLContext,
    grace: float = 0.0,
    max_connections: int | None = None,
    close_listener: bool = False,
) -> None: ...


def run_server(
    sock: tsocket.socket,
    handler: Callable[[Any, Any], object],
    *,
    ssl: _stdssl.SSLContext | None = None,
    grace: float = 0.0,
    max_connections: int | None = None,
    close_listener: bool = False,
) -> None:
    """Accept on the listening thredo socket ``sock`` forever, a thread per client.

    No stdlib namesake (``socketserver``'s ``serve_forever`` is closest: see
    the module docstring).

    Args:
        sock: a bound, listening :class:`thredo.net.socket.socket`.
        handler: called as ``handler(client_socket, address)`` in its own
            thredo thread, named ``thredo handler HOST:PORT``; the client
            socket is closed when it returns.
        ssl: an ``SSLContext`` to wrap each client in (server side); the
            handshake runs in the handler's thread, a failed one is logged.
        grace: on cancel, seconds to let running handlers finish on their
            own before cancelling them.
        max_connections: pause accepting while this many handlers run.
        close_listener: close ``sock`` as soon as accepting stops.

    Returns only by raising: the cancellation of the calling thread, or the
    error ``accept`` failed with, after every handler has exited.

    Raises:
        ValueError: ``max_connections`` below 1 or a negative ``grace``.
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
) -> tsocket.socket:
    """A listening thredo TCP socket on ``(host, port)``.

    As ``socket.create_server((host, port), backlog=..., reuse_port=...)``,
    except: ``host`` None or "" listens on every interface, dual-stack IPv6
    where the system has it (as ``create_server(dualstack_ipv6=True)``); an
    IPv6 address listens on IPv6 only; ``reuse_address`` can be turned off.
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
) -> tsocket.socket:
    """A thredo stream socket of ``family`` bound to ``address`` and listening (TCP and Unix)."""
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


@overload
def tcp_server(
    host: str | None,
    port: int,
    handler: Handler,
    *,
    ssl: None = None,
    backlog: int = DEFAULT_BACKLOG,
    reuse_address: bool = True,
    reuse_port: bool = False,
    grace: float = 0.0,
    max_connections: int | None = None,
    ready: Ready | None = None,
) -> None: ...


@overload
def tcp_server(
    host: str | None,
    port: int,
    handler: TLSHandler,
    *,
    ssl: _stdssl.SSLContext,
    backlog: int = DEFAULT_BACKLOG,
    reuse_address: bool = True,
    reuse_port: bool = False,
    grace: float = 0.0,
    max_connections: int | None = None,
    ready: Ready | None = None,
) -> None: ...


def tcp_server(
    host: str | None,
    port: int,
    handler: Callable[[Any, Any], object],
    *,
    ssl: _stdssl.SSLContext | None = None,
    backlog: int = DEFAULT_BACKLOG,
    reuse_address: bool = True,
    reuse_port: bool = False,
    grace: float = 0.0,
    max_connections: int | None = None,
    ready: Ready | None = None,
) -> None:
    """Serve TCP on ``(host, port)`` forever, ``handler(client, address)`` per connection.

    No stdlib namesake (``socketserver.ThreadingTCPServer`` is closest: see
    the module docstring).  Cancel the calling thread to stop: accepting
    stops at once, handlers get ``grace`` seconds, then are cancelled;
    returns (by raising the cancellation) after all have exited and every
    client socket is closed.  ``ready``, if given, is called with the
    listening socket once it listens (to learn the port when ``port`` is 0).
    The listening socket is :func:`tcp_server_socket`'s; see
    :func:`run_server` for the other options.
    """
    sock = tcp_server_socket(
        host, port, backlog=backlog, reuse_address=reuse_address, reuse_port=reuse_port
    )
    _serve_on(sock, handler, ready, ssl, grace, max_connections)


def _serve_on(
    sock: tsocket.socket,
    handler: Callable[[Any, Any], object],
    ready: Ready | None,
    ssl: _stdssl.SSLContext | None,
    grace: float,
    max_connections: int | None,
) -> None:
    """Own the listening ``sock``: tell ``ready``, serve, close it."""
    with sock:
        if ready is not None:
            ready(sock)
        run_server(
            sock,
            handler,
            ssl=ssl,
            grace=grace,
            max_connections=max_connections,
            close_listener=True,
        )


def unix_server_socket(path: str, *, backlog: int = DEFAULT_BACKLOG) -> tsocket.socket:
    """A listening thredo Unix socket at ``path`` (a stale socket file is replaced).

    As ``socket.create_server`` for ``AF_UNIX``, which the stdlib lacks.
    """
    try:
        if stat.S_ISSOCK(os.stat(path).st_mode):
            os.unlink(path)
    except FileNotFoundError:
        pass
    return _listen(path, tsocket.AF_UNIX, backlog, False, False, False)


@overload
def unix_server(
    path: str,
    handler: Handler,
    *,
    ssl: None = None,
    backlog: int = DEFAULT_BACKLOG,
    grace: float = 0.0,
    max_connections: int | None = None,
    ready: Ready | None = None,
) -> None: ...


@overload
def unix_server(
    path: str,
    handler: TLSHandler,
    *,
    ssl: _stdssl.SSLContext,
    backlog: int = DEFAULT_BACKLOG,
    grace: float = 0.0,
    max_connections: int | None = None,
    ready: Ready | None = None,
) -> None: ...


def unix_server(
    path: str,
    handler: Callable[[Any, Any], object],
    *,
    ssl: _stdssl.SSLContext | None = None,
    backlog: int = DEFAULT_BACKLOG,
    grace: float = 0.0,
    max_connections: int | None = None,
    ready: Ready | None = None,
) -> None:
    """Like :func:`tcp_server` on a Unix socket at ``path`` (removed when it stops)."""
    sock = unix_server_socket(path, backlog=backlog)
    try:
        _serve_on(sock, handler, ready, ssl, grace, max_connections)
    finally:
        try:
            os.unlink(path)
        except OSError:
            pass


@overload
def open_connection(
    host: str,
    port: int,
    *,
    ssl: Literal[False] | None = None,
    server_hostname: str | None = None,
    source_addr: tuple[str, int] | None = None,
) -> tsocket.socket: ...


@overload
def open_connection(
    host: str,
    port: int,
    *,
    ssl: _stdssl.SSLContext | Literal[True],
    server_hostname: str | None = None,
    source_addr: tuple[str, int] | None = None,
) -> tssl.SSLSocket: ...


def open_connection(
    host: str,
    port: int,
    *,
    ssl: _stdssl.SSLContext | bool | None = None,
    server_hostname: str | None = None,
    source_addr: tuple[str, int] | None = None,
) -> tsocket.socket | tssl.SSLSocket:
    """Connect to ``(host, port)``; returns a connected thredo socket.

    As ``socket.create_connection((host, port), source_address=source_addr)``
    (cancellable resolve and connect), plus TLS: with ``ssl`` (an
    ``SSLContext``, or True for thredo's default context) the socket is
    wrapped, checking ``server_hostname`` (default: ``host``), and the
    handshake is done (cancellable too) before it returns.  On any failure
    or cancel the socket is closed.
    """
    sock = tsocket.create_connection((host, port), source_address=source_addr)
    return _client_tls(sock, ssl, server_hostname or host)


@overload
def open_unix_connection(
    path: str, *, ssl: Literal[False] | None = None, server_hostname: str | None = None
) -> tsocket.socket: ...


@overload
def open_unix_connection(
    path: str, *, ssl: _stdssl.SSLContext | Literal[True], server_hostname: str | None = None
) -> tssl.SSLSocket: ...


def open_unix_connection(
    path: str, *, ssl: _stdssl.SSLContext | bool | None = None, server_hostname: str | None = None
) -> tsocket.socket | tssl.SSLSocket:
    """Connect to the Unix socket at ``path``; as :func:`open_connection` otherwise."""
    sock = tsocket.socket(tsocket.AF_UNIX, tsocket.SOCK_STREAM)
    try:
        sock.connect(path)
    except BaseException:
        sock.close()
        raise
    return _client_tls(sock, ssl, server_hostname)


def _client_tls(
    sock: tsocket.socket, ssl: _stdssl.SSLContext | bool | None, server_hostname: str | None
) -> tsocket.socket | tssl.SSLSocket:
    if not ssl:
        return sock
    try:
        if ssl is True:
            ssl = tssl.create_default_context()
        return tssl.wrap(sock, ssl, server_hostname=server_hostname)
    except BaseException:
        sock.close()
        raise
