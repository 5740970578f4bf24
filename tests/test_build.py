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


def _needs_a_compiler() -> None:
    cc = (sysconfig.get_config_var("CC") or "cc").split()[0]
    if shutil.which(cc) is None and shutil.which("cc") is None:
        pytest.skip("no C compiler here")
    if not os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")):
        pytest.skip("no Python.h here")


def test_the_build_records_the_hash_of_the_source_it_compiled(tmp_path: Path) -> None:
    from thredo._accel import stale as speedups_stale

    _needs_a_compiler()
    root = _tree(tmp_path)
    target = hatch_build.compile_speedups(str(root))
    assert target is not None
    module = root / target
    recorded = Path(str(module) + hatch_build.HASH_SUFFIX).read_text().strip()
    assert recorded == hatch_build.source_hash(str(root / "thredo" / "_speedups.c"))
    assert speedups_stale(str(module)) is None  # fresh
    with open(root / "thredo" / "_speedups.c", "a") as f:
        f.write("\n/* changed after the build */\n")
    why = speedups_stale(str(module))
    assert why is not None
    assert "changed since" in why


def test_a_module_without_its_hash_is_stale_and_one_without_a_source_is_trusted(
    tmp_path: Path,
) -> None:
    from thredo._accel import stale as speedups_stale

    module = tmp_path / ("_speedups" + (sysconfig.get_config_var("EXT_SUFFIX") or ".so"))
    module.write_bytes(b"")  # only its name matters here: nothing is loaded
    assert speedups_stale(str(module)) is None  # no _speedups.c beside it (a wheel without it)
    (tmp_path / "_speedups.c").write_text("/* source */\n")
    why = speedups_stale(str(module))
    assert why is not None
    assert "missing" in why  # built before hashes were recorded: not trusted


def test_thredo_ignores_a_stale_accelerator_with_a_warning(tmp_path: Path) -> None:
    import subprocess

    import thredo

    pkg = Path(thredo.__file__).parent
    built = sorted(pkg.glob("_speedups*.so"))
    built = [p for p in built if Path(str(p) + hatch_build.HASH_SUFFIX).exists()]
    if not built:
        pytest.skip("no accelerator built in this checkout")
    copy = tmp_path / "thredo"
    shutil.copytree(pkg, copy, ignore=shutil.ignore_patterns("__pycache__"))
    probe = (  # run in tmp_path: the copy is imported, not the checkout ("" leads sys.path)
        "import thredo.net.socket as s, thredo._sync as y, sys; "
        "assert s.__file__.startswith(sys.argv[1]), s.__file__; "
        "sys.stdout.write('C' if s._keepgil_recv is not None else 'pure'); "
        "sys.stdout.write(' C' if y._speedups is not None else ' pure')"
    )
    env = {**os.environ, "PYTHONPATH": str(tmp_path), "THREDO_KEEP_GIL": "1"}
    fresh = subprocess.run(
        [sys.executable, "-c", probe, str(tmp_path)],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (fresh.stdout, fresh.stderr) == ("C C", "")  # the copy as built: used, silently
    with open(copy / "_speedups.c", "a") as f:
        f.write("\n/* edited, not rebuilt */\n")
    stale = subprocess.run(
        [sys.executable, "-c", probe, str(tmp_path)],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert stale.returncode == 0, stale.stderr
    assert stale.stdout == "pure pure"  # sockets and Lock alike
    assert stale.stderr.count("C accelerator is stale") == 1  # said once
