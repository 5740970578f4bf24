"""TLS echo server: one thredo thread per connection, stopped cleanly by Ctrl-C.

    python examples/echo/echo_tls_server.py [--host 127.0.0.1] [--port 25443]
        [--certfile CERT --keyfile KEY] [--cafile CA] [--ca-out FILE]

With --certfile/--keyfile it serves that certificate; --cafile makes it ask
clients for a certificate signed by that CA.  Without them it makes a
throw-away CA and a certificate for localhost/127.0.0.1 with trustme
(`pip install 'thredo[examples]'`) and writes the CA to --ca-out for clients:

    python examples/echo/echo_tls_client.py --cafile FILE hello world

Ctrl-C cancels the main thread: tcp_server stops accepting, cancels every
handler (a handshake that stalls included), closes every connection -- the
clients see end of file -- and returns once all have exited.
"""

import argparse
import os
import ssl
import tempfile

import thredo
from thredo import net

closed_at_shutdown = []


def echo(client, address):
    try:
        while data := client.recv(65536):
            client.sendall(data)
    except thredo.ThreadCancelled:
        closed_at_shutdown.append(address)
        raise


def make_context(certfile, keyfile, cafile, ca_out):
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    if certfile:
        ctx.load_cert_chain(certfile, keyfile)
    else:
        import trustme  # the examples extra

        ca = trustme.CA()
        ca.issue_cert("localhost", "127.0.0.1").configure_cert(ctx)
        ca.cert_pem.write_to_path(ca_out)
        print(f"clients trust the CA in {ca_out}", flush=True)
    if cafile:
        ctx.load_verify_locations(cafile)
        ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx


def main(host, port, ctx):
    serving = False  # the "stopped" line only after a "listening" one

    def ready(sock):
        nonlocal serving
        serving = True
        print(f"echo TLS server listening on {host}:{sock.getsockname()[1]}", flush=True)

    try:
        net.tcp_server(host, port, echo, ssl=ctx, ready=ready)
    except OSError as exc:
        if serving:
            raise
        # A busy port (or a bad address): one line on stderr, exit status 1.
        message = f"echo TLS server: cannot listen on {host}:{port}: {exc.strerror}"
        raise SystemExit(message) from None
    finally:
        if serving:
            closed = len(closed_at_shutdown)
            print(f"echo TLS server stopped: closed {closed} connections", flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=25443)
    parser.add_argument("--certfile")
    parser.add_argument("--keyfile")
    parser.add_argument("--cafile", help="require client certificates signed by this CA")
    parser.add_argument("--ca-out", default=os.path.join(tempfile.gettempdir(), "echo-tls-ca.pem"))
    args = parser.parse_args()
    context = make_context(args.certfile, args.keyfile, args.cafile, args.ca_out)
    try:
        thredo.run(main, args.host, args.port, context)
    except KeyboardInterrupt:
        pass
