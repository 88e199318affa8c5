"""Live mode: console=True prints every finished trace to stderr, off the request path, losing none."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
import time
from typing import Any

import pytest
from werkzeug.test import Client

import gwinspect
from gwinspect.render import live

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def hello(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"hello body"]


def run_script(code: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=ROOT, COLUMNS="120", NO_COLOR="1")
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          env=env, timeout=60, cwd=ROOT)


def test_short_script_loses_no_lines_at_exit() -> None:
    # No sleep before exit: the atexit drain must print all 200 timelines.
    r = run_script("""
        import gwinspect
        from werkzeug.test import Client
        from tests.test_terminal_live import hello
        w = gwinspect.wrap(hello, console=True)
        for i in range(200):
            Client(w).get(f"/n-{i}", buffered=True)
    """)
    assert r.returncode == 0, r.stderr[-500:]
    missing = [i for i in range(200) if f"GET  /n-{i}  200" not in r.stderr]
    assert not missing, missing[:10]
    assert r.stdout == ""  # stderr only
    assert r.stderr.index("/n-10 ") < r.stderr.index("/n-11 ")  # in the order they finished


def test_compact_and_full_modes() -> None:
    r = run_script("""
        import gwinspect
        from werkzeug.test import Client
        from tests.test_terminal_live import hello
        Client(gwinspect.wrap(hello, console=True)).get("/compact", buffered=True)
        Client(gwinspect.wrap(hello, console="full")).get("/full", buffered=True, headers={"X-Probe": "p1"})
    """)
    compact, full = r.stderr.split("/full", 1)
    assert "← start_response" in compact and "x-probe" not in compact.lower()
    assert "x-probe: p1" in full and "hello body" in full and "request headers" in full


def test_console_rejects_unknown_modes() -> None:
    with pytest.raises(ValueError):
        gwinspect.wrap(hello, console="loud")


def test_rendering_happens_off_the_request_path(monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    slow_print = live.ConsolePrinter._print
    gate = threading.Event()

    def held(self: live.ConsolePrinter, recorder: Any, full: bool) -> None:
        gate.wait(10)  # rendering cannot finish until every request has returned
        slow_print(self, recorder, full)

    monkeypatch.setattr(live.ConsolePrinter, "_print", held)
    w = gwinspect.wrap(hello, console=True)
    t0 = time.perf_counter()
    for i in range(5):
        assert Client(w).get(f"/quick-{i}", buffered=True).data == b"hello body"
    assert time.perf_counter() - t0 < 5  # on the request path, each request would have waited 10 s
    gate.set()
    live.flush()
    err = capsys.readouterr().err
    assert all(f"/quick-{i}" in err for i in range(5)), err


def test_printer_survives_a_rendering_failure(monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    calls = []
    real = live.ConsolePrinter._print

    def flaky(self: live.ConsolePrinter, recorder: Any, full: bool) -> None:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("renderer bug")
        real(self, recorder, full)

    monkeypatch.setattr(live.ConsolePrinter, "_print", flaky)
    w = gwinspect.wrap(hello, console=True)
    Client(w).get("/first", buffered=True)
    Client(w).get("/second", buffered=True)
    live.flush()
    assert "/second" in capsys.readouterr().err
