"""``overhead.py --servers``: requests per second of a hello-world app under real servers, bare vs wrapped.

uvicorn serves the raw ASGI app, gunicorn (one gthread worker) and waitress the
raw WSGI app, each on 127.0.0.1; the load generator is wrk when it is on PATH (one thread,
a few connections), otherwise a Python client sending a fixed number of
requests over keep-alive connections. Bare, wrapped and control runs alternate, several
rounds each; the wrapped (and control) rate over the bare rate of the same round, median
over rounds (lowest and highest in brackets), is the percentage of throughput kept.

The control is the bare app after an empty loop that costs as much as gwinspect adds
in-process (``server_apps.matching_loops``, measured in the server's own process): what the
server loses for any work of that cost, which on some servers is far more than its share of
the request's time.

With two or more CPUs and ``taskset`` available, the server runs on one CPU and the
load generator on another: sharing cores, the two disturbed each other so much that
the same bare server moved by 30% from run to run on a 2-core machine.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

from benchmarks.machine import describe
from tests.realserver import ROOT, free_port, serve

PY = sys.executable
SERVERS = {
    "uvicorn (raw ASGI)": lambda app, port: [PY, "-m", "uvicorn", f"benchmarks.server_apps:asgi_{app}", "--host",
                                             "127.0.0.1", "--port", str(port), "--log-level", "warning",
                                             "--no-access-log", "--lifespan", "off"],
    # gthread, so connections are kept alive: a sync worker closes each one and then waits for the client's
    # FIN (gunicorn 23+), which makes its figures mostly a measure of that wait.
    "gunicorn gthread (raw WSGI)": lambda app, port: [PY, "-m", "gunicorn", "-w", "1", "-k", "gthread", "--threads",
                                                      "4", "-b", f"127.0.0.1:{port}", "--log-level", "warning",
                                                      f"benchmarks.server_apps:wsgi_{app}"],
    # As many threads as connections: otherwise waitress logs a queue-depth warning per request, and the
    # unread pipe of its output fills up and blocks it.
    "waitress (raw WSGI)": lambda app, port: [PY, "-m", "waitress", f"--listen=127.0.0.1:{port}", "--threads=8",
                                              f"benchmarks.server_apps:wsgi_{app}"],
}


def wrk(port: int, seconds: float, connections: int) -> float:
    out = subprocess.run([*LOAD_CPUS, "wrk", "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", f"http://127.0.0.1:{port}/"],
                         capture_output=True, text=True, check=True).stdout
    match = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if not match or "Non-2xx" in out:
        raise RuntimeError(f"wrk run failed:\n{out}")
    if "Socket errors" in out:  # e.g. a server closing idle keep-alive connections; counted, not fatal
        print("  wrk: " + next(line for line in out.splitlines() if "Socket errors" in line).strip(), file=sys.stderr)
    return float(match.group(1))


def python_client(port: int, seconds: float, connections: int) -> float:
    """Fallback load generator: keep-alive GETs from ``connections`` threads for ``seconds``."""
    import http.client
    counts = [0] * connections
    stop = time.monotonic() + seconds

    def worker(i: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        while time.monotonic() < stop:
            conn.request("GET", "/")
            response = conn.getresponse()
            response.read()
            if response.status != 200:
                raise RuntimeError(f"status {response.status}")
            counts[i] += 1
        conn.close()
    threads = [threading.Thread(target=worker, args=(i,)) for i in range(connections)]
    start = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(counts) / (time.monotonic() - start)


VARIANTS = ("bare", "wrapped", "control")


def run_servers(args: argparse.Namespace) -> int:
    generator = wrk if shutil.which("wrk") else python_client
    label = "wrk -t1 -c8" if generator is wrk else "Python keep-alive client, 8 threads"
    if SERVER_CPUS:
        label += f"; load on CPU {LOAD_CPUS[-1]}, server on CPU {SERVER_CPUS[-1]} (taskset)"
    print(f"Machine: {describe()}\nLoad generator: {label}, {args.duration:g} s per run, "
          f"{args.rounds} interleaved rounds\n")
    print("| server | bare req/s | gwinspect req/s | kept | kept with a plain loop instead (same in-process cost) |")
    print("|---|---:|---:|---:|---:|")
    for name, command in SERVERS.items():
        if args.server and args.server.lower() not in name.lower():
            continue
        with _servers(command) as ports:
            for port in ports.values():  # the app loaded (gunicorn's worker imports it after binding), and
                _get(port)               # the control's loop measured, before any server is put under load
            for port in ports.values():  # warm up: imports, first connections, the store filling up
                generator(port, 1.0, 8)
            rates: dict[str, list[float]] = {tag: [] for tag in VARIANTS}
            for r in range(args.rounds):
                shift = r % len(VARIANTS)  # each variant takes each place in the order in turn
                for tag in VARIANTS[shift:] + VARIANTS[:shift]:
                    rates[tag].append(generator(ports[tag], args.duration, 8))
        bare, wrapped = statistics.median(rates["bare"]), statistics.median(rates["wrapped"])
        print(f"| {name} | {bare:,.0f} | {wrapped:,.0f} | {_kept(rates, 'wrapped')} | {_kept(rates, 'control')} |",
              flush=True)
    return 0


def _get(port: int) -> None:
    import http.client
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    conn.request("GET", "/")
    conn.getresponse().read()
    conn.close()


def _kept(rates: dict[str, list[float]], tag: str) -> str:
    """The median over rounds of the variant's rate over the bare one measured in the same round.

    Paired by round, so a machine that slows down for a while slows both sides of a ratio.
    """
    ratios = sorted(v / b for v, b in zip(rates[tag], rates["bare"], strict=True))
    return f"{100 * statistics.median(ratios):.1f}% ({100 * ratios[0]:.0f}-{100 * ratios[-1]:.0f})"


def cpu_split() -> tuple[list[str], list[str]]:
    """Command prefixes pinning the load generator and the server to different CPUs (none if impossible)."""
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    if len(cpus) < 2 or not shutil.which("taskset"):
        return [], []
    half = len(cpus) // 2
    return (["taskset", "-c", ",".join(map(str, cpus[:half]))],
            ["taskset", "-c", ",".join(map(str, cpus[half:]))])


LOAD_CPUS, SERVER_CPUS = cpu_split()


class _servers:
    """One server of the kind per variant, all running at once, so rounds can alternate without restarts."""

    def __init__(self, command: object) -> None:
        self.command = command
        self.stack: list[object] = []

    def __enter__(self) -> dict[str, int]:
        ports = {}
        for tag in VARIANTS:
            port = free_port()
            ctx = serve([*SERVER_CPUS, *self.command(tag, port)], port, cwd=Path(ROOT))  # type: ignore[operator]
            ctx.__enter__()
            self.stack.append(ctx)
            ports[tag] = port
        return ports

    def __exit__(self, *exc: object) -> None:
        for ctx in reversed(self.stack):
            ctx.__exit__(None, None, None)  # type: ignore[attr-defined]
