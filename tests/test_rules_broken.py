"""For every rule: a small broken app (or server) that triggers it, and its corrected twin that does not."""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Callable
from typing import Any

import pytest

from gwinspect.model import Trace
from gwinspect.rules import check
from gwinspect.rules.catalogue import RULES
from tests.rules_helpers import asgi_trace, bad_input, rules_of, wsgi_trace

TEXT = [("Content-Type", "text/plain")]


def wsgi_app(status: Any = "200 OK", headers: Any = None, body: Any = (b"hello",), *, twice: bool = False) -> Any:
    def app(environ: dict[str, Any], start_response: Any) -> Any:
        start_response(status, TEXT if headers is None else headers)
        if twice:
            start_response(status, TEXT if headers is None else headers)
        return list(body)
    return app


def no_start(environ: Any, start_response: Any) -> Any:
    return []


def body_then_restart(exc_info: bool) -> Any:
    def app(environ: Any, start_response: Any) -> Any:
        start_response("200 OK", TEXT)
        yield b"partial"
        try:
            raise ValueError("late failure")
        except ValueError:
            start_response("500 Internal Server Error", TEXT, sys.exc_info() if exc_info else None)
        yield b"error page"
    return app


def writer(data: Any) -> Any:
    def app(environ: Any, start_response: Any) -> Any:
        start_response("200 OK", TEXT)(data)
        return []
    return app


def lazy_start(early: bool) -> Any:
    def app(environ: Any, start_response: Any) -> Any:
        if early:
            yield b"too soon"
        start_response("200 OK", TEXT)
        yield b"body"
    return app


def reader(bounded: bool) -> Any:
    def app(environ: Any, start_response: Any) -> Any:
        stream = environ["wsgi.input"]
        stream.read(int(environ.get("CONTENT_LENGTH") or 0)) if bounded else stream.read()
        start_response("200 OK", TEXT)
        return [b"ok"]
    return app


def env_tweak(**changes: Any) -> Callable[[dict[str, Any]], None]:
    def tweak(env: dict[str, Any]) -> None:
        for key, value in changes.items():
            if value is KeyError:
                env.pop(key.replace("__", "."), None)
            else:
                env[key.replace("__", ".")] = value
    return tweak


def past(trace: Trace) -> Trace:
    """The same trace, as read a minute after it finished."""
    return dataclasses.replace(trace, started_at="2020-01-01T00:00:00.000000Z", violations=())


OK = wsgi_app()
# rule -> (broken trace, fixed trace), built lazily so a failure names its rule.
WSGI_CASES: dict[str, tuple[Callable[[], Trace], Callable[[], Trace]]] = {
    "WSGI-START-001": (lambda: wsgi_trace(no_start), lambda: wsgi_trace(OK)),
    "WSGI-START-002": (lambda: wsgi_trace(wsgi_app(twice=True)), lambda: wsgi_trace(OK)),
    "WSGI-START-003": (lambda: wsgi_trace(body_then_restart(False)), lambda: wsgi_trace(body_then_restart(True))),
    "WSGI-STATUS-001": (lambda: wsgi_trace(wsgi_app(b"200 OK")), lambda: wsgi_trace(OK)),
    "WSGI-STATUS-002": (lambda: wsgi_trace(wsgi_app("200OK")), lambda: wsgi_trace(OK)),
    "WSGI-STATUS-003": (lambda: wsgi_trace(wsgi_app("200 ")), lambda: wsgi_trace(OK)),
    "WSGI-HDR-001": (lambda: wsgi_trace(wsgi_app(headers={"Content-Type": "text/plain"})), lambda: wsgi_trace(OK)),
    "WSGI-HDR-002": (lambda: wsgi_trace(wsgi_app(headers=[("Content-Type", b"text/plain")])),
                     lambda: wsgi_trace(OK)),
    "WSGI-HDR-003": (lambda: wsgi_trace(wsgi_app(headers=[("X-Name", "snow \u2603")])),
                     lambda: wsgi_trace(wsgi_app(headers=[("X-Name", "caf\xe9")]))),
    "WSGI-HDR-004": (lambda: wsgi_trace(wsgi_app(headers=[("Bad Name", "x")])),
                     lambda: wsgi_trace(wsgi_app(headers=[("Good-Name", "x")]))),
    "WSGI-HDR-005": (lambda: wsgi_trace(wsgi_app(headers=[("X-A", "a\r\nInjected: 1")])),
                     lambda: wsgi_trace(wsgi_app(headers=[("X-A", "a\tb")]))),
    "WSGI-HDR-006": (lambda: wsgi_trace(wsgi_app(headers=[*TEXT, ("Connection", "close")])), lambda: wsgi_trace(OK)),
    "WSGI-HDR-007": (lambda: wsgi_trace(wsgi_app(headers=[("Content-Length", "5 bytes")])),
                     lambda: wsgi_trace(wsgi_app(headers=[("Content-Length", "5")]))),
    "WSGI-WRITE-001": (lambda: wsgi_trace(writer("text")), lambda: wsgi_trace(writer(b"bytes"))),
    "WSGI-WRITE-002": (lambda: wsgi_trace(lazy_start(True)), lambda: wsgi_trace(lazy_start(False))),
    "WSGI-ITER-001": (lambda: wsgi_trace(wsgi_app(body=["text"])), lambda: wsgi_trace(OK)),
    "WSGI-CLOSE-001": (lambda: past(wsgi_trace(OK, close=False)), lambda: past(wsgi_trace(OK))),
    "WSGI-LEN-001": (lambda: wsgi_trace(wsgi_app(headers=[("Content-Length", "10")])),
                     lambda: wsgi_trace(wsgi_app(headers=[("Content-Length", "5")]))),
    "WSGI-BODY-001": (lambda: wsgi_trace(wsgi_app("204 No Content")),
                      lambda: wsgi_trace(wsgi_app("204 No Content", body=()))),
    "WSGI-BODY-002": (lambda: wsgi_trace(OK, "HEAD"), lambda: wsgi_trace(wsgi_app(body=()), "HEAD")),
    "WSGI-INPUT-001": (lambda: wsgi_trace(reader(False), environ=env_tweak(CONTENT_LENGTH="3",
                                                                           wsgi__input=bad_input(10))),
                       lambda: wsgi_trace(reader(True), environ=env_tweak(CONTENT_LENGTH="3",
                                                                          wsgi__input=bad_input(10)))),
    "WSGI-ENV-001": (lambda: wsgi_trace(OK, environ=env_tweak(SERVER_NAME=KeyError)), lambda: wsgi_trace(OK)),
    "WSGI-ENV-002": (lambda: wsgi_trace(OK, environ=env_tweak(SERVER_PORT=80)), lambda: wsgi_trace(OK)),
    "WSGI-ENV-003": (lambda: wsgi_trace(OK, environ=env_tweak(PATH_INFO="/\u2603")),
                     lambda: wsgi_trace(OK, environ=env_tweak(PATH_INFO="/\xe2\x98\x83"))),
    "WSGI-ENV-004": (lambda: wsgi_trace(OK, environ=env_tweak(wsgi__url_scheme="ftp", wsgi__multithread=0)),
                     lambda: wsgi_trace(OK)),
}


# ---- ASGI apps ---------------------------------------------------------------
START = {"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]}
BODY = {"type": "http.response.body", "body": b"hello"}


def sends(*messages: dict[str, Any], receive_first: bool = True, receive_after: int = 0) -> Any:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        if receive_first:
            await receive()
        for message in messages:
            await send(message)
        for _ in range(receive_after):
            await receive()
    return app


def ws(*messages: dict[str, Any], receive_first: bool = True, receive_after: int = 0) -> Any:
    return sends(*messages, receive_first=receive_first, receive_after=receive_after)


def lifespan(*steps: str) -> Any:
    """Steps: 'r' receive, anything else is sent as a message type."""
    async def app(scope: Any, receive: Any, send: Any) -> None:
        for step in steps:
            if step == "r":
                await receive()
            else:
                await send({"type": step})
    return app


def talks_after_disconnect(talks: bool) -> Any:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await send(ACCEPT)
        await receive()  # websocket.disconnect: the client is gone
        if talks:
            await send(SEND_TEXT)
    return app


ACCEPT = {"type": "websocket.accept"}
CLOSE = {"type": "websocket.close", "code": 1000}
SEND_TEXT = {"type": "websocket.send", "text": "hi"}
OK_HTTP = sends(START, BODY)
OK_WS = ws(ACCEPT, SEND_TEXT, CLOSE)
STARTUP, SHUTDOWN = {"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}


def scope_set(**changes: Any) -> Callable[[dict[str, Any]], None]:
    def tweak(scope: dict[str, Any]) -> None:
        for key, value in changes.items():
            if value is KeyError:
                scope.pop(key, None)
            else:
                scope[key] = value
    return tweak


def with_headers(headers: list[tuple[bytes, bytes]]) -> dict[str, Any]:
    return {**START, "headers": headers}


def lf(*steps: str, incoming: list[dict[str, Any]] | None = None) -> Trace:
    return asgi_trace(lifespan(*steps), "lifespan", incoming or [STARTUP, SHUTDOWN])


ASGI_CASES: dict[str, tuple[Callable[[], Trace], Callable[[], Trace]]] = {
    "ASGI-SCOPE-001": (lambda: asgi_trace(OK_HTTP, scope=scope_set(asgi=KeyError)), lambda: asgi_trace(OK_HTTP)),
    "ASGI-SCOPE-002": (lambda: asgi_trace(OK_HTTP, scope=scope_set(method=KeyError)), lambda: asgi_trace(OK_HTTP)),
    "ASGI-SCOPE-003": (lambda: asgi_trace(OK_HTTP, scope=scope_set(path=b"/")),
                       lambda: asgi_trace(OK_HTTP, scope=scope_set(path="/"))),
    "ASGI-SCOPE-004": (lambda: asgi_trace(OK_HTTP, scope=scope_set(http_version="1.2")),
                       lambda: asgi_trace(OK_HTTP, scope=scope_set(http_version="2"))),
    "ASGI-SCOPE-005": (lambda: asgi_trace(OK_HTTP, scope=scope_set(headers=[(b"Host", b"x")])),
                       lambda: asgi_trace(OK_HTTP, scope=scope_set(headers=[(b"host", b"x")]))),
    "ASGI-SCOPE-006": (lambda: asgi_trace(OK_HTTP, scope=scope_set(query_string="")),
                       lambda: asgi_trace(OK_HTTP, scope=scope_set(query_string=b""))),
    "ASGI-MSG-001": (lambda: asgi_trace(sends({"status": 200}, START, BODY)), lambda: asgi_trace(OK_HTTP)),
    "ASGI-MSG-002": (lambda: asgi_trace(sends(START, {"type": "http.response.pathsend", "path": "/etc/hostname"})),
                     lambda: asgi_trace(sends(START, {"type": "http.response.pathsend", "path": "/etc/hostname"}),
                                        scope=scope_set(extensions={"http.response.pathsend": {}}))),
    "ASGI-MSG-006": (lambda: asgi_trace(sends(START, BODY, receive_after=1),
                                        incoming=[{"type": "http.request"}, {"type": "http.ping"}]),
                     lambda: asgi_trace(sends(START, BODY, receive_after=1))),
    "ASGI-MSG-003": (lambda: asgi_trace(sends({**START, "status": "200"}, BODY)), lambda: asgi_trace(OK_HTTP)),
    "ASGI-MSG-004": (lambda: asgi_trace(sends(with_headers([(b"Content-Type", b"text/plain")]), BODY)),
                     lambda: asgi_trace(OK_HTTP)),
    "ASGI-MSG-005": (lambda: asgi_trace(ws({**ACCEPT, "headers": [(b"x-a", b"1")]}, CLOSE), "websocket",
                                        scope=scope_set(asgi={"version": "3.0", "spec_version": "2.0"})),
                     lambda: asgi_trace(ws({**ACCEPT, "headers": [(b"x-a", b"1")]}, CLOSE), "websocket")),
    "ASGI-HTTP-001": (lambda: asgi_trace(sends(BODY, START, BODY)), lambda: asgi_trace(OK_HTTP)),
    "ASGI-HTTP-002": (lambda: asgi_trace(sends(START, START, BODY)), lambda: asgi_trace(OK_HTTP)),
    "ASGI-HTTP-003": (lambda: asgi_trace(sends(START, BODY, BODY)), lambda: asgi_trace(OK_HTTP)),
    "ASGI-HTTP-004": (lambda: asgi_trace(sends(START, BODY, {"type": "http.response.trailers", "headers": []}),
                                         scope=scope_set(extensions={"http.response.trailers": {}})),
                      lambda: asgi_trace(sends({**START, "trailers": True}, BODY,
                                               {"type": "http.response.trailers", "headers": []}),
                                         scope=scope_set(extensions={"http.response.trailers": {}}))),
    "ASGI-HTTP-005": (lambda: asgi_trace(sends(START, {**BODY, "more_body": True})), lambda: asgi_trace(OK_HTTP)),
    "ASGI-HTTP-006": (lambda: asgi_trace(sends(with_headers([(b"content-length", b"10")]), BODY)),
                      lambda: asgi_trace(sends(with_headers([(b"content-length", b"5")]), BODY))),
    "ASGI-HTTP-007": (lambda: asgi_trace(sends({**START, "status": 304}, BODY)),
                      lambda: asgi_trace(sends({**START, "status": 304}, {"type": "http.response.body"}))),
    "ASGI-HTTP-008": (lambda: asgi_trace(OK_HTTP, method="HEAD"),
                      lambda: asgi_trace(sends(START, {"type": "http.response.body"}), method="HEAD")),
    "ASGI-HTTP-009": (lambda: asgi_trace(sends(START, BODY, receive_after=2)),
                      lambda: asgi_trace(sends(START, BODY, receive_after=1))),
    "ASGI-HTTP-010": (lambda: asgi_trace(sends(START, BODY, receive_after=1),
                                         incoming=[{"type": "http.request"}, {"type": "http.request"}]),
                      lambda: asgi_trace(sends(START, BODY, receive_after=1),
                                         incoming=[{"type": "http.request", "more_body": True},
                                                   {"type": "http.request"}])),
    "ASGI-WS-001": (lambda: asgi_trace(ws(SEND_TEXT, ACCEPT, CLOSE), "websocket"),
                    lambda: asgi_trace(OK_WS, "websocket")),
    "ASGI-WS-002": (lambda: asgi_trace(ws(ACCEPT, ACCEPT, CLOSE), "websocket"), lambda: asgi_trace(OK_WS, "websocket")),
    "ASGI-WS-003": (lambda: asgi_trace(ws(ACCEPT, CLOSE, SEND_TEXT), "websocket"),
                    lambda: asgi_trace(OK_WS, "websocket")),
    "ASGI-WS-004": (lambda: asgi_trace(ws(ACCEPT, {**SEND_TEXT, "bytes": b"hi"}, CLOSE), "websocket"),
                    lambda: asgi_trace(ws(ACCEPT, {**SEND_TEXT, "bytes": None}, CLOSE), "websocket")),
    "ASGI-WS-005": (lambda: asgi_trace(ws(ACCEPT, {**CLOSE, "code": 1005}), "websocket"),
                    lambda: asgi_trace(ws(ACCEPT, {**CLOSE, "code": 4000}), "websocket")),
    "ASGI-WS-006": (lambda: asgi_trace(ws(ACCEPT, {**CLOSE, "code": 2000}), "websocket"),
                    lambda: asgi_trace(ws(ACCEPT, {**CLOSE, "code": 1011}), "websocket")),
    "ASGI-WS-007": (lambda: asgi_trace(ws(ACCEPT, {**CLOSE, "reason": "x" * 200}), "websocket"),
                    lambda: asgi_trace(ws(ACCEPT, {**CLOSE, "reason": "x" * 100}), "websocket")),
    "ASGI-WS-008": (lambda: asgi_trace(ws({"type": "websocket.http.response.start", "status": 403, "headers": []},
                                          {"type": "websocket.http.response.body", "body": b"no"}), "websocket"),
                    lambda: asgi_trace(ws({"type": "websocket.http.response.start", "status": 403, "headers": []},
                                          {"type": "websocket.http.response.body", "body": b"no"}), "websocket",
                                       scope=scope_set(extensions={"websocket.http.response": {}}))),
    "ASGI-WS-009": (lambda: asgi_trace(ws({**ACCEPT, "subprotocol": "chat"}, CLOSE), "websocket"),
                    lambda: asgi_trace(ws({**ACCEPT, "subprotocol": "chat"}, CLOSE), "websocket",
                                       scope=scope_set(subprotocols=["chat"]))),
    "ASGI-WS-010": (lambda: asgi_trace(ws(ACCEPT, receive_after=2), "websocket"),
                    lambda: asgi_trace(ws(ACCEPT, receive_after=1), "websocket")),
    "ASGI-WS-011": (lambda: asgi_trace(ws(ACCEPT, CLOSE, receive_first=False), "websocket"),
                    lambda: asgi_trace(OK_WS, "websocket")),
    "ASGI-WS-012": (lambda: asgi_trace(talks_after_disconnect(True), "websocket"),
                    lambda: asgi_trace(talks_after_disconnect(False), "websocket")),
    "ASGI-LS-001": (lambda: lf("lifespan.startup.complete", "r", "r", "lifespan.shutdown.complete"),
                    lambda: lf("r", "lifespan.startup.complete", "r", "lifespan.shutdown.complete")),
    "ASGI-LS-002": (lambda: lf("r", "lifespan.startup.complete", "lifespan.startup.failed", "r",
                               "lifespan.shutdown.complete"),
                    lambda: lf("r", "lifespan.startup.complete", "r", "lifespan.shutdown.complete")),
    "ASGI-LS-003": (lambda: lf("r", "lifespan.startup.complete", "r"),
                    lambda: lf("r", "lifespan.startup.complete", "r", "lifespan.shutdown.complete")),
    "ASGI-LS-004": (lambda: lf("r", "lifespan.startup.complete", "r", "lifespan.shutdown.complete", "r",
                               incoming=[STARTUP, SHUTDOWN, SHUTDOWN]),
                    lambda: lf("r", "lifespan.startup.complete", "r", "lifespan.shutdown.complete")),
}
CASES = {**WSGI_CASES, **ASGI_CASES}


def test_every_rule_has_a_broken_and_a_fixed_case() -> None:
    assert set(CASES) == {r.id for r in RULES}


@pytest.mark.parametrize("rule_id", sorted(CASES))
def test_broken_app_triggers_rule_and_fixed_twin_does_not(rule_id: str) -> None:
    broken, fixed = CASES[rule_id]
    broken_trace, fixed_trace = broken(), fixed()
    if rule_id == "WSGI-CLOSE-001":  # judged when read later: re-check the back-dated copies
        broken_trace = dataclasses.replace(broken_trace, violations=check(broken_trace))
        fixed_trace = dataclasses.replace(fixed_trace, violations=check(fixed_trace))
    assert rule_id in rules_of(broken_trace), broken_trace.violations
    assert rule_id not in rules_of(fixed_trace), fixed_trace.violations
    hit = next(v for v in broken_trace.violations if v.rule == rule_id)
    assert hit.event is None or 0 <= hit.event < len(broken_trace.events)


def test_close_is_not_reported_while_the_server_may_still_call_it() -> None:
    trace = wsgi_trace(OK, close=False)  # just finished: a server calls close() right after the last chunk
    assert "WSGI-CLOSE-001" not in rules_of(trace)


def test_violation_points_at_the_event_that_caused_it() -> None:
    trace = wsgi_trace(wsgi_app(body=[b"ok", "oops"]))
    hit = next(v for v in trace.violations if v.rule == "WSGI-ITER-001")
    assert hit.event is not None
    assert trace.events[hit.event].kind == "chunk" and trace.events[hit.event].fields["data"] == "oops"
