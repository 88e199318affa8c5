"""The per-request recorder: the hot path shared by the WSGI and ASGI adapters.

Each hook costs a ``perf_counter_ns()`` and a list append of references (bodies
are sliced to the cap, nothing is encoded). Building the :class:`Trace` --
conversion to JSON-safe values, redaction, rule checks -- happens only when the
trace is read or finished, in :meth:`Recorder.snapshot`.

A recorder must never break the app: every hook catches its own failures,
logs them once and marks the trace ``partial``.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import traceback
from collections.abc import Callable
from datetime import datetime, timezone
from time import perf_counter_ns
from typing import TYPE_CHECKING, Any

from .ids import new_trace_id
from .jsonsafe import Captured, text_size
from .model import ErrorInfo, Event, ProtocolViolation, Request, Response, Trace
from .redact_bodies import Slot, mask_bodies

if TYPE_CHECKING:
    from .options import Settings

logger = logging.getLogger("gwinspect")

def error_info(exc: BaseException) -> ErrorInfo:
    cls = type(exc)
    name = cls.__qualname__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__qualname__}"
    try:
        message = str(exc)
    except Exception:  # a broken __str__ must not hide the exception itself
        message = f"<unprintable {cls.__name__}>"
    tb = "".join(traceback.format_exception(cls, exc, exc.__traceback__))
    return ErrorInfo(name, message, tb)


Payload = Any
RawEvent = tuple[int, str, Payload]

# Assigning a lazily drawn id is the one write two threads (the panel, a store writer) may race on.
_assign_lock = threading.Lock()


class Recorder:
    """Collects one request's events; the adapters subclass it for their protocol.

    The request path pays for as little as possible: the class attributes below are the
    defaults, so a request sets on its own instance only what it changes (most never fail,
    drop events or raise), plus the few read on every request (``state``, the kept-byte
    counts), since a class default read through an instance is a slow lookup in CPython 3.11.
    The trace id is drawn when someone first asks for it. Sizes, the response and the
    disconnect flag are derived from the events when the trace is built.
    """

    protocol = "?"
    scope_type = "http"
    end_ns: int | None = None
    state = "in_progress"
    partial = False
    error: ErrorInfo | None = None
    events_dropped = 0
    in_kept = 0  # request-body bytes kept so far (the cap is max_body per direction)
    out_kept = 0  # response-body bytes kept so far
    version = 0  # bumped whenever something changes after completion
    _id: str | None = None
    _built: tuple[int, Trace] | None = None
    _built_head: tuple[int, Trace] | None = None

    # Set by each adapter where it makes its recorder (ASGIInspector.__call__, WSGIInspector.__call__),
    # with no call into this class: a super().__init__() call alone cost a twentieth of the
    # per-request budget (benchmarks/overhead.py, docs/performance.md).
    settings: Settings
    events: list[RawEvent]
    t0_ns: int
    wall_start: float

    @property
    def trace_id(self) -> str:
        trace_id = self._id
        if trace_id is None:
            with _assign_lock:
                trace_id = self._id
                if trace_id is None:
                    trace_id = self._id = new_trace_id()
        return trace_id

    # ---- hot path -------------------------------------------------------
    def add(self, kind: str, payload: Payload) -> None:
        events = self.events
        if len(events) < self.settings.max_events:
            events.append((perf_counter_ns(), kind, payload))
        else:
            self.dropped(kind, payload)
        if self.state == "complete":
            self.version += 1

    def dropped(self, kind: str, payload: Payload) -> None:
        """An event past ``max_events``: counted, and its sizes still accounted (see subclasses)."""
        self.events_dropped += 1

    def keep_in(self, data: Any) -> Any:
        """Account request-body bytes against the cap and return what to keep of them."""
        kept, self.in_kept = _keep(data, self.settings.max_body, self.in_kept)
        return kept

    def keep_out(self, data: Any) -> Any:
        """Account response-body bytes against the cap and return what to keep of them."""
        kept, self.out_kept = _keep(data, self.settings.max_body, self.out_kept)
        return kept

    def keep_text(self, text: str, outgoing: bool) -> Any:
        """WebSocket text frames share the body cap; an oversized one is kept as UTF-8 bytes."""
        room = self.settings.max_body - (self.out_kept if outgoing else self.in_kept)
        size = text_size(text)
        if size <= room:
            kept: Any = text
            used = size
        else:
            kept = Captured(text.encode("utf-8", "surrogatepass")[:max(room, 0)], size)
            used = len(kept.data)
        if outgoing:
            self.out_kept += used
        else:
            self.in_kept += used
        return kept

    def record_exception(self, exc: BaseException, where: str) -> None:
        try:
            info = error_info(exc)  # formatted now, so the trace does not keep frames alive
            if self.error is None:
                self.error = info
            self.add("exception", (where, info))
        except Exception as bug:
            self.fail(bug)

    def fail(self, bug: BaseException) -> None:
        """gwinspect itself failed: log once per trace, mark it partial, carry on."""
        if not self.partial:
            self.partial = True
            logger.warning("gwinspect could not record part of trace %s", self.trace_id, exc_info=bug)
        self.version += 1

    def finish(self) -> None:
        if self.state == "complete":
            return
        self.end_ns = perf_counter_ns()
        self.state = "complete"
        settings = self.settings
        if settings.store_finished is not None or settings.on_finish:
            self.completed(settings)

    def completed(self, settings: Settings) -> None:
        """Tell the store and the listeners that this request completed (``finish`` calls it when there are any)."""
        finished = settings.store_finished
        if finished is not None:
            try:
                finished(self)
            except Exception as bug:
                self.fail(bug)
        strict: ProtocolViolation | None = None
        for listener in settings.on_finish:
            try:
                listener(self)
            except ProtocolViolation as exc:  # strict=True: for the caller, once every listener ran
                strict = exc
            except Exception as bug:
                self.fail(bug)
        # Raised only when no app exception is on its way out (it was recorded as self.error just
        # before), so with strict=True the app's own exception is still the one its caller sees.
        if strict is not None and self.error is None:
            raise strict

    # ---- building the trace (off the hot path) --------------------------
    def snapshot(self) -> Trace:
        cached = self._built
        if cached is not None and cached[0] == self.version and self.state == "complete":
            return cached[1]
        version = self.version
        try:
            trace = self._build()
        except Exception as bug:
            self.fail(bug)
            trace = self._fallback()
        if trace.complete and self.settings.checker is not None:
            try:
                trace = self.settings.checker(trace)
            except Exception as bug:  # a broken rule must not make the trace unreadable
                self.fail(bug)
                trace = dataclasses.replace(trace, partial=True)
        if trace.complete:
            self._built = (version, trace)
        return trace

    def _build(self) -> Trace:
        redactor = self.settings.redactor
        events: list[Event] = []
        t0 = self.t0_ns
        for t_ns, kind, payload in self.events[:]:
            try:
                fields = redactor.deep(self._event_fields(kind, payload))
            except Exception as bug:
                self.fail(bug)
                fields = {"unrecorded": True}
            events.append(Event(round((t_ns - t0) / 1e6, 3), kind, fields))
        environ, scope = self._context(redactor)
        return self._trace(tuple(events), redactor.environ_text(environ), redactor.deep(scope))

    def _trace(self, events: tuple[Event, ...], environ: dict[str, Any] | None,
               scope: dict[str, Any] | None) -> Trace:
        state, end_ns = self.state, self.end_ns  # read once: the request may finish meanwhile
        request, response, disconnected = self._exchange()
        if events:  # a failure here makes snapshot() give the minimal trace: never unmasked bodies
            mask_bodies(self.settings.redactor, self._body_pieces(events), request, response)
        return Trace(
            id=self.trace_id, protocol=self.protocol, type=self.scope_type,
            started_at=iso_utc(self.wall_start), state=state,
            duration_ms=round((end_ns - self.t0_ns) / 1e6, 3) if end_ns is not None else None,
            request=request, response=response, environ=environ, scope=scope,
            events=events, error=self._redacted_error(), partial=self.partial,
            disconnected=disconnected, events_dropped=self.events_dropped,
        )

    def _redacted_error(self) -> ErrorInfo | None:
        """The error as recorded, with credentials in its text redacted (a URL quoted in a message)."""
        error, redactor = self.error, self.settings.redactor
        if error is None or not redactor:
            return error
        return ErrorInfo(error.type, redactor.text(error.message), redactor.text(error.traceback))

    def head(self) -> Trace:
        """The trace without its events, environ or scope, and unchecked: what listing and filtering need.

        A store filtering thousands of traces calls this instead of :meth:`snapshot`, so a
        search never builds (and runs the rules over) every trace it merely looks at.
        """
        cached = self._built_head
        if cached is not None and cached[0] == self.version and self.state == "complete":
            return cached[1]
        version = self.version
        try:
            trace = self._trace((), None, None)
        except Exception as bug:
            self.fail(bug)
            trace = self._fallback()
        if trace.complete:
            self._built_head = (version, trace)
        return trace

    def _fallback(self) -> Trace:
        """A minimal trace, for when building the full one failed."""
        return Trace(id=self.trace_id, protocol=self.protocol, type=self.scope_type,
                     started_at=iso_utc(self.wall_start), state=self.state, duration_ms=None,
                     request=Request(None, "", "", None, None, None, ()), response=None,
                     environ=None, scope=None, events=(), error=self._redacted_error(), partial=True)

    def _event_fields(self, kind: str, payload: Payload) -> dict[str, Any]:
        raise NotImplementedError

    def _body_pieces(self, events: tuple[Event, ...]) -> tuple[list[Slot], list[Slot]]:
        """Where the request's and the response's body pieces are in the built events (redact_bodies.py)."""
        raise NotImplementedError

    def _context(self, redactor: Any) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
        raise NotImplementedError

    def _exchange(self) -> tuple[Request, Response | None, bool]:
        """The request and response summaries, and whether the client went away first."""
        raise NotImplementedError


def _keep(data: Any, cap: int, used: int) -> tuple[Any, int]:
    """What to keep of a body value when ``used`` of the ``cap`` bytes are taken, and the new total."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        return data, used  # not bytes: kept as is, so the rules can report it
    size = data.nbytes if type(data) is memoryview else len(data)  # bytes, not items of a wider format
    room = cap - used
    if size <= room:
        return (data if type(data) is bytes else bytes(data)), used + size
    # A memoryview slices by items, and tobytes() is the one way that works for any format and layout.
    kept = data.tobytes()[:max(room, 0)] if type(data) is memoryview else bytes(data[:max(room, 0)])
    return Captured(kept, size), used + len(kept)


def exception_fields(payload: tuple[str, ErrorInfo]) -> dict[str, Any]:
    where, info = payload
    return {"where": where, "type": info.type, "message": info.message}


def iso_utc(ts: float) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).isoformat(timespec="microseconds").replace("+00:00", "Z")


Listener = Callable[[Recorder], None]
