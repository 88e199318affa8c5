"""``overhead.py --servers``: requests per second of hello-world and framework apps under real servers.

uvicorn serves a raw ASGI app and a Starlette one, gunicorn (one gthread worker) and waitress a
raw WSGI app and a Flask one (``ROWS``), each on 127.0.0.1. Every row runs four servers: the
bare app, the app wrapped with gwinspect, a control, the bare app after an empty loop that
costs as much as gwinspect adds in-process (``server_apps.matching_loops``, measured in the
server's own process): what the server loses for any work of that cost, and a floor, the bare
app wrapped in the least recording middleware that keeps its last 500 requests
(``benchmarks/floor.py``): about the least any pure-Python recorder keeping as many would lose. "Kept" is
a variant's rate over the bare rate measured with it, median over rounds (lowest and highest in
brackets).

Two methods (``--method``):

- ``side-by-side``, the default where wrk, ``taskset`` and two CPUs are there: the bare server
  and the wrapped (or control, or floor) one run *at the same moment on the same CPU*, each saturated by
  its own wrk on another CPU. The CPU is shared between them fairly, so the ratio of their rates
  is the ratio of what a request costs each, and whatever slows the machine down during a run
  slows both. Bare against bare gives 99-100% on a 2-core VM whose alternating rounds spread
  from 56% to 166%.
- ``alternate``: one server at a time, the variants taking turns round after round, with wrk or,
  without it, a Python client over keep-alive connections. With ``taskset`` and two CPUs the
  servers and the load generator are pinned apart: sharing cores, they disturbed each other so
  much that the same bare server moved by 30% from run to run on a 2-core machine.
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
# Each server's command line, for an app given as module:attribute.
SERVERS = {
    "uvicorn": lambda target, port: [PY, "-m", "uvicorn", target, "--host", "127.0.0.1", "--port", str(port),
                                     "--log-level", "warning", "--no-access-log", "--lifespan", "off"],
    # gthread, so connections are kept alive: a sync worker closes each one and then waits for the client's
    # FIN (gunicorn 23+), which makes its figures mostly a measure of that wait.
    "gunicorn gthread": lambda target, port: [PY, "-m", "gunicorn", "-w", "1", "-k", "gthread", "--threads", "4",
                                              "-b", f"127.0.0.1:{port}", "--log-level", "warning", target],
    # As many threads as connections: otherwise waitress logs a queue-depth warning per request, and the
    # unread pipe of its output fills up and blocks it.
    "waitress": lambda target, port: [PY, "-m", "waitress", f"--listen=127.0.0.1:{port}", "--threads=8", target],
}
# The table's rows: server, the app's label, and its name in benchmarks/server_apps.py. The hello-world
# apps show gwinspect's cost at its largest share; the framework apps, closer to a real app's.
ROWS = [
    ("uvicorn", "raw ASGI", "asgi"), ("uvicorn", "Starlette", "starlette"),
    ("gunicorn gthread", "raw WSGI", "wsgi"), ("gunicorn gthread", "Flask", "flask"),
    ("waitress", "raw WSGI", "wsgi"), ("waitress", "Flask", "flask"),
]


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


VARIANTS = ("bare", "wrapped", "control", "floor")


def run_servers(args: argparse.Namespace) -> int:
    generator = wrk if shutil.which("wrk") else python_client
    method = args.method or ("side-by-side" if generator is wrk and SERVER_CPUS else "alternate")
    if method == "side-by-side" and not (generator is wrk and SERVER_CPUS):
        print("--method side-by-side needs wrk on PATH, taskset and two or more CPUs", file=sys.stderr)
        return 2
    # Side by side, both servers share one CPU: that CPU's time is what they compete for.
    server_cpus = ["taskset", "-c", SERVER_CPUS[-1].split(",")[-1]] if method == "side-by-side" else SERVER_CPUS
    label = "wrk -t1 -c8" if generator is wrk else "Python keep-alive client, 8 threads"
    if server_cpus:
        label += f"; load on CPU {LOAD_CPUS[-1]}, servers on CPU {server_cpus[-1]} (taskset)"
    how = ("each variant at the same moment as the bare app, on the same CPU, so each rate is what a server"
           " did with about half of it" if method == "side-by-side" else "one server at a time, taking turns")
    print(f"Machine: {describe()}\nLoad generator: {label}, {args.duration:g} s per run, "
          f"{args.rounds} rounds, {how}\n")
    print("| server | bare req/s | gwinspect req/s | kept | kept with a plain loop instead (same in-process cost)"
          " | kept by the least recorder keeping 500 requests |")
    print("|---|---:|---:|---:|---:|---:|")
    for server, app_label, app in ROWS:
        name = f"{server} ({app_label})"
        if args.server and args.server.lower() not in name.lower():
            continue
        with _servers(SERVERS[server], app, server_cpus) as ports:
            for port in ports.values():  # the app loaded (gunicorn's worker imports it after binding), and
                _get(port)               # the control's loop measured, before any server is put under load
            for port in ports.values():  # warm up: imports, first connections, the store filling up
                generator(port, 1.0, 8)
            rates: dict[str, list[float]] = {tag: [] for tag in VARIANTS}
            ratios: dict[str, list[float]] = {tag: [] for tag in VARIANTS[1:]}  # to bare, run by run
            most_idle = 0.0
            for r in range(args.rounds):
                if method == "side-by-side":
                    for tag in (VARIANTS[1:] if r % 2 == 0 else VARIANTS[:0:-1]):
                        bare_rate, rate, idle = _together(ports["bare"], ports[tag], args.duration, server_cpus[-1])
                        most_idle = max(most_idle, idle)
                        if tag == "wrapped":  # the bare column: the runs beside the wrapped app
                            rates["bare"].append(bare_rate)
                        rates[tag].append(rate)
                        ratios[tag].append(rate / bare_rate)
                    continue
                shift = r % len(VARIANTS)  # each variant takes each place in the order in turn
                this_round = {tag: generator(ports[tag], args.duration, 8)
                              for tag in VARIANTS[shift:] + VARIANTS[:shift]}
                for tag, rate in this_round.items():
                    rates[tag].append(rate)
                for tag in ratios:  # paired by round: a machine slowing down for a while slows both sides
                    ratios[tag].append(this_round[tag] / this_round["bare"])
        bare, wrapped = statistics.median(rates["bare"]), statistics.median(rates["wrapped"])
        print(f"| {name} | {bare:,.0f} | {wrapped:,.0f} | {_kept(ratios['wrapped'])} | {_kept(ratios['control'])}"
              f" | {_kept(ratios['floor'])} |", flush=True)
        if most_idle > 0.05:
            print(f"  {name}: the servers' CPU was {most_idle:.0%} idle in one run: the load generator did not"
                  " keep them busy, so the ratios understate the difference", file=sys.stderr)
    return 0


def _together(port_a: int, port_b: int, seconds: float, cpu: str) -> tuple[float, float, float]:
    """Requests per second of two servers loaded at the same moment, each by its own wrk, and how
    idle their CPU was meanwhile (a share; 0 where /proc/stat is missing).

    The ratio of the two rates is the ratio of their costs only while they keep the CPU busy:
    a load generator that cannot keep up leaves it idle and pulls the ratio towards 100%.
    """
    before = _cpu_times(cpu)
    results: dict[int, float] = {}
    errors: list[BaseException] = []

    def load(port: int) -> None:
        try:
            results[port] = wrk(port, seconds, 8)
        except BaseException as exc:  # re-raised below, in the caller's thread
            errors.append(exc)
    threads = [threading.Thread(target=load, args=(port,)) for port in (port_a, port_b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    after = _cpu_times(cpu)
    idle = (after[0] - before[0]) / max(1, after[1] - before[1])
    return results[port_a], results[port_b], idle


def _cpu_times(cpu: str) -> tuple[int, int]:
    """(idle, total) clock ticks of one CPU so far, from /proc/stat; (0, 0) where there is none."""
    try:
        with open("/proc/stat") as stat:
            for line in stat:
                if line.startswith(f"cpu{cpu} "):
                    ticks = [int(v) for v in line.split()[1:]]
                    return ticks[3] + ticks[4], sum(ticks[:8])  # idle + iowait; steal counts as busy
    except OSError:
        pass
    return 0, 0


def _get(port: int) -> None:
    import http.client
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    conn.request("GET", "/")
    conn.getresponse().read()
    conn.close()


def _kept(ratios: list[float]) -> str:
    """The median of a variant's rates over the bare ones measured with them, lowest and highest in brackets."""
    ordered = sorted(ratios)
    return f"{100 * statistics.median(ordered):.1f}% ({100 * ordered[0]:.0f}-{100 * ordered[-1]:.0f})"


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

    def __init__(self, command: object, app: str, cpus: list[str]) -> None:
        self.command = command
        self.app = app  # its name in benchmarks/server_apps.py
        self.cpus = cpus  # the taskset prefix the servers run under
        self.stack: list[object] = []

    def __enter__(self) -> dict[str, int]:
        ports = {}
        for tag in VARIANTS:
            port = free_port()
            target = f"benchmarks.server_apps:{self.app}_{tag}"
            ctx = serve([*self.cpus, *self.command(target, port)], port, cwd=Path(ROOT))  # type: ignore[operator]
            ctx.__enter__()
            self.stack.append(ctx)
            ports[tag] = port
        return ports

    def __exit__(self, *exc: object) -> None:
        for ctx in reversed(self.stack):
            ctx.__exit__(None, None, None)  # type: ignore[attr-defined]
