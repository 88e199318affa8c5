from __future__ import annotations

import shutil

import pytest


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if shutil.which("chromium") is None:
        skip = pytest.mark.skip(reason="no chromium on PATH (apt-get install -y chromium); browser tests skipped")
        for item in items:
            if "browser" in item.keywords:
                item.add_marker(skip)
