"""``python -m benchmarks.wakeups``: see the package docstring (``__init__.py``)."""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import os
import random
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import sysconfig
import threading
import time
from collections.abc import Callable
from typing import Any

from .. import bench_net as bn
from .. import profile_echo
from .._util import in_plain_thread
from ..syscalls import _parse_strace

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.join(HERE, "_wakeups.c")
# design -> the C extension's code (None: stdlib sockets)
DESIGNS: dict[str, int | None] = {
    "plain": None,
    "plain_c": 0,
    "eventfd": 1,
    "ppoll": 2,
    "eintr": 3,
}
SHUTDOWN_CANCELLED = ("plain", "plain_c")  # no cancel of their own: shutdown + join
CANCEL_N = 1000
ECHO_ROUNDS, ECHO_ROUNDS_QUICK = 5, 2
CANCEL_ROUNDS, CANCEL_ROUNDS_QUICK = 5, 2
STRACE_SECONDS = 2.0
ECHO_SECONDS = 0.0  # per round; 0: bench_net's
CHECK_BYTES = 4 << 20  # per check run, sent in random-sized chunks


# -- the C extension -----------------------------------------------------------------


def _build() -> str | None:
    """Path of the built extension (built if needed), or None with the reason on stderr."""
    with open(SOURCE, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()[:12]
    ext = sysconfig.get_config_var("EXT_SUFFIX") or ".so"
    out_dir = os.path.join(HERE, "_build", digest)
    path = os.path.join(out_dir, "_wakeups" + ext)
    if os.path.exists(path):
        return path
    cc = shutil.which(os.environ.get("CC", "cc")) or shutil.which("gcc")
    include = sysconfig.get_paths()["include"]
    if cc is None or not os.path.exists(os.path.join(include, "Python.h")):
        print("benchmarks.wakeups: needs a C compiler and Python's headers", file=sys.stderr)
        return None
    os.makedirs(out_dir, exist_ok=True)
    tmp = f"{path}.{os.getpid()}.tmp"
    cmd = [cc, "-O2", "-shared", "-fPIC", "-I", include, "-o", tmp, SOURCE, "-lpthread"]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        print(f"benchmarks.wakeups: the C extension failed to build:\n{r.stderr}", file=sys.stderr)
        return None
    os.replace(tmp, path)  # atomic: a concurrent run never sees half a file
    return path


_module: list[Any] = []


def _load() -> Any:
    if not _module:
        path = _build()
        if path is None:
            raise SystemExit(0)
        spec = importlib.util.spec_from_file_location("_wakeups", path)
        assert spec is not None
        assert spec.loader is not None
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        _module.append(mod)
    return _module[0]


# -- the servers (thread per connection) -------------------------------------------


def _serve_one(conn: socket.socket, code: int, slot: list[Any]) -> None:
    """One connection: the Python loop of ``bench_net.echo_handler`` on a C Conn."""
    mod = _load()
    w = mod.Conn(conn.fileno(), code)
    slot.append(w)
    try:
        with conn:
            while True:
                data = w.recv(bn.ECHO_MSG)
                if not data:
                    return
                w.sendall(data)
    except mod.Cancelled:
        pass
    except OSError:
        pass  # a reset: the connection is gone
    finally:
        w.close()


def _accept_loop(lsock: socket.socket, code: int, registry: list[Any] | None = None) -> None:
    """As ``bench_net._plain_accept_loop``; registry gets (conn, thread, [Conn])."""
    while True:
        try:
            conn, _ = lsock.accept()
        except OSError:
            return
        slot: list[Any] = []
        t = threading.Thread(target=_serve_one, args=(conn, code, slot), daemon=True)
        t.start()
        if registry is not None:
            registry.append((conn, t, slot))


def _serve_main(design: str) -> None:
    bn._raise_nofile()
    code = DESIGNS[design]
    if code is None:
        bn._serve_main("plain", bn.BACKLOG)
        return
    _load().install(code)  # before any thread: they inherit its signal mask
    lsock = socket.create_server((bn.HOST, 0), backlog=bn.BACKLOG)
    threading.Thread(target=_accept_loop, args=(lsock, code), daemon=True).start()
    bn._command_loop(lsock.getsockname()[1])


def _design_cancel(code: int, n: int, gate: Callable[[str], None] | None = None) -> float:
    """``bench_net._plain_cancel``'s shape: shut the listener, cancel every Conn, join all."""
    lsock = socket.create_server((bn.HOST, 0), backlog=bn.BACKLOG)
    with lsock:
        registry: list[Any] = []
        acceptor = threading.Thread(target=_accept_loop, args=(lsock, code, registry))
        acceptor.start()
        clients = bn._idle_clients(lsock.getsockname()[1], n)
        if gate is not None:
            gate("start")
        t0 = time.perf_counter()
        lsock.shutdown(socket.SHUT_RDWR)
        acceptor.join()
        for conn, _, slot in registry:
            if code == 0:  # plain_c: no cancel of its own
                try:
                    conn.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            else:
                slot[0].cancel()
        for _, t, _ in registry:
            t.join()
        elapsed = time.perf_counter() - t0
        if gate is not None:
            gate("end")
    bn._check_closed(clients)
    return elapsed


def _cancel_main(design: str, n: int, gated: bool) -> None:
    """In a child: one cancel of ``n`` idle connections; print ``MS ms cpu_ms csw``.

    ``gated``: print READY before the timed part and DONE after it, each time
    waiting for a line on stdin (a tracer attaches and detaches there).
    """
    bn._raise_nofile()
    code = DESIGNS[design]
    usage: list[resource.struct_rusage] = []

    def gate(what: str) -> None:
        if gated:
            print("READY" if what == "start" else "DONE", flush=True)
            sys.stdin.readline()
        usage.append(resource.getrusage(resource.RUSAGE_SELF))

    if code is None:
        s = in_plain_thread(bn._plain_cancel, n, gate)
    else:
        _load().install(code)
        s = in_plain_thread(_design_cancel, code, n, gate)
    a, b = usage
    cpu = (b.ru_utime + b.ru_stime) - (a.ru_utime + a.ru_stime)
    csw = (b.ru_nvcsw + b.ru_nivcsw) - (a.ru_nvcsw + a.ru_nivcsw)
    print(f"MS {s * 1e3:.2f} {cpu * 1e3:.1f} {csw}", flush=True)


class _Server(bn._Server):
    """``bench_net._Server`` for a design: a ``python -m benchmarks.wakeups serve`` child."""

    def __init__(self, design: str, cpus: str | None) -> None:
        self.kind = design
        cmd = [sys.executable, "-m", "benchmarks.wakeups", "serve", design]
        self.proc = bn._spawn(cmd, cpus)
        self.port = int(bn._expect(self.proc, "READY")[0])


# -- echo ------------------------------------------------------------------------------


def _echo_round(srv: _Server, seconds: float, pin: tuple[str, str] | None) -> tuple[float, ...]:
    """(rt/s, ~server CPU us/rt, ~server context switches/rt) of one load-generator run."""
    cpu0, v0, i0 = srv.usage()
    rate = bn._echo_round(srv, seconds, pin)
    cpu1, v1, i1 = srv.usage()
    rts = rate * (seconds + bn.ECHO_GEN_WARMUP)  # the usage spans the warm-up too
    return rate, (cpu1 - cpu0) / rts * 1e6, (v1 - v0 + i1 - i0) / rts


def echo(designs: list[str], quick: bool) -> list[str]:
    seconds = ECHO_SECONDS or (bn.ECHO_SECONDS_QUICK if quick else bn.ECHO_SECONDS)
    rounds = ECHO_ROUNDS_QUICK if quick else ECHO_ROUNDS
    lines = [
        f"echo, {bn.ECHO_CONNS} connections, {bn.ECHO_MSG} B ping-pong "
        f"(medians of {rounds} alternating rounds of {seconds} s)",
        "",
        "ratios: of the medians, then (paired) the median of each round's ratio to plain's "
        "rate in the same round",
        "",
        "| design | regime | rt/s | to plain | paired | to plain_c | ~server CPU us/rt | ~csw/rt "
        "| rounds |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for label, pin, _ in bn._echo_regimes():
        servers: dict[str, _Server] = {}
        res: dict[str, list[tuple[float, ...]]] = {d: [] for d in designs}
        try:
            for d in designs:
                servers[d] = _Server(d, pin and pin[0])
                _echo_round(servers[d], bn.ECHO_WARMUP_SECONDS, pin)
            for i in range(rounds):
                for d in designs if i % 2 == 0 else designs[::-1]:
                    res[d].append(_echo_round(servers[d], seconds, pin))
                    print(f"  {label} {d}: {res[d][-1][0]:,.0f} rt/s", file=sys.stderr)
        finally:
            for srv in servers.values():
                srv.close()
        nan = float("nan")
        base = statistics.median(r[0] for r in res["plain"]) if "plain" in res else nan
        base_c = statistics.median(r[0] for r in res["plain_c"]) if "plain_c" in res else nan
        for d in designs:
            rate = statistics.median(r[0] for r in res[d])
            cpu = statistics.median(r[1] for r in res[d])
            csw = statistics.median(r[2] for r in res[d])
            each = ", ".join(f"{r[0] / 1e3:.1f}k" for r in res[d])
            paired = nan
            if "plain" in res:
                paired = statistics.median(
                    r[0] / p[0] for r, p in zip(res[d], res["plain"], strict=True)
                )
            lines.append(
                f"| {d} | {label} | {rate:,.0f} | {rate / base:.2f}x | {paired:.2f}x"
                f" | {rate / base_c:.2f}x"
                f" | {cpu:.1f} | {csw:.2f}"
                f" | {each} |"
            )
    return lines


# -- cancel_1000 -----------------------------------------------------------------------


def _cancel_once(design: str) -> tuple[float, float, int]:
    proc = bn._spawn([sys.executable, "-m", "benchmarks.wakeups", "cancel", design, str(CANCEL_N)])
    ms, cpu, csw = bn._expect(proc, "MS")
    bn._finish(proc, f"{design} cancel")
    return float(ms), float(cpu), int(csw)


def _cancel_strace(design: str) -> dict[str, int]:
    """System calls of one cancel window by name (strace attached after the set-up)."""
    cmd = [sys.executable, "-m", "benchmarks.wakeups", "cancel", design, str(CANCEL_N), "gated"]
    proc = bn._spawn(cmd)
    assert proc.stdin is not None
    bn._expect(proc, "READY")
    mon = subprocess.Popen(
        ["strace", "-c", "-f", "-q", "-p", str(proc.pid)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(2.0)  # attached to all ~1,000 threads before the cancel starts
    proc.stdin.write("\n")
    proc.stdin.flush()
    bn._expect(proc, "DONE")
    mon.send_signal(signal.SIGINT)
    calls = _parse_strace(mon.communicate()[1])
    proc.stdin.write("\n")
    proc.stdin.flush()
    bn._expect(proc, "MS")
    bn._finish(proc, f"{design} cancel")
    return calls


def cancel(designs: list[str], quick: bool) -> list[str]:
    bn._raise_nofile()
    rounds = CANCEL_ROUNDS_QUICK if quick else CANCEL_ROUNDS
    res: dict[str, list[tuple[float, float, int]]] = {d: [] for d in designs}
    for i in range(rounds):
        for d in designs if i % 2 == 0 else designs[::-1]:
            res[d].append(_cancel_once(d))
            print(f"  cancel {d}: {res[d][-1]}", file=sys.stderr)
    lines = [
        f"cancel {CANCEL_N} idle connections: until every handler has exited "
        f"(medians of {rounds} alternating rounds, a child process each)",
        "",
        "| design | ms | ms, each round | process CPU ms | context switches |",
        "|---|---|---|---|---|",
    ]
    for d in designs:
        ms = statistics.median(r[0] for r in res[d])
        each = ", ".join(f"{r[0]:.0f}" for r in res[d])
        cpu = statistics.median(r[1] for r in res[d])
        csw = statistics.median(r[2] for r in res[d])
        lines.append(f"| {d} | {ms:.0f} | {each} | {cpu:.0f} | {csw:,.0f} |")
    return lines


# -- system calls per round trip -----------------------------------------------------------


STEADY = ("recvfrom", "sendto", "poll", "ppoll", "rt_sigreturn", "tgkill", "read", "write")


def syscalls(designs: list[str], quick: bool) -> list[str]:
    if shutil.which("strace") is None:
        return ["syscalls: skipped (no strace)"]
    lines = [
        f"system calls per echo round trip (strace -c -f, one {STRACE_SECONDS} s run each, "
        "unpinned; futex inflated by strace's slow-down; other: mostly the start-up of the "
        "generator's 50 connections' threads, amortized over the few round trips traced)",
        "",
        "| design | per round trip | total | other | futex |",
        "|---|---|---|---|---|",
    ]
    for d in designs:
        with _Server(d, None) as srv:
            profile_echo._run_gen(srv.port, 0.3, None)  # warm-up: every handler started
            mon = profile_echo._attach(["strace", "-c", "-f", "-q"], srv.proc.pid)
            count, _ = profile_echo._run_gen(srv.port, STRACE_SECONDS, None)
            mon.send_signal(signal.SIGINT)
            calls = _parse_strace(mon.communicate()[1])
        by = ", ".join(f"{k} {calls[k] / count:.2f}" for k in STEADY if calls.get(k))
        steady = sum(calls.get(k, 0) for k in STEADY) / count
        other = sum(v for k, v in calls.items() if k not in STEADY and k != "futex") / count
        fut = calls.get("futex", 0) / count
        lines.append(f"| {d} | {by} | {steady:.2f} | {other:.2f} | {fut:.2f} |")
        print(f"  syscalls {d}: {lines[-1]}", file=sys.stderr)
    lines += [
        "",
        f"system calls of the cancel of {CANCEL_N} idle connections, per connection "
        "(strace attached after the set-up, detached before the clean-up)",
        "",
        "| design | calls (top 8, futex apart) | total | futex |",
        "|---|---|---|---|",
    ]
    for d in designs:
        calls = _cancel_strace(d)
        top = sorted(((k, v) for k, v in calls.items() if k != "futex"), key=lambda kv: -kv[1])
        by = ", ".join(f"{k} {v / CANCEL_N:.2f}" for k, v in top[:8])
        total = sum(v for k, v in calls.items() if k != "futex") / CANCEL_N
        fut = calls.get("futex", 0) / CANCEL_N
        lines.append(f"| {d} | {by} | {total:.2f} | {fut:.2f} |")
        print(f"  cancel syscalls {d}: {lines[-1]}", file=sys.stderr)
    return lines


# -- the cost of a recv that need not wait ---------------------------------------------------

READY_N = 20_000
READY_REPEATS = 15


def _ready_child(design: str) -> None:
    """In a child: ns per ``sendall(64 B)`` + ``recv(64)`` in one thread, data ready.

    No thread sleeps, so no scheduling enters it: the minimum of the repeats
    holds on a loaded machine.  Prints ``NS ns``.
    """
    code = DESIGNS[design]
    a, b = socket.socketpair()
    msg = b"x" * bn.ECHO_MSG
    if code is None:
        recv: Callable[[int], bytes] = a.recv
    else:
        mod = _load()
        mod.install(code)
        recv = mod.Conn(a.fileno(), code).recv
    send = b.sendall
    best = float("inf")
    for _ in range(READY_REPEATS):
        t0 = time.perf_counter()
        for _ in range(READY_N):
            send(msg)
            recv(64)
        best = min(best, time.perf_counter() - t0)
    print(f"NS {best / READY_N * 1e9:.0f}", flush=True)


def ready(designs: list[str], quick: bool) -> list[str]:
    lines = [
        f"a recv that need not wait: ns per 64 B sendall + recv in one thread over a socket "
        f"pair, minimum of {READY_REPEATS} x {READY_N:,} (three alternating child processes each)",
        "",
        "| design | ns | each child | more than plain_c |",
        "|---|---|---|---|",
    ]
    res: dict[str, list[float]] = {d: [] for d in designs}
    for i in range(1 if quick else 3):
        for d in designs if i % 2 == 0 else designs[::-1]:
            cmd = [sys.executable, "-m", "benchmarks.wakeups", "ready-child", d]
            r = subprocess.run(cmd, cwd=bn.ROOT, capture_output=True, text=True, env=_env())
            if not r.stdout.startswith("NS"):
                raise SystemExit(f"ready {d}:\n{r.stdout}{r.stderr}")
            res[d].append(float(r.stdout.split()[1]))
    base = min(res["plain_c"]) if "plain_c" in res else float("nan")
    for d in designs:
        each = ", ".join(f"{v:.0f}" for v in res[d])
        lines.append(f"| {d} | {min(res[d]):.0f} | {each} | {min(res[d]) - base:+.0f} |")
    return lines


# -- correctness: no byte lost, no cancel missed --------------------------------------------


def _check_one(code: int, rng: random.Random) -> tuple[int, int]:
    """A stream through a socket pair while the receiver is kicked and then cancelled.

    The receiver ``recv``s into a buffer; a kicker thread sends it spurious
    wake-ups (the signal, flag clear) all along and cancels it once it has
    received a random number of bytes, while bytes still flow.  Whatever the receiver did not get
    must still be in the socket: received + drained == sent, byte for byte.
    Returns (kicks sent, bytes the receiver got before its cancel).
    """
    mod = _load()
    a, b = socket.socketpair()
    payload = rng.randbytes(CHECK_BYTES)
    got = bytearray()
    holder: list[Any] = []
    ready = threading.Event()
    done = threading.Event()
    outcome: list[str] = []

    def receiver() -> None:
        w = mod.Conn(a.fileno(), code)
        holder.append(w)
        ready.set()
        try:
            while True:
                data = w.recv(rng.choice((1, 7, 64, 4096)))
                if not data:
                    outcome.append("eof")
                    return
                got.extend(data)
        except mod.Cancelled:
            outcome.append("cancelled")
        finally:
            done.set()
            w.close()

    def sender() -> None:
        view = memoryview(payload)
        i = 0
        while i < len(view):
            k = rng.randint(1, 8192)
            b.sendall(view[i : i + k])
            i += k
        b.shutdown(socket.SHUT_WR)

    kicks = 0
    rt = threading.Thread(target=receiver)
    st = threading.Thread(target=sender)
    rt.start()
    ready.wait()
    st.start()
    w = holder[0]
    target = rng.randrange(CHECK_BYTES)  # cancel once the receiver has this many
    while len(got) < target and not done.is_set():
        w.kick()
        kicks += 1
        if kicks % 16 == 0:
            time.sleep(0)  # lets the receiver run between kicks (the GIL)
    w.cancel()
    if not done.wait(10):
        raise AssertionError(f"design {code}: the cancel was missed")
    rt.join()
    before = len(got)
    while True:  # the rest must still be in the socket
        data = a.recv(65536)
        if not data:
            break
        got.extend(data)
    st.join()
    a.close()
    b.close()
    if outcome != ["cancelled"] and not (outcome == ["eof"] and before == len(payload)):
        raise AssertionError(f"design {code}: receiver ended with {outcome}")
    if bytes(got) != payload:
        raise AssertionError(f"design {code}: {len(got)} bytes, not the {len(payload)} sent")
    return kicks, before


def _idle_receiver(mod: Any, a: socket.socket, code: int, ready: Any, out: list[Any]) -> None:
    w = mod.Conn(a.fileno(), code)
    out.append(w)
    ready.set()
    try:
        w.recv(64)
        out.append("returned")
    except mod.Cancelled:
        out.append("cancelled")
    finally:
        w.close()


def _check_idle(code: int) -> None:
    """The cancel of a receiver that is blocked with nothing to read, 200 times."""
    mod = _load()
    for _ in range(200):
        a, b = socket.socketpair()
        ready = threading.Event()
        out: list[Any] = []
        t = threading.Thread(target=_idle_receiver, args=(mod, a, code, ready, out))
        t.start()
        ready.wait()
        out[0].cancel()  # anywhere: before the recv, in it, or about to enter it
        t.join(10)
        if t.is_alive() or out[1:] != ["cancelled"]:
            raise AssertionError(f"design {code}: idle cancel gave {out[1:]}")
        a.close()
        b.close()


def check(designs: list[str], quick: bool) -> list[str]:
    rng = random.Random(24)
    lines = [
        "correctness: a stream through a socket pair, spurious wake-ups all along, "
        "cancelled at a random moment; then 200 cancels of an idle receiver",
        "",
        "| design | runs | kicks | cancelled after (bytes, min-max) | lost/duplicated | missed |",
        "|---|---|---|---|---|---|",
    ]
    for d in designs:
        code = DESIGNS[d]
        if code is None or code == 0:
            continue
        _load().install(code)
        runs = 5 if quick else 20
        res = [_check_one(code, rng) for _ in range(runs)]
        _check_idle(code)
        kicks = sum(k for k, _ in res)
        lo, hi = min(b for _, b in res), max(b for _, b in res)
        mid = sum(1 for _, b in res if b < CHECK_BYTES)
        lines.append(
            f"| {d} | {runs} ({mid} cancelled mid-stream) | {kicks:,} | {lo:,}-{hi:,} "
            "| none | none |"
        )
        print(f"  check {d}: {lines[-1]}", file=sys.stderr)
    return lines


PARTS = {"check": check, "ready": ready, "echo": echo, "cancel": cancel, "syscalls": syscalls}


def _check_child(design: str, quick: bool) -> None:
    """In a child: the check part of one design (each installs its own signal)."""
    print("\n".join(check([design], quick)[4:]), flush=True)


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m benchmarks.wakeups", description=__doc__)
    p.add_argument("parts", nargs="*", help=f"of {', '.join(PARTS)} (default: all)")
    p.add_argument("--designs", default=",".join(DESIGNS), help="comma-separated")
    p.add_argument("--quick", action="store_true")
    p.add_argument("--rounds", type=int, help="echo and cancel rounds (default 5, --quick 2)")
    p.add_argument("--seconds", type=float, help="per echo round (default 2, --quick 0.5)")
    args, rest = p.parse_known_args()
    if args.parts[:1] == ["serve"]:
        _serve_main(args.parts[1])
        return
    if args.parts[:1] == ["cancel"] and len(args.parts) in (3, 4):
        _cancel_main(args.parts[1], int(args.parts[2]), args.parts[3:] == ["gated"])
        return
    if args.parts[:1] == ["ready-child"]:
        _ready_child(args.parts[1])
        return
    if args.parts[:1] == ["check-child"]:
        _check_child(args.parts[1], args.quick)
        return
    parts = args.parts or list(PARTS)
    if args.seconds:
        global ECHO_SECONDS
        ECHO_SECONDS = args.seconds
    if args.rounds:
        global ECHO_ROUNDS, ECHO_ROUNDS_QUICK, CANCEL_ROUNDS, CANCEL_ROUNDS_QUICK
        ECHO_ROUNDS = ECHO_ROUNDS_QUICK = CANCEL_ROUNDS = CANCEL_ROUNDS_QUICK = args.rounds
    designs = [d for d in args.designs.split(",") if d]
    if not set(parts) <= set(PARTS) or not set(designs) <= set(DESIGNS) or rest:
        p.error(f"parts are {', '.join(PARTS)}; designs are {', '.join(DESIGNS)}")
    mod = _load()  # builds, or exits 0 saying why not
    if not mod.HAVE_EINTR and "eintr" in designs:
        print("eintr design skipped: x86-64 Linux only", file=sys.stderr)
        designs.remove("eintr")
    if "plain" not in designs:
        designs.insert(0, "plain")
    print(f"benchmarks.wakeups: Python {sys.version.split()[0]}, {os.cpu_count()} CPUs\n")
    for part in parts:
        if part == "check":  # one child per design: a process reserves one signal
            out = check([], args.quick)
            for d in designs:
                if d in SHUTDOWN_CANCELLED:
                    continue
                cmd = [sys.executable, "-m", "benchmarks.wakeups", "check-child", d]
                if args.quick:
                    cmd.append("--quick")
                r = subprocess.run(cmd, cwd=bn.ROOT, capture_output=True, text=True, env=_env())
                if r.returncode != 0:
                    raise SystemExit(f"check of {d} failed:\n{r.stdout}{r.stderr}")
                out.append(r.stdout.strip())
        else:
            out = PARTS[part](designs, args.quick)
        print("\n".join(out) + "\n", flush=True)


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (bn.ROOT, env.get("PYTHONPATH")) if p)
    return env


if __name__ == "__main__":
    main()
