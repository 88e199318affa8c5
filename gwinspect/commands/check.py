"""``gwinspect check MODULE:APP``: drive an app in-process and report protocol violations.

Imports the app like ``gwinspect run`` (and uvicorn) do, wraps it, and plays a
few requests through it: GET on each ``--path``, then HEAD and a small JSON
POST on the first; for ASGI apps also lifespan startup/shutdown and a WebSocket
session on each ``--ws`` path. Exit status 1 when any error-level violation was
found, 0 otherwise, 2 when the app cannot be imported: usable in CI.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from typing import Any

from ..cli import CLIError
from ..model import Trace
from ..render.text import escape
from ..rules.catalogue import BY_ID
from .run import import_app


def register(sub: Any) -> None:
    p = sub.add_parser("check", help="drive an app in-process and report protocol violations",
                       description="Import MODULE:APP, send it a few requests in-process (GET each --path, HEAD "
                                   "and POST the first; lifespan and WebSocket too for ASGI apps) and check every "
                                   "trace against the WSGI/ASGI rules (see `gwinspect rules`). Exits 1 when an "
                                   "error-level violation is found.")
    p.add_argument("app", metavar="MODULE:APP", help="the app to check, e.g. myproject.main:app")
    p.add_argument("--path", action="append", default=[], metavar="PATH",
                   help="a path to request (repeatable; default /)")
    p.add_argument("--ws", action="append", default=None, metavar="PATH",
                   help="a path to open a WebSocket on, ASGI only (repeatable; default: every --path)")
    p.add_argument("--factory", action="store_true", help="MODULE:APP is a function returning the app")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.add_argument("--timeline", action="store_true",
                   help="also show the timeline of each trace with violations, marked where they happened")
    p.add_argument("--no-color", action="store_true", help="no colours (also when NO_COLOR is set)")
    p.set_defaults(handler=run)


def _inspector(app: Any) -> Any:
    import gwinspect
    if isinstance(app, (gwinspect.WSGIInspector, gwinspect.ASGIInspector)):
        app = app.app  # checked through a fresh inspector of our own, whatever its options
    try:
        return gwinspect.wrap(app, validate=True, panel=False, max_traces=1000)
    except (TypeError, ValueError) as exc:
        raise CLIError(f"not a WSGI or ASGI app: {escape(str(exc))}") from None


def run(args: argparse.Namespace) -> int:
    import gwinspect

    from ..rules.drive import drive_asgi, drive_wsgi, requests_for
    for path in [*args.path, *(args.ws or [])]:
        if not path.startswith("/"):
            raise CLIError(f"paths start with '/', got {escape(path)!r}")
    inspector = _inspector(import_app(args.app, args.factory))
    requests = requests_for(args.path)
    if isinstance(inspector, gwinspect.ASGIInspector):
        ws_paths = args.ws if args.ws is not None else (args.path or ["/"])
        problems = drive_asgi(inspector, requests, ws_paths)
    else:
        problems = drive_wsgi(inspector, requests)
    traces = list(reversed(inspector.store.list(limit=1000)))  # oldest first: the order they ran in
    counts = Counter(v.severity for t in traces for v in t.violations)
    if args.json:
        sys.stdout.write(json.dumps(_as_json(args.app, traces, problems, counts), indent=2) + "\n")
    else:
        _print(traces, problems, counts, args.no_color, args.timeline)
    return 1 if counts["error"] else 0


def _label(t: Trace) -> str:
    if t.type == "lifespan":
        return "lifespan"
    status = t.response.status if t.response else None
    method = t.request.method or t.type.upper()
    return f"{method} {t.request.path} -> {status if status is not None else 'no response'}"


def _as_json(app: str, traces: list[Trace], problems: list[str], counts: Counter[str]) -> dict[str, Any]:
    out = []
    for t in traces:
        violations = []
        for v in t.violations:
            rule = BY_ID.get(v.rule)
            violations.append({**v.to_dict(), "summary": rule.summary if rule else None,
                               "hint": rule.hint if rule else None, "url": rule.url if rule else None})
        out.append({"id": t.id, "protocol": t.protocol, "type": t.type, "method": t.request.method,
                    "path": t.request.path, "status": t.response.status if t.response else None,
                    "error": t.error.to_dict() if t.error else None, "violations": violations})
    return {"app": app, "traces": out, "problems": problems,
            "counts": {s: counts[s] for s in ("error", "warning", "info")}}


def _print(traces: list[Trace], problems: list[str], counts: Counter[str], no_color: bool,
           timelines: bool) -> None:
    from rich.text import Text

    from ..render.terminal import SEVERITY_STYLE, make_console, timeline
    console = make_console(no_color=no_color)
    if timelines:
        for t in traces:
            if t.violations:
                console.print(timeline(t, width=console.width))
                console.print()
    for t in traces:
        line = Text(escape(_label(t)), style="bold")
        if not t.violations:
            line.append("  ok", style="green")
        console.print(line)
        for v in t.violations:
            rule = BY_ID.get(v.rule)
            row = Text("  ")
            row.append(f"{v.severity:<7}", style=SEVERITY_STYLE.get(v.severity, ""))
            row.append(f" {v.rule}  {escape(v.message)}")
            if v.event is not None and v.event < len(t.events):
                row.append(f"  (event {v.event}: {escape(t.events[v.event].kind)})", style="dim")
            console.print(row)
            if rule is not None:
                console.print(Text(f"          {rule.hint}  {rule.url}", style="dim"))
    for problem in problems:
        console.print(Text(escape(problem), style="yellow"))
    summary = ", ".join(f"{counts[s]} {s}{'s' if counts[s] != 1 else ''}" for s in ("error", "warning", "info"))
    console.print(Text(f"{len(traces)} traces checked: {summary}", style="bold red" if counts["error"] else "bold"))
