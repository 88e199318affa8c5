"""The trace filter language shared by the store, the panel and the CLI.

A query is whitespace-separated terms; a trace matches when every term does.
``GET``/``post`` match the method, ``404`` a status, ``4xx`` a status class,
``wsgi``/``asgi`` the protocol, ``http``/``websocket``/``lifespan`` the type,
``error`` a trace with an exception, ``key:value`` a field (``method:``,
``status:``, ``path:``, ``protocol:``, ``type:``), anything else a substring of
the path and query string. Matching is case-insensitive.
"""

from __future__ import annotations

import re

from .model import Trace

_METHODS = {"get", "post", "put", "patch", "delete", "head", "options", "trace", "connect"}
_PROTOCOLS = {"wsgi", "asgi"}
_TYPES = {"http", "websocket", "lifespan"}
_STATUS = re.compile(r"^[1-5](?:\d\d|xx)$")


def _status_matches(status: int | None, term: str) -> bool:
    if status is None:
        return False
    if term.endswith("xx"):
        return str(status)[0] == term[0]
    return str(status) == term


def _term_matches(trace: Trace, term: str) -> bool:
    req = trace.request
    status = trace.response.status if trace.response else None
    key, sep, value = term.partition(":")
    if sep and key in ("method", "status", "path", "protocol", "type"):
        if key == "method":
            return (req.method or "").lower() == value
        if key == "status":
            return _status_matches(status, value)
        if key == "path":
            return value in req.path.lower()
        if key == "protocol":
            return trace.protocol == value
        return trace.type == value
    if term in _METHODS:
        return (req.method or "").lower() == term
    if _STATUS.match(term):
        return _status_matches(status, term)
    if term in _PROTOCOLS:
        return trace.protocol == term
    if term in _TYPES:
        return trace.type == term
    if term == "error":
        return trace.error is not None
    target = req.path + ("?" + req.query_string if req.query_string else "")
    return term in target.lower()


def matches(trace: Trace, query: str | None) -> bool:
    if not query:
        return True
    return all(_term_matches(trace, term) for term in query.lower().split())
