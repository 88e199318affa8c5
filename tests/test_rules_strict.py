"""validate= and strict=: violations live in the trace; strict raises only after the response, never over the app."""

from __future__ import annotations

import io
import json
from importlib import resources
from typing import Any

import jsonschema
import pytest
from werkzeug.test import Client

import gwinspect
from tests.rules_helpers import rules_of

TEXT = [("Content-Type", "text/plain")]


def bad_length(environ: Any, start_response: Any) -> Any:
    start_response("200 OK", [*TEXT, ("Content-Length", "99")])
    return [b"part one, ", b"part two"]


def good(environ: Any, start_response: Any) -> Any:
    start_response("200 OK", TEXT)
    return [b"fine"]


def serve_once(app: Any, method: str = "GET") -> tuple[list[bytes], BaseException | None]:
    """A server loop that keeps what it got before an exception."""
    from gwinspect.rules.drive import wsgi_environ
    got: list[bytes] = []
    try:
        result = app(wsgi_environ(method, "/", b""), lambda s, h, e=None: got.append)
        try:
            for chunk in result:
                got.append(chunk)
        finally:
            if hasattr(result, "close"):
                result.close()
    except BaseException as exc:
        return got, exc
    return got, None


def test_violations_are_part_of_the_trace_and_survive_a_dump() -> None:
    app = gwinspect.wrap(bad_length)
    serve_once(app)
    (trace,) = app.store.list()
    assert "WSGI-LEN-001" in rules_of(trace)
    hit = next(v for v in trace.violations if v.rule == "WSGI-LEN-001")
    assert trace.events[hit.event].kind == "chunk"  # type: ignore[index]
    (loaded,) = gwinspect.loads(gwinspect.dumps(trace))
    assert loaded.violations == trace.violations
    schema = json.loads((resources.files("gwinspect") / "trace.schema.json").read_text())
    jsonschema.validate(json.loads(gwinspect.dumps(trace)), schema)


def test_validate_false_turns_checking_off() -> None:
    app = gwinspect.wrap(bad_length, validate=False)
    serve_once(app)
    assert app.store.list()[0].violations == ()


def test_strict_raises_after_the_whole_body_went_out() -> None:
    app = gwinspect.wrap(bad_length, strict=True)
    got, exc = serve_once(app)
    assert got == [b"part one, ", b"part two"]  # the app's response, untouched
    assert isinstance(exc, gwinspect.ProtocolViolation) and isinstance(exc, AssertionError)
    assert [v.rule for v in exc.violations] == ["WSGI-LEN-001"]
    assert "WSGI-LEN-001" in str(exc)
    assert app.store.list()[0].complete  # the store was told before the raise


def test_strict_through_werkzeug_test_client() -> None:
    with pytest.raises(gwinspect.ProtocolViolation, match="WSGI-LEN-001"):
        Client(gwinspect.wrap(bad_length, strict=True)).get("/").get_data()
    response = Client(gwinspect.wrap(good, strict=True)).get("/")
    assert response.get_data() == b"fine"


def test_strict_ignores_warnings_and_info() -> None:
    app = gwinspect.wrap(good, strict=True)
    got, exc = serve_once(app, "HEAD")  # a body for HEAD: info only
    assert exc is None and got == [b"fine"]
    assert rules_of(app.store.list()[0]) == {"WSGI-BODY-002"}


def test_strict_never_replaces_the_apps_own_exception() -> None:
    def broken_then_raises(environ: Any, start_response: Any) -> Any:
        start_response("200 OK", [("Content-Type", b"bytes")])
        yield b"x"
        raise KeyError("the app's own error")
    _got, exc = serve_once(gwinspect.wrap(broken_then_raises, strict=True))
    assert isinstance(exc, KeyError)


def test_strict_on_a_file_wrapper_response() -> None:
    def file_app(environ: Any, start_response: Any) -> Any:
        start_response("200", TEXT)  # no reason phrase (warning) ... and a bad status form below
        start_response("200 OK", TEXT)  # second call without exc_info: an error
        return environ["wsgi.file_wrapper"](io.BytesIO(b"file body"))
    _got, exc = serve_once(gwinspect.wrap(file_app, strict=True))
    assert isinstance(exc, gwinspect.ProtocolViolation)
    assert "WSGI-START-002" in {v.rule for v in exc.violations}


async def bad_asgi(scope: Any, receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"3")]})
    await send({"type": "http.response.body", "body": b"hello"})


def test_strict_asgi_raises_through_starlette_test_client() -> None:
    from starlette.testclient import TestClient
    client = TestClient(gwinspect.wrap(bad_asgi, strict=True))
    with pytest.raises(gwinspect.ProtocolViolation, match="ASGI-HTTP-006"):
        client.get("/")


def test_strict_asgi_clean_app_is_untouched() -> None:
    from starlette.testclient import TestClient

    from tests.rules_apps import make_starlette
    with TestClient(gwinspect.wrap(make_starlette(), strict=True)) as client:
        assert client.get("/json").json() == {"ok": True, "items": [1, 2, 3]}
        assert client.get("/stream").text == "chunk 0\nchunk 1\nchunk 2\n"
        with client.websocket_connect("/ws") as ws:
            ws.send_text("ping")
            assert ws.receive_text() == "ping"


def test_strict_asgi_app_exception_wins() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": "200"})  # status not an int: an error
        raise LookupError("the app's own error")
    from starlette.testclient import TestClient
    with pytest.raises(LookupError):
        TestClient(gwinspect.wrap(app, strict=True)).get("/")
