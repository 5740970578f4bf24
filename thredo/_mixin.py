"""ThredoMixIn: ``socketserver`` servers whose handlers run on thredo threads.

Theory of operation
-------------------

Mixed in before a ``socketserver`` server class (as ``ThreadingMixIn`` is),
it changes three things and keeps every other hook (``verify_request``,
``finish_request``, ``handle_error``, ``shutdown_request``, the handler
classes) as the stdlib has them:

* the listening socket becomes a :class:`thredo.net.socket.socket` (at
  ``server_bind``), so ``accept`` -- and every request socket it returns,
  hence ``BaseRequestHandler.request`` and ``StreamRequestHandler``'s
  ``rfile``/``wfile`` -- is cancellable;
* each request is handled in its own thredo thread (``process_request``),
  kept in the server's live set until it exits; what escapes
  ``process_request_thread`` there (``SystemExit``, ``KeyboardInterrupt``, a
  failing ``handle_error``) reaches ``threading.excepthook`` with the
  stdlib's ``ExceptHookArgs``, as with ``ThreadingMixIn``;
* ``serve_forever`` waits in a cancellable epoll on the listener *and* a
  wake-up pipe, with no poll interval::

    serve_forever (a thredo thread)          other threads
    -------------------------------          -------------
    loop: epoll.poll([listener, pipe])  <--- shutdown(): stop flag, write pipe,
          listener ready -> accept,                       wait for the loop
                 spawn a handler thread
    cancelled (Ctrl-C, a group, timeout_after):
      server_close(): close the listener, cancel every handler,
      wait until each has exited (its connection closed by shutdown_request)

``shutdown()`` keeps its stdlib meaning -- stop the loop, wait until it has
stopped, leave running handlers alone -- and never hangs: it returns at once
when no loop is running (the stdlib's waits forever) or when called from
the serving thread itself (the stdlib's deadlocks: cpython gh-83978).  A
``shutdown()`` that comes before ``serve_forever`` has entered its loop is
kept, as the stdlib's flag is: that loop returns at once (one shutdown ends
one loop).  ``server_close()`` closes the
listener and ends the handlers: it cancels them and, with
``block_on_close`` (default True, as ``ThreadingMixIn``), waits for them to
exit, which a cancel makes prompt (the stdlib's joins handlers it cannot
interrupt, bpo-31233).  So nothing outlives the server.

``serve_forever`` must run in a thredo thread (under :func:`thredo.run`):
handlers are thredo threads.  ``handle_request()`` (one request, honouring
``timeout``) waits cancellably too.  A TLS server wraps its listener with
``thredo.net.ssl.wrap(sock, ctx, server_side=True, do_handshake_on_connect=False)``
(the handshake then runs in each handler's thread); a listener the stdlib
``ssl`` wrapped is left as it is, and is not cancellable.
"""

from __future__ import annotations

import http.server
import os
import select
import selectors
import socket as _stdsocket
import socketserver
import sys
import threading
from _thread import allocate_lock
from typing import Any

# Spelled as absolute imports: ``from .net import ...`` would load (and, for
# the layering check, depend on) the thredo.net namespace of layer 10.
import thredo.net.select as _tselect
import thredo.net.selectors as _tselectors
import thredo.net.socket as _tsocket

from ._core import CancelledError, disable_cancellation
from ._sync import Event
from ._threads import Thread, current_thread, spawn

__all__ = ("ThredoMixIn", "ThreadingTCPServer", "ThreadingHTTPServer")


class ThredoMixIn:
    """Handle each request in a thredo thread, on cancellable sockets.

    Mix in first: ``class Server(ThredoMixIn, socketserver.TCPServer)``.
    Cancelling the thread running :meth:`serve_forever` stops accepting,
    cancels every handler and closes every connection before it returns;
    :meth:`shutdown` and :meth:`server_close` are the stdlib's, minus the
    hangs (module docstring).

    Thread safety: ``shutdown`` and ``server_close`` may be called from any
    thread; ``_lock`` guards ``_serving``, ``_stop``, ``_wake`` and ``_live``.
    """

    #: As ``ThreadingMixIn.block_on_close``: ``server_close`` waits for the
    #: (cancelled) handler threads to exit.
    block_on_close = True
    #: As ``ThreadingMixIn.daemon_threads``: handler threads are daemon threads.
    daemon_threads = False

    socket: Any
    timeout: float | None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._lock = allocate_lock()
        self._serving: Thread[Any] | None = None
        self._stop = False
        self._wake: int | None = None  # write end of the running loop's wake-up pipe
        self._stopped = Event()
        self._stopped.set()
        self._live: set[Thread[Any]] = set()
        super().__init__(*args, **kwargs)

    # -- the listening socket ----------------------------------------------

    def _thredo_socket(self) -> None:
        """Make the listener a thredo socket (a TLS or thredo one is left as it is)."""
        sock = self.socket
        if type(sock) is _stdsocket.socket and sock.fileno() >= 0:
            timeout = sock.gettimeout()
            new = _tsocket.socket(sock.family, sock.type, sock.proto, fileno=sock.detach())
            new.settimeout(timeout)
            self.socket = new

    def server_bind(self) -> None:
        """As the stdlib's, on a cancellable (thredo) listening socket."""
        self._thredo_socket()
        super().server_bind()  # type: ignore[misc]

    # -- serving -------------------------------------------------------------

    def serve_forever(self, poll_interval: float = 0.5) -> None:
        """Handle requests until :meth:`shutdown` or a cancel (``poll_interval`` is unused).

        Cancelled (or its ``timeout_after`` expiring), it closes the server
        (:meth:`server_close`: every handler cancelled and exited, every
        connection closed) and re-raises.

        Raises:
            RuntimeError: not called in a thredo thread (a plain thread, or
                outside :func:`thredo.run`): raised at once, before anything
                is opened, closed or changed.
        """
        me = current_thread()
        if me is None:
            # Checked before anything is opened or changed: the listener stays
            # open (and its waiting clients queued) for a loop started right.
            raise RuntimeError(
                "ThredoMixIn.serve_forever() must run in a thredo thread (its handlers "
                "are thredo threads): call it inside thredo.run(), e.g. "
                "thredo.spawn(server.serve_forever) from the run's main function, "
                "not from a plain threading.Thread"
            )
        self._thredo_socket()
        r, w = os.pipe()
        os.set_blocking(w, False)
        ep = _tselect.epoll()
        with self._lock:
            if self._stop:  # a shutdown() came before the loop: kept, as the stdlib's
                self._stop = False
                os.close(r)
                os.close(w)
                ep.close()
                return
            self._serving, self._wake = me, w
            self._stopped.clear()
        try:
            ep.register(r, select.EPOLLIN)
            ep.register(self.socket.fileno(), select.EPOLLIN)
            listener = self.socket.fileno()
            while not self._stop:
                ready = ep.poll()
                if self._stop:
                    break
                if any(fd == listener for fd, _ in ready):
                    self._handle_request_noblock()  # type: ignore[attr-defined]
                self.service_actions()  # type: ignore[attr-defined]
        except BaseException:
            with disable_cancellation():
                self._end_loop(ep, r, w)
                self.server_close()
            raise
        self._end_loop(ep, r, w)

    def _end_loop(self, ep: Any, r: int, w: int) -> None:
        with self._lock:
            if self._serving is None:
                return
            # One shutdown() ends one loop (the stdlib resets its flag here too).
            self._serving, self._wake, self._stop = None, None, False
            ep.close()
            os.close(r)
            os.close(w)
        self._stopped.set()

    def handle_request(self) -> None:
        """As the stdlib's: one request, waiting at most ``timeout``; cancellable."""
        self._thredo_socket()
        timeout = self.socket.gettimeout()
        if timeout is None:
            timeout = self.timeout
        elif self.timeout is not None:
            timeout = min(timeout, self.timeout)
        with _tselectors.PollSelector() as selector:
            selector.register(self.socket, selectors.EVENT_READ)
            if selector.select(timeout):
                self._handle_request_noblock()  # type: ignore[attr-defined]
            else:
                self.handle_timeout()  # type: ignore[attr-defined]

    def shutdown(self) -> None:
        """As the stdlib's: stop the :meth:`serve_forever` loop and wait until it has.

        Returns at once when no loop runs, or when called from the serving
        thread itself (the loop stops when that call returns to it).  A
        shutdown() that comes before :meth:`serve_forever` has entered its
        loop is kept: that call returns at once, as the stdlib's does.
        Running handlers are left alone (:meth:`server_close` ends them).
        """
        with self._lock:
            self._stop = True
            serving = self._serving
            if serving is None:
                return
            if self._wake is not None:
                try:
                    os.write(self._wake, b"x")
                except BlockingIOError:  # already woken
                    pass
        if serving is not current_thread():
            self._stopped.wait()

    # -- handler threads ---------------------------------------------------------

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        """As ``ThreadingMixIn``'s: handle, report an error, then shut the request down."""
        try:
            self.finish_request(request, client_address)  # type: ignore[attr-defined]
        except Exception:
            self.handle_error(request, client_address)  # type: ignore[attr-defined]
        finally:
            self.shutdown_request(request)  # type: ignore[attr-defined]

    def _handler_thread(self, request: Any, client_address: Any) -> None:
        """A handler thread's body: what escapes it goes to ``threading.excepthook``.

        As with ``ThreadingMixIn``, whose threads are ``threading.Thread``:
        ``process_request_thread`` hands an ``Exception`` to ``handle_error``;
        anything else (``SystemExit``, ``KeyboardInterrupt``, a failing
        ``handle_error``) reaches the hook with the stdlib's
        ``ExceptHookArgs``, once (not also thredo's unretrieved-failure
        report).  A cancellation is the server's own doing: not reported.
        """
        try:
            self.process_request_thread(request, client_address)
        except CancelledError:
            raise
        except BaseException:
            _invoke_excepthook()

    def process_request(self, request: Any, client_address: Any) -> None:
        """Start a thredo thread to handle the request."""
        name = f"thredo handler {_peer_name(client_address)}"
        with self._lock:  # held across spawn: the exit cannot come before the add
            t = spawn(
                self._handler_thread,
                request,
                client_address,
                name=name,
                daemon=self.daemon_threads,
            )
            self._live.add(t)
            if not t._on_exit(self._discard):
                self._live.discard(t)

    def _discard(self, t: Thread[Any]) -> None:
        with self._lock:
            self._live.discard(t)

    def server_close(self) -> None:
        """Stop the loop (:meth:`shutdown`), close the listener, end every handler.

        Handlers are cancelled (all but the calling one, if a handler calls
        this); with ``block_on_close`` this waits (not cancellably) until
        each has exited and closed its connection.
        """
        self.shutdown()
        super().server_close()  # type: ignore[misc]
        me = current_thread()
        with self._lock:  # a handler closing the server goes on: it is not cancelled
            live = [t for t in self._live if t is not me]
        for t in live:
            t.cancel(blocking=False)
        if self.block_on_close:
            with disable_cancellation():
                for t in live:
                    t.wait()


class ThreadingTCPServer(ThredoMixIn, socketserver.TCPServer):
    """``socketserver.ThreadingTCPServer`` on thredo threads (see :class:`ThredoMixIn`)."""

    allow_reuse_address = True


class ThreadingHTTPServer(ThredoMixIn, http.server.HTTPServer):
    """``http.server.ThreadingHTTPServer`` on thredo threads (see :class:`ThredoMixIn`)."""


def _invoke_excepthook() -> None:
    """Hand the exception being handled to ``threading.excepthook``, as ``threading`` does.

    Looked up at call time (a program may replace it); a hook that fails is
    reported through ``sys.excepthook``, as ``threading.Thread`` does.
    """
    exc_type, exc, tb = sys.exc_info()
    try:
        threading.excepthook(
            threading.ExceptHookArgs((exc_type, exc, tb, threading.current_thread()))
        )
    except Exception:
        sys.excepthook(*sys.exc_info())
    finally:
        del exc_type, exc, tb  # no cycle through this frame


def _peer_name(address: Any) -> str:
    """``host:port`` (``[host]:port`` for IPv6), as ``tcp_server`` names its handlers.

    (``net._servers`` has the same function: modules of one layer do not
    import each other.)
    """
    if isinstance(address, tuple) and len(address) >= 2:
        host, port = address[0], address[1]
        return f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"
    return str(address) or "unix-peer"
