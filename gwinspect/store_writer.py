"""The background writer of a :class:`~gwinspect.store_sqlite.SQLiteStore`: one thread per store per process.

The request path only puts a reference on a bounded queue (``put_nowait``);
when the queue is full the trace is counted as dropped and the request goes
on. The thread builds each trace (snapshot, redaction, JSON) and writes what
has queued up in one transaction, so a trace reaches the file, and the other
workers' panels, a few milliseconds after its request ends. Retention runs
here too, in the same transaction, never per request.
"""

from __future__ import annotations

import atexit
import logging
import os
import queue
import sqlite3
import threading
import time
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .model import Trace
from .store import TraceSource
from .store_sql import INSERT, connect, describe, row

logger = logging.getLogger("gwinspect")

MAX_BATCH = 500  # traces per transaction: bounds how long one write holds the file's lock
TICK_S = 0.5  # how often an idle writer looks for long-running requests and expired traces
PRUNE_AGE_EVERY_S = 10.0
FAILURE_LOG_EVERY_S = 60.0


class _Flush:
    """A queue marker: set once everything queued before it is written."""

    __slots__ = ("done",)

    def __init__(self) -> None:
        self.done = threading.Event()


_STOP = object()


class StoreWriter:
    """Writes finished (and long-running) traces to the database, off the request path."""

    def __init__(self, path: Path, *, max_traces: int, max_age: float | None, queue_size: int,
                 taken: Callable[[list[TraceSource]], None], committed: Callable[[list[TraceSource]], None],
                 long_running: Callable[[], list[TraceSource]]) -> None:
        self.path = path
        self.max_traces = max_traces
        self.max_age = max_age
        self.queue_size = queue_size
        self.dropped = 0
        self._taken = taken
        self._committed = committed
        self._long_running = long_running
        self._reset()
        ref = weakref.ref(self)

        def after_fork() -> None:  # a forked worker (gunicorn --preload) inherits no thread, no usable connection
            writer = ref()
            if writer is not None:
                writer._reset()

        def at_exit() -> None:  # gunicorn and uvicorn workers leave through sys.exit(): atexit runs
            writer = ref()
            if writer is not None:
                writer.close(timeout=5.0)
        if hasattr(os, "register_at_fork"):  # POSIX only
            os.register_at_fork(after_in_child=after_fork)
        atexit.register(at_exit)

    def _reset(self) -> None:
        self._queue: queue.Queue[Any] = queue.Queue(self.queue_size)
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self._closed = False
        self._warned = False
        self._last_scan = self._last_age_prune = time.monotonic()
        self._last_failure_log = -FAILURE_LOG_EVERY_S

    # ---- request path ---------------------------------------------------
    def submit(self, source: TraceSource) -> bool:
        """Queue a trace to be written; False (and counted as dropped) when the queue is full."""
        if self._thread is None:
            self.start()
        if self._closed:
            self.drop(1)
            return False
        try:
            self._queue.put_nowait(source)
            return True
        except queue.Full:
            self.drop(1)
            return False

    def drop(self, n: int) -> None:
        self.dropped += n
        if not self._warned:
            self._warned = True
            logger.warning("gwinspect: the store at %s is not keeping up; traces are being dropped", self.path)

    # ---- control ----------------------------------------------------------
    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until everything queued so far is in the database; False on timeout."""
        thread = self._thread
        if thread is None or not thread.is_alive():
            return True
        marker = _Flush()
        try:
            self._queue.put(marker, timeout=timeout)
        except queue.Full:
            return False
        return marker.done.wait(timeout)

    def close(self, timeout: float = 5.0) -> None:
        """Flush and stop the thread (at interpreter exit, or ``SQLiteStore.close()``)."""
        self._closed = True
        thread = self._thread
        if thread is None or not thread.is_alive():
            return
        try:
            self._queue.put(_STOP, timeout=timeout)
        except queue.Full:
            return
        thread.join(timeout)

    # ---- the thread -----------------------------------------------------------
    def start(self) -> None:
        """Start the thread (idempotent): it also writes long-running requests, before any has finished."""
        if self._thread is not None:  # the request path's case: no lock
            return
        with self._start_lock:
            if self._thread is None and not self._closed:
                # The thread holds the writer weakly, so a store nobody uses any more can be collected.
                thread = threading.Thread(target=_thread_main, args=(weakref.ref(self), self._queue),
                                          name="gwinspect-store-writer", daemon=True)
                thread.start()
                self._thread = thread

    def _cycle(self, first: Any, conn: sqlite3.Connection | None) -> tuple[sqlite3.Connection | None, bool]:
        """Write ``first`` and whatever else has queued up meanwhile, in one transaction; True to stop."""
        batch: list[TraceSource] = []
        markers: list[_Flush] = []
        stop = False
        item = first
        while item is not None:
            if item is _STOP:
                stop = True
            elif isinstance(item, _Flush):
                markers.append(item)
            else:
                batch.append(item)
            if len(batch) >= MAX_BATCH:
                break
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                item = None
        now = time.monotonic()
        if now - self._last_scan >= TICK_S:
            self._last_scan = now
            batch.extend(self._long_running())
        prune_age = self.max_age is not None and now - self._last_age_prune >= PRUNE_AGE_EVERY_S
        if prune_age:
            self._last_age_prune = now
        if batch or prune_age:
            conn = self._write(conn, batch)
        for marker in markers:
            marker.done.set()
        return conn, stop

    def _write(self, conn: sqlite3.Connection | None, batch: list[TraceSource]) -> sqlite3.Connection | None:
        latest: dict[str, TraceSource] = {}
        for source in batch:  # a late close() queues a trace twice: write it once, as it is now
            latest.pop(source.trace_id, None)
            latest[source.trace_id] = source
        self._taken(list(latest.values()))
        built: list[tuple[TraceSource, Trace]] = []
        for source in latest.values():
            try:
                built.append((source, source.snapshot()))
            except Exception:
                logger.warning("gwinspect could not build trace %s for the store", source.trace_id, exc_info=True)
                self.drop(1)
                self._committed([source])
        try:
            rows = [row(trace) for _, trace in built]  # JSON is encoded before the file is locked
        except Exception:
            logger.warning("gwinspect could not encode traces for the store", exc_info=True)
            self.drop(len(built))
            self._committed([s for s, _ in built])
            return conn
        try:
            if conn is None:
                conn = connect(self.path)
                conn.execute("PRAGMA synchronous = NORMAL")  # WAL + NORMAL: durable across crashes of the app
            conn.execute("BEGIN IMMEDIATE")
            try:
                if rows:
                    rev = _bump(conn)
                    conn.executemany(INSERT, [(*r, rev) for r in rows])
                before = conn.total_changes
                self._prune(conn)
                if not rows and conn.total_changes != before:
                    _bump(conn)  # expired traces went away: the panels should notice
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        except sqlite3.Error as exc:
            if time.monotonic() - self._last_failure_log >= FAILURE_LOG_EVERY_S:  # a broken file: not every batch
                self._last_failure_log = time.monotonic()
                logger.warning("gwinspect could not write %d trace(s) to %s: %s", len(rows), self.path,
                               describe(exc))
            self.drop(len(rows))
            self._committed([s for s, _ in built])  # lost: do not keep them in memory forever
            if conn is not None:
                conn.close()
            return None
        self._committed([s for s, t in built if t.complete])
        return conn

    def _prune(self, conn: sqlite3.Connection) -> None:
        if self.max_age is not None:
            conn.execute("DELETE FROM traces WHERE started < ?", (time.time() - self.max_age,))
        conn.execute("DELETE FROM traces WHERE rowid IN (SELECT rowid FROM traces ORDER BY started DESC, id DESC "
                     "LIMIT -1 OFFSET ?)", (self.max_traces,))


def _bump(conn: sqlite3.Connection) -> int:
    """Advance the store-wide write counter (the ``sequence`` every process polls); return its new value."""
    conn.execute("UPDATE meta SET value = value + 1 WHERE key = 'seq'")
    return int(conn.execute("SELECT value FROM meta WHERE key = 'seq'").fetchone()[0])


def _thread_main(ref: weakref.ReferenceType[StoreWriter], work: queue.Queue[Any]) -> None:
    conn: sqlite3.Connection | None = None
    stop = False
    while not stop:
        try:
            first = work.get(timeout=TICK_S)
        except queue.Empty:
            first = None
        writer = ref()
        if writer is None:  # the store was garbage-collected
            break
        try:
            conn, stop = writer._cycle(first, conn)
        except Exception:  # never let the thread die: later traces would pile up unwritten
            logger.warning("gwinspect: the store writer failed", exc_info=True)
        del writer
    if conn is not None:
        conn.close()
