"""The panel on real servers (uvicorn, waitress, gunicorn sync) with a real client (httpx)."""

from __future__ import annotations

import json
import signal
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.realserver import PYTHON, free_port, serve, stop

pytestmark = pytest.mark.servers

APPS = textwrap.dedent("""
    import os
    import gwinspect
    from gwinspect import panel_asgi, panel_wsgi

    # bounded WSGI streams, short enough to watch end
    panel_wsgi.STREAM_SECONDS = float(os.environ.get("WSGI_STREAM_SECONDS", "2"))
    panel_asgi.STREAM_SECONDS = 60.0  # only a disconnect can end an ASGI stream quickly

    def wsgi_app(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"wsgi " + environ["PATH_INFO"].encode("latin-1")]

    async def asgi_app(scope, receive, send):
        if scope["type"] != "http":
            return
        await receive()
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": b"asgi " + scope["path"].encode()})

    wsgi = gwinspect.wrap(wsgi_app)
    asgi = gwinspect.wrap(asgi_app)
""")


@pytest.fixture(scope="module")
def app_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("panelapps")
    (d / "panel_server_apps.py").write_text(APPS)
    return d


def uvicorn_cmd(port: int) -> list[str]:
    return [PYTHON, "-m", "uvicorn", "panel_server_apps:asgi", "--port", str(port), "--log-level", "warning"]


@pytest.fixture(scope="module", params=["uvicorn", "waitress"])
def base(request: pytest.FixtureRequest, app_dir: Path) -> Iterator[str]:
    port = free_port()
    cmd = uvicorn_cmd(port) if request.param == "uvicorn" else [
        PYTHON, "-m", "waitress", "--listen", f"127.0.0.1:{port}", "--threads", "4", "panel_server_apps:wsgi"]
    with serve(cmd, port, cwd=app_dir):
        yield f"http://127.0.0.1:{port}"


def read_events(response: httpx.Response, until: float) -> Iterator[dict]:
    """Parsed events of an open text/event-stream response, until the deadline."""
    name, data = None, None
    for line in response.iter_lines():
        if line.startswith("event: "):
            name = line[7:]
        elif line.startswith("data: "):
            data = json.loads(line[6:])
        elif line == "" and name:
            yield {"event": name, **(data or {})}
            name, data = None, None
        if time.monotonic() > until:
            return


def test_panel_api_and_refusals(base: str) -> None:
    httpx.get(base + "/hello", timeout=10)
    doc = httpx.get(base + "/__inspect__/api/traces", timeout=10).json()
    assert "/hello" in [t["path"] for t in doc["traces"]]
    assert not any(t["path"].startswith("/__inspect__") for t in doc["traces"])
    page = httpx.get(base + "/__inspect__/", timeout=10)
    assert page.status_code == 200 and "frame-ancestors 'none'" in page.headers["content-security-policy"]
    js = httpx.get(base + "/__inspect__/static/app.js", timeout=10)
    assert js.status_code == 200 and js.headers["content-type"].startswith("text/javascript")
    refused: list[dict[str, str]] = [{"Host": "evil.example"}, {"X-Real-IP": "127.0.0.1"}]
    if httpx.get(base + "/x", timeout=10).text.startswith("asgi"):
        # waitress deletes X-Forwarded-* and Forwarded from peers that are not its trusted_proxy
        # before the app runs, so only uvicorn lets the panel see (and refuse) them
        refused += [{"X-Forwarded-For": "127.0.0.1"}, {"Forwarded": "for=127.0.0.1"}]
    for headers in refused:
        r = httpx.get(base + "/__inspect__/api/traces", headers=headers, timeout=10)
        assert r.status_code == 404 and "gwinspect" not in r.text.lower(), headers
        assert r.headers["cache-control"] == "no-store"


def test_live_events_arrive_and_the_app_still_answers(base: str) -> None:
    with httpx.Client(timeout=10) as watcher, watcher.stream("GET", base + "/__inspect__/api/events") as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        events = read_events(stream, time.monotonic() + 8)
        assert next(events)["event"] == "hello"
        started = time.monotonic()
        for i in range(5):  # an open panel does not hold up the app
            assert httpx.get(f"{base}/while-streaming-{i}", timeout=5).status_code == 200
        assert time.monotonic() - started < 3
        newest = httpx.get(base + "/__inspect__/api/traces?limit=1", timeout=10).json()["traces"][0]
        assert newest["path"] == "/while-streaming-4"
        seen: set[str] = set()
        for event in events:
            seen.update(event.get("ids", []))
            if newest["id"] in seen:
                break
        assert newest["id"] in seen


def test_wsgi_stream_is_bounded_on_waitress(app_dir: Path) -> None:
    port = free_port()
    cmd = [PYTHON, "-m", "waitress", "--listen", f"127.0.0.1:{port}", "panel_server_apps:wsgi"]
    with serve(cmd, port, cwd=app_dir):
        started = time.monotonic()
        r = httpx.get(f"http://127.0.0.1:{port}/__inspect__/api/events", timeout=10)
        assert 1.5 < time.monotonic() - started < 5  # STREAM_SECONDS is 2 in this app
        assert r.text.startswith("retry: ") and "event: hello" in r.text


def test_waitress_frees_a_stream_whose_client_left(app_dir: Path) -> None:
    port = free_port()
    cmd = [PYTHON, "-m", "waitress", "--listen", f"127.0.0.1:{port}", "panel_server_apps:wsgi"]
    url = f"http://127.0.0.1:{port}/__inspect__/api/events"
    with serve(cmd, port, cwd=app_dir, env={"WSGI_STREAM_SECONDS": "60"}):
        with httpx.Client(timeout=10) as client, client.stream("GET", url) as stream:
            assert next(stream.iter_lines()) == "retry: 250"  # this one holds the stream slot
        # the next keepalive write fails (waitress.client_disconnected tells sooner when the server
        # reads ahead): the stream ends and gives its slot back, well before STREAM_SECONDS
        started = time.monotonic()
        first_line = ""
        while first_line != "retry: 250" and time.monotonic() - started < 6:
            time.sleep(0.3)
            with httpx.Client(timeout=10) as client, client.stream("GET", url) as stream:
                first_line = next(stream.iter_lines())
        assert first_line == "retry: 250"


def test_gunicorn_sync_worker_is_never_pinned(app_dir: Path) -> None:
    port = free_port()
    cmd = [PYTHON, "-m", "gunicorn", "-w", "1", "-k", "sync", "-b", f"127.0.0.1:{port}", "panel_server_apps:wsgi"]
    with serve(cmd, port, cwd=app_dir):
        base = f"http://127.0.0.1:{port}"
        started = time.monotonic()
        r = httpx.get(base + "/__inspect__/api/events", timeout=10)
        assert time.monotonic() - started < 1.5
        assert r.text.startswith("retry: 1000") and "event: hello" in r.text
        last_id = next(line[4:] for line in r.text.splitlines() if line.startswith("id: "))
        assert httpx.get(base + "/after", timeout=5).status_code == 200
        again = httpx.get(base + "/__inspect__/api/events", headers={"Last-Event-ID": last_id}, timeout=10)
        assert "event: traces" in again.text  # the poll after a change says so


def test_asgi_stream_ends_when_the_client_leaves(app_dir: Path) -> None:
    port = free_port()
    with serve(uvicorn_cmd(port), port, cwd=app_dir) as proc:
        with httpx.Client(timeout=10) as client, client.stream(
                "GET", f"http://127.0.0.1:{port}/__inspect__/api/events") as stream:
            assert next(read_events(stream, time.monotonic() + 5))["event"] == "hello"
        time.sleep(0.5)
        # uvicorn waits for running responses when it shuts down: a stream that outlived its
        # client would hold it up to STREAM_SECONDS (60 s here)
        started = time.monotonic()
        stop(proc, signal.SIGTERM, timeout=20)
        assert time.monotonic() - started < 5
