"""The per-request recorder: the hot path shared by the WSGI and ASGI adapters.

Each hook costs a ``perf_counter_ns()`` and a list append of references (bodies
are sliced to the cap, nothing is encoded). Building the :class:`Trace` --
conversion to JSON-safe values, redaction, rule checks -- happens only when the
trace is read or finished, in :meth:`Recorder.snapshot`.

A recorder must never break the app: every hook catches its own failures,
logs them once and marks the trace ``partial``.
"""

from __future__ import annotations

import base64
import dataclasses
import logging
import os
import threading
import time
import traceback
from collections.abc import Callable
from datetime import datetime, timezone
from time import perf_counter_ns
from typing import TYPE_CHECKING, Any

from .jsonsafe import Captured
from .model import ErrorInfo, Event, ProtocolViolation, Request, Response, Trace

if TYPE_CHECKING:
    from .options import Settings

logger = logging.getLogger("gwinspect")

# Trace ids: 96 random bits each, drawn from a pooled os.urandom() read so the
# request path does not pay a system call per id.
_ID_BYTES = 12
_POOL_IDS = 256
_id_lock = threading.Lock()
_id_pool: list[str] = []


def _ids_after_fork_in_child() -> None:
    _id_pool.clear()  # a forked worker (gunicorn --preload) must not hand out its parent's remaining ids
    _id_lock.release()


# The lock is held across fork() so the child never inherits it locked by a thread that does not exist there.
if hasattr(os, "register_at_fork"):  # POSIX only; there is no fork() elsewhere
    os.register_at_fork(before=_id_lock.acquire, after_in_parent=_id_lock.release,
                        after_in_child=_ids_after_fork_in_child)


def new_trace_id() -> str:
    try:
        return _id_pool.pop()  # list.pop() is atomic: no lock on the common path
    except IndexError:
        pass
    with _id_lock:
        if not _id_pool:
            # 12 bytes are 16 base64 characters with no padding, so one encoding of the whole
            # block, cut every 16 characters, gives the ids (one call instead of 256).
            text = base64.urlsafe_b64encode(os.urandom(_ID_BYTES * _POOL_IDS)).decode("ascii")
            _id_pool.extend(text[i:i + 16] for i in range(0, len(text), 16))
        return _id_pool.pop()


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


class Recorder:
    """Collects one request's events; the adapters subclass it for their protocol."""

    __slots__ = ("_head_cache", "_lock_free_cache", "disconnected", "end_ns", "error", "events", "events_dropped",
                 "in_kept", "in_size", "out_kept", "out_size", "partial", "scope_type",
                 "settings", "state", "t0_ns", "trace_id", "version", "wall_start")

    protocol = "?"

    def __init__(self, settings: Settings, scope_type: str) -> None:
        self.settings = settings
        self.scope_type = scope_type
        self.trace_id = new_trace_id()
        self.wall_start = time.time()
        self.t0_ns = perf_counter_ns()
        self.end_ns: int | None = None
        self.events: list[RawEvent] = []
        self.events_dropped = 0
        self.state = "in_progress"
        self.partial = False
        self.disconnected = False
        self.error: ErrorInfo | None = None
        self.in_kept = self.out_kept = 0  # body bytes kept, per direction
        self.in_size = self.out_size = 0  # body bytes seen, per direction
        self.version = 0  # bumped whenever something changes after completion
        self._lock_free_cache: tuple[int, Trace] | None = None
        self._head_cache: tuple[int, Trace] | None = None

    # ---- hot path -------------------------------------------------------
    def add(self, kind: str, payload: Payload) -> None:
        if len(self.events) < self.settings.max_events:
            self.events.append((perf_counter_ns(), kind, payload))
        else:
            self.events_dropped += 1
        if self.state == "complete":
            self.version += 1

    def keep_in(self, data: Any) -> Any:
        """Account request-body bytes and return what to keep of them."""
        if not isinstance(data, (bytes, bytearray, memoryview)):
            return data  # not bytes: kept as is, so the rules can report it
        n = len(data)
        self.in_size += n
        room = self.settings.max_body - self.in_kept
        if n <= room:
            self.in_kept += n
            return data if type(data) is bytes else bytes(data)
        kept = bytes(data[:max(room, 0)])
        self.in_kept += len(kept)
        return Captured(kept, n)

    def keep_out(self, data: Any) -> Any:
        """Account response-body bytes and return what to keep of them."""
        if not isinstance(data, (bytes, bytearray, memoryview)):
            return data
        n = len(data)
        self.out_size += n
        room = self.settings.max_body - self.out_kept
        if n <= room:
            self.out_kept += n
            return data if type(data) is bytes else bytes(data)
        kept = bytes(data[:max(room, 0)])
        self.out_kept += len(kept)
        return Captured(kept, n)

    def keep_text(self, text: str, outgoing: bool) -> Any:
        """WebSocket text frames share the body cap; an oversized one is kept as UTF-8 bytes."""
        room = self.settings.max_body - (self.out_kept if outgoing else self.in_kept)
        if text.isascii():  # O(1) in CPython; then its length is its size in bytes, no encoding needed
            size = len(text)
            kept: Any = text if size <= room else Captured(text[:max(room, 0)].encode("ascii"), size)
        else:  # sizes are UTF-8 bytes, as on the wire (body_size), not characters
            raw = text.encode("utf-8", "surrogatepass")
            size = len(raw)
            kept = text if size <= room else Captured(raw[:max(room, 0)], size)
        used = size if isinstance(kept, str) else len(kept.data)
        if outgoing:
            self.out_size += size
            self.out_kept += used
        else:
            self.in_size += size
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
        self.version += 1
        strict: ProtocolViolation | None = None
        for listener in self.settings.on_finish:
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
        cached = self._lock_free_cache
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
            self._lock_free_cache = (version, trace)
        return trace

    def _build(self) -> Trace:
        redactor = self.settings.redactor
        events: list[Event] = []
        t0 = self.t0_ns
        for t_ns, kind, payload in self.events[:]:
            try:
                fields = self._event_fields(kind, payload)
            except Exception as bug:
                self.fail(bug)
                fields = {"unrecorded": True}
            events.append(Event(round((t_ns - t0) / 1e6, 3), kind, fields))
        environ, scope = self._context(redactor)
        return self._trace(tuple(events), environ, scope)

    def _trace(self, events: tuple[Event, ...], environ: dict[str, Any] | None,
               scope: dict[str, Any] | None) -> Trace:
        return Trace(
            id=self.trace_id, protocol=self.protocol, type=self.scope_type,
            started_at=iso_utc(self.wall_start), state=self.state,
            duration_ms=round((self.end_ns - self.t0_ns) / 1e6, 3) if self.end_ns is not None else None,
            request=self._request(), response=self._response(), environ=environ, scope=scope,
            events=events, error=self.error, partial=self.partial,
            disconnected=self.disconnected, events_dropped=self.events_dropped,
        )

    def head(self) -> Trace:
        """The trace without its events, environ or scope, and unchecked: what listing and filtering need.

        A store filtering thousands of traces calls this instead of :meth:`snapshot`, so a
        search never builds (and runs the rules over) every trace it merely looks at.
        """
        cached = self._head_cache
        if cached is not None and cached[0] == self.version and self.state == "complete":
            return cached[1]
        version = self.version
        try:
            trace = self._trace((), None, None)
        except Exception as bug:
            self.fail(bug)
            trace = self._fallback()
        if trace.complete:
            self._head_cache = (version, trace)
        return trace

    def _fallback(self) -> Trace:
        """A minimal trace, for when building the full one failed."""
        return Trace(id=self.trace_id, protocol=self.protocol, type=self.scope_type,
                     started_at=iso_utc(self.wall_start), state=self.state, duration_ms=None,
                     request=Request(None, "", "", None, None, None, ()), response=None,
                     environ=None, scope=None, events=(), error=self.error, partial=True)

    def _event_fields(self, kind: str, payload: Payload) -> dict[str, Any]:
        raise NotImplementedError

    def _context(self, redactor: Any) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
        raise NotImplementedError

    def _request(self) -> Request:
        raise NotImplementedError

    def _response(self) -> Response | None:
        raise NotImplementedError


def exception_fields(payload: tuple[str, ErrorInfo]) -> dict[str, Any]:
    where, info = payload
    return {"where": where, "type": info.type, "message": info.message}


def iso_utc(ts: float) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).isoformat(timespec="microseconds").replace("+00:00", "Z")


Listener = Callable[[Recorder], None]
