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
    Suite("subprocess", ("test.test_subprocess",), subs=("subprocess",), shards=8),
    Suite("socket", ("test.test_socket",), subs=("socket",), shards=6),
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
    Suite("ssl", ("test.test_ssl",), patch=True, classes=("ThreadedTests",), shards=4),
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
        sys.modules[name] = mod
        out[name] = mod
    return out
