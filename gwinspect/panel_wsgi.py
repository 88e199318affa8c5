"""The panel under WSGI: translate the environ for :func:`gwinspect.panel.handle` and back.

Live updates must not starve the app. A WSGI response holds a worker for as
long as it runs, so the event stream is bounded: on threaded servers (waitress,
gunicorn gthread, werkzeug) it lasts ``STREAM_SECONDS`` and yields each event
as its own chunk (servers flush per chunk); on servers that run one request at
a time (``wsgi.multithread`` false: gunicorn sync, wsgiref) it answers at once
and the browser's EventSource reconnects after ``retry`` -- polling, in effect,
with ``Last-Event-ID`` carrying the store sequence so nothing is missed. At most
``MAX_HELD_STREAMS`` streams per process are held at once; more open panels
(tabs) poll, so a few tabs cannot take every thread of a small pool.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from http import HTTPStatus
from typing import Any

from .panel import PanelRequest, handle
from .panel_events import KEEPALIVE, EventFeed
from .types import Environ, StartResponse
from .wsgi import environ_headers, wsgi_text

logger = logging.getLogger("gwinspect")

STREAM_SECONDS = 15.0  # how long one event stream may hold a worker thread
POLL_SECONDS = 0.25  # how often the store sequence is checked
KEEPALIVE_SECONDS = 2.0  # also how soon a stream notices its client left (a write fails)
RETRY_THREADED_MS = 250  # the stream just ended on purpose: come back soon
RETRY_SINGLE_MS = 1000  # one request at a time: poll about once a second
MAX_HELD_STREAMS = 1
_held = threading.Semaphore(MAX_HELD_STREAMS)


def status_line(code: int) -> str:
    try:
        return f"{code} {HTTPStatus(code).phrase}"
    except ValueError:
        return f"{code} Unknown"


def panel_request(environ: Environ) -> PanelRequest:
    client = environ.get("REMOTE_ADDR")
    scheme = environ.get("wsgi.url_scheme")
    return PanelRequest(
        method=wsgi_text(environ.get("REQUEST_METHOD", "GET")).upper(),
        path=wsgi_text(environ.get("PATH_INFO", "")),
        query=wsgi_text(environ.get("QUERY_STRING", "")),
        headers=tuple(environ_headers(environ)),
        client=client if isinstance(client, str) else None,
        scheme=scheme if isinstance(scheme, str) else "http",
        root=wsgi_text(environ.get("SCRIPT_NAME", "")),
    )


def serve_panel(inspector: Any, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
    response = handle(inspector.settings, panel_request(environ))
    start_response(status_line(response.status), response.headers)
    if response.feed is None:
        return [response.body]
    hold = bool(environ.get("wsgi.multithread", False)) and _held.acquire(blocking=False)
    response.feed.retry_ms = RETRY_THREADED_MS if hold else RETRY_SINGLE_MS
    gone = environ.get("waitress.client_disconnected")  # waitress can tell; elsewhere a keepalive write fails
    return EventStream(response.feed, STREAM_SECONDS if hold else 0.0, release=_held.release if hold else None,
                       client_gone=gone if callable(gone) else None)


class EventStream:
    """The response iterable of ``api/events``: opening bytes, then polled events until the deadline."""

    def __init__(self, feed: EventFeed, seconds: float, release: Callable[[], None] | None = None,
                 client_gone: Callable[[], bool] | None = None) -> None:
        self.feed = feed
        self.seconds = seconds
        self.closed = False
        self._release = release  # gives the held-stream slot back, once
        self._client_gone = client_gone

    def __iter__(self) -> Iterator[bytes]:
        try:
            yield self.feed.opening()
            deadline = time.monotonic() + self.seconds
            quiet_since = time.monotonic()
            while not self.closed and time.monotonic() + POLL_SECONDS < deadline:
                time.sleep(POLL_SECONDS)
                if self._client_gone is not None and self._client_gone():
                    return
                chunk = self.feed.poll()
                if not chunk and time.monotonic() - quiet_since >= KEEPALIVE_SECONDS:
                    chunk = KEEPALIVE  # lets the server notice a client that went away
                if chunk:
                    quiet_since = time.monotonic()
                    yield chunk
        except Exception:  # a store that fails (a shared one went away): end; the browser reconnects
            logger.warning("gwinspect panel event stream stopped", exc_info=True)
        finally:
            self._give_back()

    def close(self) -> None:
        self.closed = True
        self._give_back()

    def _give_back(self) -> None:
        release, self._release = self._release, None
        if release is not None:
            release()
