"""Echo server: one thredo thread per connection, stopped cleanly by Ctrl-C.

    python examples/echo/echo_server.py [--host 127.0.0.1] [--port 25000]

Ctrl-C cancels the main thread; tcp_server stops accepting, cancels every
client handler (closing its connection) and returns once all have exited.
The server then says how many connections it closed.
"""

import argparse

import thredo
from thredo import net

active = set()  # addresses of connections being served
closed_at_shutdown = []


def echo(client, address):
    active.add(address)
    try:
        while True:
            data = client.recv(65536)
            if not data:
                break
            client.sendall(data)
    except thredo.ThreadCancelled:
        closed_at_shutdown.append(address)
        raise
    finally:
        active.discard(address)


def main(host, port):
    serving = False  # the "stopped" line only after a "listening" one

    def ready(sock):
        nonlocal serving
        serving = True
        print(f"echo server listening on {host}:{sock.getsockname()[1]}", flush=True)

    try:
        net.tcp_server(host, port, echo, ready=ready)
    except OSError as exc:
        if serving:
            raise
        # A busy port (or a bad address): one line on stderr, exit status 1.
        raise SystemExit(f"echo server: cannot listen on {host}:{port}: {exc.strerror}") from None
    finally:
        if serving:
            n = len(closed_at_shutdown)
            print(f"echo server stopped: closed {n} connection{'' if n == 1 else 's'}", flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=25000)
    args = parser.parse_args()
    try:
        thredo.run(main, args.host, args.port)
    except KeyboardInterrupt:
        pass
