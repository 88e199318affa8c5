"""WSGI adapter: wraps ``start_response``, ``write``, ``wsgi.input`` and the response iterable.

PEP 3333 says the response is over when the iterable is exhausted or closed,
whichever comes first -- not when the app returns -- so the trace is finished
there. ``wsgi.file_wrapper`` responses are returned as the very same object so
the server can still use sendfile; they are recorded when returned.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from time import perf_counter_ns, time
from typing import Any

from .jsonsafe import as_text, body_size, safe_repr, to_model
from .model import REDACTED, Event, ProtocolViolation, Request, Response
from .options import make_settings
from .recorder import Recorder, exception_fields
from .redact import Redactor
from .redact_bodies import Slot
from .types import Environ, StartResponse, WSGIApp
from .wsgi_environ import describe_file, detach_environ, environ_headers, wsgi_text
from .wsgi_streams import (
    RecordingInput,
    RecordingIterable,
    RecordingIterator,
    RecordingStartResponse,
    SizedRecordingIterable,
    make,
)

logger = logging.getLogger("gwinspect")


class WSGIRecorder(Recorder):
    """One WSGI request's events. Made by :meth:`WSGIInspector.__call__` without an ``__init__`` call
    (a call costs more than the setting up it would do): see there for what each request sets."""

    protocol = "wsgi"
    environ: Environ  # a copy of the request's environ: as the server sent it, detached when the request ends
    start_args: tuple[Any, ...] | None = None  # (status, headers, exc) of the latest start_response() call
    exhausted = False
    disconnected = False
    dropped_in = dropped_out = 0  # body bytes in events past max_events

    # ---- hooks ----------------------------------------------------------
    def on_data(self, kind: str, data: Any) -> None:
        try:
            # The common case inline (bytes that fit the cap): this runs for every chunk.
            if type(data) is bytes and self.out_kept + len(data) <= self.settings.max_body:
                self.out_kept += len(data)
            else:
                data = self.keep_out(data)
            events = self.events
            if len(events) < self.settings.max_events:
                events.append((perf_counter_ns(), kind, data))
            else:
                self.dropped(kind, data)
            if self.state == "complete":  # write() after the response ended (a broken app)
                self.version += 1
        except Exception as bug:
            self.fail(bug)

    def on_input(self, call: str, data: Any) -> None:
        try:
            if data:
                self.add("input", (call, self.keep_in(data)))
        except Exception as bug:
            self.fail(bug)

    def dropped(self, kind: str, payload: Any) -> None:
        super().dropped(kind, payload)
        size_in, size_out = _body_sizes(kind, payload)
        self.dropped_in += size_in
        self.dropped_out += size_out

    def on_close(self) -> None:
        try:
            events = self.events
            if len(events) < self.settings.max_events:
                events.append((perf_counter_ns(), "close", self.exhausted))
            else:
                self.dropped("close", self.exhausted)
            if self.state == "complete":  # a late close() (the usual one, after exhaustion) reaches the stored trace
                self.version += 1
                finished = self.settings.store_finished
                if finished is not None:
                    finished(self)
                return
            if not self.exhausted and self.environ.get("REQUEST_METHOD") != "HEAD":
                self.disconnected = True  # the server gave up on the body: the client went away
        except Exception as bug:
            self.fail(bug)
        self.finish()

    def finish(self) -> None:
        if self.state == "complete":
            return
        settings = self.settings
        # A stored trace must not pin what the server handed over (wsgi.input may buffer
        # megabytes of body, a socket...): keep the environ's objects as their model values.
        try:
            detach_environ(self.environ, settings.max_body)
        except Exception as bug:
            self.fail(bug)
        # Recorder.finish() written out, not called: a call costs as much as what it does.
        self.end_ns = perf_counter_ns()
        self.state = "complete"
        if settings.store_finished is not None or settings.on_finish:
            self.completed(settings)

    def on_file(self, wrapper: Any) -> None:
        try:
            self.add("file", describe_file(wrapper))
        except Exception as bug:
            self.fail(bug)
        self.finish()

    # ---- building -------------------------------------------------------
    def _event_fields(self, kind: str, payload: Any) -> dict[str, Any]:
        cap = self.settings.max_body
        if kind == "start_response":
            status, headers, exc = payload
            return {"status": to_model(status, cap), "headers": self._headers(headers),
                    "exc_info": {"type": exc.type, "message": exc.message} if exc else None}
        if kind == "input":
            return {"call": payload[0], "data": to_model(payload[1], cap)}
        if kind in ("write", "chunk"):
            return {"data": to_model(payload, cap)}
        if kind == "close":
            return {"exhausted": payload}
        if kind == "file":
            return {"file": to_model(payload, cap)}
        if kind == "exception":
            return exception_fields(payload)
        return {"detail": to_model(payload, cap)}

    def _body_pieces(self, events: tuple[Event, ...]) -> tuple[list[Slot], list[Slot]]:
        return ([(e.fields, "data") for e in events if e.kind == "input"],
                [(e.fields, "data") for e in events if e.kind in ("chunk", "write")])

    def _headers(self, headers: Any) -> Any:
        cap = self.settings.max_body
        if not isinstance(headers, (list, tuple)):
            return to_model(headers, cap)
        # Each pair on its own: a name or value that is not a str is kept as what it was (bytes as bytes)
        # and a malformed entry as is, for the rules -- but a secret's value never, whatever the shape.
        out = []
        for h in headers:
            if isinstance(h, (tuple, list)) and len(h) >= 2 and self._secret_name(h[0]):
                out.append([to_model(h[0], cap), *[REDACTED] * (len(h) - 1)])
            else:
                out.append(to_model(h, cap))
        return out

    def _secret_name(self, name: Any) -> bool:
        if isinstance(name, (bytes, bytearray)):
            name = bytes(name).decode("latin-1")
        return self.settings.redactor.matches(name if isinstance(name, str) else safe_repr(name))

    def _context(self, redactor: Redactor) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
        return to_model(redactor.environ(self.environ), self.settings.max_body), None

    def _exchange(self) -> tuple[Request, Response | None, bool]:
        in_size, out_size = self.dropped_in, self.dropped_out
        for _t_ns, kind, payload in self.events[:]:
            size_in, size_out = _body_sizes(kind, payload)
            in_size += size_in
            out_size += size_out
        return self._request(in_size), self._response(out_size), self.disconnected

    def _request(self, body_size: int) -> Request:
        env, redactor = self.environ, self.settings.redactor
        proto = env.get("SERVER_PROTOCOL")
        # As text whatever the server put there: a value under a key learnt to hold plain data is not
        # detached (wsgi_environ.detach_environ), so this may meet the object itself, broken repr and all.
        client = wsgi_text(env.get("REMOTE_ADDR"))
        if client and env.get("REMOTE_PORT"):
            client = f"{client}:{wsgi_text(env['REMOTE_PORT'])}"
        return Request(
            method=wsgi_text(env.get("REQUEST_METHOD")) or None,
            path=redactor.text(wsgi_text(env.get("SCRIPT_NAME", "")) + wsgi_text(env.get("PATH_INFO", ""))),
            query_string=redactor.query(wsgi_text(env.get("QUERY_STRING", ""))),
            http_version=proto.split("/", 1)[-1] if isinstance(proto, str) else None,
            scheme=env.get("wsgi.url_scheme") if isinstance(env.get("wsgi.url_scheme"), str) else None,
            client=client or None,
            headers=redactor.headers(environ_headers(env)),
            body_size=body_size,
        )

    def _response(self, size: int) -> Response | None:
        if self.start_args is None:
            return None
        status, headers, _exc = self.start_args
        code = int(status[:3]) if isinstance(status, str) and status[:3].isdigit() else None
        pairs: list[tuple[str, str]] = []
        if isinstance(headers, (list, tuple)):
            pairs = [(as_text(h[0]), as_text(h[1])) for h in headers if isinstance(h, (tuple, list)) and len(h) == 2]
        return Response(code, self.settings.redactor.headers(pairs), size)


def _body_sizes(kind: str, payload: Any) -> tuple[int, int]:
    """Request and response body bytes one recorded event stands for."""
    if kind == "chunk" or kind == "write":
        return 0, body_size(payload)
    if kind == "input":
        return body_size(payload[1]), 0
    if kind == "file" and isinstance(payload, dict) and isinstance(payload.get("size"), int):
        return 0, payload["size"]  # sent by the server, never seen here: as the file said
    return 0, 0


class WSGIInspector:
    """Wraps a WSGI app: records each request into the store and serves the panel."""

    def __init__(self, app: WSGIApp, **options: Any) -> None:
        self.app = app
        self.settings = make_settings(**options)
        self.store = self.settings.store
        self._panel: Any = None

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        settings = self.settings
        # Only decide inside the try: the app (or panel) must be called outside it, so that its
        # exceptions are never caught here (no second call) and it never runs inside our handler.
        rec: WSGIRecorder | None = None
        panel = False
        try:
            path = environ.get("PATH_INFO", "")
            if not isinstance(path, str):
                path = ""  # a broken server's path: the request is still recorded (and never the panel)
            if path.startswith(settings.path) and settings.is_panel_path(path):
                panel = True
            elif not (settings.exclude_paths and settings.excluded(path)):
                rec = WSGIRecorder()  # set up here: an __init__ call costs more than what it does
                rec.settings = settings
                rec.wall_start = time()
                rec.t0_ns = perf_counter_ns()
                rec.events = []
                rec.environ = dict(environ)  # as the server sent it, before the app changes it
                # Read on every request: set here, since reading a class-level default through the
                # instance is a slow, unspecialised attribute lookup in CPython 3.11.
                rec.state = "in_progress"
                rec.out_kept = 0
                rec.version = 0
                rec.exhausted = False
                settings.store_started(rec)
                if "wsgi.input" in environ:
                    stream = RecordingInput()  # wsgi_streams.make(), written out: a call costs more
                    stream._inner = environ["wsgi.input"]
                    stream._rec = rec
                    environ["wsgi.input"] = stream
        except Exception:
            logger.warning("gwinspect could not record a request; passing it through", exc_info=True)
            rec = None
        if panel:
            return self._serve_panel(environ, start_response)
        if rec is None:
            return self.app(environ, start_response)
        starter = RecordingStartResponse()  # wsgi_streams.make(), written out: a call costs more
        starter._inner = start_response
        starter._rec = rec
        starter._write = None
        try:
            result = self.app(environ, starter.start_response)
        except BaseException as exc:
            rec.record_exception(exc, "call")
            rec.finish()
            raise
        if type(result) is list:  # the usual answer, and never a file_wrapper: no checks needed
            response = SizedRecordingIterable()  # wsgi_streams.make(), written out: a call costs more
            response._inner = result
            response._rec = rec
            response._closed = False
            return response
        return _wrap_result(result, rec, environ)

    def _serve_panel(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        from .panel_wsgi import serve_panel  # imported on first use: the recording path never needs it
        return serve_panel(self, environ, start_response)


def _wrap_result(result: Iterable[bytes], rec: WSGIRecorder, environ: Environ) -> Iterable[bytes]:
    try:
        file_wrapper = environ.get("wsgi.file_wrapper")
        if isinstance(file_wrapper, type) and isinstance(result, file_wrapper):
            rec.on_file(result)  # same object back: the server may sendfile() it
            return result
        if hasattr(result, "__len__"):
            return make(SizedRecordingIterable, result, rec)
        return make(RecordingIterator if isinstance(result, Iterator) else RecordingIterable, result, rec)
    except ProtocolViolation:
        raise  # strict=True: the file response broke an error-level rule
    except Exception as bug:
        rec.fail(bug)
        return result
