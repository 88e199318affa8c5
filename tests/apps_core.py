"""Shared fixtures for the core tests: minimal WSGI/ASGI "servers" that record exactly what they see.

The same driver runs the bare app and the wrapped app, so a transparency test is
``assert drive(bare) == drive(gwinspect.wrap(bare))`` on everything a real
server could observe: start_response calls, write() data, each chunk as a
separate item, close() calls, the exception object, and for ASGI the exact
sequence (and identity) of the messages sent.
"""

from __future__ import annotations

import asyncio
import functools
import io
import json
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import gwinspect
from gwinspect.model import Blob

# ---------------------------------------------------------------------------- WSGI


def make_environ(method: str = "GET", path: str = "/", query: str = "", body: bytes = b"",
                 headers: dict[str, str] | None = None, *, stream: Any = None, content_length: bool = True,
                 **extra: Any) -> dict[str, Any]:
    env: dict[str, Any] = {
        "REQUEST_METHOD": method, "SCRIPT_NAME": "", "PATH_INFO": path, "QUERY_STRING": query,
        "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "80", "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1", "REMOTE_PORT": "50000",
        "wsgi.version": (1, 0), "wsgi.url_scheme": "http",
        "wsgi.input": stream if stream is not None else io.BytesIO(body), "wsgi.errors": sys.stderr,
        "wsgi.multithread": False, "wsgi.multiprocess": False, "wsgi.run_once": False,
    }
    if body and content_length:
        env["CONTENT_LENGTH"] = str(len(body))
    for name, value in (headers or {}).items():
        key = name.upper().replace("-", "_")
        env[key if key in ("CONTENT_TYPE", "CONTENT_LENGTH") else "HTTP_" + key] = value
    env.update(extra)
    return env


@dataclass
class WSGIOutcome:
    """Everything a WSGI server observes while serving one request."""

    start_calls: list[tuple[Any, ...]] = field(default_factory=list)
    writes: list[bytes] = field(default_factory=list)
    chunks: list[Any] = field(default_factory=list)
    close_calls: int = 0
    exception: BaseException | None = None
    stage: str | None = None  # where the exception surfaced: call, iteration, close
    result_type: type | None = None
    result_len: int | None = None

    def observable(self) -> tuple[Any, ...]:
        """What a comparison between bare and wrapped looks at (the exception by identity)."""
        return (self.start_calls, self.writes, self.chunks, self.close_calls, self.stage,
                self.result_len, id(self.exception) if self.exception is not None else None)


def run_wsgi(app: Callable[..., Iterable[bytes]], env: dict[str, Any], *, iterate: bool = True,
             close: bool = True, stop_after: int | None = None) -> WSGIOutcome:
    """Serve one request the way PEP 3333 servers do (start_response may re-raise exc_info)."""
    out = WSGIOutcome()
    sent_headers = False

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable[[bytes], None]:
        out.start_calls.append((status, list(headers), exc_info[1] if exc_info else None))
        if exc_info and sent_headers:
            raise exc_info[1].with_traceback(exc_info[2])
        return out.writes.append

    result: Any = None
    try:
        out.stage = "call"
        result = app(env, start_response)
        out.result_type = type(result)
        try:
            out.result_len = len(result)
        except TypeError:
            out.result_len = None
        if iterate:
            out.stage = "iteration"
            for i, chunk in enumerate(result):
                sent_headers = True
                out.chunks.append(chunk)
                if stop_after is not None and i + 1 >= stop_after:
                    break
        out.stage = None
    except BaseException as exc:
        out.exception = exc
    finally:
        if close and result is not None and hasattr(result, "close"):
            stage = out.stage
            try:
                out.stage = "close"
                result.close()
                out.stage = stage
            except BaseException as exc:
                out.exception = exc
    return out


def counting_close(body: Iterable[bytes], counter: list[int], *, fail: BaseException | None = None) -> Any:
    """An iterable with a close() that counts its calls (and may raise)."""
    class Body:
        def __iter__(self) -> Any:
            return iter(body)

        def close(self) -> None:
            counter.append(1)
            if fail is not None:
                raise fail
    return Body()


# ---------------------------------------------------------------------------- ASGI


def http_scope(path: str = "/", method: str = "GET", *, query: bytes = b"",
               headers: list[tuple[bytes, bytes]] | None = None, type_: str = "http", **extra: Any) -> dict[str, Any]:
    scope: dict[str, Any] = {
        "type": type_, "asgi": {"version": "3.0", "spec_version": "2.3"}, "http_version": "1.1",
        "scheme": "http" if type_ == "http" else "ws", "path": path,
        "raw_path": path.encode("utf-8", "surrogateescape"),
        "query_string": query, "root_path": "", "headers": list(headers or []),
        "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 80),
    }
    if type_ == "http":
        scope["method"] = method
    scope.update(extra)
    return scope


@dataclass
class ASGIOutcome:
    sent: list[Any] = field(default_factory=list)
    received: list[Any] = field(default_factory=list)  # what receive() handed out
    exception: BaseException | None = None


async def drive_asgi(app: Any, scope: dict[str, Any], incoming: Iterable[dict[str, Any]],
                     *, then: dict[str, Any] | None = None) -> ASGIOutcome:
    """Run ``app`` once; receive() yields ``incoming`` then ``then`` (default: a disconnect) forever."""
    out = ASGIOutcome()
    queue = list(incoming)
    tail = then if then is not None else {"type": "http.disconnect" if scope["type"] == "http"
                                          else "websocket.disconnect", "code": 1006}

    async def receive() -> dict[str, Any]:
        await asyncio.sleep(0)
        message = queue.pop(0) if queue else tail
        out.received.append(message)
        return message

    async def send(message: Any) -> None:
        await asyncio.sleep(0)
        out.sent.append(message)

    try:
        await app(scope, receive, send)
    except BaseException as exc:
        out.exception = exc
    return out


def run_asgi(app: Any, scope: dict[str, Any], incoming: Iterable[dict[str, Any]] = (), **kw: Any) -> ASGIOutcome:
    return asyncio.run(drive_asgi(app, scope, incoming, **kw))


def request_messages(*parts: bytes) -> list[dict[str, Any]]:
    parts = parts or (b"",)
    return [{"type": "http.request", "body": p, "more_body": i < len(parts) - 1} for i, p in enumerate(parts)]


# ---------------------------------------------------------------------------- traces


def only_trace(inspector: Any, type_: str | None = None) -> dict[str, Any]:
    traces = [t.to_dict() for t in inspector.store.list(limit=10_000)]
    if type_ is not None:
        traces = [d for d in traces if d["type"] == type_]
    assert len(traces) == 1, f"expected one trace, got {len(traces)}"
    return traces[0]


def blob_bytes(value: Any) -> bytes:
    """The bytes a dict-form Blob (or a Blob, or a str) stands for."""
    if isinstance(value, Blob):
        return value.data
    if isinstance(value, str):
        return value.encode("utf-8")
    assert Blob.looks_like(value), f"not a bytes object: {value!r}"
    return Blob.from_dict(value).data


def events(d: dict[str, Any], *kinds: str) -> list[dict[str, Any]]:
    return [e for e in d["events"] if not kinds or e["kind"] in kinds]


def messages(d: dict[str, Any], kind: str | None = None) -> list[dict[str, Any]]:
    return [e["message"] for e in d["events"] if "message" in e and (kind is None or e["kind"] == kind)]


@functools.cache
def schema_validator() -> Any:
    import jsonschema
    schema = json.loads(resources.files("gwinspect").joinpath("trace.schema.json").read_text(encoding="utf-8"))
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def validate_dump(text: str) -> Any:
    """Parse a dump and validate it against the shipped gwinspect/trace.schema.json."""
    doc = json.loads(text)
    schema_validator().validate(doc)
    return doc


def roundtrip_ok(inspector: Any) -> None:
    """Dump, validate, reload: equal dicts and identical bytes."""
    traces = inspector.store.list(limit=10_000)
    text = gwinspect.dumps(traces)
    validate_dump(text)
    back = gwinspect.loads(text)
    assert [t.to_dict() for t in back] == [t.to_dict() for t in traces]
    assert gwinspect.dumps(back) == text
