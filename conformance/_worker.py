"""The worker: run the given tests of one suite in one mode, report each on a pipe.

Started by the parent (``python -m conformance --worker SUITE MODE FD``)
with the test ids on stdin, one a line.  It loads the suite for the mode
(:func:`conformance._suites.load`), runs the tests as one
``unittest.TestSuite`` (so class and module fixtures run as usual) -- in
this thread, or inside ``thredo.run()`` in ``run`` mode -- and writes one
JSON line per event on descriptor ``FD``: ``start`` when a test starts,
``end`` with its outcome.  The per-test limit is ``faulthandler``'s: armed
at each start, it dumps every thread's stack to stderr and ends the
process, so the parent records that test as ``timeout`` and starts a new
worker on the tests after it.
"""

from __future__ import annotations

import faulthandler
import json
import os
import sys
import traceback
import unittest
from typing import Any, TextIO

from ._suites import BY_NAME, load


class _Result(unittest.TestResult):
    """Reports every test's outcome as a JSON line (a failing subtest fails its test)."""

    def __init__(self, out: TextIO, limit: float) -> None:
        super().__init__()
        self._out = out
        self._limit = limit
        self._bad: dict[str, tuple[str, str]] = {}

    def _emit(self, **ev: Any) -> None:
        self._out.write(json.dumps(ev) + "\n")
        self._out.flush()

    def startTest(self, test: unittest.TestCase) -> None:  # noqa: N802
        super().startTest(test)
        self._emit(ev="start", id=test.id())
        faulthandler.dump_traceback_later(self._limit, exit=True)

    def stopTest(self, test: unittest.TestCase) -> None:  # noqa: N802
        faulthandler.cancel_dump_traceback_later()
        super().stopTest(test)
        outcome, detail = self._bad.pop(test.id(), ("passed", ""))
        self._emit(ev="end", id=test.id(), outcome=outcome, detail=detail)

    def _fmt(self, err: Any) -> str:
        return "".join(traceback.format_exception(*err))[-4000:]

    def addError(self, test: Any, err: Any) -> None:  # noqa: N802
        if not isinstance(test, unittest.TestCase):  # a class or module fixture
            self._emit(ev="end", id=str(test), outcome="error", detail=self._fmt(err))
            return
        self._bad[test.id()] = ("error", self._fmt(err))

    def addFailure(self, test: Any, err: Any) -> None:  # noqa: N802
        self._bad[test.id()] = ("failed", self._fmt(err))

    def addSubTest(self, test: Any, subtest: Any, err: Any) -> None:  # noqa: N802
        if err is not None and test.id() not in self._bad:
            kind = "failed" if issubclass(err[0], test.failureException) else "error"
            self._bad[test.id()] = (kind, f"{subtest}\n{self._fmt(err)}")

    def addSkip(self, test: Any, reason: str) -> None:  # noqa: N802
        if not isinstance(test, unittest.TestCase):
            return
        self._bad[test.id()] = ("skipped", reason)

    def addExpectedFailure(self, test: Any, err: Any) -> None:  # noqa: N802
        pass  # CPython's own @expectedFailure: as it meant, a pass

    def addUnexpectedSuccess(self, test: Any) -> None:  # noqa: N802
        self._bad[test.id()] = ("failed", "unexpected success of a CPython @expectedFailure")


def _case(mods: dict[str, Any], test_id: str) -> unittest.TestCase:
    for name, mod in mods.items():
        if test_id.startswith(name + "."):
            cls_name, method = test_id[len(name) + 1 :].rsplit(".", 1)
            obj: Any = mod
            for part in cls_name.split("."):
                obj = getattr(obj, part)
            return obj(method)  # type: ignore[no-any-return]
    raise LookupError(test_id)


def main(suite_name: str, mode: str, fd: int, limit: float) -> int:
    """Run the ids read from stdin; events on ``fd``."""
    out = os.fdopen(fd, "w", buffering=1)
    ids = [line.strip() for line in sys.stdin if line.strip()]
    sys.stdin = open(os.devnull)  # tests that read stdin get EOF, as under regrtest
    mods = load(BY_NAME[suite_name], mode)
    tests = unittest.TestSuite(_case(mods, i) for i in ids)
    result = _Result(out, limit)
    if mode == "run":
        import thredo

        thredo.run(tests.run, result)
    else:
        tests.run(result)
    out.close()
    return 0


def list_ids(suite_name: str) -> list[str]:
    """Every test id of the suite (its kept classes), as unittest's loader finds them."""
    suite = BY_NAME[suite_name]
    mods = load(suite, "stdlib")
    loader = unittest.TestLoader()
    ids: list[str] = []

    def walk(t: Any) -> None:
        if isinstance(t, unittest.TestSuite):
            for x in t:
                walk(x)
        elif isinstance(t, unittest.TestCase):
            if not suite.classes or type(t).__name__ in suite.classes:
                ids.append(t.id())
        # a loader failure (_FailedTest) is a TestCase: kept, so it shows

    for mod in mods.values():
        walk(loader.loadTestsFromModule(mod))
    return ids
