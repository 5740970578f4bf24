"""The C accelerator ``thredo._speedups``, loaded once, or None.

The accelerator is optional (hatch_build.py builds it where a compiler
exists) and every part of it has a pure-Python twin.  Its users -- the
sockets' GIL-keeping recv/send (``net.socket``), the Lock fast path
(``_sync``) and the eventfd close (``_core._fdwait``) -- take it from
:func:`load`, so a stale build is refused in one place: an editable install
does not rebuild when ``_speedups.c`` changes, and a module built from
another source must never run.

Free-threaded CPython (3.13t): the module declares ``Py_MOD_GIL_NOT_USED``
(its state is atomics and write-once globals: docs/design.md, section 10),
so loading it does not turn the GIL back on.  :func:`gil_disabled` tells its
users whether the GIL is off, for the parts whose only purpose is the GIL:
``net.socket`` then leaves the GIL-keeping recv/send alone (releasing a GIL
that does not exist costs no hand-off).
"""

from __future__ import annotations

import hashlib
import os
import sys
import sysconfig
import warnings
from types import ModuleType

__all__ = ["load", "stale", "gil_disabled", "free_threaded_build"]

_UNSET = object()
_loaded: object = _UNSET  # the module, or None: decided once per process


def free_threaded_build() -> bool:
    """Whether this CPython was built free-threaded (``Py_GIL_DISABLED``, 3.13t)."""
    return bool(sysconfig.get_config_var("Py_GIL_DISABLED"))


def gil_disabled() -> bool:
    """Whether the GIL is off now: a free-threaded build not run with ``PYTHON_GIL=1``.

    On a free-threaded build an extension without ``Py_MOD_GIL_NOT_USED``,
    or ``-X gil=1``, turns the GIL on; ``sys._is_gil_enabled`` (3.13+) says.
    """
    if not free_threaded_build():
        return False
    is_enabled = getattr(sys, "_is_gil_enabled", None)
    return is_enabled is None or not is_enabled()


def stale(module_path: str) -> str | None:
    """Why the compiled accelerator at ``module_path`` must not be used, or None.

    Stale when the ``_speedups.c`` beside it differs from the one it was
    built from: hatch_build.py writes the source's SHA-256 to
    ``<module>.sha256``.  Without a source beside it (an installed wheel:
    nothing to compare) it is trusted.
    """
    source = os.path.join(os.path.dirname(module_path), "_speedups.c")
    try:
        with open(source, "rb") as f:
            digest = hashlib.sha256(f.read()).hexdigest()
    except FileNotFoundError:
        return None
    try:
        with open(module_path + ".sha256") as f:
            built_from = f.read().strip()
    except FileNotFoundError:
        return f"{module_path}.sha256 is missing"
    if built_from != digest:
        return f"{source} changed since {module_path} was built"
    return None


def load() -> ModuleType | None:
    """``thredo._speedups`` when it is built and fresh, else None (warned once if stale).

    Thread-safe: the import lock serialises the first import, and a second
    thread racing the assignment below computes the same answer.
    """
    global _loaded
    if _loaded is _UNSET:
        try:
            from . import _speedups as module
        except ImportError:
            _loaded = None
        else:
            why = stale(module.__file__ or "")
            if why is not None:
                warnings.warn(
                    f"thredo's C accelerator is stale, so it is ignored ({why}); thredo takes"
                    " the pure-Python path: rebuild it with `pip install -e .`",
                    RuntimeWarning,
                    stacklevel=3,
                )
                module = None  # type: ignore[assignment]
            _loaded = module
    return _loaded  # type: ignore[return-value]
