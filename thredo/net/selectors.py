"""Cancellable selectors: the stdlib ``selectors`` module on ``thredo.net.select``.

Every name of the stdlib module is here.  ``SelectSelector``,
``PollSelector`` and ``EpollSelector`` (``DefaultSelector`` on Linux) are the
stdlib classes with their system call swapped for the cancellable one of
:mod:`thredo.net.select`: in a thredo thread ``select(timeout)`` with a
timeout other than 0 is a cancellation point, is cancellable while it waits
and obeys ``timeout_after``; in a plain thread it is the stdlib's.  The
register/unregister bookkeeping is the stdlib's own code, unchanged.

``socketserver`` (``serve_forever``'s poll loop) and ``subprocess``
(``communicate``) use this module; :func:`thredo.patch` gives it to the
modules it imports.
"""

from __future__ import annotations

import selectors as _stdselectors
from typing import TYPE_CHECKING, Any

from . import select as _tselect

if not TYPE_CHECKING:
    from selectors import *  # noqa: F403  # every name of the stdlib module, then ours

__all__ = sorted(
    {n for n in dir(_stdselectors) if not n.startswith("_") and n not in ("ABCMeta", "Mapping")}
    | {"DefaultSelector", "SelectSelector", "PollSelector", "EpollSelector"}
)


class SelectSelector(_stdselectors.SelectSelector):
    """As ``selectors.SelectSelector``, waiting in the cancellable ``select()``."""

    def _select(self, r: Any, w: Any, _: Any, timeout: float | None = None) -> Any:
        return _tselect.select(r, w, _, timeout)


class PollSelector(_stdselectors.PollSelector):
    """As ``selectors.PollSelector``, waiting in the cancellable ``poll``."""

    # a function (as the stdlib's select.poll): not to be bound as a method
    _selector_cls = staticmethod(_tselect.poll)


class EpollSelector(_stdselectors.EpollSelector):
    """As ``selectors.EpollSelector``, waiting in the cancellable ``epoll``."""

    _selector_cls = _tselect.epoll


DefaultSelector = EpollSelector
