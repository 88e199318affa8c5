"""A persistent trace store in one SQLite file, shared by every worker process of a server.

``store="sqlite:///traces.db"`` (or ``GWINSPECT_STORE=sqlite:///traces.db``) makes
all gunicorn / uvicorn / hypercorn workers write to one file and every worker's
panel read all of them, across restarts. The request path never touches the
file: requests in flight live in a small per-process dict (so this process shows
them at once), finished ones go to a background :class:`StoreWriter`, and reads
merge this process's in-flight traces with the database.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .model import Trace
from .query import matches
from .store import FinishedTrace, StoreError, TraceSource
from .store_live import LocalTraces
from .store_sql import connect as sql_connect
from .store_sql import describe, epoch, parse_duration, parse_url, prepare, where
from .store_writer import StoreWriter

__all__ = ["SQLiteStore", "StoreError", "parse_duration"]

READ_TIMEOUT_MS = 2000
MAX_IDLE_READERS = 8  # connections kept open for reads (threads of one process share them)
_CACHE = 256  # decoded traces kept, keyed by (id, rev): rows rarely change, JSON decoding is the read cost

Traces = list[Trace]  # spelled out here: inside the class, `list` is the method
Key = tuple[float, str]  # (started, id): the store's order, newest first when descending


class SQLiteStore:
    """The :class:`~gwinspect.store.TraceStore` protocol over an SQLite file (WAL), safe across processes."""

    def __init__(self, path: str | os.PathLike[str], *, max_traces: int = 10_000, max_age: float | None = None,
                 queue_size: int = 5000, create: bool = True) -> None:
        if not isinstance(max_traces, int) or isinstance(max_traces, bool) or max_traces < 1:
            raise ValueError(f"max_traces must be a positive integer, got {max_traces!r}")
        if max_age is not None and not max_age > 0:
            raise ValueError(f"max_age must be a positive number of seconds, got {max_age!r}")
        self.path = Path(os.path.abspath(os.path.expanduser(os.fspath(path))))
        self.max_traces = max_traces
        self.max_age = max_age
        prepare(self.path, create)
        self._local = LocalTraces()
        self._lock = threading.Lock()  # the connection pool and the decoded-trace cache
        self._pool: list[sqlite3.Connection] = []
        self._cache: OrderedDict[tuple[str, int], Trace] = OrderedDict()
        self._writer = StoreWriter(self.path, max_traces=max_traces, max_age=max_age, queue_size=queue_size,
                                   taken=self._local.taken, committed=self._local.committed,
                                   long_running=self._local.long_running)
        ref = weakref.ref(self)

        def after_fork() -> None:
            store = ref()
            if store is not None:
                store._forget_parent()
        if hasattr(os, "register_at_fork"):  # POSIX only
            os.register_at_fork(after_in_child=after_fork)

    @classmethod
    def from_url(cls, url: str, *, max_traces: int = 10_000, create: bool = True) -> SQLiteStore:
        """``sqlite:///rel.db``, ``sqlite:////abs/path.db``, optionally ``?max_traces=N&max_age=7d``."""
        location, options = parse_url(url)
        try:
            return cls(location, create=create, **{"max_traces": max_traces, **options})
        except StoreError:
            raise
        except ValueError as exc:  # max_traces=0 and the like
            raise StoreError(f"bad store URL {url!r}: {exc}") from None

    # ---- writing: the request path ------------------------------------------
    def add(self, source: TraceSource) -> None:
        self._local.started(source)
        if isinstance(source, FinishedTrace):  # an imported trace: nothing more will happen to it
            self._submit(source)
        else:
            self._writer.start()  # it also writes requests that run long, before they finish

    def add_trace(self, trace: Trace) -> None:
        self.add(FinishedTrace(trace))

    def finished(self, source: TraceSource) -> None:
        self._local.finished(source)
        self._submit(source)
        if getattr(source, "scope_type", None) == "lifespan":
            # The app's lifespan ends at server shutdown, and uvicorn/hypercorn workers then die by
            # re-raising SIGTERM, so atexit never runs: write it now. No request is waiting on this.
            self._writer.flush(timeout=2.0)

    def _submit(self, source: TraceSource) -> None:
        if self._local.claim_queue_slot(source) and not self._writer.submit(source):
            self._local.taken([source])
            self._local.committed([source])  # dropped: counted by the writer, forgotten here

    def _forget_parent(self) -> None:
        """In a forked child: the parent's requests and connections are not ours (never close them here)."""
        self._lock = threading.Lock()
        self._local.forget()
        self._pool = []

    # ---- reading ----------------------------------------------------------------
    @contextmanager
    def _reading(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            conn = self._pool.pop() if self._pool else None
        try:
            if conn is None:
                conn = sql_connect(self.path, READ_TIMEOUT_MS)
            yield conn
        except sqlite3.Error as exc:
            if conn is not None:
                conn.close()
                conn = None
            raise StoreError(f"{self.path}: cannot read the store: {describe(exc)}") from None
        finally:
            if conn is not None:
                with self._lock:
                    keep = len(self._pool) < MAX_IDLE_READERS
                    if keep:
                        self._pool.append(conn)
                if not keep:
                    conn.close()

    def _min_started(self) -> float | None:
        return time.time() - self.max_age if self.max_age is not None else None

    def _decode(self, trace_id: str, rev: int, data: str) -> Trace | None:
        key = (trace_id, rev)
        with self._lock:
            trace = self._cache.get(key)
        if trace is None:
            try:
                trace = Trace.from_dict(json.loads(data))
            except (ValueError, KeyError, TypeError):
                return None  # a damaged row must not hide the others
            with self._lock:
                self._cache[key] = trace
                if len(self._cache) > _CACHE:
                    self._cache.popitem(last=False)
        return trace

    def _live_traces(self, query: str | None) -> list[tuple[Key, Trace]]:
        """This process's traces not yet in the file that match ``query``, newest first."""
        sources = self._local.sources()
        cutoff = self._min_started()
        found = []
        for source in sources:
            trace = source.snapshot()
            key = (epoch(trace.started_at), trace.id)
            if (cutoff is None or key[0] >= cutoff) and matches(trace, query):
                found.append((key, trace))
        found.sort(key=lambda kt: kt[0], reverse=True)
        return found

    def _where(self, conn: sqlite3.Connection, query: str | None,
               live: list[tuple[Key, Trace]]) -> tuple[str, list[Any]]:
        sql, params = where(query, self._min_started())
        if live:
            # This process's fresher copy wins over a row written earlier. The ids go in a temporary table
            # (private to the connection, no lock on the file): there may be more than SQL parameters allow.
            conn.execute("CREATE TEMP TABLE IF NOT EXISTS local_ids (id TEXT PRIMARY KEY)")
            conn.execute("DELETE FROM temp.local_ids")
            conn.executemany("INSERT OR IGNORE INTO temp.local_ids VALUES (?)", [(t.id,) for _, t in live])
            sql += " AND id NOT IN temp.local_ids"
        return sql, params

    def get(self, trace_id: str) -> Trace | None:
        live = self._local.get(trace_id)
        if live is not None:
            return live.snapshot()
        sql, params = where(None, self._min_started())
        with self._reading() as conn:
            found = conn.execute(f"SELECT id, rev, data FROM traces WHERE id = ? AND {sql}",
                                 [trace_id, *params]).fetchone()
        return self._decode(*found) if found else None

    def list(self, limit: int = 50, offset: int = 0, query: str | None = None) -> list[Trace]:
        """Newest first, this process's in-flight traces merged in by start time."""
        limit, offset = max(0, limit), max(0, offset)
        if limit == 0:
            return []
        live = self._live_traces(query)
        # The page's rows from the file are a contiguous run that starts at most len(live) before `offset`.
        first = max(0, offset - len(live))
        with self._reading() as conn:
            sql, params = self._where(conn, query, live)
            rows = conn.execute(f"SELECT id, rev, data, started FROM traces WHERE {sql} "
                                "ORDER BY started DESC, id DESC LIMIT ? OFFSET ?",
                                [*params, offset + limit - first, first]).fetchall()
            # Each live trace's place in the merged order: its rank among them plus the rows newer than it.
            placed: dict[int, Trace | tuple[str, int, str]] = {
                i + conn.execute(f"SELECT count(*) FROM traces WHERE {sql} AND (started > ? OR "
                                 "(started = ? AND id > ?))", [*params, k[0], k[0], k[1]]).fetchone()[0]: t
                for i, (k, t) in enumerate(live)}
        live_keys = [k for k, _ in live]
        for j, (tid, rev, data, started) in enumerate(rows):  # ... and each row's: its rank plus newer live ones
            placed[first + j + sum(1 for k in live_keys if k > (started, tid))] = (tid, rev, data)
        page = (placed[i] for i in sorted(placed) if offset <= i < offset + limit)
        out = [item if isinstance(item, Trace) else self._decode(*item) for item in page]
        return [t for t in out if t is not None]

    def count(self, query: str | None = None) -> int:
        live = self._live_traces(query)
        with self._reading() as conn:
            sql, params = self._where(conn, query, live)
            return int(conn.execute(f"SELECT count(*) FROM traces WHERE {sql}", params).fetchone()[0]) + len(live)

    def __len__(self) -> int:
        return self.count()

    def changed_since(self, revision: int, query: str | None = None) -> tuple[int, Traces]:
        """Traces written (by any process) after ``revision``, in write order, and the new revision.

        For followers such as ``gwinspect tail``: start from :attr:`revision`.
        """
        sql, params = where(query, self._min_started())
        with self._reading() as conn:
            rows = conn.execute(f"SELECT id, rev, data FROM traces WHERE rev > ? AND {sql} ORDER BY rev, started",
                                [revision, *params]).fetchall()
        traces = [t for t in (self._decode(*r) for r in rows) if t is not None]
        return max([revision, *(r[1] for r in rows)]), traces

    @property
    def revision(self) -> int:
        """The store-wide write counter: grows with every transaction of any process."""
        with self._reading() as conn:
            return int(conn.execute("SELECT value FROM meta WHERE key = 'seq'").fetchone()[0])

    @property
    def sequence(self) -> int:
        """Grows on every change: any process's write, or a request starting or ending here."""
        return self.revision + self._local.changes

    # ---- housekeeping ---------------------------------------------------------------
    @property
    def dropped(self) -> int:
        """Traces not stored because the writer's queue was full or the file could not be written."""
        return self._writer.dropped

    def clear(self) -> None:
        self._writer.flush(2.0)  # what is queued now would otherwise come back right after
        self._local.clear()
        with self._lock:
            self._cache.clear()
        with self._reading() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.execute("DELETE FROM traces")
                conn.execute("UPDATE meta SET value = value + 1 WHERE key = 'seq'")
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until every trace finished so far is in the file."""
        return self._writer.flush(timeout)

    def close(self) -> None:
        self._writer.close()
        with self._lock:
            pool, self._pool = self._pool, []
        for conn in pool:
            conn.close()

    def __enter__(self) -> SQLiteStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"SQLiteStore({str(self.path)!r}, max_traces={self.max_traces}, max_age={self.max_age})"
