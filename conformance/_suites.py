"""The suites: which CPython test modules run, and what replaces what in them.

A suite names CPython test modules (from the interpreter's ``test``
package), optionally the ``TestCase`` classes kept, and how thredo's
modules are put in: ``subs`` maps a stdlib module name to the module (or
facade) the test module gets instead, bound while the test module is
executed afresh (so ``import select`` at its top, and class statements
such as ``class S(socketserver.ThreadingMixIn, ...)``, see the
substitute); ``patch`` imports it under :func:`thredo.patch` instead (the
HTTP and TLS suites: the test module and the stdlib clients it imports are
fresh copies on thredo's ``socket``, ``ssl``, ``select``, ``selectors``).

Each substitute has a stdlib twin used by the calibration (``--stdlib``):
the same machinery, the stdlib's own module in each place (and
``socketserver.ThreadingMixIn`` where thredo's mode puts
:class:`thredo.ThredoMixIn`), so a test that fails there is a harness or
platform problem, never thredo's.
"""

from __future__ import annotations

import importlib
import sys
import types
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

#: The modes: the calibration, thredo's modules in plain threads, and
#: thredo's modules with the unittest run inside ``thredo.run()`` (in the
#: run's main thredo thread).
MODES = ("stdlib", "thread", "run")


@dataclass(frozen=True)
class Suite:
    """One row of the table: test modules and how thredo is put in them."""

    name: str
    modules: tuple[str, ...]
    #: stdlib module names replaced in the test modules (thredo modes)
    subs: tuple[str, ...] = ()
    #: import the test modules under thredo.patch() (thredo modes)
    patch: bool = False
    #: keep only these TestCase classes (by name); empty: every class
    classes: tuple[str, ...] = ()
    #: thredo modes this suite runs in, and why one is left out
    modes: tuple[str, ...] = ("thread", "run")
    why_not: str = ""
    #: names set on the test module after import (thredo modes): name -> maker
    extra: tuple[tuple[str, str], ...] = field(default=())
    #: private names the test modules' fixtures read from the substituted
    #: module that thredo's lacks: taken from the stdlib's (name -> why)
    borrow: tuple[tuple[str, str], ...] = ()
    #: how many shards each mode is cut into (the slow suites: more)
    shards: int = 1


_RUN_ONLY = (
    "thredo threads (and so ThredoMixIn's handlers and thredo.Thread) start only "
    "inside thredo.run(): SPEC, 'thredo.run ... nothing started under run outlives it'"
)

SUITES: tuple[Suite, ...] = (
    Suite("select", ("test.test_select",), subs=("select",)),
    Suite("poll", ("test.test_poll",), subs=("select",)),
    Suite("epoll", ("test.test_epoll",), subs=("select",)),
    Suite("selectors", ("test.test_selectors",), subs=("select", "selectors"), shards=2),
    Suite(
        "subprocess",
        ("test.test_subprocess",),
        subs=("subprocess",),
        borrow=(
            ("_active", "BaseTestCase.tearDown waits for and asserts empty subprocess._active"),
            ("_cleanup", "BaseTestCase.tearDown calls subprocess._cleanup()"),
        ),
        shards=8,
    ),
    Suite(
        "socket",
        ("test.test_socket",),
        subs=("socket",),
        borrow=(("_LOCALHOST", "an address constant the tests bind to"),),
        shards=6,
    ),
    Suite(
        "socketserver",
        ("test.test_socketserver",),
        subs=("socketserver", "threading"),
        modes=("run",),
        why_not=_RUN_ONLY,
        shards=2,
    ),
    Suite(
        "http.server",
        ("test.test_httpservers",),
        subs=("threading",),
        patch=True,
        modes=("run",),
        why_not=_RUN_ONLY,
        extra=(("HTTPServer", "mixin_http_server"),),
        shards=3,
    ),
    Suite("http.client", ("test.test_httplib",), patch=True, shards=2),
    Suite("urllib", ("test.test_urllib2_localnet",), patch=True, shards=2),
    # test_ssl imports ssl with import_helper.import_module (importlib: past
    # patch()'s hook), so ssl is also bound directly.
    Suite(
        "ssl",
        ("test.test_ssl",),
        subs=("ssl",),
        patch=True,
        classes=("ThreadedTests",),
        borrow=(("_PROTOCOL_NAMES", "read at import: the protocols the tests loop over"),),
        shards=4,
    ),
    Suite(
        "threading",
        ("test.test_threading",),
        subs=("threading",),
        classes=("ThreadTests", "ThreadingExceptionTests", "ExceptHookTests", "TimerTests"),
        modes=("run",),
        why_not=_RUN_ONLY,
        shards=2,
    ),
)

BY_NAME = {s.name: s for s in SUITES}


# -- the substitutes -------------------------------------------------------


def _socketserver(mixin: type) -> types.ModuleType:
    """``socketserver`` with ``mixin`` as its ThreadingMixIn (and the Threading* servers)."""
    import socketserver

    m = types.ModuleType("socketserver")
    m.__dict__.update({k: v for k, v in vars(socketserver).items() if k != "__name__"})
    m.ThreadingMixIn = mixin  # type: ignore[attr-defined]
    for name in ("TCPServer", "UDPServer", "UnixStreamServer", "UnixDatagramServer"):
        base = getattr(socketserver, name, None)
        if base is not None:
            cls = type("Threading" + name, (mixin, base), {"__module__": "socketserver"})
            setattr(m, "Threading" + name, cls)
    return m


def _threading_facade() -> types.ModuleType:
    """``threading`` for the test module: thredo's names over the stdlib's.

    The test modules also reach ``threading``'s internals (``_active``,
    ``_shutdown`` ...) and names thredo does not mirror; those come from the
    stdlib, so a test fails only where thredo's own version differs.  Tests
    that pin those internals are excluded (excluded.txt).
    """
    import threading

    import thredo

    m = types.ModuleType("threading")
    m.__dict__.update({k: v for k, v in vars(threading).items() if k != "__name__"})
    for name in dir(threading):
        if not name.startswith("_") and hasattr(thredo, name):
            setattr(m, name, getattr(thredo, name))
    return m


def substitutes(thredo_mode: bool) -> dict[str, Callable[[], Any]]:
    """Stdlib module name -> a maker of what the test module gets instead."""
    if not thredo_mode:
        import socketserver

        return {
            "select": lambda: importlib.import_module("select"),
            "selectors": lambda: importlib.import_module("selectors"),
            "socket": lambda: importlib.import_module("socket"),
            "ssl": lambda: importlib.import_module("ssl"),
            "subprocess": lambda: importlib.import_module("subprocess"),
            "threading": lambda: importlib.import_module("threading"),
            "socketserver": lambda: _socketserver(socketserver.ThreadingMixIn),
        }
    import thredo

    return {
        "select": lambda: importlib.import_module("thredo.net.select"),
        "selectors": lambda: importlib.import_module("thredo.net.selectors"),
        "socket": lambda: importlib.import_module("thredo.net.socket"),
        "ssl": lambda: importlib.import_module("thredo.net.ssl"),
        "subprocess": lambda: importlib.import_module("thredo.net.subprocess"),
        "threading": _threading_facade,
        "socketserver": lambda: _socketserver(thredo.ThredoMixIn),
    }


def _overlay(ours: types.ModuleType, std: types.ModuleType, names: list[str]) -> types.ModuleType:
    """``ours`` plus the stdlib's ``names`` (a new module object; ``ours`` is not touched)."""
    m = types.ModuleType(ours.__name__, ours.__doc__)
    m.__dict__.update(vars(ours))
    for n in names:
        setattr(m, n, getattr(std, n))
    return m


def _verify(suite: Suite, mod: types.ModuleType) -> None:
    """Refuse to run a thredo mode whose substitution did not take (it would test the stdlib)."""
    import select
    import socket
    import ssl
    import subprocess
    import threading

    probes = {
        "select": ("select", select.select),
        "selectors": ("DefaultSelector", importlib.import_module("selectors").DefaultSelector),
        "socket": ("socket", socket.socket),
        "ssl": ("SSLContext", ssl.SSLContext),
        "subprocess": ("Popen", subprocess.Popen),
        "threading": ("Thread", threading.Thread),
        "socketserver": ("ThreadingMixIn", importlib.import_module("socketserver").ThreadingMixIn),
    }
    checked = 0
    for n in suite.subs:
        attr, std = probes[n]
        if n in vars(mod):  # a test module that names the module itself
            checked += 1
            if getattr(vars(mod)[n], attr, None) in (None, std):
                raise RuntimeError(f"{mod.__name__}: {n}.{attr} is not thredo's")
    if suite.patch:
        # every stdlib network client the test module names (http.client,
        # urllib.request ...: a global, or one level under one) is a copy on
        # thredo's socket, and so is a ``socket`` global
        for k, v in vars(mod).items():
            if not isinstance(v, types.ModuleType):
                continue
            subs = [v, *(x for x in vars(v).values() if isinstance(x, types.ModuleType))]
            for sub in subs:
                name = getattr(sub, "__name__", "")
                if k == "socket" and sub is v:
                    sock: Any = v
                elif name.startswith(("http.", "urllib.")) and hasattr(sub, "socket"):
                    sock = sub.socket
                else:
                    continue
                checked += 1
                if getattr(sock, "socket", None) is socket.socket:
                    raise RuntimeError(f"{mod.__name__}: {k} ({name}) is on the stdlib's socket")
    if not checked:
        raise RuntimeError(f"{mod.__name__}: no substitution found to check")


def _extra(name: str, mod: types.ModuleType, thredo_mode: bool) -> Any:
    if name == "mixin_http_server":
        import socketserver

        import thredo

        mixin = thredo.ThredoMixIn if thredo_mode else socketserver.ThreadingMixIn
        return type("HTTPServer", (mixin, mod.HTTPServer), {"daemon_threads": True})
    raise KeyError(name)


def load(suite: Suite, mode: str) -> dict[str, types.ModuleType]:
    """Import the suite's test modules afresh for ``mode``; name -> module.

    Each test module is first imported as it is (so every module it pulls
    in is loaded with the stdlib's modules), then executed again with the
    substitutes bound in ``sys.modules`` for the length of that import only
    (or under ``thredo.patch()``); the fresh copy is left in ``sys.modules``
    so unittest finds its ``setUpModule``.
    """
    thredo_mode = mode != "stdlib"
    makers = substitutes(thredo_mode)
    out: dict[str, types.ModuleType] = {}
    for name in suite.modules:
        importlib.import_module(name)  # its dependencies, with the stdlib
        del sys.modules[name]
        subs = {n: makers[n]() for n in suite.subs}
        if thredo_mode:
            for n in suite.subs:
                missing = [b for b, _ in suite.borrow if not hasattr(subs[n], b)]
                if missing:
                    subs[n] = _overlay(subs[n], importlib.import_module(n), missing)
        if suite.patch and thredo_mode:
            # thredo loads patch() on first use: load it while sys.modules
            # still holds the stdlib (as a program that imports thredo does).
            import thredo

            thredo.patch  # noqa: B018
        saved = {n: sys.modules.get(n) for n in subs}
        sys.modules.update(subs)
        try:
            if suite.patch and thredo_mode:
                import thredo

                with thredo.patch():
                    mod = importlib.import_module(name)
            else:
                mod = importlib.import_module(name)
        finally:
            for n, old in saved.items():
                if old is None:
                    sys.modules.pop(n, None)
                else:
                    sys.modules[n] = old
        for attr, maker in suite.extra:
            setattr(mod, attr, _extra(maker, mod, thredo_mode))
        if thredo_mode:
            _verify(suite, mod)
        sys.modules[name] = mod
        out[name] = mod
    return out
