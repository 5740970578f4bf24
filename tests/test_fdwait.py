"""thredo._fdwait: descriptor waits at the descriptor limit, and descriptors closed under a wait.

Cases that need their own descriptor limit run in a child process.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

from helpers import WAIT

CHILD_AT_THE_FD_LIMIT = textwrap.dedent(
    """
    import os, resource, sys
    sys.path.insert(0, {tests!r})
    import thredo
    from helpers import wait_blocked
    from thredo.net import socket

    def main():
        a, b = socket.socketpair()
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (len(os.listdir("/proc/self/fd")) + 8, hard))
        spare = []
        try:
            while True:
                spare.append(os.open(os.devnull, os.O_RDONLY))
        except OSError:
            pass  # EMFILE: not one descriptor left
        try:
            t = thredo.spawn(a.recv, 10)  # its first wait on a descriptor, at the limit
            wait_blocked(t, "recv")
            b.sendall(b"data")
            print(t.join().decode())
        finally:
            for fd in spare:
                os.close(fd)
            resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
            a.close()
            b.close()

    thredo.run(main)
    """
)


def test_first_wait_at_the_descriptor_limit_waits_and_returns_the_data() -> None:
    """As a stdlib blocking recv at the limit: no descriptor is needed to wait."""
    import os

    tests = os.path.dirname(os.path.abspath(__file__))
    out = subprocess.run(
        [sys.executable, "-c", CHILD_AT_THE_FD_LIMIT.format(tests=tests)],
        capture_output=True,
        text=True,
        timeout=WAIT * 3,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout == "data\n"
