"""Run tiny apps through an inspector and return their checked traces (for tests/test_rules_*.py)."""

from __future__ import annotations

import asyncio
import contextlib
import io
from collections.abc import Callable
from typing import Any

import gwinspect
from gwinspect.model import Trace
from gwinspect.rules.drive import asgi_scope, wsgi_environ


def wsgi_trace(app: Any, method: str = "GET", body: bytes = b"", *, close: bool = True,
               environ: Callable[[dict[str, Any]], None] | None = None, **options: Any) -> Trace:
    """One request through ``app`` behind an inspector and a strict, PEP 3333 abiding mini-server."""
    inspector = gwinspect.wrap(app, protocol="wsgi", panel=False, **options)
    env = wsgi_environ(method, "/", body)
    if environ is not None:
        environ(env)
    sent = {"body": False}

    def start_response(status: Any, headers: Any, exc_info: Any = None) -> Any:
        if exc_info is not None and sent["body"]:
            raise exc_info[1].with_traceback(exc_info[2])

        def write(data: Any) -> None:
            sent["body"] = sent["body"] or bool(data)
        return write
    try:
        result = inspector(env, start_response)
        try:
            for chunk in result:
                sent["body"] = sent["body"] or bool(chunk)
        finally:
            if close and hasattr(result, "close"):
                result.close()
    except Exception:
        pass  # the trace holds the error; the tests look at violations
    traces = inspector.store.list()
    assert len(traces) == 1
    return traces[0]


FALLBACK = {"http": {"type": "http.disconnect"}, "websocket": {"type": "websocket.disconnect", "code": 1000}}


def asgi_trace(app: Any, kind: str = "http", incoming: list[dict[str, Any]] | None = None, *,
               method: str = "GET", scope: Callable[[dict[str, Any]], None] | None = None,
               **options: Any) -> Trace:
    """One connection: ``receive`` hands out ``incoming``, then a disconnect (lifespan: waits)."""
    inspector = gwinspect.wrap(app, protocol="asgi", panel=False, **options)
    if kind == "lifespan":
        the_scope: dict[str, Any] = {"type": "lifespan", "asgi": {"version": "3.0", "spec_version": "2.0"}}
    else:
        the_scope = asgi_scope(kind, "/", method)
    if scope is not None:
        scope(the_scope)
    if incoming is None:
        incoming = [{"type": "http.request", "body": b"", "more_body": False}] if kind == "http" else \
            [{"type": "websocket.connect"}] if kind == "websocket" else [{"type": "lifespan.startup"}]
    queue = list(incoming)

    async def receive() -> dict[str, Any]:
        if queue:
            return queue.pop(0)
        if kind == "lifespan":
            await asyncio.Event().wait()
        return dict(FALLBACK[kind])

    async def send(message: Any) -> None:
        return None

    async def main() -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(inspector(the_scope, receive, send), 5)
    asyncio.run(main())
    traces = inspector.store.list()
    assert len(traces) == 1
    return traces[0]


def rules_of(trace: Trace, *severities: str) -> set[str]:
    return {v.rule for v in trace.violations if not severities or v.severity in severities}


def bad_input(n: int) -> io.BytesIO:
    return io.BytesIO(b"x" * n)
