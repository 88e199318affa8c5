"""Credential redaction, applied whenever a trace is built, so every output sees it.

Patterns are header names (``authorization``) or ``*substring*`` globs
(``*token*``), compared case-insensitively. The same patterns apply to
query-string parameter names, to environ keys (``HTTP_X_API_KEY`` is read
as ``x-api-key``), and to the keys of any recorded mapping (lifespan state, a
template context). Parameters named so inside any recorded text (a Referer or
Location URL, an object's repr, an exception message) and passwords in URLs
(``postgres://user:secret@host``) are redacted too, and so are the variables a
server copies from its own process environment into each WSGI environ
(wsgiref, Django's runserver: ``DATABASE_URL`` and the like).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import unquote

from .model import REDACTED, Blob

DEFAULT_REDACT: tuple[str, ...] = (
    "authorization", "proxy-authorization", "x-authorization", "cookie", "set-cookie", "x-auth", "pwd", "sig",
    "*token*", "*secret*", "*passw*", "*api-key*", "*apikey*", "*session*", "*signature*", "*credential*",
    "*jwt*", "*assertion*",
)

_REDACTED_BLOB = Blob(REDACTED.encode(), len(REDACTED))
# Environ keys whose values embed the query string.
_QUERY_KEYS = ("QUERY_STRING", "REQUEST_URI", "RAW_URI")
# Environ keys a server sets per request (PEP 3333, CGI): never taken for the process's own variables.
_CGI_KEYS = frozenset((
    "REQUEST_METHOD", "SCRIPT_NAME", "PATH_INFO", "QUERY_STRING", "CONTENT_TYPE", "CONTENT_LENGTH", "SERVER_NAME",
    "SERVER_PORT", "SERVER_PROTOCOL", "SERVER_SOFTWARE", "GATEWAY_INTERFACE", "REMOTE_ADDR", "REMOTE_HOST",
    "REMOTE_PORT", "REMOTE_USER", "REMOTE_IDENT", "AUTH_TYPE", "REQUEST_URI", "RAW_URI", "HTTPS", "PATH_TRANSLATED",
))
# A parameter (name=value) in free text: after ?, &, ;, #, a space or a comma, or at the start.
_PARAM = re.compile(r"(?:(?<=[?&;#\s,])|^)([A-Za-z0-9_.%\-\[\]]+)=([^&;#\s'\"<>]*)")
# A password in a URL's userinfo: scheme://user:password@host
_USERINFO = re.compile(r"([A-Za-z][A-Za-z0-9+.\-]*://[^/\s:@'\"<>]*):([^@/\s'\"<>]+)@")


def normalize_patterns(redact: Any) -> tuple[str, ...]:
    """Validate the ``redact=`` option. Only an explicit empty collection turns redaction off."""
    if redact is None:
        return DEFAULT_REDACT
    if isinstance(redact, str):
        redact = (redact,)  # one pattern, validated like any other ('' must not mean "off")
    if isinstance(redact, bool) or not isinstance(redact, Iterable):
        raise TypeError("redact= takes header names or '*substring*' patterns, or () to turn redaction off; "
                        f"got {redact!r}")
    patterns = tuple(str(p).lower() for p in redact)
    for p in patterns:
        if not p.strip().strip("*"):
            raise ValueError(f"redact pattern {p!r} would match every header; use redact=() to turn it off")
    return patterns


def _from_process(key: Any, value: str) -> bool:
    """Whether an environ entry is one of the server process's own variables (wsgiref and Django's
    runserver copy them all into every request's environ)."""
    if not isinstance(key, str) or "." in key or key in _CGI_KEYS or key.startswith("HTTP_"):
        return False  # wsgi.*, server extensions (gunicorn.socket): never a process variable's name
    try:
        return os.environ.get(key) == value
    except (UnicodeError, ValueError):  # a name the process environment cannot hold
        return False


class Redactor:
    __slots__ = ("_any_part", "_memo", "exact", "parts")

    def __init__(self, patterns: Iterable[str]) -> None:
        pats = tuple(patterns)
        self.exact = frozenset(p.replace("_", "-") for p in pats if "*" not in p)
        self.parts = tuple(p.strip("*").replace("_", "-") for p in pats if "*" in p)
        # One search for all the substrings: names are matched by the hundred when a trace is built.
        self._any_part = re.compile("|".join(map(re.escape, self.parts))) if self.parts else None
        self._memo: dict[str, bool] = {}

    def __bool__(self) -> bool:
        return bool(self.exact or self.parts)

    def matches(self, name: str) -> bool:
        hit = self._memo.get(name)
        if hit is None:  # names recur trace after trace: each is matched once (while there are few)
            folded = name.lower().replace("_", "-")
            hit = folded in self.exact or (self._any_part is not None and self._any_part.search(folded) is not None)
            if len(name) <= 128:  # a client's made-up names must not fill memory
                if len(self._memo) >= 4096:
                    self._memo.clear()
                self._memo[name] = hit
        return hit

    def text(self, value: str) -> str:
        """``value`` with the credentials inside it redacted: parameters named like a secret, wherever
        they stand (a URL in a Referer or Location, an object's repr), and passwords in URLs."""
        if not self:
            return value
        if "=" in value:
            value = _PARAM.sub(self._param, value)
        if "@" in value and "://" in value:
            value = _USERINFO.sub(lambda m: f"{m[1]}:{REDACTED}@", value)
        return value

    def _param(self, m: re.Match[str]) -> str:
        return f"{m[1]}={REDACTED}" if self.matches(unquote(m[1])) else m[0]

    def deep(self, value: Any, depth: int = 0) -> Any:
        """A recorded model value with every string through :meth:`text` and the value under any key
        named like a secret replaced (lifespan state, a template context, headers given as a dict).
        Blobs (bodies) are left as they are."""
        if isinstance(value, str):
            return self.text(value)
        if depth > 16 or not self:
            return value
        if isinstance(value, dict):
            return {k: REDACTED if (v is not None and isinstance(k, str) and v != REDACTED and self.matches(k))
                    else self.deep(v, depth + 1)
                    for k, v in value.items()}
        if isinstance(value, list):
            return [self.deep(v, depth + 1) for v in value]
        return value

    def environ_text(self, env: dict[str, Any] | None) -> dict[str, Any] | None:
        """:meth:`deep` for an environ already through :meth:`environ` (its keys are matched there):
        what it adds is the text of its values, object reprs included."""
        if env is None or not self:
            return env
        return {k: self.text(v) if type(v) is str else self.deep(v, 1) for k, v in env.items()}

    def environ_key_matches(self, key: str) -> bool:
        return self.matches(key[5:] if key.startswith("HTTP_") else key)

    def headers(self, pairs: Iterable[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
        return tuple((k, REDACTED if self.matches(k) else self.text(v)) for k, v in pairs)

    def query(self, query: str) -> str:
        if not self or "=" not in query:
            return query
        parts = []
        for item in query.split("&"):
            name, eq, _ = item.partition("=")
            parts.append(f"{name}={REDACTED}" if eq and self.matches(unquote(name)) else item)
        return "&".join(parts)

    def environ(self, env: dict[str, Any]) -> dict[str, Any]:
        if not self:
            return env
        out = {}
        for key, value in env.items():
            if isinstance(value, str) and key in _QUERY_KEYS:
                # REQUEST_URI/RAW_URI carry the path too: redact only what follows the "?"
                path, qmark, query = value.partition("?") if key != "QUERY_STRING" else ("", "", value)
                value = path + qmark + self.query(query)
            elif value is not None and isinstance(key, str) and self.environ_key_matches(key):  # bytes too
                value = REDACTED
            elif isinstance(value, str) and value and _from_process(key, value):
                value = REDACTED  # the server's process environment, copied in (DATABASE_URL...): not the request's
            out[key] = value
        return out

    def blob_headers(self, headers: Any) -> Any:
        """Redact ASGI-style ``[[name, value], ...]`` where names and values are Blobs."""
        if not self or not isinstance(headers, list):
            return headers
        out = []
        for pair in headers:
            if isinstance(pair, list) and len(pair) >= 2:  # a malformed triple must not leak either
                name = pair[0]
                text = name.data.decode("latin-1") if isinstance(name, Blob) else str(name)
                if self.matches(text):
                    pair = [name, *(_REDACTED_BLOB if isinstance(v, Blob) else REDACTED for v in pair[1:])]
                else:
                    pair = [name, *(self.blob_text(v) for v in pair[1:])]
            out.append(pair)
        return out

    def blob_text(self, value: Any) -> Any:
        """:meth:`text` for a header value or path recorded as bytes."""
        if not isinstance(value, Blob):
            return self.text(value) if isinstance(value, str) else value
        return _blob_through(value, self.text)

    def blob_query(self, value: Any) -> Any:
        if not self or not isinstance(value, Blob):
            return value
        return _blob_through(value, self.query)

    def message(self, msg: dict[str, Any]) -> dict[str, Any]:
        """Redact the header list of an ASGI message (response start, accept, trailers ...)."""
        if "headers" not in msg or not self:
            return msg
        return {**msg, "headers": self.blob_headers(msg["headers"])}


def _blob_through(value: Blob, redact: Callable[[str], str]) -> Blob:
    """Recorded bytes through a text redaction (one character per byte): the same Blob when unchanged."""
    text = value.data.decode("latin-1")
    redacted = redact(text)
    if redacted == text:
        return value
    raw = redacted.encode("latin-1", "replace")
    # The real size changes by as much as the kept bytes did; a cut Blob stays marked as cut.
    return Blob(raw, value.size + len(raw) - len(value.data), value.truncated)
