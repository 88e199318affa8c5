"""Drive an app in-process, the way a careful server would, so its traces can be checked.

Used by ``gwinspect check``. The drivers follow the specs to the letter (close()
always called, receive() answering as servers do) so that every violation in
the resulting traces is the app's. They import no framework and no server.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
from collections.abc import Iterable
from typing import Any
from wsgiref.util import FileWrapper

HOST = "127.0.0.1"
TIMEOUT_S = 10.0
WS_IDLE_S = 0.5  # how long a WebSocket may stay quiet before the driver hangs up
POST_BODY = json.dumps({"gwinspect": "check"}).encode()


def requests_for(paths: Iterable[str]) -> list[tuple[str, str, bytes]]:
    """(method, path, body): GET each path, then HEAD and a small JSON POST on the first."""
    paths = list(paths) or ["/"]
    return [*(("GET", p, b"") for p in paths), ("HEAD", paths[0], b""), ("POST", paths[0], POST_BODY)]


def _split(target: str) -> tuple[str, str]:
    path, _, query = target.partition("?")
    return path or "/", query


# ---- WSGI -----------------------------------------------------------------
def wsgi_environ(method: str, target: str, body: bytes) -> dict[str, Any]:
    path, query = _split(target)
    environ: dict[str, Any] = {
        "REQUEST_METHOD": method, "SCRIPT_NAME": "", "PATH_INFO": path.encode("utf-8").decode("latin-1"),
        "QUERY_STRING": query, "SERVER_NAME": HOST, "SERVER_PORT": "80", "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": HOST, "HTTP_HOST": HOST, "HTTP_USER_AGENT": "gwinspect-check", "HTTP_ACCEPT": "*/*",
        "wsgi.version": (1, 0), "wsgi.url_scheme": "http", "wsgi.input": io.BytesIO(body),
        "wsgi.errors": io.StringIO(), "wsgi.multithread": False, "wsgi.multiprocess": False,
        "wsgi.run_once": False, "wsgi.file_wrapper": FileWrapper,
    }
    if body:
        environ.update(CONTENT_LENGTH=str(len(body)), CONTENT_TYPE="application/json")
    return environ


def drive_wsgi(app: Any, requests: Iterable[tuple[str, str, bytes]]) -> list[str]:
    """Run each request through ``app``; returns one line per app exception (the traces hold the rest)."""
    problems = []
    for method, target, body in requests:
        sent: dict[str, Any] = {}

        def start_response(status: Any, headers: Any, exc_info: Any = None, sent: dict[str, Any] = sent) -> Any:
            if exc_info is not None and sent.get("body"):
                raise exc_info[1].with_traceback(exc_info[2])
            sent["status"] = status

            def write(data: Any) -> None:
                sent["body"] = sent.get("body", False) or bool(data)
            return write
        try:
            result = app(wsgi_environ(method, target, body), start_response)
            try:
                for chunk in result:
                    sent["body"] = sent.get("body", False) or bool(chunk)
            finally:
                close = getattr(result, "close", None)
                if close is not None:
                    close()
        except Exception as exc:
            problems.append(f"{method} {target}: the app raised {type(exc).__name__}: {exc}")
    return problems


# ---- ASGI -----------------------------------------------------------------
def asgi_scope(kind: str, target: str, method: str = "GET", body: bytes = b"") -> dict[str, Any]:
    path, query = _split(target)
    headers = [(b"host", HOST.encode()), (b"user-agent", b"gwinspect-check"), (b"accept", b"*/*")]
    if body:
        headers += [(b"content-length", str(len(body)).encode()), (b"content-type", b"application/json")]
    scope: dict[str, Any] = {
        "type": kind, "asgi": {"version": "3.0", "spec_version": "2.3"}, "http_version": "1.1",
        "scheme": "http" if kind == "http" else "ws", "path": path, "raw_path": path.encode("utf-8"),
        "query_string": query.encode("latin-1", "replace"), "root_path": "", "headers": headers,
        "client": (HOST, 50000), "server": (HOST, 80), "state": {},
    }
    if kind == "http":
        scope["method"] = method
    else:
        scope["subprotocols"] = []
    return scope


async def _http(app: Any, method: str, target: str, body: bytes, state: dict[str, Any]) -> None:
    done = asyncio.Event()
    delivered = False

    async def receive() -> dict[str, Any]:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}
        await done.wait()  # as servers do: the next event is the end of the connection
        return {"type": "http.disconnect"}

    async def send(message: Any) -> None:
        if isinstance(message, dict) and message.get("type") == "http.response.body" and not message.get("more_body"):
            done.set()
    await app({**asgi_scope("http", target, method, body), "state": dict(state)}, receive, send)


async def _websocket(app: Any, target: str, state: dict[str, Any]) -> None:
    accepted = asyncio.Event()
    outbox: list[dict[str, Any]] = [{"type": "websocket.connect"}]
    # One text frame: a binary one would trip apps that (reasonably) expect text on a text endpoint.
    frames = [{"type": "websocket.receive", "text": "hello", "bytes": None}]
    closed: dict[str, Any] = {}

    async def receive() -> dict[str, Any]:
        if outbox:
            return outbox.pop(0)
        if not accepted.is_set():
            await accepted.wait()
        if closed:  # gone: every further receive() says so again (and the rules flag the app)
            return {"type": "websocket.disconnect", "code": closed["code"]}
        if frames:
            return frames.pop(0)
        await asyncio.sleep(WS_IDLE_S)
        closed["code"] = 1000
        return {"type": "websocket.disconnect", "code": 1000}

    async def send(message: Any) -> None:
        kind = message.get("type") if isinstance(message, dict) else None
        if kind == "websocket.accept":
            accepted.set()
        elif kind == "websocket.close" or (kind == "websocket.http.response.body" and not message.get("more_body")):
            closed["code"] = message.get("code", 1000)
            outbox.append({"type": "websocket.disconnect", "code": closed["code"]})
            accepted.set()
    await app({**asgi_scope("websocket", target), "state": dict(state)}, receive, send)


async def _lifespan(app: Any, state: dict[str, Any], phase: asyncio.Queue[str],
                    answers: asyncio.Queue[str]) -> None:
    async def receive() -> dict[str, Any]:
        return {"type": f"lifespan.{await phase.get()}"}

    async def send(message: Any) -> None:
        await answers.put(str(message.get("type")) if isinstance(message, dict) else "?")
    await app({"type": "lifespan", "asgi": {"version": "3.0", "spec_version": "2.0"}, "state": state},
              receive, send)


async def _run(app: Any, requests: list[tuple[str, str, bytes]], ws_paths: list[str], problems: list[str]) -> None:
    state: dict[str, Any] = {}
    phase: asyncio.Queue[str] = asyncio.Queue()
    answers: asyncio.Queue[str] = asyncio.Queue()
    lifespan = asyncio.ensure_future(_lifespan(app, state, phase, answers))
    await phase.put("startup")
    waiter = asyncio.ensure_future(answers.get())
    await asyncio.wait({lifespan, waiter}, timeout=TIMEOUT_S, return_when=asyncio.FIRST_COMPLETED)
    waiter.cancel()
    if lifespan.done() and not lifespan.cancelled():
        lifespan.exception()  # an app without lifespan support raises: that is allowed
    runs = [(f"{m} {t}", _http(app, m, t, b, state)) for m, t, b in requests]
    runs += [(f"WEBSOCKET {t}", _websocket(app, t, state)) for t in ws_paths]
    for label, coro in runs:
        try:
            await asyncio.wait_for(coro, TIMEOUT_S)
        except asyncio.TimeoutError:
            problems.append(f"{label}: the app did not finish within {TIMEOUT_S:.0f} s")
        except Exception as exc:
            problems.append(f"{label}: the app raised {type(exc).__name__}: {exc}")
    if not lifespan.done():
        await phase.put("shutdown")
        with contextlib.suppress(asyncio.TimeoutError, Exception):
            await asyncio.wait_for(asyncio.shield(lifespan), TIMEOUT_S)
    if not lifespan.done():
        lifespan.cancel()
        with contextlib.suppress(BaseException):
            await lifespan


def drive_asgi(app: Any, requests: Iterable[tuple[str, str, bytes]], ws_paths: Iterable[str]) -> list[str]:
    """Lifespan startup, the requests, a WebSocket session per path, lifespan shutdown."""
    problems: list[str] = []
    asyncio.run(_run(app, list(requests), list(ws_paths), problems))
    return problems
