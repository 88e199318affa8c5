"""How much does gwinspect cost? Per-request time in-process, throughput under real servers, and memory.

    python benchmarks/overhead.py              # in-process: µs per hello-world request, vs peers
    python benchmarks/overhead.py --cold       # the same with the CPU caches evicted before each request
    python benchmarks/overhead.py --servers    # requests/s under uvicorn and gunicorn/waitress (wrk if present)
    python benchmarks/overhead.py --big        # peak memory streaming 1 GB down and up, bare vs wrapped
    python benchmarks/overhead.py --instructions  # instructions and cache misses per request in gunicorn (valgrind)

Not a test: the figures depend on the machine. Variants are measured in the same
process, interleaved round by round (bare, gwinspect, peers, bare, ...), so drift
(CPU frequency, other load) hits them alike; the medians over rounds are printed.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a clone without installing

from benchmarks.inprocess import Timer
from benchmarks.machine import describe
from benchmarks.peers import APPS, available_variants


def calibrate(timers: list[Timer], seconds: float) -> int:
    """Requests per round so that the slowest variant takes about ``seconds``; also warms every variant up."""
    slowest = 0.0
    for timer in timers:
        timer.measure(600)  # imports, caches, and gwinspect's store filled to max_traces
        slowest = max(slowest, timer.measure(2000))
    return max(2000, int(seconds * 1e6 / slowest))


def bench_app(label: str, protocol: str, make: Any, rounds: int, seconds: float,
              loop: asyncio.AbstractEventLoop, cold: bool = False) -> list[tuple[str, float, float, float]]:
    variants, _ = available_variants(protocol)
    timers = [(name, Timer(protocol, wrap(make()), loop, cold)) for name, wrap in variants]
    n = calibrate([timer for _, timer in timers], seconds)
    samples: dict[str, list[float]] = {name: [] for name, _ in timers}
    for r in range(rounds):
        order = timers if r % 2 == 0 else timers[::-1]  # alternate the order too, so no variant always runs first
        for name, timer in order:
            samples[name].append(timer.measure(n))
    bare = samples["bare"]
    rows = []
    for name, _ in timers:
        per = statistics.median(samples[name])
        added = statistics.median(s - b for s, b in zip(samples[name], bare, strict=True))
        ratio = statistics.median(s / b for s, b in zip(samples[name], bare, strict=True))
        rows.append((name, per, added, ratio))
    print(f"  {label}: {n} requests x {rounds} rounds per variant", file=sys.stderr)
    return rows


def run_inprocess(args: argparse.Namespace) -> int:
    loop = asyncio.new_event_loop()
    print(f"Machine: {describe()}\n")
    if args.cold:
        print("Caches evicted before each request (8 MB written); only the requests are timed.\n")
    missing: set[str] = set()
    for protocol in ("asgi", "wsgi"):
        missing.update(available_variants(protocol)[1])
    results = []
    for label, (protocol, make) in APPS.items():
        if args.apps and label not in args.apps:
            continue
        results.append((label, bench_app(label, protocol, make, args.rounds, args.seconds, loop, args.cold)))
    print("| app | variant | µs / request | added µs | x bare |")
    print("|---|---|---:|---:|---:|")
    for label, rows in results:
        for name, per, added, ratio in rows:
            extra = "" if name == "bare" else f"{added:+.1f}"
            print(f"| {label} | {name} | {per:.1f} | {extra} | {ratio:.2f} |")
    for note in sorted(missing):
        print(f"\nNot measured: {note}")
    loop.close()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--servers", action="store_true", help="throughput under real servers on 127.0.0.1")
    mode.add_argument("--big", action="store_true", help="peak memory of a 1 GB download and upload")
    mode.add_argument("--instructions", action="store_true",
                      help="instructions and modelled cache misses per request inside gunicorn (needs valgrind)")
    parser.add_argument("--rounds", type=int, default=9, help="interleaved rounds per variant (median reported)")
    parser.add_argument("--seconds", type=float, default=0.5, help="approximate length of the slowest variant's round")
    parser.add_argument("--apps", nargs="*", choices=list(APPS), help="only these apps (in-process mode)")
    parser.add_argument("--cold", action="store_true",
                        help="in-process: evict the CPU caches before each request, as a server's own work does")
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per load-generator run (--servers)")
    parser.add_argument("--server", help="only servers whose name contains this (--servers mode)")
    parser.add_argument("--method", choices=("side-by-side", "alternate"),
                        help="--servers: bare and wrapped at once on one CPU (default with wrk), or taking turns")
    parser.add_argument("--gb", type=float, default=1.0, help="size of the --big transfers in GB")
    parser.add_argument("--requests", type=int, default=500,
                        help="--instructions: N, the smaller run's requests (the larger has 5N)")
    parser.add_argument("--ll-mb", type=float, default=4.0, help="--instructions: last-level cache modelled, MB")
    args = parser.parse_args(argv)
    if args.servers:
        from benchmarks.throughput import run_servers
        return run_servers(args)
    if args.big:
        from benchmarks.bigmemory import run_big
        return run_big(args)
    if args.instructions:
        from benchmarks.instructions import run_instructions
        return run_instructions(args)
    return run_inprocess(args)


if __name__ == "__main__":
    raise SystemExit(main())
