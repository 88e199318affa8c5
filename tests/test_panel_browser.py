"""The panel page in real headless Chromium (Playwright) against uvicorn and waitress."""

from __future__ import annotations

import json
import shutil
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.realserver import PYTHON, free_port, serve

pytestmark = [pytest.mark.browser, pytest.mark.servers]

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
XSS_PATH = '/x"><img src=x onerror=window.__pwned=1><script>window.__pwned=2</script>'
XSS_HEADER = "<script>window.__pwned=3</script>"
XSS_BODY = b'</script><script>window.__pwned=4</script>"><img src=x onerror=window.__pwned=5>'

APPS = textwrap.dedent("""
    import asyncio
    import gwinspect

    def wsgi_app(environ, start_response):
        path = environ["PATH_INFO"]
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        if path == "/boom":
            raise RuntimeError("kaboom from the app")
        if path == "/bare-status":
            start_response("200", [("Content-Type", "text/plain")])  # no reason phrase: a rule objects
            return [b"bare"]
        if path == "/binary":
            start_response("200 OK", [("Content-Type", "application/octet-stream")])
            return [bytes(range(256))]
        start_response("200 OK", [("Content-Type", "text/html")])
        return [b"<p>echo</p>", body]

    async def asgi_app(scope, receive, send):
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        if scope["path"] == "/boom":
            raise RuntimeError("kaboom from the app")
        if scope["path"] == "/slow-stream":
            await send({"type": "http.response.start", "status": 200, "headers": []})
            for i in range(4):
                await asyncio.sleep(0.5)
                await send({"type": "http.response.body", "body": b"tick", "more_body": True})
            await send({"type": "http.response.body", "body": b""})
            return
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/html")]})
        await send({"type": "http.response.body", "body": b"<p>echo</p>", "more_body": True})
        await send({"type": "http.response.body", "body": body})

    wsgi = gwinspect.wrap(wsgi_app, max_traces=1000)
    asgi = gwinspect.wrap(asgi_app, max_traces=1000)
""")


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    d = tmp_path_factory.mktemp("browserapps")
    (d / "panel_browser_apps.py").write_text(APPS)
    up, wp = free_port(), free_port()
    with serve([PYTHON, "-m", "uvicorn", "panel_browser_apps:asgi", "--port", str(up), "--log-level", "critical"],
               up, cwd=d), \
         serve([PYTHON, "-m", "waitress", "--listen", f"127.0.0.1:{wp}", "panel_browser_apps:wsgi"], wp, cwd=d):
        yield {"asgi": f"http://127.0.0.1:{up}", "wsgi": f"http://127.0.0.1:{wp}"}


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=shutil.which("chromium"), args=CHROMIUM_ARGS)
        yield b
        b.close()


class Page:
    """A fresh page that collects console errors, page errors and dialogs."""

    def __init__(self, browser: Any, **options: Any) -> None:
        self.context = browser.new_context(viewport=options.pop("viewport", {"width": 1280, "height": 800}),
                                           accept_downloads=True, **options)
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.dialogs: list[str] = []
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("dialog", lambda d: (self.dialogs.append(d.message), d.dismiss()))

    def check_clean(self) -> None:
        assert self.page.evaluate("window.__pwned || 0") == 0
        assert self.dialogs == []
        assert [e for e in self.errors if "favicon" not in e] == []


@pytest.fixture
def page(browser: Any) -> Iterator[Page]:
    p = Page(browser)
    yield p
    p.context.close()


@pytest.mark.parametrize("kind", ["asgi", "wsgi"])
def test_list_updates_live_and_payloads_stay_text(servers: dict[str, str], page: Page, kind: str) -> None:
    from playwright.sync_api import expect
    base = servers[kind]
    httpx.get(base + "/first", timeout=10)
    page.page.goto(base + "/__inspect__/")
    expect(page.page.locator("#rows")).to_contain_text("/first")
    expect(page.page.locator("#live")).to_contain_text("live")
    httpx.post(base + XSS_PATH, content=XSS_BODY, headers={"X-Evil": XSS_HEADER}, timeout=10)
    row = page.page.locator("#rows tr", has_text="onerror=window.__pwned=1").first
    expect(row).to_be_visible(timeout=8000)  # arrived without a reload
    assert page.page.locator("#rows img, #rows script").count() == 0
    row.click()
    detail = page.page.locator("#detail-view")
    expect(detail).to_contain_text(XSS_HEADER)
    expect(detail).to_contain_text("window.__pwned=4")
    assert page.page.locator("#detail-view img, #detail-view script").count() == 0
    page.page.wait_for_timeout(300)
    page.check_clean()
    # and Trusted Types would stop any string from reaching an HTML sink
    probe = "() => { try { document.body.insertAdjacentHTML('beforeend', '<i>x</i>'); return 'allowed'; }" \
            " catch (e) { return e.name; } }"
    assert page.page.evaluate(probe) == "TypeError"


@pytest.mark.parametrize("kind", ["asgi", "wsgi"])
def test_detail_timeline_bodies_and_actions(servers: dict[str, str], page: Page, kind: str) -> None:
    from playwright.sync_api import expect
    base = servers[kind]
    payload = {"name": "widget", "tags": ["a", "b"]}
    r = httpx.post(base + "/items?x=1", json=payload, timeout=10)
    assert r.status_code == 200
    tid = httpx.get(base + "/__inspect__/api/traces?limit=1", timeout=10).json()["traces"][0]["id"]
    trace = httpx.get(f"{base}/__inspect__/api/traces/{tid}", timeout=10).json()
    page.page.goto(f"{base}/__inspect__/#/t/{tid}")
    detail = page.page.locator("#detail-view")
    expect(detail).to_contain_text('"name": "widget"')  # the request body, pretty-printed JSON
    expect(detail).to_contain_text("<p>echo</p>")  # the response body, as text
    expect(page.page.locator(".wf-row")).to_have_count(len(trace["events"]))
    marks = ("http.request", "http.response.start", "http.response.body") if kind == "asgi" else (
        "input read()", "start_response 200 OK", "chunk", "close()")
    for mark in marks:
        expect(page.page.locator(".waterfall")).to_contain_text(mark)
    expect(detail).to_contain_text("ASGI scope" if kind == "asgi" else "WSGI environ")
    expect(detail).to_contain_text("content-type")
    # scrub to the start: every event after t=0 is dimmed
    page.page.locator(".scrub").fill("0")
    later = sum(1 for e in trace["events"] if e["t_ms"] > 0)
    expect(page.page.locator(".wf-row.future")).to_have_count(later)
    expect(page.page.locator(".scrub-readout")).to_contain_text("no response yet")
    # an event opens to show its fields
    page.page.locator(".wf-head").first.click()
    expect(page.page.locator(".wf-fields").first).to_be_visible()
    page.page.get_by_role("button", name="Copy as curl").click()
    expect(page.page.locator(".curl")).to_contain_text("curl -X POST")
    expect(page.page.locator(".curl")).to_contain_text("/items?x=1")
    with page.page.expect_download() as download:
        page.page.get_by_role("link", name="Download JSON").click()
    assert json.loads(Path(download.value.path()).read_text())["id"] == tid
    page.check_clean()


def test_a_deeply_nested_json_body_is_shown_as_sent_without_freezing_the_page(servers: dict[str, str],
                                                                              page: Page) -> None:
    # Indenting 4,000 levels would make 32 MB of text out of this 8 KB body and hang the tab.
    from playwright.sync_api import expect
    base = servers["asgi"]
    nested = "[" * 4000 + "]" * 4000
    r = httpx.post(base + "/nested", content=nested, headers={"content-type": "application/json"}, timeout=10)
    assert r.status_code == 200
    tid = httpx.get(base + "/__inspect__/api/traces?limit=1", timeout=10).json()["traces"][0]["id"]
    page.page.goto(f"{base}/__inspect__/#/t/{tid}")
    body = page.page.locator("#detail-view .body pre").first
    expect(body).to_contain_text("[[[[[[[[", timeout=5000)
    assert len(body.inner_text()) < 20_000
    page.check_clean()


def test_a_request_in_flight_grows_live_then_completes(servers: dict[str, str], page: Page) -> None:
    import threading

    from playwright.sync_api import expect
    base = servers["asgi"]
    page.page.goto(base + "/__inspect__/")
    expect(page.page.locator("#live")).to_contain_text("live")
    slow = threading.Thread(target=lambda: httpx.get(base + "/slow-stream", timeout=10))
    slow.start()
    try:
        row = page.page.locator("#rows tr", has_text="/slow-stream").first
        expect(row).to_contain_text("in progress")
        row.locator("a").click()
        expect(page.page.locator(".facts")).to_contain_text("in_progress")
        expect(page.page.locator(".wf-row")).to_have_count(7, timeout=8000)  # request, start, 4 ticks, end
        expect(page.page.locator(".facts")).to_contain_text("complete")
    finally:
        slow.join()
    page.check_clean()


@pytest.mark.parametrize("kind", ["asgi", "wsgi"])
def test_exception_traceback_in_place(servers: dict[str, str], page: Page, kind: str) -> None:
    from playwright.sync_api import expect
    base = servers[kind]
    httpx.get(base + "/boom", timeout=10)
    page.page.goto(base + "/__inspect__/#/?q=path:/boom")
    expect(page.page.locator("#rows tr")).not_to_have_count(0)
    expect(page.page.locator("#rows tr").first).to_contain_text("RuntimeError")
    page.page.locator("#rows tr a").first.click()
    expect(page.page.locator(".traceback")).to_contain_text("kaboom from the app")
    expect(page.page.locator(".waterfall")).to_contain_text("exception in")
    page.check_clean()


def test_violations_next_to_their_event_and_binary_as_hex(servers: dict[str, str], page: Page) -> None:
    from playwright.sync_api import expect
    base = servers["wsgi"]
    httpx.get(base + "/bare-status", timeout=10)
    tid = httpx.get(base + "/__inspect__/api/traces?limit=1", timeout=10).json()["traces"][0]["id"]
    violations = httpx.get(f"{base}/__inspect__/api/traces/{tid}", timeout=10).json()["violations"]
    attached = [v for v in violations if isinstance(v["event"], int)]
    assert attached, violations  # the rules module flags a status without a reason phrase
    page.page.goto(f"{base}/__inspect__/#/t/{tid}")
    row = page.page.locator(".wf-row").nth(attached[0]["event"])
    expect(row.locator(".violation")).to_contain_text(attached[0]["rule"])
    expect(page.page.locator(".violations")).to_contain_text(attached[0]["message"])
    httpx.get(base + "/binary", timeout=10)
    tid = httpx.get(base + "/__inspect__/api/traces?limit=1", timeout=10).json()["traces"][0]["id"]
    page.page.goto(f"{base}/__inspect__/#/t/{tid}")
    expect(page.page.locator("pre.hex")).to_contain_text("00000000  00 01 02 03")
    page.check_clean()


def test_filter_pagination_bundle_and_clear(servers: dict[str, str], page: Page) -> None:
    from playwright.sync_api import expect
    base = servers["asgi"]
    with httpx.Client(base_url=base, timeout=10) as c:
        for i in range(55):
            c.get(f"/many/{i}")
        c.post("/only-post", content=b"x")
    page.page.goto(base + "/__inspect__/")
    expect(page.page.locator("#rows tr")).to_have_count(50)
    page.page.locator("#older").click()
    expect(page.page.locator("#range")).to_contain_text("51\u2013")
    page.page.fill("#filter", "post path:/only")
    expect(page.page.locator("#rows tr")).to_have_count(1)
    expect(page.page.locator("#rows")).to_contain_text("/only-post")
    assert "q=post+path%3A%2Fonly" in (page.page.locator("#bundle").get_attribute("href") or "")
    with page.page.expect_download() as download:
        page.page.locator("#bundle").click()
    bundle = json.loads(Path(download.value.path()).read_text())
    assert [t["request"]["path"] for t in bundle["traces"]] == ["/only-post"]
    page.page.locator("#clear").click()
    page.page.locator("#clear").click()  # the second click confirms
    expect(page.page.locator("#range")).to_contain_text("0 requests")
    assert httpx.get(base + "/__inspect__/api/traces", timeout=10).json()["total"] == 0
    page.check_clean()


def test_narrow_window_and_dark_theme(servers: dict[str, str], browser: Any) -> None:
    from playwright.sync_api import expect
    base = servers["wsgi"]
    httpx.get(base + "/a/rather/long/path/that/should/wrap/instead/of/overflowing/the/narrow/window", timeout=10)
    p = Page(browser, viewport={"width": 400, "height": 800}, color_scheme="dark")
    try:
        p.page.goto(base + "/__inspect__/")
        expect(p.page.locator("#rows tr").first).to_be_visible()
        assert p.page.evaluate("document.documentElement.scrollWidth") <= 400
        background = p.page.evaluate("getComputedStyle(document.body).backgroundColor")
        assert background == "rgb(15, 18, 22)"
        p.page.locator("#rows tr a").first.click()
        expect(p.page.locator(".waterfall")).to_be_visible()
        assert p.page.evaluate("document.documentElement.scrollWidth") <= 400
        p.check_clean()
    finally:
        p.context.close()
