"""Example 4: cancellation with locks -- the holder of a Semaphore is cancelled mid-work.

    python examples/euro/ex4.py        (EURO_SCALE=0.1 makes it 10 times faster)

The cancelled thread leaves its `with` block, which releases the
semaphore, so the other thread, waiting to acquire it, proceeds.
"""

import os
import sys

import thredo

SCALE = float(os.environ.get("EURO_SCALE", "1"))
holder = None  # label of the thread holding the semaphore


def func(lck, label):
    global holder
    sys.stdout.write(f"{label} starting\n")
    with lck:
        holder = label
        sys.stdout.write(f"{label} working\n")
        try:
            thredo.sleep(5 * SCALE)
        except thredo.ThreadCancelled:
            sys.stdout.write(f"{label} cancelled\n")  # still holding: leaving `with` releases
            raise
        sys.stdout.write(f"{label} done\n")


def main():
    lck = thredo.Semaphore()
    threads = {label: thredo.spawn(func, lck, label) for label in ("thread-1", "thread-2")}
    thredo.sleep(2 * SCALE)
    threads.pop(holder).cancel()  # whichever got the semaphore first
    threads.popitem()[1].join()  # the other one gets it and finishes


if __name__ == "__main__":
    sys.stdout.reconfigure(line_buffering=True)  # one write per line: lines never interleave
    thredo.run(main)
