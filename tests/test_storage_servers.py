"""Real multi-process servers sharing one store through GWINSPECT_STORE: every worker's panel shows all traces."""

from __future__ import annotations

import http.client
import json
import sys
import textwrap
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import quote

import pytest

from gwinspect.store_sqlite import SQLiteStore
from tests.realserver import PYTHON, free_port, serve

pytestmark = pytest.mark.servers

APPS = textwrap.dedent("""
    import asyncio, os, gwinspect

    def _wsgi(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain"), ("X-Pid", str(os.getpid()))])
        return [b"pid %d" % os.getpid()]

    async def _asgi(scope, receive, send):
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        await receive()
        if scope["path"] == "/slow":
            await asyncio.sleep(4)
        await send({"type": "http.response.start", "status": 200, "headers": [(b"x-pid", str(os.getpid()).encode())]})
        await send({"type": "http.response.body", "body": b"ok"})

    wsgi_app = gwinspect.wrap(_wsgi)   # no store= here: GWINSPECT_STORE decides
    asgi_app = gwinspect.wrap(_asgi)
""")


@pytest.fixture
def app_dir(tmp_path: Path) -> Path:
    (tmp_path / "store_apps.py").write_text(APPS)
    return tmp_path


def _gunicorn(port: int) -> list[str]:
    return [PYTHON, "-m", "gunicorn", "-w", "3", "-b", f"127.0.0.1:{port}", "--graceful-timeout", "5",
            "store_apps:wsgi_app"]


def _uvicorn(port: int) -> list[str]:
    return [PYTHON, "-m", "uvicorn", "--workers", "2", "--host", "127.0.0.1", "--port", str(port),
            "--log-level", "warning", "store_apps:asgi_app"]


def _get(base: str, target: str) -> tuple[int, dict[str, str], bytes]:
    """One GET on a new connection (so any worker may answer); http.client is cheap to connect."""
    host, port = base.rsplit("/", 1)[-1].split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        conn.request("GET", target)
        r = conn.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        conn.close()


def _requests(base: str, n: int) -> set[str]:
    def one(i: int) -> str:
        status, headers, _ = _get(base, f"/req/{i}")
        assert status == 200
        return headers["x-pid"]
    with ThreadPoolExecutor(8) as pool:
        return set(pool.map(one, range(n)))


def _totals(base: str, query: str, samples: int) -> list[int]:
    """The panel API's total from several fresh connections, so different workers answer."""
    out = []
    for _ in range(samples):
        status, _, body = _get(base, f"/__inspect__/api/traces?limit=1&q={quote(query)}")
        assert status == 200, body[:200]
        out.append(json.loads(body)["total"])
    return out


def _workers_up(base: str, at_least: int = 2) -> None:
    """Wait until several workers answer: the port opens before every worker has booted."""
    pids: set[str] = set()

    def more() -> bool:
        with ThreadPoolExecutor(4) as pool:
            pids.update(pool.map(lambda _: _get(base, "/warm-up")[1]["x-pid"], range(8)))
        return len(pids) >= at_least
    _eventually(more, 20)


def _eventually(check: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("not within the time limit")
        time.sleep(0.1)


def _scenario(app_dir: Path, command: Callable[[int], list[str]], n: int) -> None:
    db = app_dir / "shared.db"
    env = {"GWINSPECT_STORE": f"sqlite:///{db}"}
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with serve(command(port), port, cwd=app_dir, env=env, timeout=30):
        _workers_up(base)
        pids = _requests(base, n)
        # Each worker alone holds about n / workers of them: n from every answer means all are shared.
        assert len(pids) >= 2, "one worker answered everything: the test proves nothing"
        _eventually(lambda: _totals(base, "/req/", 6) == [n] * 6)
    # Stopped: the file holds every request, complete, for a process that never served any.
    store = SQLiteStore(db, create=False)
    requests = store.list(limit=1000, query="/req/")
    assert len(requests) == n and all(t.complete for t in requests)
    assert {t.request.path for t in requests} == {f"/req/{i}" for i in range(n)}
    # Restarted: the new workers show the old traces, and each other's new ones.
    with serve(command(port), port, cwd=app_dir, env=env, timeout=30):
        assert _totals(base, "/req/", 4) == [n] * 4
        _requests(base, 6)
        _eventually(lambda: _totals(base, "/req/", 4) == [n + 6] * 4)


def test_gunicorn_three_workers_share_one_store(app_dir: Path) -> None:
    _scenario(app_dir, _gunicorn, 45)


def test_uvicorn_two_workers_share_one_store(app_dir: Path) -> None:
    _scenario(app_dir, _uvicorn, 30)


def test_store_files_stay_private_under_a_server(app_dir: Path) -> None:
    db = app_dir / "private.db"
    port = free_port()
    with serve(_gunicorn(port), port, cwd=app_dir, env={"GWINSPECT_STORE": f"sqlite:///{db}"}, timeout=30):
        _requests(f"http://127.0.0.1:{port}", 10)
        _eventually(lambda: Path(f"{db}-wal").exists())
        modes = {p.name: oct(p.stat().st_mode & 0o777) for p in app_dir.iterdir() if p.name.startswith("private")}
    assert modes == {"private.db": "0o600", "private.db-wal": "0o600", "private.db-shm": "0o600"}
    assert sys.platform != "win32"


def test_a_hung_request_shows_in_progress_on_every_worker(app_dir: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with serve(_uvicorn(port), port, cwd=app_dir, env={"GWINSPECT_STORE": f"sqlite:///{app_dir}/hung.db"},
               timeout=30), ThreadPoolExecutor(1) as pool:
        _workers_up(base)
        slow = pool.submit(_get, base, "/slow")
        states: list[list[str]] = []

        def seen_in_progress_everywhere() -> bool:
            answers = [json.loads(_get(base, "/__inspect__/api/traces?q=/slow")[2]) for _ in range(6)]
            states.append([t["state"] for a in answers for t in a["traces"]])
            return states[-1] == ["in_progress"] * 6
        _eventually(seen_in_progress_everywhere, 3.5)  # written for the other worker after about a second
        assert slow.result(10)[0] == 200
        _eventually(lambda: [t["state"] for _ in range(4) for t in json.loads(
            _get(base, "/__inspect__/api/traces?q=/slow")[2])["traces"]] == ["complete"] * 4)
