"""The ASGI half of the matrix scenarios (see ``tests/matrix_apps.py`` for the paths).

Raw ASGI: HTTP scenarios, a WebSocket echo at ``/ws`` (text and bytes frames
echoed; the text ``"close"`` makes the app close with code 4001 and reason
``"bye"``) and lifespan startup/shutdown, which leave marker files in
``MATRIX_DIR`` so the test can see that both ran.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import time
from typing import Any
from urllib.parse import parse_qs

import gwinspect
from tests.matrix_apps import (
    CHUNK,
    COUNTERS,
    DIR,
    DISCONNECT_LIMIT_S,
    ETAG,
    SMALL,
    SMALL_HEADERS,
    SSE_WAIT_S,
    body_of,
    chunk,
    echo,
    mark,
    sse_event,
)

Scope = dict[str, Any]


def _headers(pairs: list[tuple[str, str]]) -> list[tuple[bytes, bytes]]:
    return [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in pairs]


async def _read_body(receive: Any) -> bytes:
    parts = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        parts.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(parts)


async def _start(send: Any, status: int, pairs: list[tuple[str, str]]) -> None:
    await send({"type": "http.response.start", "status": status, "headers": _headers(pairs)})


async def _wait_for_ack(key: str, i: int) -> bool:
    path = os.path.join(DIR, f"ack-{key}-{i}")
    deadline = time.monotonic() + SSE_WAIT_S
    while time.monotonic() < deadline:
        if os.path.exists(path):
            return True
        await asyncio.sleep(0.005)
    return False


async def _until_disconnect(receive: Any, send: Any) -> None:
    COUNTERS.bump("open")
    gone = asyncio.Event()

    async def watch() -> None:
        while (await receive())["type"] != "http.disconnect":
            pass
        COUNTERS.bump("disconnects")
        gone.set()

    watcher = asyncio.create_task(watch())
    try:
        await _start(send, 200, [("Content-Type", "application/octet-stream")])
        deadline = time.monotonic() + DISCONNECT_LIMIT_S
        i = 0
        while not gone.is_set() and time.monotonic() < deadline:
            try:
                await send({"type": "http.response.body", "body": chunk(i), "more_body": True})
            except OSError:  # some servers raise once the client is gone; http.disconnect still follows
                await asyncio.wait_for(gone.wait(), 5)
                break
            i += 1
            await asyncio.sleep(0.001)
        if not gone.is_set():
            await send({"type": "http.response.body", "body": b""})
    finally:
        watcher.cancel()
        COUNTERS.bump("open", -1)
        COUNTERS.bump("closed")


async def http_app(scope: Scope, receive: Any, send: Any) -> None:
    path = scope["path"]
    q = {k: v[0] for k, v in parse_qs(scope.get("query_string", b"").decode("latin-1")).items()}
    headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope.get("headers", [])}
    if path != "/_state":
        COUNTERS.bump("requests")
    if path.startswith("/echo"):
        seen = {k: scope[k] for k in ("method", "path", "http_version", "scheme", "root_path")}
        seen.update(raw_path=(scope.get("raw_path") or b"").decode("latin-1"),
                    query_string=scope["query_string"].decode("latin-1"),
                    headers=[[k.decode("latin-1"), v.decode("latin-1")] for k, v in scope["headers"]])
        answer = echo(seen, await _read_body(receive))
        await _start(send, 200, [("Content-Type", "application/json"), ("Content-Length", str(len(answer)))])
        await send({"type": "http.response.body", "body": answer})
        return
    if path == "/upload":
        digest, size = hashlib.sha256(), 0
        while True:  # hashed as it arrives: a 1 GB upload is never held
            message = await receive()
            digest.update(message.get("body", b""))
            size += len(message.get("body", b""))
            if message["type"] == "http.disconnect" or not message.get("more_body", False):
                break
        answer = json.dumps({"size": size, "sha256": digest.hexdigest()}).encode()
        await _start(send, 200, [("Content-Type", "application/json"), ("Content-Length", str(len(answer)))])
        await send({"type": "http.response.body", "body": answer})
        return
    if path == "/disconnect":
        await _read_body(receive)
        await _until_disconnect(receive, send)
        return
    body = b""
    if path == "/small":
        await _start(send, 200, [*SMALL_HEADERS, ("Content-Length", str(len(SMALL)))])
        body = SMALL
    elif path == "/large":
        body = body_of(int(q.get("kb", "1024")))
        await _start(send, 200, [("Content-Type", "application/octet-stream"), ("Content-Length", str(len(body)))])
    elif path == "/stream":
        await _start(send, 200, [("Content-Type", "application/octet-stream")])
        for i in range(int(q.get("kb", "1024")) * 1024 // CHUNK):
            await send({"type": "http.response.body", "body": chunk(i), "more_body": True})
    elif path == "/sse":
        await _start(send, 200, [("Content-Type", "text/event-stream"), ("Cache-Control", "no-cache")])
        n, key = int(q.get("n", "3")), q.get("id", "x")
        for i in range(n):
            await send({"type": "http.response.body", "body": sse_event(i), "more_body": True})
            if i < n - 1 and not await _wait_for_ack(key, i):
                body = b"event: gave-up\ndata: the client never received the previous event\n\n"
                break
    elif path == "/file":
        file = os.path.join(DIR, "file.bin")
        await _start(send, 200, [("Content-Type", "application/octet-stream"),
                                 ("Content-Length", str(os.path.getsize(file)))])
        if "http.response.pathsend" in (scope.get("extensions") or {}):
            await send({"type": "http.response.pathsend", "path": file})
            return
        with open(file, "rb") as f:
            while data := f.read(CHUNK):
                await send({"type": "http.response.body", "body": data, "more_body": True})
    elif path == "/nocontent":
        await _start(send, 204, [("X-Scenario", "204")])
    elif path == "/cached":
        if headers.get("if-none-match") == ETAG:
            await _start(send, 304, [("ETag", ETAG)])
        else:
            await _start(send, 200, [("ETag", ETAG), ("Content-Type", "text/plain"), ("Content-Length", "6")])
            body = b"cached"
    elif path == "/redirect":
        await _start(send, 302, [("Location", "/small"), ("Content-Length", "0")])
    elif path == "/error-before":
        raise RuntimeError("boom before the response started")
    elif path == "/error-after":
        await _start(send, 200, [("Content-Type", "text/plain")])
        await send({"type": "http.response.body", "body": b"partial body, then ", "more_body": True})
        raise RuntimeError("boom after the response started")
    elif path == "/_state":
        await _start(send, 200, [("Content-Type", "application/json")])
        body = COUNTERS.dump()
    else:
        await _start(send, 404, [("Content-Type", "text/plain")])
        body = b"no such scenario"
    await send({"type": "http.response.body", "body": body})


async def websocket_app(scope: Scope, receive: Any, send: Any) -> None:
    message = await receive()
    if message["type"] != "websocket.connect":
        return
    await send({"type": "websocket.accept"})
    while True:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            return
        if message.get("text") == "close":
            await send({"type": "websocket.close", "code": 4001, "reason": "bye"})
            return
        if message.get("text") is not None:
            await send({"type": "websocket.send", "text": message["text"]})
        else:
            await send({"type": "websocket.send", "bytes": message.get("bytes") or b""})


async def lifespan_app(scope: Scope, receive: Any, send: Any) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            mark("startup")
            COUNTERS.bump("lifespan")
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            mark("shutdown")
            await send({"type": "lifespan.shutdown.complete"})
            return


async def asgi_bare(scope: Scope, receive: Any, send: Any) -> None:
    kind = scope["type"]
    if kind == "http":
        await http_app(scope, receive, send)
    elif kind == "websocket":
        await websocket_app(scope, receive, send)
    elif kind == "lifespan":
        await lifespan_app(scope, receive, send)


asgi_wrapped = gwinspect.wrap(asgi_bare)
