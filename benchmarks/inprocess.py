"""Drive WSGI and ASGI apps in-process, with no server and no sockets, and time them.

What is timed is the app (and any middleware) handling one ``GET /``: the
environ or scope is copied per request, as a server builds a fresh one, and the
response is consumed and closed, as a server does.
"""

from __future__ import annotations

import asyncio
import gc
import io
import sys
from collections.abc import Callable
from time import perf_counter_ns
from typing import Any

SCOPE: dict[str, Any] = {
    "type": "http", "asgi": {"version": "3.0", "spec_version": "2.4"}, "http_version": "1.1",
    "method": "GET", "scheme": "http", "path": "/", "raw_path": b"/", "root_path": "", "query_string": b"",
    "headers": [(b"host", b"127.0.0.1:8000"), (b"user-agent", b"bench/1.0"), (b"accept", b"*/*")],
    "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8000), "extensions": {},
}
ENVIRON: dict[str, Any] = {
    "REQUEST_METHOD": "GET", "SCRIPT_NAME": "", "PATH_INFO": "/", "QUERY_STRING": "",
    "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "8000", "SERVER_PROTOCOL": "HTTP/1.1",
    "REMOTE_ADDR": "127.0.0.1", "REMOTE_PORT": "50000", "HTTP_HOST": "127.0.0.1:8000",
    "HTTP_USER_AGENT": "bench/1.0", "HTTP_ACCEPT": "*/*", "wsgi.version": (1, 0), "wsgi.url_scheme": "http",
    "wsgi.errors": sys.stderr, "wsgi.multithread": False, "wsgi.multiprocess": False, "wsgi.run_once": False,
}


def time_wsgi(app: Any, n: int) -> float:
    """Microseconds per request over ``n`` sequential requests."""
    template = ENVIRON

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable[..., Any]:
        return _no_write

    t0 = perf_counter_ns()
    for _ in range(n):
        environ = dict(template)
        environ["wsgi.input"] = io.BytesIO()
        result = app(environ, start_response)
        try:
            for _chunk in result:
                pass
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
    return (perf_counter_ns() - t0) / n / 1000


def _no_write(data: bytes) -> None:
    pass


async def _asgi_loop(app: Any, n: int) -> float:
    template = SCOPE
    request = {"type": "http.request", "body": b"", "more_body": False}

    async def receive() -> dict[str, Any]:
        return request

    async def send(message: dict[str, Any]) -> None:
        pass

    t0 = perf_counter_ns()
    for _ in range(n):
        scope = dict(template)
        scope["headers"] = list(template["headers"])
        await app(scope, receive, send)
    return (perf_counter_ns() - t0) / n / 1000


def time_asgi(app: Any, n: int, loop: asyncio.AbstractEventLoop) -> float:
    return loop.run_until_complete(_asgi_loop(app, n))


class Timer:
    """Times one app of one protocol; ``measure(n)`` returns microseconds per request."""

    def __init__(self, protocol: str, app: Any, loop: asyncio.AbstractEventLoop) -> None:
        self.protocol = protocol
        self.app = app
        self.loop = loop

    def measure(self, n: int) -> float:
        reset = getattr(self.app, "_bench_reset", None)
        if reset is not None:
            reset()
        gc.collect()
        if self.protocol == "wsgi":
            return time_wsgi(self.app, n)
        return time_asgi(self.app, n, self.loop)
