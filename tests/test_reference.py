"""The reference (docs/reference/*.rst) lists every public name, so it cannot go stale.

No Sphinx here (CI builds the pages with warnings as errors): the .rst files
are read as text.  Every name of every public module's ``__all__`` must be
the target of a directive (``.. autofunction:: name``, ``.. py:data:: name``
...) under that module's ``.. module::`` line -- except, in the modules that
mirror a stdlib module, the names that *are* the stdlib's own object, which
the page covers with one sentence ("every other name ... is the stdlib's own
object").  The other way round, every documented name must exist, so a
rename that leaves the page behind fails too.  The defaults a user must be
able to find (issue 23.5) are checked to be stated.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

REFERENCE = Path(__file__).resolve().parent.parent / "docs" / "reference"

# public module -> the stdlib module it mirrors (None: no namesake)
PUBLIC = {
    "thredo": None,
    "thredo.net": None,
    "thredo.net.socket": "socket",
    "thredo.net.ssl": "ssl",
    "thredo.net.select": "select",
    "thredo.net.selectors": "selectors",
    "thredo.net.subprocess": "subprocess",
    "thredo.requests": None,
    "thredo.monitor": None,
}
STDLIB_SENTENCE = re.compile(
    r"\*\*every\s+other\s+name\*\*.*?is\s+the\s+stdlib's\s+own\s+object", re.S
)
_DIRECTIVE = re.compile(r"^\.\. (?:auto|py:)?(\w+):: *(.*)$")
_CONTINUATION = re.compile(r"^ {3,}([A-Za-z_][\w.]*)(?:\(.*\))?\s*$")


def documented() -> tuple[dict[str, set[str]], dict[str, str]]:
    """Module -> the names documented under its ``.. module::``; module -> its page's text."""
    names: dict[str, set[str]] = {}
    pages: dict[str, str] = {}
    for page in sorted(REFERENCE.glob("*.rst")):
        text = page.read_text()
        module = None
        in_signatures = False  # a directive's extra signature lines (py:function a() / b())
        for line in text.splitlines():
            m = _DIRECTIVE.match(line)
            if m:
                kind, target = m.groups()
                if kind == "module":
                    module = target.strip()
                    names.setdefault(module, set())
                    pages[module] = pages.get(module, "") + text
                    in_signatures = False
                    continue
                if kind in ("toctree", "list-table") or module is None:
                    in_signatures = False
                    continue
                names[module].add(re.split(r"[(\s]", target.strip(), maxsplit=1)[0])
                in_signatures = True
                continue
            c = _CONTINUATION.match(line) if in_signatures else None
            if c and not line.lstrip().startswith(":"):
                names[module or ""].add(c.group(1))
            else:
                in_signatures = False
    return names, pages


NAMES, PAGES = documented()


def test_every_public_module_has_a_page() -> None:
    assert set(PUBLIC) <= set(NAMES), set(PUBLIC) - set(NAMES)


@pytest.mark.parametrize("modname", sorted(PUBLIC))
def test_every_exported_name_is_documented(modname: str) -> None:
    module = importlib.import_module(modname)
    stdname = PUBLIC[modname]
    std = importlib.import_module(stdname) if stdname else None
    missing = []
    for name in module.__all__:
        if name in NAMES[modname] or f"{modname}.{name}" in NAMES:
            continue  # documented here, or a submodule with a page of its own
        if std is not None and getattr(module, name) is getattr(std, name, object()):
            continue  # the stdlib's own object, covered by the page's sentence
        missing.append(name)
    assert not missing, f"{modname}: not in docs/reference/: {missing}"
    if std is not None:
        page = PAGES[modname]
        assert STDLIB_SENTENCE.search(page), f"{modname}'s page must say the rest is stdlib"


@pytest.mark.parametrize("modname", sorted(PUBLIC))
def test_every_documented_name_exists(modname: str) -> None:
    module = importlib.import_module(modname)
    stale = sorted(n for n in NAMES[modname] if n.split(".")[0] not in module.__all__)
    assert not stale, f"{modname}: documented but not exported: {stale}"


def test_the_defaults_are_stated() -> None:
    text = (REFERENCE / "index.rst").read_text()
    assert "after **1 second** ``SIGKILL``" in text  # the subprocess grace period
    assert "$XDG_RUNTIME_DIR/thredo/PID.sock" in text  # the monitor's socket
    assert "/tmp/thredo-UID/PID.sock" in text
    assert "quarter of the soft" in text  # the eventfd budget


def test_the_stated_defaults_are_the_code_s(monkeypatch: pytest.MonkeyPatch) -> None:
    """The values index.rst states, read from where the code keeps them."""
    import os
    import tempfile

    from thredo import _monitor
    from thredo._core import _fdwait
    from thredo.net import subprocess as tsubprocess

    grace = getattr(tsubprocess, "CANCEL_GRACE", None)
    if grace is not None:  # the tunable may move; the documented value may not change silently
        assert grace == 1.0
    assert _fdwait.EVENTFD_SHARE == 0.25
    assert _fdwait.POOL_MAX == 64
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    expected = os.path.join(tempfile.gettempdir(), f"thredo-{os.getuid()}", "7.sock")
    assert _monitor.socket_path(7) == expected
    monkeypatch.setenv("XDG_RUNTIME_DIR", "/run/user/1000")
    assert _monitor.socket_path(7) == "/run/user/1000/thredo/7.sock"


def test_the_readme_states_them_too() -> None:
    text = " ".join((REFERENCE.parent.parent / "README.md").read_text().split())
    assert "SIGTERM, then after a 1 s grace period SIGKILL" in text
    assert "`$XDG_RUNTIME_DIR/thredo/PID.sock`, or `/tmp/thredo-UID/PID.sock`" in text
    assert "past a quarter of `RLIMIT_NOFILE` in eventfds" in text
    assert "A second Ctrl-C makes `run()` raise `KeyboardInterrupt` at once" in text
