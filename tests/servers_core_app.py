"""Apps served by real servers in subprocesses for tests/test_core_servers.py.

``/stream?id=X`` sends ``chunk-1`` and then waits until ``/release?id=X`` is
requested (by the client, once it has received chunk 1) before producing
``chunk-2``; then it waits again before ``chunk-3``. If the server or gwinspect
held chunk 1 back, the client could never release the app: it gives up after a
few seconds and says so in the body. ``/traces`` returns the wrapped inspector's
store as a gwinspect/1 dump (served by the bare app, so it is the same in both).
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections import defaultdict
from typing import Any
from urllib.parse import parse_qs

import gwinspect

WAIT_S = 8.0
FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "servers_core_app.py")

# ---------------------------------------------------------------------------- WSGI (waitress)

_wsgi_gates: defaultdict[str, threading.Event] = defaultdict(threading.Event)
_wsgi_lock = threading.Lock()


def _wsgi_gate(key: str) -> threading.Event:
    with _wsgi_lock:
        return _wsgi_gates[key]


def wsgi_bare(environ: dict[str, Any], start_response: Any) -> Any:
    path = environ["PATH_INFO"]
    key = parse_qs(environ.get("QUERY_STRING", "")).get("id", [""])[0]
    if path == "/stream":
        start_response("200 OK", [("Content-Type", "text/plain")])

        def produce() -> Any:
            yield b"chunk-1;"
            for n in (2, 3):
                gate = _wsgi_gate(f"{key}-{n}")
                yield f"chunk-{n};".encode() if gate.wait(WAIT_S) else f"chunk-{n}-AFTER-TIMEOUT;".encode()
        return produce()
    if path == "/release":
        _wsgi_gate(key).set()
        start_response("204 No Content", [])
        return []
    if path == "/single":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"one single item"]
    if path == "/file":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return environ["wsgi.file_wrapper"](open(FILE, "rb"), 4096)
    if path == "/traces":
        start_response("200 OK", [("Content-Type", "application/json")])
        return [gwinspect.dumps(wsgi_wrapped.store.list(limit=100)).encode()]
    start_response("404 Not Found", [("Content-Type", "text/plain")])
    return [b"not found"]


wsgi_wrapped = gwinspect.wrap(wsgi_bare)

# ---------------------------------------------------------------------------- ASGI (uvicorn)

_asgi_gates: defaultdict[str, asyncio.Event] = defaultdict(asyncio.Event)


async def asgi_bare(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            m = await receive()
            await send({"type": m["type"] + ".complete"})
            if m["type"] == "lifespan.shutdown":
                return
    if scope["type"] != "http":
        return
    key = parse_qs(scope["query_string"].decode()).get("id", [""])[0]
    path = scope["path"]
    if path == "/stream":
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": b"chunk-1;", "more_body": True})
        for n in (2, 3):
            try:
                await asyncio.wait_for(_asgi_gates[f"{key}-{n}"].wait(), WAIT_S)
                body = f"chunk-{n};".encode()
            except asyncio.TimeoutError:
                body = f"chunk-{n}-AFTER-TIMEOUT;".encode()
            await send({"type": "http.response.body", "body": body, "more_body": n < 3})
        return
    if path == "/release":
        _asgi_gates[key].set()
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})
        return
    if path == "/traces":
        body = gwinspect.dumps(asgi_wrapped.store.list(limit=100)).encode()
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": body})
        return
    await send({"type": "http.response.start", "status": 404, "headers": []})
    await send({"type": "http.response.body", "body": b"not found"})


asgi_wrapped = gwinspect.wrap(asgi_bare)
