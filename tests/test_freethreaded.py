"""Free-threaded CPython (3.13t and later): the accelerator and the per-run state without a GIL.

Two parts:

* **On this interpreter** (any build): what decides the path on a
  free-threaded build -- ``_accel.gil_disabled()`` and the sockets' choice
  of the stdlib recv/send when the GIL is off -- and the accelerator's
  multi-phase init (it refuses subinterpreters, 3.12+: its types are static).
* **On a free-threaded interpreter, when the machine has one**: a copy of
  the package is built with it (``hatch_build.compile_speedups``), and the
  core, sync and socket test files run there twice, with the C accelerator
  (checked to load *and* to leave the GIL off: it declares
  ``Py_MOD_GIL_NOT_USED``) and on the pure path (``THREDO_PURE=1``).
  Looked for: ``$THREDO_FREE_THREADED_PYTHON``, ``python3.13t`` /
  ``python3.14t`` / ``python3t`` on ``PATH``, ``~/.pyenv/versions/*t``.
  Without one these tests are skipped, saying so; with one that lacks the
  suite's dependencies (pytest, pytest-timeout, curio-compat), skipped
  naming what is missing.
"""

from __future__ import annotations

import errno
import glob
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from thredo import _accel
from thredo.net import socket as tsocket

ROOT = Path(__file__).resolve().parent.parent
# The core, sync and socket checks (each file runs under the leak check of conftest.py).
CHECKS = [
    "tests/test_wait.py",
    "tests/test_fdwait.py",
    "tests/test_sync.py",
    "tests/test_lock_impl.py",
    "tests/test_socket.py",
    "tests/test_fastpath.py",
]
NEEDED = ("pytest", "pytest_timeout", "curio")


def _is_free_threaded(python: str) -> bool:
    try:
        out = subprocess.run(
            [python, "-c", "import sysconfig; print(sysconfig.get_config_var('Py_GIL_DISABLED'))"],
            capture_output=True,
            text=True,
            timeout=30,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return False
    return out == "1"


def find_free_threaded() -> str | None:
    """A free-threaded CPython on this machine, or None."""
    candidates = [os.environ.get("THREDO_FREE_THREADED_PYTHON", "")]
    candidates += [shutil.which(n) or "" for n in ("python3.13t", "python3.14t", "python3t")]
    home = os.path.expanduser("~/.pyenv/versions")
    candidates += sorted(glob.glob(os.path.join(home, "*t", "bin", "python3*t")))
    for c in candidates:
        if c and os.access(c, os.X_OK) and _is_free_threaded(c):
            return c
    return None


FT = find_free_threaded()
NO_FT = (
    "no free-threaded CPython on this machine (looked for $THREDO_FREE_THREADED_PYTHON, "
    "python3.13t/python3.14t/python3t on PATH, ~/.pyenv/versions/*t)"
)


# -- on this interpreter -----------------------------------------------------------


def test_gil_disabled_reports_this_build() -> None:
    assert _accel.free_threaded_build() == bool(sysconfig.get_config_var("Py_GIL_DISABLED"))
    gil_on = getattr(sys, "_is_gil_enabled", lambda: True)()
    assert _accel.gil_disabled() == (_accel.free_threaded_build() and not gil_on)


def test_sockets_take_the_stdlib_path_when_the_gil_is_off(monkeypatch: pytest.MonkeyPatch) -> None:
    # The C recv/send only save a GIL hand-off: none to save without a GIL.
    monkeypatch.delenv("THREDO_KEEP_GIL", raising=False)
    monkeypatch.delenv("THREDO_NOGIL", raising=False)
    monkeypatch.setattr(_accel, "gil_disabled", lambda: True)
    assert tsocket._keepgil_enabled() is False
    monkeypatch.setenv("THREDO_KEEP_GIL", "1")  # still forced on by the setting (safe either way)
    assert tsocket._keepgil_enabled() is True


def test_close_fd_closes_with_the_gil_kept_and_reports_ebadf() -> None:
    speedups = _accel.load()
    if speedups is None:
        pytest.skip("the C accelerator is not built here")
    efd = os.eventfd(0, os.EFD_CLOEXEC)
    speedups.close_fd(efd)
    with pytest.raises(OSError, match="Bad file descriptor") as e:
        os.fstat(efd)
    assert e.value.errno == errno.EBADF
    with pytest.raises(OSError, match="Bad file descriptor"):
        speedups.close_fd(efd)  # EBADF raises, as os.close


@pytest.mark.skipif(sys.version_info < (3, 12), reason="subinterpreter slots: Python 3.12+")
def test_accelerator_refuses_a_subinterpreter() -> None:
    if _accel.load() is None:
        pytest.skip("the C accelerator is not built here")
    interp = pytest.importorskip(
        "_xxsubinterpreters" if sys.version_info < (3, 13) else "_interpreters"
    )
    code = (
        "try:\n"
        "    import thredo._speedups\n"
        "except ImportError as e:\n"
        "    assert 'subinterpreters' in str(e), e\n"
        "else:\n"
        "    raise AssertionError('loaded in a subinterpreter')\n"
    )
    sub = interp.create()
    try:
        err = interp.run_string(sub, code)  # 3.12 raises on failure, 3.13 returns it
        assert err is None, err
    finally:
        interp.destroy(sub)


# -- on a free-threaded interpreter -------------------------------------------------


@pytest.fixture(scope="module")
def ft_tree(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    """(the free-threaded python, a copy of the checkout with the accelerator built by it)."""
    if FT is None:
        pytest.skip(NO_FT)
    missing = [
        m
        for m in NEEDED
        if subprocess.run([FT, "-c", f"import {m}"], capture_output=True, timeout=60).returncode
    ]
    if missing:
        pytest.skip(f"{FT} is free-threaded but lacks {', '.join(missing)} (pip install them)")
    tree = tmp_path_factory.mktemp("ft")
    ignore = shutil.ignore_patterns("*.so", "*.so.sha256", "__pycache__")
    shutil.copytree(ROOT / "thredo", tree / "thredo", ignore=ignore)
    shutil.copytree(ROOT / "tests", tree / "tests", ignore=ignore)
    for f in ("conftest.py", "pyproject.toml", "hatch_build.py"):
        shutil.copy(ROOT / f, tree / f)
    build = subprocess.run(
        [
            FT,
            "-c",
            "import hatch_build, sys; print(hatch_build.compile_speedups(sys.argv[1]))",
            ".",
        ],
        cwd=tree,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert build.returncode == 0, build.stderr
    assert build.stdout.strip() != "None", build.stderr  # it did not build
    return FT, tree


def _run(ft: str, tree: Path, args: list[str], **env: str) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, "PYTHONPATH": str(tree), "PYTHON_GIL": "0", **env}
    return subprocess.run(
        [ft, *args], cwd=tree, env=full, capture_output=True, text=True, timeout=900
    )


def test_the_accelerator_loads_and_leaves_the_gil_off(ft_tree: tuple[str, Path]) -> None:
    ft, tree = ft_tree
    code = (
        "import sys, thredo\n"
        "from thredo import _accel\n"
        "from thredo.net import socket as s\n"
        "assert _accel.load() is not None, 'accelerator not loaded'\n"
        "assert not sys._is_gil_enabled(), 'the GIL came back on'\n"
        "assert _accel.gil_disabled()\n"
        "assert s._keepgil_recv is None, 'GIL-keeping recv chosen without a GIL'\n"
        "print('ok')\n"
    )
    # PYTHON_GIL unset: the interpreter's default, which an extension
    # without Py_MOD_GIL_NOT_USED would turn on (with a RuntimeWarning).
    env = {k: v for k, v in os.environ.items() if k != "PYTHON_GIL"}
    env["PYTHONPATH"] = str(tree)
    r = subprocess.run(
        [ft, "-W", "error::RuntimeWarning", "-c", code],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "ok", r.stderr


@pytest.mark.parametrize("path", ["C", "pure"])
def test_core_sync_and_socket_checks_pass_without_the_gil(
    ft_tree: tuple[str, Path], path: str
) -> None:
    ft, tree = ft_tree
    env = {"THREDO_PURE": "1", "THREDO_KEEP_GIL": "0"} if path == "pure" else {}
    r = _run(ft, tree, ["-m", "pytest", "-q", "-p", "no:xdist", *CHECKS], **env)
    assert r.returncode == 0, r.stdout[-6000:] + r.stderr[-2000:]
