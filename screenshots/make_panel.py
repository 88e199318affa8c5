"""Write screenshots/panel-list.png and screenshots/panel-detail.png from a live demo.

Starts ``python -m gwinspect demo --port <free port>`` (or, where that command
does not exist, a small ASGI app of its own), waits for its traffic, and drives
headless Chromium (Debian's ``chromium``) through Playwright against the panel.

    python screenshots/make_panel.py [--dark]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

from tests.realserver import free_port, serve  # noqa: E402

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]

FALLBACK_APP = textwrap.dedent("""
    import asyncio, json
    import gwinspect

    async def app(scope, receive, send):
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        if scope["path"] == "/slow":
            await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
            for i in range(4):
                await asyncio.sleep(0.05)
                await send({"type": "http.response.body", "body": b"part %d\\n" % i, "more_body": True})
            await send({"type": "http.response.body", "body": b""})
            return
        status = 404 if scope["path"] == "/missing" else 200
        out = json.dumps({"path": scope["path"], "received": len(body)}).encode()
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": out})

    app = gwinspect.wrap(app)
""")


def has_demo() -> bool:
    probe = subprocess.run([sys.executable, "-m", "gwinspect", "demo", "--help"], cwd=ROOT, capture_output=True,
                           text=True, timeout=60, env=dict(os.environ, PYTHONPATH=str(ROOT)))
    return probe.returncode == 0 and "--port" in probe.stdout


def fallback_traffic(base: str) -> None:
    for method, path, body in [("GET", "/", None), ("POST", "/api/items", b'{"name": "widget", "qty": 3}'),
                               ("GET", "/slow", None), ("GET", "/missing", None), ("GET", "/api/items?page=2", None)]:
        req = urllib.request.Request(base + path, data=body, method=method,
                                     headers={"content-type": "application/json"})
        with contextlib.suppress(OSError):  # a 404 is part of the show
            urllib.request.urlopen(req, timeout=10).read()


def wait_for_traces(base: str, n: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with urllib.request.urlopen(base + "/__inspect__/api/traces?limit=1", timeout=10) as r:
            if json.load(r)["total"] >= n:
                return
        time.sleep(0.3)


def pick_detail(base: str) -> str:
    """A request with a JSON body and a streamed or multi-event response makes the best picture."""
    with urllib.request.urlopen(base + "/__inspect__/api/traces?limit=200", timeout=10) as r:
        traces = json.load(r)["traces"]
    def score(t: dict) -> tuple:
        return (t["protocol"] == "asgi", t["method"] == "POST", (t["status"] or 0) // 100 == 2, t["events"])
    return max(traces, key=score)["id"]


def shoot(base: str, dark: bool) -> None:
    from playwright.sync_api import sync_playwright
    suffix = "-dark" if dark else ""
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=shutil.which("chromium"), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 800}, device_scale_factor=1,
                                    color_scheme="dark" if dark else "light")
            page.goto(base + "/__inspect__/", wait_until="networkidle")
            page.wait_for_selector("#rows tr")
            page.wait_for_timeout(2500)  # let the row highlight fade
            page.screenshot(path=str(HERE / f"panel-list{suffix}.png"))
            page.goto(base + "/__inspect__/#/t/" + pick_detail(base))
            page.wait_for_selector(".waterfall")
            page.wait_for_timeout(500)
            page.screenshot(path=str(HERE / f"panel-detail{suffix}.png"), full_page=False)
        finally:
            browser.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dark", action="store_true", help="dark color scheme (writes *-dark.png)")
    args = parser.parse_args()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    if has_demo():
        with serve([sys.executable, "-m", "gwinspect", "demo", "--port", str(port)], port, cwd=ROOT, timeout=60):
            wait_for_traces(base, 8)
            time.sleep(3)  # the demo's traffic arrives over a few seconds
            shoot(base, args.dark)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            Path(tmp, "shot_app.py").write_text(FALLBACK_APP)
            cmd = [sys.executable, "-m", "uvicorn", "shot_app:app", "--port", str(port), "--log-level", "warning"]
            with serve(cmd, port, cwd=tmp):
                fallback_traffic(base)
                wait_for_traces(base, 5)
                shoot(base, args.dark)
    print(f"wrote {HERE / 'panel-list.png'} and {HERE / 'panel-detail.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
