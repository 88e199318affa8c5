"""Transparency: every claim compares the wrapped app against the bare app with the same assertions.

Also: a failure inside gwinspect never reaches the app or the client; it is
logged on the "gwinspect" logger and marks the trace partial.
"""

from __future__ import annotations

import asyncio
import contextvars
import io
import logging
import re
import sys
from typing import Any
from wsgiref.handlers import SimpleHandler

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import gwinspect
import gwinspect.asgi
import gwinspect.recorder
import gwinspect.wsgi
import gwinspect.wsgi_streams
from gwinspect.recorder import Recorder
from gwinspect.store import MemoryStore
from tests.apps_core import counting_close, drive_asgi, http_scope, make_environ, request_messages, run_asgi, run_wsgi

# ---------------------------------------------------------------------------- WSGI


def wsgi_full(environ: dict[str, Any], start_response: Any) -> Any:
    """Uses every part of the protocol: input, headers, write(), chunks, close()."""
    body = environ["wsgi.input"].read()
    write = start_response("200 OK", [("Content-Type", "text/plain"), ("X-Len", str(len(body))),
                                      ("Set-Cookie", "a=1"), ("Set-Cookie", "b=2")])
    write(b"written;")
    return counting_close([b"c1;", b"", body, b"c3"], environ.setdefault("test.closed", []))


WSGI_APPS = {
    "full": wsgi_full,
    "list": lambda e, s: (s("201 Created", [("Location", "/x")]), [b"created"])[1],
    "empty": lambda e, s: (s("204 No Content", []), [])[1],
    "generator": lambda e, s: (s("200 OK", [("Content-Type", "a/b")]), (b"%d" % i for i in range(5)))[1],
}


@pytest.mark.parametrize("name", list(WSGI_APPS))
def test_wsgi_status_headers_body_and_chunk_boundaries_identical(name: str) -> None:
    app = WSGI_APPS[name]
    env_bare = make_environ("POST", "/t", body=b"payload")
    env_wrapped = make_environ("POST", "/t", body=b"payload")
    bare = run_wsgi(app, env_bare)
    out = run_wsgi(gwinspect.wrap(app), env_wrapped)
    assert out.observable() == bare.observable()
    assert [type(c) for c in out.chunks] == [type(c) for c in bare.chunks]
    assert env_wrapped.get("test.closed") == env_bare.get("test.closed")


def test_wsgi_close_forwarded_exactly_once_on_every_path() -> None:
    for stop_after in (None, 1):
        counts = []
        for wrap in (False, True):
            closed: list[int] = []

            def app(environ: dict[str, Any], start_response: Any, closed: list[int] = closed) -> Any:
                start_response("200 OK", [])
                return counting_close([b"a", b"b", b"c"], closed)
            run_wsgi(gwinspect.wrap(app) if wrap else app, make_environ(), stop_after=stop_after)
            counts.append(len(closed))
        assert counts == [1, 1]


class AppError(Exception):
    pass


def _make_error() -> tuple[AppError, BaseException, BaseException]:
    cause = OSError("cause")
    context = LookupError("context")
    err = AppError("top")
    err.__cause__ = cause
    err.__context__ = context
    err.__suppress_context__ = True
    return err, cause, context


@pytest.mark.parametrize("stage", ["call", "iteration", "close", "iter()"])
def test_wsgi_exceptions_are_the_same_object_with_the_same_chain(stage: str) -> None:
    def one(wrap: bool) -> Any:
        err, cause, context = _make_error()

        class Body:
            def __iter__(self) -> Any:
                if stage == "iter()":
                    raise err
                return self._gen()

            def _gen(self) -> Any:
                yield b"x"
                if stage == "iteration":
                    raise err

            def close(self) -> None:
                if stage == "close":
                    raise err

        def app(environ: dict[str, Any], start_response: Any) -> Any:
            start_response("200 OK", [])
            if stage == "call":
                raise err
            return Body()
        out = run_wsgi(gwinspect.wrap(app) if wrap else app, make_environ())
        assert out.exception is err
        assert err.__cause__ is cause and err.__context__ is context and err.__suppress_context__ is True
        return (out.stage, out.chunks, out.start_calls)
    results = [one(False), one(True)]
    assert results[0] == results[1]


def test_wsgi_exception_raised_inside_an_except_block_keeps_its_implicit_context() -> None:
    def one(wrap: bool) -> Any:
        seen: dict[str, BaseException] = {}

        def app(environ: dict[str, Any], start_response: Any) -> Any:
            try:
                raise KeyError("first")
            except KeyError as first:
                seen["first"] = first
                err = AppError("second")
                seen["err"] = err
                raise err  # noqa: B904 - implicit __context__ is what this checks
        out = run_wsgi(gwinspect.wrap(app) if wrap else app, make_environ())
        assert out.exception is seen["err"] and out.exception.__context__ is seen["first"]
        assert out.exception.__cause__ is None
    one(False)
    one(True)


CV: contextvars.ContextVar[str] = contextvars.ContextVar("core_cv", default="unset")


def test_wsgi_contextvars_visible_in_the_app_and_changes_visible_after() -> None:
    def one(wrap: bool) -> Any:
        seen: list[str] = []

        def app(environ: dict[str, Any], start_response: Any) -> Any:
            seen.append(CV.get())
            CV.set("set-by-app")
            start_response("200 OK", [])

            def gen() -> Any:
                seen.append(CV.get())
                yield b"x"
            return gen()

        def serve(app: Any = app) -> str:
            CV.set("from-server")
            run_wsgi(gwinspect.wrap(app) if wrap else app, make_environ())
            return CV.get()
        after = contextvars.copy_context().run(serve)
        return (seen, after)
    results = [one(False), one(True)]
    assert results[0] == results[1] == (["from-server", "set-by-app"], "set-by-app")


# ---------------------------------------------------------------------------- ASGI


async def asgi_full(scope: dict[str, Any], receive: Any, send: Any) -> None:
    body = b""
    while True:
        m = await receive()
        body += m.get("body", b"")
        if not m.get("more_body"):
            break
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/plain"), (b"set-cookie", b"a=1"), (b"set-cookie", b"b=2")]})
    for part in (b"one;", b"", body, b"last"):
        await send({"type": "http.response.body", "body": part, "more_body": True})
    await send({"type": "http.response.body", "body": b"", "more_body": False})


def test_asgi_exact_sequence_of_send_messages_is_identical() -> None:
    bare = run_asgi(asgi_full, http_scope("/t", "POST"), request_messages(b"in1", b"in2"))
    out = run_asgi(gwinspect.wrap(asgi_full), http_scope("/t", "POST"), request_messages(b"in1", b"in2"))
    assert out.sent == bare.sent
    assert [type(m) for m in out.sent] == [type(m) for m in bare.sent]
    assert out.received == bare.received and out.exception is bare.exception is None


def test_asgi_the_server_gets_the_very_message_objects_the_app_sent() -> None:
    def one(wrap: bool) -> Any:
        made: list[Any] = []

        async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
            got = await receive()
            made.append(got)
            for m in ({"type": "http.response.start", "status": 200, "headers": []},
                      {"type": "http.response.body", "body": bytearray(b"ba"), "more_body": True},
                      {"type": "http.response.body", "body": memoryview(b"mv")}):
                made.append(m)
                await send(m)
        out = run_asgi(gwinspect.wrap(app) if wrap else app, http_scope(), request_messages(b"q"))
        assert made[0] is out.received[0]
        assert all(a is b for a, b in zip(made[1:], out.sent, strict=True))
        assert out.sent[1] == {"type": "http.response.body", "body": bytearray(b"ba"), "more_body": True}
    one(False)
    one(True)


@pytest.mark.parametrize("where", ["before send", "after start", "after body", "from send"])
def test_asgi_exceptions_are_the_same_object_with_the_same_chain(where: str) -> None:
    def one(wrap: bool) -> Any:
        err, cause, context = _make_error()

        async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
            await receive()
            if where == "before send":
                raise err
            await send({"type": "http.response.start", "status": 200, "headers": []})
            if where == "after start":
                raise err
            await send({"type": "http.response.body", "body": b"x"})
            raise err

        async def main(app: Any = app) -> Any:
            if where != "from send":
                return await drive_asgi(gwinspect.wrap(app) if wrap else app, http_scope(), request_messages())

            async def receive() -> dict[str, Any]:
                return {"type": "http.request", "body": b""}

            async def failing_send(message: Any) -> None:
                raise err  # the server's send failing (client went away) reaches the app as is

            async def app2(scope: dict[str, Any], receive: Any, send: Any) -> None:
                try:
                    await send({"type": "http.response.start", "status": 200, "headers": []})
                except AppError as e:
                    assert e is err
                    raise
            target = gwinspect.wrap(app2) if wrap else app2
            try:
                await target(http_scope(), receive, failing_send)
            except AppError as e:
                return e
            return None
        out = asyncio.run(main())
        exc = out if where == "from send" else out.exception
        assert exc is err and err.__cause__ is cause and err.__context__ is context
        return where if where == "from send" else [m["type"] for m in out.sent]
    results = [one(False), one(True)]
    assert results[0] == results[1]


def test_asgi_contextvars_visible_in_the_app_both_ways() -> None:
    def one(wrap: bool) -> Any:
        seen: list[str] = []

        async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
            seen.append(CV.get())
            await receive()
            CV.set("set-by-app")
            await send({"type": "http.response.start", "status": 204, "headers": []})
            seen.append(CV.get())
            await send({"type": "http.response.body", "body": b""})

        async def main(app: Any = app) -> str:
            CV.set("from-server")
            await drive_asgi(gwinspect.wrap(app) if wrap else app, http_scope(), request_messages())
            return CV.get()
        after = contextvars.copy_context().run(asyncio.run, main())
        return (seen, after)
    results = [one(False), one(True)]
    assert results[0] == results[1] == (["from-server", "set-by-app"], "set-by-app")


def test_asgi_receive_and_send_run_in_the_apps_task_and_context() -> None:
    def one(wrap: bool) -> Any:
        tasks: list[Any] = []

        async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
            tasks.append(asyncio.current_task())
            await receive()
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b""})

        async def main(app: Any = app) -> None:
            outer = asyncio.current_task()
            await drive_asgi(gwinspect.wrap(app) if wrap else app, http_scope(), request_messages())
            assert tasks == [outer]  # no extra task, so cancellation and timing are the app's
        asyncio.run(main())
    one(False)
    one(True)


# ---------------------------------------------------------------------------- gwinspect failing inside


def _boom(*args: Any, **kwargs: Any) -> Any:
    raise RuntimeError("gwinspect internal failure (test)")


class _ExplodingLimit:
    """A max_events whose comparison fails: every attempt to record an event breaks."""

    def __gt__(self, other: Any) -> bool:
        raise RuntimeError("gwinspect internal failure (test)")

    __lt__ = __ge__ = __le__ = __gt__


SABOTAGE = ["Recorder.add", "recording an event", "Recorder.keep_in", "Recorder.keep_out", "to_model",
            "store.finished", "checker", "Recorder.__init__", "store.add", "error_info"]


def _sabotage(monkeypatch: pytest.MonkeyPatch, what: str, inspector: Any) -> None:
    if what.startswith("Recorder."):
        monkeypatch.setattr(Recorder, what.split(".")[1], _boom)
        if what == "Recorder.__init__":  # the adapters' recorders set themselves up without it
            monkeypatch.setattr(gwinspect.asgi.ASGIRecorder, "__init__", _boom)
            monkeypatch.setattr(gwinspect.wsgi, "time", _boom)  # WSGIInspector.__call__ sets its recorder up
    elif what == "recording an event":  # the hot paths append messages and chunks inline, not through add()
        monkeypatch.setattr(inspector.settings, "max_events", _ExplodingLimit())
    elif what == "to_model":
        monkeypatch.setattr(gwinspect.wsgi, "to_model", _boom)
        monkeypatch.setattr(gwinspect.asgi, "to_model", _boom)
    elif what == "error_info":
        monkeypatch.setattr(gwinspect.recorder, "error_info", _boom)
        monkeypatch.setattr(gwinspect.wsgi_streams, "error_info", _boom)
    elif what == "checker":
        inspector.settings.checker = _boom
    # store.add and store.finished: the store itself is broken (_options)


class _BrokenStore(MemoryStore):
    """A store of someone else's whose add() or finished() fails (it gets called: it overrides them)."""

    def __init__(self, broken: str) -> None:
        super().__init__(10)
        self.broken = broken

    def add(self, source: Any) -> None:
        if self.broken == "add":
            _boom()
        super().add(source)

    def finished(self, source: Any) -> None:
        if self.broken == "finished":
            _boom()
        super().finished(source)


def _options(what: str) -> dict[str, Any]:
    if what.startswith("store."):
        return {"store": _BrokenStore(what.split(".")[1])}
    # Bodies that fit the cap are accounted inline on the hot path; a cap of one byte sends
    # them through keep_in()/keep_out(), the code these cases break.
    return {"max_body": 1} if what in ("Recorder.keep_in", "Recorder.keep_out") else {}


def _expect_partial(inspector: Any, what: str, caplog: pytest.LogCaptureFixture) -> None:
    traces = inspector.store.list()  # reading must not raise either (traces are built when read)
    assert any(r.name == "gwinspect" and r.levelno >= logging.WARNING for r in caplog.records), \
        f"no log record on the gwinspect logger for a broken {what}"
    if what in ("store.add", "Recorder.__init__"):
        assert traces == []  # no trace exists: the request passed through unrecorded
    else:
        assert len(traces) >= 1 and all(t.partial for t in traces if t.type == "http")
        assert all(t.to_dict()["partial"] is True for t in traces if t.type == "http")


def wsgi_failing_late(environ: dict[str, Any], start_response: Any) -> Any:
    """An app that itself fails (after the response started), on top of gwinspect failing."""
    environ["test.handling_at_entry"] = sys.exc_info()[1]  # the app must not run inside our except blocks
    try:
        raise KeyError("app context")
    except KeyError:
        write = start_response("200 OK", [("X", "1")], sys.exc_info())
        environ["wsgi.input"].read()
        write(b"some of the body")
        raise AppError("app failed")  # noqa: B904 - the implicit __context__ is what is checked


@pytest.mark.parametrize("what", [w for w in SABOTAGE if w != "error_info"])  # no app error here
def test_wsgi_internal_failure_never_reaches_the_app_or_client(what: str, monkeypatch: pytest.MonkeyPatch,
                                                                caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="gwinspect")
    bare = run_wsgi(wsgi_full, make_environ("POST", body=b"body"))
    w = gwinspect.wrap(wsgi_full, **_options(what))
    _sabotage(monkeypatch, what, w)
    out = run_wsgi(w, make_environ("POST", body=b"body"))
    assert out.observable() == bare.observable()
    _expect_partial(w, what, caplog)


@pytest.mark.parametrize("what", SABOTAGE)
def test_wsgi_internal_failure_leaves_app_exceptions_alone(what: str, monkeypatch: pytest.MonkeyPatch,
                                                           caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="gwinspect")
    env_bare, env = make_environ("POST", body=b"b"), make_environ("POST", body=b"b")
    bare = run_wsgi(wsgi_failing_late, env_bare)
    w = gwinspect.wrap(wsgi_failing_late, **_options(what))
    _sabotage(monkeypatch, what, w)
    out = run_wsgi(w, env)
    assert env["test.handling_at_entry"] is env_bare["test.handling_at_entry"] is None
    assert type(out.exception) is AppError and type(bare.exception) is AppError
    assert isinstance(out.exception.__context__, KeyError)
    assert out.start_calls[0][:2] == bare.start_calls[0][:2] and out.stage == bare.stage
    _expect_partial(w, what, caplog)


# No app error here, and an ASGI request without one never calls add() (messages are appended inline).
@pytest.mark.parametrize("what", [w for w in SABOTAGE if w not in ("error_info", "Recorder.add")])
def test_asgi_internal_failure_never_reaches_the_app_or_client(what: str, monkeypatch: pytest.MonkeyPatch,
                                                                caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="gwinspect")
    bare = run_asgi(asgi_full, http_scope("/t", "POST"), request_messages(b"a", b"b"))
    w = gwinspect.wrap(asgi_full, **_options(what))
    _sabotage(monkeypatch, what, w)
    out = run_asgi(w, http_scope("/t", "POST"), request_messages(b"a", b"b"))
    assert out.exception is None
    assert out.sent == bare.sent and out.received == bare.received
    _expect_partial(w, what, caplog)


@pytest.mark.parametrize("what", SABOTAGE)
def test_asgi_internal_failure_leaves_app_exceptions_alone(what: str, monkeypatch: pytest.MonkeyPatch,
                                                           caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="gwinspect")
    err, cause, context = _make_error()

    handling: list[Any] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        handling.append(sys.exc_info()[1])
        await receive()
        await send({"type": "http.response.start", "status": 500, "headers": []})
        await send({"type": "http.response.body", "body": b"some", "more_body": True})
        raise err
    w = gwinspect.wrap(app, **_options(what))
    _sabotage(monkeypatch, what, w)
    out = run_asgi(w, http_scope(), request_messages(b"body"))
    assert handling == [None]
    assert out.exception is err and err.__cause__ is cause and err.__context__ is context
    assert [m["type"] for m in out.sent] == ["http.response.start", "http.response.body"]
    _expect_partial(w, what, caplog)


def test_a_broken_store_object_does_not_break_requests(caplog: pytest.LogCaptureFixture) -> None:
    class BrokenStore(MemoryStore):
        def add(self, source: Any) -> None:
            raise OSError("disk full")

        def finished(self, source: Any) -> None:
            raise OSError("disk full")
    caplog.set_level(logging.WARNING, logger="gwinspect")
    w = gwinspect.wrap(wsgi_full, store=BrokenStore())
    bare = run_wsgi(wsgi_full, make_environ("POST", body=b"x"))
    assert run_wsgi(w, make_environ("POST", body=b"x")).observable() == bare.observable()
    a = gwinspect.wrap(asgi_full, store=BrokenStore())
    assert run_asgi(a, http_scope(), request_messages(b"x")).sent == \
        run_asgi(asgi_full, http_scope(), request_messages(b"x")).sent
    assert any(r.name == "gwinspect" for r in caplog.records)


# ---------------------------------------------------------------------------- property: any app, same observables

step = st.one_of(st.tuples(st.just("write"), st.binary(max_size=20)),
                 st.tuples(st.just("chunk"), st.binary(max_size=20)),
                 st.tuples(st.just("raise"), st.sampled_from(["call", "iteration", "close"])))


@settings(max_examples=80, deadline=None, database=None)
@given(steps=st.lists(step, max_size=8), stop_after=st.one_of(st.none(), st.integers(0, 4)),
       body=st.binary(max_size=50), max_body=st.integers(0, 30))
def test_any_wsgi_app_behaves_the_same_wrapped(steps: list[tuple[str, Any]], stop_after: int | None, body: bytes,
                                               max_body: int) -> None:
    def make() -> tuple[Any, list[int], AppError]:
        closed: list[int] = []
        err = AppError("planned")

        def app(environ: dict[str, Any], start_response: Any) -> Any:
            environ["wsgi.input"].read()
            write = start_response("200 OK", [("Content-Type", "text/plain")])
            chunks: list[bytes] = []
            for kind, value in steps:
                if kind == "write" and not chunks:
                    write(value)
                elif kind == "chunk":
                    chunks.append(value)
                elif kind == "raise" and value == "call":
                    raise err

            def gen() -> Any:
                yield from chunks
                if ("raise", "iteration") in steps:
                    raise err
            return counting_close(gen(), closed, fail=err if ("raise", "close") in steps else None)
        return app, closed, err

    bare_app, bare_closed, bare_err = make()
    app, closed, err = make()
    bare = run_wsgi(bare_app, make_environ("POST", body=body), stop_after=stop_after)
    inspector = gwinspect.wrap(app, max_body=max_body)
    out = run_wsgi(inspector, make_environ("POST", body=body), stop_after=stop_after)
    assert out.observable()[:-1] == bare.observable()[:-1]
    assert (out.exception is err) == (bare.exception is bare_err) and closed == bare_closed
    [trace] = inspector.store.list()
    assert trace.complete and not trace.partial
    assert trace.request.body_size == len(body)


@settings(max_examples=80, deadline=None, database=None)
@given(parts=st.lists(st.binary(max_size=20), min_size=1, max_size=5),
       out_parts=st.lists(st.binary(max_size=20), max_size=5), fail=st.booleans(), max_body=st.integers(0, 30))
def test_any_asgi_app_behaves_the_same_wrapped(parts: list[bytes], out_parts: list[bytes], fail: bool,
                                               max_body: int) -> None:
    def make() -> tuple[Any, AppError]:
        err = AppError("planned")

        async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
            while (await receive()).get("more_body"):
                pass
            await send({"type": "http.response.start", "status": 200, "headers": [(b"x", b"y")]})
            for p in out_parts:
                await send({"type": "http.response.body", "body": p, "more_body": True})
            if fail:
                raise err
            await send({"type": "http.response.body", "body": b""})
        return app, err
    bare_app, bare_err = make()
    app, err = make()
    bare = run_asgi(bare_app, http_scope(method="POST"), request_messages(*parts))
    inspector = gwinspect.wrap(app, max_body=max_body)
    out = run_asgi(inspector, http_scope(method="POST"), request_messages(*parts))
    assert out.sent == bare.sent and out.received == bare.received
    assert (out.exception is err) == (bare.exception is bare_err) == fail
    [trace] = inspector.store.list()
    assert trace.complete and not trace.partial
    assert trace.request.body_size == sum(map(len, parts)) and trace.response is not None
    assert trace.response.body_size == sum(map(len, out_parts))


def test_wsgi_server_gets_the_apps_own_headers_list_and_sees_a_header_appended_before_the_body() -> None:
    # wsgiref (as werkzeug's server) reads the headers list when the first body byte goes out, so a header
    # the app appends after start_response() is sent bare: it must be sent wrapped too, and the trace
    # still shows the headers as start_response() was called with them.

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        headers = [("Content-Type", "text/plain")]
        start_response("200 OK", headers)
        headers.append(("X-Added-Later", "1"))
        return [b"hi"]

    def raw_response(wsgi_app: Any) -> bytes:
        out = io.BytesIO()
        environ = {"REQUEST_METHOD": "GET", "PATH_INFO": "/", "SERVER_NAME": "x", "SERVER_PORT": "80",
                   "SERVER_PROTOCOL": "HTTP/1.1"}
        SimpleHandler(io.BytesIO(), out, io.StringIO(), environ).run(wsgi_app)
        return re.sub(rb"Date: [^\r]*\r\n", b"", out.getvalue())

    wrapped = gwinspect.wrap(app)
    assert b"X-Added-Later: 1" in raw_response(app)
    assert raw_response(wrapped) == raw_response(app)
    recorded = wrapped.store.list()[0].events[0].fields["headers"]
    assert recorded == [["Content-Type", "text/plain"]]


def same_wrapped(app: Any, make_env: Any) -> tuple[Any, Any, Any]:
    """(bare outcome, wrapped outcome, the inspector): the app's own report of what it saw, each way."""
    wrapped = gwinspect.wrap(app)
    return run_wsgi(app, make_env()), run_wsgi(wrapped, make_env()), wrapped


class KeywordStream(io.BytesIO):
    """Like gunicorn's Body: read(size=...), readline(size=...), readlines(size=...)."""

    def read(self, size: int | None = -1) -> bytes:
        return super().read(size)

    def readline(self, size: int | None = -1) -> bytes:
        return super().readline(size)

    def readlines(self, size: int | None = -1) -> list[bytes]:
        return super().readlines(size if size is not None else -1)


def test_wsgi_input_keyword_arguments_context_manager_and_copies_as_the_servers_stream() -> None:
    import copy
    import ctypes

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        stream = environ["wsgi.input"]
        seen: list[Any] = [stream.read(size=2), stream.readline(size=2), stream.readlines(size=1)]
        number = ctypes.c_uint32()  # a 0-dimensional buffer
        seen.append((stream.readinto(number), number.value))
        copy.copy(stream)  # gwinspect's stream copies (it is not the server's type, though: left alone)
        with stream as entered:  # io streams are context managers; reads through what `with` gives count
            seen.append(entered.read(1))
        start_response("200 OK", [])
        return [repr(seen).encode()]

    def make_env() -> dict[str, Any]:
        return make_environ("POST", body=b"abcd\nefghijkl", stream=KeywordStream(b"abcd\nefghijkl"))
    bare, wrapped, inspector = same_wrapped(app, make_env)
    assert wrapped.chunks == bare.chunks and wrapped.exception is bare.exception is None
    trace = inspector.store.list()[0]
    inputs = [(e.fields["call"], e.fields["data"].data) for e in trace.events if e.kind == "input"]
    assert inputs == [("read", b"ab"), ("readline", b"cd"), ("readlines", b"\n"), ("readinto", b"efgh"),
                      ("read", b"i")]
    assert not trace.partial


def test_wsgi_input_without_a_context_manager_refuses_with_alike() -> None:
    class Body:  # gunicorn's: read() and friends, no __enter__
        def read(self, size: int = -1) -> bytes:
            return b""

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        try:
            with environ["wsgi.input"]:
                pass
        except TypeError as exc:
            start_response("200 OK", [])
            return [str(exc).encode()]
        raise AssertionError("with worked")
    bare, wrapped, _ = same_wrapped(app, lambda: make_environ(stream=Body()))
    assert wrapped.chunks == bare.chunks == [b"'Body' object does not support the context manager protocol"]


def test_wsgi_a_middleware_closing_what_iter_gave_closes_the_apps_generator_at_once() -> None:
    # A bare generator is its own iterator: closing iter(result) -- as `yield from` does when the
    # server closes the middleware's generator -- runs the app's cleanup then, and its exception
    # reaches the server.
    def app(environ: dict[str, Any], start_response: Any) -> Any:
        start_response("200 OK", [])
        try:
            yield b"first"
            yield b"second"
        finally:
            environ["test.log"].append("cleanup")
            raise RuntimeError("cleanup failed")

    def run(wsgi_app: Any) -> list[str]:
        log: list[str] = []
        result = wsgi_app(make_environ(**{"test.log": log}), lambda *a: None)
        iterator = iter(result)
        log.append(f"same object: {iterator is result}")
        next(iterator)
        try:
            iterator.close()
        except RuntimeError as exc:
            log.append(f"close raised {exc}")
        return log
    inspector = gwinspect.wrap(app)
    assert run(inspector) == run(app) == ["same object: True", "cleanup", "close raised cleanup failed"]
    trace = inspector.store.list()[0]
    assert trace.complete and [e.kind for e in trace.events][-2:] == ["exception", "close"]


def test_wsgi_start_response_with_exc_info_leaves_no_reference_cycle() -> None:
    # After headers went out, the server raises exc_info[1] from start_response: without gwinspect's
    # frame holding exc_info, the exception and its frames are freed at once, as bare.
    import gc
    import weakref

    class Marker:
        pass
    refs: list[Any] = []

    def app(environ: dict[str, Any], start_response: Any) -> Any:
        start_response("200 OK", [])
        yield b"first"
        marker = Marker()
        refs.append(weakref.ref(marker))
        try:
            raise ValueError("late")
        except ValueError:
            start_response("500 Internal Server Error", [], sys.exc_info())

    def run(wsgi_app: Any) -> bool:
        refs.clear()
        out = io.BytesIO()
        environ = {"REQUEST_METHOD": "GET", "PATH_INFO": "/", "SERVER_NAME": "x", "SERVER_PORT": "80",
                   "SERVER_PROTOCOL": "HTTP/1.1"}
        gc.disable()
        try:
            SimpleHandler(io.BytesIO(), out, io.StringIO(), environ).run(wsgi_app)
            return refs[0]() is None
        finally:
            gc.enable()
    assert run(app) is True
    assert run(gwinspect.wrap(app)) is True


def test_wsgi_file_wrapper_response_is_not_changed_by_being_described(tmp_path: Any) -> None:
    import tempfile
    from wsgiref.util import FileWrapper
    with tempfile.SpooledTemporaryFile(max_size=1024) as spooled:
        spooled.write(b"in memory")
        spooled.seek(0)
        inspector = gwinspect.wrap(lambda e, s: (s("200 OK", []), e["wsgi.file_wrapper"](spooled))[1])
        result = inspector(make_environ(**{"wsgi.file_wrapper": FileWrapper}), lambda *a: None)
        assert b"".join(result) == b"in memory"
        assert not spooled._rolled  # fileno() would have moved it to disk
    real = tmp_path / "f"
    real.write_bytes(b"0123456789")
    with open(real, "rb") as f:  # a real file: its name and the size left to send are told
        f.seek(4)
        inspector = gwinspect.wrap(lambda e, s: (s("200 OK", []), e["wsgi.file_wrapper"](f))[1])
        inspector(make_environ(**{"wsgi.file_wrapper": FileWrapper}), lambda *a: None)
    file_event = next(e for e in inspector.store.list()[0].events if e.kind == "file")
    assert file_event.fields["file"] == {"wrapper": "FileWrapper", "name": str(real), "size": 6}
