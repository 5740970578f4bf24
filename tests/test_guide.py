"""docs/guide.md's recipes run as written, each as a child process.

Each ```python block is a complete program.  The first ```text block after
it (before the next ```python block) is its exact standard output; stderr
must stay empty.  Every block reads ``hello`` and ``world`` on stdin (the
stdin-and-socket client uses them).  A block on the line after
``<!-- guide: not run (REASON) -->`` is skipped with that reason.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import NamedTuple

import pytest

GUIDE = Path(__file__).resolve().parent.parent / "docs" / "guide.md"
FENCE = re.compile(r"^```(\w+)\n(.*?)^```$", re.M | re.S)
NOT_RUN = re.compile(r"<!-- guide: not run \((.*)\) -->\n$")


class Block(NamedTuple):
    heading: str
    code: str
    output: str | None
    not_run: str | None


def blocks(text: str) -> list[Block]:
    found: list[Block] = []
    fences = list(FENCE.finditer(text))
    for i, m in enumerate(fences):
        if m.group(1) != "python":
            continue
        before = text[: m.start()]
        headings = re.findall(r"^#+ (.*)$", before, re.M)
        output = None
        for later in fences[i + 1 :]:
            if later.group(1) == "python":
                break
            if later.group(1) == "text":
                output = later.group(2)
                break
        skip = NOT_RUN.search(before)
        found.append(Block(headings[-1], m.group(2), output, skip.group(1) if skip else None))
    return found


BLOCKS = blocks(GUIDE.read_text())


def block_ids() -> list[str]:
    ids: list[str] = []
    for b in BLOCKS:
        name = re.sub(r"\W+", "-", b.heading.lower()).strip("-")[:40]
        n = sum(1 for x in ids if x.split("#")[0] == name)
        ids.append(f"{name}#{n + 1}")
    return ids


def test_guide_has_its_recipes() -> None:
    headings = {b.heading for b in BLOCKS}
    for recipe in (
        "Porting a threading program",
        "First successful result from a group",
        "Instead of concurrent.futures: work you can really cancel",
        "A client reading stdin and a socket at once",
        "A worker pool with Queue.shutdown",
        "A server with grace= and max_connections=",
        "A total deadline on an HTTP call",
        "Semantics",
    ):
        assert recipe in headings
    assert all(b.output is not None for b in BLOCKS if b.not_run is None)


@pytest.mark.parametrize("block", BLOCKS, ids=block_ids())
def test_guide_block(block: Block) -> None:
    if block.not_run is not None:
        compile(block.code, f"guide: {block.heading}", "exec")  # at least it parses
        pytest.skip(block.not_run)
    result = subprocess.run(
        [sys.executable, "-c", block.code],
        input="hello\nworld\n",
        capture_output=True,
        text=True,
        timeout=20,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert result.stdout == block.output
