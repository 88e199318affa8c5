"""``overhead.py --servers``: requests per second of a hello-world app under real servers, bare vs wrapped.

uvicorn serves the raw ASGI app, gunicorn (one gthread worker) and waitress the
raw WSGI app, each on 127.0.0.1; the load generator is wrk when it is on PATH (one thread,
a few connections), otherwise a Python client sending a fixed number of
requests over keep-alive connections. Bare and wrapped runs alternate, several
rounds each, and the medians are compared: the percentage of throughput kept.

Throughput on a small machine, where the load generator shares the cores with the
server, moves by several percent from run to run. So the CPU time the server's
processes used per request (from /proc, on Linux) is printed beside it: what
gwinspect adds to each request under that server, which that noise does not move.
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


def wrk(port: int, seconds: float, connections: int) -> tuple[float, int]:
    """Requests per second, and requests made."""
    out = subprocess.run(["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", f"http://127.0.0.1:{port}/"],
                         capture_output=True, text=True, check=True).stdout
    match = re.search(r"Requests/sec:\s+([\d.]+)", out)
    made = re.search(r"(\d+) requests in", out)
    if not match or not made or "Non-2xx" in out:
        raise RuntimeError(f"wrk run failed:\n{out}")
    if "Socket errors" in out:  # e.g. a server closing idle keep-alive connections; counted, not fatal
        print("  wrk: " + next(line for line in out.splitlines() if "Socket errors" in line).strip(), file=sys.stderr)
    return float(match.group(1)), int(made.group(1))


def python_client(port: int, seconds: float, connections: int) -> tuple[float, int]:
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
    return sum(counts) / (time.monotonic() - start), sum(counts)


def session_cpu_seconds(session: int) -> float | None:
    """CPU time (user + system) used so far by the processes of one session (a server and its workers)."""
    total = 0.0
    try:
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:  # the process ended meanwhile
                continue
            if int(fields[3]) == session:  # fields after the command: state ppid pgrp session ...
                total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None
    return total


def run_servers(args: argparse.Namespace) -> int:
    generator = wrk if shutil.which("wrk") else python_client
    label = "wrk -t1 -c8" if generator is wrk else "Python keep-alive client, 8 threads"
    print(f"Machine: {describe()}\nLoad generator: {label}, {args.duration:g} s per run, "
          f"{args.rounds} interleaved rounds\n")
    print("| server | bare req/s | gwinspect req/s | kept | server CPU µs/request, bare | gwinspect | added |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, command in SERVERS.items():
        if args.server and args.server.lower() not in name.lower():
            continue
        with _pair(command) as servers:
            for port, _ in servers.values():  # warm up: imports, first connections, the store filling up
                generator(port, 1.0, 8)
            rates: dict[str, list[float]] = {"bare": [], "wrapped": []}
            cpu: dict[str, list[float]] = {"bare": [], "wrapped": []}
            for r in range(args.rounds):
                for tag in (("bare", "wrapped") if r % 2 == 0 else ("wrapped", "bare")):
                    port, session = servers[tag]
                    before = session_cpu_seconds(session)
                    rate, made = generator(port, args.duration, 8)
                    after = session_cpu_seconds(session)
                    rates[tag].append(rate)
                    if before is not None and after is not None and made:
                        cpu[tag].append((after - before) / made * 1e6)
        bare, wrapped = statistics.median(rates["bare"]), statistics.median(rates["wrapped"])
        row = f"| {name} | {bare:,.0f} | {wrapped:,.0f} | {100 * wrapped / bare:.1f}% |"
        if cpu["bare"] and cpu["wrapped"]:
            bare_cpu, wrapped_cpu = statistics.median(cpu["bare"]), statistics.median(cpu["wrapped"])
            row += f" {bare_cpu:.0f} | {wrapped_cpu:.0f} | {wrapped_cpu - bare_cpu:+.0f} |"
        else:
            row += " | | |"
        print(row, flush=True)
    return 0


class _pair:
    """Both servers of one kind running at once, so rounds can alternate without restarts."""

    def __init__(self, command: object) -> None:
        self.command = command
        self.stack: list[object] = []

    def __enter__(self) -> dict[str, tuple[int, int]]:
        """Each variant's port, and the session its server runs in (for its CPU time)."""
        servers = {}
        for tag in ("bare", "wrapped"):
            port = free_port()
            ctx = serve(self.command(tag, port), port, cwd=Path(ROOT))  # type: ignore[operator]
            proc = ctx.__enter__()
            self.stack.append(ctx)
            servers[tag] = (port, proc.pid)  # started with start_new_session: its pid is the session id
        return servers

    def __exit__(self, *exc: object) -> None:
        for ctx in reversed(self.stack):
            ctx.__exit__(None, None, None)  # type: ignore[attr-defined]
