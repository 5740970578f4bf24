"""The layering written at the top of thredo/__init__.py is the layering of the code.

Checked by what each module *uses*, read with ``ast``, however the import is
spelled:

* **Dependencies.**  Importing ``thredo.a.b`` runs ``a/__init__.py`` first,
  so a module that imports ``thredo.net.select`` (by any spelling) depends
  on ``net.select`` *and* on ``net`` -- and so on everything ``net``'s
  ``__init__`` imports.  (The packages that contain the importer itself are
  already running, and are not counted.)  Each module's layer must be
  exactly one more than the highest layer it depends on (0 with none):
  the table is tight, so a number in it says what the module needs.
* **The core's surface.**  Outside ``thredo._core`` a module imports no
  ``_core._x`` submodule and uses only names of ``thredo._core.__all__``
  (``from ._core import x``, ``_core.x``, ``thredo._core.x`` alike).
* **Private names.**  No module uses another module's ``_name`` (an
  attribute, or ``from m import _name``), except a private *module* (that is
  how the layout is built: ``from . import _monitor``).
* **curio.**  Only the core imports curio.

Imports under ``if TYPE_CHECKING:`` are for annotations: they are not
dependencies, but the other rules apply to them.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest

import thredo
import thredo._core

PACKAGE = Path(thredo.__file__).parent
COMPILED = {"_speedups"}  # extension modules (no .py): leaves that import nothing of thredo
SURFACE = set(thredo._core.__all__)


def layer_table() -> dict[str, int]:
    """``{"_core._wait": 2, "net.socket": 5, "thredo": 11, ...}`` from the package docstring."""
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


def package_modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


def all_modules() -> set[str]:
    return {module_name(p) for p in package_modules()} | COMPILED


def _parts(name: str) -> list[str]:
    return [] if name == "thredo" else name.split(".")


def _name(parts: list[str]) -> str:
    return ".".join(parts) if parts else "thredo"


def _is_package(name: str) -> bool:
    return name == "thredo" or (PACKAGE / Path(*_parts(name)) / "__init__.py").exists()


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


@dataclass
class Uses:
    """What one module's source uses of thredo (and whether it imports curio)."""

    deps: set[str] = field(default_factory=set)  # modules it makes run (layers)
    names: set[tuple[str, str]] = field(default_factory=set)  # (module, name) it reaches
    imported: set[str] = field(default_factory=set)  # modules it imports directly, any context
    curio: list[str] = field(default_factory=list)  # its imports of curio


def uses_of(source: str, name: str, modules: set[str]) -> Uses:
    """What module ``name`` (a table name) uses, given its ``source``."""
    me = _parts(name)
    package = me if _is_package(name) else me[:-1]
    ancestors = {_name(me[:n]) for n in range(len(me))}  # packages running already
    tree = ast.parse(source)
    typing_only: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for stmt in node.body:
                typing_only.update(id(n) for n in ast.walk(stmt))
    uses = Uses()
    bound: dict[str, str] = {}  # local name -> the thredo module it is bound to

    def depend(target: str, node: ast.AST) -> None:
        uses.imported.add(target)
        if id(node) in typing_only:
            return
        parts = _parts(target)
        for n in range(len(parts) + 1):  # the module and every package above it
            dep = _name(parts[:n])
            if dep not in ancestors and dep != name:
                uses.deps.add(dep)

    def is_module(parts: list[str]) -> bool:
        return _name(parts) in modules

    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            module = node.module.split(".") if node.module else []
            if node.level:
                base = package[: len(package) - (node.level - 1)]
                target = [*base, *module]
            elif module[:1] == ["thredo"]:
                target = module[1:]
            else:
                if module[:1] == ["curio"]:
                    uses.curio.append(f"from {node.module} import ...")
                continue
            depend(_name(target), node)
            for alias in node.names:
                sub = [*target, alias.name]
                if is_module(sub):  # from . import net / from ._core import _wait
                    depend(_name(sub), node)
                    bound[alias.asname or alias.name] = _name(sub)
                else:
                    uses.names.add((_name(target), alias.name))
        elif isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] == "curio":
                    uses.curio.append(f"import {alias.name}")
                if parts[0] != "thredo":
                    continue
                depend(_name(parts[1:]), node)
                if alias.asname:
                    bound[alias.asname] = _name(parts[1:])
                else:
                    bound["thredo"] = "thredo"

    # Attribute chains on bound modules: thredo.net.select.x, _core._wait._local.
    for node in ast.walk(tree):
        if not isinstance(node, ast.Attribute):
            continue
        chain: list[str] = []
        base: ast.expr = node
        while isinstance(base, ast.Attribute):
            chain.append(base.attr)
            base = base.value
        if not isinstance(base, ast.Name) or base.id not in bound:
            continue
        chain.reverse()
        parts = _parts(bound[base.id])
        for attr in chain:
            if is_module([*parts, attr]):
                parts = [*parts, attr]
                uses.imported.add(_name(parts))
                continue
            uses.names.add((_name(parts), attr))
            break
    return uses


def _in_core(name: str) -> bool:
    return name == "_core" or name.startswith("_core.")


def violations(name: str, source: str, table: dict[str, int]) -> list[str]:
    """Every rule of the module docstring that ``name``'s ``source`` breaks."""
    modules = all_modules() | set(table)
    uses = uses_of(source, name, modules)
    found: list[str] = []
    mine = table[name]
    for dep in sorted(uses.deps):
        if dep not in table:
            found.append(f"{name} depends on {dep}, which is not in the table")
        elif table[dep] >= mine:
            found.append(f"{name} (layer {mine}) depends on {dep} (layer {table[dep]})")
    if not _in_core(name):
        for mod in sorted(uses.imported):
            if _in_core(mod) and mod != "_core":
                found.append(f"{name} imports the core's module {mod} (use thredo._core)")
        for mod, attr in sorted(uses.names):
            if mod == "_core" and attr not in SURFACE:
                found.append(f"{name} uses {attr}, not a name of the core's surface")
        found.extend(f"{name} imports curio ({how}): only the core may" for how in uses.curio)
    for mod, attr in sorted(uses.names):
        if attr.startswith("_") and not attr.startswith("__") and mod != name:
            found.append(f"{name} uses the private name {mod}.{attr}")
    return found


def computed_layers(table: dict[str, int], sources: dict[str, str] | None = None) -> dict[str, int]:
    """Each module's layer from its dependencies alone: 1 + the highest (0 with none).

    ``sources`` replaces the text of the modules it names (a planted change).
    """
    sources = sources or {}
    modules = all_modules() | set(table)
    deps = {
        module_name(p): uses_of(
            sources.get(module_name(p), p.read_text()), module_name(p), modules
        ).deps
        for p in package_modules()
    }
    deps.update({c: set() for c in COMPILED})
    layers: dict[str, int] = {}

    def layer(m: str, seen: tuple[str, ...] = ()) -> int:
        if m in layers:
            return layers[m]
        assert m not in seen, f"import cycle: {' -> '.join((*seen, m))}"
        below = [layer(d, (*seen, m)) for d in deps.get(m, set())]
        layers[m] = 1 + max(below) if below else 0
        return layers[m]

    for m in deps:
        layer(m)
    return layers


def test_every_module_is_in_the_table() -> None:
    table = layer_table()
    names = all_modules()
    assert names - set(table) == set(), "modules missing from the layering table"
    assert set(table) - names == set(), "the table names modules that do not exist"


@pytest.mark.parametrize("path", package_modules(), ids=module_name)
def test_module_keeps_the_rules(path: Path) -> None:
    table = layer_table()
    assert violations(module_name(path), path.read_text(), table) == []


def loose_layers(
    table: dict[str, int], sources: dict[str, str] | None = None
) -> dict[str, tuple[int | None, int]]:
    """The modules whose declared layer is not the computed one: (declared, computed)."""
    computed = computed_layers(table, sources)
    return {m: (table.get(m), computed[m]) for m in computed if table.get(m) != computed[m]}


def test_the_table_is_tight() -> None:
    """Each declared layer is exactly 1 + the highest layer the module needs."""
    assert loose_layers(layer_table()) == {}, "declared layer != computed layer"


def test_the_check_sees_what_is_used() -> None:
    """The checker finds the real uses (so an empty result means something)."""
    modules = all_modules()
    uses = uses_of((PACKAGE / "_threads.py").read_text(), "_threads", modules)
    assert "_core" in uses.deps
    assert ("_core", "ThreadState") in uses.names
    uses = uses_of((PACKAGE / "net" / "_servers.py").read_text(), "net._servers", modules)
    assert {"net.socket", "_threads", "_core"} <= uses.deps
    assert "net" not in uses.deps  # its own package is already running
    uses = uses_of((PACKAGE / "_mixin.py").read_text(), "_mixin", modules)
    assert {"net", "net.select"} <= uses.deps  # import thredo.net.select runs net/__init__
    uses = uses_of((PACKAGE / "_core" / "_fdwait.py").read_text(), "_core._fdwait", modules)
    assert {"_core._wait", "_core._runctx"} <= uses.deps
    assert uses.curio  # the core may


@pytest.mark.parametrize(
    ("module", "planted"),
    [
        # an upward import, however spelled
        ("_core._wait", "from .._threads import Thread\n"),
        ("_core._wait", "from .. import _run\n"),
        ("_core._wait", "import thredo._sync\n"),
        ("_core._wait", "from ..net import socket\n"),
        ("_core._wait", "def f():\n    from .._queue import Queue\n"),
        ("_core._wait", "try:\n    from .._run import run\nexcept ImportError:\n    pass\n"),
        ("_sync", "from ._threads import Thread\n"),  # same layer
        # upward through a parent package: net._worker is low, but net/__init__ is not
        ("_introspect", "import thredo.net._worker\n"),
        ("_introspect", "from .net import _worker\n"),
        # a private name of the core, or a module of the core, used outside it
        ("_sync", "from ._core import _attention\n"),
        ("_sync", "from ._core._wait import Waiter\n"),
        ("_sync", "from ._core import _wait\n"),
        ("_sync", "import thredo._core._wait as w\n"),
        ("_sync", "from . import _core\nx = _core._wait._local\n"),
        ("_sync", "import thredo\nx = thredo._core._wait._local\n"),
        ("_sync", "from . import _core\nx = _core.not_a_surface_name\n"),
        ("net.socket", "from .._core import ThreadState, _local\n"),
        # a private name of any other module
        ("_monitor", "from ._introspect import _runs\n"),
        ("_monitor", "from . import _introspect\nx = _introspect._runs()\n"),
        # curio outside the core
        ("net.socket", "from curio.traps import _read_wait\n"),
        ("_sync", "import curio\n"),
        ("_queue", "from curio.errors import CancelledError\n"),
    ],
)
def test_a_planted_violation_fails(module: str, planted: str) -> None:
    table = layer_table()
    path = PACKAGE / Path(*module.split("."))
    path = path / "__init__.py" if path.is_dir() else path.with_suffix(".py")
    source = path.read_text()
    assert violations(module, source, table) == []
    assert violations(module, source + "\n" + planted, table) != []


def test_a_planted_dependency_makes_the_table_loose() -> None:
    """The tight check, run on planted sources, reports exactly the modules they move."""
    table = layer_table()
    select = (PACKAGE / "net" / "select.py").read_text()
    assert loose_layers(table, {"net.select": select}) == {}  # the real text: tight
    # A new dependency on a higher module (net.socket, layer 6): net.select now
    # needs 7, and net.selectors, above it, 8.
    wrong = loose_layers(table, {"net.select": select + "\nfrom .socket import socket\n"})
    assert wrong == {
        "net.select": (table["net.select"], table["net.socket"] + 1),
        "net.selectors": (table["net.selectors"], table["net.socket"] + 2),
    }
    # A module that needs less than its number says (its thredo imports gone).
    wrong = loose_layers(table, {"net.select": "import os\n"})
    assert wrong["net.select"] == (table["net.select"], 0)
    # A declared number that is off by one, with the sources unchanged.
    bumped = {**table, "net.select": table["net.select"] + 1}
    assert loose_layers(bumped) == {"net.select": (table["net.select"] + 1, table["net.select"])}


def test_type_checking_imports_are_not_dependencies() -> None:
    table = layer_table()
    source = (
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .._threads import Thread\n"
    )
    assert violations("_core._wait", source, table) == []
    source = "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from ._core import _local\n"
    assert violations("_sync", source, table) != []  # but privacy holds for them too
