"""Example 6: a Queue, four workers in a ThreadGroup(wait=None), a CPU-bound thread beside.

    python examples/euro/ex6.py        (EURO_SCALE=0.01 makes it 100 times faster)

main puts ten items and join()s the queue; leaving the group cancels the
four workers, blocked in get().  The spinning thread is pure computation,
which no cancel interrupts (it has no blocking call): the group waits for
it to finish its count.
"""

import os
import sys

import thredo

SCALE = float(os.environ.get("EURO_SCALE", "1"))


def worker(q, label):
    try:
        while True:
            item = q.get()
            sys.stdout.write(f"{label} {item}\n")
            q.task_done()
    except thredo.ThreadCancelled:
        sys.stdout.write(f"Cancelled {label}\n")
        raise


def spin(n):
    every = max(1, int(10_000_000 * SCALE))
    while n > 0:
        n -= 1
        if n % every == 0:
            sys.stdout.write(f"spin {n}\n")


def main():
    q = thredo.Queue()
    with thredo.ThreadGroup(wait=None) as g:
        g.spawn(spin, int(100_000_000 * SCALE))
        for n in range(4):
            g.spawn(worker, q, f"Worker-{n}")
        for n in range(10):
            q.put(n)
            thredo.sleep(1 * SCALE)
        q.join()
    sys.stdout.write("Done\n")


if __name__ == "__main__":
    sys.stdout.reconfigure(line_buffering=True)  # one write per line: lines never interleave
    thredo.run(main)
