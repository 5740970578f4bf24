"""The type-level promises, checked by mypy the way a user's project runs it.

``mypy --strict`` runs once per module (a subprocess, ``sys.executable -m
mypy``) from a scratch directory outside the repository with an empty
configuration, so thredo is found only as the installed distribution (the
editable install's path entry and ``thredo/py.typed``), as in a user's
project.  It checks ``typing_sample.py`` (a correct, typed program: no error
allowed) and the small wrong programs in ``CASES``: each line marked
``# E: code ...`` must get an error, each with one of those error codes (a
call of an overloaded function, such as ``spawn``, may be reported as
``call-overload``, or as the errors against the overload mypy found closest,
several on the line: ``call-arg`` and ``arg-type``), each line
marked ``# N: type`` a ``Revealed type is "type"`` note (module prefixes
dropped: ``builtins.int`` is ``int``), and no other error is allowed.

Also here: the distribution's version is the package's ``__version__``.
"""

from __future__ import annotations

import importlib.metadata
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import thredo

HERE = Path(__file__).resolve().parent
SAMPLE = HERE / "typing_sample.py"

# Each case is a module of its own; the import of thredo is prepended.
CASES = {
    # spawn(f, *args, **kwargs) is checked against f's parameters (ParamSpec)
    # when neither daemon= nor name= is given.
    "spawn_wrong_argument_type": """
        def f(n: int) -> int:
            return n

        def main() -> None:
            thredo.spawn(f, "one")  # E: arg-type call-arg call-overload
    """,
    "spawn_missing_argument": """
        def f(n: int) -> int:
            return n

        def main() -> None:
            thredo.spawn(f)  # E: arg-type call-arg call-overload
    """,
    "spawn_wrong_keyword": """
        def f(n: int, *, scale: int = 1) -> int:
            return n * scale

        def main() -> None:
            thredo.spawn(f, 1, scale=2)
            thredo.spawn(f, 1, scale="2")  # E: arg-type call-arg call-overload
            thredo.spawn(f, 1, size=2)  # E: arg-type call-arg call-overload
    """,
    # daemon= and name= are spawn's own keywords: func's arguments are
    # still checked beside them (issue 23 item 4).  With func's own keyword
    # arguments too only the positional ones can be (tests/typing_sample.py).
    "spawn_named_wrong_argument_type": """
        def f(n: int) -> int:
            return n

        def main() -> None:
            thredo.spawn(f, 1, name="one", daemon=True)
            thredo.spawn(f, "one", name="one")  # E: arg-type call-arg call-overload
            thredo.spawn(f, "one", daemon=True)  # E: arg-type call-arg call-overload
            thredo.spawn(f, name="none")  # E: arg-type call-arg call-overload
            thredo.spawn(f, 1, 2, daemon=False)  # E: arg-type call-arg call-overload
            thredo.spawn(f, 1, name=1)  # E: arg-type call-arg call-overload
            thredo.spawn(f, 1, daemon="yes")  # E: arg-type call-arg call-overload
            reveal_type(thredo.spawn(f, 1, name="one"))  # N: Thread[int]
    """,
    "group_spawn_named_wrong_argument_type": """
        def f(n: int) -> int:
            return n

        def main() -> None:
            with thredo.ThreadGroup() as g:
                g.spawn(f, 1, name="one")
                g.spawn(f, "one")  # E: arg-type call-arg call-overload
                g.spawn(f, "one", name="one")  # E: arg-type call-arg call-overload
                g.spawn(f, daemon=True)  # E: arg-type call-arg call-overload
    """,
    # ThreadGroup[T]: results is list[T], result and next_result T, and its
    # spawn takes only functions returning T.
    "group_results_are_typed": """
        def f(n: int) -> int:
            return n

        def s(n: int) -> str:
            return str(n)

        def main() -> None:
            with thredo.ThreadGroup[int]() as g:
                reveal_type(g.spawn(f, 1))  # N: Thread[int]
                g.spawn(s, 1)  # E: arg-type call-arg call-overload
                g.spawn(s, 1, name="s")  # E: arg-type call-arg call-overload
            reveal_type(g.results)  # N: list[int]
            reveal_type(g.result)  # N: int
            reveal_type(g.next_result())  # N: int
            bad: list[str] = g.results  # E: assignment
            typed: thredo.ThreadGroup[int] = thredo.ThreadGroup(wait=any)
            reveal_type(typed.results)  # N: list[int]
            untyped = thredo.ThreadGroup()
            reveal_type(untyped.results)  # N: list[Any]
            given = thredo.ThreadGroup([thredo.spawn(f, 1)])
            reveal_type(given)  # N: ThreadGroup[int]
    """,
    # run(main, *args) and the call forms of timeout_after/ignore_after
    # check args against func.
    "run_checks_arguments": """
        def f(n: int) -> int:
            return n

        def main() -> None:
            reveal_type(thredo.run(f, 1))  # N: int
            thredo.run(f, "one")  # E: arg-type call-arg call-overload
            thredo.run(f)  # E: arg-type call-arg call-overload
            thredo.run(f, "one", monitor=True)  # E: arg-type call-arg call-overload
            reveal_type(thredo.run(f, 1, monitor=True))  # N: int
    """,
    "timeouts_check_arguments": """
        def f(n: int) -> int:
            return n

        def main() -> None:
            reveal_type(thredo.timeout_after(1, f, 1))  # N: int
            thredo.timeout_after(1, f, "one")  # E: arg-type call-arg call-overload
            thredo.timeout_after(1, f)  # E: arg-type call-arg call-overload
            thredo.timeout_after(1, f, 1, 2)  # E: arg-type call-arg call-overload
            reveal_type(thredo.ignore_after(1, f, 1))  # N: int | None
            reveal_type(thredo.ignore_after(1, f, 1, timeout_result="late"))  # N: int | str
            thredo.ignore_after(1, f, "one")  # E: arg-type call-arg call-overload
            thredo.ignore_after(1, f, "one", timeout_result=0)  # E: arg-type call-arg call-overload
    """,
    # Exceptions are typed classes, not Any (curio's bases have no types).
    "exception_attributes": """
        from thredo.net import subprocess

        def main() -> None:
            try:
                with thredo.timeout_after(1):
                    thredo.sleep(2)
            except thredo.ThreadTimeout as e:
                reveal_type(e.args)  # N: tuple[Any, ...]
                e.bogus_attribute  # E: attr-defined
            except thredo.CancelledError as e:
                e.bogus_attribute  # E: attr-defined
            try:
                thredo.spawn(f).join()
            except thredo.ThreadError as e:
                reveal_type(e.__cause__)  # N: BaseException | None
                e.bogus_attribute  # E: attr-defined
            try:
                subprocess.run(["true"], check=True, timeout=5)
            except subprocess.CalledProcessError as e:
                reveal_type(e.returncode)  # N: int
                reveal_type(e.stdout)  # N: Any
                e.bogus_attribute  # E: attr-defined
            except subprocess.TimeoutExpired as e:
                reveal_type(e.timeout)  # N: float
                e.bogus_attribute  # E: attr-defined

        def f() -> None:
            pass
    """,
    # Thread[T]: join() and result return T.
    "join_is_typed": """
        def f(n: int) -> int:
            return n

        def main() -> None:
            t = thredo.spawn(f, 1)
            reveal_type(t)  # N: Thread[int]
            reveal_type(t.join())  # N: int
            reveal_type(t.result)  # N: int
            s: str = t.join()  # E: assignment
    """,
    "thread_annotation": """
        def f(n: int) -> int:
            return n

        def main() -> None:
            ok: thredo.Thread[int] = thredo.spawn(f, 1)
            bad: thredo.Thread[str] = thredo.spawn(f, 1)  # E: assignment arg-type call-overload
    """,
    # thredo.Queue[T] as queue.Queue[T].  Needs thredo.Queue to be Generic
    # in thredo/_queue.py (issue 7, item 7); this case and typing_sample.py
    # fail with '"Queue" expects no type arguments' until it is.
    "queue_is_generic": """
        def main() -> None:
            q: thredo.Queue[int] = thredo.Queue()
            q.put(1)
            q.put("one")  # E: arg-type
            reveal_type(q.get())  # N: int
            reveal_type(q.get_nowait())  # N: int
    """,
}

_MARK = re.compile(r"#\s*([EN]):\s*(.*?)\s*$")
# path:line: severity: message  [code]
_LINE = re.compile(r"^(?P<path>[^:]+):(?P<line>\d+): (?P<sev>error|note): (?P<msg>.*)$")


def _write_case(directory: Path, name: str, body: str) -> Path:
    path = directory / f"case_{name}.py"
    path.write_text("import thredo\n" + textwrap.dedent(body).lstrip("\n"))
    return path


def _expected(path: Path) -> tuple[dict[int, set[str]], set[tuple[int, str]]]:
    """What the markers in ``path`` ask for: {line: allowed codes}, {(line, type)}."""
    errors: dict[int, set[str]] = {}
    notes: set[tuple[int, str]] = set()
    for lineno, text in enumerate(path.read_text().splitlines(), 1):
        m = _MARK.search(text)
        if m is None:
            continue
        kind, what = m.groups()
        if kind == "E":
            errors[lineno] = set(what.split())
        else:
            notes.add((lineno, what))
    return errors, notes


def _short(type_text: str) -> str:
    """``thredo._threads.Thread[builtins.int]`` -> ``Thread[int]``."""
    return re.sub(r"\b(?:\w+\.)+(\w+)", r"\1", type_text)


class MypyReport:
    """mypy's output, parsed: per file, its errors and its notes."""

    def __init__(self, output: str, returncode: int) -> None:
        self.output = output
        self.returncode = returncode
        self.messages: dict[str, list[tuple[int, str, str]]] = {}
        for text in output.splitlines():
            m = _LINE.match(text)
            if m is not None:
                name = Path(m["path"]).name
                self.messages.setdefault(name, []).append((int(m["line"]), m["sev"], m["msg"]))

    def errors(self, name: str) -> list[tuple[int, str]]:
        """[(line, code)] of the errors reported in file ``name``."""
        found = []
        for line, sev, msg in self.messages.get(name, []):
            if sev == "error":
                code = re.search(r"\[([a-z-]+)\]$", msg)
                found.append((line, code.group(1) if code else msg))
        return found

    def revealed(self, name: str) -> set[tuple[int, str]]:
        """{(line, type)} of the reveal_type notes in file ``name``."""
        found = set()
        for line, sev, msg in self.messages.get(name, []):
            m = re.fullmatch(r'Revealed type is "(.*)"', msg)
            if sev == "note" and m is not None:
                found.add((line, _short(m.group(1))))
        return found


@pytest.fixture(scope="module")
def mypy_report(tmp_path_factory: pytest.TempPathFactory) -> MypyReport:
    """Run ``mypy --strict`` once on the sample and every case."""
    work = tmp_path_factory.mktemp("typing")
    config = work / "mypy.ini"
    config.write_text("[mypy]\n")  # a user's project: no thredo-specific settings
    files = [str(SAMPLE)] + [str(_write_case(work, n, b)) for n, b in CASES.items()]
    env = {k: v for k, v in os.environ.items() if k not in ("MYPYPATH", "PYTHONPATH")}
    proc = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--config-file", str(config)]
        + ["--cache-dir", str(work / "cache"), "--no-color-output", "--no-error-summary"]
        + ["--show-error-codes", "--no-pretty", *files],
        cwd=work,  # outside the repository: thredo can only come from site-packages
        env=env,
        capture_output=True,
        text=True,
        timeout=110,
    )
    assert proc.returncode in (0, 1), proc.stdout + proc.stderr  # 2: mypy itself failed
    return MypyReport(proc.stdout, proc.returncode)


pytestmark = pytest.mark.timeout(120)


def test_thredo_found_as_installed_typed_package(mypy_report: MypyReport) -> None:
    for problem in (
        "missing library stubs or py.typed marker",
        "Cannot find implementation or library stub",
    ):
        assert problem not in mypy_report.output, mypy_report.output


def test_sample_program_is_clean_under_strict(mypy_report: MypyReport) -> None:
    assert mypy_report.messages.get(SAMPLE.name, []) == [], mypy_report.output


@pytest.mark.parametrize("case", sorted(CASES))
def test_wrong_programs_are_reported(mypy_report: MypyReport, tmp_path: Path, case: str) -> None:
    errors, notes = _expected(_write_case(tmp_path, case, CASES[case]))
    name = f"case_{case}.py"
    reported = mypy_report.errors(name)
    assert sorted({line for line, _ in reported}) == sorted(errors), mypy_report.output
    for line, code in reported:
        assert code in errors[line], (line, code, mypy_report.output)
    assert mypy_report.revealed(name) == notes, mypy_report.output


def test_sample_program_runs() -> None:
    proc = subprocess.run([sys.executable, str(SAMPLE)], capture_output=True, text=True, timeout=60)
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "ok\n", "")


def test_one_version_string() -> None:
    assert importlib.metadata.version("thredo") == thredo.__version__
