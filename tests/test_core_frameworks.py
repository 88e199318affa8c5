"""Frameworks through their own test clients: wrapped and bare give the same responses; traces are right."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, HTTPException, WebSocket
from fastapi.responses import FileResponse, StreamingResponse
from pydantic import BaseModel

import gwinspect
from tests.apps_core import blob_bytes, events, messages, roundtrip_ok
from tests.django_core import setup_django

pytestmark = [pytest.mark.filterwarnings("ignore::DeprecationWarning"),
              pytest.mark.filterwarnings("ignore:Using `httpx` with `starlette.testclient`"),
              pytest.mark.filterwarnings("ignore:StreamingHttpResponse must consume synchronous iterators")]

VOLATILE = {"date", "server"}


def same_response(a: Any, b: Any, body_a: bytes, body_b: bytes) -> None:
    status_a = getattr(a, "status_code", None) or getattr(a, "status", None)
    status_b = getattr(b, "status_code", None) or getattr(b, "status", None)
    assert status_a == status_b
    ha = [(k.lower(), v) for k, v in a.headers.items() if k.lower() not in VOLATILE]
    hb = [(k.lower(), v) for k, v in b.headers.items() if k.lower() not in VOLATILE]
    assert ha == hb
    assert body_a == body_b


def chunk_bytes(d: dict[str, Any]) -> bytes:
    return b"".join(blob_bytes(e["data"]) for e in events(d, "chunk", "write"))


def sent_body(d: dict[str, Any]) -> bytes:
    return b"".join(blob_bytes(m["body"]) for m in messages(d, "send") if "body" in m)


def http_traces(inspector: Any) -> list[dict[str, Any]]:
    return [t.to_dict() for t in inspector.store.list(limit=1000) if t.type == "http"]


# ---------------------------------------------------------------------------- Flask (werkzeug Client)


def flask_app(tmp: Path) -> Any:
    from flask import Flask, request, send_file
    app = Flask("core_tests")
    (tmp / "f.txt").write_bytes(b"file contents\n" * 100)

    @app.post("/items")
    def items() -> Any:
        return {"got": request.get_data(as_text=True), "form": request.form.to_dict()}

    @app.post("/upload")
    def upload() -> Any:
        f = request.files["doc"]
        return {"name": f.filename, "size": len(f.read()), "field": request.form["field"]}

    @app.get("/stream")
    def stream() -> Any:
        return app.response_class((f"part{i};" for i in range(3)), mimetype="text/plain")

    @app.get("/file")
    def file() -> Any:
        return send_file(tmp / "f.txt")

    @app.get("/boom")
    def boom() -> Any:
        raise RuntimeError("flask view failed")
    return app


FLASK_CALLS: list[tuple[str, str, dict[str, Any]]] = [
    ("POST", "/items?x=1", {"data": "hello", "headers": {"Authorization": "Bearer FLASK-SECRET"}}),
    ("POST", "/items", {"data": {"a": "1", "b": "two"}}),
    ("GET", "/stream", {}), ("GET", "/file", {}), ("HEAD", "/stream", {}), ("GET", "/missing", {}),
    ("GET", "/boom", {}),
]


@pytest.mark.parametrize("buffered", [True, False], ids=["buffered", "unbuffered"])
@pytest.mark.parametrize("how", ["wsgi_app", "whole app"])
def test_flask_werkzeug_client(tmp_path: Path, buffered: bool, how: str) -> None:
    from werkzeug.test import Client
    bare_app, app = flask_app(tmp_path), flask_app(tmp_path)
    if how == "wsgi_app":
        app.wsgi_app = inspector = gwinspect.wrap(app.wsgi_app)  # type: ignore[method-assign]
        target: Any = app
    else:
        target = inspector = gwinspect.wrap(app)
    bare, wrapped = Client(bare_app), Client(target)
    for method, url, kw in FLASK_CALLS:
        a = bare.open(url, method=method, buffered=buffered, **kw)
        b = wrapped.open(url, method=method, buffered=buffered, **kw)
        body_a, body_b = a.get_data(), b.get_data()
        same_response(a, b, body_a, body_b)
        a.close()
        b.close()
    traces = {(d["request"]["method"], d["request"]["path"]): d for d in http_traces(inspector)}
    assert len(http_traces(inspector)) == len(FLASK_CALLS)
    for d in traces.values():
        assert d["state"] == "complete" and d["protocol"] == "wsgi"
    post = next(d for d in http_traces(inspector) if d["request"]["query_string"] == "x=1")
    assert b"".join(blob_bytes(e["data"]) for e in events(post, "input")) == b"hello"
    assert ["authorization", "[redacted]"] in post["request"]["headers"]
    assert b'"got":"hello"' in chunk_bytes(post).replace(b" ", b"")
    stream = traces[("GET", "/stream")]
    assert [blob_bytes(e["data"]) for e in events(stream, "chunk")] == [b"part0;", b"part1;", b"part2;"]
    assert traces[("GET", "/file")]["response"]["body_size"] == 1400
    assert traces[("GET", "/missing")]["response"]["status"] == 404
    assert traces[("GET", "/boom")]["response"]["status"] == 500
    assert traces[("HEAD", "/stream")]["disconnected"] is False
    roundtrip_ok(inspector)


def test_flask_multipart_upload_body_recorded_and_parsed(tmp_path: Path) -> None:
    import io

    from werkzeug.test import Client
    app = flask_app(tmp_path)
    app.wsgi_app = inspector = gwinspect.wrap(app.wsgi_app)  # type: ignore[method-assign]
    payload = bytes(range(256)) * 40
    r = Client(app).post("/upload", data={"field": "v", "doc": (io.BytesIO(payload), "doc.bin")}, buffered=True)
    assert r.json == {"name": "doc.bin", "size": len(payload), "field": "v"}
    [d] = http_traces(inspector)
    raw = b"".join(blob_bytes(e["data"]) for e in events(d, "input"))
    assert payload in raw and d["request"]["body_size"] == len(raw)
    assert int(d["environ"]["CONTENT_LENGTH"]) == len(raw)


def test_flask_unbuffered_trace_completes_on_exhaustion_and_close_arrives_later(tmp_path: Path) -> None:
    from werkzeug.test import Client
    app = flask_app(tmp_path)
    app.wsgi_app = inspector = gwinspect.wrap(app.wsgi_app)  # type: ignore[method-assign]
    resp = Client(app).get("/stream")
    assert inspector.store.list()[0].state == "in_progress"  # nothing read yet: still streaming
    assert resp.get_data() == b"part0;part1;part2;"
    [d] = http_traces(inspector)
    assert d["state"] == "complete" and events(d, "close") == []
    resp.close()
    [d] = http_traces(inspector)
    assert events(d, "close")[0]["exhausted"] is True


# ---------------------------------------------------------------------------- Starlette / FastAPI (TestClient)


def starlette_app(tmp: Path, state: dict[str, Any]) -> Any:
    from starlette.applications import Starlette
    from starlette.responses import FileResponse, JSONResponse, StreamingResponse
    from starlette.routing import Route, WebSocketRoute
    (tmp / "s.bin").write_bytes(bytes(range(256)) * 1000)

    @asynccontextmanager
    async def lifespan(app: Any) -> Any:
        state["started"] = state.get("started", 0) + 1
        yield
        state["stopped"] = state.get("stopped", 0) + 1

    async def items(request: Any) -> JSONResponse:
        data = await request.body()
        return JSONResponse({"n": len(data)}, headers={"set-cookie": "sid=STARLETTE-SECRET"})

    async def stream(request: Any) -> StreamingResponse:
        async def gen() -> Any:
            for i in range(3):
                yield f"part{i};".encode()
        return StreamingResponse(gen(), media_type="text/plain")

    async def file(request: Any) -> FileResponse:
        return FileResponse(tmp / "s.bin")

    async def ws(websocket: Any) -> None:
        await websocket.accept()
        await websocket.send_text("echo:" + await websocket.receive_text())
        await websocket.send_bytes((await websocket.receive_bytes())[::-1])
        await websocket.close(code=1001)

    return Starlette(routes=[Route("/items", items, methods=["POST"]), Route("/stream", stream),
                             Route("/file", file), WebSocketRoute("/ws", ws)], lifespan=lifespan)


class Item(BaseModel):
    name: str
    qty: int


def fastapi_app(tmp: Path, state: dict[str, Any]) -> Any:
    # FastAPI reads the (string) annotations through the module globals: its names are imported at the top.
    (tmp / "s.bin").write_bytes(bytes(range(256)) * 1000)

    @asynccontextmanager
    async def lifespan(app: Any) -> Any:
        state["started"] = state.get("started", 0) + 1
        yield
        state["stopped"] = state.get("stopped", 0) + 1
    app = FastAPI(lifespan=lifespan)

    @app.post("/items")
    async def items(item: Item) -> dict[str, Any]:
        return {"n": item.qty, "name": item.name}

    @app.get("/stream")
    async def stream() -> StreamingResponse:
        async def gen() -> Any:
            for i in range(3):
                yield f"part{i};".encode()
        return StreamingResponse(gen(), media_type="text/plain")

    @app.get("/file")
    async def file() -> FileResponse:
        return FileResponse(tmp / "s.bin")

    @app.get("/missing")
    async def missing() -> None:
        raise HTTPException(404, "nope")

    @app.websocket("/ws")
    async def ws(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_text("echo:" + await websocket.receive_text())
        await websocket.send_bytes((await websocket.receive_bytes())[::-1])
        await websocket.close(code=1001)
    return app


@pytest.mark.parametrize("factory", [starlette_app, fastapi_app], ids=["starlette", "fastapi"])
def test_starlette_and_fastapi_test_client(tmp_path: Path, factory: Any) -> None:
    from starlette.testclient import TestClient
    bare_state: dict[str, Any] = {}
    state: dict[str, Any] = {}
    inspector = gwinspect.wrap(factory(tmp_path, state))
    calls: list[tuple[str, str, dict[str, Any]]] = [
        ("POST", "/items", {"json": {"name": "x", "qty": 3}}), ("GET", "/stream", {}), ("GET", "/file", {}),
        ("GET", "/missing", {}), ("POST", "/items", {"content": b"not json"}),
    ]
    ws_results = []
    with TestClient(factory(tmp_path, bare_state)) as bare, TestClient(inspector) as wrapped:
        for method, url, kw in calls:
            a, b = bare.request(method, url, **kw), wrapped.request(method, url, **kw)
            same_response(a, b, a.content, b.content)
        for client in (bare, wrapped):
            with client.websocket_connect("/ws") as ws:
                ws.send_text("hi")
                text = ws.receive_text()
                ws.send_bytes(b"\x00\x01\xff")
                ws_results.append((text, ws.receive_bytes()))
    assert ws_results[0] == ws_results[1] == ("echo:hi", b"\xff\x01\x00")
    assert state == bare_state == {"started": 1, "stopped": 1}

    traces = http_traces(inspector)
    assert len(traces) == len(calls)
    by_path: dict[str, dict[str, Any]] = {}
    for d in traces:
        by_path.setdefault(d["request"]["path"], d)
        assert d["state"] == "complete" and d["protocol"] == "asgi"
    stream = by_path["/stream"]
    assert [blob_bytes(m["body"]) for m in messages(stream, "send") if m["type"] == "http.response.body"
            and blob_bytes(m["body"])] == [b"part0;", b"part1;", b"part2;"]
    file = by_path["/file"]
    assert file["response"]["body_size"] == 256_000 and file["response"]["status"] == 200
    assert sent_body(file) == (bytes(range(256)) * 1000)[:65536]
    assert by_path["/missing"]["response"]["status"] == 404

    [ws] = [t.to_dict() for t in inspector.store.list() if t.type == "websocket"]
    kinds = [m["type"] for m in messages(ws)]
    assert kinds[:2] == ["websocket.connect", "websocket.accept"] and "websocket.close" in kinds
    assert [m["text"] for m in messages(ws, "receive") if m.get("text")] == ["hi"]
    assert ws["response"]["status"] == 101
    [life] = [t.to_dict() for t in inspector.store.list() if t.type == "lifespan"]
    assert [m["type"] for m in messages(life)] == ["lifespan.startup", "lifespan.startup.complete",
                                                    "lifespan.shutdown", "lifespan.shutdown.complete"]
    roundtrip_ok(inspector)


def test_starlette_set_cookie_redacted(tmp_path: Path) -> None:
    from starlette.testclient import TestClient
    inspector = gwinspect.wrap(starlette_app(tmp_path, {}))
    with TestClient(inspector) as client:
        assert client.post("/items", content=b"abc").cookies["sid"] == "STARLETTE-SECRET"
    assert "STARLETTE-SECRET" not in gwinspect.dumps(inspector.store.list())


# ---------------------------------------------------------------------------- Falcon (WSGI and ASGI)


def falcon_wsgi_app() -> Any:
    import falcon

    class Items:
        def on_post(self, req: Any, resp: Any) -> None:
            data = req.bounded_stream.read()
            resp.media = {"n": len(data)}
            resp.set_header("X-Items", "1")

        def on_get(self, req: Any, resp: Any) -> None:
            resp.stream = iter([b"part0;", b"part1;", b"part2;"])
            resp.content_type = falcon.MEDIA_TEXT

    class Boom:
        def on_get(self, req: Any, resp: Any) -> None:
            raise falcon.HTTPForbidden(title="no")
    app = falcon.App()
    app.add_route("/items", Items())
    app.add_route("/boom", Boom())
    return app


def falcon_asgi_app() -> Any:
    import falcon
    import falcon.asgi

    class Items:
        async def on_post(self, req: Any, resp: Any) -> None:
            data = await req.stream.read()
            resp.media = {"n": len(data)}
            resp.set_header("X-Items", "1")

        async def on_get(self, req: Any, resp: Any) -> None:
            async def gen() -> Any:
                for i in range(3):
                    yield f"part{i};".encode()
            resp.stream = gen()
            resp.content_type = falcon.MEDIA_TEXT

        async def on_websocket(self, req: Any, ws: Any) -> None:
            await ws.accept()
            await ws.send_text("echo:" + await ws.receive_text())
            await ws.close(4000)

    class Boom:
        async def on_get(self, req: Any, resp: Any) -> None:
            raise falcon.HTTPForbidden(title="no")
    app = falcon.asgi.App()
    app.add_route("/items", Items())
    app.add_route("/boom", Boom())
    return app


@pytest.mark.parametrize("factory", [falcon_wsgi_app, falcon_asgi_app], ids=["wsgi", "asgi"])
def test_falcon_test_client(factory: Any) -> None:
    from falcon import testing
    inspector = gwinspect.wrap(factory())
    bare, wrapped = testing.TestClient(factory()), testing.TestClient(inspector)
    for method, path, kw in (("POST", "/items", {"body": b"x" * 100}), ("GET", "/items", {}), ("GET", "/boom", {}),
                             ("GET", "/nothing", {})):
        a, b = bare.simulate_request(method, path, **kw), wrapped.simulate_request(method, path, **kw)
        same_response(a, b, a.content, b.content)
    traces = http_traces(inspector)
    assert len(traces) == 4 and all(d["state"] == "complete" for d in traces)
    protocol = "wsgi" if factory is falcon_wsgi_app else "asgi"
    assert {d["protocol"] for d in traces} == {protocol}
    statuses = sorted(d["response"]["status"] for d in traces)
    assert statuses == [200, 200, 403, 404]
    get = next(d for d in traces if d["request"]["method"] == "GET" and d["request"]["path"] == "/items")
    body = chunk_bytes(get) if protocol == "wsgi" else sent_body(get)
    assert body == b"part0;part1;part2;"
    post = next(d for d in traces if d["request"]["method"] == "POST")
    assert post["request"]["body_size"] == 100
    roundtrip_ok(inspector)


def test_falcon_asgi_websocket() -> None:
    from falcon import testing
    inspector = gwinspect.wrap(falcon_asgi_app())

    async def main() -> str:
        async with testing.ASGIConductor(inspector) as conductor, conductor.simulate_ws("/items") as ws:
            await ws.send_text("hi")
            return str(await ws.receive_text())
    assert asyncio.run(main()) == "echo:hi"
    [ws] = [t.to_dict() for t in inspector.store.list() if t.type == "websocket"]
    assert ws["response"]["status"] == 101
    assert [m.get("text") for m in messages(ws, "send") if m["type"] == "websocket.send"] == ["echo:hi"]


# ---------------------------------------------------------------------------- Django (handlers driven directly)


@pytest.fixture
def django_urls() -> Iterator[None]:
    setup_django()
    from django.test.utils import override_settings
    with override_settings(ROOT_URLCONF="tests.django_core", ALLOWED_HOSTS=["*"], DEBUG=False):
        yield


def test_django_wsgi_handler(django_urls: None) -> None:
    from django.core.handlers.wsgi import WSGIHandler
    from werkzeug.test import Client
    inspector = gwinspect.wrap(WSGIHandler())
    bare, wrapped = Client(WSGIHandler()), Client(inspector)
    for method, url, kw in (("POST", "/echo", {"data": b"payload"}), ("GET", "/stream", {}),
                            ("GET", "/nowhere", {}), ("GET", "/boom", {})):
        a = bare.open(url, method=method, buffered=True, **kw)
        b = wrapped.open(url, method=method, buffered=True, **kw)
        same_response(a, b, a.get_data(), b.get_data())
    traces = http_traces(inspector)
    assert len(traces) == 4 and all(d["state"] == "complete" and d["protocol"] == "wsgi" for d in traces)
    echo = next(d for d in traces if d["request"]["path"] == "/echo")
    assert chunk_bytes(echo) == b"echo:payload"
    assert b"".join(blob_bytes(e["data"]) for e in events(echo, "input")) == b"payload"
    stream = next(d for d in traces if d["request"]["path"] == "/stream")
    assert [blob_bytes(e["data"]) for e in events(stream, "chunk")] == [b"part0;", b"part1;", b"part2;"]
    assert sorted(d["response"]["status"] for d in traces) == [200, 200, 404, 500]
    roundtrip_ok(inspector)


def test_django_asgi_handler(django_urls: None) -> None:
    from django.core.handlers.asgi import ASGIHandler
    inspector = gwinspect.wrap(ASGIHandler())

    async def run(app: Any) -> list[tuple[int, list[tuple[str, str]], bytes]]:
        out = []
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            for method, url, content in (("POST", "/echo", b"payload"), ("GET", "/stream", None),
                                         ("GET", "/nowhere", None)):
                r = await client.request(method, url, content=content)
                out.append((r.status_code, [(k, v) for k, v in r.headers.items() if k not in VOLATILE], r.content))
        return out
    assert asyncio.run(run(inspector)) == asyncio.run(run(ASGIHandler()))
    traces = http_traces(inspector)
    assert len(traces) == 3 and all(d["state"] == "complete" and d["protocol"] == "asgi" for d in traces)
    echo = next(d for d in traces if d["request"]["path"] == "/echo")
    assert sent_body(echo) == b"echo:payload" and echo["request"]["body_size"] == 7
    stream = next(d for d in traces if d["request"]["path"] == "/stream")
    assert sent_body(stream) == b"part0;part1;part2;"
    roundtrip_ok(inspector)
