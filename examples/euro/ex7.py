"""Example 7: requests made cancellable -- four fetches race, the first answer wins.

    python examples/euro/serv.py &      # the slow server, on port 8000
    python examples/euro/ex7.py [--url http://localhost:8000]

requests, imported under thredo.more_magic(), gets thredo's cancellable
sockets.  The four threads share a ThreadGroup(wait=any): the first to
finish ends the group, which cancels the three others mid-request.
"""

import argparse
import sys

import thredo

with thredo.more_magic():
    import requests


def func(url, n):
    try:
        return requests.get(url).text
    except thredo.ThreadCancelled:
        sys.stdout.write(f"Cancelled {n}\n")
        raise


def main(url):
    with thredo.ThreadGroup(wait=any) as g:
        for n in range(4):
            g.spawn(func, url, n)
    sys.stdout.write(f"Result: {g.completed.result!r}\n")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://localhost:8000")
    args = parser.parse_args()
    sys.stdout.reconfigure(line_buffering=True)  # one write per line: lines never interleave
    thredo.run(main, args.url)
