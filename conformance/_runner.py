"""The parent: list, shard, run the workers, classify, print the table."""

from __future__ import annotations

import argparse
import atexit
import collections
import fnmatch
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ._suites import BY_NAME, MODES, SUITES

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
EXCLUDED = HERE / "excluded.txt"
EXPECTED = HERE / "expected.txt"

#: Seconds one test may take before it is stopped and counted as a timeout
#: (the slowest kept CPython test here, test_subprocess's
#: test_communicate_timeout_large_output, takes ~3 s on a loaded 2-CPU box).
TEST_LIMIT = 30.0
#: Extra seconds the parent waits past the limit for the worker's own
#: faulthandler exit before it kills the worker (a fixture that hangs
#: outside any test, a worker stuck at exit).
GRACE = 15.0

VERSION = f"{sys.version_info[0]}.{sys.version_info[1]}"


@dataclass(frozen=True)
class Rule:
    """One line of excluded.txt or expected.txt."""

    suite: str
    where: frozenset[str]  # modes and Python versions it applies to; empty: all
    pattern: str
    reason: str
    line: int

    def applies(self, suite: str, mode: str, test_id: str) -> bool:
        modes = self.where & set(MODES)
        versions = self.where - set(MODES)
        return (
            fnmatch.fnmatchcase(suite, self.suite)
            and (not modes or mode in modes)
            and (not versions or VERSION in versions)
            and fnmatch.fnmatchcase(test_id, self.pattern)
        )


def read_rules(path: Path) -> list[Rule]:
    """``suite | where | test-id pattern | reason`` lines; ``#`` starts a comment line."""
    rules = []
    for n, raw in enumerate(path.read_text().splitlines(), 1):
        if not raw.strip() or raw.lstrip().startswith("#"):
            continue
        parts = [p.strip() for p in raw.split("|", 3)]
        if len(parts) != 4 or not parts[3]:
            raise SystemExit(f"{path.name}:{n}: want 'suite | where | pattern | reason'")
        where = frozenset(w for w in parts[1].replace(",", " ").split() if w != "all")
        unknown = {w for w in where if w not in MODES and not w[0].isdigit()}
        if unknown:
            raise SystemExit(f"{path.name}:{n}: unknown mode {sorted(unknown)}")
        rules.append(Rule(parts[0], where, parts[2], parts[3], n))
    return rules


def _first(rules: list[Rule], suite: str, mode: str, test_id: str) -> Rule | None:
    for r in rules:
        if r.applies(suite, mode, test_id):
            return r
    return None


# -- workers -------------------------------------------------------------


_worker_dirs: list[str] = []


def _worker_dir() -> str:
    """A fresh temporary working directory for one worker (removed at exit)."""
    if not _worker_dirs:
        atexit.register(lambda: [shutil.rmtree(d, ignore_errors=True) for d in _worker_dirs])
    path = tempfile.mkdtemp(prefix="thredo-conformance-")
    _worker_dirs.append(path)
    return path


def _spawn(args: list[str], log: Any, stdin: Any = subprocess.DEVNULL) -> tuple[Any, int]:
    r, w = os.pipe()
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT)] + sys.path[1:]))
    env.pop("THREDO_MONITOR", None)
    proc = subprocess.Popen(
        [sys.executable, "-X", "faulthandler", "-m", "conformance", *args, str(w)],
        stdin=stdin,
        stdout=log,
        stderr=log,
        pass_fds=(w,),
        # A directory of its own: CPython's tests make fixed names in the cwd
        # (os_helper.temp_cwd's "tempcwd"), and workers run at the same time.
        cwd=_worker_dir(),
        env=env,
        start_new_session=True,
    )
    os.close(w)
    return proc, r


def _kill(proc: Any) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


def list_suite(suite: str) -> list[str]:
    with tempfile.TemporaryFile("w+") as log:
        proc, r = _spawn(["--list", suite], log)
        with os.fdopen(r) as f:
            data = f.read()
        if proc.wait(120) != 0 or not data:
            log.seek(0)
            raise RuntimeError(f"listing {suite} failed:\n{log.read()[-3000:]}")
    return list(json.loads(data))


@dataclass
class Outcome:
    suite: str
    mode: str
    test_id: str
    outcome: str  # passed failed error skipped timeout
    detail: str


def run_shard(suite: str, mode: str, ids: list[str], limit: float) -> list[Outcome]:
    """Run ``ids`` in workers; a worker that dies (a timeout) is replaced for the rest."""
    results: list[Outcome] = []
    todo = list(ids)
    while todo:
        done: set[str] = set()
        current: str | None = None
        with tempfile.TemporaryFile("w+") as log, tempfile.TemporaryFile("w+") as stdin:
            stdin.write("\n".join(todo))
            stdin.seek(0)
            proc, r = _spawn(["--worker", suite, mode, str(limit)], log, stdin)
            started = time.monotonic()
            buf = b""
            killed = False
            with os.fdopen(r, "rb", buffering=0) as f:
                while True:
                    left = started + limit + GRACE - time.monotonic()
                    if left <= 0:
                        _kill(proc)
                        killed = True
                        break
                    ready, _, _ = select.select([f], [], [], left)
                    if not ready:
                        continue
                    chunk = f.read(65536)
                    if not chunk:
                        break
                    buf += chunk
                    *lines, buf = buf.split(b"\n")
                    for line in lines:
                        ev = json.loads(line)
                        if ev["ev"] == "start":
                            current, started = ev["id"], time.monotonic()
                        else:
                            current = None
                            started = time.monotonic()
                            done.add(ev["id"])
                            results.append(
                                Outcome(suite, mode, ev["id"], ev["outcome"], ev["detail"])
                            )
            rc = proc.wait() if not killed else -9
            log.seek(0)
            tail = log.read()[-6000:]
        left_ids = [i for i in todo if i not in done]
        if current is not None:
            kind = "timeout" if killed or rc == 1 else "error"
            why = f"worker ended (rc {rc}) in this test; its output:\n{tail}"
            results.append(Outcome(suite, mode, current, kind, why))
            left_ids = [i for i in left_ids if i != current]
        elif left_ids and (rc != 0 or killed):
            # died outside a test (loading, a fixture): the rest cannot run here
            for i in left_ids:
                results.append(Outcome(suite, mode, i, "error", f"worker rc {rc}:\n{tail}"))
            left_ids = []
        elif left_ids:  # the worker ran to its end without starting them (class fixture)
            for i in left_ids:
                results.append(Outcome(suite, mode, i, "error", "not run (a fixture failed)"))
            left_ids = []
        todo = left_ids
    return results


# -- the table -----------------------------------------------------------

COLUMNS = ("passed", "failed", "errors", "skipped", "excluded", "xfail", "xpass", "new")


def main(argv: list[str]) -> int:
    if argv[:1] == ["--worker"]:
        from . import _worker

        return _worker.main(argv[1], argv[2], int(argv[4]), float(argv[3]))
    if argv[:1] == ["--list"]:
        from . import _worker

        with os.fdopen(int(argv[2]), "w") as out:
            json.dump(_worker.list_ids(argv[1]), out)
        return 0

    p = argparse.ArgumentParser(prog="python -m conformance", description=__doc__)
    p.add_argument("--stdlib", action="store_true", help="the calibration only")
    p.add_argument("--calibrate", action="store_true", help="thredo's modes and the calibration")
    p.add_argument("--mode", action="append", choices=("thread", "run"), help="thredo modes")
    p.add_argument("--suite", action="append", choices=sorted(BY_NAME), help="default: all")
    p.add_argument("-k", dest="pattern", help="only test ids matching this fnmatch pattern")
    p.add_argument("-j", "--jobs", type=int, default=max(2, 2 * (os.cpu_count() or 1)))
    p.add_argument("--limit", type=float, default=TEST_LIMIT, help="seconds per test")
    p.add_argument("-v", "--verbose", action="store_true", help="every failure's traceback")
    p.add_argument("--json", help="write every outcome to this file")
    opts = p.parse_args(argv)

    t0 = time.monotonic()
    try:
        import test.support  # noqa: F401
        import test.test_select  # noqa: F401
    except ImportError:
        print(
            f"conformance: {sys.executable} (Python {VERSION}) has no CPython test "
            "package (`import test.test_select` fails): skipped"
        )
        return 0

    modes = ["stdlib"] if opts.stdlib else list(opts.mode or ("thread", "run"))
    if opts.calibrate:
        modes = ["stdlib", *modes]
    suites = [BY_NAME[s] for s in opts.suite] if opts.suite else list(SUITES)
    excluded = read_rules(EXCLUDED)
    expected = read_rules(EXPECTED)

    with ThreadPoolExecutor(opts.jobs) as ex:
        listed = dict(
            zip([s.name for s in suites], ex.map(lambda s: list_suite(s.name), suites), strict=True)
        )
        counts: dict[tuple[str, str], collections.Counter[str]] = {}
        tasks = []
        for s in suites:
            for mode in modes:
                c = counts.setdefault((s.name, mode), collections.Counter())
                if mode != "stdlib" and mode not in s.modes:
                    continue
                ids = []
                for i in listed[s.name]:
                    if opts.pattern and not fnmatch.fnmatchcase(i, opts.pattern):
                        continue
                    if _first(excluded, s.name, mode, i):
                        c["excluded"] += 1
                    else:
                        ids.append(i)
                n = max(1, min(s.shards, len(ids) // 5 or 1))
                for k in range(n):
                    if ids[k::n]:
                        tasks.append((s.shards, s.name, mode, ids[k::n]))
        tasks.sort(key=lambda t: -t[0])  # the slow suites first
        futures = [ex.submit(run_shard, n, m, ids, opts.limit) for _, n, m, ids in tasks]
        outcomes = [o for f in futures for o in f.result()]

    new: list[tuple[Outcome, str]] = []
    xpass: list[tuple[Outcome, Rule]] = []
    xfail: dict[str, list[Outcome]] = collections.defaultdict(list)
    for o in sorted(outcomes, key=lambda o: (o.suite, o.mode, o.test_id)):
        c = counts[(o.suite, o.mode)]
        bad = o.outcome in ("failed", "error", "timeout")
        rule = None if o.mode == "stdlib" else _first(expected, o.suite, o.mode, o.test_id)
        if rule is not None and bad:
            c["xfail"] += 1
            xfail[rule.reason.split(":", 1)[0]].append(o)
        elif rule is not None and o.outcome == "passed":
            c["xpass"] += 1
            xpass.append((o, rule))
        elif bad:
            c["new"] += 1
            new.append((o, o.outcome))
        c[{"error": "errors", "timeout": "errors"}.get(o.outcome, o.outcome)] += 1

    wall = time.monotonic() - t0
    _table(suites, modes, counts)
    if xfail:
        print("\nExpected failures (expected.txt), by the issue item that owns them:")
        for reason, os_ in sorted(xfail.items()):
            print(f"  {reason}: {len(os_)}")
            if opts.verbose:
                for o in os_:
                    print(f"      {o.mode:6} {o.test_id} ({o.outcome})")
    if xpass:
        print("\nUnexpectedly passing (listed in expected.txt; prune the line):")
        for o, rule in xpass:
            print(f"  {o.mode:6} {o.test_id}  (expected.txt:{rule.line})")
    if new:
        print(f"\nNEW failures ({len(new)}): not excluded, not expected")
        for o, kind in new:
            print(f"  {o.suite} {o.mode} {o.test_id}: {kind}")
            if opts.verbose or len(new) <= 20:
                print("    " + o.detail.strip().replace("\n", "\n    ")[-2500:])
    if opts.json:
        Path(opts.json).write_text(json.dumps([o.__dict__ for o in outcomes], indent=1))
    print(
        f"\nconformance: Python {VERSION}, {len(outcomes)} test runs, "
        f"{opts.jobs} jobs, wall time {wall:.0f} s: "
        + ("OK" if not new else f"{len(new)} NEW failures")
    )
    return 1 if new else 0


def _table(suites: Any, modes: list[str], counts: Any) -> None:
    head = f"{'suite':14} {'mode':7}" + "".join(f"{c:>9}" for c in COLUMNS)
    print(head)
    print("-" * len(head))
    for s in suites:
        for mode in modes:
            c = counts[(s.name, mode)]
            if mode != "stdlib" and mode not in s.modes:
                print(f"{s.name:14} {mode:7}   n/a: {s.why_not[:70]}")
                continue
            print(f"{s.name:14} {mode:7}" + "".join(f"{c[k]:>9}" for k in COLUMNS))
