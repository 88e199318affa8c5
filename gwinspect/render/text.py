"""Plain-text helpers for showing recorded (attacker-controlled) data in a terminal.

Everything a request carries -- path, query, headers, bodies, exception messages,
environ and scope values -- may hold terminal control sequences: ESC (CSI, OSC,
title changes, screen clears), the 8-bit CSI ``\\x9b``, CR that overwrites a line,
BEL, NUL, DEL, bidi overrides that reorder what is shown, lone surrogates that
break encoders. :func:`escape` turns every such character into a visible escape
(``\\x1b``, ``\\r``, ``\\u202e``) so nothing recorded ever acts on the terminal.
It knows nothing of rich: the renderer wraps its results in ``rich.text.Text``
objects, which never parse markup, so ``[bold]`` in a path stays text too.
"""

from __future__ import annotations

import unicodedata
from typing import Any

from ..model import Blob

# Categories never shown raw: controls (C0, C1, DEL), format characters (bidi
# overrides and isolates, zero-width joiners, soft hyphen), surrogates, private
# use, unassigned code points, and the Unicode line/paragraph separators.
_UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t", "\x1b": "\\x1b", "\x00": "\\0"}
_cache: dict[str, bool] = {}


def _unsafe(ch: str) -> bool:
    bad = _cache.get(ch)
    if bad is None:
        bad = unicodedata.category(ch) in _UNSAFE_CATEGORIES
        if len(_cache) < 4096:
            _cache[ch] = bad
    return bad


def _escape_char(ch: str) -> str:
    named = _NAMED.get(ch)
    if named is not None:
        return named
    code = ord(ch)
    if code < 0x100:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def escape(value: Any, *, keep_newlines: bool = False) -> str:
    """``value`` as a string with every control/format character made visible.

    ``keep_newlines`` keeps ``\\n`` (for multi-line bodies and tracebacks shown
    folded); every other control character, CR included, is still escaped.
    """
    text = value if isinstance(value, str) else str(value)
    if text.isprintable() and text.isascii():
        return text  # the common case, checked in C
    out = []
    for ch in text:
        if (ch == "\n" and keep_newlines) or (ch.isascii() and ch.isprintable()):
            out.append(ch)
        elif _unsafe(ch):
            out.append(_escape_char(ch))
        else:
            out.append(ch)
    return "".join(out)


def human_size(n: int | None) -> str:
    if n is None:
        return "-"
    if not isinstance(n, int):
        return escape(repr(n))[:20]  # a malformed dump
    if n < 1024:
        return f"{n} B"
    size, units = n / 1024, ["KB", "MB", "GB"]
    while size >= 1024 and len(units) > 1:
        size /= 1024
        units.pop(0)
    return f"{size:.1f} {units[0]}"


def human_ms(ms: float | None) -> str:
    if ms is None:
        return "…"
    if not isinstance(ms, (int, float)):
        return escape(repr(ms))[:20]  # a malformed dump
    if ms < 1:
        return f"{ms * 1000:.0f} µs"
    if ms < 1000:
        return f"{ms:.1f} ms"
    return f"{ms / 1000:.2f} s"


def body_text(value: Any) -> tuple[str, int, bool, bool]:
    """(text, real size, truncated, binary) of a recorded body: a Blob, a str frame or anything else."""
    if isinstance(value, Blob):
        try:
            return value.data.decode("utf-8"), value.size, value.truncated, False
        except UnicodeDecodeError:
            return value.data.hex(" "), value.size, value.truncated, True
    if isinstance(value, str):
        return value, len(value.encode("utf-8", "surrogatepass")), False, False
    if value is None:
        return "", 0, False, False
    return repr(value), 0, False, False


def preview(value: Any, limit: int) -> str:
    """A one-line, escaped preview of a body, at most ``limit`` characters (plus an ellipsis)."""
    text, _size, truncated, binary = body_text(value)
    if binary:
        text = "hex " + text
    shown = escape(text[:limit])
    if len(text) > limit or truncated:
        shown += "…"
    return shown


def status_text(status: Any) -> str:
    """``201 Created`` for WSGI's status strings, ``201`` for ASGI's integers, escaped."""
    if status is None:
        return "-"
    return escape(status)


def status_class(status: int | None) -> str:
    if status is None:
        return "none"
    return {1: "1xx", 2: "2xx", 3: "3xx", 4: "4xx", 5: "5xx"}.get(status // 100, "none")
