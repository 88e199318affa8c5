"""`gwinspect show` and `gwinspect export svg` through a real subprocess, error paths included."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from werkzeug.test import Client

import gwinspect

ROOT = Path(__file__).resolve().parent.parent
ENV = dict(os.environ, PYTHONPATH=str(ROOT), COLUMNS="120", PYTHONUNBUFFERED="1")
ENV.pop("NO_COLOR", None)
CLI = [sys.executable, "-m", "gwinspect"]


def cli(*args: str, stdin: str | None = None, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(CLI + list(args), input=stdin, capture_output=True, text=True, timeout=60,
                          env={**ENV, **env}, cwd=str(ROOT))


def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    environ["wsgi.input"].read()
    code = "500 Internal Server Error" if environ["PATH_INFO"] == "/fail" else "201 Created"
    start_response(code, [("Content-Type", "application/json")])
    return [b'{"ok": true}']


@pytest.fixture(scope="module")
def dump(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[gwinspect.Trace]]:
    w = gwinspect.wrap(app)
    Client(w).post("/items?x=1", data=b'{"name": "widget"}', buffered=True)
    Client(w).get("/fail", buffered=True)
    Client(w).get("/evil\x1b]0;PWNED\x07\x1b[2J", headers={"X-Evil": "\x1b[31mred\x07"}, buffered=True)
    traces = w.store.list()
    path = tmp_path_factory.mktemp("dumps") / "dump.json"
    path.write_text(gwinspect.dumps(traces))
    return path, traces


def test_help_on_every_command() -> None:
    top = cli("--help")
    assert top.returncode == 0 and all(c in top.stdout for c in ("show", "run", "demo", "export"))
    for args in (["show"], ["run"], ["demo"], ["export"], ["export", "svg"]):
        r = cli(*args, "--help")
        assert r.returncode == 0 and "usage: gwinspect " + " ".join(args) in r.stdout, (args, r.stderr)
    assert cli().returncode == 2  # no command: usage on stderr


def test_console_script_is_installed() -> None:
    script = shutil.which("gwinspect")
    if script is None:
        pytest.skip("the gwinspect console script is not on PATH (pip install -e . first)")
    r = subprocess.run([script, "--version"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and r.stdout.startswith("gwinspect ")


def test_show_a_bundle_lists_then_renders_each(dump: tuple[Path, list[gwinspect.Trace]]) -> None:
    path, traces = dump
    r = cli("show", str(path))
    assert r.returncode == 0, r.stderr
    assert all(t.id in r.stdout for t in traces)
    lines = r.stdout.splitlines()
    assert lines[0].split()[:3] == ["time", "proto", "method"]
    assert "POST  /items?x=1  201" in r.stdout and "GET  /fail  500" in r.stdout
    assert "\x1b" not in r.stdout  # not a terminal: no colour codes
    assert "\\x1b]0;PWNED\\x07" in r.stdout


def test_show_one_trace_by_id_or_prefix_and_full(dump: tuple[Path, list[gwinspect.Trace]]) -> None:
    path, traces = dump
    post = next(t for t in traces if t.request.method == "POST")
    r = cli("show", str(path), "--id", post.id[:8], "--full")
    assert r.returncode == 0, r.stderr
    assert "/fail" not in r.stdout and "request headers" in r.stdout and '{"name": "widget"}' in r.stdout


def test_show_reads_stdin_and_lists(dump: tuple[Path, list[gwinspect.Trace]]) -> None:
    path, _ = dump
    r = cli("show", "-", "--list", stdin=path.read_text())
    assert r.returncode == 0 and "/items" in r.stdout and "start_response" not in r.stdout


def test_show_json_round_trips(dump: tuple[Path, list[gwinspect.Trace]]) -> None:
    path, traces = dump
    r = cli("show", str(path), "--json", "--id", traces[0].id)
    assert r.returncode == 0
    assert gwinspect.loads(r.stdout) == [traces[0]]
    assert json.loads(r.stdout)["format"] == "gwinspect/1"


def test_colour_follows_flags(dump: tuple[Path, list[gwinspect.Trace]]) -> None:
    path, _ = dump
    forced = cli("show", str(path), FORCE_COLOR="1", TERM="xterm-256color")
    assert "\x1b[" in forced.stdout
    assert "\x1b" not in cli("show", str(path), "--no-color", FORCE_COLOR="1").stdout
    assert "\x1b" not in cli("show", str(path), NO_COLOR="1", FORCE_COLOR="1").stdout


def test_width_adapts(dump: tuple[Path, list[gwinspect.Trace]]) -> None:
    path, _ = dump
    narrow = cli("show", str(path), "--list", COLUMNS="60")
    assert max(len(line) for line in narrow.stdout.splitlines()) <= 60


def test_export_svg(dump: tuple[Path, list[gwinspect.Trace]], tmp_path: Path) -> None:
    path, traces = dump
    out = tmp_path / "t.svg"
    r = cli("export", "svg", str(path), "-o", str(out), "--id", traces[0].id, "--full")
    assert r.returncode == 0, r.stderr
    image = out.read_text()
    assert image.startswith("<svg") and "\x1b" not in image
    r = cli("export", "svg", str(path), "-o", str(tmp_path / "list.svg"), "--list")
    assert r.returncode == 0 and "<svg" in (tmp_path / "list.svg").read_text()


def error_of(r: subprocess.CompletedProcess[str]) -> str:
    assert r.returncode != 0
    assert "Traceback" not in r.stderr + r.stdout
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("gwinspect: error: "), r.stderr
    return lines[0]


def test_errors_are_one_line(dump: tuple[Path, list[gwinspect.Trace]], tmp_path: Path) -> None:
    path, _ = dump
    (tmp_path / "bad.json").write_text("{not json")
    (tmp_path / "other.json").write_text('{"hello": 1}')
    (tmp_path / "list.json").write_text("[1, 2]")
    (tmp_path / "binary.json").write_bytes(b"\xff\xfe\x00")
    (tmp_path / "future.json").write_text('{"format": "gwinspect/9", "traces": []}')
    assert "no such file" in error_of(cli("show", str(tmp_path / "missing.json")))
    assert "not valid JSON" in error_of(cli("show", str(tmp_path / "bad.json")))
    assert "not a gwinspect/1 dump" in error_of(cli("show", str(tmp_path / "other.json")))
    assert "not a gwinspect/1 dump" in error_of(cli("show", str(tmp_path / "list.json")))
    assert "not UTF-8" in error_of(cli("show", str(tmp_path / "binary.json")))
    assert "gwinspect/9" in error_of(cli("show", str(tmp_path / "future.json")))
    assert "is a directory" in error_of(cli("show", str(tmp_path)))
    assert "not valid JSON" in error_of(cli("show", "-", stdin=""))
    assert "no trace with id 'nope'" in error_of(cli("show", str(path), "--id", "nope"))
    assert "no such file" in error_of(cli("export", "svg", str(tmp_path / "missing.json"), "-o", "x.svg"))
    assert "cannot write" in error_of(cli("export", "svg", str(path), "-o", str(tmp_path / "no" / "x.svg")))
    hostile = error_of(cli("show", str(tmp_path / "evil\x1b[2J.json")))
    assert "\x1b" not in hostile and "\\x1b[2J" in hostile


def test_a_dump_with_values_of_the_wrong_types_renders_without_a_traceback(
        dump: tuple[Path, list[gwinspect.Trace]], tmp_path: Path) -> None:
    path, _ = dump
    doc = json.loads(path.read_text())
    doc["traces"][0]["request"]["path"] = ["not", "a", "string"]
    doc["traces"][0]["duration_ms"] = {"odd": 1}
    doc["traces"][1]["response"]["status"] = [500]
    doc["traces"][2]["events"][0]["message"] = "\x1b[2J not a dict"
    odd = tmp_path / "odd.json"
    odd.write_text(json.dumps(doc))
    r = cli("show", str(odd), "--full")
    assert "Traceback" not in r.stderr and "\x1b" not in r.stdout
    assert r.returncode == 0, r.stderr
