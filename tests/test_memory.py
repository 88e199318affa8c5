"""Memory stays bounded: a full store stops growing, and big bodies stream through without being held.

The 100,000-request runs measure with tracemalloc only from request 20,000 on
(when the store has long been full): what is allocated and still alive at
60,000 and at 100,000 must be the same, give or take the last traces' sizes.
The streaming runs compare tracemalloc's peak for the bare and the wrapped app
moving 200 MB each way (the 1 GB runs are ``benchmarks/overhead.py --big``).
"""

from __future__ import annotations

import asyncio
import gc
import tracemalloc
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import gwinspect
from benchmarks.inprocess import SCOPE, time_wsgi

pytestmark = pytest.mark.timeout(300)
CHUNK = 64 * 1024
BIG_MB = 200
MB = 1024 * 1024


async def hello_asgi(scope: dict[str, Any], receive: Any, send: Any) -> None:
    await receive()
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": b"Hello, world!"})


def hello_wsgi(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    environ["wsgi.input"].read()
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"Hello, world!"]


def asgi_requests(app: Any, loop: asyncio.AbstractEventLoop) -> Callable[[int], None]:
    async def many(n: int) -> None:
        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"ping", "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            pass
        for _ in range(n):
            await app(dict(SCOPE, headers=list(SCOPE["headers"])), receive, send)
    return lambda n: loop.run_until_complete(many(n))


def traced_now() -> int:
    gc.collect()
    return tracemalloc.get_traced_memory()[0]


@pytest.mark.parametrize("protocol", ["wsgi", "asgi"])
def test_hundred_thousand_requests_keep_memory_flat(protocol: str) -> None:
    loop = asyncio.new_event_loop()
    inspector = gwinspect.wrap(hello_wsgi if protocol == "wsgi" else hello_asgi, max_traces=500)
    run: Callable[[int], Any] = (lambda n: time_wsgi(inspector, n)) if protocol == "wsgi" \
        else asgi_requests(inspector, loop)
    run(20_000)
    assert len(inspector.store) == 500
    tracemalloc.start()
    try:
        run(40_000)
        at_60k = traced_now()
        run(40_000)
        at_100k = traced_now()
    finally:
        tracemalloc.stop()
        loop.close()
    assert len(inspector.store) == 500 and inspector.store.list(limit=1)[0].state == "complete"
    assert at_60k > 100_000  # the store's 500 traces were allocated while tracing: the measure sees them
    assert abs(at_100k - at_60k) < 64 * 1024, f"grew from {at_60k} to {at_100k} bytes between 60k and 100k requests"


# ---------------------------------------------------------------------------- big bodies


def stream_out(mb: int) -> Iterator[bytes]:
    block = b"\xab" * CHUNK
    for _ in range(mb * MB // CHUNK):
        yield block


class Upload:
    """A ``wsgi.input`` that produces ``mb`` megabytes without ever holding them."""

    def __init__(self, mb: int) -> None:
        self.left = mb * MB

    def read(self, size: int = -1) -> bytes:
        n = min(self.left, CHUNK if size < 0 else min(size, CHUNK))
        self.left -= n
        return b"\xcd" * n


def wsgi_big(environ: dict[str, Any], start_response: Any) -> Iterator[bytes]:
    stream, total = environ["wsgi.input"], 0
    while data := stream.read(CHUNK):
        total += len(data)
    start_response("200 OK", [("Content-Type", "application/octet-stream")])
    return stream_out(int(environ["QUERY_STRING"]))


async def asgi_big(scope: dict[str, Any], receive: Any, send: Any) -> None:
    while (await receive()).get("more_body"):
        pass
    await send({"type": "http.response.start", "status": 200, "headers": []})
    for block in stream_out(int(scope["query_string"])):
        await send({"type": "http.response.body", "body": block, "more_body": True})
    await send({"type": "http.response.body", "body": b""})


def peak_of(protocol: str, app: Any, mb: int) -> tuple[int, int]:
    """(peak traced bytes, bytes the server received) for one request moving ``mb`` MB each way."""
    received = 0
    gc.collect()
    tracemalloc.start()
    try:
        if protocol == "wsgi":
            environ = {"REQUEST_METHOD": "POST", "PATH_INFO": "/big", "QUERY_STRING": str(mb),
                       "wsgi.input": Upload(mb)}
            result = app(environ, lambda *args: None)
            for block in result:
                received += len(block)
            getattr(result, "close", lambda: None)()
        else:
            left = mb * MB

            async def receive() -> dict[str, Any]:
                nonlocal left
                n = min(left, CHUNK)
                left -= n
                return {"type": "http.request", "body": b"\xcd" * n, "more_body": left > 0}

            async def send(message: dict[str, Any]) -> None:
                nonlocal received
                received += len(message.get("body", b""))
            scope = dict(SCOPE, method="POST", path="/big", query_string=str(mb).encode())
            asyncio.run(app(scope, receive, send))
        return tracemalloc.get_traced_memory()[1], received
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("protocol", ["wsgi", "asgi"])
def test_big_stream_and_upload_peak_memory_close_to_bare(protocol: str) -> None:
    app = wsgi_big if protocol == "wsgi" else asgi_big
    bare_peak, bare_received = peak_of(protocol, app, BIG_MB)
    inspector = gwinspect.wrap(app)
    wrapped_peak, wrapped_received = peak_of(protocol, inspector, BIG_MB)
    assert bare_received == wrapped_received == BIG_MB * MB
    assert wrapped_peak - bare_peak < 20 * MB, (bare_peak, wrapped_peak)
    [trace] = inspector.store.list()
    assert trace.request.body_size == trace.response.body_size == BIG_MB * MB  # type: ignore[union-attr]
