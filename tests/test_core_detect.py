"""Protocol detection in gwinspect.wrap(): every kind of app the issue lists, overrides, and clear errors."""

from __future__ import annotations

import functools
from typing import Any

import pytest

import gwinspect
from tests.apps_core import http_scope, make_environ, only_trace, request_messages, run_asgi, run_wsgi
from tests.django_core import setup_django

pytestmark = pytest.mark.filterwarnings("ignore:Using `httpx` with `starlette.testclient`")


def wsgi_fn(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"wsgi"]


async def asgi_fn(scope: dict[str, Any], receive: Any, send: Any) -> None:
    await receive()
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"asgi"})


class AsgiClass:
    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        await asgi_fn(scope, receive, send)


class WsgiClassApp:
    """PEP 3333: the app may be a class; calling it makes the response iterable."""

    def __init__(self, environ: dict[str, Any], start_response: Any) -> None:
        self.start_response = start_response

    def __iter__(self) -> Any:
        self.start_response("200 OK", [("Content-Type", "text/plain")])
        yield b"class-"
        yield b"wsgi"


class WsgiInstance:
    def __call__(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        return wsgi_fn(environ, start_response)


class Asgi2:
    """ASGI 2 double-callable: the class is called with the scope, the instance with receive/send."""

    def __init__(self, scope: dict[str, Any]) -> None:
        self.scope = scope

    async def __call__(self, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "http.response.start", "status": 200, "headers": [(b"x-asgi", b"2")]})
        await send({"type": "http.response.body", "body": b"two:" + self.scope["path"].encode()})


def wsgi_with_options(environ: dict[str, Any], start_response: Any, *, greeting: bytes = b"hi") -> list[bytes]:
    start_response("200 OK", [])
    return [greeting]


async def asgi_with_options(scope: dict[str, Any], receive: Any, send: Any, *, body: bytes = b"") -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": body})


def _frameworks() -> list[tuple[str, Any, str]]:
    import falcon
    import falcon.asgi
    from fastapi import FastAPI
    from flask import Flask
    from starlette.applications import Starlette
    setup_django()
    from django.core.handlers.asgi import ASGIHandler
    from django.core.handlers.wsgi import WSGIHandler
    return [("flask", Flask("t"), "wsgi"), ("flask.wsgi_app", Flask("t").wsgi_app, "wsgi"),
            ("falcon", falcon.App(), "wsgi"), ("falcon.asgi", falcon.asgi.App(), "asgi"),
            ("starlette", Starlette(), "asgi"), ("fastapi", FastAPI(), "asgi"),
            ("django-wsgi", WSGIHandler(), "wsgi"), ("django-asgi", ASGIHandler(), "asgi")]


PLAIN = [
    ("wsgi function", wsgi_fn, "wsgi"), ("wsgi instance", WsgiInstance(), "wsgi"),
    ("wsgi class", WsgiClassApp, "wsgi"), ("asgi function", asgi_fn, "asgi"),
    ("asgi class instance", AsgiClass(), "asgi"), ("asgi2 class", Asgi2, "asgi"),
    ("partial of wsgi", functools.partial(wsgi_with_options, greeting=b"yo"), "wsgi"),
    ("partial of asgi", functools.partial(asgi_with_options, body=b"p"), "asgi"),
    ("partial of partial of asgi", functools.partial(functools.partial(asgi_with_options), body=b"p"), "asgi"),
    ("partial of asgi instance", functools.partial(AsgiClass()), "asgi"),
]


@pytest.mark.parametrize(("name", "app", "protocol"), PLAIN, ids=[p[0] for p in PLAIN])
def test_plain_apps_are_detected(name: str, app: Any, protocol: str) -> None:
    assert gwinspect.detect_protocol(app) == protocol
    wrapped = gwinspect.wrap(app)
    assert isinstance(wrapped, gwinspect.WSGIInspector if protocol == "wsgi" else gwinspect.ASGIInspector)


def test_frameworks_are_detected() -> None:
    for name, app, protocol in _frameworks():
        assert gwinspect.detect_protocol(app) == protocol, name
        wrapped = gwinspect.wrap(app)
        expected = gwinspect.WSGIInspector if protocol == "wsgi" else gwinspect.ASGIInspector
        assert isinstance(wrapped, expected), name
        assert wrapped.app is app, name


def test_wsgi_class_app_works_and_is_recorded() -> None:
    bare = run_wsgi(WsgiClassApp, make_environ(path="/c"))
    wrapped = gwinspect.wrap(WsgiClassApp)
    got = run_wsgi(wrapped, make_environ(path="/c"))
    assert got.observable() == bare.observable()
    assert got.chunks == [b"class-", b"wsgi"]
    d = only_trace(wrapped)
    assert d["response"]["status"] == 200 and d["state"] == "complete"


def test_partial_wsgi_app_works() -> None:
    wrapped = gwinspect.wrap(functools.partial(wsgi_with_options, greeting=b"yo"))
    assert run_wsgi(wrapped, make_environ()).chunks == [b"yo"]
    assert only_trace(wrapped)["protocol"] == "wsgi"


def test_asgi2_double_callable_is_adapted_and_recorded() -> None:
    bare_sent = []

    async def bare_as_asgi3(scope: Any, receive: Any, send: Any) -> None:
        await Asgi2(scope)(receive, send)
    bare_sent = run_asgi(bare_as_asgi3, http_scope("/two"), request_messages()).sent
    wrapped = gwinspect.wrap(Asgi2)
    out = run_asgi(wrapped, http_scope("/two"), request_messages())
    assert out.exception is None
    assert out.sent == bare_sent
    assert out.sent[-1]["body"] == b"two:/two"
    d = only_trace(wrapped)
    assert d["protocol"] == "asgi" and d["response"]["status"] == 200


class Asgi2TakingMore:
    """ASGI 2 with a constructor passing extra arguments on, as a subclass shim might: uvicorn's
    ``interface="auto"`` serves any class without ``__await__`` as ASGI 2."""

    def __init__(self, scope: Any, *args: Any, **kwargs: Any) -> None:
        self.app = Asgi2(scope)

    async def __call__(self, receive: Any, send: Any) -> None:
        await self.app(receive, send)


def test_an_asgi2_class_is_adapted_whatever_its_constructor_takes() -> None:
    with pytest.raises(TypeError):  # WSGI or ASGI cannot be told from (scope, *args)
        gwinspect.wrap(Asgi2TakingMore)
    wrapped = gwinspect.wrap(Asgi2TakingMore, protocol="asgi")
    out = run_asgi(wrapped, http_scope("/two"), request_messages())
    assert out.exception is None and out.sent[-1]["body"] == b"two:/two"
    assert only_trace(wrapped)["response"]["status"] == 200


@pytest.mark.parametrize("protocol", ["wsgi", "asgi"])
def test_protocol_override_wins(protocol: str) -> None:
    def ambiguous(*args: Any) -> Any:  # *args: detection cannot tell
        if len(args) == 2:
            return wsgi_fn(*args)
        return asgi_fn(*args)
    with pytest.raises(TypeError):
        gwinspect.wrap(ambiguous)
    wrapped = gwinspect.wrap(ambiguous, protocol=protocol)  # type: ignore[arg-type]
    if protocol == "wsgi":
        assert isinstance(wrapped, gwinspect.WSGIInspector)
        assert run_wsgi(wrapped, make_environ()).chunks == [b"wsgi"]
    else:
        assert isinstance(wrapped, gwinspect.ASGIInspector)
        assert run_asgi(wrapped, http_scope(), request_messages()).sent[-1]["body"] == b"asgi"
    assert len(wrapped.store) == 1


def test_protocol_override_beats_detection() -> None:
    # A WSGI-looking function forced to ASGI is wrapped as ASGI, not second-guessed.
    assert isinstance(gwinspect.wrap(wsgi_fn, protocol="asgi"), gwinspect.ASGIInspector)
    assert isinstance(gwinspect.wrap(asgi_fn, protocol="wsgi"), gwinspect.WSGIInspector)
    with pytest.raises(ValueError, match="protocol"):
        gwinspect.wrap(wsgi_fn, protocol="http")  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", [42, "app", None, lambda a, b, c, d, e: None, lambda: None],
                         ids=["int", "str", "None", "lambda-5-args", "lambda-0-args"])
def test_non_apps_get_a_clear_type_error(bad: Any) -> None:
    with pytest.raises(TypeError) as info:
        gwinspect.wrap(bad)
    text = str(info.value)
    assert "WSGI" in text and "ASGI" in text and "protocol=" in text


def test_asgi_inspector_through_starlette_add_middleware_and_middleware_list() -> None:
    from starlette.applications import Starlette
    from starlette.middleware import Middleware
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route
    from starlette.testclient import TestClient

    async def hi(request: Any) -> PlainTextResponse:
        return PlainTextResponse("hi")

    store = gwinspect.MemoryStore(50)
    app = Starlette(routes=[Route("/hi", hi)])
    app.add_middleware(gwinspect.ASGIInspector, store=store)
    with TestClient(app) as client:
        assert client.get("/hi").text == "hi"
    http = [t for t in store.list() if t.type == "http"]
    assert [t.request.path for t in http] == ["/hi"]
    assert any(t.type == "lifespan" for t in store.list())

    store2 = gwinspect.MemoryStore(50)
    app2 = Starlette(routes=[Route("/hi", hi)], middleware=[Middleware(gwinspect.ASGIInspector, store=store2)])
    with TestClient(app2) as client:
        r = client.get("/hi?x=1")
    assert r.status_code == 200 and r.text == "hi"
    [trace] = [t for t in store2.list() if t.type == "http"]
    assert trace.request.query_string == "x=1" and trace.response is not None and trace.response.status == 200
