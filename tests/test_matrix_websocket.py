"""The ASGI-only part of the matrix: WebSocket echo and lifespan, bare vs wrapped, under uvicorn and hypercorn."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from tests.matrix_client import Pair, find_trace, messages, serve_pair, token

pytestmark = [pytest.mark.servers, pytest.mark.timeout(120)]
ASGI_SERVERS = ["uvicorn", "hypercorn"]
FRAMES: list[str | bytes] = ["hello", b"\x00\x01\xffbinary", "ünïcødé ✓", b"", "x" * 70_000, bytes(range(256)) * 300]


@pytest.fixture(scope="module", params=ASGI_SERVERS)
def pair(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    directory = tmp_path_factory.mktemp(f"ws-{request.param}")
    (directory / "file.bin").write_bytes(b"unused")
    with serve_pair(request.param, directory) as p:
        yield p


def echo_session(port: int, mark: str) -> tuple[list[str | bytes], int | None, str | None]:
    """Send every frame, read each echo, then ask the app to close; what came back and the close code."""
    echoes: list[str | bytes] = []
    with connect(f"ws://127.0.0.1:{port}/ws?t={mark}", open_timeout=10, close_timeout=5,
                 max_size=None) as ws:
        for frame in FRAMES:
            ws.send(frame)
            echoes.append(ws.recv(timeout=10))
        ws.send("close")
        try:
            ws.recv(timeout=10)
        except ConnectionClosed as exc:
            return echoes, exc.rcvd.code if exc.rcvd else None, exc.rcvd.reason if exc.rcvd else None
    raise AssertionError("the app did not close the connection")


def test_websocket_echo_text_bytes_and_close_code_identical(pair: Pair) -> None:
    mark = token()
    bare = echo_session(pair.bare_port, mark)
    wrapped = echo_session(pair.wrapped_port, mark)
    assert wrapped == bare
    assert bare == (FRAMES, 4001, "bye")
    trace = find_trace(pair.wrapped, mark)
    assert trace["type"] == "websocket" and trace["response"]["status"] == 101 and trace["error"] is None
    received = [m for m in messages(trace, "receive") if m["type"] == "websocket.receive"]
    sent = messages(trace, "send")
    assert [m["type"] for m in sent] == ["websocket.accept"] + ["websocket.send"] * len(FRAMES) + ["websocket.close"]
    assert sent[-1]["code"] == 4001 and sent[-1]["reason"] == "bye"
    assert len(received) == len(FRAMES) + 1
    assert received[0]["text"] == "hello" and received[1]["bytes"]["size"] == len(FRAMES[1])


def test_lifespan_startup_and_shutdown_run_once_each_bare_and_wrapped(tmp_path: Path) -> None:
    for server in ASGI_SERVERS:
        directory = tmp_path / server
        directory.mkdir()
        with serve_pair(server, directory) as p:
            for tag in ("bare", "wrapped"):
                assert (directory / f"{tag}-startup").exists()
                assert not (directory / f"{tag}-shutdown").exists()
            assert p.bare.get("/_state").json()["lifespan"] == p.wrapped.get("/_state").json()["lifespan"] == 1
            trace = find_trace(p.wrapped, "lifespan", complete=False)
            assert trace["type"] == "lifespan" and trace["state"] == "in_progress"
            assert [m["type"] for m in messages(trace, "receive")] == ["lifespan.startup"]
            assert [m["type"] for m in messages(trace, "send")] == ["lifespan.startup.complete"]
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and not all((directory / f"{t}-shutdown").exists()
                                                      for t in ("bare", "wrapped")):
            time.sleep(0.05)
        for tag in ("bare", "wrapped"):
            assert (directory / f"{tag}-shutdown").exists(), f"{server} {tag}: lifespan.shutdown never ran"
