"""thredo.requests: ``get_session()``, a ``requests.Session`` whose requests cancel.

Needs the ``requests`` extra (``pip install 'thredo[requests]'``).

The session is the program's own ``requests.Session`` (so its exceptions
and response classes are the ones the program already catches), with a
transport adapter mounted for ``http://`` and ``https://`` whose connection
pools make urllib3 connections on thredo sockets:

* connecting (``getaddrinfo``, ``connect``) goes through
  :mod:`thredo.net.socket`, so it is cancellable -- DNS included;
* TLS uses a :class:`thredo.net.ssl.SSLContext` (urllib3's own default
  context, made as urllib3 makes it and turned into the thredo class), so the
  handshake, every read and every write are cancellable;
* sending and receiving use the socket's methods, hence cancellable, and
  ``with thredo.timeout_after(5): session.get(url)`` bounds the whole
  request, body included.

A connection cut by a cancel (or a deadline) in the middle of a request or
of its response is closed on the spot and never handed out again: urllib3
already discards a connection whose request did not complete (its
``clean_exit``), and this module's connection class closes itself too when
``request``/``getresponse`` are interrupted by anything that is not an
``Exception`` -- belt and braces, since a reused half-read connection would
corrupt the *next* request.

urllib3's own functions are reused, not copied: ``_new_conn`` and
``HTTPSConnection.connect`` run with their globals rebound to the thredo
versions of ``create_connection`` and ``create_urllib3_context``.  A user's
own ``ssl_context`` is used as given (make it with :mod:`thredo.net.ssl` to
keep TLS cancellable).  Outside thredo threads the session behaves as a
plain one.
"""

from __future__ import annotations

import socket as _stdsocket
import ssl as _stdssl
import types
from typing import Any

import requests
import urllib3
import urllib3.connection
import urllib3.connectionpool
import urllib3.util.connection
import urllib3.util.ssl_
from requests.adapters import HTTPAdapter

from .net import socket as _tsocket
from .net import ssl as _tssl

__all__ = ("get_session", "ThredoAdapter")


_DEFAULT_TIMEOUT: Any = getattr(urllib3.util.connection, "_DEFAULT_TIMEOUT")  # noqa: B009  # private
_STD_DEFAULT_TIMEOUT: Any = getattr(_stdsocket, "_GLOBAL_DEFAULT_TIMEOUT")  # noqa: B009  # private


def _create_connection(
    address: tuple[str, int],
    timeout: Any = _DEFAULT_TIMEOUT,
    source_address: tuple[str, int] | None = None,
    socket_options: Any = None,
) -> Any:
    """As ``urllib3.util.connection.create_connection``, on cancellable thredo sockets.

    Unlike urllib3's, a socket being connected is closed on a cancel too.
    """
    host, port = address
    if host.startswith("["):
        host = host.strip("[]")
    errors: list[OSError] = []
    sock = _tsocket.connect_first(
        host,
        port,
        errors,
        family=urllib3.util.connection.allowed_gai_family(),
        timeout=_STD_DEFAULT_TIMEOUT if timeout is _DEFAULT_TIMEOUT else timeout,
        source_address=source_address,
        setup=lambda sock: urllib3.util.connection._set_socket_options(sock, socket_options),
    )
    if sock is not None:
        return sock
    if errors:
        try:
            raise errors[-1]  # as urllib3: the last address's error
        finally:
            errors.clear()
    raise OSError("getaddrinfo returns an empty list")


def _create_urllib3_context(*args: Any, **kwargs: Any) -> Any:
    """urllib3's ``create_urllib3_context``, returning a thredo ``SSLContext``."""
    ctx = urllib3.util.ssl_.create_urllib3_context(*args, **kwargs)
    if type(ctx) is _stdssl.SSLContext:
        ctx.__class__ = _tssl.SSLContext  # same layout: only wrap_socket's socket class changes
    return ctx


def _rebound(func: Any, **overrides: Any) -> Any:
    """``func`` with its module globals, ``overrides`` over them (a copy of the dict)."""
    fn = getattr(func, "__func__", func)
    globals_ = {**fn.__globals__, **overrides}
    new = types.FunctionType(fn.__code__, globals_, fn.__name__, fn.__defaults__, fn.__closure__)
    new.__kwdefaults__ = fn.__kwdefaults__
    new.__qualname__ = fn.__qualname__
    new.__doc__ = fn.__doc__
    return new


_connection_ns = types.SimpleNamespace(create_connection=_create_connection)
_https_overrides: dict[str, Any] = {"create_urllib3_context": _create_urllib3_context}
if "_ssl_wrap_socket_and_match_hostname" in vars(urllib3.connection):  # urllib3 2.x
    _https_overrides["_ssl_wrap_socket_and_match_hostname"] = _rebound(
        urllib3.connection._ssl_wrap_socket_and_match_hostname,
        create_urllib3_context=_create_urllib3_context,
    )


class _DiscardOnCancel:
    """Close the connection when a request or response is cut by a cancel or deadline."""

    def request(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().request(*args, **kwargs)  # type: ignore[misc]
        except Exception:
            raise
        except BaseException:
            self.close()  # type: ignore[attr-defined]
            raise

    def getresponse(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().getresponse(*args, **kwargs)  # type: ignore[misc]
        except Exception:
            raise
        except BaseException:
            self.close()  # type: ignore[attr-defined]
            raise


class ThredoHTTPConnection(_DiscardOnCancel, urllib3.connection.HTTPConnection):
    """urllib3's HTTPConnection on a cancellable thredo socket."""

    _new_conn = _rebound(urllib3.connection.HTTPConnection._new_conn, connection=_connection_ns)


class ThredoHTTPSConnection(_DiscardOnCancel, urllib3.connection.HTTPSConnection):
    """urllib3's HTTPSConnection on a cancellable thredo socket and thredo TLS."""

    _new_conn = _rebound(urllib3.connection.HTTPConnection._new_conn, connection=_connection_ns)
    connect = _rebound(urllib3.connection.HTTPSConnection.connect, **_https_overrides)


class ThredoHTTPConnectionPool(urllib3.connectionpool.HTTPConnectionPool):
    """A pool of :class:`ThredoHTTPConnection`."""

    ConnectionCls = ThredoHTTPConnection


class ThredoHTTPSConnectionPool(urllib3.connectionpool.HTTPSConnectionPool):
    """A pool of :class:`ThredoHTTPSConnection`."""

    ConnectionCls = ThredoHTTPSConnection


_POOLS = {"http": ThredoHTTPConnectionPool, "https": ThredoHTTPSConnectionPool}


class ThredoAdapter(HTTPAdapter):
    """``requests.adapters.HTTPAdapter`` whose pools hold thredo connections."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        """As the stdlib adapter's, then the thredo pool classes."""
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = dict(_POOLS)

    def proxy_manager_for(self, *args: Any, **kwargs: Any) -> Any:
        """As ``HTTPAdapter.proxy_manager_for``, with the thredo pool classes."""
        manager = super().proxy_manager_for(*args, **kwargs)
        manager.pool_classes_by_scheme = dict(_POOLS)
        return manager


def get_session() -> requests.Session:
    """A ``requests.Session`` whose every request is cancellable and obeys ``timeout_after``.

    In a thredo thread, cancelling the thread (or a ``timeout_after``
    deadline) stops a request wherever it is -- DNS, connect, TLS
    handshake, sending, any read of the response -- and the connection it
    was on is discarded, never reused.  The session's other behaviour
    (cookies, redirects, ``timeout=``, ``verify=``) is requests'.
    """
    s = requests.Session()
    s.mount("http://", ThredoAdapter())
    s.mount("https://", ThredoAdapter())
    return s
