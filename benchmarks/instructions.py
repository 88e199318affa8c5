"""``overhead.py --instructions``: what gwinspect adds to one request inside gunicorn, counted by callgrind.

Throughput on a shared VM swings from minute to minute; instruction counts do not. This runs one
gunicorn gthread worker under valgrind's callgrind, with its cache simulation, and collects only in
the worker's request threads (``--toggle-collect=thread_run``: the main thread only polls and
accepts). The same sequential keep-alive requests go to the bare app and to the wrapped one.

Each variant runs twice, with N and 5N requests after the same warm-up: the difference over 4N is
what one request costs, with start-up, warm-up and shutdown cancelled out.

The miss columns are callgrind's model of the caches (32 KB of L1 for instructions, 48 KB for
data, a last level of ``--ll-mb``): the part of the cost an instruction count hides. A server's
own work between two requests evicts gwinspect's code and data from L1, so they run cold.
"""

from __future__ import annotations

import argparse
import http.client
import shutil
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from benchmarks.machine import describe
from benchmarks.throughput import SERVERS
from tests.realserver import ROOT, free_port, serve

EVENTS = ("Ir", "I1mr", "D1mr", "D1mw", "DLmr", "DLmw")  # what the table reports, from callgrind's event list
WARM_UP = 300


def callgrind_totals(path: Path) -> dict[str, int]:
    """A callgrind output file's event totals, by event name."""
    names: list[str] = []
    for line in path.read_text(errors="replace").splitlines():
        if line.startswith("events:"):
            names = line.split()[1:]
        elif line.startswith(("totals:", "summary:")) and names:
            return dict(zip(names, map(int, line.split()[1:]), strict=False))
    return {}


def per_request(small: dict[str, int], large: dict[str, int], extra_requests: int) -> dict[str, float]:
    """Each event per request: the larger run's total less the smaller one's, over the requests between them."""
    return {name: (large.get(name, 0) - small.get(name, 0)) / extra_requests for name in EVENTS}


def _requests(port: int, n: int) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
    for _ in range(n):
        conn.request("GET", "/", headers={"User-Agent": "gwinspect-benchmark", "Accept": "*/*"})
        conn.getresponse().read()
    conn.close()


def run_once(target: str, requests: int, ll_bytes: int) -> dict[str, int]:
    """Serve ``WARM_UP`` then ``requests`` requests under callgrind; the worker's totals."""
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="gwinspect-cg-") as out:
        callgrind = ["valgrind", "--tool=callgrind", "--collect-atstart=no", "--toggle-collect=thread_run",
                     "--cache-sim=yes", "--I1=32768,8,64", "--D1=49152,12,64", f"--LL={ll_bytes},16,64",
                     f"--callgrind-out-file={out}/cg.%p"]
        # Started, waited for and stopped slowly: under valgrind a server takes many times longer for
        # each, and callgrind writes its file only once gunicorn has stopped its worker gracefully.
        with serve([*callgrind, *SERVERS["gunicorn gthread"](target, port)], port, cwd=ROOT,
                   env={"PYTHONHASHSEED": "0"}, timeout=300, stop_timeout=300):
            _requests(port, WARM_UP)
            _requests(port, requests)
        # The master forks the worker; only the worker has request threads, so it has the largest totals.
        totals = [callgrind_totals(p) for p in Path(out).glob("cg.*")]
    return max(totals, key=lambda t: t.get("Ir", 0), default={})


def measure(target: str, n: int, ll_bytes: int) -> dict[str, float]:
    with ThreadPoolExecutor(2) as pool:  # the two runs at once: callgrind is single-threaded
        small, large = pool.map(lambda count: run_once(target, count, ll_bytes), (n, 5 * n))
    return per_request(small, large, 4 * n)


def run_instructions(args: argparse.Namespace) -> int:
    if not shutil.which("valgrind"):
        print("--instructions needs valgrind (apt-get install valgrind)", file=sys.stderr)
        return 2
    n, ll_bytes = args.requests, int(args.ll_mb * 1024 * 1024)
    print(describe())
    print(f"gunicorn, one gthread worker, under callgrind: {WARM_UP} requests to warm up, then {n} and {5 * n};"
          f" per request = difference / {4 * n}. Last-level cache modelled: {args.ll_mb:g} MB.\n")
    print("| app | variant | instructions | I1 misses | D1 misses | LL misses | instructions x bare |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for label, app in (("raw WSGI", "wsgi"), ("Flask", "flask")):
        bare = measure(f"benchmarks.server_apps:{app}_bare", n, ll_bytes)
        wrapped = measure(f"benchmarks.server_apps:{app}_wrapped", n, ll_bytes)
        for variant, row in (("bare", bare), ("gwinspect", wrapped)):
            ratio = row["Ir"] / bare["Ir"] if bare["Ir"] else float("nan")
            print(f"| {label} | {variant} | {row['Ir']:,.0f} | {row['I1mr']:,.0f} | {row['D1mr'] + row['D1mw']:,.0f}"
                  f" | {row['DLmr'] + row['DLmw']:,.0f} | {ratio:.3f} |", flush=True)
    return 0
