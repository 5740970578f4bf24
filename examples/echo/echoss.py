"""Echo server on socketserver with thredo.ThredoMixIn, stopped by Ctrl-C (the original echoss.py).

    python examples/echo/echoss.py [--host 127.0.0.1] [--port 25000]

A stock socketserver.StreamRequestHandler, each connection in a thredo
thread: its rfile/wfile are cancellable.  main waits on SignalEvent(SIGINT);
on Ctrl-C it cancels the thread running serve_forever(), which stops
accepting, cancels every handler (closing its connection) and returns once
all have exited.  The server then says how many connections it closed.
"""

import argparse
import signal
import socketserver

import thredo

closed_at_shutdown = []


class EchoStreamHandler(socketserver.StreamRequestHandler):
    def handle(self):
        try:
            for line in self.rfile:
                self.wfile.write(line)
        except thredo.ThreadCancelled:
            closed_at_shutdown.append(self.client_address)
            raise


class ThredoTCPServer(thredo.ThredoMixIn, socketserver.TCPServer):
    allow_reuse_address = True


def main(host, port):
    try:
        serv = ThredoTCPServer((host, port), EchoStreamHandler)
    except OSError as exc:  # a busy port (or a bad address): one line on stderr, status 1
        raise SystemExit(f"echo server: cannot listen on {host}:{port}: {exc.strerror}") from None
    stop = thredo.SignalEvent(signal.SIGINT)
    with serv:
        print(f"echo server listening on {host}:{serv.server_address[1]}", flush=True)
        t = thredo.spawn(serv.serve_forever)
        stop.wait()
        t.cancel()
    print(f"echo server stopped: closed {len(closed_at_shutdown)} connections", flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=25000)
    args = parser.parse_args()
    thredo.run(main, args.host, args.port)
