"""The checker never raises: arbitrary recorded values, malformed messages, odd traces, broken rules."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import gwinspect
from gwinspect import rules
from gwinspect.model import Blob, Event, Request, Trace
from gwinspect.rules import check
from gwinspect.rules.catalogue import BY_ID

blobs = st.builds(lambda b, t: Blob(b, len(b) + (5 if t else 0), t), st.binary(max_size=8), st.booleans())
scalars = st.one_of(st.none(), st.booleans(), st.integers(-2, 70000), st.floats(allow_nan=False),
                    st.text(max_size=8), blobs)
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                       st.dictionaries(st.text(max_size=4), inner, max_size=3)),
                      max_leaves=5)
# Field values: mostly scalars, sometimes header-like lists of pairs (cheaper to draw than deep recursion).
fields = st.one_of(scalars, st.lists(st.lists(st.one_of(blobs, st.text(max_size=4)), max_size=3), max_size=3))
TYPES = ["http.request", "http.disconnect", "http.response.start", "http.response.body", "http.response.trailers",
         "websocket.connect", "websocket.accept", "websocket.send", "websocket.receive", "websocket.close",
         "websocket.disconnect", "websocket.http.response.start", "websocket.http.response.body",
         "lifespan.startup", "lifespan.startup.complete", "lifespan.shutdown", "lifespan.shutdown.failed", "bogus"]
KEYS = ["body", "more_body", "status", "headers", "trailers", "text", "bytes", "code", "reason", "subprotocol",
        "more_trailers", "message", "path"]
messages = st.one_of(
    st.fixed_dictionaries({"type": st.sampled_from(TYPES)}, optional={k: fields for k in KEYS}),
    values,  # not even a dict
)
events = st.one_of(
    st.builds(lambda kind, m: Event(1.0, kind, {"message": m}), st.sampled_from(["receive", "send"]), messages),
    st.builds(lambda kind, f: Event(1.0, kind, f),
              st.sampled_from(["start_response", "write", "chunk", "input", "close", "file", "exception", "x"]),
              st.dictionaries(st.sampled_from(["status", "headers", "exc_info", "data", "call", "exhausted", "file"]),
                              fields, max_size=4)),
)


def make_trace(protocol: str, kind: str, evs: list[Event], context: Any, state: str, method: Any) -> Trace:
    return Trace(id="fuzzfuzzfuzzfuzz", protocol=protocol, type=kind, started_at="2020-01-01T00:00:00Z",
                 state=state, duration_ms=1.0, request=Request(method, "/", "", "1.1", "http", None, ()),
                 response=None, environ=context if protocol == "wsgi" else None,
                 scope=context if protocol == "asgi" else None, events=tuple(evs))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(protocol=st.sampled_from(["wsgi", "asgi"]), kind=st.sampled_from(["http", "websocket", "lifespan", "zzz"]),
       evs=st.lists(events, max_size=12), context=st.one_of(st.none(), values, st.dictionaries(
           st.sampled_from(["REQUEST_METHOD", "CONTENT_LENGTH", "wsgi.version", "http_version", "headers",
                            "asgi", "query_string", "path", "subprotocols", "extensions", "SERVER_PORT"]), fields)),
       state=st.sampled_from(["complete", "in_progress"]),
       method=st.one_of(st.none(), st.sampled_from(["GET", "HEAD"])))
def test_checker_never_raises_and_violations_are_well_formed(protocol: str, kind: str, evs: list[Event],
                                                             context: Any, state: str, method: Any) -> None:
    trace = make_trace(protocol, kind, evs, context, state, method)
    for fn in rules.checks_for(trace):  # each check on its own: check() would hide (log) a failing one
        list(fn(trace))
    found = check(trace)
    for v in found:
        assert v.rule in BY_ID and v.severity == BY_ID[v.rule].severity
        assert v.event is None or 0 <= v.event < len(trace.events)
        assert isinstance(v.message, str) and "\n" not in v.message
    assert Trace.from_dict(trace.to_dict() | {"violations": [v.to_dict() for v in found]}).violations == found


@settings(max_examples=30, deadline=None)
@given(sent=st.lists(messages, max_size=6))
def test_live_asgi_app_sending_garbage_is_recorded_and_checked(sent: list[Any]) -> None:
    """Garbage from a real app through the real recorder: still one readable, checked trace."""
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        for message in sent:
            await send(message)

    inspector = gwinspect.wrap(app, protocol="asgi", panel=False)

    async def receive() -> dict[str, Any]:
        return {"type": "http.request"}

    async def send(message: Any) -> None:
        return None
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "path": "/",
             "query_string": b"", "headers": []}
    asyncio.run(inspector(scope, receive, send))
    (trace,) = inspector.store.list()
    assert trace.complete
    # The recorder keeps dict messages as sent (anything else marks the trace partial); every kept
    # message was checked: a type that is not a str, or unknown, is reported.
    assert not trace.partial or any(not isinstance(m, dict) for m in sent)
    for i, event in enumerate(trace.events):
        message = event.message
        if event.kind == "send" and message is not None and not isinstance(message.get("type"), str):
            assert any(v.rule == "ASGI-MSG-001" and v.event == i for v in trace.violations)


def test_a_broken_rule_does_not_stop_the_others(monkeypatch: pytest.MonkeyPatch,
                                                caplog: pytest.LogCaptureFixture) -> None:
    def broken(trace: Trace) -> Any:
        yield "WSGI-START-002", "found before the bug", None
        raise RuntimeError("bug in a rule")
    monkeypatch.setitem(rules.CHECKS_BY_KIND, ("wsgi", "http"), (broken, *rules.CHECKS_BY_KIND["wsgi", "http"]))
    trace = make_trace("wsgi", "http", [Event(0.0, "chunk", {"data": "text"})], {}, "complete", "GET")
    with caplog.at_level(logging.WARNING, logger="gwinspect"):
        found = {v.rule for v in check(trace)}
    assert {"WSGI-START-002", "WSGI-ITER-001", "WSGI-START-001"} <= found


def test_a_flood_of_identical_violations_is_capped() -> None:
    evs = [Event(0.0, "start_response", {"status": "200 OK", "headers": []})]
    evs += [Event(0.0, "chunk", {"data": "text"}) for _ in range(500)]
    found = check(make_trace("wsgi", "http", evs, {}, "complete", "GET"))
    assert sum(v.rule == "WSGI-ITER-001" for v in found) == rules.MAX_PER_RULE
