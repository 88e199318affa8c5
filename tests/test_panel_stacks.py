"""The panel through each stack's own test client, and both event streams in process."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute
from starlette.testclient import TestClient
from starlette.websockets import WebSocket
from werkzeug.test import Client

import gwinspect
from gwinspect import panel_asgi, panel_wsgi

LOCAL = {"REMOTE_ADDR": "127.0.0.1"}


def wsgi_app_counting(calls: list[str]) -> Any:
    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        calls.append(environ["PATH_INFO"])
        start_response("200 OK", [("Content-Type", "application/json")])
        return [b'{"ok": true}']
    return app


def starlette_app(calls: list[str]) -> Starlette:
    async def anything(request: Any) -> JSONResponse:
        calls.append(request.url.path)
        return JSONResponse({"path": request.url.path})

    async def ws(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_text("hi")
        await websocket.close()
    return Starlette(routes=[Route("/{p:path}", anything, methods=["GET", "POST"]), WebSocketRoute("/ws", ws)])


def test_wsgi_panel_serves_never_records_never_reaches_the_app() -> None:
    calls: list[str] = []
    inspector = gwinspect.wrap(wsgi_app_counting(calls))
    client = Client(inspector)
    client.get("/hello", environ_base=LOCAL).close()
    for path in ("/__inspect__", "/__inspect__/", "/__inspect__/api/traces", "/__inspect__/static/app.js",
                 "/__inspect__/nope"):
        client.get(path, environ_base=LOCAL).close()
    client.get("/__inspect__/api/traces", environ_base={"REMOTE_ADDR": "10.0.0.1"}).close()
    assert calls == ["/hello"]
    doc = client.get("/__inspect__/api/traces", environ_base=LOCAL).json
    assert [t["path"] for t in doc["traces"]] == ["/hello"]
    refused = client.get("/__inspect__/", environ_base={"REMOTE_ADDR": "10.0.0.1"})
    assert refused.status_code == 404 and b"gwinspect" not in refused.data.lower()
    assert refused.headers["Content-Security-Policy"].startswith("default-src 'none'")


def test_wsgi_path_moves_and_panel_false_turns_it_off() -> None:
    calls: list[str] = []
    moved = Client(gwinspect.wrap(wsgi_app_counting(calls), path="/_debug/requests"))
    assert moved.get("/_debug/requests/api/traces", environ_base=LOCAL).status_code == 200
    assert moved.get("/__inspect__/api/traces", environ_base=LOCAL).status_code == 200  # the app's own route
    assert calls == ["/__inspect__/api/traces"]
    off = Client(gwinspect.wrap(wsgi_app_counting(calls), panel=False))
    off.get("/__inspect__/", environ_base=LOCAL).close()
    assert calls[-1] == "/__inspect__/"


def test_asgi_panel_through_starlette_testclient() -> None:
    calls: list[str] = []
    inspector = gwinspect.wrap(starlette_app(calls))
    with TestClient(inspector, base_url="http://localhost", client=("127.0.0.1", 5000)) as client:
        client.post("/items", content=b'{"name":"widget"}', headers={"content-type": "application/json"})
        with client.websocket_connect("/ws") as ws:
            assert ws.receive_text() == "hi"
        page = client.get("/__inspect__/")
        assert page.status_code == 200 and 'src="static/app.js"' in page.text
        doc = client.get("/__inspect__/api/traces").json()
        kinds = sorted((t["type"], t["path"]) for t in doc["traces"])
        assert ("http", "/items") in kinds and ("websocket", "/ws") in kinds
        assert not any(t["path"].startswith("/__inspect__") for t in doc["traces"])
        post = next(t for t in doc["traces"] if t["path"] == "/items")
        detail = client.get(f"/__inspect__/api/traces/{post['id']}").json()
        assert detail["id"] == post["id"] and detail["format"] == "gwinspect/1"
        assert client.get("/__inspect__/api/clear").status_code == 405
        # a page of another site gets no panel at all
        assert client.post("/__inspect__/api/clear", headers={"origin": "http://evil.example"}).status_code == 404
        from starlette.websockets import WebSocketDisconnect
        with pytest.raises(WebSocketDisconnect), client.websocket_connect("/__inspect__/api/events"):
            pass  # the panel refuses WebSocket handshakes (servers answer 403)
    assert calls == ["/items"]
    remote = TestClient(inspector, base_url="http://localhost", client=("203.0.113.5", 5000))
    response = remote.get("/__inspect__/api/traces")
    assert response.status_code == 404 and "gwinspect" not in response.text.lower()
    assert response.headers["x-content-type-options"] == "nosniff"


def test_wsgi_event_stream_on_a_single_threaded_server_answers_at_once() -> None:
    inspector = gwinspect.wrap(wsgi_app_counting([]))
    client = Client(inspector)
    started = time.monotonic()
    response = client.get("/__inspect__/api/events", environ_base=LOCAL, environ_overrides={"wsgi.multithread": False})
    body = response.get_data(as_text=True)
    assert time.monotonic() - started < 1.0
    assert body.startswith(f"retry: {panel_wsgi.RETRY_SINGLE_MS}") and "event: hello" in body


def test_wsgi_event_stream_is_bounded_and_delivers_events(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(panel_wsgi, "STREAM_SECONDS", 1.5)
    monkeypatch.setattr(panel_wsgi, "POLL_SECONDS", 0.05)
    inspector = gwinspect.wrap(wsgi_app_counting([]))
    client = Client(inspector)
    threading.Timer(0.4, lambda: client.get("/during-stream", environ_base=LOCAL).close()).start()
    started = time.monotonic()
    response = client.get("/__inspect__/api/events", environ_base=LOCAL, environ_overrides={"wsgi.multithread": True})
    chunks = list(response.iter_encoded())
    elapsed = time.monotonic() - started
    assert 1.2 < elapsed < 3.0
    text = "".join(c.decode() for c in chunks)
    assert text.startswith(f"retry: {panel_wsgi.RETRY_THREADED_MS}")
    events = [json.loads(line[6:]) for line in text.splitlines() if line.startswith("data: ")]
    assert any(inspector.store.list(limit=1)[0].id in e.get("ids", []) for e in events)
    assert len(chunks) >= 2  # each event is its own chunk, so servers send it at once


def test_only_one_wsgi_stream_is_held_per_process(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(panel_wsgi, "STREAM_SECONDS", 1.0)
    monkeypatch.setattr(panel_wsgi, "POLL_SECONDS", 0.05)
    client = Client(gwinspect.wrap(wsgi_app_counting([])))
    threaded = {"environ_base": LOCAL, "environ_overrides": {"wsgi.multithread": True}}
    first = client.get("/__inspect__/api/events", **threaded)
    held = iter(first.response)
    assert next(held).startswith(f"retry: {panel_wsgi.RETRY_THREADED_MS}".encode())
    started = time.monotonic()
    second = client.get("/__inspect__/api/events", **threaded)  # another tab: it polls instead
    assert second.get_data().startswith(f"retry: {panel_wsgi.RETRY_SINGLE_MS}".encode())
    assert time.monotonic() - started < 0.5
    first.close()  # the server closes the first stream: its slot is free again
    third = client.get("/__inspect__/api/events", **threaded)
    assert next(iter(third.response)).startswith(f"retry: {panel_wsgi.RETRY_THREADED_MS}".encode())
    third.close()


def run_events(inspector: Any, receive: Any, sent: list[dict[str, Any]], timeout: float) -> float:
    scope = {"type": "http", "method": "GET", "path": "/__inspect__/api/events", "query_string": b"",
             "headers": [(b"host", b"localhost")], "client": ("127.0.0.1", 1), "scheme": "http"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    async def main() -> float:
        started = time.monotonic()
        await asyncio.wait_for(inspector(scope, receive, send), timeout)
        return time.monotonic() - started
    return asyncio.run(main())


def test_asgi_event_stream_delivers_events_and_ends_when_the_client_leaves(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(panel_asgi, "POLL_SECONDS", 0.05)
    inspector = gwinspect.wrap(starlette_app([]))
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        if not hasattr(receive, "asked"):
            receive.asked = True  # type: ignore[attr-defined]
            return {"type": "http.request", "body": b"", "more_body": False}
        # the browser stays for a moment, a request arrives meanwhile, then the browser leaves
        await asyncio.sleep(0.2)
        inspector.store.add(gwinspect.store.FinishedTrace(gwinspect.loads(SAMPLE)[0]))
        await asyncio.sleep(0.3)
        return {"type": "http.disconnect"}
    elapsed = run_events(inspector, receive, sent, timeout=5)
    assert elapsed < 1.5  # far less than STREAM_SECONDS: it noticed the disconnect
    assert sent[0]["type"] == "http.response.start" and sent[0]["status"] == 200
    body = b"".join(m.get("body", b"") for m in sent[1:]).decode()
    assert "event: hello" in body and "event: traces" in body and "sample-trace-id-0001" in body


def test_asgi_event_stream_is_bounded_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(panel_asgi, "STREAM_SECONDS", 0.6)
    monkeypatch.setattr(panel_asgi, "POLL_SECONDS", 0.05)
    inspector = gwinspect.wrap(starlette_app([]))
    sent: list[dict[str, Any]] = []
    never = asyncio.Event

    async def receive() -> dict[str, Any]:
        await never().wait()
        return {"type": "http.disconnect"}
    elapsed = run_events(inspector, receive, sent, timeout=5)
    assert 0.4 < elapsed < 2.0
    assert sent[-1] == {"type": "http.response.body", "body": b"", "more_body": False}


SAMPLE = json.dumps({
    "format": "gwinspect/1", "id": "sample-trace-id-0001", "protocol": "asgi", "type": "http",
    "started_at": "2026-01-01T00:00:00.000000Z", "state": "complete", "duration_ms": 1.0,
    "request": {"method": "GET", "path": "/late", "query_string": "", "http_version": "1.1", "scheme": "http",
                "client": None, "headers": []},
    "response": None, "environ": None, "scope": {}, "events": [], "violations": [], "error": None, "partial": False})
