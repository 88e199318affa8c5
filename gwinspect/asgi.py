"""ASGI adapter: the app gets a recording ``receive`` and ``send``; one trace per connection.

HTTP, WebSocket and lifespan scopes are recorded; any other scope type passes
through untouched. App exceptions are re-raised as the very same object (a bare
``raise``), so their ``__cause__``/``__context__`` and traceback stay the app's.
"""

from __future__ import annotations

import logging
from time import perf_counter_ns, time
from typing import Any

from .asgi_channel import ASGIChannel
from .asgi_exchange import Exchange
from .jsonsafe import as_text, to_model
from .model import Event, Request, Response
from .options import make_settings
from .recorder import Recorder, exception_fields
from .redact import Redactor
from .redact_bodies import Slot
from .types import ASGIApp, Receive, Scope, Send

logger = logging.getLogger("gwinspect")

RECORDED_SCOPES = ("http", "websocket", "lifespan")


class ASGIRecorder(Recorder):
    protocol = "asgi"
    _overflow: Exchange | None = None  # the exchange so far, kept up to date once events are dropped

    """One connection's events. Made by :meth:`ASGIInspector.__call__` without an ``__init__`` call
    (a call costs more than the setting up it would do): see there for what each connection sets."""

    scope: Scope  # a copy of the connection's scope, as the server sent it

    def dropped(self, kind: str, payload: Any) -> None:
        super().dropped(kind, payload)
        if self._overflow is None:  # the first one: the events kept so far are final, read them once
            self._overflow = self._exchange_of(self.events[:])
        self._overflow.feed(kind, payload)

    def keep_payload(self, msg: dict[str, Any], outgoing: bool) -> None:
        keep = self.keep_out if outgoing else self.keep_in
        if "body" in msg:
            msg["body"] = keep(msg["body"])
        if msg.get("bytes") is not None:
            msg["bytes"] = keep(msg["bytes"])
        text = msg.get("text")
        if isinstance(text, str):
            msg["text"] = self.keep_text(text, outgoing)

    @staticmethod
    def _exchange_of(events: list[Any]) -> Exchange:
        exchange = Exchange()
        for _t_ns, kind, payload in events:
            exchange.feed(kind, payload)
        return exchange

    # ---- building -------------------------------------------------------
    def _event_fields(self, kind: str, payload: Any) -> dict[str, Any]:
        if kind == "exception":
            return exception_fields(payload)
        message = to_model(payload, self.settings.max_body)
        if isinstance(message, dict):
            message = self.settings.redactor.message(message)
        return {"message": message}

    def _body_pieces(self, events: tuple[Event, ...]) -> tuple[list[Slot], list[Slot]]:
        request: list[Slot] = []
        response: list[Slot] = []
        for event in events:
            message = event.fields.get("message")
            if isinstance(message, dict):
                if message.get("type") == "http.request":
                    request.append((message, "body"))
                elif message.get("type") == "http.response.body":
                    response.append((message, "body"))
        return request, response

    def _context(self, redactor: Redactor) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
        scope = to_model(self.scope, self.settings.max_body)
        if isinstance(scope, dict):
            if "headers" in scope:
                scope["headers"] = redactor.blob_headers(scope["headers"])
            if "query_string" in scope:  # a str (from a broken server) is redacted by Redactor.deep, as any text
                scope["query_string"] = redactor.blob_query(scope["query_string"])
            if "raw_path" in scope:  # servers strip the query from it, but one that does not must not leak it
                scope["raw_path"] = redactor.blob_text(scope["raw_path"])
        return None, scope

    def _exchange(self) -> tuple[Request, Response | None, bool]:
        exchange = self._overflow or self._exchange_of(self.events[:])
        return self._request(exchange.in_size), self._response(exchange), exchange.disconnected

    def _request(self, body_size: int) -> Request:
        s = self.scope
        redactor = self.settings.redactor
        headers = []
        for pair in _iterable(s.get("headers")):
            try:
                name, value = pair
                headers.append((as_text(name).lower(), as_text(value)))
            except (TypeError, ValueError):  # malformed: named by its first item, so redaction still applies
                name = as_text(pair[0]).lower() if isinstance(pair, (list, tuple)) and pair else "?"
                headers.append((name, as_text(pair)))
        client = s.get("client")
        if isinstance(client, (list, tuple)) and len(client) == 2:
            client = f"{client[0]}:{client[1]}"
        method = s.get("method") if self.scope_type == "http" else None
        return Request(
            method=as_text(method) if method is not None else None,
            path=redactor.text(as_text(s.get("root_path", "")) + as_text(s.get("path", "")))
            if self.scope_type != "lifespan" else "",
            query_string=redactor.query(as_text(s.get("query_string", b""))),
            http_version=as_text(s["http_version"]) if "http_version" in s else None,
            scheme=as_text(s["scheme"]) if "scheme" in s else None,
            client=as_text(client) if client else None,
            headers=redactor.headers(headers),
            body_size=body_size,
        )

    def _response(self, exchange: Exchange) -> Response | None:
        start = exchange.start
        if start is None:
            return None
        kind = start.get("type")
        if kind == "websocket.accept":
            status: Any = 101
        elif kind == "websocket.close":
            status = 403
        else:
            status = start.get("status")
        pairs = []
        for pair in _iterable(start.get("headers")):
            try:
                name, value = pair
                pairs.append((as_text(name).lower(), as_text(value)))
            except (TypeError, ValueError):
                continue
        ok = isinstance(status, int) and not isinstance(status, bool)  # True is an int, not a status
        return Response(status if ok else None, self.settings.redactor.headers(pairs),
                        exchange.out_size)


def _iterable(value: Any) -> Any:
    """Headers as given, or nothing when they are not iterable (a broken app's; the rules report it)."""
    if isinstance(value, (list, tuple)):
        return value
    try:
        return list(value or ())
    except TypeError:
        return ()


def asgi2_to_asgi3(app: Any) -> ASGIApp:
    """Adapt an ASGI 2 double-callable (``app(scope)`` then ``instance(receive, send)``)."""
    async def asgi3(scope: Scope, receive: Receive, send: Send) -> None:
        instance = app(scope)
        await instance(receive, send)
    asgi3.__wrapped__ = app  # type: ignore[attr-defined]
    return asgi3


class ASGIInspector:
    """ASGI middleware: ``gwinspect.wrap(app)`` or ``app.add_middleware(ASGIInspector, ...)``."""

    def __init__(self, app: Any, **options: Any) -> None:
        from .detect import is_asgi2
        self.app: ASGIApp = asgi2_to_asgi3(app) if is_asgi2(app) else app
        self.settings = make_settings(**options)
        self.store = self.settings.store

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        settings = self.settings
        rec: ASGIRecorder | None = None
        panel = False
        try:
            kind = scope.get("type")
            if kind in RECORDED_SCOPES:
                path = scope.get("path", "")
                if not isinstance(path, str):
                    path = ""  # a broken server's path: the connection is still recorded (and never the panel)
                if kind != "lifespan" and path.startswith(settings.path) and settings.is_panel_path(path):
                    panel = True
                elif kind == "lifespan" or not (settings.exclude_paths and settings.excluded(path)):
                    rec = ASGIRecorder()  # set up here: an __init__ call costs more than what it does
                    rec.settings = settings
                    if kind != "http":
                        rec.scope_type = kind
                    rec.wall_start = time()
                    rec.t0_ns = perf_counter_ns()
                    rec.events = []
                    # Read on every message: set here, since reading a class-level default through the
                    # instance is a slow, unspecialised attribute lookup in CPython 3.11.
                    rec.state = "in_progress"
                    rec.in_kept = rec.out_kept = 0
                    # As the server sent it: the app adds keys, writes into scope["state"] (Starlette's
                    # request.state) or scope["extensions"] and appends to scope["headers"] in place, so
                    # those containers are copied as well. Not every nested one: scanning the scope for
                    # them cost more than all the rest of the setting up.
                    copy = rec.scope = scope.copy() if type(scope) is dict else dict(scope)
                    headers = copy.get("headers")
                    if type(headers) is list:
                        copy["headers"] = headers[:]
                    state = copy.get("state")
                    if type(state) is dict:
                        copy["state"] = state.copy()
                    extensions = copy.get("extensions")
                    if type(extensions) is dict:
                        copy["extensions"] = extensions.copy()
                    settings.store_started(rec)
        except Exception:
            logger.warning("gwinspect could not record a connection; passing it through", exc_info=True)
            rec = None
        if panel:
            from .panel_asgi import serve_panel  # imported on first use
            return await serve_panel(self, scope, receive, send)
        if rec is None:
            return await self.app(scope, receive, send)
        channel = ASGIChannel()  # its slots set here: it has no __init__ (see ASGIChannel)
        channel._rec = rec
        channel._receive = receive
        channel._send = send
        try:
            await self.app(scope, channel.receive, channel.send)
        except BaseException as exc:
            rec.record_exception(exc, "app")
            raise
        finally:
            rec.finish()
