"""The C accelerator ``thredo._speedups``, loaded once, or None.

The accelerator is optional (hatch_build.py builds it where a compiler
exists) and every part of it has a pure-Python twin.  Both users -- the
sockets' GIL-keeping recv/send (``net.socket``) and the Lock fast path
(``_sync``) -- take it from :func:`load`, so a stale build is refused in one
place: an editable install does not rebuild when ``_speedups.c`` changes,
and a module built from another source must never run.
"""

from __future__ import annotations

import hashlib
import os
import warnings
from types import ModuleType

__all__ = ["load", "stale"]

_UNSET = object()
_loaded: object = _UNSET  # the module, or None: decided once per process


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
