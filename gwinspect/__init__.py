"""gwinspect: wrap any WSGI or ASGI app in one line and see every request as a timeline.

``import gwinspect`` imports no web framework and not rich; the terminal
renderer and the panel are loaded only when used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from .asgi import ASGIInspector
from .detect import detect_protocol
from .model import FORMAT, Blob, ErrorInfo, Event, ProtocolViolation, Request, Response, Trace, Violation
from .redact import DEFAULT_REDACT
from .serialize import dump, dumps, load, loads
from .store import MemoryStore, TraceStore
from .wsgi import WSGIInspector

if TYPE_CHECKING:
    from .store_sqlite import SQLiteStore

__version__ = "0.1.0"

__all__ = [
    "DEFAULT_REDACT", "FORMAT", "ASGIInspector", "Blob", "ErrorInfo", "Event", "MemoryStore", "ProtocolViolation",
    "Request",
    "Response", "SQLiteStore", "Trace", "TraceStore", "Violation", "WSGIInspector", "detect_protocol", "dump", "dumps",
    "load", "loads", "wrap",
]


def wrap(app: Any, *, protocol: Literal["wsgi", "asgi"] | None = None,
         **options: Any) -> WSGIInspector | ASGIInspector:
    """Return an inspector of the same protocol as ``app``: ``app = gwinspect.wrap(app)``.

    Options: ``path``, ``store``, ``max_traces``, ``max_body``, ``max_events``, ``redact``,
    ``allow_hosts``, ``token``, ``console``, ``exclude_paths``, ``validate``, ``strict``, ``panel``.
    """
    if protocol is None:
        protocol = detect_protocol(app)
    if protocol == "wsgi":
        return WSGIInspector(app, **options)
    if protocol == "asgi":
        return ASGIInspector(app, **options)
    raise ValueError(f"protocol= must be 'wsgi' or 'asgi', not {protocol!r}")


def __getattr__(name: str) -> Any:
    # SQLiteStore is loaded on first use: most users never need sqlite3 or its writer thread.
    if name == "SQLiteStore":
        from .store_sqlite import SQLiteStore
        return SQLiteStore
    raise AttributeError(f"module 'gwinspect' has no attribute {name!r}")
