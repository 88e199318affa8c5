"""What each recorded event means, in words: direction, label, one-line summary, details.

Kept free of rich so the summaries are plain, already-escaped strings that the
terminal renderer (and anything else) can lay out. Every string that came from
the request or the app goes through :func:`~gwinspect.render.text.escape`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ..model import Blob, Event
from .text import body_text, escape, human_size, preview

INTO_APP, OUT_OF_APP, NEITHER = "→", "←", "·"
# Response headers worth a glance on the start line; --full shows them all.
KEY_HEADERS = ("content-type", "content-length", "location", "transfer-encoding", "content-encoding")
BODY_FIELDS = ("body", "bytes", "text")
FULL_BODY_CHARS = 4000


@dataclass(slots=True)
class Row:
    """One line of the waterfall (or several merged events, in compact mode)."""

    index: int
    t_ms: float
    arrow: str
    label: str
    summary: str
    tone: str  # "in", "out", "error", "meta": the renderer maps it to a style
    size: int = 0
    details: list[str] = field(default_factory=list)
    count: int = 1
    last_index: int = -1
    last_t: float = 0.0  # the last merged event's offset


def as_text(value: Any) -> str:
    """A header name/value as text: bytes as UTF-8 when they are, else latin-1 (what HTTP allows)."""
    if isinstance(value, Blob):
        try:
            return value.data.decode("utf-8")
        except UnicodeDecodeError:
            return value.data.decode("latin-1")
    return value if isinstance(value, str) else repr(value)


def header_pairs(raw: Any) -> list[tuple[str, str]]:
    pairs: list[tuple[str, str]] = []
    if not isinstance(raw, (list, tuple)):
        return pairs
    for item in raw:
        if isinstance(item, (list, tuple)) and len(item) == 2:
            pairs.append((as_text(item[0]), as_text(item[1])))
        else:
            pairs.append(("?", repr(item)))
    return pairs


def key_headers(pairs: Iterable[tuple[str, str]]) -> str:
    shown = [f"{escape(k.lower())}: {escape(v)}" for k, v in pairs if k.lower() in KEY_HEADERS]
    return "  ".join(shown)


def header_lines(pairs: Iterable[tuple[str, str]]) -> list[str]:
    return [f"{escape(k)}: {escape(v)}" for k, v in pairs]


def body_lines(value: Any) -> list[str]:
    """A body shown in full (up to a limit), newlines kept, everything else escaped."""
    text, size, truncated, binary = body_text(value)
    if not text:
        return []
    shown = escape(text[:FULL_BODY_CHARS], keep_newlines=not binary)
    lines = shown.splitlines() or [shown]
    kept = len(value.data) if isinstance(value, Blob) else size
    if len(text) > FULL_BODY_CHARS or truncated:
        lines.append(f"… ({human_size(kept)} kept of {human_size(size)})" if truncated
                     else f"… ({len(text) - FULL_BODY_CHARS} more characters)")
    return lines


def body_summary(value: Any, width: int) -> tuple[str, int]:
    _text, size, truncated, binary = body_text(value)
    if value is None or (isinstance(value, (Blob, str)) and size == 0):
        return "0 B", 0
    if not isinstance(value, (Blob, str)):
        return f"{type(value).__name__}! {escape(repr(value)[:width])}", 0
    note = " (truncated)" if truncated and isinstance(value, Blob) and not value.data else ""
    kind = "binary " if binary else ""
    if width <= 0:  # full mode: the body itself follows on its own lines
        return f"{kind}{human_size(size)}{note}", size
    return f"{kind}{human_size(size)}{note}  {preview(value, width)}", size


def describe(index: int, event: Event, full: bool, width: int) -> Row:
    row = _asgi(event, full, width) if event.kind in ("receive", "send") else _wsgi(event, full, width)
    row.index = row.last_index = index
    row.last_t = row.t_ms
    return row


def _asgi(event: Event, full: bool, width: int) -> Row:
    arrow = INTO_APP if event.kind == "receive" else OUT_OF_APP
    tone = "in" if event.kind == "receive" else "out"
    msg = event.message
    if msg is None:
        return Row(0, event.t_ms, arrow, event.kind, escape(repr(event.fields.get("message"))[:width]), "error")
    mtype = escape(msg.get("type", "?"))
    label = f"{event.kind} {mtype}"
    parts: list[str] = []
    details: list[str] = []
    size = 0
    if "status" in msg:
        parts.append(escape(msg["status"]))
    if "headers" in msg and mtype != "websocket.connect":
        pairs = header_pairs(msg["headers"])
        parts.append(key_headers(pairs))
        if full:
            details += header_lines(pairs)
    for key in BODY_FIELDS:
        value = msg.get(key)
        if value is None:
            continue
        kind = {"body": "", "bytes": "bytes ", "text": "text "}[key]
        summary, size = body_summary(value, width)
        parts.append(kind + summary)
        if full:
            details += body_lines(value)
    if msg.get("more_body"):
        parts.append("more_body")
    for key in ("code", "reason", "subprotocol", "message"):
        if msg.get(key) not in (None, ""):
            parts.append(f"{key}={escape(msg[key])}")
    if "failed" in mtype:
        tone = "error"
    return Row(0, event.t_ms, arrow, label, "  ".join(p for p in parts if p), tone, size, details)


def _wsgi(event: Event, full: bool, width: int) -> Row:
    f = event.fields
    kind = event.kind
    details: list[str] = []
    if kind == "start_response":
        pairs = header_pairs(f.get("headers"))
        summary = f"{escape(f.get('status'))}  {key_headers(pairs)}".strip()
        exc = f.get("exc_info")
        if isinstance(exc, dict):
            summary += f"  exc_info={escape(exc.get('type'))}: {escape(exc.get('message'))}"
        if full:
            details = header_lines(pairs)
        return Row(0, event.t_ms, OUT_OF_APP, kind, summary, "out", 0, details)
    if kind in ("write", "chunk", "input"):
        value = f.get("data")
        summary, size = body_summary(value, width)
        if full:
            details = body_lines(value)
        if kind == "input":
            return Row(0, event.t_ms, INTO_APP, f"input {escape(f.get('call', ''))}".strip(), summary, "in",
                       size, details)
        return Row(0, event.t_ms, OUT_OF_APP, kind, summary, "out", size, details)
    if kind == "close":
        done = "iterable exhausted" if f.get("exhausted") else "before the end of the iterable"
        return Row(0, event.t_ms, INTO_APP, "close", done, "meta")
    if kind == "file":
        raw = f.get("file")
        info: dict[str, Any] = raw if isinstance(raw, dict) else {}
        bits = [escape(info.get(k)) for k in ("wrapper", "name") if info.get(k)]
        if isinstance(info.get("size"), int):
            bits.append(human_size(info["size"]))
        return Row(0, event.t_ms, OUT_OF_APP, "file", "  ".join(bits) + "  (sent by the server)", "out")
    if kind == "exception":
        where = escape(f.get("where", ""))
        return Row(0, event.t_ms, "✖", f"exception in {where}".strip(),
                   f"{escape(f.get('type'))}: {escape(f.get('message'))}", "error")
    if kind == "disconnect":
        return Row(0, event.t_ms, INTO_APP, "disconnect", "the client went away", "error")
    return Row(0, event.t_ms, NEITHER, escape(kind), escape(repr(dict(f))[:width]), "meta")


MERGEABLE = ("http.request", "http.response.body", "websocket.receive", "websocket.send")


def mergeable(label: str) -> bool:
    return label in ("chunk", "write") or label.startswith("input") or label.endswith(MERGEABLE)


def merge(rows: list[Row]) -> list[Row]:
    """Compact mode: runs of the same body event become one row with a count and a total size."""
    out: list[Row] = []
    for row in rows:
        prev = out[-1] if out else None
        if prev is not None and prev.label == row.label and prev.arrow == row.arrow and mergeable(row.label):
            prev.count += 1
            prev.size += row.size
            prev.last_index = row.index
            prev.last_t = row.last_t
            prev.summary = f"x{prev.count}  {human_size(prev.size)} in all"
            continue
        out.append(row)
    return out
