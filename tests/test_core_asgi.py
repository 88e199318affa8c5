"""ASGI recording: scope, every receive/send with timestamps, HTTP streaming, trailers, disconnects,
WebSocket (frames, close, denial), lifespan, and scope types that are not recorded."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

import gwinspect
from tests.apps_core import (
    blob_bytes,
    drive_asgi,
    http_scope,
    messages,
    only_trace,
    request_messages,
    roundtrip_ok,
    run_asgi,
)

pytestmark = pytest.mark.filterwarnings("ignore:Using `httpx` with `starlette.testclient`")


async def echo_stream(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Reads a streamed body and answers in as many streamed parts."""
    parts = []
    while True:
        m = await receive()
        parts.append(m.get("body", b""))
        if not m.get("more_body"):
            break
    await send({"type": "http.response.start", "status": 201, "headers": [(b"content-type", b"text/plain"),
                                                                         (b"x-parts", str(len(parts)).encode())]})
    for i, p in enumerate(parts):
        await send({"type": "http.response.body", "body": p.upper(), "more_body": i < len(parts) - 1})


def test_scope_snapshot_and_request_summary() -> None:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        scope["app.added"] = object()  # the app's own keys are not part of the snapshot
        scope["path"] = "/rewritten"
        await echo_stream(scope, receive, send)
    w = gwinspect.wrap(app)
    scope = http_scope("/items", "POST", query=b"q=1&x=%20", headers=[(b"Host", b"example"), (b"X-Up", b"yes")],
                       extensions={"http.response.trailers": {}}, state={"db": object()})
    run_asgi(w, scope, request_messages(b"body"))
    d = only_trace(w)
    s = d["scope"]
    assert d["environ"] is None and d["protocol"] == "asgi" and d["type"] == "http"
    assert s["path"] == "/items" and "app.added" not in s and s["method"] == "POST"
    assert blob_bytes(s["raw_path"]) == b"/items" and blob_bytes(s["query_string"]) == b"q=1&x=%20"
    assert [[blob_bytes(k), blob_bytes(v)] for k, v in s["headers"]] == [[b"Host", b"example"], [b"X-Up", b"yes"]]
    assert s["client"] == ["127.0.0.1", 50000] and s["asgi"]["version"] == "3.0"
    assert isinstance(s["state"]["db"], str)  # non-JSON values as their repr
    r = d["request"]
    assert (r["method"], r["path"], r["query_string"], r["http_version"], r["scheme"], r["client"]) == \
        ("POST", "/items", "q=1&x=%20", "1.1", "http", "127.0.0.1:50000")
    assert r["headers"] == [["host", "example"], ["x-up", "yes"]] and r["body_size"] == 4
    assert d["response"] == {"status": 201, "headers": [["content-type", "text/plain"], ["x-parts", "1"]],
                             "body_size": 4}
    roundtrip_ok(w)


def test_every_message_recorded_in_order_with_increasing_timestamps_and_more_body_both_ways() -> None:
    w = gwinspect.wrap(echo_stream)
    out = run_asgi(w, http_scope("/up", "POST"), request_messages(b"aa", b"bb", b"", b"cc"))
    assert [m.get("body") for m in out.sent[1:]] == [b"AA", b"BB", b"", b"CC"]
    d = only_trace(w)
    seq = [(e["kind"], e["message"]["type"], blob_bytes(e["message"]["body"]), e["message"]["more_body"])
           for e in d["events"] if e["message"]["type"] != "http.response.start"]
    assert seq == [("receive", "http.request", b"aa", True), ("receive", "http.request", b"bb", True),
                   ("receive", "http.request", b"", True), ("receive", "http.request", b"cc", False),
                   ("send", "http.response.body", b"AA", True), ("send", "http.response.body", b"BB", True),
                   ("send", "http.response.body", b"", True), ("send", "http.response.body", b"CC", False)]
    times = [e["t_ms"] for e in d["events"]]
    assert times == sorted(times) and times[-1] > times[0] >= 0
    assert d["duration_ms"] >= times[-1]
    assert d["request"]["body_size"] == 6 and d["response"]["body_size"] == 6
    assert d["state"] == "complete" and d["disconnected"] is False


def test_trailers_are_recorded_and_passed_through() -> None:
    trailers = {"type": "http.response.trailers", "headers": [(b"x-checksum", b"abc")], "more_trailers": False}

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "http.response.start", "status": 200, "headers": [], "trailers": True})
        await send({"type": "http.response.body", "body": b"data"})
        await send(trailers)
    w = gwinspect.wrap(app)
    out = run_asgi(w, http_scope(extensions={"http.response.trailers": {}}), request_messages())
    assert out.sent[-1] is trailers
    d = only_trace(w)
    sent = messages(d, "send")
    assert sent[0]["trailers"] is True
    assert sent[-1]["type"] == "http.response.trailers"
    assert [[blob_bytes(k), blob_bytes(v)] for k, v in sent[-1]["headers"]] == [[b"x-checksum", b"abc"]]
    assert d["state"] == "complete" and d["disconnected"] is False


def test_http_disconnect_reaches_the_app_and_marks_the_trace() -> None:
    seen: list[str] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"partial", "more_body": True})
        seen.append((await receive())["type"])
    w = gwinspect.wrap(app)
    out = run_asgi(w, http_scope("/long"), request_messages())
    assert seen == ["http.disconnect"] and out.received[-1] == {"type": "http.disconnect", "code": 1006}
    d = only_trace(w)
    assert d["disconnected"] is True and d["state"] == "complete"
    assert messages(d, "receive")[-1]["type"] == "http.disconnect"


def test_disconnect_after_a_complete_response_is_not_a_client_disconnect() -> None:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"done"})
        await receive()  # e.g. a background task waiting for the end of the connection
    w = gwinspect.wrap(app)
    run_asgi(w, http_scope(), request_messages())
    assert only_trace(w)["disconnected"] is False


# ---------------------------------------------------------------------------- WebSocket


async def ws_echo(scope: dict[str, Any], receive: Any, send: Any) -> None:
    assert (await receive())["type"] == "websocket.connect"
    await send({"type": "websocket.accept", "subprotocol": "chat", "headers": [(b"x-ws", b"1")]})
    while True:
        m = await receive()
        if m["type"] == "websocket.disconnect":
            return
        if m.get("text") == "bye":
            await send({"type": "websocket.close", "code": 4001, "reason": "asked to"})
            return
        if m.get("text") is not None:
            await send({"type": "websocket.send", "text": "echo:" + m["text"]})
        else:
            await send({"type": "websocket.send", "bytes": m["bytes"][::-1]})


def ws_in(**kw: Any) -> dict[str, Any]:
    return {"type": "websocket.receive", "text": None, "bytes": None, **kw}


def test_websocket_accept_text_bytes_and_close_with_code() -> None:
    w = gwinspect.wrap(ws_echo)
    incoming = [{"type": "websocket.connect"}, ws_in(text="héllo"), ws_in(bytes=b"\x00\x01\xff"), ws_in(text="bye")]
    out = run_asgi(w, http_scope("/ws", type_="websocket", subprotocols=["chat"]), incoming)
    assert out.exception is None
    assert [m.get("text") or m.get("bytes") for m in out.sent[1:3]] == ["echo:héllo", b"\xff\x01\x00"]
    d = only_trace(w, "websocket")
    got = [(e["kind"], e["message"]["type"]) for e in d["events"]]
    assert got == [("receive", "websocket.connect"), ("send", "websocket.accept"),
                   ("receive", "websocket.receive"), ("send", "websocket.send"),
                   ("receive", "websocket.receive"), ("send", "websocket.send"),
                   ("receive", "websocket.receive"), ("send", "websocket.close")]
    msgs = [e["message"] for e in d["events"]]
    assert msgs[2]["text"] == "héllo" and msgs[3]["text"] == "echo:héllo"
    assert blob_bytes(msgs[4]["bytes"]) == b"\x00\x01\xff" and blob_bytes(msgs[5]["bytes"]) == b"\xff\x01\x00"
    assert msgs[7]["code"] == 4001 and msgs[7]["reason"] == "asked to"
    assert d["response"]["status"] == 101 and d["response"]["headers"] == [["x-ws", "1"]]
    assert d["request"]["method"] is None and d["request"]["path"] == "/ws" and d["request"]["scheme"] == "ws"
    roundtrip_ok(w)


def test_websocket_client_disconnect() -> None:
    w = gwinspect.wrap(ws_echo)
    out = run_asgi(w, http_scope("/ws", type_="websocket"), [{"type": "websocket.connect"}, ws_in(text="a")],
                   then={"type": "websocket.disconnect", "code": 1001, "reason": ""})
    assert out.exception is None
    d = only_trace(w, "websocket")
    last = messages(d, "receive")[-1]
    assert last["type"] == "websocket.disconnect" and last["code"] == 1001 and d["state"] == "complete"


def test_websocket_denial_response() -> None:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "websocket.http.response.start", "status": 401,
                    "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "websocket.http.response.body", "body": b"go away", "more_body": True})
        await send({"type": "websocket.http.response.body", "body": b"!"})
    w = gwinspect.wrap(app)
    scope = http_scope("/ws", type_="websocket", extensions={"websocket.http.response": {}})
    out = run_asgi(w, scope, [{"type": "websocket.connect"}])
    assert [m["type"] for m in out.sent] == ["websocket.http.response.start", "websocket.http.response.body",
                                             "websocket.http.response.body"]
    d = only_trace(w, "websocket")
    assert d["response"]["status"] == 401 and d["response"]["body_size"] == 8
    assert [blob_bytes(m["body"]) for m in messages(d, "send")[1:]] == [b"go away", b"!"]


def test_websocket_close_before_accept_is_a_403() -> None:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "websocket.close", "code": 1008})
    w = gwinspect.wrap(app)
    run_asgi(w, http_scope("/ws", type_="websocket"), [{"type": "websocket.connect"}])
    d = only_trace(w, "websocket")
    assert d["response"]["status"] == 403 and messages(d, "send")[0]["code"] == 1008


# ---------------------------------------------------------------------------- lifespan


def _lifespan_app(fail_startup: bool, log: list[Any]) -> Any:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        assert scope["type"] == "lifespan"
        m = await receive()
        log.append(m)
        if fail_startup:
            sent = {"type": "lifespan.startup.failed", "message": "no database"}
            log.append(sent)
            await send(sent)
            return
        sent = {"type": "lifespan.startup.complete"}
        log.append(sent)
        await send(sent)
        m = await receive()
        log.append(m)
        sent = {"type": "lifespan.shutdown.complete"}
        log.append(sent)
        await send(sent)
    return app


@pytest.mark.parametrize("fail_startup", [False, True], ids=["startup-shutdown", "startup-failed"])
def test_lifespan_passes_through_exactly(fail_startup: bool) -> None:
    incoming = [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}]
    bare_log: list[Any] = []
    bare = run_asgi(_lifespan_app(fail_startup, bare_log), {"type": "lifespan", "asgi": {"version": "3.0"}},
                    [dict(m) for m in incoming])
    log: list[Any] = []
    w = gwinspect.wrap(_lifespan_app(fail_startup, log))
    sent_in = [dict(m) for m in incoming]
    out = run_asgi(w, {"type": "lifespan", "asgi": {"version": "3.0"}}, sent_in)
    assert out.sent == bare.sent and log == bare_log
    # the very same message objects both ways
    assert [id(m) for m in out.sent] == [id(m) for m in log if m["type"].endswith(("complete", "failed"))]
    assert [id(m) for m in log if m["type"] in ("lifespan.startup", "lifespan.shutdown")] == \
        [id(m) for m in out.received]
    d = only_trace(w, "lifespan")
    expected = ["lifespan.startup", "lifespan.startup.failed"] if fail_startup else \
        ["lifespan.startup", "lifespan.startup.complete", "lifespan.shutdown", "lifespan.shutdown.complete"]
    assert [e["message"]["type"] for e in d["events"]] == expected
    assert d["request"]["path"] == "" and d["response"] is None and d["state"] == "complete"
    if fail_startup:
        assert messages(d, "send")[0]["message"] == "no database"


def test_lifespan_unsupported_app_raises_the_same_exception() -> None:
    err = RuntimeError("lifespan not supported")

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            raise err
    out = run_asgi(gwinspect.wrap(app), {"type": "lifespan", "asgi": {"version": "3.0"}},
                   [{"type": "lifespan.startup"}])
    assert out.exception is err


def test_unrecorded_scope_types_pass_through_untouched() -> None:
    seen: dict[str, Any] = {}

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        seen.update(scope=scope, receive=receive, send=send)
        await send({"type": "custom.event"})

    async def receive() -> dict[str, Any]:
        return {}

    async def send(message: Any) -> None:
        seen["sent"] = message
    w = gwinspect.wrap(app)
    scope = {"type": "custom", "asgi": {"version": "3.0"}}
    asyncio.run(w(scope, receive, send))
    assert seen["scope"] is scope and seen["receive"] is receive and seen["send"] is send
    assert seen["sent"] == {"type": "custom.event"}
    assert len(w.store) == 0


def test_each_connection_is_one_trace() -> None:
    w = gwinspect.wrap(echo_stream)

    async def main() -> None:
        for i in range(3):
            await drive_asgi(w, http_scope(f"/n{i}", "POST"), request_messages(b"x"))
    asyncio.run(main())
    assert [t.request.path for t in w.store.list()] == ["/n2", "/n1", "/n0"]
    assert len({t.id for t in w.store.list()}) == 3


def test_scope_snapshot_is_not_changed_by_the_app_mutating_nested_values() -> None:
    """Frameworks write per-request objects into scope["state"] (Starlette's request.state) and may append
    to scope["headers"] in place: the snapshot is what the server sent, and pins none of the app's objects."""
    import gc
    import weakref

    class Session:
        pass
    refs: list[Any] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        session = Session()
        refs.append(weakref.ref(session))
        scope["state"]["session"] = session
        scope["extensions"]["app.ext"] = {}
        scope["headers"].append((b"x-added-by-app", b"1"))
        await echo_stream(scope, receive, send)
    w = gwinspect.wrap(app)
    run_asgi(w, http_scope(headers=[(b"host", b"h")], state={"pool": "shared"}, extensions={}),
             request_messages(b"x"))
    gc.collect()
    d = only_trace(w)
    assert d["scope"]["state"] == {"pool": "shared"} and d["scope"]["extensions"] == {}
    assert [[blob_bytes(k), blob_bytes(v)] for k, v in d["scope"]["headers"]] == [[b"host", b"h"]]
    assert d["request"]["headers"] == [["host", "h"]]
    assert refs[0]() is None, "the stored trace keeps the app's request.state object alive"


@pytest.mark.parametrize(("method", "status", "bodies"), [
    ("GET", 204, [b""]), ("GET", 304, [b""]), ("HEAD", 200, [b""]), ("GET", 200, [b"", b""]), ("POST", 201, []),
])
def test_empty_bodies_204_304_head(method: str, status: int, bodies: list[bytes]) -> None:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "http.response.start", "status": status, "headers": [(b"content-length", b"0")]})
        for i, b in enumerate(bodies):
            await send({"type": "http.response.body", "body": b, "more_body": i < len(bodies) - 1})
        if not bodies:
            await send({"type": "http.response.body"})  # body and more_body are optional keys
    bare = run_asgi(app, http_scope(method=method), request_messages())
    w = gwinspect.wrap(app)
    out = run_asgi(w, http_scope(method=method), request_messages())
    assert out.sent == bare.sent
    d = only_trace(w)
    assert d["response"]["status"] == status and d["response"]["body_size"] == 0
    assert d["state"] == "complete" and d["disconnected"] is False and d["request"]["method"] == method
    roundtrip_ok(w)


def test_excluded_paths_pass_through_unrecorded_and_errors_are_raised_once() -> None:
    calls: list[str] = []
    err = RuntimeError("health failed")

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        calls.append(scope["path"])
        if scope["path"] == "/health/deep":
            raise err
        await echo_stream(scope, receive, send)
    w = gwinspect.wrap(app, exclude_paths=["/health"])
    assert run_asgi(w, http_scope("/health"), request_messages(b"x")).sent[-1]["body"] == b"X"
    assert run_asgi(w, http_scope("/health/deep"), request_messages()).exception is err
    assert calls == ["/health", "/health/deep"] and len(w.store) == 0


def test_panel_requests_are_never_recorded() -> None:
    w = gwinspect.wrap(echo_stream)
    run_asgi(w, http_scope("/x", "POST"), request_messages(b"a"))
    out = run_asgi(w, http_scope("/__inspect__/api/traces"), request_messages())
    assert out.sent and out.sent[0]["type"] == "http.response.start"
    assert [t.request.path for t in w.store.list()] == ["/x"]


def test_in_progress_connection_is_visible_while_the_app_waits() -> None:
    gate = asyncio.Event()

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"first", "more_body": True})
        await gate.wait()
        await send({"type": "http.response.body", "body": b"last"})
    w = gwinspect.wrap(app)

    async def main() -> None:
        task = asyncio.ensure_future(drive_asgi(w, http_scope("/hung"), request_messages()))
        for _ in range(100):
            await asyncio.sleep(0)
            if len(w.store) and len(w.store.list()[0].events) == 3:
                break
        [t] = w.store.list()
        assert t.state == "in_progress" and t.duration_ms is None and t.request.path == "/hung"
        assert t.response is not None and t.response.status == 200 and t.response.body_size == 5
        assert gwinspect.loads(gwinspect.dumps(t))[0] == t
        gate.set()
        out = await asyncio.wait_for(task, 5)
        assert out.sent[-1]["body"] == b"last"
    asyncio.run(main())
    [t] = w.store.list()
    assert t.state == "complete" and t.response is not None and t.response.body_size == 9


def test_recorded_messages_are_not_changed_by_middleware_outside_the_inspector() -> None:
    """Starlette middleware (sessions, CORS, GZip) append to message["headers"] in place in their send
    wrappers; the trace must show what the wrapped app sent, not what an outer layer added later."""
    from starlette.applications import Starlette
    from starlette.middleware import Middleware
    from starlette.middleware.sessions import SessionMiddleware
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route
    from starlette.testclient import TestClient

    async def login(request: Any) -> PlainTextResponse:
        request.session["user"] = "alice"
        return PlainTextResponse("in", headers={"x-app": "1"})
    store = gwinspect.MemoryStore(10)
    app = Starlette(routes=[Route("/login", login)],
                    middleware=[Middleware(SessionMiddleware, secret_key="k" * 32),  # outermost
                                Middleware(gwinspect.ASGIInspector, store=store)])
    with TestClient(app) as client:
        r = client.get("/login")
    assert r.status_code == 200 and "session" in r.cookies
    [trace] = [t for t in store.list() if t.type == "http"]
    assert trace.response is not None
    names = [k for k, _ in trace.response.headers]
    assert "x-app" in names and "set-cookie" not in names
    start = trace.to_dict()["events"][[e.message_type for e in trace.events].index("http.response.start")]
    assert [blob_bytes(k) for k, _ in start["message"]["headers"]] == [b"x-app", b"content-length", b"content-type"]


def test_recorded_headers_are_not_changed_by_an_outer_layer_appending_in_place() -> None:
    def outer(inner: Any) -> Any:
        async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
            async def send_with_id(message: Any) -> None:
                if message["type"] == "http.response.start":
                    message["headers"].append((b"x-request-id", b"abc"))  # in place, as many middlewares do
                await send(message)
            await inner(scope, receive, send_with_id)
        return app
    inspector = gwinspect.wrap(echo_stream)
    out = run_asgi(outer(inspector), http_scope(method="POST"), request_messages(b"x"))
    assert (b"x-request-id", b"abc") in out.sent[0]["headers"]  # the outer layer still did its job
    d = only_trace(inspector)
    assert [blob_bytes(k) for k, _ in messages(d, "send")[0]["headers"]] == [b"content-type", b"x-parts"]
    assert [k for k, _ in d["response"]["headers"]] == ["content-type", "x-parts"]


def test_send_and_receive_pass_for_coroutine_functions_as_the_servers_own_do() -> None:
    # asgiref's async_to_sync(send), which Channels' sync consumers call, warns about a callable not
    # marked as a coroutine function; the servers' own send and receive are `async def`.
    import warnings

    from asgiref.sync import async_to_sync, sync_to_async

    def checks(seen: dict[str, Any]) -> Any:
        async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
            seen["send"] = asyncio.iscoroutinefunction(send)
            seen["receive"] = asyncio.iscoroutinefunction(receive)
            await receive()

            def sync_part() -> None:
                with warnings.catch_warnings(record=True) as caught:
                    warnings.simplefilter("always")
                    async_to_sync(send)({"type": "http.response.start", "status": 200, "headers": []})
                    async_to_sync(send)({"type": "http.response.body", "body": b"ok"})
                seen["warnings"] = [str(w.message) for w in caught]
            await sync_to_async(sync_part)()
        return app
    bare: dict[str, Any] = {}
    wrapped_seen: dict[str, Any] = {}
    bare_out = run_asgi(checks(bare), http_scope(), request_messages())
    inspector = gwinspect.wrap(checks(wrapped_seen))
    out = run_asgi(inspector, http_scope(), request_messages())
    assert bare == wrapped_seen == {"send": True, "receive": True, "warnings": []}
    assert out.exception is None and out.sent == bare_out.sent
    assert only_trace(inspector)["response"]["status"] == 200


def test_an_object_the_app_sends_is_not_kept_alive_by_the_stored_trace(tmp_path: Any) -> None:
    # http.response.zerocopysend hands the server an open file: bare, it is closed once the app lets
    # go of it; a stored trace holding it would keep its descriptor open for 500 more requests.
    import gc
    import weakref
    path = tmp_path / "f"
    path.write_bytes(b"data")
    refs: list[Any] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        f = open(path, "rb")  # noqa: SIM115 -- closed by being freed, as an app relying on that would be
        refs.append(weakref.ref(f))
        await send({"type": "http.response.zerocopysend", "file": f, "more_body": False})
    inspector = gwinspect.wrap(app)
    out = run_asgi(inspector, http_scope(), request_messages())
    assert out.exception is None and out.sent[-1]["file"].name == str(path)
    del out
    gc.collect()
    assert refs[0]() is None
    sent = [e for e in only_trace(inspector)["events"] if e["kind"] == "send"]
    assert sent[-1]["message"]["file"].startswith("<_io.BufferedReader name=")
