"""patch() / more_magic(): modules imported under the scope run on thredo's stdlib.

Theory of operation
-------------------

``with thredo.patch(): import requests`` gives the importing code a *fresh
copy* of ``requests`` (and of everything it pulls in that does network
I/O: ``urllib3``, ``http.client`` ...) whose ``socket``, ``ssl``,
``select``, ``selectors`` and ``time.sleep`` are thredo's cancellable
versions.  The copy keeps them after the block.  Nothing else in the
process changes: ``sys.modules['socket']`` is the stdlib's before, during
and after the block, copies imported before it are neither replaced nor
modified, and thredo's own code always reaches the real stdlib (so no
``RecursionError`` in ``getaddrinfo`` or ``ssl.SSLContext``, which global
monkey-patching runs into).  Two mechanisms::

    enter                                     under the scope (this thread)
    -----                                     ----------------------------
    stash: take out of sys.modules every      import requests
      module that may do network I/O            -> not in sys.modules: executed
      (see "which modules are copied")          requests: import socket
    hook builtins.__import__                      -> hook: importer is copied
                                                     code -> the socket facade
    exit                                        requests: import urllib3
    ----                                          -> fresh copy, same rule
    unhook; take out what was imported
      under the scope and saw a facade;
      put the stashed modules back

* **Facades**: for each of ``socket``, ``ssl``, ``select``, ``selectors``
  and ``time`` a module object holding every name of the stdlib module with
  thredo's over it (``thredo.net.socket`` ..., ``time.sleep`` =
  :func:`thredo.sleep`; ``ssl._create_default_https_context`` and friends
  make thredo contexts, as ``http.client``, ``urllib`` and ``smtplib`` call
  them).  They are never put in ``sys.modules``.
* **The import hook** answers ``import socket`` (and ``from socket import
  ...``) with the facade when the importing module is one that is copied
  and the import runs in a thread that is inside a scope.  Every other
  importer -- thredo, the rest of the stdlib, the test runner, other threads
  -- gets the stdlib module.
* **Stash**: modules already imported that reference one of the four
  networking modules (directly, or through another such module), grouped by
  top-level package, leave ``sys.modules`` for the block so that importing
  them again executes them afresh; they come back at exit.  Modules first
  imported under the block that saw a facade leave ``sys.modules`` at exit,
  so an import after the block gets a stdlib copy again (no import-order
  surprises: inside the block always a thredo copy, outside always a stdlib
  one).

Which modules are copied: third-party modules (anything not in
``sys.stdlib_module_names``), ``__main__`` and the stdlib's network clients
and servers (``STDLIB_CLIENTS``: ``http``, ``urllib``, ``xmlrpc``,
``socketserver``, ``smtplib`` ...).  Never: thredo, curio, the test runner
(``NEVER``), extension modules (they cannot be executed twice), and the
rest of the stdlib -- ``threading``, ``logging``, ``asyncio``,
``subprocess``, ``email`` ... stay one copy each (``thredo.net.subprocess``
is the cancellable ``subprocess``).

Limits (docs/patching.md has the full table): an ``import socket`` that a
copied module runs inside a function *after* the block gets the stdlib
module; ``importlib.import_module("socket")`` bypasses the hook; an
``SSLContext`` made by the stdlib ``ssl`` outside the block wraps sockets
in the stdlib's TLS socket (not cancellable).  While a block runs,
``sys.modules`` lacks the stashed modules for every thread: a block is
meant for imports at start-up, as the talk's ``ex7.py`` uses it.

Thread safety: blocks may nest and may run in several threads; a lock
serialises entering and leaving them.
"""

from __future__ import annotations

import builtins
import concurrent as _stdconcurrent
import concurrent.futures as _stdfutures
import contextlib
import importlib.machinery
import select as _stdselect
import selectors as _stdselectors
import socket as _stdsocket
import ssl as _stdssl
import sys
import threading
import time as _stdtime
import types
from collections.abc import Iterator
from typing import Any

import thredo.net.select as _tselect
import thredo.net.selectors as _tselectors
import thredo.net.socket as _tsocket
import thredo.net.ssl as _tssl

from ._core import sleep
from ._executor import ThreadPoolExecutor

__all__ = ("patch", "more_magic", "STDLIB_CLIENTS", "NEVER")

#: Stdlib packages that do network I/O for their users: copied like third-party code.
STDLIB_CLIENTS = frozenset(
    {
        "http",
        "urllib",
        "xmlrpc",
        "socketserver",
        "ftplib",
        "smtplib",
        "poplib",
        "imaplib",
        "nntplib",
        "telnetlib",
        "wsgiref",
    }
)
#: Top-level packages never copied (one copy each is their contract).
NEVER = frozenset({"thredo", "curio", "_pytest", "pytest", "pluggy", "__mp_main__"})
_NET = frozenset({"socket", "ssl", "select", "selectors"})
_STDLIB = frozenset(sys.stdlib_module_names)
_COPYABLE_LOADERS = (
    importlib.machinery.SourceFileLoader,
    importlib.machinery.SourcelessFileLoader,
)


# -- facades ------------------------------------------------------------------------


def _thredo_context(make: Any) -> Any:
    """``make`` (a stdlib context factory) returning a thredo ``SSLContext``."""

    def factory(*args: Any, **kwargs: Any) -> Any:
        ctx = make(*args, **kwargs)
        ctx.__class__ = _tssl.SSLContext  # same layout: only wrap_socket's socket class changes
        return ctx

    factory.__name__ = factory.__qualname__ = make.__name__
    return factory


def _facade(std: types.ModuleType, ours: dict[str, Any]) -> types.ModuleType:
    """A module named as ``std`` with all of ``std``'s names, ``ours`` over them."""
    m = types.ModuleType(std.__name__, std.__doc__)
    m.__dict__.update(vars(std))
    m.__dict__.update(ours)
    return m


def _ours(mod: types.ModuleType) -> dict[str, Any]:
    return {n: getattr(mod, n) for n in mod.__all__ if hasattr(mod, n)}


class socket(_tsocket.socket):
    """thredo's socket as copies made under :func:`patch` see it (``socket.socket``).

    One difference: a ``connect`` cut by a cancel or deadline closes the
    socket.  Code written for the stdlib closes a socket whose connect
    failed only on ``OSError`` (urllib3's ``create_connection`` does), so
    a cancel there would leave the descriptor to the garbage collector.
    """

    __slots__ = ()

    def connect(self, address: Any) -> None:
        """As :meth:`thredo.net.socket.socket.connect`; closed if cancelled or timed out."""
        try:
            super().connect(address)
        except Exception:
            raise
        except BaseException:
            self.close()
            raise


def _make_facades() -> dict[str, types.ModuleType]:
    unverified = _thredo_context(_stdssl._create_unverified_context)
    return {
        "socket": _facade(_stdsocket, {**_ours(_tsocket), "socket": socket, "SocketType": socket}),
        "ssl": _facade(
            _stdssl,
            {
                **_ours(_tssl),
                "_create_default_https_context": _tssl.create_default_context,
                "_create_unverified_context": unverified,
                "_create_stdlib_context": unverified,
            },
        ),
        "select": _facade(_stdselect, _ours(_tselect)),
        "selectors": _facade(_stdselectors, _ours(_tselectors)),
        "time": _facade(_stdtime, {"sleep": sleep}),
        "concurrent.futures": _facade(_stdfutures, {"ThreadPoolExecutor": ThreadPoolExecutor}),
    }


FACADES = _make_facades()
# `import concurrent.futures` (no fromlist) is answered with the package: this
# copy of it reaches the facade as its `futures`.
_CONCURRENT = _facade(_stdconcurrent, {"futures": FACADES["concurrent.futures"]})
_FACADE_IDS = frozenset(id(m) for m in FACADES.values())


# -- which modules -------------------------------------------------------------------


def _top(name: str) -> str:
    return name.partition(".")[0]


def _copied(name: str) -> bool:
    """Is a module of this name copied under the scope (and given the facades)?"""
    top = _top(name)
    if top in NEVER:
        return False
    if top in _STDLIB:
        return top in STDLIB_CLIENTS
    return True


def _executable_again(m: object) -> bool:
    """A Python module (or namespace package) that importing again re-executes."""
    if not isinstance(m, types.ModuleType):
        return False
    spec = getattr(m, "__spec__", None)
    loader = getattr(spec, "loader", None)
    if isinstance(loader, _COPYABLE_LOADERS):
        return True
    return spec is not None and spec.origin is None and spec.submodule_search_locations is not None


def _refs(m: types.ModuleType) -> set[str]:
    """Names of the modules ``m``'s globals come from (modules, and the home of each value)."""
    out: set[str] = set()
    for v in list(vars(m).values()):
        try:
            if id(v) in _FACADE_IDS:
                n: object = "thredo facade"
            elif isinstance(v, types.ModuleType):
                n = v.__name__
            elif isinstance(v, (type, types.FunctionType, types.BuiltinFunctionType)):
                n = v.__module__
            else:
                n = type(v).__module__
        except Exception:  # an odd global (a lazy proxy): it tells us nothing
            continue
        if isinstance(n, str):
            out.add(n)
    return out


def _dependent_units(modules: dict[str, types.ModuleType], roots: set[str]) -> set[str]:
    """Top-level packages of ``modules`` that reference ``roots`` (through one another too)."""
    refs = {n: _refs(m) for n, m in modules.items()}
    found = {n for n, r in refs.items() if r & roots}
    grew = True
    while grew:
        grew = False
        for n, r in refs.items():
            if n not in found and r & found:
                found.add(n)
                grew = True
    return {_top(n) for n in found}


def _copyable(snapshot: dict[str, Any]) -> dict[str, types.ModuleType]:
    return {n: m for n, m in snapshot.items() if _copied(n) and _executable_again(m)}


# -- the import hook -------------------------------------------------------------------

_lock = threading.RLock()  # guards the fields below and sys.modules edits of enter/exit
_depth = 0  # scopes open in the process; the hook is installed while > 0
_owners: dict[int, int] = {}  # thread ident -> scopes it has open
_real_import: Any = None  # builtins.__import__ when the first scope opened


def _import(
    name: str,
    globals: dict[str, Any] | None = None,
    locals: Any = None,
    fromlist: Any = (),
    level: int = 0,
) -> Any:
    if (
        level == 0
        and name in FACADES
        and threading.get_ident() in _owners
        and globals is not None
        and _copied(str(globals.get("__name__", "thredo")))
    ):
        if name == "concurrent.futures" and not fromlist:
            return _CONCURRENT
        return FACADES[name]
    return _real_import(name, globals, locals, fromlist, level)


# -- the scope ----------------------------------------------------------------------------


def _enter() -> tuple[dict[str, Any], dict[str, Any]]:
    global _depth, _real_import
    with _lock:
        before = dict(sys.modules)
        candidates = _copyable(before)
        units = _dependent_units(candidates, set(_NET) | {"thredo facade"})
        units |= {_top(n) for n in candidates if _top(n) in STDLIB_CLIENTS}
        # Aliases (requests.packages.urllib3 is urllib3) leave with their package;
        # extension modules stay (they cannot be executed again).
        stash = {
            n: m
            for n, m in before.items()
            if _top(n) in units
            and _copied(n)
            and (n in candidates or (isinstance(m, types.ModuleType) and m.__name__ != n))
        }
        for n in stash:
            del sys.modules[n]
        if _depth == 0:
            _real_import = builtins.__import__
            builtins.__import__ = _import  # type: ignore[assignment]
        _depth += 1
        me = threading.get_ident()
        _owners[me] = _owners.get(me, 0) + 1
        return before, stash


def _exit(before: dict[str, Any], stash: dict[str, Any]) -> None:
    global _depth
    with _lock:
        me = threading.get_ident()
        _owners[me] -= 1
        if not _owners[me]:
            del _owners[me]
        _depth -= 1
        if _depth == 0:
            builtins.__import__ = _real_import
        # Modules first imported here that saw a facade -- directly, or through
        # a copy made here -- leave with their whole package, as do new
        # modules of a stashed package (they were made against its copy) and
        # aliases of them.  The stashed originals come back over their copies.
        new = {n: m for n, m in sys.modules.items() if n not in before}
        fresh = _copyable(new)
        recopied = {n for n in stash if sys.modules.get(n, stash[n]) is not stash[n]}
        units = _dependent_units(fresh, recopied | {"thredo facade"}) | {_top(n) for n in stash}
        fresh_ids = {id(m) for m in fresh.values()}
        for n, m in new.items():
            if _top(n) in units and _copied(n) and id(m) in fresh_ids:
                del sys.modules[n]
        sys.modules.update(stash)


@contextlib.contextmanager
def patch() -> Iterator[None]:
    """Modules imported in the block are fresh copies on thredo's cancellable stdlib.

    A module imported in the block (and every network-doing module it
    imports) is a new copy whose ``socket``, ``ssl``, ``select``,
    ``selectors`` and ``time.sleep`` are thredo's; it keeps them after the
    block.  In thredo threads its blocking calls are then cancellable and
    obey ``timeout_after`` -- a total deadline over DNS, connect, TLS, send
    and receive; in plain threads they behave as the stdlib's.  Its
    ``concurrent.futures.ThreadPoolExecutor`` is :class:`thredo.ThreadPoolExecutor`.  Copies
    imported before the block are not touched, and ``sys.modules`` is as it
    was once the block ends (module docstring: the mechanism and its
    limits; docs/patching.md: what is and is not covered).

    Example::

        with thredo.patch():
            import requests          # a thredo copy, kept by this name

        def fetch(url):              # in a thredo thread
            with thredo.timeout_after(5):
                return requests.get(url).text
    """
    before, stash = _enter()
    try:
        yield
    finally:
        _exit(before, stash)


#: The original thredo's name for :func:`patch`.
more_magic = patch
