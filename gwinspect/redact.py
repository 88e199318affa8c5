"""Credential redaction, applied whenever a trace is built, so every output sees it.

Patterns are header names (``authorization``) or ``*substring*`` globs
(``*token*``), compared case-insensitively. The same patterns apply to
query-string parameter names, and to environ keys (``HTTP_X_API_KEY`` is read
as ``x-api-key``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from urllib.parse import unquote

from .model import REDACTED, Blob

DEFAULT_REDACT: tuple[str, ...] = (
    "authorization", "proxy-authorization", "cookie", "set-cookie", "x-api-key",
    "*token*", "*secret*", "*password*",
)

_REDACTED_BLOB = Blob(REDACTED.encode(), len(REDACTED))
# Environ keys whose values embed the query string.
_QUERY_KEYS = ("QUERY_STRING", "REQUEST_URI", "RAW_URI")


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


class Redactor:
    __slots__ = ("exact", "parts")

    def __init__(self, patterns: Iterable[str]) -> None:
        pats = tuple(patterns)
        self.exact = frozenset(p for p in pats if "*" not in p)
        self.parts = tuple(p.strip("*") for p in pats if "*" in p)

    def __bool__(self) -> bool:
        return bool(self.exact or self.parts)

    def matches(self, name: str) -> bool:
        name = name.lower().replace("_", "-")
        return name in self.exact or any(part in name for part in self.parts)

    def environ_key_matches(self, key: str) -> bool:
        return self.matches(key[5:] if key.startswith("HTTP_") else key)

    def headers(self, pairs: Iterable[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
        return tuple((k, REDACTED if self.matches(k) else v) for k, v in pairs)

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
            out.append(pair)
        return out

    def blob_query(self, value: Any) -> Any:
        if not self or not isinstance(value, Blob):
            return value
        text = value.data.decode("latin-1")
        redacted = self.query(text)
        if redacted == text:
            return value
        raw = redacted.encode("latin-1", "replace")
        return Blob(raw, len(raw), False)

    def message(self, msg: dict[str, Any]) -> dict[str, Any]:
        """Redact the header list of an ASGI message (response start, accept, trailers ...)."""
        if "headers" not in msg or not self:
            return msg
        return {**msg, "headers": self.blob_headers(msg["headers"])}
