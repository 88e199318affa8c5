"""ASGI scope checks: the keys each scope type needs, their types and values.

The scope is recorded as the server passed it (bytes as Blob, tuples as lists).
``client`` and ``server`` are not checked: test clients take liberties there
(Django's sends the port as a str) that no app relies on.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

from ..model import Blob, Trace
from .values import Check, Finding, as_str, kind_of, pairs, show

Kind = Callable[[Any], bool]


def _str(v: Any) -> bool:
    return isinstance(v, str)


def _bytes(v: Any) -> bool:
    return isinstance(v, Blob)


def _bytes_or_none(v: Any) -> bool:
    return v is None or isinstance(v, Blob)


def unverifiable(v: Any) -> bool:
    """An iterable that is not a list or tuple (the spec allows any) was recorded as its repr."""
    return isinstance(v, str) and v.startswith("<") and v.endswith(">")


def is_header_list(v: Any) -> bool:
    if unverifiable(v):
        return True
    items = pairs(v)
    return items is not None and all(isinstance(a, Blob) and isinstance(b, Blob) for a, b in items)


def _str_list(v: Any) -> bool:
    return unverifiable(v) or (isinstance(v, list) and all(isinstance(s, str) for s in v))


def _dict_or_none(v: Any) -> bool:
    return v is None or isinstance(v, dict)


def is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


# key -> (required, expected type description, predicate), per scope type.
FIELDS: dict[str, dict[str, tuple[bool, str, Kind]]] = {
    "http": {
        "http_version": (True, "str", _str), "method": (True, "str", _str), "scheme": (False, "str", _str),
        "path": (True, "str", _str), "raw_path": (False, "bytes or None", _bytes_or_none),
        "query_string": (True, "bytes", _bytes), "root_path": (False, "str", _str),
        "headers": (True, "a list of [bytes, bytes]", is_header_list),
        "extensions": (False, "dict or None", _dict_or_none),
    },
    "websocket": {
        "http_version": (False, "str", _str), "scheme": (False, "str", _str), "path": (True, "str", _str),
        "raw_path": (False, "bytes or None", _bytes_or_none), "query_string": (False, "bytes", _bytes),
        "root_path": (False, "str", _str), "headers": (True, "a list of [bytes, bytes]", is_header_list),
        "subprotocols": (False, "a list of str", _str_list),
        "extensions": (False, "dict or None", _dict_or_none),
    },
    "lifespan": {},
}
HTTP_VERSIONS = ("1.0", "1.1", "2", "3")
# Keys some test clients send as str where the spec says bytes (Django's AsyncRequestFactory: query_string);
# frameworks decode either, so it is reported apart, as info.
TOLERATED = frozenset({"query_string", "raw_path"})
_VERSION = re.compile(r"^\d+\.\d+$")


def _scope(trace: Trace) -> dict[str, Any] | None:
    return trace.scope if isinstance(trace.scope, dict) else None


def check_asgi_version(trace: Trace) -> Iterator[Finding]:
    scope = _scope(trace)
    if scope is None:
        return
    asgi = scope.get("asgi")
    if not isinstance(asgi, dict) or not isinstance(asgi.get("version"), str):
        yield "ASGI-SCOPE-001", f"scope['asgi'] is {show(asgi)}, not {{'version': '3.0', ...}}", None
        return
    if asgi["version"] not in ("2.0", "3.0"):
        yield "ASGI-SCOPE-004", f"scope['asgi']['version'] is {show(asgi['version'])}, not '2.0' or '3.0'", None
    spec = asgi.get("spec_version")
    if spec is not None and not (isinstance(spec, str) and _VERSION.match(spec)):
        yield "ASGI-SCOPE-004", f"scope['asgi']['spec_version'] is {show(spec)}, not like '2.3'", None


def check_fields(trace: Trace) -> Iterator[Finding]:
    scope = _scope(trace)
    if scope is None:
        return
    for key, (required, expected, ok) in FIELDS.get(trace.type, {}).items():
        if key not in scope:
            if required:
                yield "ASGI-SCOPE-002", f"{trace.type} scope has no {key!r}", None
        elif not ok(scope[key]):
            value = scope[key]
            if key in TOLERATED and isinstance(value, str):
                yield "ASGI-SCOPE-006", f"scope[{key!r}] is str {show(value)}, not {expected}", None
            else:
                yield "ASGI-SCOPE-003", f"scope[{key!r}] is {kind_of(value)} {show(value)}, not {expected}", None


def check_values(trace: Trace) -> Iterator[Finding]:
    scope = _scope(trace)
    if scope is None or trace.type == "lifespan":
        return
    version = scope.get("http_version")
    if isinstance(version, str) and version not in HTTP_VERSIONS:
        yield "ASGI-SCOPE-004", f"http_version {show(version)} is not one of {', '.join(HTTP_VERSIONS)}", None
    method = scope.get("method")
    if trace.type == "http" and isinstance(method, str) and (not method or method != method.upper()):
        yield "ASGI-SCOPE-004", f"method {show(method)} is not an upper-case name", None
    if isinstance(scope.get("scheme"), str) and not scope["scheme"]:
        yield "ASGI-SCOPE-004", "scheme is an empty string", None
    for name, _value in pairs(scope.get("headers")) or ():
        text = as_str(name)
        if text is not None and text != text.lower():
            yield "ASGI-SCOPE-005", f"request header name {show(name)} is not lower-case", None


CHECKS: tuple[Check, ...] = (check_asgi_version, check_fields, check_values)
