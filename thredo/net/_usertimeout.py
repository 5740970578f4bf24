"""The user-visible timeout of thredo's sockets (plain and TLS).

The OS socket (and the C-level timeout CPython's socket and TLS code look
at) stays non-blocking, so no system call ever sleeps where a cancel could
not reach it.  The timeout the user set with ``settimeout``/``setblocking``
is kept in ``_tmo`` and applied by :meth:`UserTimeout._wait`, which sleeps
in :func:`thredo._fdwait.wait_fd` (cancellable, obeys ``timeout_after``) and
raises ``TimeoutError`` when the socket's own timeout passes -- the
stdlib's semantics: ``None`` blocks, ``0.0`` never waits.
"""

from __future__ import annotations

import _socket
from time import monotonic

from .._fdwait import wait_fd

__all__ = ("UserTimeout",)

_set_os_timeout = _socket.socket.settimeout
_get_os_timeout = _socket.socket.gettimeout


class UserTimeout:
    """Mixin for socket classes: ``_tmo`` is the timeout the user sees."""

    __slots__ = ()
    _tmo: float | None

    def settimeout(self, value: float | None) -> None:
        _set_os_timeout(self, value)  # type: ignore[arg-type]  # validates as the stdlib
        self._tmo = _get_os_timeout(self)  # type: ignore[arg-type,misc]
        _set_os_timeout(self, 0.0)  # type: ignore[arg-type]

    def gettimeout(self) -> float | None:
        return self._tmo

    def setblocking(self, flag: bool) -> None:
        self.settimeout(None if flag else 0.0)

    def getblocking(self) -> bool:
        return self._tmo != 0.0

    def _endtime(self) -> float | None:
        tmo = self._tmo
        return None if tmo is None else monotonic() + tmo

    def _wait(self, events: int, endtime: float | None) -> None:
        """Wait until ready for ``events``; ``TimeoutError`` once ``endtime`` passes."""
        fd = self.fileno()  # type: ignore[attr-defined]
        if endtime is None:
            wait_fd(fd, events, None, self)
            return
        remaining = endtime - monotonic()
        if remaining <= 0 or not wait_fd(fd, events, remaining, self):
            raise TimeoutError("timed out")
