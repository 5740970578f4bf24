"""examples/euro/ex7.py: requests imported under more_magic(), first answer wins."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time

from test_examples import EXAMPLES, run_euro


def test_euro_ex7_first_answer_wins() -> None:
    server = subprocess.Popen(
        [sys.executable, str(EXAMPLES / "euro/serv.py"), "--port", "0", "--delays", "0.1,60,60,60"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        m = re.search(r"serving on 127\.0\.0\.1:(\d+)", server.stdout.readline())
        assert m
        start = time.monotonic()
        lines = run_euro("ex7.py", "1", "--url", f"http://127.0.0.1:{m.group(1)}")
        assert time.monotonic() - start < 20
        assert lines[-1] == "Result: 'Die Threads!\\n'"
        assert len([line for line in lines if line.startswith("Cancelled")]) == 3
    finally:
        server.send_signal(signal.SIGINT)
        server.communicate(timeout=10)
    assert server.returncode == 0
