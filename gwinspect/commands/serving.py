"""Serve wrapped apps for ``gwinspect run`` and ``gwinspect demo``: uvicorn, waitress or wsgiref.

Every server runs in a background thread; the main thread only waits for
SIGINT/SIGTERM (so one process can serve an ASGI and a WSGI app at once, and
both stop the same way), then asks each server to stop, joins it, and the
command exits 0. uvicorn started outside the main thread installs no signal
handlers of its own, so it never re-raises the signal after shutting down.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import socketserver
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from ..cli import CLIError

START_TIMEOUT = 20.0
STOP_TIMEOUT = 10.0


@dataclass
class Running:
    """A server serving in a background thread."""

    name: str  # "uvicorn", "waitress", "wsgiref"
    host: str
    port: int
    thread: threading.Thread
    stop: Callable[[], None]

    @property
    def url(self) -> str:
        host = "127.0.0.1" if self.host in ("", "0.0.0.0") else "::1" if self.host == "::" else self.host
        return f"http://{f'[{host}]' if ':' in host else host}:{self.port}"


def start_asgi(app: Any, host: str, port: int, *, log_level: str = "warning") -> Running:
    try:
        import uvicorn
    except ImportError:
        raise CLIError("serving an ASGI app needs uvicorn: pip install 'gwinspect[servers]'") from None
    config = uvicorn.Config(app, host=host, port=port, log_level=log_level, access_log=False,
                            interface="asgi3", lifespan="auto")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="gwinspect-uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + START_TIMEOUT
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            raise CLIError(f"uvicorn could not serve on {host}:{port} (is the port in use?)")
        time.sleep(0.02)
    with contextlib.suppress(AttributeError, IndexError, OSError):  # --port 0: the port the system chose
        port = int(server.servers[0].sockets[0].getsockname()[1])

    def stop() -> None:
        server.should_exit = True
        thread.join(STOP_TIMEOUT)
        if thread.is_alive():  # connections still open after the graceful wait
            server.force_exit = True
            thread.join(STOP_TIMEOUT)

    return Running("uvicorn", host, port, thread, stop)


def start_wsgi(app: Any, host: str, port: int, *, server: str = "auto") -> Running:
    if server in ("auto", "waitress"):
        try:
            import waitress  # noqa: F401
        except ImportError:
            if server == "waitress":
                raise CLIError("waitress is not installed: pip install waitress") from None
        else:
            return _start_waitress(app, host, port)
    return _start_wsgiref(app, host, port)


def _start_waitress(app: Any, host: str, port: int) -> Running:
    import waitress
    from waitress import wasyncore

    socket_map: dict[int, Any] = {}
    try:
        # clear_untrusted_proxy_headers=False: waitress would otherwise delete X-Forwarded-* and
        # Forwarded before the app runs, and behind a reverse proxy on this host the panel would then
        # see a local client with no proxy header, and open. Without trusted_proxy they are still not
        # believed; they stay in the environ, as the client sent them.
        server = waitress.create_server(app, map=socket_map, host=host, port=port, threads=8,
                                        ident="gwinspect", clear_untrusted_proxy_headers=False)
    except OSError as exc:
        raise CLIError(f"waitress could not serve on {host}:{port}: {exc.strerror or exc}") from None
    stopping = threading.Event()

    def loop() -> None:
        # waitress's own run() loops until the process is interrupted; this loop checks a flag.
        while not stopping.is_set():
            wasyncore.loop(timeout=0.2, map=socket_map, count=1)

    thread = threading.Thread(target=loop, name="gwinspect-waitress", daemon=True)
    thread.start()

    def stop() -> None:
        stopping.set()
        thread.join(STOP_TIMEOUT)
        dispatcher = getattr(server, "task_dispatcher", None)
        if dispatcher is not None:
            dispatcher.shutdown(timeout=STOP_TIMEOUT)
        wasyncore.close_all(socket_map)

    return Running("waitress", host, int(getattr(server, "effective_port", port)), thread, stop)


class ThreadingWSGIServer(socketserver.ThreadingMixIn, WSGIServer):
    """The standard library's WSGI server, one thread per connection."""

    daemon_threads = True
    allow_reuse_address = True


class QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # the timeline says it better
        pass


def _start_wsgiref(app: Any, host: str, port: int) -> Running:
    try:
        httpd = make_server(host, port, app, server_class=ThreadingWSGIServer, handler_class=QuietHandler)
    except OSError as exc:
        raise CLIError(f"could not serve on {host}:{port}: {exc.strerror or exc}") from None
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.2},
                              name="gwinspect-wsgiref", daemon=True)
    thread.start()

    def stop() -> None:
        httpd.shutdown()
        httpd.server_close()
        thread.join(STOP_TIMEOUT)

    return Running("wsgiref", host, int(httpd.server_port), thread, stop)


class StopSignals:
    """Catches SIGINT and SIGTERM from before the servers start until they are stopped."""

    SERVER_DIED = -1

    def __init__(self) -> None:
        self.received: list[int] = []
        self.event = threading.Event()
        self._previous: dict[int, Any] = {}

    def _handler(self, signum: int, _frame: Any) -> None:
        if self.event.is_set() and signum == signal.SIGINT:
            raise KeyboardInterrupt  # a second Ctrl-C while stopping: give up waiting (exit 130)
        self.received.append(signum)
        self.event.set()

    def __enter__(self) -> StopSignals:
        for sig in (signal.SIGINT, signal.SIGTERM):
            self._previous[sig] = signal.signal(sig, self._handler)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, old in self._previous.items():
            signal.signal(sig, old)

    def wait(self, servers: Sequence[Running]) -> int:
        """Block until a signal arrives (its number) or a server thread dies (``SERVER_DIED``)."""
        while not self.event.wait(0.2):
            if any(not s.thread.is_alive() for s in servers):
                return self.SERVER_DIED
        return self.received[0]


def stop_all(servers: Sequence[Running]) -> None:
    for s in servers:
        try:
            s.stop()
        except Exception:  # stopping one server must not keep the others running
            logging.getLogger("gwinspect").warning("could not stop %s cleanly", s.name, exc_info=True)
