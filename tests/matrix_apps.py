"""What the real-server matrix serves: the same scenarios as a raw WSGI app and a raw ASGI app.

Each server process serves one of ``wsgi_bare``, ``wsgi_wrapped`` (here) or
``asgi_bare``, ``asgi_wrapped`` (in ``matrix_apps_asgi``); the ``wrapped`` ones are
``gwinspect.wrap`` of the ``bare`` ones, panel included, so the test can compare what a client gets from each.
The apps are raw on purpose: no framework smooths over what a server or the
middleware does. Paths (the same in both protocols):

    /small /large?kb=N /stream?kb=N /upload (POST) /sse?id=X&n=N /file /nocontent
    /cached (304 with If-None-Match) /redirect /error-before /error-after
    /disconnect (streams until the client goes away) /_state (counters) /ws (ASGI)
    /echo... (any method, any path below /echo): what the app was given, as JSON

Scenario state lives in ``MATRIX_DIR`` (shared with the test): SSE acknowledgements
and the lifespan marker files. ``MATRIX_TAG`` names the process in those files.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs

import gwinspect

DIR = os.environ.get("MATRIX_DIR", ".")
TAG = os.environ.get("MATRIX_TAG", "bare")
CHUNK = 64 * 1024
SSE_WAIT_S = 8.0
DISCONNECT_LIMIT_S = 20.0  # a /disconnect stream nobody closes ends by itself

ETAG = '"v1"'
SMALL = b"Hello from the matrix!\n"
SMALL_HEADERS = [("Content-Type", "text/plain; charset=utf-8"), ("X-Scenario", "small"),
                 ("Set-Cookie", "a=1; Path=/"), ("Set-Cookie", "b=2; Path=/"), ("Cache-Control", "no-store")]


def chunk(i: int) -> bytes:
    """The i-th 64 KiB chunk of a stream: deterministic, and different from its neighbours."""
    block = bytes(range(256)) * (CHUNK // 256)
    return i.to_bytes(8, "big") + block[8:]


def body_of(kb: int) -> bytes:
    return b"".join(chunk(i) for i in range(kb * 1024 // CHUNK)) + chunk(10**6)[: kb * 1024 % CHUNK]


def sse_event(i: int) -> bytes:
    return f"id: {i}\nevent: tick\ndata: event {i}\n\n".encode()


def wait_for_ack(key: str, i: int) -> bool:
    """The SSE client acknowledges event ``i`` by creating a file once it has *received* it."""
    path = os.path.join(DIR, f"ack-{key}-{i}")
    deadline = time.monotonic() + SSE_WAIT_S
    while time.monotonic() < deadline:
        if os.path.exists(path):
            return True
        time.sleep(0.005)
    return False


def mark(name: str) -> None:
    with open(os.path.join(DIR, f"{TAG}-{name}"), "w") as f:
        f.write(str(time.time()))


class Counters:
    """What the app saw, for ``/_state``: streams still open, closed, and disconnects noticed."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.values = {"open": 0, "closed": 0, "disconnects": 0, "lifespan": 0, "requests": 0}

    def bump(self, name: str, by: int = 1) -> None:
        with self.lock:
            self.values[name] += by

    def dump(self) -> bytes:
        with self.lock:
            return json.dumps(self.values).encode()


COUNTERS = Counters()

# ---------------------------------------------------------------------------- WSGI


def _query(environ: dict[str, Any]) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}


def _body_parts(environ: dict[str, Any]) -> Iterator[bytes]:
    stream = environ["wsgi.input"]
    length = environ.get("CONTENT_LENGTH")
    if length:
        left = int(length)
        while left > 0 and (part := stream.read(min(left, CHUNK))):
            left -= len(part)
            yield part
    elif environ.get("wsgi.input_terminated"):  # PEP 3333: without either, reading could block forever
        while part := stream.read(CHUNK):
            yield part


def _read_body(environ: dict[str, Any]) -> bytes:
    return b"".join(_body_parts(environ))


def upload_answer(parts: Iterator[bytes]) -> bytes:
    """Size and SHA-256 of a body, hashed as it arrives so that a 1 GB upload is never held."""
    digest, size = hashlib.sha256(), 0
    for part in parts:
        digest.update(part)
        size += len(part)
    return json.dumps({"size": size, "sha256": digest.hexdigest()}).encode()


def _stream(kb: int) -> Iterator[bytes]:
    for i in range(kb * 1024 // CHUNK):
        yield chunk(i)


def _sse(key: str, n: int) -> Iterator[bytes]:
    for i in range(n):
        yield sse_event(i)
        if i < n - 1 and not wait_for_ack(key, i):
            yield b"event: gave-up\ndata: the client never received the previous event\n\n"
            return


def _until_disconnect() -> Iterator[bytes]:
    COUNTERS.bump("open")
    try:
        deadline = time.monotonic() + DISCONNECT_LIMIT_S
        i = 0
        while time.monotonic() < deadline:
            yield chunk(i)
            i += 1
            time.sleep(0.001)
    finally:  # run by close(): the server gave up on the client
        COUNTERS.bump("open", -1)
        COUNTERS.bump("closed")


def echo(seen: dict[str, Any], body: bytes) -> bytes:
    """The app's whole view of a request, so hostile requests can be compared bare vs wrapped."""
    seen["body"] = {"size": len(body), "sha256": hashlib.sha256(body).hexdigest()}
    return json.dumps(seen, sort_keys=True, ensure_ascii=True).encode()


PER_PROCESS = ("REMOTE_PORT", "SERVER_PORT")  # differ between the bare and the wrapped server anyway


def _wsgi_echo(environ: dict[str, Any]) -> bytes:
    plain = {k: v for k, v in environ.items() if isinstance(v, str) and k.isupper() and k not in PER_PROCESS
             and k not in os.environ}  # wsgiref copies the process environment in
    return echo({"environ": plain}, _read_body(environ))


def wsgi_bare(environ: dict[str, Any], start_response: Any) -> Any:
    path, q = environ.get("PATH_INFO", ""), _query(environ)
    if path != "/_state":
        COUNTERS.bump("requests")
    if path.startswith("/echo"):
        answer = _wsgi_echo(environ)
        start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(answer)))])
        return [answer]
    text = [("Content-Type", "text/plain")]
    if path == "/small":
        start_response("200 OK", [*SMALL_HEADERS, ("Content-Length", str(len(SMALL)))])
        return [SMALL]
    if path == "/large":
        body = body_of(int(q.get("kb", "1024")))
        start_response("200 OK", [("Content-Type", "application/octet-stream"), ("Content-Length", str(len(body)))])
        return [body]
    if path == "/stream":
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        return _stream(int(q.get("kb", "1024")))
    if path == "/upload":
        answer = upload_answer(_body_parts(environ))
        start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(answer)))])
        return [answer]
    if path == "/sse":
        start_response("200 OK", [("Content-Type", "text/event-stream"), ("Cache-Control", "no-cache")])
        return _sse(q.get("id", "x"), int(q.get("n", "3")))
    if path == "/file":
        filelike = open(os.path.join(DIR, "file.bin"), "rb")  # noqa: SIM115 -- the server closes it
        size = os.fstat(filelike.fileno()).st_size
        start_response("200 OK", [("Content-Type", "application/octet-stream"), ("Content-Length", str(size))])
        return environ["wsgi.file_wrapper"](filelike, CHUNK)
    if path == "/nocontent":
        start_response("204 No Content", [("X-Scenario", "204")])
        return []
    if path == "/cached":
        if environ.get("HTTP_IF_NONE_MATCH") == ETAG:
            start_response("304 Not Modified", [("ETag", ETAG)])
            return []
        start_response("200 OK", [("ETag", ETAG), ("Content-Type", "text/plain"), ("Content-Length", "6")])
        return [b"cached"]
    if path == "/redirect":
        start_response("302 Found", [("Location", "/small"), ("Content-Length", "0")])
        return []
    if path == "/error-before":
        raise RuntimeError("boom before the response started")
    if path == "/error-after":
        return _error_after(start_response)
    if path == "/disconnect":
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        return _until_disconnect()
    if path == "/_state":
        start_response("200 OK", [("Content-Type", "application/json")])
        return [COUNTERS.dump()]
    start_response("404 Not Found", text)
    return [b"no such scenario"]


def _error_after(start_response: Any) -> Iterator[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    yield b"partial body, then "
    raise RuntimeError("boom after the response started")


wsgi_wrapped = gwinspect.wrap(wsgi_bare)
