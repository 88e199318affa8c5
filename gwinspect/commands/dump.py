"""``gwinspect dump STORE``: write stored traces as a ``gwinspect/1`` bundle, to attach to a bug report.

Traces are redacted when they are recorded, so what is in the store -- and in
the bundle -- already has credentials replaced by ``[redacted]``.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from ..cli import CLIError
from ..model import Trace
from ..render.text import escape
from ..store import StoreError, TraceStore
from .stores import filter_query, open_any, parse_since


def register(sub: Any) -> None:
    p = sub.add_parser("dump", help="write stored traces as a gwinspect/1 JSON bundle",
                       description="Write the traces of a SQLite store (or a dump, to narrow it down) as one "
                                   "gwinspect/1 bundle, oldest first: to stdout, or to a file with -o. "
                                   "Credentials were redacted when the traces were recorded.")
    p.add_argument("store", metavar="STORE", help="sqlite:///path/to/traces.db, a store file, or a JSON dump")
    p.add_argument("-o", "--output", metavar="FILE", help="write here instead of stdout")
    p.add_argument("--id", dest="ids", action="append", metavar="ID", default=[],
                   help="only this trace (repeat for several; write --id=ID for an older id starting with -)")
    p.add_argument("--since", metavar="WHEN",
                   help="only traces started since: a duration back from now (90s, 15m, 2h, 7d) or an ISO time")
    p.add_argument("--filter", dest="query", metavar="QUERY",
                   help="only traces matching this filter, as in the panel (e.g. '5xx POST /api')")
    p.add_argument("--compact", action="store_true", help="no indentation")
    p.set_defaults(handler=run)


def select(store: TraceStore, ids: list[str], since: float | None, query: str | None) -> list[Trace]:
    from ..store_sql import epoch
    if ids:
        traces = []
        for trace_id in dict.fromkeys(ids):
            trace = store.get(trace_id)
            if trace is None:
                raise CLIError(f"no trace with id {escape(trace_id)!r} in the store")
            traces.append(trace)
    else:
        traces = store.list(limit=store.count(query), query=query)
    from ..query import matches
    traces = [t for t in traces if matches(t, query) and (since is None or epoch(t.started_at) >= since)]
    traces.sort(key=lambda t: epoch(t.started_at))  # oldest first: the order things happened
    return traces


def run(args: argparse.Namespace) -> int:
    from ..serialize import dumps
    since = parse_since(args.since) if args.since else None
    query = filter_query(query=args.query)
    store = open_any(args.store)
    try:
        traces = select(store, args.ids, since, query)
    except StoreError as exc:
        raise CLIError(escape(str(exc))) from None
    text = dumps(traces, indent=None if args.compact else 2) + "\n"
    if args.output is None:
        sys.stdout.write(text)
        sys.stdout.flush()
        return 0
    try:
        # Traces can hold bodies and headers the app saw: keep the file as private as the store.
        fd = os.open(args.output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as f:
            f.write(text)
    except OSError as exc:
        raise CLIError(f"cannot write {escape(args.output)}: {escape(exc.strerror or exc)}") from None
    print(f"wrote {len(traces)} trace{'s' if len(traces) != 1 else ''} to {escape(args.output)}", file=sys.stderr)
    return 0
