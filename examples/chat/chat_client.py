"""Chat client: reads the keyboard and the server at once, in two thredo threads.

    python examples/chat/chat_client.py NICK [--host 127.0.0.1] [--port 25000]

The two threads share a ThreadGroup(wait=any): when the server closes the
connection or stdin ends, the other thread is cancelled and the client
exits.  Ctrl-C exits cleanly too.  thredo's FileStream puts stdin and stdout
in non-blocking mode (on a terminal they are one open file, shared with the
shell); their blocking flags are restored on the way out, whatever happens.
"""

import argparse
import os
import sys

import thredo
from thredo import net


def keyboard_to_server(sock):
    for line in net.FileStream(sys.stdin.buffer):  # cancellable reads of stdin
        sock.sendall(line)


def server_to_screen(sock):
    screen = net.FileStream(sys.stdout.buffer)
    for line in sock.as_stream():
        screen.write(line)


def main(host, port, nick):
    with net.open_connection(host, port) as sock:
        sock.sendall(nick.encode() + b"\n")
        with thredo.ThreadGroup(wait=any) as group:
            group.spawn(keyboard_to_server, sock)
            group.spawn(server_to_screen, sock)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("nick")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=25000)
    args = parser.parse_args()
    blocking = {fd: os.get_blocking(fd) for fd in (0, 1)}
    try:
        thredo.run(main, args.host, args.port, args.nick)
    except KeyboardInterrupt:
        pass
    except OSError as e:
        sys.exit(f"chat_client: {e}")
    finally:
        for fd, flag in blocking.items():
            os.set_blocking(fd, flag)
