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
from thredo.net import subprocess


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
    # name=/daemon= beside func's own keywords: accepted (the positional
    # arguments checked; func's keywords are not, see thredo.spawn).
    named = thredo.spawn(greet, "you", punctuation=".", name="greeter")
    assert named.join() == "hello you."


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

    # A group's result type: results is list[int], spawn takes int functions.
    with thredo.ThreadGroup[int](wait=all) as ints:
        ints.spawn(double, 5, name="five")
        first: thredo.Thread[int] = ints.spawn(double, 6)
    numbers: list[int] = ints.results
    assert numbers == [10, 12]
    assert first.result == 12

    try:
        with thredo.timeout_after(0.01):
            thredo.sleep(10)
    except thredo.ThreadTimeout as e:
        clock: tuple[object, ...] = e.args  # the exceptions are typed classes
        assert clock
    else:
        raise AssertionError("timeout_after did not fire")

    cause: BaseException | None = None
    try:
        thredo.spawn(int, "not a number").join()
    except thredo.ThreadError as e:
        cause = e.__cause__  # the thread's failure
    assert isinstance(cause, ValueError)

    with thredo.ignore_after(0.01) as scope:
        thredo.sleep(10)
    assert scope.expired

    assert thredo.timeout_after(5, double, 3) == 6
    late: int | str = thredo.ignore_after(5, double, 4, timeout_result="late")
    assert late == 8


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


def processes() -> None:
    code: int | None = None
    try:
        subprocess.run(["false"], check=True, capture_output=True)
    except subprocess.CalledProcessError as e:
        code = e.returncode
    assert code == 1


def main(greeting: str = "ok") -> None:
    threads()
    queues()
    groups_and_timeouts()
    network()
    processes()
    print(greeting)


if __name__ == "__main__":
    thredo.run(main, "ok")  # run(main, *args) checks args against main
