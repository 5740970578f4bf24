"""Example 2: real threads -- two CPU-bound threads counting down, both joined.

    python examples/euro/ex2.py        (EURO_SCALE=0.01 counts 100 times less)

thredo threads are OS threads: the GIL takes turns between the two loops,
no yield points are needed.  Each prints every 10,000,000 steps (scaled).
"""

import os
import sys

import thredo

SCALE = float(os.environ.get("EURO_SCALE", "1"))


def func(n, label):
    every = max(1, int(10_000_000 * SCALE))
    total = 0
    while n > 0:
        total += n
        n -= 1
        if n % every == 0:
            sys.stdout.write(f"{label} {n}\n")
    return total


def main():
    t1 = thredo.spawn(func, int(60_000_000 * SCALE), "thread-1")
    t2 = thredo.spawn(func, int(40_000_000 * SCALE), "thread-2")
    sys.stdout.write(f"{t1.join()}\n")
    sys.stdout.write(f"{t2.join()}\n")


if __name__ == "__main__":
    sys.stdout.reconfigure(line_buffering=True)  # one write per line: lines never interleave
    thredo.run(main)
