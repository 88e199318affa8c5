"""ASGI HTTP checks: the response state machine, framing and the request side.

Response: ``http.response.start`` once, then body messages until one has
``more_body=False``, then trailers if ``trailers=True`` was announced, then
nothing. Extension messages that carry the body (pathsend, zerocopysend) count
as body messages; their bytes are not in the trace, so no length check then.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from ..model import Trace
from .values import (
    Check,
    Finding,
    content_length,
    is_final,
    message_type,
    messages,
    no_body_status,
    request_method,
    scope_extensions,
    size_of,
)

BODY_TYPES = ("http.response.body", "http.response.zerocopysend", "http.response.pathsend")


@dataclass
class Response:
    """What the app sent, as the state machine walks it."""

    start: int | None = None
    status: object = None
    headers: object = None
    trailers: bool = False
    body_done: bool = False
    trailers_done: bool = False
    size: int | None = 0  # None once a body was not bytes or went through an extension
    first_body: int | None = None  # index of the first message with body bytes
    last_body: int | None = None
    findings: list[Finding] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return self.body_done and (not self.trailers or self.trailers_done)


def _walk(trace: Trace) -> Response:
    r = Response()
    has_trailers_ext = "http.response.trailers" in scope_extensions(trace)
    for i, direction, _event, message in messages(trace):
        kind = message_type(message)
        if direction != "send" or message is None or kind is None:
            continue
        if kind == "http.response.trailers" and not r.trailers:
            r.findings.append(("ASGI-HTTP-004", "http.response.trailers sent but trailers=True was not "
                                                "announced in http.response.start", i))
            continue
        if r.complete:
            r.findings.append(("ASGI-HTTP-003", f"{kind} sent after the response was complete", i))
            continue
        if kind == "http.response.start":
            if r.start is not None:
                r.findings.append(("ASGI-HTTP-002", "http.response.start sent a second time", i))
                continue
            r.start, r.status, r.headers = i, message.get("status"), message.get("headers")
            r.trailers = message.get("trailers") is True
            if r.trailers and not has_trailers_ext:
                r.findings.append(("ASGI-HTTP-004", "trailers=True but the server did not offer "
                                                    "the http.response.trailers extension", i))
        elif kind in BODY_TYPES:
            if r.start is None:
                r.findings.append(("ASGI-HTTP-001", f"{kind} sent before http.response.start", i))
                r.start = -1  # report once; the rest of the walk goes on as if started
            if r.body_done:
                r.findings.append(("ASGI-HTTP-003", f"{kind} sent after the body was complete", i))
                continue
            n = size_of(message.get("body")) if kind == "http.response.body" else None
            if kind == "http.response.body" and "body" not in message:
                n = 0
            r.size = r.size + n if (r.size is not None and n is not None) else None
            if n is None or n > 0:
                r.first_body = i if r.first_body is None else r.first_body
                r.last_body = i
            r.body_done = kind == "http.response.pathsend" or message.get("more_body") is not True
        elif kind == "http.response.trailers":
            r.trailers_done = message.get("more_trailers") is not True
    return r


def check_response(trace: Trace) -> Iterator[Finding]:
    r = _walk(trace)
    yield from r.findings
    status = r.status if isinstance(r.status, int) else None
    method = request_method(trace)
    if r.first_body is not None and no_body_status(status):
        yield "ASGI-HTTP-007", f"a {status} response carries body bytes", r.first_body
    elif r.first_body is not None and method == "HEAD":
        yield "ASGI-HTTP-008", "the response to HEAD carries body bytes", r.first_body
    if not is_final(trace) or trace.error is not None or _client_left(trace):
        return
    last = len(trace.events) - 1 if trace.events else None
    if r.start is None:
        yield "ASGI-HTTP-005", "the application returned without sending http.response.start", last
    elif not r.body_done:
        yield "ASGI-HTTP-005", "the application returned before a body message with more_body=False", last
    elif r.trailers and not r.trailers_done:
        yield "ASGI-HTTP-004", "trailers were announced but the application returned without sending them", last
    declared = content_length(r.headers)
    if (r.body_done and declared is not None and r.size is not None and method != "HEAD"
            and not no_body_status(status) and declared != r.size):
        where = r.last_body if r.last_body is not None else r.start if (r.start or 0) >= 0 else None
        yield "ASGI-HTTP-006", f"content-length is {declared} but {r.size} body bytes were sent", where


def _client_left(trace: Trace) -> bool:
    return trace.disconnected or any(
        d == "receive" and message_type(m) == "http.disconnect" for _i, d, _e, m in messages(trace))


def check_request(trace: Trace) -> Iterator[Finding]:
    body_done = disconnected = False
    for i, direction, _event, message in messages(trace):
        if direction != "receive":
            continue
        kind = message_type(message)
        if disconnected:
            yield "ASGI-HTTP-009", f"receive() returned {kind or 'a message'} after http.disconnect", i
            return
        if kind == "http.disconnect":
            disconnected = True
        elif kind == "http.request" and message is not None:
            if body_done:
                yield "ASGI-HTTP-010", "http.request received after the request body was complete", i
            body_done = message.get("more_body") is not True


CHECKS: tuple[Check, ...] = (check_response, check_request)
