"""``gwinspect dump``, ``tail`` and ``serve`` over real stores and dumps, as a user runs them."""

from __future__ import annotations

import json
import os
import queue
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

import gwinspect
from gwinspect.cli import main
from gwinspect.store_sqlite import SQLiteStore
from tests.realserver import ROOT, free_port, stop, wait_for_port
from tests.store_helpers import hit, make_trace, wrapped


@pytest.fixture
def recorded(tmp_path: Path) -> SQLiteStore:
    """A store holding five real requests, one of them with credentials."""
    store = SQLiteStore(tmp_path / "traces.db")
    app = wrapped(store)
    for path in ("/a", "/b/404", "/c", "/d/500", "/e"):
        hit(app, path, "POST" if path == "/c" else "GET")
    environ_app = gwinspect.wrap(lambda e, s: (s("200 OK", []), [b"x"])[1], store=store)
    from tests.apps_core import make_environ
    list(environ_app(make_environ("GET", "/secret", headers={"Authorization": "Bearer hunter2"}),
                     lambda *a: None))
    assert store.flush()
    return store


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_dump_writes_a_redacted_bundle_that_reloads(recorded: SQLiteStore, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = cli(capsys, "dump", f"sqlite:///{recorded.path}")
    assert code == 0 and err == ""
    doc = json.loads(out)
    assert doc["format"] == "gwinspect/1" and len(doc["traces"]) == 6
    assert [t["request"]["path"] for t in doc["traces"]] == ["/a", "/b/404", "/c", "/d/500", "/e", "/secret"]
    assert "hunter2" not in out and "[redacted]" in out
    target = tmp_path / "out" / "bug.json"
    target.parent.mkdir()
    code, out, err = cli(capsys, "dump", str(recorded.path), "-o", str(target), "--filter", "4xx get")
    assert code == 0 and out == "" and "wrote 1 trace to" in err
    assert [t.request.path for t in gwinspect.load(target)] == ["/b/404"]
    assert oct(target.stat().st_mode & 0o777) == "0o600"
    # A dump narrows down a dump, too.
    code, out, _ = cli(capsys, "dump", str(target))
    assert code == 0 and len(json.loads(out)["traces"]) == 1


def test_dump_by_id_and_since(recorded: SQLiteStore, capsys: pytest.CaptureFixture[str]) -> None:
    a, b = recorded.list(limit=2)
    # --id=ID: an id may start with "-", which argparse would take for an option
    code, out, _ = cli(capsys, "dump", str(recorded.path), f"--id={a.id}", f"--id={b.id}", f"--id={a.id}")
    assert code == 0 and {t["id"] for t in json.loads(out)["traces"]} == {a.id, b.id}
    code, _, err = cli(capsys, "dump", str(recorded.path), "--id", "missing-id")
    assert code == 2 and "no trace with id 'missing-id'" in err
    recorded.add_trace(make_trace(1, path="/long-ago", trace_id="x" * 16))
    assert recorded.flush()
    code, out, _ = cli(capsys, "dump", str(recorded.path), "--since", "1h")
    assert code == 0 and len(json.loads(out)["traces"]) == 6
    code, out, _ = cli(capsys, "dump", str(recorded.path), "--since", "2025-12-31T00:00:00Z")
    assert code == 0 and len(json.loads(out)["traces"]) == 7
    code, _, err = cli(capsys, "dump", str(recorded.path), "--since", "yesterday-ish")
    assert code == 2 and "--since" in err


@pytest.mark.parametrize("kind", ["junk", "foreign", "newer", "missing", "directory"])
def test_dump_of_a_non_store_is_one_clear_line(kind: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "x.db"
    if kind == "junk":
        path.write_bytes(os.urandom(4096))
    elif kind == "foreign":
        sqlite3.connect(path).execute("CREATE TABLE t (x)")
    elif kind == "newer":
        SQLiteStore(path).close()
        sqlite3.connect(path).execute("PRAGMA user_version = 7")
    elif kind == "directory":
        path.mkdir()
    for spec in (f"sqlite:///{path}", str(path)):
        code, out, err = cli(capsys, "dump", spec)
        assert code == 2 and out == "", (spec, err)
        assert err.startswith("gwinspect: error: ") and err.count("\n") == 1, err
    assert kind == "directory" or kind == "missing" or path.exists()
    assert not (kind == "missing" and path.exists())  # looking never creates a store


class Lines:
    """A child process's stdout, line by line, with timeouts."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.proc = proc
        self.queue: queue.Queue[str] = queue.Queue()
        assert proc.stdout is not None
        threading.Thread(target=lambda: [self.queue.put(line) for line in proc.stdout], daemon=True).start()

    def until(self, needle: str, timeout: float = 10.0) -> list[str]:
        seen: list[str] = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.queue.get(timeout=0.1)
            except queue.Empty:
                continue
            seen.append(line)
            if needle in line:
                return seen
        raise AssertionError(f"{needle!r} not printed within {timeout}s; got {seen}")


def _gwinspect(*args: str) -> subprocess.Popen[str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1", NO_COLOR="1", COLUMNS="200")
    return subprocess.Popen([sys.executable, "-m", "gwinspect", *args], cwd=ROOT, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)


@pytest.fixture
def stopping() -> Iterator[list[subprocess.Popen[str]]]:
    procs: list[subprocess.Popen[str]] = []
    yield procs
    for p in procs:
        stop(p)


def test_tail_follows_another_process_with_filters(recorded: SQLiteStore, stopping: list) -> None:
    proc = _gwinspect("tail", f"sqlite:///{recorded.path}", "-n", "1", "--status", "4xx", "--interval", "0.05")
    stopping.append(proc)
    lines = Lines(proc)
    assert "/b/404" in lines.until("/b/404")[-1]  # the backlog: the last 4xx stored
    assert "matching 'status:4xx'" in lines.until("following")[-1]
    writer = SQLiteStore(recorded.path)  # a worker of some server, writing to the shared file
    app = wrapped(writer)
    hit(app, "/new/200")
    hit(app, "/evil\x1b[31m/404")
    hit(app, "/new/418")
    assert writer.flush()
    printed = lines.until("/new/418")
    text = "".join(printed)
    assert "/new/200" not in text and "\x1b" not in text and "/evil\\x1b[31m/404" in text
    assert "GET" in printed[-1] and "418" in printed[-1]
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(10) == 0


def test_tail_full_shows_timelines_and_refuses_dumps(recorded: SQLiteStore, tmp_path: Path, stopping: list) -> None:
    proc = _gwinspect("tail", str(recorded.path), "-n", "0", "--full", "--method", "post", "--interval", "0.05")
    stopping.append(proc)
    lines = Lines(proc)
    lines.until("following")
    writer = SQLiteStore(recorded.path)
    hit(wrapped(writer), "/posted", "POST")
    assert writer.flush()
    printed = "".join(lines.until("close"))  # the timeline's events, down to the close() call
    assert "/posted" in printed and "start_response" in printed
    stop(proc)
    dump = tmp_path / "d.json"
    dump.write_text(gwinspect.dumps([make_trace(1)]))
    for args in ([str(dump)], [str(recorded.path), "--status", "40"], [str(recorded.path), "--method", "GET POST"]):
        done = subprocess.run([sys.executable, "-m", "gwinspect", "tail", *args], cwd=ROOT, capture_output=True,
                              text=True, timeout=30)
        assert done.returncode == 2 and done.stderr.count("\n") == 1, (args, done.stderr)


def _get(url: str) -> httpx.Response:
    return httpx.get(url, timeout=10, follow_redirects=False)


def test_serve_a_store_without_an_app(recorded: SQLiteStore, stopping: list) -> None:
    port = free_port()
    proc = _gwinspect("serve", f"sqlite:///{recorded.path}", "--port", str(port))
    stopping.append(proc)
    wait_for_port(port, 20, proc)
    base = f"http://127.0.0.1:{port}"
    listing = _get(f"{base}/__inspect__/api/traces?limit=2").json()
    assert listing["total"] == 6 and [t["path"] for t in listing["traces"]] == ["/secret", "/e"]
    one = _get(f"{base}/__inspect__/api/traces/{listing['traces'][1]['id']}")
    assert one.status_code == 200 and one.json()["request"]["path"] == "/e"
    assert _get(f"{base}/__inspect__/").status_code == 200
    home = _get(f"{base}/")
    assert home.status_code == 302 and home.headers["location"] == "/__inspect__/"
    assert _get(f"{base}/elsewhere").status_code == 404
    writer = SQLiteStore(recorded.path)  # a server's worker keeps writing: the panel sees it
    hit(wrapped(writer), "/later")
    assert writer.flush()
    assert _get(f"{base}/__inspect__/api/traces?q=later").json()["total"] == 1
    assert SQLiteStore(recorded.path).count() == 7  # looking recorded nothing
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(15) == 0
    assert "stopped" in (proc.stdout.read() if proc.stdout else "")


def test_serve_a_dump_file(recorded: SQLiteStore, tmp_path: Path, stopping: list) -> None:
    dump = tmp_path / "bug.json"
    gwinspect.dump(list(reversed(recorded.list())), dump)
    port = free_port()
    proc = _gwinspect("serve", str(dump), "--port", str(port))
    stopping.append(proc)
    wait_for_port(port, 20, proc)
    listing = _get(f"http://127.0.0.1:{port}/__inspect__/api/traces").json()
    assert listing["total"] == 6 and listing["traces"][0]["path"] == "/secret"  # newest on top, as recorded
    proc.send_signal(signal.SIGINT)
    assert proc.wait(15) == 0
    missing = subprocess.run([sys.executable, "-m", "gwinspect", "serve", str(tmp_path / "nope.json")], cwd=ROOT,
                             capture_output=True, text=True, timeout=30)
    assert missing.returncode == 2 and "no such file" in missing.stderr and missing.stderr.count("\n") == 1


def test_serve_announces_traces_other_processes_write(recorded: SQLiteStore, stopping: list) -> None:
    """Live updates: the panel's event stream names a trace the moment another process has written it."""
    port = free_port()
    proc = _gwinspect("serve", str(recorded.path), "--port", str(port))
    stopping.append(proc)
    wait_for_port(port, 20, proc)
    got: queue.Queue[str] = queue.Queue()

    def listen() -> None:
        try:
            with httpx.stream("GET", f"http://127.0.0.1:{port}/__inspect__/api/events", timeout=15) as r:
                for line in r.iter_lines():
                    got.put(line)
        except httpx.HTTPError:
            pass  # the server stopped at the end of the test
    threading.Thread(target=listen, daemon=True).start()
    deadline = time.monotonic() + 10
    while "event: hello" not in got.get(timeout=max(0.1, deadline - time.monotonic())):
        pass
    writer = SQLiteStore(recorded.path)
    hit(wrapped(writer), "/announced")
    assert writer.flush()
    new_id = writer.list(limit=1)[0].id
    deadline = time.monotonic() + 10
    while True:
        line = got.get(timeout=max(0.1, deadline - time.monotonic()))
        if line.startswith("data:") and new_id in line:
            assert '"total":7' in line
            break
    t0 = time.monotonic()
    proc.send_signal(signal.SIGINT)  # with the stream still open, like a browser tab left on the panel
    assert proc.wait(10) == 0 and time.monotonic() - t0 < 5
