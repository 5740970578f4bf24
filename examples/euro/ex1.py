"""Example 1: a thread's result, and a failing thread reported through ThreadError.

    python examples/euro/ex1.py

join() returns what the thread returned; if the thread raised, join()
raises thredo.ThreadError whose __cause__ is the thread's own exception.
"""

import sys

import thredo


def func(x, y):
    return x + y


def main():
    t = thredo.spawn(func, 2, 3)
    sys.stdout.write(f"Result: {t.join()}\n")
    t = thredo.spawn(func, 2, "3")  # int + str: TypeError in the thread
    try:
        sys.stdout.write(f"Result: {t.join()}\n")
    except thredo.ThreadError as e:
        sys.stdout.write(f"Failed: {e.__cause__!r}\n")


if __name__ == "__main__":
    sys.stdout.reconfigure(line_buffering=True)  # one write per line: lines never interleave
    thredo.run(main)
