"""Hostile requests in-process, at sizes a server would not let through: the answer is the bare app's,
exactly one trace is kept, bounded, and it still dumps and loads."""

from __future__ import annotations

import asyncio
import hashlib
import io
from typing import Any

import gwinspect

HEADERS = [(b"x-h-%d" % i, b"\xff\x00\x1b[31m" + bytes([i % 256])) for i in range(5000)]
RAW_PATH = b"/up/\xff\xfe%00\x01caf\xe9"


async def upload_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    digest, count = hashlib.sha256(), 0
    while True:
        message = await receive()
        digest.update(message.get("body", b""))
        count += 1
        if not message.get("more_body"):
            break
    body = f"{count} {digest.hexdigest()} {len(scope['headers'])}".encode()
    await send({"type": "http.response.start", "status": 200, "headers": scope["headers"][:3000]})
    await send({"type": "http.response.body", "body": body})


def drive_asgi(app: Any, chunks: int) -> list[Any]:
    scope = {"type": "http", "method": "POST", "path": RAW_PATH.decode("latin-1"), "raw_path": RAW_PATH,
             "query_string": b"a=\xff&b=%00", "headers": list(HEADERS), "http_version": "1.1"}
    queue = [{"type": "http.request", "body": b"x", "more_body": i < chunks - 1} for i in range(chunks)]
    sent: list[Any] = []

    async def receive() -> dict[str, Any]:
        return queue.pop(0)

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)
    asyncio.run(app(scope, receive, send))
    return sent


def test_asgi_ten_thousand_tiny_chunks_and_five_thousand_hostile_headers() -> None:
    inspector = gwinspect.wrap(upload_app, max_events=2000)
    assert drive_asgi(inspector, 10_000) == drive_asgi(upload_app, 10_000)
    [trace] = inspector.store.list()
    assert trace.request.body_size == 10_000 and trace.events_dropped == 10_002 - 2000
    assert len(trace.events) == 2000 and trace.response is not None and trace.response.status == 200
    assert gwinspect.loads(gwinspect.dumps(trace))[0].to_dict() == trace.to_dict()


def wsgi_upload(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    stream, lines = environ["wsgi.input"], 0
    while stream.readline():
        lines += 1
    headers = [(k, v) for k, v in environ.items() if k.startswith("HTTP_")][:2000]
    start_response("200 OK", headers)
    return [str(lines).encode(), environ["PATH_INFO"].encode("latin-1")]


def drive_wsgi(app: Any) -> tuple[list[Any], list[bytes]]:
    environ = {"REQUEST_METHOD": "POST", "PATH_INFO": RAW_PATH.decode("latin-1"), "QUERY_STRING": "a=\xff",
               "wsgi.input": io.BytesIO(b"x\n" * 10_000)}
    environ.update({f"HTTP_X_H_{i}": "\xff\x00\x1b[2J" * 50 for i in range(5000)})
    started: list[Any] = []
    result = app(environ, lambda *args: started.append(args))
    body = list(result)
    getattr(result, "close", lambda: None)()
    return started, body


def test_wsgi_ten_thousand_line_reads_and_five_thousand_hostile_headers() -> None:
    inspector = gwinspect.wrap(wsgi_upload, max_events=500, max_body=1000)
    assert drive_wsgi(inspector) == drive_wsgi(wsgi_upload)
    [trace] = inspector.store.list()
    assert trace.state == "complete" and not trace.partial and trace.request.body_size == 20_000
    assert len(trace.events) == 500 and trace.events_dropped > 9000
    assert gwinspect.loads(gwinspect.dumps(trace))[0].to_dict() == trace.to_dict()
