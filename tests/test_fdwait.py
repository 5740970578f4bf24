"""thredo._core._fdwait: fd waits at the descriptor limit, and descriptors closed under a wait.

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


def test_closing_wakes_every_waiter_of_the_descriptor_and_forgets_it() -> None:
    """Many threads waiting on one socket, another on its own: close wakes exactly the first."""
    import errno

    from helpers import wait_blocked

    import thredo
    from thredo.net import socket

    def main() -> None:
        a, b = socket.socketpair()
        c, d = socket.socketpair()
        fd = a.fileno()
        readers = [thredo.spawn(a.recv, 10) for _ in range(20)]
        other = thredo.spawn(c.recv, 10)
        for t in (*readers, other):
            wait_blocked(t, "recv")
        waiting = other._state.run.fdwaits.waiting  # the run's (RunContext.fdwaits)
        assert len(waiting[fd]) == 20
        a.close()
        for t in readers:
            t.wait()
            assert isinstance(t.exception, OSError), t.exception
            assert t.exception.errno == errno.EBADF
        assert fd not in waiting  # the closer took the list
        assert other.is_alive()
        assert waiting[c.fileno()] == [other._state]
        d.sendall(b"x")
        assert other.join() == b"x"
        assert waiting[c.fileno()] == []  # left empty, reused by the next wait
        for s in (b, c, d):
            s.close()
        assert c.fileno() == -1

    thredo.run(main)


def test_eventfds_of_a_burst_of_exited_threads_are_closed_but_a_few() -> None:
    """After 1,000 threads that each waited on a socket end, the run keeps at most 64 more fds.

    Issue 22.4: the run-wide pool of exited threads' eventfds kept all of
    them until ``run()`` ended (1,000 descriptors after a burst of 1,000).
    """
    import os

    from helpers import wait_blocked

    import thredo
    from thredo._core._fdwait import POOL_MAX
    from thredo.net import socket

    def count() -> int:
        return len(os.listdir("/proc/self/fd"))

    def main() -> tuple[int, int, int]:
        a, b = socket.socketpair()
        try:
            before = count()
            with thredo.ThreadGroup(wait=None) as g:
                threads = [g.spawn(a.recv, 1) for _ in range(1000)]
                for t in threads:
                    wait_blocked(t, "recv")
                during = count()
                g.cancel_remaining()
            return before, during, count()
        finally:
            a.close()
            b.close()

    before, during, after = thredo.run(main)
    assert during >= before + 1000  # each waiting thread held its own eventfd
    assert after <= before + POOL_MAX, (before, during, after)


def test_an_exiting_threads_eventfd_is_closed_by_the_gil_keeping_close() -> None:
    """The close the exit path uses (the C accelerator's close_fd, or os.close) frees the fd.

    Issue 24: ``os.close`` released the GIL for a close that cannot block;
    with a server's 1,000 handlers exiting together that cost context
    switches.  Whichever close is used, the descriptor must be gone after it.
    """
    import errno
    import os

    import pytest

    from thredo._core._fdwait import _gil_keeping_close

    close = _gil_keeping_close()
    efd = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
    os.eventfd_write(efd, 1)  # a rung one, as a cancelled thread leaves it
    close(efd)
    with pytest.raises(OSError, match="Bad file descriptor") as info:
        os.fstat(efd)
    assert info.value.errno == errno.EBADF
