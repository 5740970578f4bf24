"""Every public name is exported once, listed in __all__, and importable."""

from __future__ import annotations

import socket as stdsocket

import pytest

import thredo
import thredo.net
from thredo.net import socket as tsocket


@pytest.mark.parametrize("module", [thredo, thredo.net])
def test_all_lists_public_names_once(module: object) -> None:
    names = module.__all__  # type: ignore[attr-defined]
    assert len(names) == len(set(names))
    for name in names:
        assert hasattr(module, name), name


def test_core_contract_names() -> None:
    for name in (
        "run spawn Thread current_thread sleep timeout_after ignore_after disable_cancellation "
        "ThreadGroup AWAIT CancelledError ThreadCancelled ThreadTimeout TimeoutCancellationError "
        "ThreadError Lock RLock Condition Semaphore BoundedSemaphore Event Barrier Queue LifoQueue "
        "PriorityQueue SimpleQueue SignalEvent"
    ).split():
        assert name in thredo.__all__, name


def test_cancellation_exceptions_are_base_exceptions() -> None:
    for exc in (thredo.ThreadCancelled, thredo.ThreadTimeout, thredo.TimeoutCancellationError):
        assert issubclass(exc, thredo.CancelledError)
        assert not issubclass(exc, Exception)
    assert issubclass(thredo.ThreadError, Exception)


def test_socket_module_mirrors_stdlib() -> None:
    missing = [n for n in stdsocket.__all__ if not hasattr(tsocket, n)]
    assert not missing
    assert thredo.socket is tsocket
    assert issubclass(tsocket.socket, stdsocket.socket)
    for name in ("socketpair", "fromfd", "create_connection", "create_server", "getaddrinfo"):
        assert getattr(tsocket, name) is not getattr(stdsocket, name), name
