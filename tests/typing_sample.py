"""A small, strictly typed thredo program: what a user's type checker must accept.

``tests/test_typing.py`` runs ``mypy --strict`` on this file from outside the
repository (so thredo is found the way a user's checker finds it: through the
installed package and its ``py.typed``) and expects no error; it also runs it,
so the program is known to be right at run time too.  CI's ``mypy`` (the
``files`` in pyproject.toml) checks it as well.

Run it: ``python tests/typing_sample.py`` prints ``ok``.
"""

from __future__ import annotations

import thredo
from thredo import net
from thredo.net import socket as tsocket


def double(n: int) -> int:
    thredo.sleep(0)
    return 2 * n


def greet(name: str, *, punctuation: str = "!") -> str:
    return f"hello {name}{punctuation}"


def echo(client: tsocket.socket, address: object) -> None:
    """A thredo server handler: one thread per connection."""
    with client.as_stream() as stream:
        for line in stream:
            stream.write(line)


def threads() -> None:
    t: thredo.Thread[int] = thredo.spawn(double, 21)
    n: int = t.join()
    assert n == 42
    g = thredo.spawn(greet, "world", punctuation="?")
    s: str = g.join()
    assert s == "hello world?"
    d = thredo.spawn(double, 1, daemon=True, name="doubler")
    assert d.join() == 2


def queues() -> None:
    # thredo.Queue is generic, as queue.Queue is.
    q: thredo.Queue[int] = thredo.Queue()
    producer = thredo.spawn(q.put, 5)
    item: int = q.get()
    producer.join()
    assert item == 5
    lq: thredo.LifoQueue[str] = thredo.LifoQueue(maxsize=2)
    lq.put_nowait("a")
    assert lq.get_nowait() == "a"


def groups_and_timeouts() -> None:
    # wait=any: leaving the block waits for the first thread, cancels the rest.
    with thredo.ThreadGroup(wait=any) as group:
        group.spawn(double, 4)
        group.spawn(thredo.sleep, 3600)
    assert group.result == 8

    with thredo.ThreadGroup(wait=all) as every:
        for i in range(3):
            every.spawn(double, i)
    assert sorted(every.results) == [0, 2, 4]

    try:
        with thredo.timeout_after(0.01):
            thredo.sleep(10)
    except thredo.ThreadTimeout:
        pass
    else:
        raise AssertionError("timeout_after did not fire")

    with thredo.ignore_after(0.01) as scope:
        thredo.sleep(10)
    assert scope.expired

    assert thredo.timeout_after(5, double, 3) == 6


def network() -> None:
    ports: thredo.Queue[int] = thredo.Queue()

    def ready(sock: tsocket.socket) -> None:
        ports.put(sock.getsockname()[1])

    server = thredo.spawn(net.tcp_server, "127.0.0.1", 0, echo, ready=ready)
    try:
        with thredo.timeout_after(10):
            port = ports.get()
            with net.open_connection("127.0.0.1", port) as client:
                client.sendall(b"ping\n")
                stream = client.as_stream()
                reply: bytes = stream.readline()
        assert reply == b"ping\n", reply
    finally:
        server.cancel()


def main() -> None:
    threads()
    queues()
    groups_and_timeouts()
    network()
    print("ok")


if __name__ == "__main__":
    thredo.run(main)
