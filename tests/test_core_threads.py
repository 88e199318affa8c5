"""Thread and task safety: concurrent requests through real servers give one complete, unmixed trace each."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

import gwinspect
from tests.apps_core import blob_bytes, drive_asgi, events, http_scope, messages
from tests.inproc_servers import uvicorn_inproc, waitress_threaded, wsgiref_threaded

N_THREADS = 16
N_TASKS = 200


def concurrent_wsgi_app(barrier: threading.Barrier) -> Any:
    def app(environ: dict[str, Any], start_response: Any) -> Any:
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        barrier.wait(10)  # all requests are in flight at once: their recorders interleave
        start_response("200 OK", [("Content-Type", "text/plain"), ("X-Path", environ["PATH_INFO"])])
        return (part for part in (b"echo:", body, b";", environ["PATH_INFO"].encode()))
    return app


def check_wsgi_traces(w: Any, n: int) -> None:
    traces = [t.to_dict() for t in w.store.list(limit=1000)]
    assert len(traces) == n
    for d in traces:
        path = d["request"]["path"]
        assert d["state"] == "complete" and not d["partial"] and d["error"] is None
        sent_in = b"".join(blob_bytes(e["data"]) for e in events(d, "input"))
        assert sent_in == b"body-of-" + path.encode()
        chunks = b"".join(blob_bytes(e["data"]) for e in events(d, "chunk"))
        assert chunks == b"echo:body-of-" + path.encode() + b";" + path.encode()
        assert ["X-Path", path] in d["response"]["headers"]
        assert d["environ"]["PATH_INFO"] == path
    assert sorted(d["request"]["path"] for d in traces) == sorted(f"/r{i}" for i in range(n))


@pytest.mark.servers
@pytest.mark.parametrize("server", [wsgiref_threaded, waitress_threaded], ids=["wsgiref-threading", "waitress"])
def test_threaded_wsgi_server_16_concurrent_requests(server: Any) -> None:
    w = gwinspect.wrap(concurrent_wsgi_app(threading.Barrier(N_THREADS)))
    with server(w) as base, httpx.Client(base_url=base, timeout=20) as client:
        def one(i: int) -> httpx.Response:
            return client.post(f"/r{i}", content=f"body-of-/r{i}".encode())
        with ThreadPoolExecutor(N_THREADS) as pool:
            responses = list(pool.map(one, range(N_THREADS)))
    for i, r in enumerate(responses):
        assert r.status_code == 200 and r.content == f"echo:body-of-/r{i};/r{i}".encode()
    check_wsgi_traces(w, N_THREADS)


def concurrent_asgi_app(n: int) -> Any:
    arrived = 0
    all_in = asyncio.Event()

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        nonlocal arrived
        assert scope["type"] == "http"
        body = b""
        while True:
            m = await receive()
            body += m.get("body", b"")
            if not m.get("more_body"):
                break
        arrived += 1
        if arrived == n:
            all_in.set()
        await asyncio.wait_for(all_in.wait(), 20)  # every connection is open at the same time
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"text/plain"), (b"x-path", scope["path"].encode())]})
        await send({"type": "http.response.body", "body": b"echo:", "more_body": True})
        await asyncio.sleep(0)
        await send({"type": "http.response.body", "body": body})
    return app


def check_asgi_traces(w: Any, n: int) -> None:
    traces = [t.to_dict() for t in w.store.list(limit=1000) if t.type == "http"]
    assert len(traces) == n
    for d in traces:
        path = d["request"]["path"]
        assert d["state"] == "complete" and not d["partial"] and d["error"] is None
        received = b"".join(blob_bytes(m.get("body", {"encoding": "utf-8", "data": "", "size": 0,
                                                      "truncated": False}))
                            for m in messages(d, "receive") if m["type"] == "http.request")
        assert received == b"body-of-" + path.encode()
        sent = b"".join(blob_bytes(m["body"]) for m in messages(d, "send") if m["type"] == "http.response.body")
        assert sent == b"echo:body-of-" + path.encode()
        assert ["x-path", path] in d["response"]["headers"]
    assert sorted(d["request"]["path"] for d in traces) == sorted(f"/c{i}" for i in range(n))


def test_asyncio_200_concurrent_connections_in_process() -> None:
    w = gwinspect.wrap(concurrent_asgi_app(N_TASKS), max_traces=1000)

    async def one(i: int) -> Any:
        path = f"/c{i}"
        body = f"body-of-{path}".encode()
        incoming = [{"type": "http.request", "body": body[:4], "more_body": True},
                    {"type": "http.request", "body": body[4:], "more_body": False}]
        return await drive_asgi(w, http_scope(path, "POST"), incoming)

    async def main() -> list[Any]:
        return await asyncio.gather(*(one(i) for i in range(N_TASKS)))
    outs = asyncio.run(main())
    for i, out in enumerate(outs):
        assert out.exception is None and out.sent[-1]["body"] == f"body-of-/c{i}".encode()
    check_asgi_traces(w, N_TASKS)


@pytest.mark.servers
def test_uvicorn_200_concurrent_connections() -> None:
    w = gwinspect.wrap(concurrent_asgi_app(N_TASKS), max_traces=1000)

    async def main(base: str) -> list[httpx.Response]:
        limits = httpx.Limits(max_connections=N_TASKS, max_keepalive_connections=0)
        async with httpx.AsyncClient(base_url=base, timeout=30, limits=limits) as client:
            return await asyncio.gather(*(client.post(f"/c{i}", content=f"body-of-/c{i}".encode())
                                          for i in range(N_TASKS)))
    with uvicorn_inproc(w, backlog=N_TASKS * 2) as base:
        responses = asyncio.run(main(base))
    for i, r in enumerate(responses):
        assert r.status_code == 200 and r.content == f"echo:body-of-/c{i}".encode()
    check_asgi_traces(w, N_TASKS)
