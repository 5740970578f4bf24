"""Groups and cancellation in a few lines: workers blocked forever, one cancel.

Run: python examples/demo.py   (Ctrl-C also works: the group unwinds.)

Each line is written with one ``sys.stdout.write`` call: ``print(a, b)``
writes its pieces (and the newline) separately, so lines printed by
several threads at once could interleave.
"""

import sys

import thredo


def say(line):
    sys.stdout.write(line + "\n")  # one write per line: lines never interleave


def worker(n):
    try:
        say(f"worker {n}: waiting forever")
        thredo.sleep(3600)
    except thredo.ThreadCancelled:
        say(f"worker {n}: cancelled, cleaning up")
        raise


def slow():
    thredo.sleep(3600)


def main():
    with thredo.ThreadGroup(wait=None) as group:
        for n in range(3):
            group.spawn(worker, n)
        thredo.sleep(0.2)
    say("group exited: every worker is gone")

    try:
        with thredo.timeout_after(0.2):
            slow()
    except thredo.ThreadTimeout:
        say("slow() timed out after 0.2 s")


if __name__ == "__main__":
    thredo.run(main)
