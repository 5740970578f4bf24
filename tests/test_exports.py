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


def _public_objects() -> list[tuple[str, object]]:
    import inspect

    found: list[tuple[str, object]] = []
    for module in (thredo, thredo.net):
        for name in module.__all__:  # type: ignore[attr-defined]
            obj = getattr(module, name)
            if inspect.ismodule(obj) or not (inspect.isclass(obj) or callable(obj)):
                continue
            if getattr(obj, "__module__", "").split(".")[0] != "thredo":
                continue  # the stdlib's or curio's own (BrokenBarrierError, CancelledError)
            found.append((f"{module.__name__}.{name}", obj))
            if inspect.isclass(obj):
                for attr, value in vars(obj).items():
                    if attr.startswith("_"):
                        continue
                    target = value.fget if isinstance(value, property) else value
                    if callable(target) or isinstance(value, property):
                        found.append((f"{module.__name__}.{name}.{attr}", target))
    return found


def test_every_public_object_has_a_docstring() -> None:
    missing = [name for name, obj in _public_objects() if not (obj.__doc__ or "").strip()]
    assert missing == []


def test_exported_objects_report_their_public_home() -> None:
    assert thredo.Lock.__module__ == "thredo"
    assert thredo.ThreadTimeout.__module__ == "thredo"
    if thredo.QueueShutDown.__module__ != "queue":  # 3.13+: it is the stdlib's queue.ShutDown
        assert repr(thredo.QueueShutDown) == "<class 'thredo.QueueShutDown'>"
    assert thredo.Thread.join.__module__ == "thredo"
    assert thredo.net.SocketStream.__module__ == "thredo.net"
    for name, obj in _public_objects():
        module = getattr(obj, "__module__", "thredo")
        assert not any(part.startswith("_") for part in module.split(".")), (name, module)
