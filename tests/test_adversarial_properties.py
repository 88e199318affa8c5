"""Property-based: whatever environ, scope or message sequence arrives, gwinspect records it without raising,
changes nothing the app or server sees, and its trace survives ``snapshot``/``to_dict``/``dumps``/``loads``.

The fake servers here hand the app hypothesis-made values -- non-dict messages,
``str`` bodies, non-string keys, objects whose ``repr`` raises, lone surrogates --
and record everything the app gives back, so bare and wrapped runs can be compared.
"""

from __future__ import annotations

import asyncio
import io
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import gwinspect

PROPERTY = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])


class Hostile:
    """A value whose repr, str, eq and hash all misbehave."""

    def __repr__(self) -> str:
        raise RuntimeError("no repr for you")

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        raise RuntimeError("no eq")

    __hash__ = None  # type: ignore[assignment]


class Huge:
    def __repr__(self) -> str:
        return "x" * 200_000


texts = st.text(st.characters(codec="utf-8", exclude_categories=()), max_size=30) | st.text(
    st.characters(max_codepoint=0xFF), max_size=30) | st.sampled_from(["\udcff", "\x00", "\x1b[2J", ""])
scalars = st.none() | st.booleans() | st.integers() | st.floats() | texts | st.binary(max_size=40) \
    | st.builds(bytearray, st.binary(max_size=10)) | st.builds(Hostile) | st.builds(Huge)
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4) | st.tuples(inner, inner)
                      | st.dictionaries(texts | st.integers() | st.binary(max_size=5), inner, max_size=4),
                      max_leaves=12)


def round_trips(inspector: Any) -> None:
    traces = inspector.store.list(limit=10)
    assert traces, "the request was not recorded"
    for trace in traces:
        as_dict = trace.to_dict()
        back = gwinspect.loads(gwinspect.dumps(trace))
        assert len(back) == 1 and back[0].to_dict() == as_dict
        assert gwinspect.loads(gwinspect.dumps(traces))[0].id == traces[0].id


# ---------------------------------------------------------------------------- WSGI
environs = st.dictionaries(texts | st.sampled_from(["HTTP_X", "PATH_INFO", "QUERY_STRING", "REQUEST_METHOD",
                                                    "CONTENT_LENGTH", "SCRIPT_NAME", "wsgi.input"]),
                           values, max_size=12)
statuses = st.sampled_from(["200 OK", "404 Not Found", "204 No Content"]) | texts | st.integers() | st.none()
header_lists = st.lists(st.tuples(texts, texts) | st.tuples(values, values) | values, max_size=5) | values
chunks = st.lists(st.binary(max_size=30) | texts | st.builds(memoryview, st.binary(max_size=8)) | values,
                  max_size=6)


def run_wsgi(app: Any, environ: dict[str, Any]) -> tuple[list[Any], list[Any], str | None]:
    started: list[Any] = []
    received: list[Any] = []

    def start_response(*args: Any) -> Any:
        started.append(args)
        return received.append
    try:
        result = app(environ, start_response)
        try:
            received.extend(iter(result))
        finally:
            if hasattr(result, "close"):
                result.close()
    except Exception as exc:
        return started, received, type(exc).__name__
    return started, received, None


@PROPERTY
@given(environ=environs, body=st.binary(max_size=200), status=statuses, headers=header_lists, out=chunks,
       read=st.sampled_from(["read", "readline", "readlines", "iter", "none"]), raise_at=st.sampled_from(
           ["never", "call", "iteration"]))
def test_any_environ_and_app_behaviour_recorded_unchanged(environ: dict[str, Any], body: bytes, status: Any,
                                                           headers: Any, out: list[Any], read: str,
                                                           raise_at: str) -> None:
    keeps_input = "wsgi.input" in environ and isinstance(environ["wsgi.input"], (bytes, str))

    def app(env: dict[str, Any], start_response: Any) -> Any:
        stream = env.get("wsgi.input")
        if not keeps_input:  # a readable stream (fresh() below), wrapped or not
            if read == "read":
                stream.read()
            elif read == "readline":
                stream.readline()
            elif read == "readlines":
                stream.readlines()
            elif read == "iter":
                list(stream)
        if raise_at == "call":
            raise ValueError("app failed")
        start_response(status, headers)

        def generate() -> Any:
            yield from out
            if raise_at == "iteration":
                raise KeyError("late")
        return generate()

    inspector = gwinspect.wrap(app, protocol="wsgi")

    def fresh() -> dict[str, Any]:
        env = dict(environ)
        if "wsgi.input" not in env or not isinstance(env["wsgi.input"], (bytes, str)):
            env["wsgi.input"] = io.BytesIO(body)
        return env
    assert run_wsgi(inspector, fresh()) == run_wsgi(app, fresh())
    round_trips(inspector)


# ---------------------------------------------------------------------------- ASGI
messages = values | st.fixed_dictionaries({"type": st.sampled_from([
    "http.request", "http.disconnect", "http.response.start", "http.response.body", "websocket.connect",
    "websocket.receive", "websocket.send", "websocket.close", "websocket.accept", "lifespan.startup",
    "http.response.pathsend", "x.custom"])}, optional={
    "body": st.binary(max_size=50) | texts | values, "more_body": values, "text": texts | values,
    "bytes": st.binary(max_size=20) | values, "status": st.integers() | values, "headers": header_lists,
    "code": values, "path": values})
scopes = st.fixed_dictionaries({"type": st.sampled_from(["http", "websocket", "lifespan", "other"]) | values},
                               optional={"path": texts | values, "headers": header_lists, "method": values,
                                         "query_string": st.binary(max_size=10) | values, "client": values,
                                         "extensions": values, "raw_path": values, "root_path": values})


def run_asgi(app: Any, scope: Any, incoming: list[Any]) -> tuple[list[Any], list[Any], str | None]:
    got: list[Any] = []
    sent: list[Any] = []
    queue = list(incoming)

    async def receive() -> Any:
        return queue.pop(0) if queue else {"type": "http.disconnect"}

    async def send(message: Any) -> None:
        sent.append(message)

    async def main() -> tuple[list[Any], list[Any], str | None]:
        try:
            await app(scope, receive, send)
        except Exception as exc:
            return got, sent, type(exc).__name__
        return got, sent, None
    return _LOOP.run_until_complete(main())


_LOOP = asyncio.new_event_loop()


@PROPERTY
@given(scope=scopes, incoming=st.lists(messages, max_size=5), outgoing=st.lists(messages, max_size=6),
       fail=st.booleans())
def test_any_scope_and_message_sequence_recorded_unchanged(scope: dict[str, Any], incoming: list[Any],
                                                            outgoing: list[Any], fail: bool) -> None:
    seen: list[Any] = []

    async def app(sc: Any, receive: Any, send: Any) -> None:
        for _ in incoming:
            seen.append(await receive())
        for message in outgoing:
            await send(message)
        if fail:
            raise RuntimeError("app failed")

    def once(application: Any) -> tuple[list[int], list[int], str | None]:
        seen.clear()
        _, sent, error = run_asgi(application, dict(scope), incoming)
        return [id(m) for m in seen], [id(m) for m in sent], error  # the very objects, in order

    inspector = gwinspect.wrap(app, protocol="asgi")
    assert once(inspector) == once(app)
    kind, path = scope.get("type"), scope.get("path", "")
    if type(kind) is str and kind in ("http", "websocket", "lifespan") and not (
            type(path) is str and path.startswith("/__inspect__")):
        round_trips(inspector)
