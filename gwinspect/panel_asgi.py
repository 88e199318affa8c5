"""The panel under ASGI: translate the scope for :func:`gwinspect.panel.handle` and back.

The handler reads the store, which may be a file shared with other processes,
so it runs in the loop's default thread pool, never on the event loop itself.
The event stream watches ``receive()`` for ``http.disconnect`` while it waits,
so it ends as soon as the browser leaves; it also ends after
``STREAM_SECONDS`` (the browser reconnects with ``Last-Event-ID``), because
servers wait for open responses when they shut down -- ``uvicorn --reload``
would otherwise hang while a panel is open. Under an event loop other than
asyncio (trio) the stream answers at once and the browser polls.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from typing import Any

from .jsonsafe import as_text
from .panel import PanelRequest, handle
from .panel_events import KEEPALIVE, EventFeed
from .types import Receive, Scope, Send

logger = logging.getLogger("gwinspect")

STREAM_SECONDS = 10.0
POLL_SECONDS = 0.25
KEEPALIVE_SECONDS = 5.0
RETRY_MS = 250
RETRY_NO_ASYNCIO_MS = 1000


def panel_request(scope: Scope) -> PanelRequest:
    headers = []
    for pair in scope.get("headers") or ():
        try:
            name, value = pair
            headers.append((as_text(name).lower(), as_text(value)))
        except (TypeError, ValueError):
            continue
    client = scope.get("client")
    host = client[0] if isinstance(client, (list, tuple)) and len(client) == 2 else None
    query = scope.get("query_string", b"")
    return PanelRequest(
        method=as_text(scope.get("method", "GET")).upper(),
        path=as_text(scope.get("path", "")),
        query=query.decode("latin-1") if isinstance(query, bytes) else "",
        headers=tuple(headers),
        client=host if isinstance(host, str) else None,
        scheme=as_text(scope.get("scheme", "http")),
        root=as_text(scope.get("root_path", "")),
    )


def _asyncio_running() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


async def serve_panel(inspector: Any, scope: Scope, receive: Receive, send: Send) -> None:
    if scope.get("type") == "websocket":  # nothing to see here: refuse the handshake (servers answer 403)
        await receive()
        await send({"type": "websocket.close", "code": 1008})
        return
    if scope.get("type") != "http":
        return
    request = panel_request(scope)
    on_asyncio = _asyncio_running()
    if on_asyncio:
        loop = asyncio.get_running_loop()
        response = await loop.run_in_executor(None, functools.partial(handle, inspector.settings, request))
    else:
        response = handle(inspector.settings, request)
    headers = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in response.headers]
    await send({"type": "http.response.start", "status": response.status, "headers": headers})
    if response.feed is None:
        await send({"type": "http.response.body", "body": response.body, "more_body": False})
        return
    if not on_asyncio:
        response.feed.retry_ms = RETRY_NO_ASYNCIO_MS
        await send({"type": "http.response.body", "body": response.feed.opening(), "more_body": False})
        return
    response.feed.retry_ms = RETRY_MS
    await stream_events(response.feed, receive, send)


async def stream_events(feed: EventFeed, receive: Receive, send: Send) -> None:
    """Send events until the client disconnects or the stream's time is up."""
    loop = asyncio.get_running_loop()
    gone = asyncio.Event()

    async def watch_disconnect() -> None:
        while True:
            message = await receive()
            if message.get("type") == "http.disconnect":
                gone.set()
                return

    watcher = asyncio.ensure_future(watch_disconnect())
    try:
        await send({"type": "http.response.body", "body": await loop.run_in_executor(None, feed.opening),
                    "more_body": True})
        deadline = time.monotonic() + STREAM_SECONDS
        quiet_since = time.monotonic()
        while not gone.is_set() and time.monotonic() + POLL_SECONDS < deadline:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(gone.wait(), POLL_SECONDS)
            if gone.is_set():
                break
            chunk = await loop.run_in_executor(None, feed.poll)
            if not chunk and time.monotonic() - quiet_since >= KEEPALIVE_SECONDS:
                chunk = KEEPALIVE
            if chunk:
                quiet_since = time.monotonic()
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
        if not gone.is_set():
            await send({"type": "http.response.body", "body": b"", "more_body": False})
    except OSError:  # the server says the client is gone (ASGI servers raise OSError subclasses)
        pass
    except Exception:  # a failing store: end the stream; the browser reconnects
        logger.warning("gwinspect panel event stream stopped", exc_info=True)
        with contextlib.suppress(Exception):
            await send({"type": "http.response.body", "body": b"", "more_body": False})
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await watcher
