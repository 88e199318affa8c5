"""ASGI message checks shared by every scope type: shape, type, direction, field types.

The state machines (order of messages) live in ``asgi_http``, ``asgi_ws`` and
``asgi_lifespan``; this module looks at each message on its own.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from ..model import Blob, Trace
from .scope import is_header_list, is_int
from .values import Check, Finding, as_str, kind_of, messages, pairs, scope_extensions, show, spec_version

Kind = Callable[[Any], bool]


def _bool(v: Any) -> bool:
    return isinstance(v, bool)


def _bytes(v: Any) -> bool:
    return isinstance(v, Blob)


def _str(v: Any) -> bool:
    return isinstance(v, str)


def _str_or_none(v: Any) -> bool:
    return v is None or isinstance(v, str)


def _bytes_or_none(v: Any) -> bool:
    return v is None or isinstance(v, Blob)


def _text_or_none(v: Any) -> bool:
    # An oversized text frame is kept as its truncated UTF-8 bytes (see docs/trace-format.md).
    return v is None or isinstance(v, str) or (isinstance(v, Blob) and v.truncated)


def _bytes_list(v: Any) -> bool:
    return isinstance(v, list) and all(isinstance(b, Blob) for b in v)


# (scope type, direction) -> message type -> (extension it needs or None, {key: (required, expected, predicate)}).
Fields = dict[str, tuple[bool, str, Kind]]
_BODY: Fields = {"body": (False, "bytes", _bytes), "more_body": (False, "bool", _bool)}
_HEADERS = (False, "a list of [bytes, bytes]", is_header_list)
_FRAME: Fields = {"bytes": (False, "bytes or None", _bytes_or_none), "text": (False, "str or None", _text_or_none)}
_FAILED: Fields = {"message": (False, "str", _str)}
SCHEMA: dict[tuple[str, str], dict[str, tuple[str | None, Fields]]] = {
    ("http", "receive"): {"http.request": (None, _BODY), "http.disconnect": (None, {})},
    ("http", "send"): {
        "http.response.start": (None, {"status": (True, "int", is_int), "headers": _HEADERS,
                                       "trailers": (False, "bool", _bool)}),
        "http.response.body": (None, _BODY),
        "http.response.trailers": ("http.response.trailers", {"headers": _HEADERS,
                                                              "more_trailers": (False, "bool", _bool)}),
        "http.response.pathsend": ("http.response.pathsend", {"path": (True, "str", _str)}),
        "http.response.zerocopysend": ("http.response.zerocopysend", {
            "offset": (False, "int", is_int), "count": (False, "int", is_int), "more_body": (False, "bool", _bool)}),
        "http.response.push": ("http.response.push", {"path": (True, "str", _str), "headers": _HEADERS}),
        "http.response.early_hint": ("http.response.early_hint", {"links": (True, "a list of bytes", _bytes_list)}),
        "http.response.debug": ("http.response.debug", {}),
    },
    ("websocket", "receive"): {
        "websocket.connect": (None, {}), "websocket.receive": (None, _FRAME),
        "websocket.disconnect": (None, {"code": (False, "int", is_int),
                                        "reason": (False, "str or None", _str_or_none)}),
    },
    ("websocket", "send"): {
        "websocket.accept": (None, {"subprotocol": (False, "str or None", _str_or_none), "headers": _HEADERS}),
        "websocket.send": (None, _FRAME),
        "websocket.close": (None, {"code": (False, "int", is_int), "reason": (False, "str or None", _str_or_none)}),
        "websocket.http.response.start": ("websocket.http.response", {"status": (True, "int", is_int),
                                                                      "headers": _HEADERS}),
        "websocket.http.response.body": ("websocket.http.response", _BODY),
    },
    ("lifespan", "receive"): {"lifespan.startup": (None, {}), "lifespan.shutdown": (None, {})},
    ("lifespan", "send"): {
        "lifespan.startup.complete": (None, {}), "lifespan.startup.failed": (None, _FAILED),
        "lifespan.shutdown.complete": (None, {}), "lifespan.shutdown.failed": (None, _FAILED),
    },
}
# Fields added to the spec after 2.0: (message type, key) -> the spec_version that added it.
ADDED_IN = {("websocket.accept", "headers"): (2, 1), ("websocket.close", "reason"): (2, 3)}


def check_shape(trace: Trace) -> Iterator[Finding]:
    for i, direction, event, message in messages(trace):
        if message is None:
            yield "ASGI-MSG-001", f"{direction} message is {show(event.fields.get('message'))}, not a dict", i
        elif not isinstance(message.get("type"), str):
            yield "ASGI-MSG-001", f"{direction} message has type {show(message.get('type'))}, not a str", i


def check_types(trace: Trace) -> Iterator[Finding]:
    extensions = scope_extensions(trace)
    # Only an announced version is held against the app: test clients often announce none at all.
    spec = spec_version(trace)
    for i, direction, _event, message in messages(trace):
        kind = message.get("type") if message is not None else None
        if message is None or not isinstance(kind, str):
            continue
        known = SCHEMA.get((trace.type, direction), {})
        if kind not in known:
            if direction == "send":
                yield "ASGI-MSG-002", f"{kind!r} cannot be sent in a {trace.type} scope", i
            else:  # apps must ignore what they do not know; test harnesses send such events on purpose
                yield "ASGI-MSG-006", f"the server sent {kind!r}, which a {trace.type} scope does not define", i
            continue
        extension, fields = known[kind]
        if extension is not None and extension not in extensions:
            yield "ASGI-MSG-002", f"{kind!r} needs the {extension!r} extension, which the server did not offer", i
        for key, (required, expected, ok) in fields.items():
            if key not in message:
                if required:
                    yield "ASGI-MSG-003", f"{kind} has no {key!r}", i
            elif not ok(message[key]):
                yield "ASGI-MSG-003", f"{kind}[{key!r}] is {kind_of(message[key])} {show(message[key])}, " \
                                      f"not {expected}", i
            elif spec is not None and (kind, key) in ADDED_IN and message[key] and spec < ADDED_IN[kind, key]:
                need = ".".join(map(str, ADDED_IN[kind, key]))
                yield "ASGI-MSG-005", f"{kind}[{key!r}] needs spec_version {need}; the server has " \
                                      f"{spec[0]}.{spec[1]}", i


def check_response_header_case(trace: Trace) -> Iterator[Finding]:
    for i, direction, _event, message in messages(trace):
        if direction != "send" or message is None or "headers" not in message:
            continue
        names = [as_str(name) for name, _ in pairs(message["headers"]) or ()]
        upper = sorted({n for n in names if n is not None and n != n.lower()})
        if upper:
            shown = ", ".join(show(n, 40) for n in upper[:5]) + (" …" if len(upper) > 5 else "")
            yield "ASGI-MSG-004", f"{message.get('type')} header names not lower-case: {shown}", i


CHECKS: tuple[Check, ...] = (check_shape, check_types, check_response_header_case)
