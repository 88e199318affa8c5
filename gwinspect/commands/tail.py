"""``gwinspect tail STORE``: follow the traces every worker writes to a SQLite store, live, from another terminal.

It polls the store's write counter (one tiny query) and, when it moved, asks
for the rows written since -- by any process -- so a request that started long
ago and finished just now is shown too, once, when it completes.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections import OrderedDict
from typing import Any

from ..cli import CLIError
from ..model import Trace
from ..render.text import escape
from ..store import StoreError
from .stores import filter_query, open_sqlite

SEEN_MAX = 10_000  # ids remembered so a trace rewritten after a late close() is not shown twice


def register(sub: Any) -> None:
    p = sub.add_parser("tail", help="follow new traces in a SQLite store, live",
                       description="Print each trace as it completes in a SQLite store written by other "
                                   "processes (every worker of a server sharing GWINSPECT_STORE). Ctrl+C stops.")
    p.add_argument("store", metavar="STORE", help="sqlite:///path/to/traces.db or the store file")
    p.add_argument("--path", metavar="TEXT", help="only paths containing TEXT")
    p.add_argument("--status", metavar="CODE", help="only this status (404) or status class (4xx)")
    p.add_argument("--method", metavar="METHOD", help="only this method (GET, POST, ...)")
    p.add_argument("--filter", dest="query", metavar="QUERY", help="any filter, as in the panel ('5xx /api')")
    p.add_argument("--full", action="store_true", help="each trace's whole timeline, not one line")
    p.add_argument("-n", "--lines", type=int, default=10, metavar="N",
                   help="first show the last N stored traces (default 10; 0 for only new ones)")
    p.add_argument("--interval", type=float, default=0.25, metavar="SECONDS", help="how often to look (0.25)")
    p.add_argument("--no-color", action="store_true", help="no colours (also when NO_COLOR is set)")
    p.set_defaults(handler=run)


class Follower:
    """Prints each completed trace once, in the order they were written."""

    def __init__(self, full: bool, no_color: bool) -> None:
        from ..render.terminal import make_console
        self.console = make_console(no_color=no_color)
        self.full = full
        self.seen: OrderedDict[str, None] = OrderedDict()

    def show(self, trace: Trace) -> None:
        if not trace.complete or trace.id in self.seen:
            return  # an in-progress row: shown when its complete row arrives
        self.seen[trace.id] = None
        if len(self.seen) > SEEN_MAX:
            self.seen.popitem(last=False)
        from rich.text import Text

        from ..render.terminal import header, timeline
        if self.full:
            self.console.print(timeline(trace, full=True, width=self.console.width))
            self.console.print()
        else:
            clock = trace.started_at[11:23] if len(trace.started_at) >= 23 else trace.started_at
            line = Text.assemble((escape(clock), "dim"), "  ", header(trace))
            self.console.print(line, soft_wrap=True)  # one line even when piped: greppable
        self.console.file.flush()


def run(args: argparse.Namespace) -> int:
    if args.lines < 0:
        raise CLIError("--lines must be 0 or more")
    if not args.interval > 0:
        raise CLIError("--interval must be more than 0")
    query = filter_query(path=args.path, status=args.status, method=args.method, query=args.query)
    store = open_sqlite(args.store)
    follower = Follower(args.full, args.no_color)
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        revision = store.revision  # read before the backlog: anything written meanwhile comes again, and is skipped
        for trace in reversed(store.list(limit=args.lines, query=query) if args.lines else []):
            follower.show(trace)
        shown = f" matching {escape(query)!r}" if query else ""
        print(f"gwinspect: following {escape(str(store.path))}{shown} (Ctrl-C to stop)", file=sys.stderr, flush=True)
        while not stop.wait(args.interval):
            if store.revision != revision:
                revision, traces = store.changed_since(revision, query)
                for trace in traces:
                    follower.show(trace)
    except StoreError as exc:
        raise CLIError(escape(str(exc))) from None
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        store.close()
    return 0
