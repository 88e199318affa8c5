"""The real-server matrix: every scenario, bare vs wrapped, under uvicorn, hypercorn, gunicorn, waitress, wsgiref.

For each server a pair of processes serves ``tests/matrix_apps*.py`` bare and
wrapped; real clients (httpx, raw sockets, the ``websockets`` client) must get
identical answers from both, and the wrapped one's panel API must show what
happened. Sizes are ``GWINSPECT_MATRIX_MB`` (5 MB here; 50 MB by hand with
``GWINSPECT_MATRIX_MB=50 python -m pytest tests/test_matrix_servers.py``).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator

import httpx
import pytest

from tests.matrix_apps import SMALL, body_of, sse_event
from tests.matrix_client import (
    MATRIX_MB,
    SERVERS,
    Pair,
    answer,
    find_trace,
    messages,
    raw_exchange,
    raw_request_then_reset,
    serve_pair,
    streamed_answer,
    token,
    wait_until,
    without_date,
)

pytestmark = [pytest.mark.servers, pytest.mark.timeout(180)]
KB = int(MATRIX_MB * 1024) // 64 * 64  # whole 64 KiB chunks


@pytest.fixture(scope="module", params=list(SERVERS))
def pair(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    directory = tmp_path_factory.mktemp(request.param)
    (directory / "file.bin").write_bytes(os.urandom(1024 * 1024 + 123))
    with serve_pair(request.param, directory) as p:
        yield p


def same_answer(pair: Pair, method: str, path: str, **kwargs: object) -> tuple[int, list[tuple[str, str]], bytes]:
    bare = answer(pair.bare, method, path, **kwargs)  # type: ignore[arg-type]
    wrapped = answer(pair.wrapped, method, path, **kwargs)  # type: ignore[arg-type]
    assert wrapped == bare
    return bare


@pytest.mark.parametrize(("method", "path", "status"), [
    ("GET", "/small", 200), ("HEAD", "/small", 200), ("GET", "/large?kb=1024", 200), ("GET", "/nocontent", 204),
    ("GET", "/redirect", 302), ("GET", "/cached", 200), ("GET", "/error-before", 500), ("GET", "/missing", 404),
])
def test_plain_answers_identical(pair: Pair, method: str, path: str, status: int) -> None:
    mark = token()
    url = f"{path}{'&' if '?' in path else '?'}t={mark}"
    # After HEAD, a fresh connection: waitress sends the body anyway (bare and wrapped alike, see below).
    kwargs = {"headers": {"Connection": "close"}} if method == "HEAD" else {}
    got_status, headers, body = same_answer(pair, method, url, **kwargs)
    assert got_status == status
    if path == "/small":
        assert body == (b"" if method == "HEAD" else SMALL)
        assert ("set-cookie", "a=1; Path=/") in headers and ("set-cookie", "b=2; Path=/") in headers
    if path.startswith("/large"):
        assert body == body_of(1024)
    trace = find_trace(pair.wrapped, mark)
    assert trace["protocol"] == pair.protocol and trace["state"] == "complete"
    assert trace["request"]["method"] == method and not trace["partial"]
    if path == "/error-before":
        assert trace["error"]["type"] == "RuntimeError" and "boom before" in trace["error"]["message"]
    else:
        assert trace["error"] is None and trace["response"]["status"] == status
    if path == "/small":  # the client got the cookies; the trace keeps their names only
        assert [v for k, v in trace["response"]["headers"] if k.lower() == "set-cookie"] == ["[redacted]", "[redacted]"]


@pytest.mark.parametrize("request_line", ["HEAD /small", "GET /small", "GET /nocontent", "GET /redirect",
                                          "GET /error-before"])
def test_raw_bytes_on_the_wire_identical(pair: Pair, request_line: str) -> None:
    request = f"{request_line} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode()
    bare = without_date(raw_exchange(pair.bare_port, request))
    wrapped = without_date(raw_exchange(pair.wrapped_port, request))
    assert wrapped == bare and bare.startswith(b"HTTP/1.")


def test_not_modified_identical(pair: Pair) -> None:
    mark = token()
    status, headers, body = same_answer(pair, "GET", f"/cached?t={mark}", headers={"If-None-Match": '"v1"'})
    assert (status, body) == (304, b"") and ("etag", '"v1"') in headers
    assert find_trace(pair.wrapped, mark)["response"]["status"] == 304


def test_large_streamed_download_identical(pair: Pair) -> None:
    mark = token()
    bare = streamed_answer(pair.bare, "GET", f"/stream?kb={KB}&t={mark}")
    wrapped = streamed_answer(pair.wrapped, "GET", f"/stream?kb={KB}&t={mark}")
    assert wrapped == bare
    assert bare[3] is None and hashlib.sha256(bare[2]).digest() == hashlib.sha256(body_of(KB)).digest()
    trace = find_trace(pair.wrapped, mark)
    assert trace["response"]["body_size"] == KB * 1024 and not trace["disconnected"]
    kept = sum(e["data"]["size"] if "data" in e else 0 for e in trace["events"] if e["kind"] == "chunk")
    assert pair.protocol == "asgi" or kept == KB * 1024  # every chunk accounted for, bytes kept up to max_body


def test_large_chunked_upload_without_content_length_identical(pair: Pair) -> None:
    data = body_of(KB)
    mark = token()

    def chunks() -> Iterator[bytes]:
        for i in range(0, len(data), 100_000):
            yield data[i:i + 100_000]

    results = []
    for _, client in pair.both():
        if pair.server == "wsgiref":  # wsgiref cannot read a chunked request body: send a Content-Length there
            results.append(answer(client, "POST", f"/upload?t={mark}", content=data))
        else:
            results.append(answer(client, "POST", f"/upload?t={mark}", content=chunks()))
    assert results[0] == results[1]
    assert json.loads(results[0][2]) == {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    trace = find_trace(pair.wrapped, mark)
    assert trace["request"]["body_size"] == len(data)  # every byte the app read, though only max_body are kept
    inputs = [e for e in trace["events"] if e["kind"] in ("input", "receive")]
    assert inputs and trace["state"] == "complete"  # waitress buffers the body and hands it over in one read


def test_server_sent_events_each_arrives_before_the_next_is_produced(pair: Pair) -> None:
    bodies = []
    for tag, client in pair.both():
        key = f"{tag}-{token()}"
        received = b""
        with client.stream("GET", f"/sse?id={key}&n=4") as r:
            assert r.status_code == 200
            for part in r.iter_raw():
                received += part
                for i in range(4):  # acknowledge each event once it is really here; the app waits for that
                    if sse_event(i) in received:
                        (pair.dir / f"ack-{key}-{i}").touch()
        bodies.append(received)
    assert bodies[0] == bodies[1] == b"".join(sse_event(i) for i in range(4))


def test_file_response_through_file_wrapper_or_pathsend(pair: Pair) -> None:
    mark = token()
    status, _, body = same_answer(pair, "GET", f"/file?t={mark}")
    assert status == 200 and body == (pair.dir / "file.bin").read_bytes()
    trace = find_trace(pair.wrapped, mark)
    if pair.protocol == "wsgi":  # handed to the server as the very same object: recorded as a file event
        files = [e for e in trace["events"] if e["kind"] == "file"]
        assert len(files) == 1 and files[0]["file"]["name"].endswith("file.bin")
    else:
        pathsend = "http.response.pathsend" in (trace["scope"].get("extensions") or {})
        sent = [m["type"] for m in messages(trace, "send")]
        assert ("http.response.pathsend" in sent) == pathsend
        assert trace["response"]["body_size"] == (0 if pathsend else len(body))


def test_exception_after_the_response_started_identical(pair: Pair) -> None:
    mark = token()
    bare = streamed_answer(pair.bare, "GET", f"/error-after?t={mark}")
    wrapped = streamed_answer(pair.wrapped, "GET", f"/error-after?t={mark}")
    assert wrapped == bare
    assert bare[0] == 200 and bare[2].startswith(b"partial body")
    trace = find_trace(pair.wrapped, mark)
    assert trace["error"]["type"] == "RuntimeError" and "boom after" in trace["error"]["message"]
    assert trace["response"]["status"] == 200


def test_client_disconnect_mid_stream_is_seen_recorded_and_leaks_nothing(pair: Pair) -> None:
    for tag, client in pair.both():
        mark = token()
        before = client.get("/_state").json()
        port = pair.bare_port if tag == "bare" else pair.wrapped_port
        request = f"GET /disconnect?t={mark} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode()
        assert raw_request_then_reset(port, request, 256 * 1024) >= 256 * 1024

        def settled(c: httpx.Client = client, b: dict[str, int] = before) -> bool:
            now = c.get("/_state").json()
            return bool(now["closed"] == b["closed"] + 1 and now["open"] == 0)
        wait_until(settled, what=f"the {tag} app to see the disconnect")
        state = client.get("/_state").json()
        if pair.protocol == "asgi":
            assert state["disconnects"] == before["disconnects"] + 1  # the app got http.disconnect
        if tag == "wrapped":
            trace = find_trace(client, mark)
            assert trace["disconnected"] is True and trace["state"] == "complete"
            if pair.protocol == "asgi":
                assert "http.disconnect" in [m["type"] for m in messages(trace, "receive")]
            else:
                assert [e for e in trace["events"] if e["kind"] == "close"][-1]["exhausted"] is False
    listed = pair.wrapped.get("/__inspect__/api/traces", params={"limit": 500}).json()["traces"]
    assert [t for t in listed if t["state"] != "complete" and t["type"] == "http"] == []


def test_panel_is_only_in_the_wrapped_server(pair: Pair) -> None:
    assert pair.bare.get("/__inspect__/api/traces").status_code == 404
    assert pair.wrapped.get("/__inspect__/api/traces").status_code == 200
