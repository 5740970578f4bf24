"""python -m thredo.monitor PID: talk to the monitor of a live thredo program.

Usage::

    python -m thredo.monitor PID                 # interactive: type ps, tree, where 7, cancel 7
    python -m thredo.monitor PID ps [--json]     # one command, then exit
    python -m thredo.monitor PID tree [--json]
    python -m thredo.monitor PID dump --stacks [--json]   # every thread's stack
    python -m thredo.monitor PID where ID [--json]
    python -m thredo.monitor PID cancel ID
    python -m thredo.monitor --socket PATH ps    # a monitor at an explicit path

The program must run under ``thredo.run(main, monitor=True)`` or with
``THREDO_MONITOR=1`` in its environment, as the same user.  Exit status: 0
on success, 1 when the monitor answered with an error (no such thread ...),
2 when it could not be reached.  The protocol and the JSON are described
in ``docs/monitor.md``.
"""

from __future__ import annotations

import argparse
import errno
import json
import os
import socket
import sys
import time
from typing import Any

from ._monitor import HELP, socket_path

__all__ = ("Client", "main")


class Client:
    """A connection to a monitor: :meth:`call` sends one command, returns its reply."""

    def __init__(self, path: str, timeout: float | None = 30.0) -> None:
        self.path = path
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._sock.settimeout(timeout)
        try:
            self._connect(timeout)
        except BaseException:
            self._sock.close()
            raise
        self._buf = b""

    def _connect(self, timeout: float | None) -> None:
        """Connect, retrying while the monitor's listen backlog is full (EAGAIN).

        A busy monitor makes the client wait, up to ``timeout`` seconds in
        all, instead of failing at once.
        """
        end = None if timeout is None else time.monotonic() + timeout
        delay = 0.005
        while True:
            try:
                self._sock.connect(self.path)
                return
            except BlockingIOError:
                if end is not None and time.monotonic() + delay > end:
                    raise TimeoutError(
                        errno.ETIMEDOUT, "the monitor is busy (its backlog stayed full)"
                    ) from None
                time.sleep(delay)  # a plain process: nothing to cancel here
                delay = min(delay * 2, 0.1)

    def call(self, line: str) -> dict[str, Any]:
        """Send one command line; the reply ``{"ok", "text", "data"}``.

        Raises:
            ConnectionError: the monitor closed the connection.
        """
        self._sock.sendall(line.strip().encode() + b"\n")
        while b"\n" not in self._buf:
            chunk = self._sock.recv(65536)
            if not chunk:
                raise ConnectionError("the monitor closed the connection")
            self._buf += chunk
        reply, self._buf = self._buf.split(b"\n", 1)
        result: dict[str, Any] = json.loads(reply)
        return result

    def close(self) -> None:
        self._sock.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _show(reply: dict[str, Any], as_json: bool) -> int:
    if as_json and reply.get("ok"):
        print(json.dumps(reply.get("data"), indent=2))
    else:
        out = sys.stdout if reply.get("ok") else sys.stderr
        out.write(reply.get("text", ""))
        out.flush()
    return 0 if reply.get("ok") else 1


def _interactive(client: Client, as_json: bool) -> int:
    print(f"thredo monitor at {client.path}; 'help' lists commands, 'quit' or EOF ends")
    while True:
        try:
            line = input("thredo> ")
        except EOFError:
            print()
            return 0
        if line.strip() in ("quit", "exit", "q"):
            return 0
        if not line.strip():
            continue
        words = line.split()
        js = as_json or "--json" in words
        _show(client.call(" ".join(w for w in words if w != "--json")), js)


def main(argv: list[str] | None = None) -> int:
    """The command line (see the module docstring); returns the exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m thredo.monitor",
        description="Inspect and cancel the threads of a live thredo program.",
        epilog=HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("pid", nargs="?", help="the program's process id")
    parser.add_argument(
        "command", nargs="*", help="ps | tree | dump | where ID | cancel ID (none: interactive)"
    )
    parser.add_argument("--json", action="store_true", help="print the reply's data as JSON")
    parser.add_argument("--stacks", action="store_true", help="dump: add every thread's stack")
    parser.add_argument("--socket", metavar="PATH", help="the monitor's socket (instead of PID)")
    args = parser.parse_args(argv)
    if args.socket is None and args.pid is None:
        parser.error("give the program's PID or --socket PATH")
    command = list(args.command)
    if args.stacks:
        command.append("--stacks")
    if args.socket is not None and args.pid is not None:
        command.insert(0, str(args.pid))  # with --socket the first word is the command
    if args.socket is not None:
        path = args.socket
    elif args.pid.isascii() and args.pid.isdigit():
        path = socket_path(int(args.pid))
    else:
        parser.error(f"not a process id: {args.pid!r}")
    try:
        client = Client(path)
    except OSError as e:
        print(
            f"thredo.monitor: cannot reach {path}: {e.strerror or e}\n"
            "(is the program running under thredo.run(..., monitor=True) or with "
            "THREDO_MONITOR=1, as this user?)",
            file=sys.stderr,
        )
        return 2
    with client:
        try:
            if not command:
                return _interactive(client, args.json)
            return _show(client.call(" ".join(command)), args.json)
        except BrokenPipeError:  # `... | head`: the reader has had enough
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return 0
        except (OSError, ValueError) as e:
            print(f"thredo.monitor: {e}", file=sys.stderr)
            return 2


if __name__ == "__main__":
    sys.exit(main())
