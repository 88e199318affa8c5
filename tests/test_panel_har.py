"""HAR 1.2 and curl from recorded traces, and live updates from a store shared with another process."""

from __future__ import annotations

import base64
import json
import shlex
import subprocess
import time
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.routing import WebSocketRoute
from starlette.testclient import TestClient
from starlette.websockets import WebSocket
from werkzeug.test import Client

import gwinspect
from gwinspect.panel import PanelRequest, handle
from gwinspect.panel_api import curl_command
from gwinspect.serialize_har import to_har

LOCAL = {"REMOTE_ADDR": "127.0.0.1"}
HAR_ENTRY_KEYS = {"startedDateTime", "time", "request", "response", "cache", "timings"}
HAR_REQUEST_KEYS = {"method", "url", "httpVersion", "cookies", "headers", "queryString", "headersSize", "bodySize"}
HAR_RESPONSE_KEYS = {"status", "statusText", "httpVersion", "cookies", "headers", "content", "redirectURL",
                     "headersSize", "bodySize"}


def echo_app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
    if environ["PATH_INFO"] == "/binary":
        start_response("201 Created", [("Content-Type", "application/octet-stream")])
        return [b"\x00\xff\x10", b"\x80"]
    start_response("200 OK", [("Content-Type", "application/json"), ("Location", "/next")])
    return [b'{"got": ', str(len(body)).encode(), b"}"]


def recorded(path: str, **kw: Any) -> Any:
    inspector = gwinspect.wrap(echo_app)
    response = Client(inspector).open(path, environ_base=LOCAL, **kw)
    response.get_data()  # runs the whole response iterable
    response.close()
    return inspector.store.list(limit=1)[0]


def check_har_shape(har: dict[str, Any]) -> dict[str, Any]:
    log = har["log"]
    assert log["version"] == "1.2" and log["creator"]["name"] == "gwinspect"
    entry = log["entries"][0]
    assert set(entry) >= HAR_ENTRY_KEYS
    assert set(entry["request"]) >= HAR_REQUEST_KEYS and set(entry["response"]) >= HAR_RESPONSE_KEYS
    timings = entry["timings"]
    assert abs(timings["send"] + timings["wait"] + timings["receive"] - entry["time"]) < 0.01
    json.dumps(har, allow_nan=False)
    return entry


def test_har_of_a_wsgi_post() -> None:
    trace = recorded("/items?a=1&b=two", method="POST", data=b'{"name": "widget"}',
                     headers={"Content-Type": "application/json", "Authorization": "Bearer hush"})
    entry = check_har_shape(to_har([trace]))
    req, resp = entry["request"], entry["response"]
    assert req["method"] == "POST" and req["url"] == "http://localhost/items?a=1&b=two"
    assert req["queryString"] == [{"name": "a", "value": "1"}, {"name": "b", "value": "two"}]
    assert req["postData"] == {"mimeType": "application/json", "text": '{"name": "widget"}'}
    assert {"name": "authorization", "value": "[redacted]"} in req["headers"]
    assert resp["status"] == 200 and resp["statusText"] == "OK" and resp["redirectURL"] == "/next"
    assert resp["content"] == {"size": 11, "mimeType": "application/json", "text": '{"got": 18}'}
    assert entry["_gwinspect"]["id"] == trace.id


def test_har_binary_body_is_base64() -> None:
    entry = check_har_shape(to_har([recorded("/binary")]))
    content = entry["response"]["content"]
    assert content["encoding"] == "base64" and base64.b64decode(content["text"]) == b"\x00\xff\x10\x80"
    assert entry["response"]["statusText"] == "Created"


def test_har_of_a_websocket_lists_its_frames() -> None:
    async def ws(websocket: WebSocket) -> None:
        await websocket.accept()
        text = await websocket.receive_text()
        await websocket.send_text(text.upper())
        await websocket.send_bytes(b"\x01\x02")
        await websocket.close()
    inspector = gwinspect.wrap(Starlette(routes=[WebSocketRoute("/ws", ws)]))
    with TestClient(inspector).websocket_connect("/ws") as conn:
        conn.send_text("hello")
        assert conn.receive_text() == "HELLO"
        assert conn.receive_bytes() == b"\x01\x02"
    trace = next(t for t in inspector.store.list() if t.type == "websocket")
    entry = check_har_shape(to_har([trace]))
    assert entry["_resourceType"] == "websocket" and entry["request"]["url"].startswith("ws://")
    frames = [(m["type"], m["opcode"], m["data"]) for m in entry["_webSocketMessages"]]
    binary = base64.b64encode(b"\x01\x02").decode()
    assert frames == [("send", 1, "hello"), ("receive", 1, "HELLO"), ("receive", 2, binary)]


def test_curl_command_quotes_every_recorded_value() -> None:
    hostile_body = b"it's $(rm -rf /) `id` \"quoted\"\n"
    trace = recorded("/a b/'; touch /tmp/pwned && x", method="PUT", data=hostile_body,
                     headers={"X-Evil": "$(whoami)'\"; ls", "Content-Type": "text/plain"})
    command = curl_command(trace)
    args = shlex.split(command, comments=True)
    assert args[:4] == ["curl", "-X", "PUT", "http://localhost/a b/'; touch /tmp/pwned && x"]
    assert args[args.index("x-evil: $(whoami)'\"; ls") - 1:][:2] == ["-H", "x-evil: $(whoami)'\"; ls"]
    assert args[-2:] == ["--data-binary", hostile_body.decode()]
    assert not any(a.lower().startswith("host:") for a in args)  # curl sets Host itself
    # and a real shell sees exactly these arguments (printf stands in for curl)
    assert command.startswith("curl ")
    shell = subprocess.run(["bash", "-c", "printf '%s\\0' " + command[len("curl "):]],
                           capture_output=True, timeout=10, check=True)
    assert shell.stdout.decode().split("\0")[:-1] == args[1:]


def test_curl_notes_binary_and_redacted_values() -> None:
    trace = recorded("/up", method="POST", data=b"\xff\x00\xfe", headers={"X-Api-Key": "k-123-secret"})
    command = curl_command(trace)
    assert "# binary request body of 3 bytes not included" in command
    assert "# some header values were redacted" in command
    assert "k-123-secret" not in command


def test_live_events_see_traces_written_by_another_process(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'traces.db'}"
    panel_side = gwinspect.wrap(echo_app, store=url)
    other_worker = gwinspect.wrap(echo_app, store=url)  # another process's store on the same file
    request = PanelRequest("GET", "/__inspect__/api/events", "", (("host", "localhost"),), "127.0.0.1")
    feed = handle(panel_side.settings, request).feed
    assert feed is not None and b"event: hello" in feed.opening()
    Client(other_worker).get("/from-the-other-worker", environ_base=LOCAL).close()
    deadline = time.monotonic() + 10
    announced = b""
    while not announced and time.monotonic() < deadline:
        announced = feed.poll()
        time.sleep(0.05)
    trace = panel_side.store.list(limit=1)[0]
    assert trace.request.path == "/from-the-other-worker"
    assert trace.id.encode() in announced
