"""ThredoMixIn: socketserver servers whose handlers run on thredo threads (issue 11; stub)."""

from __future__ import annotations

import http.server
import socketserver


class ThredoMixIn:
    """Handle each request in a thredo thread (stub)."""


class ThreadingTCPServer(ThredoMixIn, socketserver.TCPServer):
    """A socketserver TCP server on thredo threads (stub)."""


class ThreadingHTTPServer(ThredoMixIn, http.server.HTTPServer):
    """An http.server on thredo threads (stub)."""
