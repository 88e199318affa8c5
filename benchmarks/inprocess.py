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


def time_wsgi(app: Any, n: int, cold: bool = False) -> float:
    """Microseconds per request over ``n`` sequential requests (each after :func:`evict_caches` if ``cold``)."""
    template = ENVIRON

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable[..., Any]:
        return _no_write

    elapsed = 0
    start = perf_counter_ns()
    for _ in range(n):
        if cold:
            evict_caches()
        environ = dict(template)
        environ["wsgi.input"] = io.BytesIO()
        if cold:  # only the request is timed, not the eviction
            start = perf_counter_ns()
        result = app(environ, start_response)
        try:
            for _chunk in result:
                pass
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
        if cold:
            elapsed += perf_counter_ns() - start
    if not cold:
        elapsed = perf_counter_ns() - start
    return elapsed / n / 1000


def _no_write(data: bytes) -> None:
    pass


async def _asgi_loop(app: Any, n: int, cold: bool = False) -> float:
    template = SCOPE
    request = {"type": "http.request", "body": b"", "more_body": False}

    async def receive() -> dict[str, Any]:
        return request

    async def send(message: dict[str, Any]) -> None:
        pass

    elapsed = 0
    start = perf_counter_ns()
    for _ in range(n):
        if cold:
            evict_caches()
        scope = dict(template)
        scope["headers"] = list(template["headers"])
        if cold:  # only the request is timed, not the eviction
            start = perf_counter_ns()
        await app(scope, receive, send)
        if cold:
            elapsed += perf_counter_ns() - start
    if not cold:
        elapsed = perf_counter_ns() - start
    return elapsed / n / 1000


def time_asgi(app: Any, n: int, loop: asyncio.AbstractEventLoop, cold: bool = False) -> float:
    return loop.run_until_complete(_asgi_loop(app, n, cold))


_EVICTION_BYTES = 8 * 1024 * 1024  # four times this machine's 2 MB of L2 per core; more than most CPUs' L2
_eviction_buffer = bytearray(0)
_eviction_zeros = bytes(_EVICTION_BYTES // 64)


def evict_caches() -> None:
    """Write one byte in every 64-byte line of an 8 MB buffer: the CPU's first and second level caches
    then hold that buffer, not the app's (or gwinspect's) code and data.

    A server does this between two requests of one app without trying: parsing, its event loop,
    the kernel's networking and other connections' requests run there. In-process, the same few
    functions otherwise run back to back and never leave the caches (``--cold``, docs/performance.md).
    """
    global _eviction_buffer
    if not _eviction_buffer:
        _eviction_buffer = bytearray(_EVICTION_BYTES)
    _eviction_buffer[::64] = _eviction_zeros


class Timer:
    """Times one app of one protocol; ``measure(n)`` returns microseconds per request."""

    def __init__(self, protocol: str, app: Any, loop: asyncio.AbstractEventLoop, cold: bool = False) -> None:
        self.protocol = protocol
        self.app = app
        self.loop = loop
        self.cold = cold  # caches evicted before each request

    def measure(self, n: int) -> float:
        reset = getattr(self.app, "_bench_reset", None)
        if reset is not None:
            reset()
        gc.collect()
        if self.protocol == "wsgi":
            return time_wsgi(self.app, n, self.cold)
        return time_asgi(self.app, n, self.loop, self.cold)
