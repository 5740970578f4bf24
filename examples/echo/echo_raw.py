"""Echo server written by hand: socket, accept, spawn, makefile line echo.

    python examples/echo/echo_raw.py [--port 25000]

The same shape as the original thredo's echo2.py: a plain accept loop that
spawns a thread per client into a group.  Ctrl-C cancels the main thread;
leaving the group cancels every client thread.
"""

import argparse
import sys

import thredo
from thredo import socket


def echo_client(client, address):
    sys.stdout.write(f"connection from {address}\n")  # one write: lines never interleave
    sys.stdout.flush()
    with client, client.makefile("rb") as rfile, client.makefile("wb") as wfile:
        for line in rfile:
            wfile.write(line)
            wfile.flush()
    sys.stdout.write(f"connection closed {address}\n")
    sys.stdout.flush()


def echo_server(host, port):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:  # a busy port (or a bad address): one line on stderr, status 1
            msg = f"echo server: cannot listen on {host}:{port}: {exc.strerror}"
            raise SystemExit(msg) from None
        sock.listen()
        print(f"echo server listening on {host}:{sock.getsockname()[1]}", flush=True)
        with thredo.ThreadGroup(wait=None) as clients:
            while True:
                client, address = sock.accept()
                clients.spawn(echo_client, client, address, daemon=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=25000)
    args = parser.parse_args()
    try:
        thredo.run(echo_server, args.host, args.port)
    except KeyboardInterrupt:
        print("echo server stopped", flush=True)
