"""WSGI recording: environ, start_response, write(), chunks, close(), wsgi.input, errors, file_wrapper."""

from __future__ import annotations

import io
import json
import sys
import threading
import wsgiref.util
from pathlib import Path
from typing import Any

import pytest

import gwinspect
from tests.apps_core import blob_bytes, counting_close, events, make_environ, only_trace, roundtrip_ok, run_wsgi


def start_ok(start_response: Any, *extra: tuple[str, str]) -> None:
    start_response("200 OK", [("Content-Type", "text/plain"), *extra])


# ---------------------------------------------------------------------------- environ


def test_environ_snapshot_is_json_safe_and_taken_before_the_app_changes_it() -> None:
    marker = object()

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        environ["PATH_INFO"] = "/rewritten"
        environ["myapp.user"] = marker
        del environ["HTTP_X_ORIGINAL"]
        start_ok(start_response)
        return [b"ok"]
    w = gwinspect.wrap(app)
    env = make_environ(path="/original", query="a=1", headers={"X-Original": "yes"},
                       **{"custom.obj": object(), "custom.set": {1, 2}})
    run_wsgi(w, env)
    d = only_trace(w)
    snap = d["environ"]
    json.dumps(snap, allow_nan=False)  # JSON-safe as it stands
    assert snap["PATH_INFO"] == "/original"
    assert snap["HTTP_X_ORIGINAL"] == "yes"
    assert "myapp.user" not in snap
    assert snap["REQUEST_METHOD"] == "GET" and snap["QUERY_STRING"] == "a=1"
    assert snap["wsgi.version"] == [1, 0]
    assert isinstance(snap["custom.obj"], str) and "object" in snap["custom.obj"]
    assert isinstance(snap["custom.set"], str)
    assert isinstance(snap["wsgi.input"], str)  # the stream as its repr, not its contents
    assert d["request"]["path"] == "/original" and d["request"]["query_string"] == "a=1"
    assert d["request"]["method"] == "GET" and d["request"]["http_version"] == "1.1"
    assert d["request"]["client"] == "127.0.0.1:50000" and d["request"]["scheme"] == "http"
    assert ["x-original", "yes"] in d["request"]["headers"]
    assert d["scope"] is None and d["protocol"] == "wsgi" and d["type"] == "http"
    roundtrip_ok(w)


def test_script_name_and_utf8_path_are_shown_decoded() -> None:
    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        start_ok(start_response)
        return []
    w = gwinspect.wrap(app)
    # PEP 3333 native strings: the UTF-8 bytes of "café" decoded as latin-1
    run_wsgi(w, make_environ(path="/caf\xc3\xa9", SCRIPT_NAME="/mount"))
    assert only_trace(w)["request"]["path"] == "/mount/café"


# ---------------------------------------------------------------------------- start_response, write, chunks


def test_every_start_response_call_is_recorded_including_the_error_path_with_exc_info() -> None:
    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        start_response("200 OK", [("Content-Type", "text/html"), ("X-First", "1")])
        try:
            raise ValueError("template failed")
        except ValueError:
            import sys
            start_response("500 Internal Server Error", [("Content-Type", "text/plain")], sys.exc_info())
        return [b"error page"]
    w = gwinspect.wrap(app)
    out = run_wsgi(w, make_environ())
    assert out.exception is None and out.chunks == [b"error page"]
    assert len(out.start_calls) == 2 and isinstance(out.start_calls[1][2], ValueError)
    d = only_trace(w)
    calls = events(d, "start_response")
    assert [c["status"] for c in calls] == ["200 OK", "500 Internal Server Error"]
    assert calls[0]["headers"] == [["Content-Type", "text/html"], ["X-First", "1"]]
    assert calls[0]["exc_info"] is None
    assert calls[1]["exc_info"] == {"type": "ValueError", "message": "template failed"}
    assert d["response"]["status"] == 500
    assert d["response"]["headers"] == [["Content-Type", "text/plain"]]


def test_second_start_response_after_headers_sent_reraises_and_is_recorded() -> None:
    err = KeyError("late")

    def app(environ: dict[str, Any], start_response: Any) -> Any:
        start_ok(start_response)
        yield b"first"
        try:
            raise err
        except KeyError:
            import sys
            start_response("500 Internal Server Error", [], sys.exc_info())  # re-raises: headers are out
        yield b"never"
    w = gwinspect.wrap(app)
    out = run_wsgi(w, make_environ())
    assert out.exception is err and out.stage == "iteration" and out.chunks == [b"first"]
    d = only_trace(w)
    assert [c["status"] for c in events(d, "start_response")] == ["200 OK", "500 Internal Server Error"]
    assert events(d, "start_response")[1]["exc_info"]["type"] == "KeyError"
    assert d["error"]["type"] == "KeyError"
    assert [e["where"] for e in events(d, "exception")] == ["iteration"]


def test_start_response_headers_list_is_copied_when_recorded() -> None:
    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        headers = [("Content-Type", "text/plain")]
        start_response("200 OK", headers)
        headers.append(("X-Added-Later", "1"))  # mutating after the call must not rewrite history
        return [b""]
    w = gwinspect.wrap(app)
    run_wsgi(w, make_environ())
    assert events(only_trace(w), "start_response")[0]["headers"] == [["Content-Type", "text/plain"]]


def test_write_calls_and_chunks_are_recorded_in_order() -> None:
    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        write = start_response("200 OK", [("Content-Type", "text/plain")])
        write(b"w1")
        write(b"w2")
        return [b"c1", b"", b"c2"]
    w = gwinspect.wrap(app)
    out = run_wsgi(w, make_environ())
    assert out.writes == [b"w1", b"w2"] and out.chunks == [b"c1", b"", b"c2"]
    d = only_trace(w)
    kinds = [(e["kind"], blob_bytes(e["data"]) if "data" in e else None) for e in events(d)]
    assert kinds == [("start_response", None), ("write", b"w1"), ("write", b"w2"), ("chunk", b"c1"),
                     ("chunk", b""), ("chunk", b"c2"), ("close", None)]
    assert events(d, "close")[0]["exhausted"] is True
    assert d["response"]["body_size"] == 8


def test_each_start_response_call_returns_a_write_bound_to_what_the_server_returned_for_it() -> None:
    # Servers hand back the same write() every time; one that does not must still get each
    # write through the callable it returned for that call.
    written: list[tuple[str, bytes]] = []
    calls = iter(["first", "second"])

    def server_start_response(status: str, headers: Any, exc_info: Any = None) -> Any:
        name = next(calls)
        return lambda data: written.append((name, data))

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        write_one = start_response("200 OK", [])
        try:
            raise ValueError("late")
        except ValueError:
            write_two = start_response("500 Internal Server Error", [], sys.exc_info())
        write_one(b"1")
        write_two(b"2")
        return []
    w = gwinspect.wrap(app)
    result = w(make_environ(), server_start_response)
    list(result)
    result.close()
    assert written == [("first", b"1"), ("second", b"2")]
    assert [blob_bytes(e["data"]) for e in events(only_trace(w), "write")] == [b"1", b"2"]


def test_generator_response_each_chunk_and_close_once() -> None:
    closed: list[int] = []

    def app(environ: dict[str, Any], start_response: Any) -> Any:
        start_ok(start_response)
        return counting_close([b"a", b"bb", b"ccc"], closed)
    w = gwinspect.wrap(app)
    out = run_wsgi(w, make_environ())
    assert out.chunks == [b"a", b"bb", b"ccc"] and closed == [1]
    d = only_trace(w)
    assert [blob_bytes(e["data"]) for e in events(d, "chunk")] == [b"a", b"bb", b"ccc"]
    assert d["state"] == "complete" and d["duration_ms"] is not None and d["duration_ms"] >= 0
    t = [e["t_ms"] for e in events(d)]
    assert t == sorted(t)


@pytest.mark.parametrize(("method", "status", "body"), [
    ("GET", "204 No Content", []), ("GET", "304 Not Modified", []), ("HEAD", "200 OK", []),
    ("GET", "200 OK", [b""]), ("GET", "200 OK", []),
])
def test_empty_bodies_204_304_head(method: str, status: str, body: list[bytes]) -> None:
    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        start_response(status, [("Content-Length", "0")] if status == "200 OK" else [])
        return list(body)
    w = gwinspect.wrap(app)
    out = run_wsgi(w, make_environ(method))
    assert out.chunks == body
    d = only_trace(w)
    assert d["response"]["status"] == int(status[:3]) and d["response"]["body_size"] == 0
    assert d["state"] == "complete" and d["disconnected"] is False and d["error"] is None
    assert d["request"]["method"] == method
    roundtrip_ok(w)


# ---------------------------------------------------------------------------- wsgi.input


class ChunkyInput:
    """A server input stream without readinto (like many servers)."""

    def __init__(self, data: bytes) -> None:
        self._f = io.BytesIO(data)

    def read(self, *a: Any) -> bytes:
        return self._f.read(*a)

    def readline(self, *a: Any) -> bytes:
        return self._f.readline(*a)

    def readlines(self, *a: Any) -> list[bytes]:
        return self._f.readlines(*a)

    def __iter__(self) -> Any:
        return iter(self._f)


BODY = b"line one\nline two\nline three\nno newline at end"


def _reading_app(how: str, got: list[bytes]) -> Any:
    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        stream = environ["wsgi.input"]
        if how == "read":
            got.append(stream.read())
        elif how == "read(n)":
            while chunk := stream.read(7):
                got.append(chunk)
        elif how == "readline":
            while line := stream.readline():
                got.append(line)
        elif how == "readline(n)":
            while line := stream.readline(5):
                got.append(line)
        elif how == "readlines":
            got.extend(stream.readlines())
        elif how == "iter":
            got.extend(stream)
        elif how == "readinto":
            buf = bytearray(10)
            while n := stream.readinto(buf):
                got.append(bytes(buf[:n]))
        start_ok(start_response)
        return [b"".join(got)]
    return app


@pytest.mark.parametrize("how", ["read", "read(n)", "readline", "readline(n)", "readlines", "iter", "readinto"])
def test_request_body_every_way_of_reading_it(how: str) -> None:
    bare_got: list[bytes] = []
    bare = run_wsgi(_reading_app(how, bare_got), make_environ("POST", body=BODY))
    got: list[bytes] = []
    w = gwinspect.wrap(_reading_app(how, got))
    out = run_wsgi(w, make_environ("POST", body=BODY))
    assert got == bare_got and b"".join(got) == BODY  # the app still gets every byte, in the same pieces
    assert out.observable() == bare.observable()
    d = only_trace(w)
    inputs = events(d, "input")
    call = how.split("(")[0]
    assert {e["call"] for e in inputs} == {call}
    assert [blob_bytes(e["data"]) for e in inputs] == got
    assert d["request"]["body_size"] == len(BODY)


def test_readinto_is_offered_only_when_the_server_stream_has_it() -> None:
    seen: dict[str, bool] = {}

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        seen["readinto"] = hasattr(environ["wsgi.input"], "readinto")
        seen["body"] = environ["wsgi.input"].read() == BODY
        start_ok(start_response)
        return []
    w = gwinspect.wrap(app)
    run_wsgi(w, make_environ("POST", body=BODY, stream=ChunkyInput(BODY)))
    assert seen == {"readinto": False, "body": True}
    run_wsgi(w, make_environ("POST", body=BODY))
    assert seen == {"readinto": True, "body": True}


def test_readinto_buffer_reuse_does_not_corrupt_the_record() -> None:
    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        buf = bytearray(4)
        while environ["wsgi.input"].readinto(buf):
            pass
        buf[:] = b"ZZZZ"
        start_ok(start_response)
        return []
    w = gwinspect.wrap(app)
    run_wsgi(w, make_environ("POST", body=b"abcdefgh"))
    assert [blob_bytes(e["data"]) for e in events(only_trace(w), "input")] == [b"abcd", b"efgh"]


def test_chunked_upload_without_content_length() -> None:
    body = b"x" * 5000 + b"\n" + b"y" * 3000

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        assert "CONTENT_LENGTH" not in environ
        data = b"".join(iter(lambda: environ["wsgi.input"].read(1024), b""))
        start_ok(start_response)
        return [str(len(data)).encode()]
    w = gwinspect.wrap(app)
    out = run_wsgi(w, make_environ("POST", body=body, content_length=False, HTTP_TRANSFER_ENCODING="chunked"))
    assert out.chunks == [b"8001"]
    d = only_trace(w)
    assert d["request"]["body_size"] == 8001
    assert b"".join(blob_bytes(e["data"]) for e in events(d, "input")) == body
    assert ["transfer-encoding", "chunked"] in d["request"]["headers"]


def test_unread_body_is_not_recorded_and_not_consumed() -> None:
    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        start_ok(start_response)
        return [b"ignored the body"]
    stream = io.BytesIO(b"unread")
    w = gwinspect.wrap(app)
    run_wsgi(w, make_environ("POST", body=b"unread", stream=stream))
    assert stream.tell() == 0
    d = only_trace(w)
    assert events(d, "input") == [] and d["request"]["body_size"] == 0


# ---------------------------------------------------------------------------- exceptions at each stage


class Boom(Exception):
    pass


def _failing_app(stage: str, err: BaseException, closed: list[int]) -> Any:
    def app(environ: dict[str, Any], start_response: Any) -> Any:
        if stage == "before start_response":
            raise err
        start_ok(start_response)
        if stage == "after start_response":
            raise err

        def gen() -> Any:
            yield b"one"
            if stage == "iteration":
                raise err
            yield b"two"
        return counting_close(gen(), closed, fail=err if stage == "close" else None)
    return app


@pytest.mark.parametrize(("stage", "where"), [("before start_response", "call"), ("after start_response", "call"),
                                              ("iteration", "iteration"), ("close", "close")])
def test_exception_at_each_stage_is_recorded_and_reraised_as_is(stage: str, where: str) -> None:
    err = Boom(stage)
    closed: list[int] = []
    w = gwinspect.wrap(_failing_app(stage, err, closed))
    out = run_wsgi(w, make_environ())
    assert out.exception is err
    d = only_trace(w)
    assert d["error"]["type"].endswith("Boom") and d["error"]["message"] == stage
    assert "Traceback" in d["error"]["traceback"]
    assert [(e["where"], e["message"]) for e in events(d, "exception")] == [(where, stage)]
    assert d["state"] == "complete"
    if stage in ("iteration", "close"):
        assert closed == [1]
    roundtrip_ok(w)


# ---------------------------------------------------------------------------- when the response is over


def test_response_is_over_at_exhaustion_before_close() -> None:
    seen: dict[str, Any] = {}

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        start_ok(start_response)
        return [b"a", b"b"]
    w = gwinspect.wrap(app)
    result = w(make_environ(), lambda *a: None)
    assert w.store.list()[0].state == "in_progress"  # __call__ returned: not over yet
    seen["chunks"] = list(result)
    d = only_trace(w)
    assert d["state"] == "complete"
    duration = d["duration_ms"]
    result.close()  # type: ignore[attr-defined]
    d2 = only_trace(w)
    assert d2["state"] == "complete" and d2["duration_ms"] == duration  # not extended by a late close
    assert [e["kind"] for e in d2["events"]][-1] == "close" and events(d2, "close")[0]["exhausted"] is True


def test_response_is_over_at_close_before_exhaustion_and_marks_disconnect() -> None:
    def app(environ: dict[str, Any], start_response: Any) -> Any:
        start_ok(start_response)
        return (b"x%d" % i for i in range(100))
    w = gwinspect.wrap(app)
    out = run_wsgi(w, make_environ(), stop_after=2)  # the server gave up after two chunks
    assert out.chunks == [b"x0", b"x1"]
    d = only_trace(w)
    assert d["state"] == "complete" and d["disconnected"] is True
    assert events(d, "close")[0]["exhausted"] is False
    assert len(events(d, "chunk")) == 2


def test_close_never_called_still_completes_at_exhaustion() -> None:
    def app(environ: dict[str, Any], start_response: Any) -> Any:
        start_ok(start_response)
        yield b"only"
    w = gwinspect.wrap(app)
    out = run_wsgi(w, make_environ(), close=False)
    assert out.chunks == [b"only"]
    d = only_trace(w)
    assert d["state"] == "complete" and events(d, "close") == []


def test_late_close_reaches_the_stored_trace_and_bumps_the_store() -> None:
    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        start_ok(start_response)
        return [b"x"]
    w = gwinspect.wrap(app)
    result = w(make_environ(), lambda *a: None)
    list(result)
    before = w.store.sequence
    assert events(only_trace(w), "close") == []
    result.close()  # type: ignore[attr-defined]
    assert w.store.sequence > before
    assert len(events(only_trace(w), "close")) == 1


def test_in_progress_trace_is_visible_while_the_app_blocks() -> None:
    entered, release = threading.Event(), threading.Event()

    def app(environ: dict[str, Any], start_response: Any) -> Any:
        start_ok(start_response)
        yield b"first"
        entered.set()
        assert release.wait(10)
        yield b"second"
    w = gwinspect.wrap(app)
    result: dict[str, Any] = {}
    worker = threading.Thread(target=lambda: result.update(out=run_wsgi(w, make_environ(path="/hung"))))
    worker.start()
    try:
        assert entered.wait(10)
        [t] = w.store.list()
        assert t.state == "in_progress" and t.duration_ms is None and t.request.path == "/hung"
        assert t.response is not None and t.response.status == 200
        assert [e.kind for e in t.events] == ["start_response", "chunk"]
        assert gwinspect.loads(gwinspect.dumps(t))[0].to_dict() == t.to_dict()
    finally:
        release.set()
        worker.join(10)
    assert result["out"].chunks == [b"first", b"second"]
    assert w.store.list()[0].state == "complete"


def test_werkzeug_unbuffered_client_without_close_still_completes() -> None:
    from werkzeug.test import Client

    def app(environ: dict[str, Any], start_response: Any) -> Any:
        start_ok(start_response)
        yield b"stream"
        yield b"ed"
    w = gwinspect.wrap(app)
    resp = Client(w).get("/u")  # unbuffered: the iterable is read lazily, close() only on response.close()
    assert resp.get_data() == b"streamed"
    d = only_trace(w)
    assert d["state"] == "complete" and [blob_bytes(e["data"]) for e in events(d, "chunk")] == [b"stream", b"ed"]


# ---------------------------------------------------------------------------- file_wrapper and len()


def test_file_wrapper_passes_through_as_the_same_object_and_is_recorded(tmp_path: Path) -> None:
    path = tmp_path / "payload.bin"
    path.write_bytes(b"0123456789" * 100)
    made: list[Any] = []

    def app(environ: dict[str, Any], start_response: Any) -> Any:
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        wrapper = environ["wsgi.file_wrapper"](open(path, "rb"), 256)  # noqa: SIM115 - closed by the server
        made.append(wrapper)
        return wrapper
    w = gwinspect.wrap(app)
    env = make_environ(path="/file", **{"wsgi.file_wrapper": wsgiref.util.FileWrapper})
    result = w(env, lambda *a: None)
    assert result is made[0] and type(result) is wsgiref.util.FileWrapper
    d = only_trace(w)
    assert d["state"] == "complete"
    [ev] = events(d, "file")
    assert ev["file"]["wrapper"] == "FileWrapper" and ev["file"]["name"] == str(path) and ev["file"]["size"] == 1000
    assert d["response"]["status"] == 200 and d["response"]["body_size"] == 1000
    assert b"".join(result) == b"0123456789" * 100
    result.close()
    roundtrip_ok(w)


@pytest.mark.parametrize("body", [[b"one"], [b"a", b"b"], (b"tuple",), []])
def test_len_is_forwarded_for_sized_responses(body: Any) -> None:
    def app(environ: dict[str, Any], start_response: Any) -> Any:
        start_ok(start_response)
        return body
    bare = run_wsgi(app, make_environ())
    out = run_wsgi(gwinspect.wrap(app), make_environ())
    assert out.result_len == bare.result_len == len(body)
    assert out.observable() == bare.observable()


def test_unsized_responses_have_no_len() -> None:
    def app(environ: dict[str, Any], start_response: Any) -> Any:
        start_ok(start_response)
        return iter([b"x"])
    result = gwinspect.wrap(app)(make_environ(), lambda *a: None)
    assert not hasattr(result, "__len__")
    list(result)


def test_wsgiref_sets_content_length_for_a_one_item_list_exactly_as_bare() -> None:
    from wsgiref.handlers import SimpleHandler

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"single item"]

    def serve(application: Any) -> bytes:
        out = io.BytesIO()
        env = make_environ()
        handler = SimpleHandler(io.BytesIO(), out, io.StringIO(), {k: v for k, v in env.items()
                                                                   if not k.startswith("wsgi.")})
        handler.run(application)
        return out.getvalue()
    bare, wrapped = serve(app), serve(gwinspect.wrap(app))
    assert b"Content-Length: 11" in bare
    assert without_date(wrapped) == without_date(bare)


def without_date(raw: bytes) -> bytes:
    return b"\r\n".join(line for line in raw.split(b"\r\n") if not line.startswith(b"Date:"))


# ---------------------------------------------------------------------------- excluded paths


def test_excluded_path_is_not_recorded_and_its_errors_pass_through_once() -> None:
    calls: list[str] = []
    err = Boom("health failed")

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        calls.append(environ["PATH_INFO"])
        if environ["PATH_INFO"] == "/health/deep":
            raise err
        start_ok(start_response)
        return [b"ok"]
    w = gwinspect.wrap(app, exclude_paths=["/health"])
    assert run_wsgi(w, make_environ(path="/health")).chunks == [b"ok"]
    out = run_wsgi(w, make_environ(path="/health/deep"))
    assert out.exception is err
    assert calls == ["/health", "/health/deep"]  # called once each, never retried
    assert len(w.store) == 0
    run_wsgi(w, make_environ(path="/healthy"))  # a prefix of a name is not a path prefix
    assert [t.request.path for t in w.store.list()] == ["/healthy"]


def test_panel_requests_are_never_recorded() -> None:
    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        start_ok(start_response)
        return [b"app"]
    w = gwinspect.wrap(app)
    run_wsgi(w, make_environ(path="/x"))
    out = run_wsgi(w, make_environ(path="/__inspect__/api/traces", HTTP_HOST="127.0.0.1"))
    assert out.start_calls and out.chunks != [b"app"]
    assert [t.request.path for t in w.store.list()] == ["/x"]
