"""Where traces live: the :class:`TraceStore` protocol and the bounded in-memory ring.

A store holds *sources* -- live recorders or finished traces -- and builds
:class:`Trace` objects from them when read, so a request in flight is visible
(``state == "in_progress"``) and is completed in place.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections import deque
from collections.abc import Callable
from itertools import islice
from operator import attrgetter
from typing import Protocol, runtime_checkable

from .model import Trace
from .query import matches


class TraceSource(Protocol):
    @property
    def trace_id(self) -> str: ...

    def snapshot(self) -> Trace: ...


@runtime_checkable
class TraceStore(Protocol):
    """What the inspectors, the panel and the CLI need of a store."""

    def add(self, source: TraceSource) -> None:
        """A request started (or a finished trace is imported)."""

    def finished(self, source: TraceSource) -> None:
        """A request completed, or a completed trace changed (a late ``close()``)."""

    def get(self, trace_id: str) -> Trace | None: ...

    def list(self, limit: int = 50, offset: int = 0, query: str | None = None) -> list[Trace]:
        """Newest first."""

    def count(self, query: str | None = None) -> int: ...

    def clear(self) -> None: ...

    def __len__(self) -> int: ...

    @property
    def sequence(self) -> int:
        """Grows whenever the store changes; the panel's live updates poll it."""


class FinishedTrace:
    """Adapts an already-built :class:`Trace` (from a dump) to a source."""

    __slots__ = ("trace", "trace_id")
    state = "complete"  # as a finished recorder's, for MemoryStore.sequence
    version = 0

    def __init__(self, trace: Trace) -> None:
        self.trace = trace
        self.trace_id = trace.id

    def snapshot(self) -> Trace:
        return self.trace


def head_of(source: TraceSource) -> Trace:
    """What a filter looks at: a recorder's cheap :meth:`~gwinspect.recorder.Recorder.head`, else the trace."""
    head = getattr(source, "head", None)
    return head() if head is not None else source.snapshot()


Hook = Callable[[TraceSource], None]


def request_hooks(store: TraceStore) -> tuple[Hook, Hook | None]:
    """What a recorder calls when its request starts, and when it completes (None: nothing)."""
    hooks = getattr(store, "request_hooks", None)
    if hooks is not None:
        fast: tuple[Hook, Hook | None] = hooks()
        return fast
    return store.add, store.finished


_versions = attrgetter("version")
_states = attrgetter("state")


class MemoryStore:
    """Keeps the newest ``max_traces`` sources; thread-safe; memory bounded.

    A ``deque(maxlen=...)`` is the ring: appending is one atomic step under the GIL that
    also evicts the oldest, so starting a request takes no lock, and no Python call either
    (:meth:`request_hooks`). Looking a trace up by id scans the ring (newest first), which
    only the panel and the CLI do.
    """

    def __init__(self, max_traces: int = 500) -> None:
        if max_traces < 1:
            raise ValueError("max_traces must be at least 1")
        self.max_traces = max_traces
        self._ring: deque[TraceSource] = deque(maxlen=max_traces)
        self._import_lock = threading.Lock()
        self._sequence_lock = threading.Lock()
        self._changes = 0  # changes told explicitly: clear(), finished() called by hand
        self._sequence = 0
        self._fingerprint: tuple[object, ...] | None = None

    def request_hooks(self) -> tuple[Hook, Hook | None]:
        """The request path's calls: the ring's own (C) append on start, nothing on completion.

        ``sequence`` notices completions by itself when it is read. A subclass that overrides
        ``add`` or ``finished`` gets them called as usual.
        """
        cls = type(self)
        if cls.add is MemoryStore.add and cls.finished is MemoryStore.finished:
            return self._ring.append, None
        return self.add, self.finished

    def add(self, source: TraceSource) -> None:
        self._ring.append(source)

    def add_trace(self, trace: Trace) -> None:
        """Import a finished trace; one already here with the same id is replaced."""
        with self._import_lock:
            for source in self._ring.copy():
                if source.trace_id == trace.id:
                    with contextlib.suppress(ValueError):  # evicted meanwhile
                        self._ring.remove(source)
            self.add(FinishedTrace(trace))
            self._changes += 1  # it may replace the newest trace under the same id

    def finished(self, source: TraceSource) -> None:
        # Not called on the request path (see request_hooks): sequence sees completions itself.
        self._changes += 1

    def _newest_first(self) -> list[TraceSource]:
        sources = list(self._ring.copy())  # copy() is atomic; iterating the live deque is not
        sources.reverse()
        return sources

    def get(self, trace_id: str) -> Trace | None:
        for source in self._newest_first():
            if source.trace_id == trace_id:
                return source.snapshot()
        return None

    def list(self, limit: int = 50, offset: int = 0, query: str | None = None) -> list[Trace]:
        limit, offset = max(0, limit), max(0, offset)
        sources = self._newest_first()
        if not query:
            return [s.snapshot() for s in sources[offset:offset + limit]]
        found = (s for s in sources if matches(head_of(s), query))
        return [s.snapshot() for s in islice(found, offset, offset + limit)]

    def count(self, query: str | None = None) -> int:
        if not query:
            return len(self)
        return sum(1 for s in self._newest_first() if matches(head_of(s), query))

    def clear(self) -> None:
        self._ring.clear()
        self._changes += 1

    def __len__(self) -> int:
        return len(self._ring)

    @property
    def sequence(self) -> int:
        """Grows whenever what the ring holds has changed since it was last read.

        Requests add themselves and complete without a Python call into the store, so this
        compares a fingerprint of the ring instead of counting calls: the newest trace (any
        start shows), how many are complete and the sum of their versions (a completion or a
        late change shows; an eviction comes with a start), and the changes told explicitly.
        """
        ring = self._ring.copy()
        newest = ring[-1].trace_id if ring else None
        try:
            complete, versions = list(map(_states, ring)).count("complete"), sum(map(_versions, ring))
        except AttributeError:  # a source of someone else's without state or version
            complete = sum(getattr(s, "state", None) == "complete" for s in ring)
            versions = sum(getattr(s, "version", 0) for s in ring)
        fingerprint = (self._changes, len(ring), newest, complete, versions)
        with self._sequence_lock:
            if fingerprint != self._fingerprint:
                self._fingerprint = fingerprint
                self._sequence += 1
            return self._sequence


class StoreError(ValueError):
    """A store that cannot be used (not a gwinspect store, corrupt, too new, a bad URL); one-line message."""


def open_store(spec: object, max_traces: int) -> TraceStore:
    """Resolve the ``store=`` option (or ``GWINSPECT_STORE``).

    ``None``, ``"memory"`` or ``"memory://"``: a :class:`MemoryStore`; ``"sqlite:///path/to/traces.db"``
    (``sqlite:////abs.db`` absolute, ``sqlite:///rel.db`` relative to the working directory, optionally
    ``?max_traces=N&max_age=1h``) or a ``pathlib.Path``: a shared, persistent ``SQLiteStore``; or a store object.
    """
    if spec is None:
        return MemoryStore(max_traces)
    if isinstance(spec, str):
        text = spec.strip()
        if text.lower() in ("memory", "memory://"):
            return MemoryStore(max_traces)
        if text.lower().startswith("sqlite:"):
            from .store_sqlite import SQLiteStore  # sqlite3 is imported only when a SQLite store is asked for
            return SQLiteStore.from_url(text, max_traces=max_traces)
        raise StoreError(f"unknown store {spec!r}: use 'memory' or 'sqlite:///path/to/traces.db'")
    if isinstance(spec, os.PathLike):
        from .store_sqlite import SQLiteStore
        return SQLiteStore(spec, max_traces=max_traces)
    if isinstance(spec, TraceStore):
        return spec
    raise TypeError(f"store= takes a TraceStore object, a 'sqlite:///...' URL, a path or None, not {spec!r}")
