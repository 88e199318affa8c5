"""Reading recorded values back, for the checkers.

A trace holds what the app or server passed, converted by ``jsonsafe.to_model``:
bytes became :class:`~gwinspect.model.Blob`, tuples became lists, and anything
that is not JSON data became its repr (a ``str``). Messages may be malformed in
every way, so every helper here accepts ``Any`` and never raises on odd input.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from ..model import Blob, Event, Trace

# What a check reports: (rule id, message, index of the event in trace.events or None).
Finding = tuple[str, str, int | None]
Check = Callable[[Trace], Iterable[Finding]]

_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_NON_LATIN1 = re.compile(r"[^\x00-\xff]")
_TOKEN = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te",
                        "trailer", "trailers", "transfer-encoding", "upgrade"})
NO_BODY_STATUSES = frozenset({204, 304})


def is_final(trace: Trace) -> bool:
    """Complete and whole: only then can a rule conclude that something never happened."""
    return trace.complete and not trace.partial and trace.events_dropped == 0


def no_body_status(status: Any) -> bool:
    return isinstance(status, int) and (100 <= status < 200 or status in NO_BODY_STATUSES)


def kind_of(value: Any) -> str:
    """A short name for the type of a recorded value, as the app saw it."""
    if isinstance(value, Blob):
        return "bytes"
    if value is None:
        return "None"
    return type(value).__name__


def show(value: Any, limit: int = 60) -> str:
    """A short, single-line rendering of a recorded value for a violation message."""
    if isinstance(value, Blob):
        text = "b" + repr(value.data[:limit])
        return text if value.size <= limit else text + "…"
    try:
        text = repr(value)
    except Exception:  # recorded values are plain data, but stay safe
        text = f"<{type(value).__name__}>"
    return text if len(text) <= limit else text[:limit] + "…"


def size_of(value: Any) -> int | None:
    """The real byte length of a recorded bytes value; None when it was not bytes."""
    return value.size if isinstance(value, Blob) else None


def as_str(value: Any) -> str | None:
    """A header name or value as text: str as is, bytes decoded as latin-1, else None."""
    if isinstance(value, str):
        return value
    if isinstance(value, Blob):
        return value.data.decode("latin-1")
    return None


def pairs(headers: Any) -> list[tuple[Any, Any]] | None:
    """``[[name, value], ...]`` as pairs, or None when the value is not such a list."""
    if not isinstance(headers, list):
        return None
    out = []
    for item in headers:
        if not isinstance(item, list) or len(item) != 2:
            return None
        out.append((item[0], item[1]))
    return out


def header_values(headers: Any, name: str) -> list[str]:
    """Every value of header ``name`` (case-insensitive) that can be read as text."""
    found = []
    for key, value in pairs(headers) or ():
        key_text, value_text = as_str(key), as_str(value)
        if key_text is not None and value_text is not None and key_text.lower() == name:
            found.append(value_text)
    return found


def content_length(headers: Any) -> int | None:
    """The declared Content-Length when it is present, single-valued and well formed."""
    values = {v.strip() for v in header_values(headers, "content-length")}
    if len(values) != 1:
        return None
    value = values.pop()
    return int(value) if value.isdigit() else None


def control_chars(text: str) -> bool:
    return _CONTROL.search(text) is not None


def is_token(text: str) -> bool:
    return _TOKEN.match(text) is not None


def non_latin1(text: str) -> bool:
    return _NON_LATIN1.search(text) is not None


def messages(trace: Trace) -> Iterator[tuple[int, str, Event, dict[str, Any] | None]]:
    """ASGI receive/send events as (index, direction, event, message dict or None)."""
    for i, event in enumerate(trace.events):
        if event.kind in ("receive", "send"):
            yield i, event.kind, event, event.message


def message_type(message: dict[str, Any] | None) -> str | None:
    kind = message.get("type") if message is not None else None
    return kind if isinstance(kind, str) else None


def scope_extensions(trace: Trace) -> dict[str, Any]:
    scope = trace.scope if isinstance(trace.scope, dict) else {}
    extensions = scope.get("extensions")
    return extensions if isinstance(extensions, dict) else {}


def spec_version(trace: Trace) -> tuple[int, int] | None:
    """The server's protocol spec_version as (major, minor), when it gave a readable one."""
    scope = trace.scope if isinstance(trace.scope, dict) else {}
    asgi = scope.get("asgi")
    version = asgi.get("spec_version") if isinstance(asgi, dict) else None
    if not isinstance(version, str):
        return None
    major, _, minor = version.partition(".")
    if major.isdigit() and minor.isdigit():
        return int(major), int(minor)
    return None


def request_method(trace: Trace) -> str | None:
    method = trace.request.method
    return method.upper() if isinstance(method, str) else None
