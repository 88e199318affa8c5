"""``gwinspect run MODULE:APP``: import an app, wrap it, serve it, print the panel URL.

Imports like uvicorn does (the current directory first on ``sys.path``;
``--factory`` calls the attribute to get the app). ASGI apps are served by
uvicorn, WSGI apps by waitress when installed, else by the standard library's
threaded server. An app that already is a gwinspect inspector is served as it is.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from typing import Any

from ..cli import CLIError
from ..render.text import escape
from .serving import Running, StopSignals, start_asgi, start_wsgi, stop_all


def import_app(spec: str, factory: bool = False) -> Any:
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise CLIError(f"expected MODULE:APP (like myproject.main:app), got {escape(spec)!r}")
    cwd = os.getcwd()
    if cwd not in sys.path:
        sys.path.insert(0, cwd)
    try:
        obj: Any = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and (module_name == exc.name or module_name.startswith(exc.name + ".")):
            raise CLIError(f"could not import {escape(module_name)!r}: no module named {escape(exc.name)!r} "
                           f"(run from the directory that holds it, or set PYTHONPATH)") from None
        raise CLIError(f"importing {escape(module_name)!r} failed: {_one_line(exc)}") from None
    except (Exception, SystemExit) as exc:
        raise CLIError(f"importing {escape(module_name)!r} failed: {_one_line(exc)} "
                       f"(python -c 'import {escape(module_name)}' shows the traceback)") from None
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise CLIError(f"{escape(module_name)!r} has no attribute {escape(attr)!r}") from None
    if factory:
        if not callable(obj):
            raise CLIError(f"--factory: {escape(spec)} is not callable")
        try:
            obj = obj()
        except Exception as exc:
            raise CLIError(f"the app factory {escape(spec)} failed: {_one_line(exc)}") from None
    return obj


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return escape(f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__)


def inspect_app(app: Any, *, console: bool | str, **options: Any) -> Any:
    """``app`` wrapped (unless it already is an inspector, which gets the console if asked)."""
    import gwinspect
    if isinstance(app, (gwinspect.WSGIInspector, gwinspect.ASGIInspector)):
        if console and not app.settings.console:
            from ..render.live import attach_console
            app.settings.console = console
            attach_console(app.settings)
        return app
    try:
        return gwinspect.wrap(app, console=console, **options)
    except (TypeError, ValueError) as exc:
        raise CLIError(f"cannot wrap the app: {_one_line(exc)}") from None


def banner(inspector: Any, running: Running, label: str) -> None:
    protocol = "ASGI" if inspector.__class__.__name__ == "ASGIInspector" else "WSGI"
    print(f"gwinspect: serving {escape(label)} ({protocol}) with {running.name} at {running.url}", file=sys.stderr)
    print(f"gwinspect: panel at {running.url}{inspector.settings.path}", file=sys.stderr, flush=True)


def serve_inspector(inspector: Any, host: str, port: int, wsgi_server: str = "auto") -> Running:
    import gwinspect
    if isinstance(inspector, gwinspect.ASGIInspector):
        return start_asgi(inspector, host, port)
    return start_wsgi(inspector, host, port, server=wsgi_server)


def register(sub: Any) -> None:
    p = sub.add_parser("run", help="import an app, wrap it and serve it",
                       description="Import MODULE:APP (like uvicorn), wrap it with gwinspect and serve it: ASGI "
                                   "apps on uvicorn, WSGI apps on waitress (or the standard library's server). "
                                   "The panel is at http://HOST:PORT/__inspect__. Stop with Ctrl-C.")
    p.add_argument("app", metavar="MODULE:APP", help="where the app is, e.g. myproject.main:app")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="port to listen on (default 8000)")
    p.add_argument("--console", action="store_true", help="print each finished request's timeline to stderr")
    p.add_argument("--full", action="store_true", help="with --console: every event, not the compact timeline")
    p.add_argument("--factory", action="store_true", help="APP is a function that returns the app")
    p.add_argument("--wsgi-server", choices=("auto", "waitress", "wsgiref"), default="auto",
                   help="the server for WSGI apps (default: waitress when installed)")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    if not 0 <= args.port <= 65535:
        raise CLIError(f"--port must be 0-65535, got {args.port}")
    app = import_app(args.app, args.factory)
    console: bool | str = ("full" if args.full else True) if args.console else False
    inspector = inspect_app(app, console=console)
    with StopSignals() as signals:
        running = serve_inspector(inspector, args.host, args.port, args.wsgi_server)
        banner(inspector, running, args.app)
        why = signals.wait([running])
        stop_all([running])
    from ..render.live import flush
    flush()
    if why == StopSignals.SERVER_DIED:
        print("gwinspect: the server stopped unexpectedly", file=sys.stderr)
        return 1
    print("gwinspect: stopped", file=sys.stderr)
    return 0
