"""Bounded memory: body caps per direction per trace, WebSocket frames, the trace ring, the event cap,
and nothing kept alive that the server handed over (the request body stream)."""

from __future__ import annotations

import asyncio
import gc
import io
import weakref
from typing import Any

import pytest

import gwinspect
from tests.apps_core import (
    blob_bytes,
    events,
    http_scope,
    make_environ,
    messages,
    only_trace,
    request_messages,
    roundtrip_ok,
    run_asgi,
    run_wsgi,
)

MB = 1_000_000


def wsgi_echo(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    data = environ["wsgi.input"].read()
    start_response("200 OK", [("Content-Type", "application/octet-stream")])
    return [data, data]


def test_wsgi_default_cap_is_64_kib_per_direction_with_real_sizes() -> None:
    w = gwinspect.wrap(wsgi_echo)
    body = bytes(range(256)) * (MB // 256)
    out = run_wsgi(w, make_environ("POST", body=body))
    assert out.chunks == [body, body]  # the app and client still get everything
    d = only_trace(w)
    [inp] = events(d, "input")
    assert inp["data"]["size"] == len(body) and inp["data"]["truncated"] is True
    assert blob_bytes(inp["data"]) == body[:65536]
    c1, c2 = events(d, "chunk")
    assert blob_bytes(c1["data"]) == body[:65536] and c1["data"]["truncated"] is True
    assert c1["data"]["size"] == len(body)
    assert blob_bytes(c2["data"]) == b"" and c2["data"]["size"] == len(body) and c2["data"]["truncated"] is True
    assert d["request"]["body_size"] == len(body) and d["response"]["body_size"] == 2 * len(body)
    assert len(gwinspect.dumps(w.store.list())) < 400_000
    roundtrip_ok(w)


def test_custom_max_body_spans_chunks_and_writes() -> None:
    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        for _ in range(3):
            environ["wsgi.input"].read(4)
        write = start_response("200 OK", [])
        write(b"abcdef")
        return [b"ghijkl", b"mnop", b""]
    w = gwinspect.wrap(app, max_body=10)
    run_wsgi(w, make_environ("POST", body=b"0123456789AB"))
    d = only_trace(w)
    got = [(blob_bytes(e["data"]), e["data"]["size"], e["data"]["truncated"]) for e in events(d, "write", "chunk")]
    assert got == [(b"abcdef", 6, False), (b"ghij", 6, True), (b"", 4, True), (b"", 0, False)]
    ins = [(blob_bytes(e["data"]), e["data"]["size"], e["data"]["truncated"]) for e in events(d, "input")]
    assert ins == [(b"0123", 4, False), (b"4567", 4, False), (b"89", 4, True)]  # its own budget
    assert d["request"]["body_size"] == 12 and d["response"]["body_size"] == 16


def test_max_body_zero_keeps_sizes_only() -> None:
    w = gwinspect.wrap(wsgi_echo, max_body=0)
    run_wsgi(w, make_environ("POST", body=b"secret-ish payload"))
    d = only_trace(w)
    for e in events(d, "input", "chunk"):
        assert blob_bytes(e["data"]) == b"" and e["data"]["size"] == 18 and e["data"]["truncated"] is True


@pytest.mark.parametrize("bad", [-1, 1.5, "10", True, None])
def test_invalid_limits_are_rejected(bad: Any) -> None:
    for name in ("max_body", "max_traces", "max_events"):
        with pytest.raises((ValueError, TypeError)):
            gwinspect.wrap(wsgi_echo, **{name: bad})


def test_asgi_body_cap_per_direction() -> None:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        total = 0
        while True:
            m = await receive()
            total += len(m.get("body", b""))
            if not m.get("more_body"):
                break
        await send({"type": "http.response.start", "status": 200, "headers": []})
        for _ in range(3):
            await send({"type": "http.response.body", "body": b"R" * 40_000, "more_body": True})
        await send({"type": "http.response.body", "body": b""})
    w = gwinspect.wrap(app)
    run_asgi(w, http_scope(method="POST"), request_messages(b"a" * 40_000, b"b" * 40_000, b"c" * 40_000))
    d = only_trace(w)
    ins = [m["body"] for m in messages(d, "receive")]
    assert [(len(blob_bytes(b)), b["size"], b["truncated"]) for b in ins] == \
        [(40_000, 40_000, False), (25_536, 40_000, True), (0, 40_000, True)]
    outs = [m["body"] for m in messages(d, "send")[1:]]
    assert [(len(blob_bytes(b)), b["size"], b["truncated"]) for b in outs] == \
        [(40_000, 40_000, False), (25_536, 40_000, True), (0, 40_000, True), (0, 0, False)]
    assert d["request"]["body_size"] == 120_000 and d["response"]["body_size"] == 120_000
    roundtrip_ok(w)


def test_websocket_frames_share_the_cap_text_and_bytes() -> None:
    big_text = "é" * 30  # 60 bytes of UTF-8

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        for _ in range(3):
            m = await receive()
            await send({"type": "websocket.send", "text": m["text"]} if m.get("text") is not None
                       else {"type": "websocket.send", "bytes": m["bytes"]})
        await send({"type": "websocket.close", "code": 1000})
    w = gwinspect.wrap(app, max_body=100)
    frames = [{"type": "websocket.receive", "text": "short"},
              {"type": "websocket.receive", "text": big_text + big_text},
              {"type": "websocket.receive", "bytes": b"B" * 50}]
    out = run_asgi(w, http_scope("/ws", type_="websocket"), [{"type": "websocket.connect"}, *frames])
    assert [m.get("text") or m.get("bytes") for m in out.sent[1:4]] == ["short", big_text * 2, b"B" * 50]
    d = only_trace(w, "websocket")
    rec = messages(d, "receive")[1:]
    assert rec[0]["text"] == "short"
    # 5 bytes used; the 120-byte frame does not fit in the 95 left: kept as truncated UTF-8 bytes
    assert rec[1]["text"]["size"] == 120 and rec[1]["text"]["truncated"] is True
    assert len(blob_bytes(rec[1]["text"])) <= 95
    assert rec[2]["bytes"]["size"] == 50 and rec[2]["bytes"]["truncated"] is True
    sent = messages(d, "send")[1:4]
    assert sent[0]["text"] == "short" and sent[1]["text"]["truncated"] is True and sent[2]["bytes"]["size"] == 50
    assert d["request"]["body_size"] == 5 + 120 + 50
    roundtrip_ok(w)


def test_store_keeps_the_newest_max_traces() -> None:
    w = gwinspect.wrap(wsgi_echo, max_traces=7)
    for i in range(30):
        run_wsgi(w, make_environ(path=f"/n{i}"))
    assert len(w.store) == 7
    assert [t.request.path for t in w.store.list(limit=100)] == [f"/n{i}" for i in range(29, 22, -1)]
    assert w.store.get(w.store.list()[0].id) is not None


def test_store_option_objects_and_clear() -> None:
    store = gwinspect.MemoryStore(3)
    a, b = gwinspect.wrap(wsgi_echo, store=store), gwinspect.wrap(wsgi_echo, store=store)
    run_wsgi(a, make_environ(path="/a"))
    run_wsgi(b, make_environ(path="/b"))
    assert [t.request.path for t in store.list()] == ["/b", "/a"] and a.store is b.store is store
    seq = store.sequence
    store.clear()
    assert len(store) == 0 and store.list() == [] and store.sequence > seq
    with pytest.raises(TypeError):
        gwinspect.wrap(wsgi_echo, store=42)


def test_max_events_caps_events_and_counts_drops() -> None:
    def app(environ: dict[str, Any], start_response: Any) -> Any:
        start_response("200 OK", [])
        return (b"x" for _ in range(100))
    w = gwinspect.wrap(app, max_events=10)
    out = run_wsgi(w, make_environ())
    assert len(out.chunks) == 100
    d = only_trace(w)
    assert len(d["events"]) == 10 and d["events_dropped"] == 92  # 1 start_response + 100 chunks + close
    assert d["state"] == "complete" and d["response"]["body_size"] == 100
    roundtrip_ok(w)


def test_asgi_max_events() -> None:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        for _ in range(50):
            await send({"type": "http.response.body", "body": b"y", "more_body": True})
        await send({"type": "http.response.body", "body": b""})
    w = gwinspect.wrap(app, max_events=5)
    run_asgi(w, http_scope(), request_messages())
    d = only_trace(w)
    assert len(d["events"]) == 5 and d["events_dropped"] == 53 - 5


class TrackedInput(io.BytesIO):
    """A request-body stream we can watch for being freed."""


def test_finished_wsgi_trace_does_not_keep_the_request_body_stream_alive() -> None:
    """A stored trace must not pin the server's body buffer (it can be megabytes): memory is max_body."""
    w = gwinspect.wrap(wsgi_echo)
    stream = TrackedInput(b"z" * MB)
    ref = weakref.ref(stream)
    env = make_environ("POST", body=b"z" * MB, stream=stream)
    run_wsgi(w, env)
    del stream, env
    gc.collect()
    assert len(w.store) == 1
    assert ref() is None, "the stored trace keeps the 1 MB wsgi.input stream alive"
    d = only_trace(w)
    assert "TrackedInput" in d["environ"]["wsgi.input"]  # still shown, as its repr


def test_websocket_text_frames_count_utf8_bytes() -> None:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        m = await receive()
        await send({"type": "websocket.send", "text": m["text"]})
        await send({"type": "websocket.close", "code": 1000})
    w = gwinspect.wrap(app)
    text = "é" * 10 + "😀"  # 11 characters, 24 bytes of UTF-8
    run_asgi(w, http_scope("/ws", type_="websocket"),
             [{"type": "websocket.connect"}, {"type": "websocket.receive", "text": text}])
    d = only_trace(w, "websocket")
    assert messages(d, "receive")[1]["text"] == text
    assert d["request"]["body_size"] == 24 and d["response"]["body_size"] == 24


def test_body_sizes_are_bytes_for_memoryviews_of_wider_items() -> None:
    """A memoryview of 4-byte ints has len() 10 but is 40 bytes on the wire: sizes and the cap count bytes."""
    import array

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        start_response("200 OK", [])
        return [memoryview(array.array("i", range(10))), memoryview(array.array("i", range(10)))]  # type: ignore[list-item]
    w = gwinspect.wrap(app, max_body=48)
    run_wsgi(w, make_environ())
    d = only_trace(w)
    chunks = [e["data"] for e in events(d, "chunk")]
    assert chunks[0]["size"] == 40 and chunks[0]["truncated"] is False and len(blob_bytes(chunks[0])) == 40
    assert chunks[1]["size"] == 40 and chunks[1]["truncated"] is True and len(blob_bytes(chunks[1])) == 8
    assert d["response"]["body_size"] == 80


class ServerConnection:
    """Stands for a server's per-request objects (waitress's task, uvicorn's cycle): watched for being freed."""

    def start_response(self, status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        return lambda data: None

    async def receive(self) -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(self, message: dict[str, Any]) -> None:
        pass


def test_finished_wsgi_trace_does_not_keep_the_servers_start_response_alive() -> None:
    """The app holds the server's start_response (through gwinspect's) only as long as it would bare."""
    w = gwinspect.wrap(wsgi_echo)
    server = ServerConnection()
    ref = weakref.ref(server)
    result = w(make_environ("POST", body=b"abc"), server.start_response)
    b"".join(result)
    result.close()  # type: ignore[attr-defined]
    del server, result
    gc.collect()
    assert len(w.store) == 1 and only_trace(w)["state"] == "complete"
    assert ref() is None, "the stored trace keeps the server's start_response (and its request) alive"


def test_finished_asgi_trace_does_not_keep_the_servers_receive_and_send_alive() -> None:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})
    w = gwinspect.wrap(app)
    server = ServerConnection()
    ref = weakref.ref(server)
    asyncio.run(w(http_scope(), server.receive, server.send))
    del server
    gc.collect()
    assert len(w.store) == 1 and only_trace(w)["response"]["status"] == 200
    assert ref() is None, "the stored trace keeps the server's receive/send (and its connection) alive"
