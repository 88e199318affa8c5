"""Client side of the real-server matrix: start bare/wrapped server pairs, compare answers, read traces.

A *pair* is the same scenario app served twice by the same server, once bare and
once wrapped in gwinspect, each on its own free port on 127.0.0.1. What a client
sees from the two must be identical except for headers that differ per response
anyway (``Date``; ``Server`` is compared, it is the same software).
"""

from __future__ import annotations

import contextlib
import os
import socket
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tests.realserver import ROOT, free_port, serve

PY = sys.executable
VARYING = {"date"}
MATRIX_MB = float(os.environ.get("GWINSPECT_MATRIX_MB", "5"))  # 50 for the full-size run by hand

Command = Callable[[str, int], list[str]]


def _uvicorn(app: str, port: int) -> list[str]:
    return [PY, "-m", "uvicorn", f"tests.matrix_apps_asgi:{app}", "--host", "127.0.0.1", "--port", str(port),
            "--lifespan", "on", "--log-level", "warning"]


def _hypercorn(app: str, port: int) -> list[str]:
    # --workers 0: serve in this process (no spawned child), which also makes SIGTERM a graceful shutdown
    return [PY, "-m", "hypercorn", f"tests.matrix_apps_asgi:{app}", "--bind", f"127.0.0.1:{port}",
            "--workers", "0", "--graceful-timeout", "3"]


def _gunicorn(worker: str) -> Command:
    def cmd(app: str, port: int) -> list[str]:
        extra = ["--threads", "4"] if worker == "gthread" else []
        return [PY, "-m", "gunicorn", "-w", "1", "-k", worker, *extra, "-b", f"127.0.0.1:{port}",
                "--graceful-timeout", "3", "--timeout", "120", f"tests.matrix_apps:{app}"]
    return cmd


def _waitress(app: str, port: int) -> list[str]:
    return [PY, "-m", "waitress", f"--listen=127.0.0.1:{port}", "--threads=4", f"tests.matrix_apps:{app}"]


def _wsgiref(app: str, port: int) -> list[str]:
    code = ("import sys; from wsgiref.simple_server import make_server; import tests.matrix_apps as m; "
            "make_server('127.0.0.1', int(sys.argv[1]), getattr(m, sys.argv[2])).serve_forever()")
    return [PY, "-c", code, str(port), app]


# name -> (protocol, command builder)
SERVERS: dict[str, tuple[str, Command]] = {
    "uvicorn": ("asgi", _uvicorn),
    "hypercorn": ("asgi", _hypercorn),
    "gunicorn-sync": ("wsgi", _gunicorn("sync")),
    "gunicorn-gthread": ("wsgi", _gunicorn("gthread")),
    "waitress": ("wsgi", _waitress),
    "wsgiref": ("wsgi", _wsgiref),
}


@dataclass
class Pair:
    server: str
    protocol: str
    dir: Path
    bare: httpx.Client
    wrapped: httpx.Client
    bare_port: int
    wrapped_port: int

    def both(self) -> tuple[tuple[str, httpx.Client], tuple[str, httpx.Client]]:
        return ("bare", self.bare), ("wrapped", self.wrapped)


@contextlib.contextmanager
def serve_pair(server: str, directory: Path) -> Iterator[Pair]:
    protocol, command = SERVERS[server]
    with contextlib.ExitStack() as stack:
        ports = {}
        for tag in ("bare", "wrapped"):
            port = free_port()
            env = {"MATRIX_DIR": str(directory), "MATRIX_TAG": tag}
            stack.enter_context(serve(command(f"{protocol}_{tag}", port), port, cwd=ROOT, env=env))
            ports[tag] = port
        clients = {tag: stack.enter_context(httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60))
                   for tag, port in ports.items()}
        yield Pair(server, protocol, directory, clients["bare"], clients["wrapped"], ports["bare"], ports["wrapped"])


def token() -> str:
    return uuid.uuid4().hex[:12]


def comparable_headers(headers: httpx.Headers) -> list[tuple[str, str]]:
    return [(k.lower(), v) for k, v in headers.multi_items() if k.lower() not in VARYING]


def answer(client: httpx.Client, method: str, url: str, **kwargs: Any) -> tuple[int, list[tuple[str, str]], bytes]:
    r = client.request(method, url, **kwargs)
    return r.status_code, comparable_headers(r.headers), r.content


def streamed_answer(client: httpx.Client, method: str, url: str,
                    **kwargs: Any) -> tuple[int, list[tuple[str, str]], bytes, str | None]:
    """Like :func:`answer`, for responses that may break off: also the error that ended the body."""
    received = bytearray()
    with client.stream(method, url, **kwargs) as r:
        try:
            for part in r.iter_raw():
                received += part
            error = None
        except httpx.HTTPError as exc:
            error = type(exc).__name__
        return r.status_code, comparable_headers(r.headers), bytes(received), error


def find_trace(client: httpx.Client, marker: str, *, complete: bool = True, timeout: float = 10.0) -> dict[str, Any]:
    """The wrapped server's trace whose path or query contains ``marker``, through the panel's API."""
    deadline = time.monotonic() + timeout
    found: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        r = client.get("/__inspect__/api/traces", params={"q": marker, "limit": 10})
        assert r.status_code == 200, r.text
        found = r.json()["traces"]
        if found and (found[0]["state"] == "complete" or not complete):
            full = client.get(f"/__inspect__/api/traces/{found[0]['id']}")
            assert full.status_code == 200
            return full.json()  # type: ignore[no-any-return]
        time.sleep(0.05)
    raise AssertionError(f"no {'complete ' if complete else ''}trace matching {marker!r} in time: {found}")


def messages(trace: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    """The ASGI messages of one direction (``receive`` or ``send``) of a trace."""
    return [e["message"] for e in trace["events"] if e["kind"] == kind]


def raw_request_then_reset(port: int, request: bytes, read_at_least: int) -> int:
    """Send ``request`` on a raw socket, read some of the answer, then drop the connection (RST)."""
    received = 0
    with socket.create_connection(("127.0.0.1", port), timeout=15) as sock:
        sock.sendall(request)
        while received < read_at_least:
            data = sock.recv(65536)
            if not data:
                break
            received += len(data)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    return received


def raw_exchange(port: int, request: bytes, timeout: float = 15.0) -> bytes:
    """Send ``request`` (which should ask for ``Connection: close``) and read everything until EOF."""
    received = bytearray()
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(request)
        while data := sock.recv(65536):
            received += data
    return bytes(received)


def without_date(raw: bytes) -> bytes:
    head, sep, body = raw.partition(b"\r\n\r\n")
    lines = [line for line in head.split(b"\r\n") if not line.lower().startswith(b"date:")]
    return b"\r\n".join(lines) + sep + body


def wait_until(predicate: Callable[[], bool], timeout: float = 15.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")
