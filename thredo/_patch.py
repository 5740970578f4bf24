"""patch() / more_magic(): modules imported under the scope run on thredo's stdlib.

Theory of operation
-------------------

``with thredo.patch(): import requests`` gives the importing code a *fresh
copy* of ``requests`` (and of everything it pulls in that does network
I/O: ``urllib3``, ``http.client`` ...) whose ``socket``, ``ssl``,
``select``, ``selectors`` and ``time.sleep`` are thredo's cancellable
versions.  The copy keeps them after the block.  Nothing else in the
process changes: ``sys.modules`` is never written -- not ``socket``, not
``requests``, not for a moment -- so copies imported before the block, and
other threads using or lazily importing them meanwhile, are untouched; and
thredo's own code always reaches the real stdlib (so no ``RecursionError``
in ``getaddrinfo`` or ``ssl.SSLContext``, which global monkey-patching runs
into).  Two mechanisms::

    enter                                   under the scope (this thread)
    -----                                   ----------------------------
    a private namespace for the block's     import requests
      copies (_Copies.modules), and           -> hook: importer is the block's
    hook builtins.__import__                     code -> copies: not there, so
                                                 found by the finders, executed
    exit                                         into the namespace
    ----                                      requests: import socket
    unhook when the last block ends           -> hook: importer is a copy
      (the copies keep what they got)            -> the socket facade
                                              requests: import urllib3
                                              -> a copy, same rule

* **Facades**: for each of ``socket``, ``ssl``, ``select``, ``selectors``
  and ``time`` a module object holding every name of the stdlib module with
  thredo's over it (``thredo.net.socket`` ..., ``time.sleep`` =
  :func:`thredo.sleep`; ``ssl._create_default_https_context`` and friends
  make thredo contexts, as ``http.client``, ``urllib`` and ``smtplib`` call
  them).  They are never put in ``sys.modules``.
* **The copies** (``_Copies``): each block has a module namespace of its own
  that plays the part of ``sys.modules`` for its copies.  A copied module is
  found by the import system's finders (``sys.meta_path``, asked without
  ``sys.modules``), executed into that namespace and marked (its spec knows
  its block), so every import its code runs -- at import, or lazily later
  while any block is open -- is answered from the same namespace.
* **The import hook** answers an import whose importer is a copy, or the
  block's own code in the thread that opened it: ``socket`` ... with the
  facade, a copied module with its copy, anything else (``os``,
  ``threading``, ``email``, extension modules) from the real import system.
  Every other importer -- thredo, the rest of the stdlib, the test runner,
  other threads -- goes straight to the real import system.

Why a namespace of its own, not a swap of ``sys.modules`` entries (what this
module did before): ``sys.modules`` is shared by every thread.  Taking the
stashed ``urllib3`` out for a block made a plain thread's lazy ``import
urllib3.response`` execute a second copy in that thread while the block
executed its own (24 of 126 blocks failed with ``ImportError: cannot import
name 'BaseHTTPResponse' from partially initialized module`` or
``_DeadlockError``); two blocks that overlapped without nesting put each
other's stash back in the wrong order.  With the namespace, a block takes
no module lock of a module it copies, so it can neither wait for nor be
seen by another thread's import of it: the failure cannot happen, rather
than happening less often.

Which modules are copied: third-party modules (anything not in
``sys.stdlib_module_names``), ``__main__`` and the stdlib's network clients
and servers (``STDLIB_CLIENTS``: ``http``, ``urllib``, ``xmlrpc``,
``socketserver``, ``smtplib`` ...) -- except a third-party package already
imported, complete and doing no network I/O (``idna``, ``certifi``: its
objects stay the program's).  Never: thredo, curio, the test runner
(``NEVER``), extension modules (they cannot be executed twice: a copy gets
the process's), and the rest of the stdlib -- ``threading``, ``logging``,
``asyncio``, ``subprocess``, ``email`` ... stay one copy each
(``thredo.net.subprocess`` is the cancellable ``subprocess``).

Limits (docs/patching.md has the full table): an import that a copy runs
inside a function once no block is open gets the stdlib module;
``importlib.import_module("socket")`` bypasses the hook; an ``SSLContext``
made by the stdlib ``ssl`` outside the block wraps sockets in the stdlib's
TLS socket (not cancellable).  A copy that reads ``sys.modules`` itself
finds the program's modules there, not the copies (``requests.packages``
then aliases the program's ``urllib3``, if it has one, under
``requests.packages.urllib3`` in ``sys.modules`` -- as a plain ``import
requests`` does).

Thread safety: blocks may nest and may run in several threads at once,
overlapping in any order; a lock guards the hook's installation, and a
lock per block makes each of its modules execute once.
"""

from __future__ import annotations

import builtins
import concurrent as _stdconcurrent
import concurrent.futures as _stdfutures
import contextlib
import importlib.machinery
import importlib.util
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


# -- one block's copies ------------------------------------------------------------------


class _Copies:
    """The private module namespace of one :func:`patch` block.

    ``modules`` plays the part ``sys.modules`` plays for the import system,
    for the copies only: a copied module is executed into it and found in
    it by every import its code runs (during the block and after, while the
    hook is installed).  ``shared`` are the top-level packages the copies
    use as the process has them (imported before the block, complete, and
    doing no network I/O: ``idna``, ``certifi`` ...): their modules come
    from the real import system.
    """

    def __init__(self) -> None:
        # One lock per block, held while a module of it is found and executed:
        # two threads importing from the same copies (a copy's lazy import in
        # another thread) execute each module once.  Only imports that start
        # from a copy or from the block's own code take it; a plain thread's
        # imports never do, so a plain thread can neither wait on it nor see
        # what it guards.
        self.lock = threading.RLock()
        self.modules: dict[str, types.ModuleType] = {}  # guarded by lock
        self.shared = _shared_units(dict(sys.modules))


def _complete(m: object) -> bool:
    """``m`` finished executing (not a module another thread is importing right now)."""
    spec = getattr(m, "__spec__", None)
    return not getattr(spec, "_initializing", False)


def _shared_units(snapshot: dict[str, Any]) -> frozenset[str]:
    """Top-level copyable packages a block's copies use as the process has them."""
    candidates = _copyable(snapshot)
    dependent = _dependent_units(candidates, set(_NET) | {"thredo facade"})
    units: set[str] = set()
    for n in candidates:
        top = _top(n)
        if n == top and top not in dependent and top not in STDLIB_CLIENTS:
            units.add(top)
    # A package some module of which is still being imported by another
    # thread is copied: sharing it would hand the block a partial module.
    return frozenset(
        u
        for u in units
        if all(_complete(m) for n, m in candidates.items() if n == u or n.startswith(u + "."))
    )


def _home(g: dict[str, Any]) -> _Copies | None:
    """The block whose copy owns the globals ``g`` (None: not a copy)."""
    spec = g.get("__spec__")
    home = getattr(spec, "_thredo_copies", None)
    return home if isinstance(home, _Copies) else None


def _find_spec(name: str, path: Any) -> importlib.machinery.ModuleSpec | None:
    """The import system's finders, asked without consulting ``sys.modules``."""
    for finder in sys.meta_path:
        find = getattr(finder, "find_spec", None)
        if find is None:
            continue
        spec = find(name, path, None)
        if spec is not None:
            return spec  # type: ignore[no-any-return]
    return None


def _real_module(name: str) -> types.ModuleType:
    """``name`` from the process's own import system (and ``sys.modules``)."""
    _real_import(name, None, None, ("__name__",), 0)
    return sys.modules[name]


def _load(home: _Copies, name: str) -> types.ModuleType:
    """The copy of module ``name`` in ``home``, executed now if it is not there yet.

    Called with ``home.lock`` held.  Mirrors ``importlib._bootstrap._find_and_load``
    with ``home.modules`` for ``sys.modules``.
    """
    found = home.modules.get(name)
    if found is not None:
        return found
    if _top(name) in home.shared:
        return _real_module(name)
    parent_name, _, child = name.rpartition(".")
    path = None
    parent = None
    if parent_name:
        parent = _load(home, parent_name)
        found = home.modules.get(name)  # the parent's own code may have imported it
        if found is not None:
            return found
        if _home(vars(parent)) is not home:
            return _real_module(name)  # the parent is the process's (an extension module)
        try:
            path = parent.__path__
        except AttributeError:
            msg = f"No module named {name!r}; {parent_name!r} is not a package"
            raise ModuleNotFoundError(msg, name=name) from None
    spec = _find_spec(name, path)
    if spec is None:
        raise ModuleNotFoundError(f"No module named {name!r}", name=name)
    namespace = spec.loader is None or spec.origin is None
    if not namespace and not isinstance(spec.loader, _COPYABLE_LOADERS):
        # An extension module runs once per process; so does whatever a
        # custom loader (zipimport, a test runner's rewriter) loads.
        module = _real_module(name)
    else:
        spec._thredo_copies = home  # type: ignore[attr-defined]  # how _home finds it
        module = importlib.util.module_from_spec(spec)
        if spec.submodule_search_locations is not None:
            # A plain list: a namespace package's own path type looks its
            # parent up in sys.modules, where the copy is not.
            module.__path__ = list(spec.submodule_search_locations)
        home.modules[name] = module
        try:
            if spec.loader is not None and hasattr(spec.loader, "exec_module"):
                spec.loader.exec_module(module)
        except BaseException:
            del home.modules[name]
            raise
        module = home.modules[name]
    if parent is not None:
        setattr(parent, child, module)
    return module


def _package(g: dict[str, Any]) -> str:
    """The package a relative import in globals ``g`` is relative to."""
    package = g.get("__package__")
    if package is not None:
        return str(package)
    spec = g.get("__spec__")
    if spec is not None:
        return str(spec.parent)
    name = str(g["__name__"])
    return name if "__path__" in g else name.rpartition(".")[0]


def _import_copy(
    home: _Copies, g: dict[str, Any], name: str, fromlist: Any, level: int
) -> types.ModuleType:
    """``__import__`` for an import that a copy (or the block's own code) runs."""
    full = importlib.util.resolve_name("." * level + name, _package(g)) if level else name
    with home.lock:
        module = _load(home, full)
        if not fromlist:
            if level == 0:
                return _load(home, _top(name))
            if not name:
                return module
            cut = len(name) - len(_top(name))
            return _load(home, module.__name__[: len(module.__name__) - cut])
        if hasattr(module, "__path__"):
            _handle_fromlist(home, module, fromlist)
        return module


def _handle_fromlist(home: _Copies, module: types.ModuleType, fromlist: Any) -> None:
    """Load the submodules ``from module import a, b`` names (as importlib does)."""
    for x in fromlist:
        if not isinstance(x, str):
            continue
        if x == "*":
            names = getattr(module, "__all__", None)
            if names is not None:
                _handle_fromlist(home, module, [n for n in names if n != "*"])
            continue
        if hasattr(module, x):
            continue
        sub = f"{module.__name__}.{x}"
        try:
            if _home(vars(module)) is home:
                _load(home, sub)
            else:
                _real_module(sub)
        except ModuleNotFoundError as e:
            if e.name != sub:
                raise


# -- the import hook -------------------------------------------------------------------

_lock = threading.Lock()  # guards the fields below and the hook's installation
_depth = 0  # scopes open in the process; the hook is installed while > 0
_scopes: dict[int, list[_Copies]] = {}  # thread ident -> the blocks it has open, innermost last
_real_import: Any = builtins.__import__  # builtins.__import__ when the first scope opened


def _import(
    name: str,
    globals: dict[str, Any] | None = None,
    locals: Any = None,
    fromlist: Any = (),
    level: int = 0,
) -> Any:
    # ``__import__("x")`` called by hand passes no globals: the caller's are meant
    # (requests.packages does this).
    g = globals if globals is not None else sys._getframe(1).f_globals
    home = _home(g)
    if home is None:
        stack = _scopes.get(threading.get_ident())
        if stack and _copied(str(g.get("__name__", "thredo"))):
            home = stack[-1]
    if home is None:
        return _real_import(name, globals, locals, fromlist, level)
    if level == 0 and name in FACADES:
        if name == "concurrent.futures" and not fromlist:
            return _CONCURRENT
        return FACADES[name]
    if level == 0 and not _copied(name):
        return _real_import(name, globals, locals, fromlist, level)
    return _import_copy(home, g, name, fromlist, level)


# -- the scope ----------------------------------------------------------------------------


def _enter() -> _Copies:
    global _depth, _real_import
    home = _Copies()
    with _lock:
        if _depth == 0:
            _real_import = builtins.__import__
            builtins.__import__ = _import  # type: ignore[assignment]
        _depth += 1
        _scopes.setdefault(threading.get_ident(), []).append(home)
    return home


def _exit(home: _Copies) -> None:
    global _depth
    with _lock:
        me = threading.get_ident()
        stack = _scopes[me]
        stack.remove(home)
        if not stack:
            del _scopes[me]
        _depth -= 1
        if _depth == 0:
            builtins.__import__ = _real_import


@contextlib.contextmanager
def patch() -> Iterator[None]:
    """Modules imported in the block are fresh copies on thredo's cancellable stdlib.

    A module imported in the block (and every network-doing module it
    imports) is a new copy whose ``socket``, ``ssl``, ``select``,
    ``selectors`` and ``time.sleep`` are thredo's; it keeps them after the
    block.  In thredo threads its blocking calls are then cancellable and
    obey ``timeout_after`` -- a total deadline over DNS, connect, TLS, send
    and receive; in plain threads they behave as the stdlib's.  Their
    ``concurrent.futures.ThreadPoolExecutor`` is :class:`thredo.ThreadPoolExecutor`.
    Copies imported before the block are not touched, and ``sys.modules`` is as it
    was once the block ends (module docstring: the mechanism and its
    limits; docs/patching.md: what is and is not covered).

    Example::

        with thredo.patch():
            import requests          # a thredo copy, kept by this name

        def fetch(url):              # in a thredo thread
            with thredo.timeout_after(5):
                return requests.get(url).text
    """
    home = _enter()
    try:
        yield
    finally:
        _exit(home)


#: The original thredo's name for :func:`patch`.
more_magic = patch
