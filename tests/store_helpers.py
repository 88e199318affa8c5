"""Helpers for the store tests: traces built to order, sources that stay in flight, real recorded requests."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone
from typing import Any

import gwinspect
from gwinspect.model import ErrorInfo, Request, Response, Trace
from tests.apps_core import make_environ

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)


def iso(moment: datetime) -> str:
    return moment.isoformat(timespec="microseconds").replace("+00:00", "Z")


def make_trace(i: int = 0, *, method: str | None = "GET", path: str = "/", query: str = "", status: Any = 200,
               protocol: str = "wsgi", kind: str = "http", error: bool = False, state: str = "complete",
               started: datetime | None = None, trace_id: str | None = None) -> Trace:
    """A small complete trace; ``started`` defaults to ``T0 + i`` seconds so ``i`` orders them."""
    moment = started if started is not None else T0 + timedelta(seconds=i)
    return Trace(
        id=trace_id or f"t{i:06d}", protocol=protocol, type=kind, started_at=iso(moment), state=state,
        duration_ms=None if state != "complete" else 1.5,
        request=Request(method, path, query, "1.1", "http", "127.0.0.1:5000", (("host", "localhost"),)),
        response=None if status is None else Response(status, (("content-type", "text/plain"),), 2),
        environ=None, scope=None, events=(),
        error=ErrorInfo("ValueError", "boom", "Traceback...") if error else None)


class InFlight:
    """A source whose request has not finished yet; ``finish()`` completes it."""

    def __init__(self, trace: Trace) -> None:
        self.trace_id = trace.id
        self.trace = trace
        self.state = "in_progress"
        self.events: list[Any] = []

    def snapshot(self) -> Trace:
        t = self.trace
        return Trace(t.id, t.protocol, t.type, t.started_at, self.state, None if self.state != "complete" else 2.0,
                     t.request, t.response if self.state == "complete" else None, None, None, ())

    def finish(self) -> None:
        self.state = "complete"


class Blocking(InFlight):
    """A complete source whose snapshot() waits for ``release``: it holds the writer thread up."""

    def __init__(self, trace: Trace, release: threading.Event) -> None:
        super().__init__(trace)
        self.state = "complete"
        self.release = release
        self.entered = threading.Event()

    def snapshot(self) -> Trace:
        self.entered.set()
        self.release.wait(10)
        return super().snapshot()


def hit(inspector: Any, path: str = "/", method: str = "GET", query: str = "") -> bytes:
    """One real WSGI request through ``inspector``, iterated and closed like a server does."""
    out: list[str] = []
    result = inspector(make_environ(method, path, query), lambda status, headers, exc_info=None: out.append(status))
    try:
        return b"".join(result)
    finally:
        close = getattr(result, "close", None)
        if close is not None:
            close()


def text_app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    status = environ.get("PATH_INFO", "/").rsplit("/", 1)[-1]
    code = status if status.isdigit() and len(status) == 3 else "200"
    start_response(f"{code} X", [("Content-Type", "text/plain")])
    return [b"ok"]


def wrapped(store: Any) -> Any:
    return gwinspect.wrap(text_app, store=store)
