"""Server-sent events for the panel's live list, as an I/O-free state machine.

The adapters own the clock and the socket: they call :meth:`EventFeed.opening`
once, then :meth:`EventFeed.poll` on a timer, and write what comes back. The
feed only watches ``store.sequence`` (part of the :class:`TraceStore`
protocol), so it sees traces written by other processes into a shared store.

Each event's ``id`` is the store sequence; a browser that reconnects sends it
back as ``Last-Event-ID``, so a stream that ends (bounded WSGI streams do, on
purpose) loses nothing: the next one starts by announcing what changed since.
"""

from __future__ import annotations

import json
from typing import Any

from .store import TraceStore

WINDOW = 25  # newest traces compared between polls to name the new and updated ids
KEEPALIVE = b": keepalive\n\n"


def _signature(trace: Any) -> tuple[Any, ...]:
    status = trace.response.status if trace.response else None
    return trace.state, trace.duration_ms, status, len(trace.violations), len(trace.events)


def parse_last_event_id(raw: str | None) -> int | None:
    if raw is None:
        return None
    raw = raw.strip()
    return int(raw) if raw.isdigit() and len(raw) <= 18 else None


def event(name: str, data: dict[str, Any], event_id: int | None = None) -> bytes:
    lines = [] if event_id is None else [f"id: {event_id}"]
    lines += [f"event: {name}", "data: " + json.dumps(data, separators=(",", ":"), ensure_ascii=True)]
    return ("\n".join(lines) + "\n\n").encode("ascii")


class EventFeed:
    """One client's stream: announces ``traces`` events (ids new or updated since the last one)."""

    def __init__(self, store: TraceStore, last_event_id: str | None, retry_ms: int) -> None:
        self.store = store
        self.last_sequence = parse_last_event_id(last_event_id)
        self.retry_ms = retry_ms
        self.known: dict[str, tuple[Any, ...]] | None = None
        self.total = -1

    def _look(self) -> tuple[int, int, dict[str, tuple[Any, ...]]]:
        sequence = self.store.sequence  # read first: a change after it shows up on the next poll
        newest = self.store.list(limit=WINDOW)
        return sequence, self.store.count(), {t.id: _signature(t) for t in newest}

    def opening(self) -> bytes:
        """The first bytes: reconnection delay, then a ``hello`` or, after a reconnect, what changed."""
        head = f"retry: {self.retry_ms}\n\n".encode("ascii")
        sequence, total, seen = self._look()
        changed = self.last_sequence is not None and sequence != self.last_sequence
        self.known, self.total = seen, total
        self.last_sequence = sequence
        if changed:
            return head + event("traces", {"sequence": sequence, "total": total, "ids": list(seen),
                                           "cleared": False}, sequence)
        return head + event("hello", {"sequence": sequence, "total": total}, sequence)

    def poll(self) -> bytes:
        """Bytes to send now: a ``traces`` event when the store changed, else nothing."""
        if self.store.sequence == self.last_sequence:
            return b""
        sequence, total, seen = self._look()
        known = self.known or {}
        ids = [i for i, sig in seen.items() if known.get(i) != sig]
        cleared = total < self.total
        self.known, self.total, self.last_sequence = seen, total, sequence
        return event("traces", {"sequence": sequence, "total": total, "ids": ids, "cleared": cleared}, sequence)
