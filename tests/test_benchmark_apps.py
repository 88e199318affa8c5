"""The control apps of ``benchmarks/overhead.py --servers``: same answer as the bare app, a loop priced here."""

from __future__ import annotations

import asyncio

import benchmarks.server_apps as server_apps
from tests.apps_core import make_environ, run_wsgi


def test_the_loop_matching_gwinspect_is_priced_in_this_process() -> None:
    # gwinspect adds several times a hello-world request's own time: some iterations must match it.
    assert server_apps.matching_loops("wsgi", rounds=3, n=500) > 0
    assert server_apps.matching_loops("asgi", rounds=3, n=500) > 0


def test_control_apps_answer_as_the_bare_ones() -> None:
    wsgi = run_wsgi(server_apps.wsgi_control, make_environ())
    bare = run_wsgi(server_apps.wsgi_bare, make_environ())
    assert (wsgi.start_calls, wsgi.chunks) == (bare.start_calls, bare.chunks) and wsgi.chunks

    def messages(app: object) -> list[dict[str, object]]:
        sent: list[dict[str, object]] = []

        async def receive() -> dict[str, object]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: dict[str, object]) -> None:
            sent.append(message)
        asyncio.run(app({"type": "http", "method": "GET", "path": "/", "headers": []}, receive, send))  # type: ignore[operator]
        return sent
    assert messages(server_apps.asgi_control) == messages(server_apps.asgi_bare)
