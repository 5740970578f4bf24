"""Benchmark runner: ``python -m benchmarks [names...] [--quick] [--list]``.

Discovers every ``benchmarks/bench_*.py``; each exposes
``BENCHMARKS = [(name, function), ...]`` where ``function(quick)`` returns
row dicts (see ``_util.row``).  A name on the command line selects a module
(``core`` or ``bench_core``) or one benchmark (``spawn_join``; shell-style
patterns allowed); with no names everything runs.  Prints one table; the
ratio is always oriented so that > 1 means thredo is better: thredo/baseline
for rates, baseline/thredo for times.  Exits 1 if a benchmark raised, 2 on a
name that selects nothing; unmet targets are reported, not fatal.
"""

from __future__ import annotations

import argparse
import fnmatch
import importlib
import math
import operator
import os
import pkgutil
import platform
import re
import sys
import time
import traceback
from collections.abc import Callable
from typing import Any

import benchmarks

Row = dict[str, Any]
Bench = tuple[str, str, Callable[[bool], list[Row]]]  # (module, name, function)

_TARGET = re.compile(r"^\s*(>=|<=|>|<|≥|≤)\s*([0-9]*\.?[0-9]+)\s*(\S*)\s*$")
_OPS = {
    ">=": operator.ge,
    "≥": operator.ge,
    "<=": operator.le,
    "≤": operator.le,
    ">": operator.gt,
    "<": operator.lt,
}


def discover() -> tuple[list[Bench], list[str]]:
    """Import every bench_* module; return its benchmarks and import errors."""
    found: list[Bench] = []
    errors: list[str] = []
    names = sorted(m.name for m in pkgutil.iter_modules(benchmarks.__path__))
    for mod in names:
        if not mod.startswith("bench_"):
            continue
        try:
            module = importlib.import_module(f"benchmarks.{mod}")
        except Exception:
            errors.append(f"{mod}: import failed\n{traceback.format_exc()}")
            continue
        for name, func in module.BENCHMARKS:
            found.append((mod, name, func))
    return found, errors


def select(found: list[Bench], wanted: list[str]) -> tuple[list[Bench], list[str]]:
    """The benchmarks selected by ``wanted`` (all if empty), and unmatched names."""
    if not wanted:
        return found, []
    unmatched = []
    chosen: set[int] = set()
    for w in wanted:
        hits = {
            i
            for i, (mod, name, _) in enumerate(found)
            if w in (mod, mod[len("bench_") :]) or fnmatch.fnmatchcase(name, w)
        }
        if not hits:
            unmatched.append(w)
        chosen |= hits
    return [b for i, b in enumerate(found) if i in chosen], unmatched


def ratio(r: Row) -> float:
    """thredo relative to baseline, > 1 meaning thredo is better."""
    b: float = r["baseline_value"]
    t: float = r["thredo_value"]
    num, den = (t, b) if r["higher_is_better"] else (b, t)
    if den == 0:
        return math.inf if num > 0 else math.nan
    return num / den


def met(r: Row) -> str:
    """'yes', 'NO', '-' (no target) or '?' (target not understood).

    A target may join several bounds with ``,`` (``">= 1.0x, < 200 ms"``):
    met when every one is.
    """
    target = r.get("target")
    if not target:
        return "-"
    if r.get("note"):
        return "-"
    verdicts = [_met_one(r, t) for t in target.split(",")]
    for v in ("?", "NO"):
        if v in verdicts:
            return v
    return "yes"


def _met_one(r: Row, target: str) -> str:
    m = _TARGET.match(target)
    if m is None:
        return "?"
    op, bound, unit = _OPS[m.group(1)], float(m.group(2)), m.group(3)
    if unit in ("", "x", "×"):
        value = ratio(r)
    elif unit == r["unit"]:
        value = r["thredo_value"]
    else:
        return "?"
    return "yes" if op(value, bound) else "NO"


def fmt(v: float) -> str:
    if math.isnan(v) or math.isinf(v):
        return str(v)
    a = abs(v)
    if a >= 1000:
        return f"{v:,.0f}"
    if a >= 100:
        return f"{v:.0f}"
    if a >= 10:
        return f"{v:.1f}"
    if a >= 1:
        return f"{v:.2f}"
    return f"{v:.3g}"


def table(rows: list[Row]) -> str:
    # A peer row (another library's figure against the same baseline) puts
    # its value in the "thredo value" column; a row with a "note" (a peer
    # that is not installed) shows the note there instead.
    head = ["benchmark", "baseline", "baseline value", "thredo/peer value", "ratio"]
    head += ["target", "met?"]
    body = [
        [
            r["benchmark"],
            r["baseline"],
            f"{fmt(r['baseline_value'])} {r['unit']}",
            r.get("note") or f"{fmt(r['thredo_value'])} {r['unit']}",
            "-"
            if r.get("note")
            else (f"{ratio(r):.2f}x" if math.isfinite(ratio(r)) else str(ratio(r))),
            r.get("target") or "-",
            met(r),
        ]
        for r in rows
    ]
    right = {2, 3, 4}  # numbers align right
    widths = [max(len(line[i]) for line in [head, *body]) for i in range(len(head))]

    def line(cells: list[str]) -> str:
        return " | ".join(
            c.rjust(w) if i in right else c.ljust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    sep = "-+-".join("-" * w for w in widths)
    return "\n".join([line(head), sep, *(line(b) for b in body)])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n")[0])
    p.add_argument("names", nargs="*", help="modules (core) or benchmarks (spawn_join, spawn*)")
    p.add_argument("--quick", action="store_true", help="small sizes, few rounds (~10 s)")
    p.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    args = p.parse_args(argv)

    found, errors = discover()
    for e in errors:
        print(e, file=sys.stderr)
    chosen, unmatched = select(found, args.names)
    if args.list:
        for mod, name, _ in found:
            print(f"{mod[len('bench_') :]:>8}  {name}")
        return 1 if errors else 0
    if unmatched:
        print(f"no benchmark matches: {', '.join(unmatched)} (try --list)", file=sys.stderr)
        return 2

    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    print(
        f"thredo benchmarks{' (quick)' if args.quick else ''}: "
        f"Python {platform.python_version()}, {os.cpu_count()} CPUs"
        + (f", pinned to {cpus}" if cpus is not None and len(cpus) < (os.cpu_count() or 0) else ""),
        flush=True,
    )
    rows: list[Row] = []
    failed = bool(errors)
    t_all = time.perf_counter()
    for mod, name, func in chosen:
        print(f"  {mod[len('bench_') :]}/{name} ...", end=" ", file=sys.stderr, flush=True)
        t0 = time.perf_counter()
        try:
            rows.extend(func(args.quick))
        except Exception:
            failed = True
            print("FAILED", file=sys.stderr)
            traceback.print_exc()
            continue
        print(f"{time.perf_counter() - t0:.1f} s", file=sys.stderr)
    print()
    print(table(rows))
    print()
    print(
        f"ratio > 1: thredo better (thredo/baseline for rates, baseline/thredo for times); "
        f"medians of alternating rounds; {time.perf_counter() - t_all:.1f} s"
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
