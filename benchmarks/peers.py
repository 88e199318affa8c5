"""Hello-world apps and the middlewares compared against gwinspect.

Each *variant* is a name and a function that wraps an app. Peers that are not
installed are left out (``available_variants`` says which and why), so the
benchmark runs with whatever this machine has.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from typing import Any

import gwinspect

Wrapper = Callable[[Any], Any]

HELLO = b"Hello, world!"
HEADERS = [(b"content-type", b"text/plain"), (b"content-length", str(len(HELLO)).encode())]


async def raw_asgi(scope: dict[str, Any], receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
    await send({"type": "http.response.body", "body": HELLO})


def raw_wsgi(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(HELLO)))])
    return [HELLO]


def starlette_app() -> Any:
    from starlette.applications import Starlette
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    async def hello(request: Any) -> Any:
        return PlainTextResponse("Hello, world!")
    return Starlette(routes=[Route("/", hello)])


def flask_app() -> Any:
    from flask import Flask
    app = Flask("bench")

    @app.route("/")
    def hello() -> str:
        return "Hello, world!"
    return app


APPS: dict[str, tuple[str, Callable[[], Any]]] = {
    "raw ASGI": ("asgi", lambda: raw_asgi),
    "Starlette": ("asgi", starlette_app),
    "raw WSGI": ("wsgi", lambda: raw_wsgi),
    "Flask": ("wsgi", flask_app),
}


# ---- variants -------------------------------------------------------------
def _gwinspect(**options: Any) -> Wrapper:
    return lambda app: gwinspect.wrap(app, **options)


def _otel_provider() -> tuple[Any, Any]:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider, exporter


def _otel(protocol: str) -> Wrapper:
    def wrap(app: Any) -> Any:
        provider, exporter = _otel_provider()
        if protocol == "asgi":
            from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware as ASGIMiddleware
            wrapped: Any = ASGIMiddleware(app, tracer_provider=provider)
        else:
            from opentelemetry.instrumentation.wsgi import OpenTelemetryMiddleware as WSGIMiddleware
            wrapped = WSGIMiddleware(app, tracer_provider=provider)
        wrapped._bench_reset = exporter.clear  # emptied between rounds, so memory stays flat
        return wrapped
    return wrap


def _message_logger(app: Any) -> Any:
    from uvicorn.logging import TRACE_LOG_LEVEL
    from uvicorn.middleware.message_logger import MessageLoggerMiddleware
    logger = logging.getLogger("uvicorn.asgi")
    if not logger.handlers:  # as with `uvicorn --log-level trace`, but written to /dev/null
        handler = logging.StreamHandler(open(os.devnull, "w"))  # noqa: SIM115 -- lives as long as the process
        handler.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(TRACE_LOG_LEVEL)
        logger.propagate = False
    return MessageLoggerMiddleware(app)


def _asgion(app: Any) -> Any:
    from asgion import Inspector  # Python 3.12+ only
    inspector = Inspector(app, trace=True)

    def reset() -> None:  # it keeps every trace and violation: emptied between rounds, so memory stays flat
        inspector._traces.clear()
        inspector.violations.clear()
    inspector._bench_reset = reset
    return inspector


def available_variants(protocol: str) -> tuple[list[tuple[str, Wrapper]], list[str]]:
    """The variants to measure for ``protocol``, and notes on the peers left out."""
    variants: list[tuple[str, Wrapper]] = [
        ("bare", lambda app: app),
        ("gwinspect", _gwinspect()),
        ("gwinspect validate=False", _gwinspect(validate=False)),
    ]
    missing: list[str] = []
    if protocol == "asgi":
        try:
            import asgion  # noqa: F401
            variants.append(("asgion Inspector(trace=True)", _asgion))
        except ImportError as exc:
            missing.append(f"asgion: {exc} (it needs Python 3.12+)")
    try:
        import opentelemetry.sdk  # noqa: F401
        __import__(f"opentelemetry.instrumentation.{protocol}")
        variants.append((f"OpenTelemetry {protocol.upper()} + SDK", _otel(protocol)))
    except ImportError as exc:
        missing.append(f"OpenTelemetry ({protocol}): {exc}")
    if protocol == "asgi":
        try:
            import uvicorn.middleware.message_logger  # noqa: F401
            variants.append(("uvicorn MessageLogger (trace)", _message_logger))
        except ImportError as exc:
            missing.append(f"uvicorn message logger: {exc}")
    return variants, missing
