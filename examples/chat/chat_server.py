"""Chat server: one thredo thread per client, a writer thread per client, Ctrl-C stops all.

    python examples/chat/chat_server.py [--host 127.0.0.1] [--port 25000]

Protocol: a client's first line is its nickname; every later line is sent to
the others as ``nick: text``.  Joins and leaves are announced as ``*** ...``.

Policy (so one bad client only ever hurts itself):

- Each client has an outgoing queue of OUTBOX_LINES lines, emptied by its
  own writer thread.  Broadcasting never waits: if a client's queue is full
  (it is not reading), that client is disconnected ("not reading fast
  enough") and the others carry on undelayed.
- Lines are at most MAX_LINE bytes (``readline(maxlen)`` bounds memory); a
  longer line, or one that is not UTF-8, disconnects its sender with a
  message saying why.
- A client's lines are read at most RATE per second (BURST at once): a
  flooder is slowed by TCP back-pressure and cannot fill the others' queues.
- A client disconnected by the server is told why ("*** reason"); that
  farewell and the close take at most GOODBYE_TIMEOUT seconds.
- Ctrl-C: tcp_server cancels every handler; each tells its client "server
  is going away" (bounded as above: a stalled client just loses the
  message), its connection is closed, and the process exits 0.
"""

import argparse
import queue
import sys
import time

import thredo
from thredo import net

MAX_LINE = 4096  # bytes, newline included
OUTBOX_LINES = 512  # lines queued for one client before it counts as stalled
RATE, BURST = 1000, 64  # lines per second read from one client; BURST << OUTBOX_LINES
NICK_TIMEOUT = 30.0  # seconds to send the nickname line
GOODBYE_TIMEOUT = 0.5  # seconds a farewell may take before the socket is closed
SHUTDOWN = "server is going away"

clients = {}  # nick -> Client, guarded by lock
lock = thredo.Lock()


class Refused(Exception):
    """The client broke the protocol; the message says how."""


def read_text(stream):
    """The next line as text without its newline; None at end of file."""
    data = stream.readline(MAX_LINE)
    if not data:
        return None
    if len(data) == MAX_LINE and not data.endswith(b"\n"):
        raise Refused(f"line longer than {MAX_LINE} bytes")
    try:
        return data.decode().rstrip("\r\n")
    except UnicodeDecodeError:
        raise Refused("invalid UTF-8") from None


class Client:
    def __init__(self, nick, stream):
        self.nick, self.stream = nick, stream
        self.outbox = thredo.Queue(maxsize=OUTBOX_LINES)
        self.handler = thredo.current_thread()
        self.reason = None  # why the server ends the connection (None: the client left)
        self.midline = False  # a cancelled write left a partial line behind

    def write_loop(self):
        try:
            while True:
                line = self.outbox.get()
                try:
                    self.stream.write(line)
                except BaseException as e:
                    self.midline = getattr(e, "bytes_written", 0) > 0
                    raise
        except OSError:
            pass  # the client went away; the group ends the reader

    def read_loop(self):
        tokens, last = BURST, time.monotonic()
        try:
            while (text := read_text(self.stream)) is not None:
                broadcast(f"{self.nick}: {text}", self)
                now = time.monotonic()
                tokens = min(BURST, tokens + (now - last) * RATE) - 1
                last = now
                if tokens < 0:
                    thredo.sleep(-tokens / RATE)  # flood control
        except Refused as e:
            self.reason = str(e)
        except OSError:
            pass


def broadcast(text, sender=None):
    line = (text + "\n").encode()
    with lock:
        targets = [c for c in clients.values() if c is not sender]
    for c in targets:
        try:
            c.outbox.put_nowait(line)
        except queue.Full:
            c.reason = "not reading fast enough"
            c.handler.cancel(blocking=False)
            leave(c)


def join(nick, stream):
    if not nick or len(nick) > 32 or not nick.isprintable():
        raise Refused("a nickname is 1 to 32 printable characters")
    client = Client(nick, stream)
    with lock:
        if nick in clients:
            raise Refused(f"nickname {nick!r} is taken")
        others = ", ".join(clients) or "nobody"
        clients[nick] = client
    client.outbox.put(f"*** welcome {nick}; here: {others}\n".encode())
    broadcast(f"*** {nick} joined", client)
    return client


def leave(client):
    with lock:
        if clients.get(client.nick) is not client:
            return  # already gone
        del clients[client.nick]
    if client.reason != SHUTDOWN:
        why = f" ({client.reason})" if client.reason else ""
        broadcast(f"*** {client.nick} left{why}")


def handle(sock, address):
    stream = sock.as_stream()
    client = farewell = None
    try:
        with thredo.timeout_after(NICK_TIMEOUT):
            nick = read_text(stream)
        if nick is None:
            return
        client = join(nick.strip(), stream)
        with thredo.ThreadGroup(wait=any) as group:  # either ending ends the other
            group.spawn(client.write_loop)
            group.spawn(client.read_loop)
        farewell = client.reason
    except Refused as e:
        farewell = str(e)
    except thredo.ThreadTimeout:
        farewell = "no nickname given"
    except thredo.ThreadCancelled:
        farewell = client.reason if client and client.reason else SHUTDOWN
        if client:
            client.reason = farewell
        raise
    finally:
        if client:
            leave(client)
        if farewell:
            say_goodbye(sock, farewell, client is not None and client.midline)


def say_goodbye(sock, text, midline):
    """Best effort and bounded: a stalled client just loses the message."""
    gap = "\n" if midline else ""  # end the partial line a cancelled write left
    with thredo.ignore_after(GOODBYE_TIMEOUT):
        try:
            sock.sendall(f"{gap}*** {text}\n".encode())
            sock.shutdown(net.socket.SHUT_WR)
            while sock.recv(65536):  # take what the client still sends: closing with
                pass  # unread input would reset the connection and lose the message
        except OSError:
            pass


def main(host, port):
    def ready(sock):
        sys.stdout.write(f"chat server listening on {host}:{sock.getsockname()[1]}\n")

    try:
        net.tcp_server(host, port, handle, ready=ready)
    finally:
        sys.stdout.write("chat server stopped\n")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=25000)
    args = parser.parse_args()
    sys.stdout.reconfigure(line_buffering=True)  # one write per line, flushed
    try:
        thredo.run(main, args.host, args.port)
    except KeyboardInterrupt:
        pass
