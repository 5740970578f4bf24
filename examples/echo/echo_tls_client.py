"""TLS echo client: send lines (from arguments or stdin) and print the echoes.

    python examples/echo/echo_tls_client.py [--host 127.0.0.1] [--port 25443]
        [--cafile CA] [--certfile CERT --keyfile KEY] [--server-hostname localhost] [line ...]

The server's certificate is verified (against --cafile, or the system's
CAs) and must name --server-hostname.  Each echo is awaited with a
timeout, so a dead or stalled server gives an error instead of a hang.
"""

import argparse
import sys

import thredo
from thredo import net
from thredo.net import ssl


def main(host, port, ctx, server_hostname, lines, timeout):
    with net.open_connection(host, port, ssl=ctx, server_hostname=server_hostname) as sock:
        stream = sock.as_stream()
        for line in lines:
            stream.write(line.encode() + b"\n")
            with thredo.timeout_after(timeout):
                echo = stream.readline()
            print(echo.decode().rstrip("\n"), flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=25443)
    parser.add_argument("--cafile")
    parser.add_argument("--certfile")
    parser.add_argument("--keyfile")
    parser.add_argument("--server-hostname", default="localhost")
    parser.add_argument("--timeout", type=float, default=5.0)
    parser.add_argument("lines", nargs="*")
    args = parser.parse_args()
    context = ssl.create_default_context(cafile=args.cafile)
    if args.certfile:
        context.load_cert_chain(args.certfile, args.keyfile)
    lines = args.lines or (line.rstrip("\n") for line in sys.stdin)
    try:
        thredo.run(main, args.host, args.port, context, args.server_hostname, lines, args.timeout)
    except thredo.ThreadTimeout:
        sys.exit("echo_tls_client: no echo within the timeout")
    except OSError as e:  # ssl.SSLError included: a certificate that does not verify
        sys.exit(f"echo_tls_client: {e}")
    except KeyboardInterrupt:
        pass
