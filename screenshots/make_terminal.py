"""Make the README's terminal pictures from real traffic: python screenshots/make_terminal.py

Serves the built-in demo apps (ASGI on uvicorn, WSGI on waitress) on free
127.0.0.1 ports in this process, wrapped with one shared store, sends them the
demo's requests over real sockets, and renders what was recorded with the same
code as ``gwinspect export svg``:

- ``screenshots/terminal-timeline.svg``: a few timelines (a streamed response,
  a form upload, a WebSocket echo, an exception);
- ``screenshots/terminal-list.svg``: the list view of every request.
"""

from __future__ import annotations

import logging
import socket
import sys
import threading
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import gwinspect  # noqa: E402
from gwinspect.commands.demo import send_traffic  # noqa: E402
from gwinspect.commands.serving import start_asgi, start_wsgi, stop_all  # noqa: E402
from gwinspect.demo import asgi_app, wsgi_app  # noqa: E402
from gwinspect.render.terminal import svg  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def record() -> list[gwinspect.Trace]:
    logging.getLogger("waitress").setLevel(logging.CRITICAL)  # /error's traceback is in the picture
    store = gwinspect.MemoryStore(100)
    asgi = gwinspect.wrap(asgi_app, protocol="asgi", store=store)
    wsgi = gwinspect.wrap(wsgi_app, protocol="wsgi", store=store)
    running = [start_asgi(asgi, "127.0.0.1", free_port(), log_level="critical"),
               start_wsgi(wsgi, "127.0.0.1", free_port())]
    try:
        send_traffic(running, threading.Event())
    finally:
        stop_all(running)
    return list(reversed(store.list(limit=100)))  # oldest first, as they happened


def pick(traces: list[gwinspect.Trace], protocol: str, type_: str, path: str) -> gwinspect.Trace:
    return next(t for t in traces if t.protocol == protocol and t.type == type_ and t.request.path == path)


def main() -> None:
    traces = record()
    shown = [pick(traces, "asgi", "http", "/stream"), pick(traces, "wsgi", "http", "/upload"),
             pick(traces, "asgi", "websocket", "/ws"), pick(traces, "wsgi", "http", "/error")]
    (HERE / "terminal-timeline.svg").write_text(svg(shown, width=112, title="gwinspect show dump.json"),
                                                encoding="utf-8")
    http = [t for t in traces if t.type != "lifespan"]
    (HERE / "terminal-list.svg").write_text(svg(http, width=112, title="gwinspect show dump.json --list",
                                                listing=True), encoding="utf-8")
    print(f"wrote {HERE / 'terminal-timeline.svg'} and {HERE / 'terminal-list.svg'} from {len(traces)} traces")


if __name__ == "__main__":
    main()
