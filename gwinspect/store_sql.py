"""The SQLite side of :class:`~gwinspect.store_sqlite.SQLiteStore`: schema, opening, rows and filters.

One table, ``traces``: the whole trace as ``gwinspect/1`` JSON in ``data``, plus
summary columns that make listing, filtering and retention cheap SQL. ``rev``
is the store-wide write counter (``meta.seq``) of the transaction that wrote
the row, so "what changed since" is one indexed query for every process.

A file is ours when ``PRAGMA application_id`` says so; ``PRAGMA user_version``
is the schema version. Anything else -- random bytes, another program's
database, a corrupt file, a newer schema -- is a :class:`StoreError` with a
one-line message, never a traceback from deep inside sqlite3.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import sqlite3
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from .model import Trace
from .query import _METHODS, _PROTOCOLS, _STATUS, _TYPES
from .store import StoreError

APPLICATION_ID = 0x67776973  # "gwis"
SCHEMA_VERSION = 1
BUSY_TIMEOUT_MS = 5000

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value) WITHOUT ROWID;
INSERT OR IGNORE INTO meta (key, value) VALUES ('app', 'gwinspect'), ('seq', 0);
CREATE TABLE IF NOT EXISTS traces (
    id TEXT PRIMARY KEY,
    started REAL NOT NULL,          -- epoch seconds: order and age retention
    started_at TEXT NOT NULL,       -- as in the trace (ISO-8601 UTC)
    method TEXT, path TEXT, status INTEGER, protocol TEXT, type TEXT,
    duration REAL, error INTEGER NOT NULL, state TEXT NOT NULL,
    -- lower-cased by Python, exactly as gwinspect.query compares them
    method_l TEXT NOT NULL, path_l TEXT NOT NULL, target_l TEXT NOT NULL, status_text TEXT,
    rev INTEGER NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS traces_started ON traces (started, id);
CREATE INDEX IF NOT EXISTS traces_rev ON traces (rev);
"""

COLUMNS = ("id", "started", "started_at", "method", "path", "status", "protocol", "type", "duration", "error",
           "state", "method_l", "path_l", "target_l", "status_text", "data", "rev")
INSERT = f"INSERT OR REPLACE INTO traces ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})"


def parse_duration(text: str) -> float:
    """``"90"``, ``"90s"``, ``"15m"``, ``"2h"``, ``"7d"`` -> seconds."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*", text.lower())
    if not m:
        raise ValueError(f"not a duration: {text!r} (use e.g. 90s, 15m, 2h, 7d)")
    return float(m.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}[m.group(2)]


def parse_url(url: str) -> tuple[str, dict[str, Any]]:
    """``sqlite:///rel.db`` or ``sqlite:////abs.db``, with ``?max_traces=N&max_age=7d`` -> (path, options)."""
    rest = url.strip()[len("sqlite:"):]
    if not rest.startswith("///") or len(rest) == 3:
        raise StoreError(f"bad store URL {url!r}: use sqlite:///relative.db or sqlite:////absolute/path.db")
    location, _, query = rest[3:].partition("?")
    options: dict[str, Any] = {}
    for name, value in parse_qsl(query, keep_blank_values=True):
        try:
            if name == "max_traces":
                options[name] = int(value)
            elif name == "max_age":
                options[name] = parse_duration(value)
            else:
                raise ValueError(f"unknown option {name!r} (max_traces, max_age)")
        except ValueError as exc:
            raise StoreError(f"bad store URL {url!r}: {exc}") from None
    return location, options


def describe(exc: sqlite3.Error) -> str:
    return str(exc).split("\n", 1)[0] or type(exc).__name__


def connect(path: Path, timeout_ms: int = BUSY_TIMEOUT_MS) -> sqlite3.Connection:
    # Autocommit mode: transactions are explicit (BEGIN IMMEDIATE in the writer), reads never hold one open.
    conn = sqlite3.connect(str(path), timeout=timeout_ms / 1000, isolation_level=None, check_same_thread=False)
    conn.execute(f"PRAGMA busy_timeout = {int(timeout_ms)}")
    return conn


def create_private(path: Path) -> None:
    """Create the database file (and missing folders) readable by its owner only.

    SQLite creates ``-wal`` and ``-shm`` with the main file's mode, so 0600 here covers all three.
    """
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(f"{path}: cannot create the folder {path.parent}: {exc.strerror or exc}") from None
    with contextlib.suppress(FileExistsError):  # another worker created it first: fine
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


def prepare(path: Path, create: bool) -> None:
    """Check that ``path`` is a gwinspect store of a schema we read; create it if allowed and absent."""
    if not path.exists():
        if not create:
            raise StoreError(f"{path}: no such store")
        try:
            create_private(path)
        except OSError as exc:
            raise StoreError(f"{path}: cannot create the store: {exc.strerror or exc}") from None
    elif path.is_dir():
        raise StoreError(f"{path} is a directory, not a gwinspect store")
    try:
        conn = connect(path)
    except sqlite3.Error as exc:
        raise StoreError(f"{path}: cannot open: {describe(exc)}") from None
    try:
        if not _check(conn, path):
            if not create:
                raise StoreError(f"{path} is an empty database, not a gwinspect store")
            _initialize(conn, path)
    except sqlite3.OperationalError as exc:  # locked, read-only, no room...: a store we cannot use right now
        raise StoreError(f"{path}: cannot use the store: {describe(exc)}") from None
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"{path} is not a gwinspect store (not an SQLite database, or corrupt: "
                         f"{describe(exc)})") from None
    finally:
        conn.close()


def _check(conn: sqlite3.Connection, path: Path) -> bool:
    """True when it is our store; False when it is an empty database; StoreError otherwise."""
    app_id = conn.execute("PRAGMA application_id").fetchone()[0]
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if app_id == 0:
        if conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]:
            raise StoreError(f"{path} is an SQLite database of another application, not a gwinspect store")
        return False
    if app_id != APPLICATION_ID:
        raise StoreError(f"{path} is an SQLite database of another application (application_id {app_id:#x}), "
                         "not a gwinspect store")
    if version > SCHEMA_VERSION:
        raise StoreError(f"{path} was written by a newer gwinspect (store schema {version}); this version reads "
                         f"schema {SCHEMA_VERSION} -- upgrade gwinspect")
    if version < 1:
        raise StoreError(f"{path} is an unfinished gwinspect store (schema 0); delete it")
    return True


def _initialize(conn: sqlite3.Connection, path: Path) -> None:
    conn.execute("PRAGMA journal_mode = WAL")  # persistent in the file; must run outside a transaction
    conn.execute("BEGIN IMMEDIATE")
    try:
        if not _check(conn, path):  # another process may have won the race while we waited for the lock
            for statement in SCHEMA.split(";"):
                if statement.strip():
                    conn.execute(statement)
            conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def epoch(started_at: str) -> float:
    try:
        return datetime.fromisoformat(started_at.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return 0.0


def _text(value: str) -> str:
    """Text SQLite can store: lone surrogates (undecodable paths) become visible ``\\udcxx`` escapes."""
    return value.encode("utf-8", "backslashreplace").decode("utf-8")


def row(trace: Trace) -> tuple[Any, ...]:
    """The columns of ``trace`` but the last, ``rev``, which is known only inside the write transaction."""
    req, resp = trace.request, trace.response
    status = resp.status if resp else None
    path = _text(req.path)
    target = path + ("?" + _text(req.query_string) if req.query_string else "")
    return (trace.id, epoch(trace.started_at), trace.started_at, _text(req.method or "") or None, path,
            status if type(status) is int else None, trace.protocol, trace.type, trace.duration_ms,
            int(trace.error is not None), trace.state, _text((req.method or "").lower()), path.lower(),
            target.lower(), None if status is None else str(status),
            json.dumps(trace.to_dict(), ensure_ascii=True, separators=(",", ":")))


def _status_sql(term: str) -> tuple[str, list[Any]]:
    if term.endswith("xx"):
        return "(status_text IS NOT NULL AND substr(status_text, 1, 1) = ?)", [term[0]]
    return "status_text = ?", [term]


def _term_sql(term: str) -> tuple[str, list[Any]]:
    """One query term as SQL; mirrors ``gwinspect.query._term_matches`` case by case."""
    key, sep, value = term.partition(":")
    if sep and key in ("method", "status", "path", "protocol", "type"):
        if key == "method":
            return "method_l = ?", [value]
        if key == "status":
            return _status_sql(value)
        if key == "path":
            return "instr(path_l, ?) > 0", [_text(value)]
        return f"{key} = ?", [value]
    if term in _METHODS:
        return "method_l = ?", [term]
    if _STATUS.match(term):
        return _status_sql(term)
    if term in _PROTOCOLS:
        return "protocol = ?", [term]
    if term in _TYPES:
        return "type = ?", [term]
    if term == "error":
        return "error = 1", []
    return "instr(target_l, ?) > 0", [_text(term)]


def where(query: str | None, min_started: float | None = None) -> tuple[str, list[Any]]:
    """A WHERE clause (possibly ``1``) and its parameters for a ``gwinspect.query`` string."""
    parts: list[str] = []
    params: list[Any] = []
    for term in (query or "").lower().split():
        sql, args = _term_sql(term)
        parts.append(sql)
        params.extend(args)
    if min_started is not None:
        parts.append("started >= ?")
        params.append(min_started)
    return (" AND ".join(parts) or "1"), params
