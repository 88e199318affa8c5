"""``overhead.py --big``: peak memory of the app process moving 1 GB down and 1 GB up, bare vs wrapped.

Each variant gets a fresh server process (uvicorn for ASGI, one gunicorn sync
worker for WSGI) serving the matrix scenarios; the client streams ``/stream``
(no Content-Length) and then uploads the same amount to ``/upload`` chunked,
with no Content-Length. The process's peak resident size (``VmHWM``) is read
from /proc before and after: gwinspect keeps only ``max_body`` bytes of each
direction, so the wrapped peak should be the bare one give or take noise.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

from benchmarks.machine import describe
from tests.matrix_apps import CHUNK, chunk
from tests.realserver import ROOT, free_port, serve

PY = sys.executable
SERVERS = {
    "uvicorn (ASGI)": lambda app, port: [PY, "-m", "uvicorn", f"benchmarks.server_apps:big_asgi_{app}", "--host",
                                         "127.0.0.1", "--port", str(port), "--log-level", "warning", "--lifespan",
                                         "off"],
    "gunicorn sync (WSGI)": lambda app, port: [PY, "-m", "gunicorn", "-w", "1", "-b", f"127.0.0.1:{port}",
                                               "--timeout", "600", "--log-level", "warning",
                                               f"benchmarks.server_apps:big_wsgi_{app}"],
}


def status_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def app_pid(server_pid: int, name: str) -> int:
    """gunicorn serves from a worker child; uvicorn from the process itself."""
    if "gunicorn" not in name:
        return server_pid
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        children = Path(f"/proc/{server_pid}/task/{server_pid}/children").read_text().split()
        if children:
            return int(children[0])
        time.sleep(0.05)
    raise RuntimeError("no gunicorn worker")


def upload_body(total: int) -> Iterator[bytes]:
    for i in range(total // CHUNK):
        yield chunk(i)


def one_run(name: str, variant: str, gb: float) -> dict[str, float]:
    kb = int(gb * 1024 * 1024) // 64 * 64
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp, \
            serve(SERVERS[name](variant, port), port, cwd=ROOT, env={"MATRIX_DIR": tmp}) as proc, \
            httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=600) as client:
        assert client.get("/small").status_code == 200  # imports done, first request served
        pid = app_pid(proc.pid, name)
        before = status_kb(pid, "VmHWM")
        start = time.monotonic()
        got = 0
        with client.stream("GET", f"/stream?kb={kb}") as r:
            for part in r.iter_raw(CHUNK):
                got += len(part)
        down = time.monotonic() - start
        start = time.monotonic()
        answer = json.loads(client.post("/upload", content=upload_body(kb * 1024)).content)
        up = time.monotonic() - start
        assert got == kb * 1024 and answer["size"] == kb * 1024, (got, answer)
        peak = status_kb(pid, "VmHWM")
    return {"before_mb": before / 1024, "peak_mb": peak / 1024, "down_s": down, "up_s": up}


def run_big(args: argparse.Namespace) -> int:
    print(f"Machine: {describe()}\nTransfers: {args.gb:g} GB streamed down, then {args.gb:g} GB uploaded "
          "chunked, per run\n")
    print("| server | variant | peak RSS before | peak RSS after | growth | down s | up s |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for name in SERVERS:
        growth = {}
        for variant in ("bare", "wrapped"):
            r = one_run(name, variant, args.gb)
            growth[variant] = r["peak_mb"] - r["before_mb"]
            label = "gwinspect" if variant == "wrapped" else "bare"
            print(f"| {name} | {label} | {r['before_mb']:.1f} MB | {r['peak_mb']:.1f} MB | "
                  f"{growth[variant]:+.1f} MB | {r['down_s']:.1f} | {r['up_s']:.1f} |", flush=True)
        print(f"| {name} | wrapped - bare | | | {growth['wrapped'] - growth['bare']:+.1f} MB | | |", flush=True)
    return 0
