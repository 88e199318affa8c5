"""The hello-world apps the ``--servers`` and ``--big`` benchmarks serve, bare and wrapped with gwinspect defaults.

Each app comes as ``<app>_bare``, ``<app>_wrapped``, ``<app>_control`` and ``<app>_floor``, for
``<app>`` one of ``asgi`` and ``wsgi`` (raw hello-world apps), ``starlette`` and ``flask``. A
control is the bare app after an empty loop that costs, in the server's own process, as much
time as gwinspect adds to one request in-process. It shows how much of the throughput a server
loses for *any* work of that cost, gwinspect or not. A floor is the bare app wrapped in the least
recording middleware that keeps its last 500 requests (``benchmarks/floor.py``). The framework
apps and the controls are made on first use (module ``__getattr__``): a server serving the raw
app does not import the frameworks, and measuring a loop takes a few seconds.
"""

from __future__ import annotations

import asyncio
import statistics
from typing import Any

import gwinspect
from benchmarks.floor import floor_asgi, floor_wsgi
from benchmarks.inprocess import Timer
from benchmarks.peers import flask_app, raw_asgi, raw_wsgi, starlette_app
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


# Each app's protocol and how to make it (a fresh object each time: bare and wrapped share nothing).
APPS: dict[str, tuple[str, Any]] = {
    "asgi": ("asgi", lambda: raw_asgi), "wsgi": ("wsgi", lambda: raw_wsgi),
    "starlette": ("asgi", starlette_app), "flask": ("wsgi", flask_app),
}


def _busy_wsgi(loops: int, inner: Any) -> Any:
    def app(environ: dict[str, Any], start_response: Any) -> Any:
        for _ in range(loops):
            pass
        return inner(environ, start_response)
    return app


def _busy_asgi(loops: int, inner: Any) -> Any:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        for _ in range(loops):
            pass
        await inner(scope, receive, send)
    return app


def matching_loops(protocol: str, rounds: int = 7, n: int = 3000, app: str | None = None) -> int:
    """Iterations of an empty loop that cost what gwinspect adds to one request of ``app``, measured here and now.

    Bare, gwinspect and a probe app (``_PROBE_LOOPS`` iterations) alternate; the medians of
    the per-round differences give gwinspect's added time and the cost of one iteration.
    """
    loop = asyncio.new_event_loop()
    make = APPS[app or protocol][1]
    busy = _busy_wsgi if protocol == "wsgi" else _busy_asgi
    timers = {"bare": Timer(protocol, make(), loop), "gwinspect": Timer(protocol, gwinspect.wrap(make()), loop),
              "probe": Timer(protocol, busy(_PROBE_LOOPS, make()), loop)}
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
    app_name, _, variant = name.rpartition("_")
    if app_name not in APPS or variant not in ("bare", "wrapped", "control", "floor"):
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    protocol, make = APPS[app_name]
    if variant == "bare":
        app = make()
    elif variant == "wrapped":
        app = gwinspect.wrap(make())
    elif variant == "floor":
        app = (floor_wsgi if protocol == "wsgi" else floor_asgi)(make())
    else:
        busy = _busy_wsgi if protocol == "wsgi" else _busy_asgi
        app = busy(matching_loops(protocol, app=app_name), make())
    globals()[name] = app
    return app
