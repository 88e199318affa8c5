"""The trace model: frozen, slotted dataclasses and their ``gwinspect/1`` dict form.

This module imports nothing else of the package so that every other layer
(recorder, store, renderers, CLI) can depend on it without cycles.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any

FORMAT = "gwinspect/1"
REDACTED = "[redacted]"


@dataclass(frozen=True, slots=True)
class Blob:
    """Bytes as recorded: the first ``len(data)`` bytes of ``size`` real ones."""

    data: bytes
    size: int
    truncated: bool = False

    def to_dict(self) -> dict[str, Any]:
        try:
            text, encoding = self.data.decode("utf-8"), "utf-8"
        except UnicodeDecodeError:
            text, encoding = base64.b64encode(self.data).decode("ascii"), "base64"
        return {"encoding": encoding, "data": text, "size": self.size, "truncated": self.truncated}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Blob:
        raw = base64.b64decode(d["data"]) if d["encoding"] == "base64" else d["data"].encode("utf-8")
        return cls(raw, int(d["size"]), bool(d["truncated"]))

    @staticmethod
    def looks_like(d: Any) -> bool:
        return isinstance(d, dict) and d.keys() == {"encoding", "data", "size", "truncated"}


def encode_value(value: Any) -> Any:
    """Turn a model value (JSON-native plus :class:`Blob`) into plain JSON data."""
    if isinstance(value, Blob):
        return value.to_dict()
    if isinstance(value, dict):
        return {k: encode_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [encode_value(v) for v in value]
    return value


def decode_value(value: Any) -> Any:
    """The inverse of :func:`encode_value`."""
    if isinstance(value, dict):
        if Blob.looks_like(value):
            return Blob.from_dict(value)
        return {k: decode_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [decode_value(v) for v in value]
    return value


@dataclass(frozen=True, slots=True)
class Event:
    """One thing that happened, ``t_ms`` after the request started.

    ``fields`` holds the kind-specific data (``message`` for ASGI, ``data``,
    ``status``, ``headers`` ... for WSGI), already JSON-safe and redacted.
    """

    t_ms: float
    kind: str
    fields: dict[str, Any] = field(default_factory=dict)

    @property
    def message(self) -> dict[str, Any] | None:
        msg = self.fields.get("message")
        return msg if isinstance(msg, dict) else None

    @property
    def message_type(self) -> str | None:
        msg = self.message
        kind = msg.get("type") if msg else None
        return kind if isinstance(kind, str) else None

    def to_dict(self) -> dict[str, Any]:
        return {"t_ms": self.t_ms, "kind": self.kind, **encode_value(self.fields)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Event:
        rest = {k: decode_value(v) for k, v in d.items() if k not in ("t_ms", "kind")}
        return cls(float(d["t_ms"]), str(d["kind"]), rest)


Header = tuple[str, str]


@dataclass(frozen=True, slots=True)
class Request:
    method: str | None
    path: str
    query_string: str
    http_version: str | None
    scheme: str | None
    client: str | None
    headers: tuple[Header, ...]
    body_size: int = 0

    def header(self, name: str) -> str | None:
        return _find_header(self.headers, name)

    def to_dict(self) -> dict[str, Any]:
        return {"method": self.method, "path": self.path, "query_string": self.query_string,
                "http_version": self.http_version, "scheme": self.scheme, "client": self.client,
                "headers": [list(h) for h in self.headers], "body_size": self.body_size}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Request:
        return cls(d.get("method"), d.get("path", ""), d.get("query_string", ""), d.get("http_version"),
                   d.get("scheme"), d.get("client"), _headers(d.get("headers")),
                   int(d.get("body_size", 0)))


@dataclass(frozen=True, slots=True)
class Response:
    status: int | None
    headers: tuple[Header, ...]
    body_size: int

    def header(self, name: str) -> str | None:
        return _find_header(self.headers, name)

    def to_dict(self) -> dict[str, Any]:
        return {"status": self.status, "headers": [list(h) for h in self.headers], "body_size": self.body_size}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Response:
        return cls(d.get("status"), _headers(d.get("headers")), int(d.get("body_size", 0)))


@dataclass(frozen=True, slots=True)
class ErrorInfo:
    type: str
    message: str
    traceback: str

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, "message": self.message, "traceback": self.traceback}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ErrorInfo:
        return cls(str(d["type"]), str(d["message"]), str(d.get("traceback", "")))


@dataclass(frozen=True, slots=True)
class Violation:
    rule: str
    severity: str  # "error" | "warning" | "info"
    message: str
    event: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"rule": self.rule, "severity": self.severity, "message": self.message, "event": self.event}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Violation:
        return cls(str(d["rule"]), str(d["severity"]), str(d["message"]), d.get("event"))


@dataclass(frozen=True, slots=True)
class Trace:
    id: str
    protocol: str  # "wsgi" | "asgi"
    type: str  # "http" | "websocket" | "lifespan"
    started_at: str  # ISO-8601 UTC
    state: str  # "in_progress" | "complete"
    duration_ms: float | None
    request: Request
    response: Response | None
    environ: dict[str, Any] | None
    scope: dict[str, Any] | None
    events: tuple[Event, ...]
    violations: tuple[Violation, ...] = ()
    error: ErrorInfo | None = None
    partial: bool = False
    disconnected: bool = False
    events_dropped: int = 0

    @property
    def complete(self) -> bool:
        return self.state == "complete"

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT, "id": self.id, "protocol": self.protocol, "type": self.type,
            "started_at": self.started_at, "state": self.state, "duration_ms": self.duration_ms,
            "request": self.request.to_dict(),
            "response": self.response.to_dict() if self.response else None,
            "environ": encode_value(self.environ) if self.environ is not None else None,
            "scope": encode_value(self.scope) if self.scope is not None else None,
            "events": [e.to_dict() for e in self.events],
            "violations": [v.to_dict() for v in self.violations],
            "error": self.error.to_dict() if self.error else None,
            "partial": self.partial, "disconnected": self.disconnected,
            "events_dropped": self.events_dropped,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Trace:
        if d.get("format") != FORMAT:
            raise ValueError(f"not a {FORMAT} trace (format={d.get('format')!r})")
        return cls(
            id=str(d["id"]), protocol=str(d["protocol"]), type=str(d["type"]),
            started_at=str(d["started_at"]), state=str(d.get("state", "complete")),
            duration_ms=d.get("duration_ms"), request=Request.from_dict(d["request"]),
            response=Response.from_dict(d["response"]) if d.get("response") else None,
            environ=decode_value(d["environ"]) if d.get("environ") is not None else None,
            scope=decode_value(d["scope"]) if d.get("scope") is not None else None,
            events=tuple(Event.from_dict(e) for e in d.get("events", ())),
            violations=tuple(Violation.from_dict(v) for v in d.get("violations", ())),
            error=ErrorInfo.from_dict(d["error"]) if d.get("error") else None,
            partial=bool(d.get("partial", False)), disconnected=bool(d.get("disconnected", False)),
            events_dropped=int(d.get("events_dropped", 0)),
        )


class ProtocolViolation(AssertionError):
    """Raised with ``strict=True`` once a request that broke an error-level rule is complete.

    An ``AssertionError`` so test runners report it as a failed check; ``trace``
    and ``violations`` say what broke.
    """

    def __init__(self, trace: Trace, violations: tuple[Violation, ...]) -> None:
        self.trace = trace
        self.violations = violations
        where = f"{trace.request.method or trace.type} {trace.request.path}".strip()
        listed = "; ".join(f"{v.rule}: {v.message}" for v in violations[:5])
        more = f" (and {len(violations) - 5} more)" if len(violations) > 5 else ""
        super().__init__(f"{len(violations)} protocol violation(s) in {where}: {listed}{more}")


def _find_header(headers: tuple[Header, ...], name: str) -> str | None:
    name = name.lower()
    for k, v in headers:
        if k.lower() == name:
            return v
    return None


def _headers(raw: Any) -> tuple[Header, ...]:
    return tuple((str(k), str(v)) for k, v in (raw or ()))
