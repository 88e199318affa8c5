"""The terminal timeline and list, rendered into rich consoles over StringIO, from real traffic."""

from __future__ import annotations

import io
import re
from typing import Any

import pytest
from rich.console import Console
from starlette.testclient import TestClient
from werkzeug.test import Client

import gwinspect
from gwinspect.model import Event, Request, Response, Trace, Violation
from gwinspect.render.terminal import svg, timeline, trace_list

SGR = re.compile(r"\x1b\[[0-9;]*m")  # rich's own colour codes, the only escapes allowed out


def render(renderable: Any, width: int = 120, color: bool = False) -> str:
    console = Console(file=io.StringIO(), width=width, force_terminal=color, color_system="truecolor" if color
                      else None, highlight=False)
    console.print(renderable)
    out = console.file
    assert isinstance(out, io.StringIO)
    return out.getvalue()


def only(store: gwinspect.TraceStore, type_: str = "http") -> Trace:
    traces = [t for t in store.list(limit=100) if t.type == type_]
    assert len(traces) == 1, traces
    return traces[0]


def wsgi_app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    body = environ["wsgi.input"].read()
    start_response("201 Created", [("Content-Type", "application/json"), ("Set-Cookie", "session=s3cr3t")])
    return [b'{"got": ' + str(len(body)).encode() + b"}", b" and more"]


async def asgi_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            msg = await receive()
            kind = msg["type"] + ".complete"
            await send({"type": kind})
            if kind.startswith("lifespan.shutdown"):
                return
    if scope["type"] == "websocket":
        await receive()
        await send({"type": "websocket.accept"})
        while (msg := await receive())["type"] == "websocket.receive":
            await send({"type": "websocket.send", "text": "echo " + (msg.get("text") or "")})
        return
    await receive()
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    for part in (b"one ", b"two ", b"three"):
        await send({"type": "http.response.body", "body": part, "more_body": True})
    await send({"type": "http.response.body", "body": b""})


def test_wsgi_timeline_shows_header_and_every_call() -> None:
    w = gwinspect.wrap(wsgi_app)
    Client(w).post("/items?x=1", data=b'{"name": "widget"}', buffered=True)
    trace = only(w.store)
    out = render(timeline(trace, full=True))
    first = out.splitlines()[0]
    for part in ("WSGI http", "POST", "/items?x=1", "201", "↑18 B", "↓20 B"):
        assert part in first, (part, first)
    for part in ("→ input read", "← start_response", "201 Created", "content-type: application/json",
                 "← chunk", '{"name": "widget"}', "→ close", "iterable exhausted", "●"):
        assert part in out, (part, out)


def test_asgi_http_timeline_and_compact_merging() -> None:
    w = gwinspect.wrap(asgi_app)
    with TestClient(w) as client:
        assert client.get("/hello?name=x").text == "one two three"
    trace = only(w.store)
    full = render(timeline(trace, full=True))
    assert "ASGI http  GET  /hello?name=x  200" in full
    assert "receive http.request" in full and "send http.response.start" in full
    assert full.count("send http.response.body") == 4 and "more_body" in full
    compact = render(timeline(trace))
    assert compact.count("send http.response.body") == 1 and "x4  13 B in all" in compact


def test_websocket_and_lifespan_timelines() -> None:
    w = gwinspect.wrap(asgi_app)
    with TestClient(w) as client, client.websocket_connect("/ws") as ws:
        ws.send_text("hi")
        assert ws.receive_text() == "echo hi"
    ws_out = render(timeline(only(w.store, "websocket"), full=True))
    assert "ASGI websocket  /ws  101" in ws_out
    for part in ("receive websocket.connect", "send websocket.accept", "text 2 B", "text 7 B",
                 "receive websocket.disconnect"):
        assert part in ws_out, (part, ws_out)
    life = render(timeline(only(w.store, "lifespan")))
    assert "ASGI lifespan" in life
    assert "receive lifespan.startup" in life and "send lifespan.shutdown.complete" in life


def test_exception_shows_type_message_and_last_frames() -> None:
    def boom(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        raise ValueError("it broke\x1b[2J")
    w = gwinspect.wrap(boom)
    with pytest.raises(ValueError):
        Client(w).get("/boom")
    trace = only(w.store)
    compact = render(timeline(trace))
    assert "✖ exception in call" in compact and "ValueError: it broke\\x1b[2J" in compact
    assert 'File "' in compact and "in boom" in compact and "Traceback" not in compact
    assert "Traceback (most recent call last)" in render(timeline(trace, full=True))
    assert "\x1b" not in compact


def test_truncated_body_says_how_much_was_kept() -> None:
    def big(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"a" * 100]
    w = gwinspect.wrap(big, max_body=10)
    Client(w).get("/big", buffered=True)
    trace = only(w.store)
    assert "100 B  aaaaaaaaaa…" in render(timeline(trace))
    assert "… (10 B kept of 100 B)" in render(timeline(trace, full=True))


def test_redacted_headers_never_show_the_secret() -> None:
    w = gwinspect.wrap(wsgi_app)
    Client(w).get("/secret?access_token=abc123", headers={"Authorization": "Bearer hunter2"}, buffered=True)
    out = render(timeline(only(w.store), full=True))
    assert "authorization: [redacted]" in out and "Set-Cookie: [redacted]" in out
    assert "access_token=[redacted]" in out
    for secret in ("hunter2", "s3cr3t", "abc123"):
        assert secret not in out


HOSTILE = "\x1b]0;PWNED\x07\x1b[2J\r\n\x9b1m\u202e\x00\x7f[bold red]markup[/]\udcff"


def hostile_trace() -> Trace:
    events = (Event(0.1, "receive", {"message": {"type": "http.request", "body": gwinspect.Blob(
                  HOSTILE.encode("utf-8", "surrogatepass"), 40)}}),
              Event(0.2, "send", {"message": {"type": "http.response.start", "status": 200, "headers": [
                  [gwinspect.Blob(b"x-evil", 6), gwinspect.Blob(HOSTILE.encode("utf-8", "surrogatepass"), 40)]]}}),
              Event(0.3, "exception", {"where": "app", "type": HOSTILE, "message": HOSTILE}))
    return Trace(id="id" + HOSTILE, protocol="asgi", type="http", started_at="2026-01-01T00:00:00.000000Z",
                 state="complete", duration_ms=0.5,
                 request=Request("GET" + HOSTILE, "/p" + HOSTILE, "q=" + HOSTILE, "1.1", "http", "c" + HOSTILE,
                                 (("x-h" + HOSTILE, HOSTILE),)),
                 response=Response(200, (("x-evil", HOSTILE),), 3), environ=None, scope=None, events=events,
                 violations=(Violation("rule" + HOSTILE, "error", HOSTILE, 1), Violation("r", "warning", HOSTILE)),
                 error=gwinspect.ErrorInfo(HOSTILE, HOSTILE, "Traceback\n  File " + HOSTILE + "\nX: " + HOSTILE))


@pytest.mark.parametrize("full", [False, True])
@pytest.mark.parametrize("color", [False, True])
def test_hostile_text_is_escaped_everywhere(full: bool, color: bool) -> None:
    trace = hostile_trace()
    for out in (render(timeline(trace, full=full), width=400, color=color),
                render(trace_list([trace], 400), width=400, color=color)):
        text = SGR.sub("", out)
        for raw in ("\x1b", "\x07", "\r", "\x9b", "\u202e", "\x00", "\x7f", "\udcff"):
            assert raw not in text, (raw, text)
        assert "\\x1b]0;PWNED\\x07" in text and "\\u202e" in text
        assert "[bold red]markup[/]" in text  # shown as text, never parsed as rich markup
        for line in text.splitlines():  # the LF inside the fields never starts a line of its own
            assert not line.startswith("\\x9b"), line
    out = render(timeline(trace, full=True))
    assert "\\r\\n\\x9b1m" in out  # escaped CR LF inside a header value


def test_violations_are_marked_at_their_event() -> None:
    trace = hostile_trace()
    lines = render(timeline(trace), width=140).splitlines()
    start = next(i for i, ln in enumerate(lines) if "send http.response.start" in ln)
    assert "! error rule" in lines[start + 1] and "#1" in lines[start + 1]
    assert any("! warning r:" in ln for ln in lines[start + 2:])  # no event: listed after the waterfall


def test_list_view_colours_by_status_and_adapts_to_width() -> None:
    def status_app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        code = environ["PATH_INFO"].strip("/")
        start_response(f"{code} X", [])
        return [b""]
    w = gwinspect.wrap(status_app)
    for code in (200, 302, 404, 500):
        Client(w).get(f"/{code}", buffered=True)
    traces = w.store.list()
    coloured = render(trace_list(traces, 130), width=130, color=True)
    rows = {code: next(ln for ln in coloured.splitlines() if f"/{code}" in ln) for code in (200, 302, 404, 500)}
    assert "38;2;0;128;0" in rows[200] or "32m" in rows[200]  # green
    assert rows[500] != rows[200] and "1;" in rows[500]  # bold red
    wide = render(trace_list(traces, 130), width=130)
    narrow = render(trace_list(traces, 60), width=60)
    assert "id" in wide.splitlines()[0] and traces[0].id in wide
    assert traces[0].id not in narrow and max(len(ln) for ln in narrow.splitlines()) <= 60
    assert "\x1b" not in wide


def test_svg_export_is_an_svg_with_escaped_text() -> None:
    image = svg([hostile_trace()], full=True)
    assert image.lstrip().startswith("<svg") and "</svg>" in image
    assert "\x1b" not in image and "\u202e" not in image
