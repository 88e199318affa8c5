"""``gwinspect serve STORE_OR_FILE``: the panel alone, over a SQLite store or a JSON dump -- no app needed.

The way to look at a bug report someone attached, or at the traces a server's
workers left in their shared store. Behind the panel sits a tiny WSGI app that
sends ``/`` to the panel and answers 404 elsewhere; it records nothing.
"""

from __future__ import annotations

import argparse
import sys
import threading
from collections.abc import Iterable
from typing import Any

from ..cli import CLIError
from ..options import DEFAULT_PATH
from ..render.text import escape
from ..store import StoreError
from .serving import StopSignals, start_wsgi, stop_all
from .stores import describe_store, open_any

LOOPBACK = ("127.0.0.1", "localhost", "::1")
STOP_GRACE_S = 1.0


def register(sub: Any) -> None:
    p = sub.add_parser("serve", help="serve the panel over a SQLite store or a JSON dump (no app needed)",
                       description="Serve the /__inspect__ panel alone, over a SQLite store (sqlite:///traces.db "
                                   "or the file) or a gwinspect/1 dump, e.g. one attached to a bug report. "
                                   "Stop with Ctrl-C.")
    p.add_argument("source", metavar="STORE_OR_FILE", help="sqlite:///path/to/traces.db, a store file or a dump")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="port to listen on (default 8000; 0 picks a free one)")
    p.add_argument("--token", metavar="SECRET",
                   help="let non-loopback clients in with this secret (at least 8 characters)")
    p.add_argument("--wsgi-server", choices=("auto", "waitress", "wsgiref"), default="auto",
                   help="the server (default: waitress when installed)")
    p.set_defaults(handler=run)


def landing(panel_path: str) -> Any:
    """The app behind the panel: ``/`` redirects to it, everything else is 404."""
    def app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        if environ.get("PATH_INFO", "") in ("", "/"):
            start_response("302 Found", [("Location", panel_path + "/"), ("Content-Length", "0")])
            return [b""]
        body = f"Not found. The panel is at {panel_path}/\n".encode("ascii")
        start_response("404 Not Found", [("Content-Type", "text/plain; charset=utf-8"),
                                         ("Content-Length", str(len(body)))])
        return [body]
    return app


def run(args: argparse.Namespace) -> int:
    import gwinspect
    if not 0 <= args.port <= 65535:
        raise CLIError(f"--port must be 0-65535, got {args.port}")
    store = open_any(args.source)
    try:
        total = store.count()
    except StoreError as exc:
        raise CLIError(escape(str(exc))) from None
    try:
        # Every path but the panel's is excluded: looking at the traces must not add any.
        inspector = gwinspect.wrap(landing(DEFAULT_PATH), protocol="wsgi", store=store, exclude_paths=("/",),
                                   token=args.token)
    except ValueError as exc:
        raise CLIError(escape(str(exc))) from None
    with StopSignals() as signals:
        running = start_wsgi(inspector, args.host, args.port, server=args.wsgi_server)
        panel = f"{running.url}{DEFAULT_PATH}/"
        print(f"gwinspect: {total} trace{'s' if total != 1 else ''} from {describe_store(store, args.source)}",
              file=sys.stderr)
        print(f"gwinspect: panel at {panel} (Ctrl-C to stop)", file=sys.stderr, flush=True)
        if args.host not in LOOPBACK and not args.token:
            print("gwinspect: note: the panel answers loopback clients only; pass --token to open it to others",
                  file=sys.stderr, flush=True)
        why = signals.wait([running])
        # An open panel holds an event stream: do not wait out its graceful end, nothing here needs draining.
        stopper = threading.Thread(target=stop_all, args=([running],), daemon=True)
        stopper.start()
        stopper.join(STOP_GRACE_S)
    close = getattr(store, "close", None)
    if close is not None:
        close()
    if why == StopSignals.SERVER_DIED:
        print("gwinspect: the server stopped unexpectedly", file=sys.stderr)
        return 1
    print("gwinspect: stopped", file=sys.stderr)
    return 0
