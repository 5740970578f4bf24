"""The monitor (thredo/_monitor.py) and its client, python -m thredo.monitor (thredo/monitor.py)."""

from __future__ import annotations

import json
import os
import socket as std_socket
import stat
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path
from typing import Any

import pytest
from helpers import WAIT, wait_until

import thredo
from thredo import _monitor
from thredo.monitor import Client

NOBODY = 65534


def monitor_cmd(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "thredo.monitor", *args],
        capture_output=True,
        text=True,
        timeout=WAIT * 3,
    )


class Child:
    """A thredo program in a child process, run with THREDO_MONITOR=1."""

    def __init__(self, tmp_path: Path, source: str, **env_vars: str) -> None:
        script = tmp_path / "child.py"
        script.write_text(textwrap.dedent(source))
        env = dict(os.environ, THREDO_MONITOR="1", **env_vars)
        self.proc = subprocess.Popen(
            [sys.executable, str(script)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        self.pid = str(self.proc.pid)

    def line(self) -> str:
        assert self.proc.stdout is not None
        return self.proc.stdout.readline().strip()

    def finish(self) -> int:
        try:
            return self.proc.wait(WAIT * 3)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            for f in (self.proc.stdin, self.proc.stdout):
                if f is not None:
                    f.close()


WORKERS = """
    import thredo

    def worker():
        try:
            thredo.Queue().get()
        finally:
            print("worker finally", flush=True)

    def echo(inq, outq):
        while True:
            outq.put(inq.get())

    def main():
        inq, outq = thredo.Queue(), thredo.Queue()
        w = thredo.spawn(worker, name="worker")
        thredo.spawn(echo, inq, outq, name="echo", daemon=True)
        print("ready", w.id, flush=True)
        w.wait()
        print("cancelled", w.cancelled, flush=True)
        inq.put("ping")
        print("echo", outq.get(), flush=True)

    thredo.run(main)
"""


class TestProcess:
    def test_ps_where_cancel(self, tmp_path: Path) -> None:
        child = Child(tmp_path, WORKERS)
        try:
            word, wid = child.line().split()
            assert word == "ready"
            path = _monitor.socket_path(child.proc.pid)
            assert os.path.exists(path)
            wait_until(
                lambda: "Queue.get" in monitor_cmd(child.pid, "ps").stdout, "worker in Queue.get"
            )
            r = monitor_cmd(child.pid, "ps")
            assert r.returncode == 0, r.stderr
            assert f"#{wid} worker: blocked in Queue.get on Queue" in r.stdout
            assert "echo (daemon): blocked in Queue.get" in r.stdout

            r = monitor_cmd(child.pid, "ps", "--json")
            assert r.returncode == 0, r.stderr
            records = {d["name"]: thredo.ThreadInfo.from_json(d) for d in json.loads(r.stdout)}
            assert records["worker"].blocked is not None
            assert records["worker"].blocked.call == "Queue.get"
            assert records["worker"].parent == records["thredo-main"].id

            r = monitor_cmd(child.pid, "tree")
            assert r.returncode == 0
            assert "└─ #1 thredo-main" in r.stdout

            r = monitor_cmd(child.pid, "where", wid)
            assert r.returncode == 0, r.stderr
            assert "in worker" in r.stdout
            assert "thredo.Queue().get()" in r.stdout
            r = monitor_cmd(child.pid, "where", wid, "--json")
            assert "worker" in [f["function"] for f in json.loads(r.stdout)["stack"]]

            r = monitor_cmd(child.pid, "where", "9999")
            assert r.returncode == 1
            assert "no live thredo thread #9999" in r.stderr

            r = monitor_cmd(child.pid, "cancel", wid)
            assert r.returncode == 0
            assert "cancel sent" in r.stdout
            assert child.line() == "worker finally"
            assert child.line() == "cancelled True"
            assert child.line() == "echo ping"  # the rest kept working
            assert child.finish() == 0
            assert not os.path.exists(path)  # removed at the end of the run
        finally:
            child.finish()

    def test_deadlocked_program_still_answers(self, tmp_path: Path) -> None:
        child = Child(
            tmp_path,
            """
            import thredo

            a, b = thredo.Lock(), thredo.Lock()
            both = thredo.Barrier(2)

            def one(first, second):
                with first:
                    both.wait()
                    with second:
                        pass

            def main():
                t1 = thredo.spawn(one, a, b, name="ab")
                t2 = thredo.spawn(one, b, a, name="ba")
                print("ready", t1.id, flush=True)
                t1.wait()
                t2.wait()
                print("over", t1.cancelled, t2.cancelled, flush=True)

            thredo.run(main)
            """,
        )
        try:
            word, t1 = child.line().split()

            def deadlocked() -> bool:
                out = monitor_cmd(child.pid, "ps").stdout
                return out.count("blocked in Lock.acquire") == 2

            wait_until(deadlocked, "both threads in Lock.acquire")
            r = monitor_cmd(child.pid, "cancel", t1)  # breaks the deadlock
            assert r.returncode == 0
            assert child.line() == "over True False"
            assert child.finish() == 0
        finally:
            child.finish()

    def test_interactive(self, tmp_path: Path) -> None:
        child = Child(tmp_path, WORKERS)
        try:
            word, wid = child.line().split()
            r = subprocess.run(
                [sys.executable, "-m", "thredo.monitor", child.pid],
                input=f"help\nps\ntree --json\ncancel {wid}\nquit\n",
                capture_output=True,
                text=True,
                timeout=WAIT * 3,
            )
            assert r.returncode == 0, r.stderr
            assert "cancel ID" in r.stdout  # help
            assert "thredo-main" in r.stdout
            assert '"version": 1' in r.stdout
            assert "cancel sent" in r.stdout
            assert child.line() == "worker finally"
            assert child.finish() == 0
        finally:
            child.finish()

    def test_no_monitor_no_socket(self) -> None:
        r = monitor_cmd("999999999", "ps")
        assert r.returncode == 2
        assert "cannot reach" in r.stderr


class TestInProcess:
    def test_run_monitor_true(self) -> None:
        path = _monitor.socket_path(os.getpid())

        def main() -> Any:
            st = os.stat(_monitor.socket_dir())
            assert stat.S_IMODE(st.st_mode) == 0o700
            assert st.st_uid == os.getuid()
            with Client(path) as c:
                ps = c.call("ps")
                bad = c.call("frobnicate")
                empty = c.call("")
            return ps, bad, empty

        ps, bad, empty = thredo.run(main, monitor=True)
        assert ps["ok"]
        assert [d["name"] for d in ps["data"]] == ["thredo-main"]
        assert not bad["ok"]
        assert "unknown command" in bad["text"]
        assert empty["ok"]
        assert not os.path.exists(path)

    def test_socket_option(self) -> None:
        d = tempfile.mkdtemp()
        path = os.path.join(d, "m.sock")
        m = _monitor.Monitor(path)
        m.start()
        try:
            r = monitor_cmd("--socket", path, "ps", "--json")
            assert r.returncode == 0
            assert json.loads(r.stdout) == []
        finally:
            m.close()
            os.rmdir(d)

    def test_refuses_a_directory_that_is_not_private(self, monkeypatch: Any) -> None:
        d = tempfile.mkdtemp()
        try:
            os.chmod(d, 0o755)
            monkeypatch.setenv("XDG_RUNTIME_DIR", d)
            os.mkdir(os.path.join(d, "thredo"), 0o755)
            os.chmod(os.path.join(d, "thredo"), 0o755)
            with pytest.warns(RuntimeWarning, match="not a private directory"):
                assert thredo.run(lambda: 7, monitor=True) == 7
        finally:
            os.rmdir(os.path.join(d, "thredo"))
            os.rmdir(d)


def _connect_as_nobody(path: str) -> int:
    """In a forked child: drop to uid 65534, connect; 0 refused by the monitor, 2 by the fs."""
    pid = os.fork()
    if pid == 0:  # the child: only os-level calls, then _exit
        code = 1
        try:
            os.setgid(NOBODY)
            os.setuid(NOBODY)
            s = std_socket.socket(std_socket.AF_UNIX)
            s.settimeout(WAIT)
            try:
                s.connect(path)
            except PermissionError:
                code = 2
            else:
                data = b""  # the refusal comes at once, before any command
                while True:
                    chunk = s.recv(4096)
                    if not chunk:
                        break
                    data += chunk
                reply = json.loads(data.split(b"\n")[0])
                code = 0 if not reply["ok"] and "refused" in reply["text"] else 1
        except BaseException:
            code = 3
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


@pytest.mark.skipif(os.getuid() != 0, reason="dropping to another uid needs root (setuid)")
class TestOtherUser:
    def test_private_directory_keeps_other_users_out(self) -> None:
        m = _monitor.Monitor()
        m.start()
        try:
            assert _connect_as_nobody(m.path) == 2  # EACCES: the 0700 directory
        finally:
            m.close()

    def test_peer_uid_checked_even_when_the_path_is_open(self) -> None:
        d = tempfile.mkdtemp()
        os.chmod(d, 0o777)
        path = os.path.join(d, "open.sock")
        m = _monitor.Monitor(path)
        m.start()
        try:
            os.chmod(path, 0o777)  # as if someone loosened it: SO_PEERCRED still refuses
            assert _connect_as_nobody(path) == 0
            with Client(path) as c:  # our own uid is served
                assert c.call("ps")["ok"]
        finally:
            m.close()
            os.rmdir(d)


class TestCannotHurtTheProgram:
    """Issue 22.3: the monitor never holds run(), nor fails a client at once."""

    def test_thread_ids_are_ascii_digits_only(self) -> None:
        m = _monitor.Monitor("/nonexistent/unused.sock")
        try:
            for word in ("\u0662", "#\u0662", "1\u0662", "+1", "1_0"):
                reply = m.command(f"where {word}")
                assert not reply["ok"]
                assert "not a thread id" in reply["text"]
        finally:
            m._close_pipe()

    def test_pid_is_ascii_digits_only(self) -> None:
        r = monitor_cmd("\u0662", "ps")
        assert r.returncode == 2
        assert "not a process id" in r.stderr

    def test_run_does_not_wait_on_a_client_that_stops_reading(self) -> None:
        path = _monitor.socket_path(os.getpid())
        held: list[std_socket.socket] = []

        def main() -> None:
            s = std_socket.socket(std_socket.AF_UNIX)
            held.append(s)
            s.connect(path)
            s.sendall(b"help\n" * 4000)  # ~2 MB of replies, never read
            with Client(path) as c:  # the monitor is still serving others
                assert c.call("ps")["ok"]

        import time

        t0 = time.monotonic()
        try:
            thredo.run(main, monitor=True)
            took = time.monotonic() - t0
        finally:
            for s in held:
                s.close()
        assert took < 5.0, f"run() waited {took:.1f}s on a client that does not read"
        assert not os.path.exists(path)

    def test_many_concurrent_clients_all_served(self) -> None:
        import threading

        d = tempfile.mkdtemp()
        path = os.path.join(d, "m.sock")
        m = _monitor.Monitor(path)
        m.start()
        errors: list[BaseException] = []
        start = threading.Event()

        def one() -> None:
            start.wait()
            try:
                with Client(path) as c:
                    assert c.call("ps")["ok"]
            except BaseException as e:
                errors.append(e)

        threads = [threading.Thread(target=one) for _ in range(150)]
        try:
            for t in threads:
                t.start()
            start.set()
            for t in threads:
                t.join(WAIT * 3)
        finally:
            m.close()
            os.rmdir(d)
        assert errors == []

    def test_at_the_descriptor_limit_no_spin_and_no_theft(self, tmp_path: Path) -> None:
        sock_path = str(tmp_path / "m.sock")
        script = tmp_path / "fdlimit.py"
        script.write_text(
            textwrap.dedent(
                f"""
                import errno, os, resource, sys
                from thredo import _monitor
                resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))
                m = _monitor.Monitor({sock_path!r})
                m.start()
                fds = []
                while True:
                    try:
                        fds.extend(os.pipe())
                    except OSError as e:
                        assert e.errno == errno.EMFILE
                        break
                try:
                    fds.append(os.open(os.devnull, os.O_RDONLY))  # the last odd one
                except OSError:
                    pass
                print("full", flush=True)
                sys.stdin.readline()  # the client is in the backlog now
                t0 = sum(os.times()[:2])
                import select
                select.select([], [], [], 1.5)  # idle
                cpu = sum(os.times()[:2]) - t0
                os.close(fds.pop())
                os.close(fds.pop())
                try:
                    r, w = os.pipe()
                    ok = "pipe ok"
                except OSError as e:
                    ok = "pipe " + errno.errorcode[e.errno]
                for fd in fds:
                    os.close(fd)
                m.close()
                print(f"{{cpu:.3f}} {{ok}}", flush=True)
                """
            )
        )
        proc = subprocess.Popen(
            [sys.executable, str(script)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        assert proc.stdin is not None
        assert proc.stdout is not None
        client = std_socket.socket(std_socket.AF_UNIX)
        try:
            assert proc.stdout.readline().strip() == "full"
            client.connect(sock_path)
            client.sendall(b"ps\n")
            proc.stdin.write("go\n")
            proc.stdin.flush()
            cpu, ok = proc.stdout.readline().split(maxsplit=1)
            assert proc.wait(WAIT * 3) == 0
        finally:
            client.close()
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            proc.stdin.close()
            proc.stdout.close()
        assert ok.strip() == "pipe ok", f"cpu {cpu}s"
        assert float(cpu) < 0.5, f"the accept loop used {cpu}s of CPU in 1.5 s idle"


class TestDebugging:
    """Issue 23.3: the monitor as a debugging tool, against running programs."""

    def test_dump_stacks_text_and_json(self, tmp_path: Path) -> None:
        child = Child(tmp_path, WORKERS)
        try:
            word, wid = child.line().split()
            wait_until(
                lambda: "Queue.get" in monitor_cmd(child.pid, "ps").stdout, "worker in Queue.get"
            )
            r = monitor_cmd(child.pid, "dump", "--stacks")
            assert r.returncode == 0, r.stderr
            assert f"#{wid} worker: blocked in Queue.get" in r.stdout
            assert "in worker" in r.stdout
            assert "thredo.Queue().get()" in r.stdout
            assert "in echo" in r.stdout  # every thread's stack, not one
            r = monitor_cmd(child.pid, "dump", "--stacks", "--json")
            assert r.returncode == 0, r.stderr
            doc = json.loads(r.stdout)
            assert doc["version"] == 1
            by_name = {d["name"]: d for d in doc["threads"]}
            assert "worker" in [f["function"] for f in by_name["worker"]["stack"]]
            assert all(d["stack"] for d in doc["threads"])
            r = monitor_cmd(child.pid, "dump")  # without --stacks: the tree only
            assert r.returncode == 0, r.stderr
            assert "in worker" not in r.stdout
            monitor_cmd(child.pid, "cancel", wid)
            assert child.line() == "worker finally"
            assert child.finish() == 0
        finally:
            child.finish()

    def test_stdlib_waits_other_threads_and_servers(self, tmp_path: Path) -> None:
        child = Child(
            tmp_path,
            """
            import queue, socket, socketserver, sys, threading
            import thredo

            stdlock = threading.Lock()
            stdlock.acquire()
            ev = threading.Event()
            q = queue.Queue()

            class H(socketserver.BaseRequestHandler):
                def handle(self):
                    self.request.recv(10)

            class S(thredo.ThredoMixIn, socketserver.TCPServer):
                pass

            def locker():
                with stdlock:
                    pass

            def main():
                plain = threading.Thread(target=ev.wait, name="plainer", daemon=True)
                plain.start()
                srv = S(("127.0.0.1", 0), H)
                server = thredo.spawn(srv.serve_forever, name="server")
                lk = thredo.spawn(locker, name="stdlocker")
                qt = thredo.spawn(q.get, name="stdq")
                c = socket.create_connection(srv.server_address)
                print("ready", srv.server_address[1], c.getsockname()[1], flush=True)
                sys.stdin.readline()
                ev.set()
                stdlock.release()
                q.put(1)
                c.close()
                srv.shutdown()
                srv.server_close()
                for t in (lk, qt, server):
                    t.join()
                plain.join()
                print("over", flush=True)

            thredo.run(main)
            """,
        )
        try:
            word, port, cport = child.line().split()

            def settled() -> bool:
                out = monitor_cmd(child.pid, "tree").stdout
                return (
                    out.count("not cancellable") >= 3
                    and "serve_forever" in out
                    and ("thredo handler" in out)
                )

            wait_until(settled, "every thread in its wait")
            r = monitor_cmd(child.pid, "tree")
            assert r.returncode == 0, r.stderr
            out = r.stdout
            line = {ln.split(": ")[0].split()[-1]: ln for ln in out.splitlines() if ": " in ln}
            assert "blocked in threading.Lock.acquire on lock" in line["stdlocker"]
            assert "(not cancellable" in line["stdlocker"]
            assert "blocked in queue.Queue.get on Queue" in line["stdq"]
            assert "(0 items)" in line["stdq"]
            assert f"server: blocked in serve_forever on 127.0.0.1:{port}" in out
            assert "epoll" not in out
            assert f"thredo handler 127.0.0.1:{cport}: blocked in recv" in out
            assert "other threads" in out
            assert "plainer [plain] (daemon): blocked in threading.Event.wait on Event" in out
            assert "MainThread [kernel]" in out
            assert "thredo-monitor [monitor]" in out

            doc = json.loads(monitor_cmd(child.pid, "dump", "--stacks", "--json").stdout)
            threads = {d["name"]: d for d in doc["threads"]}
            assert threads["stdq"]["state"] == "blocked"
            assert threads["stdq"]["blocked"]["cancellable"] is False
            assert threads["stdq"]["blocked"]["kind"] == "queue"
            assert threads["server"]["blocked"]["kind"] == "server"
            assert threads["server"]["blocked"]["local"] == f"127.0.0.1:{port}"
            others = {d["name"]: d for d in doc["others"]}
            assert others["plainer"]["role"] == "plain"
            assert others["plainer"]["blocked"]["call"] == "threading.Event.wait"
            assert others["MainThread"]["role"] == "kernel"
            assert all(o["stack"] for o in doc["others"])
            assert child.proc.stdin is not None
            child.proc.stdin.write("go\n")
            child.proc.stdin.flush()
            assert child.line() == "over"
            assert child.finish() == 0
        finally:
            child.finish()

    DEADLOCK = """
        import thredo

        a, b = thredo.Lock(), thredo.Lock()
        both = thredo.Barrier(2)

        def one(first, second):
            with first:  # uncontended: nothing records it without owner tracking
                both.wait()
                with second:
                    pass

        def main():
            t1 = thredo.spawn(one, a, b, name="ab")
            t2 = thredo.spawn(one, b, a, name="ba")
            print("ready", t1.id, t2.id, hex(id(a)), hex(id(b)), flush=True)
            t1.wait()
            t2.wait()
            print("over", t1.cancelled, t2.cancelled, flush=True)

        thredo.run(main)
    """

    def test_deadlock_found_with_lock_owners(self, tmp_path: Path) -> None:
        child = Child(tmp_path, self.DEADLOCK, THREDO_LOCK_OWNERS="1")
        try:
            word, t1, t2, a, b = child.line().split()
            wait_until(
                lambda: monitor_cmd(child.pid, "ps").stdout.count("blocked in Lock.acquire") == 2,
                "both threads in Lock.acquire",
            )
            r = monitor_cmd(child.pid, "deadlocks")
            assert r.returncode == 0, r.stderr
            assert "DEADLOCK: 2 threads wait in a cycle" in r.stdout
            assert f"#{t1} 'ab' waits in Lock.acquire on Lock {b} (held by #{t2} 'ba')" in r.stdout
            assert f"#{t2} 'ba' waits in Lock.acquire on Lock {a} (held by #{t1} 'ab')" in r.stdout
            assert sorted(json.loads(monitor_cmd(child.pid, "deadlocks", "--json").stdout)[0]) == [
                int(t1),
                int(t2),
            ]
            tree = monitor_cmd(child.pid, "tree").stdout
            assert tree.splitlines()[1] == "DEADLOCK: 2 threads wait in a cycle"
            r = monitor_cmd(child.pid, "cancel", t1)  # breaks the deadlock
            assert r.returncode == 0
            assert child.line() == "over True False"
            assert child.finish() == 0
        finally:
            child.finish()

    def test_without_lock_owners_the_holder_is_not_known(self, tmp_path: Path) -> None:
        child = Child(tmp_path, self.DEADLOCK)
        try:
            word, t1, t2, a, b = child.line().split()
            wait_until(
                lambda: monitor_cmd(child.pid, "ps").stdout.count("blocked in Lock.acquire") == 2,
                "both threads in Lock.acquire",
            )
            out = monitor_cmd(child.pid, "ps").stdout
            assert "holder not recorded (taken uncontended; THREDO_LOCK_OWNERS=1" in out
            assert monitor_cmd(child.pid, "deadlocks").stdout.startswith("no deadlock")
            monitor_cmd(child.pid, "cancel", t1)
            assert child.line() == "over True False"
            assert child.finish() == 0
        finally:
            child.finish()
