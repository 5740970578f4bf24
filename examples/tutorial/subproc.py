"""A command run with a time limit, and what it printed before the limit.

    python examples/tutorial/subproc.py [--limit SECONDS] [COMMAND ARG ...]

The default command is a Python child that prints ``tick N`` every 0.1 s
for a minute.  It is run three ways, each stopped after ``--limit`` seconds
(default 1):

1. the stdlib's own ``timeout=``: ``subprocess.run(..., timeout=)`` kills the
   child and raises ``TimeoutExpired``, the output so far on ``e.output``;
2. thredo's ``timeout_after`` around ``check_output``: the deadline ends the
   child (SIGTERM, then SIGKILL after a grace period) and reaps it before
   ``ThreadTimeout`` leaves the call, the output so far on ``e.stdout``;
3. reading the child's pipe line by line as they come, under the same
   deadline: every read is cancellable, and the child is ended the same way.
"""

import argparse
import sys

import thredo
from thredo.net import subprocess

TICKS = """
import time
for n in range(1, 601):
    print("tick", n, flush=True)
    time.sleep(0.1)
"""


def say(line):
    sys.stdout.write(line + "\n")  # one write per line


def show(output):
    for line in (output or b"").decode().splitlines():
        say(f"  | {line}")


def main(cmd, limit):
    say(f"1. subprocess.run(timeout={limit})")
    try:
        subprocess.run(cmd, capture_output=True, timeout=limit)
    except subprocess.TimeoutExpired as e:
        say("   TimeoutExpired; the child was killed; its output so far:")
        show(e.output)

    say(f"2. timeout_after({limit}) around check_output")
    try:
        with thredo.timeout_after(limit):
            subprocess.check_output(cmd)
    except thredo.ThreadTimeout as e:
        say(f"   ThreadTimeout; the child ended with {e.returncode}; its output so far:")
        show(e.stdout)

    say(f"3. lines as they come, for {limit} s")
    try:
        with thredo.timeout_after(limit), subprocess.Popen(cmd, stdout=subprocess.PIPE) as p:
            for line in p.stdout:
                show(line)
    except thredo.ThreadTimeout:
        say(f"   ThreadTimeout; the child ended with {p.returncode}")


if __name__ == "__main__":
    sys.stdout.reconfigure(line_buffering=True)  # each line shows as it happens, even in a pipe
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=float, default=1.0, help="seconds (default 1)")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="default: a ticking child")
    args = parser.parse_args()
    thredo.run(main, args.command or [sys.executable, "-c", TICKS], args.limit)
