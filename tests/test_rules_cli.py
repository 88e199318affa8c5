"""`gwinspect rules`, `gwinspect check`, and docs/rules.md kept in step with the catalogue."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from gwinspect.cli import main
from gwinspect.rules.catalogue import RULES, SEVERITIES
from gwinspect.rules.docs import render
from tests.realserver import ROOT

BROKEN_WSGI = """
def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "99")])
    return [b"short"]
"""
BROKEN_ASGI = """
async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        await receive()
        await send({"type": "lifespan.startup.complete"})
        await receive()
        return  # never answers shutdown
    if scope["type"] == "websocket":
        await receive()
        await send({"type": "websocket.send", "text": "before accept"})
        await send({"type": "websocket.close"})
        return
    await receive()
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})
"""
GOOD_STARLETTE = """
from tests.rules_apps import make_starlette
app = make_starlette()
"""


def test_catalogue_is_well_formed() -> None:
    ids = [r.id for r in RULES]
    assert len(ids) == len(set(ids))
    for r in RULES:
        assert r.severity in SEVERITIES
        assert r.id.split("-")[0] in ("WSGI", "ASGI") and r.summary and r.hint and r.spec
        assert r.url.startswith("https://")
        assert "\n" not in r.summary


def test_docs_rules_md_is_generated_from_the_catalogue() -> None:
    on_disk = (ROOT / "docs" / "rules.md").read_text(encoding="utf-8")
    assert on_disk == render(), "docs/rules.md is stale: run `python -m gwinspect.rules.docs > docs/rules.md`"
    for r in RULES:
        assert f"`{r.id}`" in on_disk


def test_rules_command_lists_every_rule(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["rules", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [r["id"] for r in listed] == [r.id for r in RULES]
    assert set(listed[0]) == {"id", "severity", "summary", "hint", "spec", "url"}
    assert main(["rules", "--no-color"]) == 0
    text = capsys.readouterr().out
    assert all(r.id in text for r in RULES)


def write_module(tmp_path: Path, name: str, source: str) -> None:
    (tmp_path / f"{name}.py").write_text(textwrap.dedent(source), encoding="utf-8")


def run_check(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env_path = f"{ROOT}"
    return subprocess.run([sys.executable, "-m", "gwinspect", "check", *args], cwd=tmp_path, text=True,
                          capture_output=True, timeout=60, env={"PYTHONPATH": env_path, "PATH": "/usr/bin:/bin",
                                                                 "NO_COLOR": "1"})


def test_check_wsgi_app_with_errors_exits_1(tmp_path: Path) -> None:
    write_module(tmp_path, "broken_wsgi", BROKEN_WSGI)
    result = run_check(tmp_path, "broken_wsgi:app", "--path", "/", "--path", "/other", "--json")
    assert result.returncode == 1, result.stderr
    report = json.loads(result.stdout)
    assert [(t["method"], t["path"]) for t in report["traces"]] == [
        ("GET", "/"), ("GET", "/other"), ("HEAD", "/"), ("POST", "/")]
    rules = {v["rule"] for t in report["traces"] for v in t["violations"]}
    assert "WSGI-LEN-001" in rules and report["counts"]["error"] >= 3
    text = run_check(tmp_path, "broken_wsgi:app", "--timeline")
    assert text.returncode == 1 and "WSGI-LEN-001" in text.stdout and "errors" in text.stdout
    assert "start_response" in text.stdout  # the timeline of the trace, with its violations marked


def test_check_asgi_app_covers_lifespan_and_websocket(tmp_path: Path) -> None:
    write_module(tmp_path, "broken_asgi", BROKEN_ASGI)
    result = run_check(tmp_path, "broken_asgi:app", "--json")
    assert result.returncode == 1, result.stderr
    report = json.loads(result.stdout)
    by_type: dict[str, set[str]] = {}
    for t in report["traces"]:
        by_type.setdefault(t["type"], set()).update(v["rule"] for v in t["violations"])
    assert "ASGI-WS-001" in by_type["websocket"]
    assert "ASGI-LS-003" in by_type["lifespan"]
    assert not {r for r in by_type["http"] if not r.startswith("ASGI-HTTP-008")}


def test_check_clean_framework_app_exits_0(tmp_path: Path) -> None:
    write_module(tmp_path, "good_site", GOOD_STARLETTE)
    result = run_check(tmp_path, "good_site:app", "--path", "/json", "--path", "/stream", "--ws", "/ws")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 errors, 0 warnings" in result.stdout


def test_check_usage_errors_exit_2(tmp_path: Path) -> None:
    for args in (["no_such_module:app"], ["not-a-spec"], ["json:__name__"]):
        result = run_check(tmp_path, *args)
        assert result.returncode == 2, (args, result.stdout, result.stderr)
        assert result.stderr.startswith("gwinspect: error:") and "Traceback" not in result.stderr
