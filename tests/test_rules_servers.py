"""No false positives behind real servers on 127.0.0.1, driven by httpx (and websockets).

uvicorn serves the ASGI apps; waitress, gunicorn and werkzeug's dev server the WSGI ones.

The server process wraps the app and appends every finished trace to a JSON-lines
file; after the server stops (which also ends lifespan) the test reads them back.
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from gwinspect.model import Trace
from gwinspect.rules import check
from tests.realserver import PYTHON, ROOT, free_port, serve
from tests.test_rules_frameworks import REQUESTS, headers_for

pytestmark = pytest.mark.servers

SERVERS = [
    ("uvicorn", "tests.rules_apps:starlette_app", True),
    ("uvicorn", "tests.rules_apps:fastapi_app", True),
    ("uvicorn", "tests.rules_apps:falcon_asgi", True),
    ("uvicorn", "tests.rules_django:asgi_app", False),
    ("waitress", "tests.rules_apps:flask_app", False),
    ("waitress", "tests.rules_apps:falcon_wsgi", False),
    ("waitress", "tests.rules_django:wsgi_app", False),
    ("gunicorn", "tests.rules_django:wsgi_app", False),
    ("werkzeug", "tests.rules_apps:flask_app", False),
]


def command(server: str, spec: str, port: int) -> list[str]:
    if server == "uvicorn":
        return [PYTHON, "-m", "uvicorn", spec, "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
    if server == "gunicorn":
        return [PYTHON, "-m", "gunicorn", spec, "--bind", f"127.0.0.1:{port}", "--workers", "1"]
    if server == "werkzeug":  # what `flask run` serves with
        module, attr = spec.split(":")
        return [PYTHON, "-c", f"from werkzeug.serving import run_simple; from {module} import {attr} as app; "
                              f"run_simple('127.0.0.1', {port}, app)"]
    return [PYTHON, "-m", "waitress", f"--listen=127.0.0.1:{port}", spec]


@pytest.mark.timeout(60)
@pytest.mark.parametrize(("server", "spec", "websocket"), SERVERS,
                         ids=[f"{s[0]}-{s[1].split('.')[-1].replace(':', '-')}" for s in SERVERS])
def test_real_server_traces_break_no_rule(tmp_path: Path, server: str, spec: str, websocket: bool) -> None:
    out = tmp_path / "traces.jsonl"
    port = free_port()
    with serve(command(server, spec, port), port, cwd=ROOT, env={"GWINSPECT_RULES_OUT": str(out)}) as proc:
        for method, path, body in REQUESTS:
            # A connection per request: waitress (3.0) sends a file_wrapper body even for HEAD, bare app or
            # not, which would poison a kept-alive connection's next response.
            response = httpx.request(method, f"http://127.0.0.1:{port}{path}", content=body,
                                     headers=headers_for(body), timeout=10)
            assert response.status_code < 500, (method, path, response.status_code, response.text[:200])
        if websocket:
            from websockets.sync.client import connect
            with connect(f"ws://127.0.0.1:{port}/ws", open_timeout=10) as ws:
                ws.send("hello")
                assert ws.recv(timeout=10) == "hello"
        assert proc.poll() is None
    traces = [Trace.from_dict(json.loads(line)) for line in out.read_text().splitlines()]
    kinds = {t.type for t in traces}
    assert len([t for t in traces if t.type == "http"]) == len(REQUESTS)
    assert ("websocket" in kinds) == websocket
    loud = [(t.type, t.request.method, t.request.path, v) for t in traces for v in (*t.violations, *check(t))
            if v.severity in ("error", "warning")]
    assert not loud, loud
