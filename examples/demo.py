"""Groups and cancellation in a few lines: workers blocked forever, one cancel.

Run: python examples/demo.py   (Ctrl-C also works: the group unwinds.)
"""

import thredo


def worker(n):
    try:
        print(f"worker {n}: waiting forever")
        thredo.sleep(3600)
    except thredo.ThreadCancelled:
        print(f"worker {n}: cancelled, cleaning up")
        raise


def slow():
    thredo.sleep(3600)


def main():
    with thredo.ThreadGroup(wait=None) as group:
        for n in range(3):
            group.spawn(worker, n)
        thredo.sleep(0.2)
    print("group exited: every worker is gone")

    try:
        with thredo.timeout_after(0.2):
            slow()
    except thredo.ThreadTimeout:
        print("slow() timed out after 0.2 s")


if __name__ == "__main__":
    thredo.run(main)
