"""hatch_build.py: the optional C accelerator builds where it can and never breaks an install."""

from __future__ import annotations

import importlib.util
import os
import shutil
import socket
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
import hatch_build  # noqa: E402

sys.path.remove(str(ROOT))


def _tree(tmp_path: Path) -> Path:
    (tmp_path / "thredo").mkdir()
    shutil.copy(ROOT / "thredo" / "_speedups.c", tmp_path / "thredo" / "_speedups.c")
    return tmp_path


def test_no_compiler_means_no_accelerator_and_no_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: None)
    assert hatch_build.compile_speedups(str(_tree(tmp_path))) is None
    assert "pure-Python path" in capsys.readouterr().err
    assert sorted(p.name for p in (tmp_path / "thredo").iterdir()) == ["_speedups.c"]


def test_a_failing_compiler_means_no_accelerator_and_no_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    real = sysconfig.get_config_var
    monkeypatch.setattr(sysconfig, "get_config_var", lambda n: "false" if n == "CC" else real(n))
    assert hatch_build.compile_speedups(str(_tree(tmp_path))) is None
    assert "did not build" in capsys.readouterr().err
    assert sorted(p.name for p in (tmp_path / "thredo").iterdir()) == ["_speedups.c"]


def test_thredo_no_compile_skips_the_build(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("THREDO_NO_COMPILE", "1")
    assert hatch_build.compile_speedups(str(_tree(tmp_path))) is None


def test_where_a_compiler_exists_the_accelerator_builds_and_works(tmp_path: Path) -> None:
    cc = (sysconfig.get_config_var("CC") or "cc").split()[0]
    if shutil.which(cc) is None and shutil.which("cc") is None:
        pytest.skip("no C compiler here")
    if not os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")):
        pytest.skip("no Python.h here")
    target = hatch_build.compile_speedups(str(_tree(tmp_path)))
    assert target is not None
    name = "thredo_build_test._speedups"  # not thredo's own (its init symbol: the last part)
    spec = importlib.util.spec_from_file_location(name, tmp_path / target)
    assert spec is not None
    assert spec.loader is not None
    try:
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
    finally:
        sys.modules.pop(name, None)
    a, b = socket.socketpair()
    with a, b:
        assert mod.recv(a.fileno(), 10, 0) is None
        assert mod.send(b.fileno(), memoryview(b"abc"), 0) == 3
        assert mod.recv(a.fileno(), 10, 0) == b"abc"
        with pytest.raises(ValueError, match="negative"):
            mod.recv(a.fileno(), -1, 0)
        with pytest.raises(TypeError):
            mod.recv(a.fileno(), 10)
