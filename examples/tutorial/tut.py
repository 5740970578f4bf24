"""The original thredo tutorial: a kid, three friends and a parent.

    python examples/tutorial/tut.py [--scale FACTOR]     (or TUT_SCALE=FACTOR)

The kid keeps asking to play (an Event waited on under ``timeout_after``
with a function) until the parent says yes, then plays Minecraft with three
friends in a ThreadGroup.  The parent waits for Ctrl-C (or SIGTERM), which a
SignalEvent turns into an ordinary event, counts down, gives the kid some
time to come, and then cancels it: the kid saves its work, leaving the
group's block cancels the friends, and everyone goes home.

Times are the original's (ask every 1 s, "yes" after 5 s, a 10 s countdown,
10 s to come); ``--scale 0.05`` makes them 20 times shorter.
"""

import argparse
import os
import signal
import sys

import thredo

SCALE = float(os.environ.get("TUT_SCALE", "1"))


def say(line):
    sys.stdout.write(line + "\n")  # one write per line: lines never interleave


def countdown(n):
    while n > 0:
        say(f"T-minus {n}")
        thredo.sleep(1 * SCALE)
        n -= 1


def friend(name):
    say(f"Hi, my name is {name}")
    say(f"{name}: Playing Minecraft")
    try:
        thredo.sleep(1000 * SCALE)
    except thredo.CancelledError:
        say(f"{name} going home")
        raise


start_evt = thredo.Event()


def kid():
    while True:
        try:
            say("Can I play?")
            thredo.timeout_after(1 * SCALE, start_evt.wait)
            break
        except thredo.ThreadTimeout:
            say("Wha!?!")

    say("Building the Millenium Falcon in Minecraft")
    with thredo.ThreadGroup() as friends:
        for name in ("Max", "Lillian", "Thomas"):
            friends.spawn(friend, name)
        try:
            thredo.sleep(1000 * SCALE)
        except thredo.CancelledError:
            say("Fine. Saving my work.")
            raise  # leaving the block this way cancels every friend


def parent():
    with thredo.SignalEvent(signal.SIGINT, signal.SIGTERM) as goodbye:
        kid_thread = thredo.spawn(kid)
        thredo.sleep(5 * SCALE)
        say("Yes, go play")
        start_evt.set()
        goodbye.wait()  # Ctrl-C or SIGTERM
    # Leaving the block put the old handlers back: a second Ctrl-C ends the run.

    say("Let's go")
    thredo.spawn(countdown, 10).join()

    say("We're leaving!")
    try:
        thredo.timeout_after(10 * SCALE, kid_thread.join)
    except thredo.ThreadTimeout:
        kid_thread.cancel()  # returns once the kid (and its friends) have finished
        thredo.sleep(3 * SCALE)
    say("Parent Leaving")


if __name__ == "__main__":
    sys.stdout.reconfigure(line_buffering=True)  # each line shows as it happens, even in a pipe
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=SCALE, help="multiply every time by this")
    SCALE = parser.parse_args().scale
    try:
        thredo.run(parent)
    except KeyboardInterrupt:
        say("Interrupted again: leaving at once")
        sys.exit(130)
