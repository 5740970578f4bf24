"""ps() and dump(): what every live thredo thread is doing (issue 13; stub)."""

from __future__ import annotations

from typing import Any


class ThreadInfo:
    """One live thredo thread, as ps() reports it (stub)."""


def ps() -> list[ThreadInfo]:
    """The live thredo threads as records (stub)."""
    raise NotImplementedError("thredo.ps() is not built yet")


def dump(file: Any = None, *, format: str = "text", stacks: bool = False) -> None:
    """The tree of groups and threads (stub)."""
    raise NotImplementedError("thredo.dump() is not built yet")
