"""The hello-world apps the ``--servers`` and ``--big`` benchmarks serve, bare and wrapped with gwinspect defaults.

``asgi_control`` and ``wsgi_control`` are the bare app after an empty loop that costs, in the
server's own process, as much time as gwinspect adds to one request in-process. They show
how much of the throughput a server loses for *any* work of that cost, gwinspect or not.
Made on first use (module ``__getattr__``), since measuring the loop takes a second or two.
"""

from __future__ import annotations

import asyncio
import statistics
from typing import Any

import gwinspect
from benchmarks.inprocess import Timer
from benchmarks.peers import raw_asgi, raw_wsgi
from tests.matrix_apps import wsgi_bare as matrix_wsgi
from tests.matrix_apps_asgi import asgi_bare as matrix_asgi

asgi_bare = raw_asgi
asgi_wrapped = gwinspect.wrap(raw_asgi)
wsgi_bare = raw_wsgi
wsgi_wrapped = gwinspect.wrap(raw_wsgi)

# The matrix scenarios (/stream?kb=, /upload), for the 1 GB peak-memory runs.
big_asgi_bare = matrix_asgi
big_asgi_wrapped = gwinspect.wrap(matrix_asgi)
big_wsgi_bare = matrix_wsgi
big_wsgi_wrapped = gwinspect.wrap(matrix_wsgi)

_PROBE_LOOPS = 1000  # iterations of the probe app, to price one iteration


def _busy_wsgi(loops: int) -> Any:
    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        for _ in range(loops):
            pass
        return raw_wsgi(environ, start_response)
    return app


def _busy_asgi(loops: int) -> Any:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        for _ in range(loops):
            pass
        await raw_asgi(scope, receive, send)
    return app


def matching_loops(protocol: str, rounds: int = 7, n: int = 3000) -> int:
    """Iterations of an empty loop that cost what gwinspect adds to one request, measured here and now.

    Bare, gwinspect and a probe app (``_PROBE_LOOPS`` iterations) alternate; the medians of
    the per-round differences give gwinspect's added time and the cost of one iteration.
    """
    loop = asyncio.new_event_loop()
    busy, bare = (_busy_wsgi, raw_wsgi) if protocol == "wsgi" else (_busy_asgi, raw_asgi)
    timers = {"bare": Timer(protocol, bare, loop), "gwinspect": Timer(protocol, gwinspect.wrap(bare), loop),
              "probe": Timer(protocol, busy(_PROBE_LOOPS), loop)}
    for timer in timers.values():
        timer.measure(600)  # warm up, and fill gwinspect's store to max_traces
    added, per_loop = [], []
    for _ in range(rounds):
        t = {name: timer.measure(n) for name, timer in timers.items()}
        added.append(t["gwinspect"] - t["bare"])
        per_loop.append((t["probe"] - t["bare"]) / _PROBE_LOOPS)
    loop.close()
    return max(0, round(statistics.median(added) / statistics.median(per_loop)))


def __getattr__(name: str) -> Any:
    if name in ("asgi_control", "wsgi_control"):
        protocol = name[:4]
        app = (_busy_wsgi if protocol == "wsgi" else _busy_asgi)(matching_loops(protocol))
        globals()[name] = app
        return app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
