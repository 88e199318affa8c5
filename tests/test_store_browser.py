"""`gwinspect serve` over a shared store, in Chromium: the list shows every process's traces and updates live."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from gwinspect.store_sqlite import SQLiteStore
from tests.realserver import PYTHON, free_port, serve
from tests.store_helpers import hit, wrapped

pytestmark = [pytest.mark.browser, pytest.mark.servers]

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]


def test_served_store_lists_and_follows_another_process(tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright
    db = tmp_path / "shared.db"
    worker = SQLiteStore(db)  # stands for a server's worker writing to the shared file
    app = wrapped(worker)
    for i in range(3):
        hit(app, f"/from-a-worker/{i}")
    assert worker.flush()
    port = free_port()
    with serve([PYTHON, "-m", "gwinspect", "serve", f"sqlite:///{db}", "--port", str(port)], port), \
            sync_playwright() as p:
        browser = p.chromium.launch(executable_path=shutil.which("chromium"), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(f"http://127.0.0.1:{port}/")  # redirected to the panel
            assert page.url.endswith("/__inspect__/")
            rows = page.locator("#rows tr")
            expect(rows).to_have_count(3)
            expect(page.locator("#rows")).to_contain_text("/from-a-worker/2")
            hit(app, "/written-while-watching")
            assert worker.flush()
            expect(rows).to_have_count(4, timeout=10_000)  # no reload: the event stream announced it
            expect(rows.first).to_contain_text("/written-while-watching")
            assert errors == []
        finally:
            browser.close()
    assert len(SQLiteStore(db)) == 4  # the panel's own requests were not recorded
