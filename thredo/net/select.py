"""Cancellable readiness waits: the stdlib ``select`` module with its waits swapped.

Every name of the stdlib module is here.  ``select()``, ``poll`` objects and
``epoll`` objects wait through :func:`thredo._core.wait_fd`, so in a thredo
thread a wait with a timeout other than zero is a cancellation point, is
cancellable while it waits and obeys ``timeout_after``.  In a plain thread
they *are* the stdlib calls (``select`` is called straight through; the
objects delegate to the stdlib's).

Mechanism (thredo threads)::

    select / poll.poll / epoll.poll (timeout != 0)
      checkpoint()                      a pending cancel or expired deadline
      ready = stdlib call, timeout 0    the fast path: something is ready
      loop until ready or the timeout passes:
        one fd, one direction  -> wait_fd(fd, POLLIN|POLLOUT)
        epoll object           -> wait_fd(epoll's own fd, POLLIN)
        several fds            -> a temporary epoll of them; wait_fd on its fd
        ready = stdlib call, timeout 0

An epoll descriptor is readable while any descriptor in it is ready, so one
cancellable single-descriptor wait covers any set; the temporary epoll
costs one descriptor for the length of the wait.  The answer always comes
from the stdlib call itself (with timeout 0), so results, errors
(``EBADF``, ``ValueError`` for a bad descriptor) and event bits are
exactly the stdlib's.  A wait with timeout ``0`` never blocks and is not a
cancellation point (as a non-blocking socket call).

What this is for: ``socketserver``, ``urllib3`` (``util/wait.py``) and
``selectors`` users imported under :func:`thredo.patch` see this module as
``select``.  Not covered: ``devpoll``/``kqueue`` (not on Linux).
"""

from __future__ import annotations

import math as _math
import operator as _operator
import select as _stdselect
from time import monotonic as _monotonic
from typing import TYPE_CHECKING, Any

from .._core import POLLIN as _IN
from .._core import POLLOUT as _OUT
from .._core import checkpoint as _checkpoint
from .._core import current_state as _current_state
from .._core import wait_fd as _wait_fd

if not TYPE_CHECKING:
    from select import *  # noqa: F403  # every name of the stdlib module, then ours

__all__ = sorted({n for n in dir(_stdselect) if not n.startswith("_")})

_std_select = _stdselect.select
_std_poll = _stdselect.poll
_std_epoll = _stdselect.epoll
_EPOLL_BITS = _stdselect.EPOLLIN | _stdselect.EPOLLOUT | _stdselect.EPOLLPRI
_DEFAULT_MASK = _stdselect.POLLIN | _stdselect.POLLPRI | _stdselect.POLLOUT


def _fileno(obj: Any) -> int:
    if isinstance(obj, int):
        return obj
    fd = obj.fileno()
    if not isinstance(fd, int):
        raise TypeError("fileno() returned a non-integer")
    return fd


def _wait_any(fds: dict[int, int], timeout: float | None, obj: object, call: str) -> bool:
    """Wait (cancellably) until one of ``fds`` ({fd: POLL* mask}) may be ready.

    Returns False when ``timeout`` passed first.  True may be spurious (the
    caller asks the stdlib again with timeout 0).  No fds: a cancellable sleep
    (``select([], [], [], t)`` is one).
    """
    if len(fds) == 1:
        ((fd, events),) = fds.items()
        if events in (_IN, _OUT):
            return _wait_fd(fd, events, timeout, obj, call)
    ep = _std_epoll()
    try:
        for fd, events in fds.items():
            try:
                ep.register(fd, events & _EPOLL_BITS)
            except PermissionError:  # a regular file: always ready, as poll() says
                return True
        return _wait_fd(ep.fileno(), _IN, timeout, obj, call)
    finally:
        ep.close()


def _until(
    attempt: Any, fds: Any, timeout: float | None, obj: object, call: str, empty: Any
) -> Any:
    """``attempt()`` (a timeout-0 stdlib call) until it finds something or ``timeout`` passes."""
    _checkpoint()
    ready = attempt()
    if ready != empty:
        return ready
    endtime = None if timeout is None else _monotonic() + timeout
    while True:
        remaining = None if endtime is None else max(0.0, endtime - _monotonic())
        if not _wait_any(fds(), remaining, obj, call):
            return empty
        ready = attempt()
        if ready != empty:
            return ready
        if endtime is not None and _monotonic() >= endtime:
            return empty


def select(rlist: Any, wlist: Any, xlist: Any, timeout: float | None = None) -> Any:
    """As ``select.select``; in a thredo thread cancellable and a cancellation point.

    (Unless ``timeout`` is 0: then it never waits and is not a point.)
    """
    if _current_state() is None or timeout == 0:
        return _std_select(rlist, wlist, xlist, timeout)
    if timeout is not None:
        if timeout != timeout:
            raise ValueError("Invalid value NaN (not a number)")
        if timeout < 0:
            raise ValueError("timeout must be non-negative")
    # Lists and tuples are handed to the stdlib as they are, so one that a
    # ``fileno()`` call mutates is read as the stdlib reads it (bpo-16230,
    # CPython's test_select_mutated); other iterables are read once.
    rlist, wlist, xlist = (
        x if type(x) in (list, tuple) else list(x) for x in (rlist, wlist, xlist)
    )

    def fds() -> dict[int, int]:
        want: dict[int, int] = {}
        for objs, bit in ((rlist, _IN), (wlist, _OUT), (xlist, _stdselect.POLLPRI)):
            for o in objs:
                fd = _fileno(o)
                want[fd] = want.get(fd, 0) | bit
        return want

    return _until(
        lambda: _std_select(rlist, wlist, xlist, 0), fds, timeout, None, "select", ([], [], [])
    )


# The range the stdlib checks a poll/epoll timeout against (Modules/selectmodule.c):
# the milliseconds, rounded up, must fit the C ``int`` of poll(2)/epoll_wait(2);
# before that the value must fit CPython's nanosecond ``_PyTime_t`` (int64).
_INT_MIN, _INT_MAX = -(2**31), 2**31 - 1
_PYTIME_MAX_NS = 2**63 - 1


def _seconds(timeout: Any, scale: int) -> float | None:
    """A poll-style timeout (``scale`` units a second) in seconds; None: forever.

    Checked as the stdlib checks it, so a thredo thread gets the stdlib's
    error for a timeout it refuses (``OverflowError`` for ``1 << 64`` and
    for ``INT_MAX + 1`` milliseconds, ``ValueError`` for NaN, ``TypeError``
    for a non-number).  Negative: forever, as the stdlib.
    """
    if timeout is None:
        return None
    if isinstance(timeout, float):
        if timeout != timeout:
            raise ValueError("Invalid value NaN (not a number)")
        if _math.isinf(timeout) or abs(timeout) * (10**9 // scale) > _PYTIME_MAX_NS:
            raise OverflowError("timestamp out of range for platform time_t")
        ms = _math.ceil(timeout * (1000 / scale))
    else:
        try:
            units = _operator.index(timeout)
        except TypeError:
            raise TypeError("timeout must be an integer or None") from None
        if abs(units) * (10**9 // scale) > _PYTIME_MAX_NS:
            raise OverflowError("timestamp too large to convert to C _PyTime_t")
        ms = units * 1000 // scale
        timeout = units
    if not _INT_MIN <= ms <= _INT_MAX:
        raise OverflowError("timeout is too large")
    return None if ms < 0 else timeout / scale


def _no_instances(cls: type) -> Any:
    raise TypeError(f"cannot create '{cls.__module__}.{cls.__qualname__}' instances")


def poll() -> _Poll:
    """As ``select.poll()``: a new poll object whose ``poll()`` is cancellable in thredo threads.

    As the stdlib's, the object's type cannot be called itself
    (``type(poll())()`` raises ``TypeError``): this function makes them.
    """
    self = object.__new__(_Poll)
    self._p = _std_poll()
    self._fds = {}
    return self


class _Poll:
    """As the stdlib's poll object; ``poll()`` is cancellable in thredo threads.

    Made by :func:`poll` only (as the stdlib's, the type cannot be called).
    Thread safety: as the stdlib's (one thread polls at a time).
    """

    _p: Any
    _fds: dict[int, int]

    def __new__(cls, *args: Any, **kwargs: Any) -> _Poll:
        return _no_instances(cls)  # type: ignore[no-any-return]

    def register(self, fd: Any, eventmask: int = _DEFAULT_MASK) -> None:
        """As ``poll.register``."""
        self._p.register(fd, eventmask)
        self._fds[_fileno(fd)] = eventmask

    def modify(self, fd: Any, eventmask: int) -> None:
        """As ``poll.modify``."""
        self._p.modify(fd, eventmask)
        self._fds[_fileno(fd)] = eventmask

    def unregister(self, fd: Any) -> None:
        """As ``poll.unregister``."""
        self._p.unregister(fd)
        self._fds.pop(_fileno(fd), None)

    def poll(self, timeout: float | None = None) -> list[tuple[int, int]]:
        """As ``poll.poll`` (``timeout`` in milliseconds); cancellable in a thredo thread."""
        if _current_state() is None or timeout == 0:
            return self._p.poll(timeout)  # type: ignore[no-any-return]
        return _until(  # type: ignore[no-any-return]
            lambda: self._p.poll(0),
            lambda: self._fds,
            _seconds(timeout, 1000),
            self,
            "poll",
            [],
        )


_Poll.__name__ = _Poll.__qualname__ = "poll"  # as the stdlib's type is named


class epoll:
    """As the stdlib's epoll object; ``poll()`` is cancellable in thredo threads.

    (``select.epoll`` cannot be subclassed; this wraps one, and refuses
    subclasses as it does.)
    """

    def __init_subclass__(cls, **kwargs: Any) -> None:
        raise TypeError(f"type '{__name__}.epoll' is not an acceptable base type")

    def __init__(self, sizehint: int = -1, flags: int = 0) -> None:
        self._ep = _std_epoll(sizehint, flags)

    @classmethod
    def fromfd(cls, fd: int) -> epoll:
        """As ``epoll.fromfd``."""
        self = cls.__new__(cls)
        self._ep = _std_epoll.fromfd(fd)
        return self

    @property
    def closed(self) -> bool:
        """As ``epoll.closed``."""
        return self._ep.closed

    def close(self) -> None:
        """As ``epoll.close``."""
        self._ep.close()

    def fileno(self) -> int:
        """As ``epoll.fileno``."""
        return self._ep.fileno()

    def register(self, fd: Any, eventmask: int = _DEFAULT_MASK) -> None:
        """As ``epoll.register``."""
        self._ep.register(fd, eventmask)

    def modify(self, fd: Any, eventmask: int) -> None:
        """As ``epoll.modify``."""
        self._ep.modify(fd, eventmask)

    def unregister(self, fd: Any) -> None:
        """As ``epoll.unregister``."""
        self._ep.unregister(fd)

    def poll(self, timeout: float | None = None, maxevents: int = -1) -> list[tuple[int, int]]:
        """As ``epoll.poll`` (``timeout`` in seconds); cancellable in a thredo thread."""
        if _current_state() is None or timeout == 0:
            return self._ep.poll(timeout, maxevents)
        fd = self._ep.fileno()
        return _until(  # type: ignore[no-any-return]
            lambda: self._ep.poll(0, maxevents),
            lambda: {fd: _IN},
            _seconds(timeout, 1),
            self,
            "epoll.poll",
            [],
        )

    def __enter__(self) -> epoll:
        if self._ep.closed:
            raise ValueError("I/O operation on closed epoll object")
        return self

    def __exit__(self, *exc: object) -> None:
        self._ep.close()
