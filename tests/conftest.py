"""Shared fixtures: the leak check every test runs under, ``run``, ``runner``, ``usr1_raises``.

Plain helpers (no fixtures) are in helpers.py.
"""

from __future__ import annotations

import gc
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from helpers import Interrupted, Runner

import thredo

# Started with SIGINT ignored (nohup, a background job, a CI runner): the
# Ctrl-C tests' child processes would inherit the ignored disposition (which
# thredo rightly keeps) and never see their SIGINT.  The suite runs as from a
# terminal: Python's own handler here, so children start with the default.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


def _open_fds() -> set[int]:
    return {int(fd) for fd in os.listdir("/proc/self/fd")}


def _settle(check: Callable[[], bool], seconds: float = 5.0) -> bool:
    """Poll ``check`` until true or ``seconds`` pass (upper bound only)."""
    end = time.monotonic() + seconds
    while not check():
        if time.monotonic() > end:
            return False
        gc.collect()
        time.sleep(0.005)
    return True


@pytest.fixture(autouse=True)
def no_leaks() -> Iterator[None]:
    """After each test: same threads alive and same fds open as before."""
    threads_before = set(threading.enumerate())
    fds_before = _open_fds()
    yield
    _settle(lambda: set(threading.enumerate()) <= threads_before)
    extra = set(threading.enumerate()) - threads_before
    for t in extra:
        t.join(timeout=5)
    assert not extra, f"threads leaked: {extra}"
    _settle(lambda: _open_fds() <= fds_before)
    leaked = _open_fds() - fds_before
    detail = {
        fd: os.readlink(f"/proc/self/fd/{fd}")
        for fd in leaked
        if os.path.exists(f"/proc/self/fd/{fd}")
    }
    assert not leaked, f"fds leaked: {detail}"


@pytest.fixture
def default_excepthook(monkeypatch: pytest.MonkeyPatch) -> None:
    """The stdlib's default ``threading.excepthook`` for this test.

    thredo reports an unretrieved failure to ``threading.excepthook`` when it
    is not the default, whoever installed it -- pytest does, for the whole
    session, and would turn the report into a warning (an error here) of
    whichever test runs when it comes.  A test that leaves a failure
    unretrieved on purpose (and reads the ``thredo`` logger) takes this.
    """
    monkeypatch.setattr(threading, "excepthook", threading.__excepthook__)


@pytest.fixture
def run() -> Callable[..., Any]:
    """``thredo.run``; a fixture so tests read ``run(main)``."""
    return thredo.run


@pytest.fixture(params=["plain", "thredo"])
def runner(request: pytest.FixtureRequest) -> Runner:
    """Runs each scenario twice: in plain ``threading`` threads and under ``thredo.run``."""
    return Runner(request.param)


@pytest.fixture
def usr1_raises() -> Iterator[None]:
    """SIGUSR1 raises ``Interrupted`` in the main thread (the old handler comes back)."""

    fired = []

    def handler(signo, frame):
        if not fired:  # once: interrupt_main_thread_when may send it again
            fired.append(signo)
            raise Interrupted

    old = signal.signal(signal.SIGUSR1, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGUSR1, old)


@pytest.fixture(scope="session")
def tls_contexts() -> tuple[Any, Any]:
    """(server, client) ``ssl.SSLContext``s from a trustme CA made for this run."""
    import ssl

    import trustme

    ca = trustme.CA()
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost").configure_cert(server)
    client = ssl.create_default_context()
    ca.configure_trust(client)
    return server, client
