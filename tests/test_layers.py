"""The layering written at the top of thredo/__init__.py is the layering of the code.

Every module's imports (read with ``ast``; imports under ``if TYPE_CHECKING:``
are for annotations only and are skipped) must point at modules of a lower
layer of that table.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

import thredo

PACKAGE = Path(thredo.__file__).parent


def layer_table() -> dict[str, int]:
    """``{"_wait": 2, "net.socket": 7, "thredo": 11, ...}`` from the package docstring."""
    doc = thredo.__doc__ or ""
    table = {
        name: int(layer)
        for layer, name in re.findall(r"^\s*#\s+(\d+)\s+([\w.]+)\s{2,}", doc, re.MULTILINE)
    }
    assert table, "no layering table in thredo/__init__.py's docstring"
    return table


def module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE).with_suffix("")
    parts = [p for p in rel.parts if p != "__init__"]
    return ".".join(parts) if parts else "thredo"


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imports_of(source: str, name: str, table: dict[str, int]) -> set[str]:
    """The thredo modules (table names) that module ``name``'s ``source`` imports."""
    if name == "thredo":
        package: list[str] = []
    elif name == "net":
        package = ["net"]
    else:
        package = name.split(".")[:-1]
    tree = ast.parse(source)
    skipped: set[int] = set()  # nodes under `if TYPE_CHECKING:`
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for stmt in node.body:
                skipped.update(id(n) for n in ast.walk(stmt))
    found: set[str] = set()

    def add(dotted: list[str]) -> None:
        # The longest prefix that names a module of the table.
        for n in range(len(dotted), 0, -1):
            key = ".".join(dotted[:n])
            if key in table:
                found.add(key)
                return

    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.ImportFrom):
            module = node.module.split(".") if node.module else []
            if node.level:
                base = package[: len(package) - (node.level - 1)]
                target = [*base, *module]
            elif module[:1] == ["thredo"]:
                target = module[1:]
            else:
                continue
            for alias in node.names:  # from . import net / from .net import socket
                add([*target, alias.name])
            if node.module is not None and target:
                add(target)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] == "thredo":
                    add(parts[1:] or ["thredo"])
    found.discard(name)
    return found


def violations(name: str, source: str, table: dict[str, int]) -> list[str]:
    """Imports of ``name`` that do not point to a lower layer."""
    mine = table[name]
    return [
        f"{name} (layer {mine}) imports {dep} (layer {table[dep]})"
        for dep in sorted(imports_of(source, name, table))
        if table[dep] >= mine
    ]


def package_modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


def test_every_module_is_in_the_table() -> None:
    table = layer_table()
    names = {module_name(p) for p in package_modules()}
    assert names - set(table) == set(), "modules missing from the layering table"
    assert set(table) - names == set(), "the table names modules that do not exist"


@pytest.mark.parametrize("path", package_modules(), ids=module_name)
def test_imports_point_down(path: Path) -> None:
    table = layer_table()
    assert violations(module_name(path), path.read_text(), table) == []


def test_the_check_sees_imports() -> None:
    """The checker finds the real imports (so an empty result means something)."""
    table = layer_table()
    source = (PACKAGE / "_thread.py").read_text()
    assert {"_wait", "_errors", "_runctx", "_timeouts"} <= imports_of(source, "_thread", table)
    source = (PACKAGE / "net" / "_servers.py").read_text()
    assert {"net.socket", "_thread"} <= imports_of(source, "net._servers", table)


@pytest.mark.parametrize(
    "planted",
    [
        "from ._thread import Thread\n",
        "from . import _kernel\n",
        "import thredo._sync\n",
        "from .net import socket\n",
        "def f():\n    from ._queue import Queue\n",
        "try:\n    from ._kernel import run\nexcept ImportError:\n    pass\n",
    ],
)
def test_a_planted_upward_import_fails(planted: str) -> None:
    table = layer_table()
    source = (PACKAGE / "_wait.py").read_text() + "\n" + planted
    assert violations("_wait", source, table) != []


def test_type_checking_imports_are_allowed() -> None:
    table = layer_table()
    source = (
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from ._thread import Thread\n"
    )
    assert violations("_wait", source, table) == []


def test_same_layer_imports_fail() -> None:
    table = layer_table()
    assert table["_sync"] == table["_thread"]
    assert violations("_sync", "from ._thread import Thread\n", table) != []
