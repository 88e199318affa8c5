"""HAR 1.2 (the browsers' "HTTP Archive") from traces, for tools that read HAR.

One entry per trace. Timings come from the recorded events: ``wait`` is the
time to the first response byte, ``receive`` the rest. WebSocket traces carry
their frames in ``_webSocketMessages``, the extension Chromium's DevTools use,
from the client's point of view ("send" = the client sent it). Values are the
recorded (redacted) ones; bodies beyond ``max_body`` are cut, as recorded.
"""

from __future__ import annotations

import base64
from datetime import datetime
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qsl

from .model import Blob, Trace
from .panel_api import body_bytes, request_url

HAR_VERSION = "1.2"


def first_byte_ms(trace: Trace) -> float | None:
    """When the response could first reach the client (WSGI servers send headers with the first body bytes)."""
    for event in trace.events:
        if trace.protocol == "wsgi":
            if event.kind in ("write", "chunk", "file"):
                return event.t_ms
        elif event.kind == "send" and event.message_type in (
                "http.response.start", "websocket.accept", "websocket.http.response.start", "websocket.close"):
            return event.t_ms
    return None


def _status_text(trace: Trace) -> str:
    for event in trace.events:
        status = event.fields.get("status") if event.kind == "start_response" else None
        if isinstance(status, str) and " " in status:
            return status.split(" ", 1)[1]
    code = trace.response.status if trace.response else None
    try:
        return HTTPStatus(code).phrase if code else ""
    except ValueError:
        return ""


def _pairs(headers: tuple[tuple[str, str], ...]) -> list[dict[str, str]]:
    return [{"name": k, "value": v} for k, v in headers]


def _http_version(trace: Trace) -> str:
    version = trace.request.http_version
    return f"HTTP/{version}" if version else "HTTP/1.1"


def _content(trace: Trace) -> dict[str, Any]:
    raw, truncated = body_bytes(trace, "out")
    mime = (trace.response.header("content-type") if trace.response else None) or "x-unknown"
    content: dict[str, Any] = {"size": trace.response.body_size if trace.response else 0, "mimeType": mime}
    try:
        content["text"] = raw.decode("utf-8")
    except UnicodeDecodeError:
        content["text"], content["encoding"] = base64.b64encode(raw).decode("ascii"), "base64"
    if truncated:
        content["comment"] = f"truncated by gwinspect: {len(raw)} bytes recorded"
    return content


def _websocket_messages(trace: Trace) -> list[dict[str, Any]]:
    start = datetime.fromisoformat(trace.started_at.replace("Z", "+00:00")).timestamp()
    frames = []
    for event in trace.events:
        msg = event.message
        kind = msg.get("type") if msg else None
        if kind not in ("websocket.receive", "websocket.send") or msg is None:
            continue
        data, opcode = msg.get("text"), 1
        if data is None and isinstance(msg.get("bytes"), Blob):
            data, opcode = base64.b64encode(msg["bytes"].data).decode("ascii"), 2
        elif isinstance(data, Blob):  # an oversized text frame, kept as UTF-8 bytes
            data = data.data.decode("utf-8", "replace")
        frames.append({"type": "send" if kind == "websocket.receive" else "receive",
                       "time": start + event.t_ms / 1000, "opcode": opcode, "data": data or ""})
    return frames


def to_entry(trace: Trace) -> dict[str, Any]:
    req, resp = trace.request, trace.response
    duration = trace.duration_ms or 0.0
    ttfb = first_byte_ms(trace)
    wait = ttfb if ttfb is not None else duration
    request: dict[str, Any] = {
        "method": req.method or "GET", "url": request_url(trace), "httpVersion": _http_version(trace),
        "cookies": [], "headers": _pairs(req.headers),
        "queryString": [{"name": k, "value": v} for k, v in parse_qsl(req.query_string, keep_blank_values=True)],
        "headersSize": -1, "bodySize": req.body_size,
    }
    raw_in, _ = body_bytes(trace, "in")
    if raw_in:
        request["postData"] = {"mimeType": req.header("content-type") or "application/octet-stream",
                               "text": raw_in.decode("utf-8", "replace")}
    entry: dict[str, Any] = {
        "startedDateTime": trace.started_at, "time": duration, "request": request,
        "response": {
            "status": (resp.status or 0) if resp else 0, "statusText": _status_text(trace),
            "httpVersion": _http_version(trace), "cookies": [], "headers": _pairs(resp.headers) if resp else [],
            "content": _content(trace), "redirectURL": (resp.header("location") or "") if resp else "",
            "headersSize": -1, "bodySize": resp.body_size if resp else 0,
        },
        "cache": {},
        "timings": {"blocked": -1, "dns": -1, "connect": -1, "ssl": -1, "send": 0,
                    "wait": round(wait, 3), "receive": round(max(duration - wait, 0.0), 3)},
        "comment": f"gwinspect trace {trace.id} ({trace.protocol} {trace.type}, {trace.state})",
        "_gwinspect": {"id": trace.id, "protocol": trace.protocol, "type": trace.type, "state": trace.state,
                       "error": trace.error.to_dict() if trace.error else None,
                       "violations": [v.to_dict() for v in trace.violations]},
    }
    if trace.type == "websocket":
        entry["_resourceType"] = "websocket"
        entry["_webSocketMessages"] = _websocket_messages(trace)
    return entry


def to_har(traces: list[Trace]) -> dict[str, Any]:
    from . import __version__
    return {"log": {"version": HAR_VERSION, "creator": {"name": "gwinspect", "version": __version__},
                    "pages": [], "entries": [to_entry(t) for t in traces]}}
