"""Echo client: send lines (from arguments or stdin) and print the echoes.

    python examples/echo/echo_client.py [--host 127.0.0.1] [--port 25000] [line ...]

Each line is sent and its echo awaited with a timeout, so a dead server
gives an error instead of a hang.
"""

import argparse
import sys

import thredo
from thredo import net


def main(host, port, lines, timeout):
    with net.open_connection(host, port) as sock:
        stream = sock.as_stream()
        for line in lines:
            stream.write(line.encode() + b"\n")
            with thredo.timeout_after(timeout):
                echo = stream.readline()
            print(echo.decode().rstrip("\n"), flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=25000)
    parser.add_argument("--timeout", type=float, default=5.0)
    parser.add_argument("lines", nargs="*")
    args = parser.parse_args()
    lines = args.lines or (line.rstrip("\n") for line in sys.stdin)
    try:
        thredo.run(main, args.host, args.port, lines, args.timeout)
    except thredo.ThreadTimeout:
        sys.exit("echo_client: no echo within the timeout")
    except OSError as e:
        sys.exit(f"echo_client: {e}")
    except KeyboardInterrupt:
        pass
