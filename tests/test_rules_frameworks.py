"""No false positives: real framework apps, driven by their own test clients, break no error or warning rule.

Every app serves JSON (GET, HEAD, POST), a stream, a file (also revalidated to a
304 where the framework supports validators), a redirect, a 204 and a 304; the
ASGI ones also a WebSocket echo and lifespan.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

import gwinspect
from gwinspect.model import Trace
from tests import rules_apps

BODY = json.dumps({"posted": 1}).encode()
# (method, path, body)
REQUESTS = [("GET", "/json", b""), ("HEAD", "/json", b""), ("POST", "/json", BODY), ("GET", "/stream", b""),
            ("HEAD", "/stream", b""), ("GET", "/file", b""), ("HEAD", "/file", b""), ("GET", "/redirect", b""),
            ("GET", "/empty", b""), ("GET", "/cached", b"")]


def headers_for(body: bytes) -> dict[str, str]:
    return {"Content-Type": "application/json"} if body else {}


def assert_clean(traces: list[Trace], expected: int) -> None:
    assert len(traces) >= expected, [(t.request.method, t.request.path) for t in traces]
    loud = [(t.type, t.request.method, t.request.path, v) for t in traces for v in t.violations
            if v.severity in ("error", "warning")]
    assert not loud, loud
    assert all(t.complete for t in traces)


def etag_of(headers: Any) -> str | None:
    value = headers.get("etag") if headers is not None else None
    return value if isinstance(value, str) else None


def test_flask_test_client() -> None:
    app = rules_apps.make_flask()
    inspector = gwinspect.wrap(app.wsgi_app)
    app.wsgi_app = inspector
    client = app.test_client()
    for method, path, body in REQUESTS:
        client.open(path, method=method, data=body, headers=headers_for(body)).close()
    with client.get("/file") as response:
        etag = etag_of(response.headers)
    assert etag
    with client.get("/file", headers={"If-None-Match": etag}) as response:
        assert response.status_code == 304
    assert_clean(inspector.store.list(limit=100), len(REQUESTS) + 2)


@pytest.mark.parametrize("fastapi", [False, True], ids=["starlette", "fastapi"])
def test_starlette_and_fastapi_test_client(fastapi: bool) -> None:
    from starlette.testclient import TestClient
    inspector = gwinspect.wrap(rules_apps.make_starlette(fastapi))
    with TestClient(inspector) as client:
        for method, path, body in REQUESTS:
            client.request(method, path, content=body, headers=headers_for(body))
        with client.websocket_connect("/ws") as ws:
            ws.send_text("hello")
            assert ws.receive_text() == "hello"
    traces = inspector.store.list(limit=100)
    assert {t.type for t in traces} == {"http", "websocket", "lifespan"}
    assert_clean(traces, len(REQUESTS) + 2)


def test_falcon_wsgi_test_client() -> None:
    import falcon.testing
    inspector = gwinspect.wrap(rules_apps.make_falcon(asgi=False))
    client = falcon.testing.TestClient(inspector)
    for method, path, body in REQUESTS:
        client.simulate_request(method, path, body=body, headers=headers_for(body))
    assert_clean(inspector.store.list(limit=100), len(REQUESTS))


def test_falcon_asgi_test_client_websocket_and_lifespan() -> None:
    import falcon.testing
    inspector = gwinspect.wrap(rules_apps.make_falcon(asgi=True))

    async def run() -> None:
        async with falcon.testing.ASGIConductor(inspector) as conductor:
            for method, path, body in REQUESTS:
                await conductor.simulate_request(method, path, body=body, headers=headers_for(body))
            async with conductor.simulate_ws("/ws") as ws:
                await ws.send_text("hello")
                assert await ws.receive_text() == "hello"
    asyncio.run(run())
    traces = inspector.store.list(limit=100)
    assert {t.type for t in traces} == {"http", "websocket", "lifespan"}
    assert_clean(traces, len(REQUESTS) + 2)


@pytest.fixture()
def django_site() -> Any:
    from tests.rules_django import setup_django
    setup_django()
    from django.test.utils import override_settings
    with override_settings(ROOT_URLCONF="tests.rules_django", ALLOWED_HOSTS=["*"],
                           MIDDLEWARE=["django.middleware.http.ConditionalGetMiddleware"]):
        yield


def run_wsgi(app: Any, environ: dict[str, Any]) -> tuple[str, dict[str, str]]:
    """A minimal server loop: what every WSGI server does with a response."""
    seen: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        seen.update(status=status, headers={k.lower(): v for k, v in headers})
        return lambda data: None
    result = app(environ, start_response)
    try:
        for _chunk in result:
            pass
    finally:
        if hasattr(result, "close"):
            result.close()
    return seen["status"], seen["headers"]


def test_django_wsgi_request_factory(django_site: Any) -> None:
    from django.core.handlers.wsgi import WSGIHandler
    from django.test import RequestFactory
    inspector = gwinspect.wrap(WSGIHandler())
    factory = RequestFactory()
    for method, path, body in REQUESTS:
        request = factory.generic(method, path, data=body, content_type="application/json")
        run_wsgi(inspector, request.environ)
    _, headers = run_wsgi(inspector, factory.get("/json").environ)
    etag = headers.get("etag")
    assert etag
    status, _ = run_wsgi(inspector, factory.get("/json", headers={"If-None-Match": etag}).environ)
    assert status.startswith("304")
    assert_clean(inspector.store.list(limit=100), len(REQUESTS) + 2)


def test_django_asgi_request_factory(django_site: Any) -> None:
    from django.core.handlers.asgi import ASGIHandler
    from django.test import AsyncRequestFactory
    inspector = gwinspect.wrap(ASGIHandler())
    factory = AsyncRequestFactory()

    async def one(scope: dict[str, Any], body: bytes) -> None:
        sent = asyncio.Event()
        messages = [{"type": "http.request", "body": body, "more_body": False}]

        async def receive() -> dict[str, Any]:
            if messages:
                return messages.pop(0)
            await sent.wait()
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.body" and not message.get("more_body"):
                sent.set()
        await inspector(scope, receive, send)

    async def run() -> None:
        for method, path, body in REQUESTS:
            await one(factory.generic(method, path, data=body, content_type="application/json").scope, body)
        with pytest.raises(ValueError):  # Django has no lifespan support: it raises, as the spec allows
            await inspector({"type": "lifespan", "asgi": {"version": "3.0"}}, None, None)  # type: ignore[arg-type]
    asyncio.run(run())
    traces = inspector.store.list(limit=100)
    assert_clean(traces, len(REQUESTS) + 1)
