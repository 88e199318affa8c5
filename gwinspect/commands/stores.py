"""Opening what ``serve``, ``tail`` and ``dump`` read: a SQLite store (URL or file) or a JSON dump.

Every failure is a one-line :class:`~gwinspect.cli.CLIError`: a missing file, a
file that is neither a gwinspect store nor a dump, a corrupt or newer store.
"""

from __future__ import annotations

import os
import re
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from ..cli import CLIError
from ..render.text import escape
from ..store import MemoryStore, StoreError, TraceStore

if TYPE_CHECKING:
    from ..store_sqlite import SQLiteStore

SQLITE_MAGIC = b"SQLite format 3\x00"


def is_sqlite_file(path: str) -> bool:
    try:
        with open(path, "rb") as f:
            return f.read(len(SQLITE_MAGIC)) == SQLITE_MAGIC
    except OSError:
        return False


def open_sqlite(spec: str) -> SQLiteStore:
    """``sqlite:///traces.db`` or a plain path to an existing store; never creates one."""
    from ..store_sqlite import SQLiteStore
    try:
        if spec.lower().startswith("sqlite:"):
            return SQLiteStore.from_url(spec, create=False)
        return SQLiteStore(spec, create=False)
    except StoreError as exc:
        raise CLIError(escape(str(exc))) from None
    except ValueError as exc:
        raise CLIError(escape(str(exc))) from None


def open_any(spec: str) -> TraceStore:
    """A SQLite store (by URL, or a file that starts like one), else a ``gwinspect/1`` dump loaded in memory."""
    if spec.lower().startswith("sqlite:") or is_sqlite_file(spec):
        return open_sqlite(spec)
    if spec != "-" and not os.path.exists(spec):
        raise CLIError(f"no such file: {escape(spec)}")
    from .show import read_dump
    traces = read_dump(spec)
    store = MemoryStore(max(1, len(traces)))
    for trace in traces:  # oldest first in a dump written by `gwinspect dump`: the newest ends up on top
        store.add_trace(trace)
    return store


def describe_store(store: TraceStore, spec: str) -> str:
    kind = "store" if not isinstance(store, MemoryStore) else "dump"
    return f"{kind} {escape(spec)}"


def parse_since(text: str) -> float:
    """``--since``: a duration back from now (``90s``, ``15m``, ``2h``, ``7d``) or an ISO-8601 time -> epoch.

    An ISO time without a zone is local time, like the clock on the wall.
    """
    from ..store_sqlite import parse_duration
    try:
        return datetime.now(timezone.utc).timestamp() - parse_duration(text)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise CLIError(f"--since takes a duration (90s, 15m, 2h, 7d) or an ISO time, not {escape(text)!r}"
                       ) from None
    return moment.timestamp()


def filter_query(*, path: str | None = None, status: str | None = None, method: str | None = None,
                 query: str | None = None) -> str | None:
    """The ``--path/--status/--method/--filter`` options as one ``gwinspect.query`` string."""
    terms = []
    for key, value in (("path", path), ("status", status), ("method", method)):
        if value is not None:
            if not value or any(ch.isspace() for ch in value):
                raise CLIError(f"--{key} takes one word, not {escape(value)!r}")
            if key == "status" and not re.fullmatch(r"[1-5](?:\d\d|xx)", value.lower()):
                raise CLIError(f"--status takes a status (404) or a class (4xx), not {escape(value)!r}")
            terms.append(f"{key}:{value}")
    if query:
        terms.append(query)
    return " ".join(terms) or None
