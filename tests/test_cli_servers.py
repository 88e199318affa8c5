"""`gwinspect run` and `gwinspect demo` for real: start, request over 127.0.0.1, timeline printed, clean stop."""

from __future__ import annotations

import os
import signal
import subprocess
import textwrap
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.realserver import PYTHON, ROOT, free_port, serve, stop, wait_for_port

pytestmark = pytest.mark.servers
ENV = {"COLUMNS": "120", "NO_COLOR": "1"}

APPS = textwrap.dedent('''
    import gwinspect

    def wsgi_app(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"hello wsgi"]

    async def asgi_app(scope, receive, send):
        if scope["type"] != "http":
            return
        await receive()
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": b"hello asgi"})

    def make_app():
        return wsgi_app

    already = gwinspect.wrap(wsgi_app)
''')


@pytest.fixture(scope="module")
def apps_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("apps")
    (d / "cli_apps.py").write_text(APPS)
    (d / "broken_app.py").write_text("raise RuntimeError('config missing')\n")
    return d


def run_and_stop(args: list[str], cwd: Path, paths: list[str], sig: int = signal.SIGINT,
                 settle: float = 0.5) -> tuple[dict[str, str], int | None, str]:
    port = free_port()
    bodies: dict[str, str] = {}
    with serve([PYTHON, "-m", "gwinspect", *args, "--port", str(port)], port, cwd=cwd, env=ENV) as proc:
        for path in paths:
            r = httpx.get(f"http://127.0.0.1:{port}{path}", timeout=10)
            bodies[path] = f"{r.status_code} {r.text}"
        time.sleep(settle)  # the console prints off the request path
        out = stop(proc, sig)
    return bodies, proc.returncode, out


@pytest.mark.parametrize(("target", "body", "server", "sig"), [
    ("cli_apps:asgi_app", "hello asgi", "uvicorn", signal.SIGINT),
    ("cli_apps:asgi_app", "hello asgi", "uvicorn", signal.SIGTERM),
    ("cli_apps:wsgi_app", "hello wsgi", "waitress", signal.SIGINT),
    ("cli_apps:wsgi_app", "hello wsgi", "waitress", signal.SIGTERM),
])
def test_run_serves_prints_and_stops_cleanly(apps_dir: Path, target: str, body: str, server: str,
                                             sig: int) -> None:
    bodies, rc, out = run_and_stop(["run", target, "--console"], apps_dir, ["/hello-run?x=1"], sig)
    assert bodies["/hello-run?x=1"] == f"200 {body}"
    assert rc == 0, out
    assert f"with {server} at http://127.0.0.1:" in out and "/__inspect__" in out
    assert "GET  /hello-run?x=1  200" in out and "gwinspect: stopped" in out


def test_run_wsgiref_factory_and_no_console(apps_dir: Path) -> None:
    bodies, rc, out = run_and_stop(["run", "cli_apps:make_app", "--factory", "--wsgi-server", "wsgiref"],
                                   apps_dir, ["/plain"])
    assert bodies["/plain"] == "200 hello wsgi" and rc == 0
    assert "with wsgiref" in out and "/plain" not in out  # no --console: no timeline


def test_run_does_not_wrap_an_inspector_twice(apps_dir: Path) -> None:
    bodies, rc, out = run_and_stop(["run", "cli_apps:already", "--console", "--full"], apps_dir, ["/once"])
    assert bodies["/once"] == "200 hello wsgi" and rc == 0
    assert out.count("GET  /once  200") == 1 and "request headers" in out


@pytest.mark.parametrize(("target", "message"), [
    ("no_such_module_xyz:app", "no module named 'no_such_module_xyz'"),
    ("cli_apps:missing", "has no attribute 'missing'"),
    ("broken_app:app", "RuntimeError: config missing"),
    ("cli_apps", "expected MODULE:APP"),
    ("cli_apps:asgi_app --factory", "factory"),
])
def test_run_import_errors_are_one_line(apps_dir: Path, target: str, message: str) -> None:
    r = subprocess.run([PYTHON, "-m", "gwinspect", "run", *target.split()], cwd=apps_dir, capture_output=True,
                       text=True, timeout=60, env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), **ENV})
    assert r.returncode != 0 and "Traceback" not in r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], r.stderr


def test_run_port_in_use_is_one_line(apps_dir: Path) -> None:
    port = free_port()
    with serve([PYTHON, "-m", "gwinspect", "run", "cli_apps:wsgi_app", "--port", str(port)], port, cwd=apps_dir,
               env=ENV):
        r = subprocess.run([PYTHON, "-m", "gwinspect", "run", "cli_apps:asgi_app", "--port", str(port)],
                           cwd=apps_dir, capture_output=True, text=True, timeout=60,
                           env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), **ENV})
    assert r.returncode != 0 and "Traceback" not in r.stderr
    assert "could not serve on 127.0.0.1" in r.stderr


def test_demo_serves_both_protocols_into_one_store_and_stops_on_sigterm(tmp_path: Path) -> None:
    port = free_port()
    with serve([PYTHON, "-m", "gwinspect", "demo", "--port", str(port)], port, cwd=tmp_path, env=ENV) as proc:
        wait_for_port(port + 1)
        assert "WSGI app" in httpx.get(f"http://127.0.0.1:{port + 1}/", timeout=10).text
        assert proc.stdout is not None
        lines: list[str] = []
        reader = threading.Thread(target=lambda: lines.extend(proc.stdout or ()), daemon=True)
        reader.start()
        deadline = time.monotonic() + 30
        while not any("sent the demo requests" in ln for ln in lines) and time.monotonic() < deadline:
            time.sleep(0.1)
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(15)
        reader.join(5)
    out = "".join(lines)
    assert proc.returncode == 0, out
    assert f"http://127.0.0.1:{port}/__inspect__" in out
    for part in ("ASGI http  GET  /json  200", "WSGI http  GET  /json  200", "ASGI http  POST  /upload  201",
                 "WSGI http  POST  /upload  201", "GET  /error  no response", "DemoError: the demo failed",
                 "send websocket.accept", "text 5 B  hello", "GET  /stream  200", "GET  /redirect  302",
                 "GET  /slow  200", "sent the demo requests", "lifespan.shutdown.complete",
                 "gwinspect demo: stopped"):
        assert part in out, (part, out[-3000:])


def test_demo_single_protocol_without_traffic_stops_on_sigint(tmp_path: Path) -> None:
    bodies, rc, out = run_and_stop(["demo", "--wsgi", "--no-traffic"], tmp_path, ["/json", "/redirect"])
    assert bodies["/json"].startswith('200 {"hello": "world", "protocol": "wsgi"')
    assert bodies["/redirect"].startswith("302")
    assert rc == 0 and "WSGI http  GET  /json  200" in out and "ASGI" not in out
    assert "/upload" not in out  # --no-traffic


def test_run_with_waitress_keeps_the_panel_closed_to_a_reverse_proxy(apps_dir: Path) -> None:
    # Behind a proxy on this host every client comes from 127.0.0.1 with a local Host; the proxy's
    # X-Forwarded-For is what tells. waitress deletes it from untrusted peers unless told not to.
    port = free_port()
    with serve([PYTHON, "-m", "gwinspect", "run", "cli_apps:wsgi_app", "--port", str(port)], port, cwd=apps_dir,
               env=ENV):
        url = f"http://127.0.0.1:{port}/__inspect__/api/traces"
        assert httpx.get(url, timeout=10).status_code == 200
        assert httpx.get(url, headers={"X-Forwarded-For": "203.0.113.9"}, timeout=10).status_code == 404
        assert httpx.get(url, headers={"Forwarded": "for=203.0.113.9"}, timeout=10).status_code == 404
