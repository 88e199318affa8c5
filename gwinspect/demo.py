"""The built-in demo apps behind ``gwinspect demo``: one ASGI app and one WSGI app, no framework.

Both serve the same endpoints, each chosen to show something in a timeline:
``/json``, ``/stream`` (chunks with pauses), ``/slow``, ``/error`` (an
exception), ``/upload`` (a form POST), ``/redirect``, and the ASGI app a
WebSocket echo at ``/ws``. ``/`` lists them. Written against the bare protocols
so the recorded messages are the protocol itself, not a framework's.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterable
from email.message import Message
from email.parser import BytesParser
from typing import Any
from urllib.parse import parse_qs

from .types import Environ, Receive, Scope, Send, StartResponse

STREAM_CHUNKS = 5
STREAM_PAUSE = 0.05
SLOW_SECONDS = 0.3
ENDPOINTS = (("GET", "/json", "a JSON document"), ("GET", "/stream", "five chunks, 50 ms apart"),
             ("GET", "/slow", "answers after 300 ms"), ("GET", "/error", "raises an exception"),
             ("POST", "/upload", "a form upload (urlencoded or multipart)"),
             ("GET", "/redirect", "302 to /json"), ("WS", "/ws", "WebSocket echo (ASGI only)"))


def index_html(protocol: str, panel: str = "/__inspect__") -> bytes:
    items = "".join(f'<li><code>{m}</code> <a href="{p}">{p}</a> — {what}</li>' for m, p, what in ENDPOINTS
                    if protocol == "asgi" or m != "WS")
    return (f"<!doctype html><meta charset=utf-8><title>gwinspect demo ({protocol})</title>"
            f"<h1>gwinspect demo: the {protocol.upper()} app</h1><ul>{items}</ul>"
            f'<p>Every request is recorded: open <a href="{panel}">{panel}</a>.</p>\n').encode()


def parse_form(content_type: str, body: bytes) -> dict[str, Any]:
    """The fields of a form body: names to values (or, for files, their name and size)."""
    if content_type.startswith("multipart/form-data"):
        msg = BytesParser().parsebytes(b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + body)
        fields: dict[str, Any] = {}
        parts = msg.get_payload() if msg.is_multipart() else []
        for part in parts if isinstance(parts, list) else []:
            if not isinstance(part, Message):
                continue
            name = part.get_param("name", header="content-disposition") or "?"
            payload = part.get_payload(decode=True)
            data = payload if isinstance(payload, bytes) else b""
            filename = part.get_filename()
            fields[str(name)] = ({"filename": filename, "size": len(data)} if filename
                                 else data.decode("utf-8", "replace"))
        return fields
    return {k: v[0] if len(v) == 1 else v for k, v in parse_qs(body.decode("latin-1")).items()}


def json_doc(protocol: str) -> bytes:
    return json.dumps({"hello": "world", "protocol": protocol, "items": [1, 2, 3]}).encode()


class DemoError(RuntimeError):
    """What /error raises, on purpose."""


# ---- ASGI -------------------------------------------------------------------
async def asgi_app(scope: Scope, receive: Receive, send: Send) -> None:
    kind = scope["type"]
    if kind == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if kind == "websocket":
        await _websocket_echo(scope, receive, send)
        return
    path, method = scope["path"], scope["method"]
    body = b""
    more = True
    while more:  # read the whole request body (short ones only, it's a demo)
        message = await receive()
        body += message.get("body", b"")
        more = message.get("more_body", False) and message["type"] == "http.request"
    if path == "/stream":
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
        for i in range(STREAM_CHUNKS):
            await send({"type": "http.response.body", "body": f"chunk {i}\n".encode(), "more_body": True})
            await asyncio.sleep(STREAM_PAUSE)
        await send({"type": "http.response.body", "body": b""})
        return
    if path == "/slow":
        await asyncio.sleep(SLOW_SECONDS)
    if path == "/error":
        raise DemoError("the demo failed on purpose")
    status, headers, payload = respond("asgi", method, path, scope_header(scope, b"content-type"), body)
    await send({"type": "http.response.start", "status": status,
                "headers": [(k.encode(), v.encode()) for k, v in headers]})
    await send({"type": "http.response.body", "body": payload})


async def _websocket_echo(scope: Scope, receive: Receive, send: Send) -> None:
    message = await receive()
    if message["type"] != "websocket.connect":
        return
    if scope["path"] != "/ws":
        await send({"type": "websocket.close", "code": 1008})
        return
    await send({"type": "websocket.accept"})
    while True:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            return
        if message.get("text") is not None:
            await send({"type": "websocket.send", "text": "echo: " + message["text"]})
        else:
            await send({"type": "websocket.send", "bytes": message.get("bytes") or b""})


def scope_header(scope: Scope, name: bytes) -> str:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return bytes(value).decode("latin-1")
    return ""


def respond(protocol: str, method: str, path: str, content_type: str,
            body: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
    """Status, headers and body for the simple endpoints, shared by both apps."""
    if path == "/":
        return 200, [("content-type", "text/html; charset=utf-8")], index_html(protocol)
    if path in ("/json", "/slow"):
        return 200, [("content-type", "application/json")], json_doc(protocol)
    if path == "/redirect":
        return 302, [("location", "/json"), ("content-type", "text/plain")], b"see /json\n"
    if path == "/upload":
        if method != "POST":
            return 405, [("allow", "POST"), ("content-type", "text/plain")], b"POST a form here\n"
        fields = parse_form(content_type, body)
        doc = {"received": len(body), "fields": fields}
        return 201, [("content-type", "application/json")], json.dumps(doc).encode()
    return 404, [("content-type", "text/plain")], b"not found\n"


# ---- WSGI -------------------------------------------------------------------
def wsgi_app(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
    path, method = environ.get("PATH_INFO", "/"), environ["REQUEST_METHOD"]
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    body = environ["wsgi.input"].read(length) if length else b""
    if path == "/stream":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return _slow_chunks()
    if path == "/slow":
        time.sleep(SLOW_SECONDS)
    if path == "/error":
        raise DemoError("the demo failed on purpose")
    status, headers, payload = respond("wsgi", method, path, environ.get("CONTENT_TYPE", ""), body)
    reasons = {200: "OK", 201: "Created", 302: "Found", 404: "Not Found", 405: "Method Not Allowed"}
    start_response(f"{status} {reasons[status]}",
                   [(k.title(), v) for k, v in headers] + [("Content-Length", str(len(payload)))])
    return [payload]


def _slow_chunks() -> Iterable[bytes]:
    for i in range(STREAM_CHUNKS):
        yield f"chunk {i}\n".encode()
        time.sleep(STREAM_PAUSE)
