"""Real servers (uvicorn, waitress) on 127.0.0.1 driven by httpx: streamed responses arrive chunk by chunk
while the app is still producing them, wrapped exactly as bare; and servers see the same response shape."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest

import gwinspect
from tests.apps_core import blob_bytes, events, messages
from tests.realserver import PYTHON, ROOT, free_port, serve

pytestmark = pytest.mark.servers


@contextmanager
def running(server: str, app: str) -> Iterator[str]:
    port = free_port()
    if server == "uvicorn":
        cmd = [PYTHON, "-m", "uvicorn", f"tests.servers_core_app:{app}", "--host", "127.0.0.1", "--port", str(port),
               "--log-level", "warning"]
    else:
        cmd = [PYTHON, "-m", "waitress", f"--listen=127.0.0.1:{port}", "--threads=4",
               f"tests.servers_core_app:{app}"]
    with serve(cmd, port, cwd=ROOT):
        yield f"http://127.0.0.1:{port}"


def stream_step_by_step(base: str) -> tuple[list[bytes], list[str]]:
    """Read /stream; after each chunk arrives, release the app to produce the next one."""
    key = uuid.uuid4().hex
    got: list[bytes] = []
    log: list[str] = []
    with httpx.Client(base_url=base, timeout=20) as client, httpx.Client(base_url=base, timeout=20) as side, \
            client.stream("GET", f"/stream?id={key}") as resp:
        assert resp.status_code == 200
        buffer = b""
        raw = resp.iter_raw()
        for n in (1, 2, 3):
            started = time.monotonic()
            while f"chunk-{n}".encode() not in buffer:
                buffer += next(raw)
            got.append(buffer)
            log.append(f"chunk {n} after {time.monotonic() - started:.2f}s")
            buffer = b""
            if n < 3:
                assert side.get(f"/release?id={key}-{n + 1}").status_code == 204
        rest = b"".join(raw)
        assert rest == b""
    return got, log


@pytest.mark.parametrize(("server", "protocol"), [("uvicorn", "asgi"), ("waitress", "wsgi")])
def test_streamed_response_arrives_chunk_by_chunk_wrapped_and_bare(server: str, protocol: str) -> None:
    results = {}
    for variant in ("bare", "wrapped"):
        with running(server, f"{protocol}_{variant}") as base:
            got, log = stream_step_by_step(base)
            results[variant] = got
            if variant == "wrapped":
                dump = httpx.get(base + "/traces", timeout=20).text
    # Each chunk arrived on its own, before the app (blocked until we released it) produced the next.
    assert results["bare"] == results["wrapped"] == [b"chunk-1;", b"chunk-2;", b"chunk-3;"], log

    [trace] = [t for t in gwinspect.loads(dump) if t.request.path == "/stream"]
    d = trace.to_dict()
    assert d["state"] == "complete" and d["protocol"] == protocol and not d["partial"]
    if protocol == "wsgi":
        chunks = [blob_bytes(e["data"]) for e in events(d, "chunk")]
    else:
        chunks = [blob_bytes(m["body"]) for m in messages(d, "send") if m["type"] == "http.response.body"]
    assert chunks == [b"chunk-1;", b"chunk-2;", b"chunk-3;"]
    gaps = [e["t_ms"] for e in d["events"] if e["kind"] in ("chunk", "send")][-3:]
    assert gaps == sorted(gaps) and gaps[-1] - gaps[0] > 0  # the waits are in the timeline


def without_date(headers: httpx.Headers) -> list[tuple[str, str]]:
    return [(k, v) for k, v in headers.multi_items() if k not in ("date", "server")]


def test_waitress_content_length_and_file_wrapper_exactly_as_bare() -> None:
    seen = {}
    for variant in ("bare", "wrapped"):
        with running("waitress", f"wsgi_{variant}") as base, httpx.Client(base_url=base, timeout=20) as client:
            single, file = client.get("/single"), client.get("/file")
            seen[variant] = (single.status_code, without_date(single.headers), single.content,
                             file.status_code, without_date(file.headers), file.content)
            if variant == "wrapped":
                dump = client.get("/traces").text
    assert seen["wrapped"] == seen["bare"]
    single_headers, file_headers = dict(seen["bare"][1]), dict(seen["bare"][4])
    assert single_headers.get("content-length") == "15"  # waitress used len() == 1
    assert "content-length" in file_headers and "transfer-encoding" not in file_headers  # its file path
    traces = {t.request.path: t for t in gwinspect.loads(dump)}
    assert [e.kind for e in traces["/file"].events][:2] == ["start_response", "file"]
    assert traces["/file"].response is not None and traces["/file"].response.body_size == len(seen["bare"][5])
