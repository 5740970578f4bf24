"""Public-home metadata for exported objects (trio's ``fixup_module_metadata``)."""

from __future__ import annotations

__all__ = ("fixup_module_metadata",)


def fixup_module_metadata(
    namespace: dict[str, object], public: str, names: tuple[str, ...]
) -> None:
    """Make exported objects report their public home (trio's ``fixup_module_metadata``).

    So tracebacks and reprs say ``thredo.ThreadTimeout``, not
    ``thredo._core.ThreadTimeout``.  Objects from outside thredo (the
    stdlib's ``queue.ShutDown``, curio's ``CancelledError``) keep theirs.
    """
    seen: set[int] = set()

    def fix(obj: object, qualname: str) -> None:
        if id(obj) in seen:
            return
        seen.add(id(obj))
        module = getattr(obj, "__module__", None)
        if not isinstance(module, str) or not module.startswith("thredo."):
            return
        inner = module[len(public) + 1 :].split(".") if module.startswith(public + ".") else []
        if any(not part.startswith("_") for part in inner):
            return  # lives in a public submodule of its own (thredo.net.socket)
        if not module.split(".")[-1].startswith("_"):
            return  # already public
        try:
            obj.__module__ = public
        except (AttributeError, TypeError):
            return
        if hasattr(obj, "__qualname__"):
            obj.__qualname__ = qualname
        if isinstance(obj, type):
            for attr, value in vars(obj).items():
                if not attr.startswith("__"):
                    target = value.fget if isinstance(value, property) else value
                    fix(target, f"{qualname}.{attr}")

    for name in names:
        fix(namespace[name], name)
