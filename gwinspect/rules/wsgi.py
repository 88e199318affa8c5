"""WSGI checks (PEP 3333), computed from a recorded trace.

Events: ``start_response`` (status, headers, exc_info), ``write``/``chunk``
(data), ``input`` (call, data), ``close`` (exhausted), ``file`` and
``exception``. PEP 3333 counts the headers as sent when the first non-empty
bytestring goes out, which is when a second ``start_response`` needs exc_info.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from ..model import Blob, Event, Trace
from .values import (
    HOP_BY_HOP,
    Check,
    Finding,
    content_length,
    control_chars,
    header_values,
    is_final,
    is_token,
    kind_of,
    no_body_status,
    non_latin1,
    pairs,
    show,
    size_of,
)

REQUIRED_ENVIRON = ("REQUEST_METHOD", "SERVER_NAME", "SERVER_PORT", "SERVER_PROTOCOL", "wsgi.version",
                    "wsgi.url_scheme", "wsgi.input", "wsgi.errors", "wsgi.multithread", "wsgi.multiprocess",
                    "wsgi.run_once")
# The CGI meta-variables (RFC 3875) and HTTP_* ones. Other upper-case keys are server extensions
# (werkzeug's dev server puts REMOTE_PORT as an int) that PEP 3333 does not type.
CGI_VARIABLES = frozenset({
    "AUTH_TYPE", "CONTENT_LENGTH", "CONTENT_TYPE", "GATEWAY_INTERFACE", "PATH_INFO", "PATH_TRANSLATED",
    "QUERY_STRING", "REMOTE_ADDR", "REMOTE_HOST", "REMOTE_IDENT", "REMOTE_USER", "REQUEST_METHOD", "SCRIPT_NAME",
    "SERVER_NAME", "SERVER_PORT", "SERVER_PROTOCOL", "SERVER_SOFTWARE"})
_STATUS = re.compile(r"^([1-9][0-9][0-9]) (.*)$", re.DOTALL)
# A finished response whose iterable has not been closed this long after it ended never will be:
# servers call close() right after the last chunk, so an early reader must not conclude anything.
CLOSE_GRACE_S = 5.0
BODY_KINDS = ("write", "chunk")


def _starts(trace: Trace) -> list[tuple[int, Event]]:
    return [(i, e) for i, e in enumerate(trace.events) if e.kind == "start_response"]


def _effective_start(trace: Trace) -> tuple[int, Event] | None:
    """The start_response whose status and headers the server sent: the last one before body bytes."""
    chosen = None
    for i, event in enumerate(trace.events):
        if event.kind == "start_response":
            chosen = (i, event)
        elif event.kind in BODY_KINDS and (size_of(event.fields.get("data")) or 0) > 0 and chosen is not None:
            return chosen
    return chosen


def _status_code(event: Event) -> int | None:
    status = event.fields.get("status")
    if isinstance(status, str) and status[:3].isdigit():
        return int(status[:3])
    return None


def _environ(trace: Trace) -> dict[str, Any]:
    return trace.environ if isinstance(trace.environ, dict) else {}


def check_environ(trace: Trace) -> Iterator[Finding]:
    env = trace.environ
    if not isinstance(env, dict):
        return
    for key in REQUIRED_ENVIRON:
        if key not in env:
            yield "WSGI-ENV-001", f"environ has no {key!r}", None
    for key, value in env.items():
        if not isinstance(key, str) or not (key in CGI_VARIABLES or key.startswith("HTTP_")):
            continue
        if not isinstance(value, str):
            yield "WSGI-ENV-002", f"environ[{key!r}] is {kind_of(value)} {show(value)}, not str", None
        elif non_latin1(value):
            yield "WSGI-ENV-003", f"environ[{key!r}] = {show(value)} has characters above U+00FF", None
    version = env.get("wsgi.version")
    if "wsgi.version" in env and version != [1, 0]:
        yield "WSGI-ENV-004", f"wsgi.version is {show(version)}, not (1, 0)", None
    scheme = env.get("wsgi.url_scheme")
    if "wsgi.url_scheme" in env and scheme not in ("http", "https"):
        yield "WSGI-ENV-004", f"wsgi.url_scheme is {show(scheme)}, not 'http' or 'https'", None
    for key in ("wsgi.multithread", "wsgi.multiprocess", "wsgi.run_once"):
        if key in env and not isinstance(env[key], bool):
            yield "WSGI-ENV-004", f"{key} is {kind_of(env[key])} {show(env[key])}, not bool", None


def check_start_response(trace: Trace) -> Iterator[Finding]:
    started = False
    headers_sent = False
    for i, event in enumerate(trace.events):
        if event.kind == "start_response":
            if started and not event.fields.get("exc_info"):
                if headers_sent:
                    yield "WSGI-START-003", "start_response() called after body bytes were sent, without exc_info", i
                else:
                    yield "WSGI-START-002", "start_response() called a second time without exc_info", i
            started = True
        elif event.kind in BODY_KINDS and (size_of(event.fields.get("data")) or 0) > 0:
            if not started:
                via = "write()" if event.kind == "write" else "the response iterable"
                yield "WSGI-WRITE-002", f"{via} sent body bytes before start_response() was called", i
            headers_sent = True
        elif event.kind == "file" and not started:
            yield "WSGI-WRITE-002", "a wsgi.file_wrapper response was returned before start_response()", i
    if not started and is_final(trace) and trace.error is None and not trace.disconnected:
        yield "WSGI-START-001", "the response finished without a call to start_response()", None


def check_status(trace: Trace) -> Iterator[Finding]:
    for i, event in _starts(trace):
        status = event.fields.get("status")
        if not isinstance(status, str):
            yield "WSGI-STATUS-001", f"status is {kind_of(status)} {show(status)}, not str", i
            continue
        match = _STATUS.match(status)
        if match is None or control_chars(match.group(2)) or non_latin1(status):
            yield "WSGI-STATUS-002", f"status {show(status)} is not of the form '200 OK'", i
        elif not match.group(2).strip():
            yield "WSGI-STATUS-003", f"status {show(status)} has no reason phrase", i


def check_headers(trace: Trace) -> Iterator[Finding]:
    for i, event in _starts(trace):
        raw = event.fields.get("headers")
        items = pairs(raw)
        if items is None:
            yield "WSGI-HDR-001", f"headers are {show(raw)}, not a list of (name, value) tuples", i
            continue
        for name, value in items:
            bad = [f"{part} {show(v)} is {kind_of(v)}" for part, v in (("name", name), ("value", value))
                   if not isinstance(v, str)]
            if bad:
                yield "WSGI-HDR-002", f"header {' and '.join(bad)}, not str", i
                continue
            if non_latin1(name) or non_latin1(value):
                yield "WSGI-HDR-003", f"header {show(name)}: {show(value)} has characters above U+00FF", i
            if not is_token(name):
                yield "WSGI-HDR-004", f"header name {show(name)} is not a valid token", i
            if control_chars(value):
                yield "WSGI-HDR-005", f"header {show(name)} has control characters in its value {show(value)}", i
            if name.lower() in HOP_BY_HOP:
                yield "WSGI-HDR-006", f"hop-by-hop header {show(name)} set by the application", i
        lengths = header_values(raw, "content-length")
        if lengths and (len(set(lengths)) > 1 or not lengths[0].strip().isdigit()):
            yield "WSGI-HDR-007", f"Content-Length is {show(lengths if len(lengths) > 1 else lengths[0])}", i


def check_body_items(trace: Trace) -> Iterator[Finding]:
    for i, event in enumerate(trace.events):
        if event.kind not in BODY_KINDS:
            continue
        data = event.fields.get("data")
        if isinstance(data, Blob):
            continue
        if event.kind == "write":
            yield "WSGI-WRITE-001", f"write() called with {kind_of(data)} {show(data)}", i
        else:
            yield "WSGI-ITER-001", f"the response iterable yielded {kind_of(data)} {show(data)}", i


def _body(trace: Trace) -> tuple[int | None, int | None]:
    """(bytes sent, index of the first non-empty body event); size None when not all of it was bytes."""
    total: int | None = 0
    first = None
    for i, event in enumerate(trace.events):
        if event.kind in BODY_KINDS:
            n = size_of(event.fields.get("data"))
        elif event.kind == "file":
            file = event.fields.get("file")
            n = file.get("size") if isinstance(file, dict) and isinstance(file.get("size"), int) else None
        else:
            continue
        if n is None:
            total = None
        elif total is not None:
            total += n
        if first is None and (n is None or n > 0):
            first = i
    return total, first


def check_body(trace: Trace) -> Iterator[Finding]:
    start = _effective_start(trace)
    if start is None:
        return
    index, event = start
    code = _status_code(event)
    size, first = _body(trace)
    method = _environ(trace).get("REQUEST_METHOD")
    if first is not None and no_body_status(code):
        yield "WSGI-BODY-001", f"a {code} response carries body bytes", first
    elif first is not None and method == "HEAD":
        yield "WSGI-BODY-002", "the response to HEAD carries body bytes", first
    if not is_final(trace) or trace.error is not None or trace.disconnected or method == "HEAD":
        return
    declared = content_length(event.fields.get("headers"))
    if declared is None or size is None or no_body_status(code):
        return
    if declared != size:
        last = max((i for i, e in enumerate(trace.events) if e.kind in (*BODY_KINDS, "file")), default=index)
        yield "WSGI-LEN-001", f"Content-Length is {declared} but {size} body bytes were sent", last


def check_input(trace: Trace) -> Iterator[Finding]:
    env = _environ(trace)
    if env.get("wsgi.input_terminated") is True:
        return
    declared = env.get("CONTENT_LENGTH")
    if isinstance(declared, str) and declared.strip().isdigit():
        limit = int(declared)
    elif declared in (None, ""):
        limit = 0
    else:
        return
    total = 0
    for i, event in enumerate(trace.events):
        if event.kind == "input":
            total += size_of(event.fields.get("data")) or 0
            if total > limit:
                yield "WSGI-INPUT-001", f"read {total} bytes from wsgi.input; CONTENT_LENGTH is {limit}", i
                return


def check_close(trace: Trace) -> Iterator[Finding]:
    if not is_final(trace) or trace.error is not None or trace.duration_ms is None:
        return
    kinds = {e.kind for e in trace.events}
    if "close" in kinds or "file" in kinds or "start_response" not in kinds:
        return
    try:
        started = datetime.fromisoformat(trace.started_at.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return
    if time.time() - (started + trace.duration_ms / 1000) >= CLOSE_GRACE_S:
        yield "WSGI-CLOSE-001", "the iterable was read to its end but close() was never called", None


CHECKS: tuple[Check, ...] = (check_environ, check_start_response, check_status, check_headers, check_body_items,
                             check_body, check_input, check_close)
