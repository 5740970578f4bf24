"""Example 3: cancellation -- a thread sleeping for 10 s is cancelled after 2 s.

    python examples/euro/ex3.py        (EURO_SCALE=0.1 makes it 10 times faster)

cancel() raises ThreadCancelled inside the thread's sleep() and waits for
the thread to finish.
"""

import os
import sys

import thredo

SCALE = float(os.environ.get("EURO_SCALE", "1"))


def func():
    sys.stdout.write("Yawn\n")
    try:
        thredo.sleep(10 * SCALE)
        sys.stdout.write("Awake\n")
    except thredo.ThreadCancelled:
        sys.stdout.write("Cancelled\n")
        raise


def main():
    t = thredo.spawn(func)
    thredo.sleep(2 * SCALE)
    t.cancel()
    sys.stdout.write(f"cancelled: {t.cancelled}\n")


if __name__ == "__main__":
    sys.stdout.reconfigure(line_buffering=True)  # one write per line: lines never interleave
    thredo.run(main)
