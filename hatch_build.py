"""Build hook: compile the optional C accelerator ``thredo/_speedups.c``.

hatchling runs this for every wheel, the editable one of the README's
``pip install -e`` included.  The extension is compiled in place, beside its
source (``thredo/_speedups.<EXT_SUFFIX>``: one file per Python version, so
the CI's several virtual environments share the checkout), and shipped as
a build artifact.  Where there is no C compiler or no ``Python.h`` the build
says so and goes on: thredo is complete without the accelerator (the
sockets then take the stdlib's recv/send, ``thredo.net.socket``; ``thredo.Lock``
is the pure-Python class, ``thredo._sync``).

Beside the module the build writes ``<module>.sha256``: the SHA-256 of the
``_speedups.c`` it was compiled from.  An editable install does not rebuild
when the C source changes, so the loader (``thredo.net.socket``) compares
that hash with the source next to the module and, when they differ (or the
hash file is missing), ignores the module with a warning and takes the
pure-Python path: a stale accelerator is never used.
"""

from __future__ import annotations

import hashlib
import os
import shlex
import shutil
import subprocess
import sys
import sysconfig
from typing import Any

try:
    from hatchling.builders.hooks.plugin.interface import BuildHookInterface
except ImportError:  # imported by the tests (compile_speedups), where hatchling may be absent
    BuildHookInterface = object

SOURCE = os.path.join("thredo", "_speedups.c")
HASH_SUFFIX = ".sha256"  # beside the module: the hash of the source it was built from


def source_hash(path: str) -> str:
    """The SHA-256 (hex) of the file at ``path``, as written beside the module."""
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def _say(why: str) -> None:
    print(f"thredo: {why}: the pure-Python path", file=sys.stderr, flush=True)


def compile_speedups(root: str) -> str | None:
    """Compile the accelerator in place; its path relative to ``root``, or None."""
    if os.environ.get("THREDO_NO_COMPILE", "") not in ("", "0"):
        return None
    suffix = sysconfig.get_config_var("EXT_SUFFIX") or ".so"
    target = os.path.join("thredo", "_speedups" + suffix)
    include = sysconfig.get_paths()["include"]
    cc = shlex.split(sysconfig.get_config_var("CC") or "cc")
    if shutil.which(cc[0]) is None:
        cc = ["cc"]
    if shutil.which(cc[0]) is None or not os.path.exists(os.path.join(include, "Python.h")):
        _say("no C compiler or no Python.h")
        return None
    digest = source_hash(os.path.join(root, SOURCE))  # before the compile: what it compiles
    cmd = [*cc, "-O2", "-fPIC", "-shared", "-I", include, SOURCE, "-o", target + ".tmp"]
    try:
        subprocess.run(cmd, cwd=root, check=True, capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.SubprocessError) as e:
        err = getattr(e, "stderr", "") or e
        _say(f"the C accelerator did not build ({err})")
        return None
    with open(os.path.join(root, target + HASH_SUFFIX + ".tmp"), "w") as f:  # then moved in
        f.write(digest + "\n")
    os.replace(os.path.join(root, target + ".tmp"), os.path.join(root, target))
    os.replace(
        os.path.join(root, target + HASH_SUFFIX + ".tmp"), os.path.join(root, target + HASH_SUFFIX)
    )
    return target


class CustomBuildHook(BuildHookInterface):  # type: ignore[misc]
    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        target = compile_speedups(self.root)
        if target is not None:
            build_data["artifacts"].append(target.replace(os.sep, "/"))
            build_data["artifacts"].append((target + HASH_SUFFIX).replace(os.sep, "/"))
            build_data["pure_python"] = False
            build_data["infer_tag"] = True
