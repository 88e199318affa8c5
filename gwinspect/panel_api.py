"""The panel's JSON API bodies: trace summaries, pages of them, curl commands, bundles.

Everything here reads the store through the :class:`TraceStore` protocol only,
so it works the same on the memory ring and on a store shared by processes.
Traces come out of the store already redacted.
"""

from __future__ import annotations

import json
import re
import shlex
from collections import Counter
from typing import Any

from .model import Blob, Trace
from .serialize import dumps
from .store import TraceStore

TRACE_ID = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
MAX_LIMIT = 500
MAX_QUERY = 500
MAX_EXPORT = 10_000


def to_json(value: Any) -> bytes:
    # ASCII JSON, served as application/json with nosniff; the page puts values into text nodes only.
    return json.dumps(value, ensure_ascii=True, allow_nan=False, separators=(",", ":")).encode("ascii")


def summary(trace: Trace) -> dict[str, Any]:
    """One list row: what the list view and scripts need, without bodies or events."""
    req, resp = trace.request, trace.response
    severities = Counter(v.severity for v in trace.violations)
    return {
        "id": trace.id, "method": req.method, "path": req.path, "query_string": req.query_string,
        "status": resp.status if resp else None, "duration_ms": trace.duration_ms,
        "started_at": trace.started_at, "protocol": trace.protocol, "type": trace.type, "state": trace.state,
        "client": req.client, "request_body_size": req.body_size,
        "response_body_size": resp.body_size if resp else None,
        "error": trace.error.type if trace.error else None,
        "violations": {"error": severities.get("error", 0), "warning": severities.get("warning", 0),
                       "info": severities.get("info", 0)},
        "events": len(trace.events), "disconnected": trace.disconnected, "partial": trace.partial,
    }


def int_param(raw: str | None, default: int, low: int, high: int) -> int | None:
    """A bounded integer query parameter; None when it is not a number."""
    if raw is None or raw == "":
        return default
    if not raw.isdigit() or len(raw) > 9:
        return None
    return max(low, min(high, int(raw)))


def list_traces(store: TraceStore, limit: int, offset: int, query: str | None) -> dict[str, Any]:
    traces = store.list(limit=limit, offset=offset, query=query or None)
    return {"total": store.count(query or None), "limit": limit, "offset": offset, "query": query or "",
            "sequence": store.sequence, "traces": [summary(t) for t in traces]}


def export_bundle(store: TraceStore, query: str | None) -> str:
    return dumps(store.list(limit=MAX_EXPORT, offset=0, query=query or None))


def body_bytes(trace: Trace, direction: str) -> tuple[bytes, bool]:
    """The recorded request ("in") or response ("out") body, and whether it was cut short."""
    chunks: list[Blob] = []
    for event in trace.events:
        if trace.protocol == "wsgi":
            wanted = ("input",) if direction == "in" else ("write", "chunk")
            data = event.fields.get("data") if event.kind in wanted else None
        else:
            msg = event.message
            wanted = ("http.request",) if direction == "in" else ("http.response.body",)
            data = msg.get("body") if msg and msg.get("type") in wanted else None
        if isinstance(data, Blob):
            chunks.append(data)
    raw = b"".join(c.data for c in chunks)
    return raw, any(c.truncated or len(c.data) < c.size for c in chunks)


def request_url(trace: Trace) -> str:
    req = trace.request
    host = req.header("host") or ""
    if not host and trace.environ:
        host = str(trace.environ.get("SERVER_NAME", "")) + ":" + str(trace.environ.get("SERVER_PORT", ""))
    if not host and trace.scope and isinstance(trace.scope.get("server"), list) and trace.scope["server"]:
        host = ":".join(str(p) for p in trace.scope["server"])
    scheme = req.scheme or "http"
    if trace.type == "websocket":
        scheme = {"http": "ws", "https": "wss"}.get(scheme, scheme)
    url = f"{scheme}://{host or 'localhost'}{req.path or '/'}"
    return url + ("?" + req.query_string if req.query_string else "")


# Set by curl itself, or by the connection rather than the request.
_CURL_SKIP = {"host", "content-length", "connection", "transfer-encoding", "accept-encoding", "upgrade",
              "sec-websocket-key", "sec-websocket-version", "sec-websocket-extensions"}


def curl_command(trace: Trace) -> str:
    """A shell command that repeats the request; every recorded value is shell-quoted."""
    req = trace.request
    parts = ["curl"]
    method = req.method or "GET"
    if method != "GET":
        parts += ["-X", method]
    parts.append(request_url(trace))
    for name, value in req.headers:
        if name.lower() in _CURL_SKIP:
            continue
        parts += ["-H", f"{name}: {value}"]
    body, truncated = body_bytes(trace, "in")
    notes = []
    if body:
        try:
            parts += ["--data-binary", body.decode("utf-8")]
        except UnicodeDecodeError:
            notes.append(f"# binary request body of {req.body_size} bytes not included")
        if truncated:
            notes.append(f"# request body truncated: {len(body)} of {req.body_size} bytes recorded")
    if any(value == "[redacted]" for _, value in req.headers):
        notes.append("# some header values were redacted when recorded")
    command = " ".join(shlex.quote(p) for p in parts)
    return "\n".join([*notes, command])
