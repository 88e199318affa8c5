"""Turn arbitrary recorded values into model values (JSON-native plus Blob).

Runs when a trace is built (after the request, or when it is read), never on the
request path. Whatever the app or server put in an environ, scope or message,
this must not raise and must stay bounded: containers are cut off at a fixed
size and depth, and anything that is not JSON data becomes its (short) repr.
"""

from __future__ import annotations

import math
from typing import Any

from .model import Blob

MAX_ITEMS = 500  # per container; a scope or environ with more is cut off
MAX_DEPTH = 8
MAX_REPR = 1000


class Captured:
    """A body kept only in part on the request path: ``data`` of ``size`` real bytes."""

    __slots__ = ("data", "size")

    def __init__(self, data: bytes, size: int) -> None:
        self.data = data
        self.size = size


def body_size(value: Any) -> int:
    """Bytes on the wire of a recorded body value (as kept: whole, or Captured); 0 for what is not bytes."""
    if type(value) is bytes or type(value) is bytearray:
        return len(value)
    if type(value) is Captured:
        return value.size
    if type(value) is memoryview:
        return value.nbytes
    return 0


def text_size(text: str) -> int:
    """A WebSocket text frame's size in UTF-8 bytes, as on the wire, not characters."""
    if text.isascii():  # O(1) in CPython; then its length is its size, no encoding needed
        return len(text)
    return len(text.encode("utf-8", "surrogatepass"))


def safe_repr(value: Any) -> str:
    try:
        text = repr(value)
    except Exception as exc:  # a hostile or broken __repr__ must not stop the dump
        text = f"<unrepresentable {type(value).__name__}: {type(exc).__name__}>"
    return text if len(text) <= MAX_REPR else text[:MAX_REPR] + "…"


def to_model(value: Any, cap: int, depth: int = 0) -> Any:
    """Convert ``value``; bytes become :class:`Blob` objects of at most ``cap`` bytes."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        raw = bytes(value)
        return Blob(raw[:cap], len(raw), len(raw) > cap)
    if isinstance(value, Captured):
        return Blob(value.data, value.size, True)
    if isinstance(value, Blob):
        return value
    if depth >= MAX_DEPTH:
        return safe_repr(value)
    if isinstance(value, dict):
        if Blob.looks_like(value):  # would be read back as bytes (or not at all): keep it as text
            return safe_repr(value)
        out: dict[str, Any] = {}
        for i, (k, v) in enumerate(value.items()):
            if i >= MAX_ITEMS:
                out["…"] = f"{len(value) - MAX_ITEMS} more items not recorded"
                break
            out[k if isinstance(k, str) else safe_repr(k)] = to_model(v, cap, depth + 1)
        return out
    if isinstance(value, (list, tuple)):
        items = [to_model(v, cap, depth + 1) for v in value[:MAX_ITEMS]]
        if len(value) > MAX_ITEMS:
            items.append(f"… {len(value) - MAX_ITEMS} more items not recorded")
        return items
    return safe_repr(value)


def as_text(value: Any) -> str:
    """A display string for a header name/value or path that may arrive as bytes."""
    if isinstance(value, str):
        return value
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("latin-1")
    return safe_repr(value)
