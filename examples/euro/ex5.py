"""Example 5: dining philosophers -- five Locks, random sleeps, a timeout breaks a deadlock.

    python examples/euro/ex5.py        (EURO_SCALE=0.1 makes it 10 times faster)

Each philosopher takes its left stick, then its right.  If all five hold
their left stick they deadlock; main's timeout_after then expires and one
philosopher, chosen at random, is cancelled: its `with` blocks release its
stick and the others finish eating.
"""

import os
import random
import sys

import thredo

SCALE = float(os.environ.get("EURO_SCALE", "1"))
sticks = [thredo.Lock() for n in range(5)]


def philosopher(n):
    thredo.sleep(random.random() * SCALE)
    try:
        with sticks[n]:
            thredo.sleep(random.random() * SCALE)
            with sticks[(n + 1) % 5]:
                sys.stdout.write(f"eating {n}\n")
                thredo.sleep(random.random() * SCALE)
    except thredo.ThreadCancelled:
        sys.stdout.write(f"But what is death? {n}\n")


def main():
    phils = [thredo.spawn(philosopher, n) for n in range(5)]
    try:
        with thredo.timeout_after(10 * SCALE):
            for p in phils:
                p.wait()
    except thredo.ThreadTimeout:
        phils[random.randint(0, 4)].cancel()
        for p in phils:
            p.wait()
    sys.stdout.write("all done\n")


if __name__ == "__main__":
    sys.stdout.reconfigure(line_buffering=True)  # one write per line: lines never interleave
    thredo.run(main)
