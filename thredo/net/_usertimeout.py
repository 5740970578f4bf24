"""The user-visible timeout of thredo's sockets (plain and TLS).

The OS socket (and the C-level timeout CPython's socket and TLS code look
at) stays non-blocking, so no system call ever sleeps where a cancel could
not reach it.  The timeout the user set with ``settimeout``/``setblocking``
is kept in ``_tmo`` and applied by :meth:`UserTimeout._wait`, which sleeps
in :func:`thredo._core.wait_fd` (cancellable, obeys ``timeout_after``) and
raises ``TimeoutError`` when the socket's own timeout passes -- the
stdlib's semantics: ``None`` blocks, ``0.0`` never waits.

The timeout also decides what is a cancellation point: a call on a socket
in blocking mode (timeout None or a number) may block, so in a thredo
thread it raises a pending cancel or an expired ``timeout_after`` deadline
before doing its work; a call on a non-blocking socket (timeout ``0.0``)
never blocks and is not a point.
"""

from __future__ import annotations

import _socket
import errno
from time import monotonic

from .._core import wait_fd

__all__ = ("UserTimeout",)

_set_os_timeout = _socket.socket.settimeout
_get_os_timeout = _socket.socket.gettimeout


class UserTimeout:
    """Mixin for socket classes: ``_tmo`` is the timeout the user sees.

    Thread safety: as the stdlib's, the timeout is a property of the socket,
    shared by every thread using it.
    """

    __slots__ = ()
    _tmo: float | None
    _nb: bool  # _tmo == 0.0, kept beside it: the hot paths test it (~20 ns less per call)

    def settimeout(self, value: float | None) -> None:
        """As ``socket.settimeout``; the OS socket itself stays non-blocking.

        Raises:
            ValueError: for a negative or NaN timeout (as the stdlib).
        """
        _set_os_timeout(self, value)  # type: ignore[arg-type]  # validates as the stdlib
        self._tmo = _get_os_timeout(self)  # type: ignore[arg-type,misc]
        self._nb = self._tmo == 0.0  # type: ignore[misc]  # a slot of the socket class
        _set_os_timeout(self, 0.0)  # type: ignore[arg-type]

    def gettimeout(self) -> float | None:
        """As ``socket.gettimeout``: the timeout set by the user (not the OS socket's)."""
        return self._tmo

    def setblocking(self, flag: bool) -> None:
        """As ``socket.setblocking``: ``settimeout(None if flag else 0.0)``."""
        self.settimeout(None if flag else 0.0)

    def getblocking(self) -> bool:
        """As ``socket.getblocking``: False only for a timeout of ``0.0``."""
        return not self._nb

    def _endtime(self) -> float | None:
        tmo = self._tmo
        return None if tmo is None else monotonic() + tmo

    def _wait(self, events: int, call: str, endtime: float | None) -> None:
        """Wait in ``call`` until ready for ``events``; ``TimeoutError`` once ``endtime`` passes."""
        fd = self.fileno()  # type: ignore[attr-defined]
        if endtime is None:
            wait_fd(fd, events, None, self, call)
        else:
            remaining = endtime - monotonic()
            if remaining <= 0 or not wait_fd(fd, events, remaining, self, call):
                raise TimeoutError("timed out")
        if self.fileno() < 0:  # type: ignore[attr-defined]
            # Closed by another thread while this one waited (it woke us): the
            # stdlib's TLS code would say ValueError; a socket says this.
            raise OSError(errno.EBADF, "Bad file descriptor")
