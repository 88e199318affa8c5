"""This process's traces that are not (yet) in the SQLite file: in flight, or finished and queued.

The SQLite store shows these from memory -- its own worker sees a request the
moment it starts -- and drops each one once the writer has committed its
complete version. Everything here is a dict operation under one lock: it runs
on the request path.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from typing import Any

from .store import TraceSource

LONG_RUNNING_S = 1.0  # a request in flight this long is written as "in_progress", so other workers see it
REFRESH_S = 5.0  # ... and rewritten at most this often while it keeps changing
MAX_LIVE = 2000  # beyond it the oldest are shown from the file only (a server has fewer requests in flight)


class _Live:
    __slots__ = ("added", "fingerprint", "persisted", "source")

    def __init__(self, source: TraceSource) -> None:
        self.source = source
        self.added = time.monotonic()
        self.persisted: float | None = None  # when an in-progress version was last handed to the writer
        self.fingerprint: Any = None


class LocalTraces:
    """In-flight and queued traces of this process, and a count of local changes for ``sequence``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._live: OrderedDict[str, _Live] = OrderedDict()
        self._queued: dict[str, TraceSource] = {}  # in the writer's queue, not taken yet
        self.changes = 0

    # ---- the request path -----------------------------------------------------
    def started(self, source: TraceSource) -> None:
        with self._lock:
            self._live[source.trace_id] = _Live(source)
            if len(self._live) > MAX_LIVE:
                self._live.popitem(last=False)
            self.changes += 1

    def finished(self, source: TraceSource) -> None:
        with self._lock:
            if source.trace_id not in self._live:  # a late close() after the trace was written
                self._live[source.trace_id] = _Live(source)
            self.changes += 1

    def claim_queue_slot(self, source: TraceSource) -> bool:
        """False when ``source`` is queued already: the writer builds it when it gets to it, changes included.

        (A WSGI request finishes, then its ``close()`` comes: one write, not two.)
        """
        with self._lock:
            if self._queued.get(source.trace_id) is source:
                return False
            self._queued[source.trace_id] = source
            return True

    # ---- the writer thread ------------------------------------------------------
    def taken(self, sources: list[TraceSource]) -> None:
        """The writer is about to build these: a change from now on must queue them again."""
        with self._lock:
            for source in sources:
                if self._queued.get(source.trace_id) is source:
                    del self._queued[source.trace_id]

    def committed(self, sources: list[TraceSource]) -> None:
        """Written complete (or lost): the file has the last word now."""
        with self._lock:
            for source in sources:
                live = self._live.get(source.trace_id)
                if live is not None and live.source is source:
                    del self._live[source.trace_id]

    def long_running(self) -> list[TraceSource]:
        """Requests in flight long enough that other workers should see them, and changed since last written."""
        now = time.monotonic()
        due = []
        with self._lock:
            for live in self._live.values():
                if now - live.added < LONG_RUNNING_S or getattr(live.source, "state", None) == "complete":
                    continue
                if live.persisted is not None and now - live.persisted < REFRESH_S:
                    continue
                fingerprint = (len(getattr(live.source, "events", ())), getattr(live.source, "version", None))
                if live.persisted is not None and fingerprint == live.fingerprint:
                    continue
                live.persisted, live.fingerprint = now, fingerprint
                due.append(live.source)
        return due

    # ---- reads ------------------------------------------------------------------
    def get(self, trace_id: str) -> TraceSource | None:
        with self._lock:
            live = self._live.get(trace_id)
        return live.source if live is not None else None

    def sources(self) -> list[TraceSource]:
        with self._lock:
            return [live.source for live in self._live.values()]

    def clear(self) -> None:
        with self._lock:
            self._live.clear()
            self.changes += 1

    def forget(self) -> None:
        """In a forked child: the parent's requests are not ours, and its lock may be held by a lost thread."""
        self._lock = threading.Lock()
        self._live = OrderedDict()
        self._queued = {}
