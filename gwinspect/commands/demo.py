"""``gwinspect demo``: serve the built-in demo apps, send them some traffic, show it live.

By default an ASGI app on ``--port`` (uvicorn) and a WSGI app on ``--port + 1``
(waitress, or the standard library's server) share one store, so the panel on
either port shows both protocols' requests. ``--asgi`` / ``--wsgi`` serve one.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import threading
import urllib.error
import urllib.request
from typing import Any

from ..cli import CLIError
from .serving import Running, StopSignals, start_asgi, start_wsgi, stop_all

MULTIPART_BOUNDARY = "gwinspect-demo-boundary"


def register(sub: Any) -> None:
    p = sub.add_parser("demo", help="serve demo apps with traffic worth inspecting",
                       description="Serve a demo ASGI app on PORT and a demo WSGI app on PORT+1, both recorded "
                                   "into one store; send them some requests and print each timeline. Open "
                                   "http://127.0.0.1:PORT/__inspect__ for the panel. Stop with Ctrl-C.")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="port of the first app (default 8000)")
    only = p.add_mutually_exclusive_group()
    only.add_argument("--asgi", action="store_true", help="only the ASGI app (uvicorn)")
    only.add_argument("--wsgi", action="store_true", help="only the WSGI app (waitress or wsgiref)")
    p.add_argument("--no-traffic", action="store_true", help="do not send the demo requests")
    p.add_argument("--full", action="store_true", help="print every event of each request")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    import gwinspect

    from ..demo import asgi_app, wsgi_app
    if not 0 < args.port < 65535:
        raise CLIError(f"--port must be 1-65534, got {args.port}")
    # The servers' own error logs would repeat the tracebacks the timeline already shows.
    logging.getLogger("waitress").setLevel(logging.CRITICAL)
    console = "full" if args.full else True
    store = gwinspect.MemoryStore(500)
    running: list[Running] = []
    with StopSignals() as signals:
        try:
            if not args.wsgi:
                asgi = gwinspect.wrap(asgi_app, protocol="asgi", store=store, console=console)
                running.append(start_asgi(asgi, args.host, args.port, log_level="critical"))
            if not args.asgi:
                wsgi = gwinspect.wrap(wsgi_app, protocol="wsgi", store=store, console=console)
                running.append(start_wsgi(wsgi, args.host, args.port if args.wsgi else args.port + 1))
        except CLIError:
            stop_all(running)
            raise
        for r in running:
            kind = "ASGI" if r.name == "uvicorn" else "WSGI"
            print(f"gwinspect demo: {kind} app ({r.name}) at {r.url}/", file=sys.stderr)
        print(f"\n  Open the panel: {running[0].url}/__inspect__\n", file=sys.stderr, flush=True)
        if not args.no_traffic:
            threading.Thread(target=send_traffic, args=(running, signals.event), name="gwinspect-demo-traffic",
                             daemon=True).start()
        why = signals.wait(running)
        stop_all(running)
    from ..render.live import flush
    flush()
    if why == StopSignals.SERVER_DIED:
        print("gwinspect demo: a server stopped unexpectedly", file=sys.stderr)
        return 1
    print("gwinspect demo: stopped", file=sys.stderr)
    return 0


def _multipart() -> tuple[str, bytes]:
    b = MULTIPART_BOUNDARY
    body = (f"--{b}\r\nContent-Disposition: form-data; name=\"title\"\r\n\r\nholiday photos\r\n"
            f"--{b}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"notes.txt\"\r\n"
            f"Content-Type: text/plain\r\n\r\nfirst line\nsecond line\n\r\n--{b}--\r\n").encode()
    return f"multipart/form-data; boundary={b}", body


def http(method: str, url: str, body: bytes | None = None, content_type: str | None = None) -> int:
    """One request with the standard library (no redirects followed); its status."""
    req = urllib.request.Request(url, data=body, method=method)
    if content_type:
        req.add_header("Content-Type", content_type)

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *a: Any, **k: Any) -> None:
            return None

    try:
        with urllib.request.build_opener(NoRedirect).open(req, timeout=10) as resp:
            resp.read()
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        exc.read()
        return int(exc.code)


def send_traffic(running: list[Running], stop: threading.Event) -> None:
    """A tour of the endpoints on each app, then a WebSocket echo; failures are reported, not raised."""
    form_type, form_body = _multipart()
    plan: list[tuple[str, str, bytes | None, str | None]] = [
        ("GET", "/", None, None), ("GET", "/json", None, None), ("GET", "/stream", None, None),
        ("POST", "/upload", form_body, form_type), ("GET", "/redirect", None, None),
        ("GET", "/slow", None, None), ("GET", "/error", None, None)]
    for r in running:
        for method, path, body, ctype in plan:
            if stop.is_set():
                return
            if r.name != "uvicorn" and path == "/upload":  # the WSGI side gets an urlencoded form
                body, ctype = b"name=widget&colour=blue", "application/x-www-form-urlencoded"
            try:
                http(method, r.url + path, body, ctype)
            except OSError as exc:
                print(f"gwinspect demo: {method} {path} failed: {exc}", file=sys.stderr)
        if r.name == "uvicorn" and not stop.is_set():
            websocket_echo(r.url.replace("http://", "ws://") + "/ws")
    from ..render.live import flush
    flush()  # their timelines first, then the hint
    print(f"gwinspect demo: sent the demo requests; see them at {running[0].url}/__inspect__", file=sys.stderr,
          flush=True)


def websocket_echo(url: str) -> None:
    try:
        from websockets.sync.client import connect
    except ImportError:
        print("gwinspect demo: pip install websockets to see a WebSocket timeline", file=sys.stderr)
        return
    try:
        with connect(url, open_timeout=5, close_timeout=5) as ws:
            ws.send("hello")
            ws.recv(timeout=5)
            ws.send(json.dumps({"n": 42}))
            ws.recv(timeout=5)
            ws.send(b"\x00\x01binary")
            ws.recv(timeout=5)
    except Exception as exc:  # the demo goes on without its WebSocket
        print(f"gwinspect demo: WebSocket echo failed: {type(exc).__name__}: {exc}", file=sys.stderr)
