"""The slow HTTP server ex7.py fetches from: each answer takes 5 to 20 s.

    python examples/euro/serv.py [--port 8000] [--delays 5-20 | --delays 0.1,30]

Plain stdlib, a thread per connection.  ``--delays A-B`` waits a random time
between A and B seconds; ``--delays X,Y,...`` gives the Nth connection the
Nth delay (cycling), for a predictable run.
"""

import argparse
import itertools
import random
import socketserver
import sys
import time


def delays(spec):
    if "-" in spec:
        low, high = map(float, spec.split("-"))
        return iter(lambda: random.uniform(low, high), None)
    return itertools.cycle(float(x) for x in spec.split(","))


class Handler(socketserver.StreamRequestHandler):
    def handle(self):
        while self.rfile.readline() not in (b"\r\n", b"\n", b""):
            pass  # read the request's head
        time.sleep(next(self.server.delays))
        self.wfile.write(b"HTTP/1.0 200 OK\r\nContent-Length: 13\r\n\r\nDie Threads!\n")


class Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--delays", default="5-20")
    args = parser.parse_args()
    sys.stdout.reconfigure(line_buffering=True)
    with Server(("127.0.0.1", args.port), Handler) as server:
        server.delays = delays(args.delays)
        sys.stdout.write(f"serving on 127.0.0.1:{server.server_address[1]}\n")
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
