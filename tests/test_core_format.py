"""The gwinspect/1 JSON format: dump/load round trips, schema validity, hostile values, garbage input."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import gwinspect
from gwinspect.model import Blob, Trace
from tests.apps_core import (
    blob_bytes,
    events,
    http_scope,
    make_environ,
    messages,
    only_trace,
    request_messages,
    roundtrip_ok,
    run_asgi,
    run_wsgi,
    validate_dump,
)


def wsgi_app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    environ["wsgi.input"].read()
    start_response("200 OK", [("Content-Type", "text/plain; charset=latin-1"), ("X-L1", "caf\xe9 \xff")])
    return [b"\xff\xfe\x00binary", "caf\xe9".encode("latin-1"), "ok ✓".encode()]


async def asgi_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    await receive()
    await send({"type": "http.response.start", "status": 200, "headers": [(b"x-bin", b"\xff\x80"),
                                                                         (b"x-l1", "caf\xe9".encode("latin-1"))]})
    await send({"type": "http.response.body", "body": b"\x80\x81", "more_body": True})
    await send({"type": "http.response.body", "body": "ünïcode".encode()})


class BrokenRepr:
    def __repr__(self) -> str:
        raise RuntimeError("no repr for you")


class NonStrRepr:
    def __repr__(self) -> Any:
        return 42


def hostile_values() -> dict[str, Any]:
    loop: dict[str, Any] = {}
    loop["self"] = loop
    chain: list[Any] = []
    chain.append(chain)
    deep: Any = "bottom"
    for _ in range(50):
        deep = {"d": deep}
    return {
        "custom.obj": object(), "custom.set": {1, 2, 3}, "custom.frozenset": frozenset("ab"),
        "custom.nan": math.nan, "custom.inf": -math.inf, "custom.recursive": loop, "custom.recursive_list": chain,
        "custom.broken_repr": BrokenRepr(), "custom.non_str_repr": NonStrRepr(), "custom.deep": deep,
        "custom.big": list(range(10_000)), "custom.keys": {(1, 2): "tuple key", b"k": "bytes key", None: 1},
        "custom.bytes": b"\xff\x00", "custom.bytearray": bytearray(b"ba"), "custom.huge_int": 2**100,
        "custom.type": BrokenRepr, "custom.func": lambda: None, "custom.text": "\udcff lone surrogate",
        "custom.blob_lookalike": {"encoding": "latin1", "data": "x", "size": 1, "truncated": False},
        "custom.bad_blob_lookalike": {"encoding": "base64", "data": "!!!", "size": "many", "truncated": 0},
    }


def test_wsgi_hostile_values_never_break_a_dump() -> None:
    w = gwinspect.wrap(wsgi_app)
    env = make_environ("POST", "/caf\udcc3\udca9", body=b"\xff\x00\x80", headers={"X-Latin": "\xe9t\xe9"},
                       **hostile_values())
    env.update({42: "a non-str key", ("tuple", "key"): object()})  # type: ignore[dict-item]
    out = run_wsgi(w, env)
    assert out.exception is None
    d = only_trace(w)
    assert not d["partial"]
    assert [blob_bytes(e["data"]) for e in events(d, "chunk")] == \
        [b"\xff\xfe\x00binary", b"caf\xe9", "ok ✓".encode()]
    assert events(d, "chunk")[0]["data"]["encoding"] == "base64"
    assert blob_bytes(events(d, "input")[0]["data"]) == b"\xff\x00\x80"
    assert d["environ"]["custom.nan"] == "nan" and isinstance(d["environ"]["custom.obj"], str)
    assert "unrepresentable" in d["environ"]["custom.broken_repr"]
    assert ["x-latin", "\xe9t\xe9"] in d["request"]["headers"]
    assert d["environ"]["custom.text"] == "\udcff lone surrogate"
    roundtrip_ok(w)


def test_asgi_hostile_values_never_break_a_dump() -> None:
    w = gwinspect.wrap(asgi_app)
    scope = http_scope("/\udcff/caf\xe9", query=b"a=\xff&b=%zz", headers=[(b"x-h", b"\xff\xfe"), (b"X-Up", b"v")],
                       extensions={"obj": object(), **hostile_values()})
    scope["raw_path"] = b"/\xff/caf\xc3\xa9"
    run_asgi(w, scope, [{"type": "http.request", "body": b"\xc3\x28", "more_body": False, "extra": BrokenRepr()}])
    d = only_trace(w)
    assert not d["partial"]
    assert d["request"]["path"] == "/\udcff/caf\xe9"
    assert blob_bytes(d["scope"]["raw_path"]) == b"/\xff/caf\xc3\xa9"
    assert [blob_bytes(m["body"]) for m in messages(d, "send")[1:]] == [b"\x80\x81", "ünïcode".encode()]
    assert ["x-h", "\xff\xfe"] in d["request"]["headers"]  # latin-1 view in the summary, exact bytes in scope
    text = gwinspect.dumps(w.store.list())
    assert text.isascii()
    roundtrip_ok(w)


def test_single_trace_and_bundle_forms(tmp_path: Path) -> None:
    w = gwinspect.wrap(wsgi_app)
    for i in range(3):
        run_wsgi(w, make_environ(path=f"/n{i}"))
    traces = w.store.list()
    one = gwinspect.dumps(traces[0])
    doc = validate_dump(one)
    assert doc["format"] == "gwinspect/1" and doc["id"] == traces[0].id and "traces" not in doc
    bundle = validate_dump(gwinspect.dumps(traces))
    assert bundle["format"] == "gwinspect/1" and [t["id"] for t in bundle["traces"]] == [t.id for t in traces]
    assert [t.to_dict() for t in gwinspect.loads(one)] == [traces[0].to_dict()]
    assert gwinspect.loads(gwinspect.dumps([])) == []
    assert gwinspect.loads(one.encode()) == gwinspect.loads(one)  # bytes accepted too

    path = tmp_path / "bug.json"
    gwinspect.dump(traces, path)
    validate_dump(path.read_text(encoding="ascii"))
    back = gwinspect.load(path)
    assert [t.to_dict() for t in back] == [t.to_dict() for t in traces]
    assert back == traces  # the model objects compare equal too
    gwinspect.dump(back, tmp_path / "again.json")
    assert (tmp_path / "again.json").read_bytes() == path.read_bytes()
    with open(path, "w") as f:  # a user writing the dumps() string themselves, as in the README
        f.write(gwinspect.dumps(traces))
    assert [t.to_dict() for t in gwinspect.load(str(path))] == [t.to_dict() for t in traces]


def test_trace_header_fields() -> None:
    w = gwinspect.wrap(wsgi_app)
    a = gwinspect.wrap(asgi_app)
    for _ in range(50):
        run_wsgi(w, make_environ())
    run_asgi(a, http_scope(), request_messages())
    ids = [t.id for t in w.store.list(limit=100)]
    assert len(set(ids)) == 50
    for d in [t.to_dict() for t in w.store.list(limit=100)] + [only_trace(a)]:
        assert re.fullmatch(r"[A-Za-z0-9_-]{16,}", d["id"])  # >= 96 bits, URL-safe
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", d["started_at"])
        assert d["format"] == "gwinspect/1" and d["state"] == "complete" and isinstance(d["duration_ms"], float)
        assert d["violations"] == [] or isinstance(d["violations"], list)
        assert d["events"][0]["t_ms"] >= 0


GARBAGE: list[Any] = [
    "", "{", "not json", "null", "42", '"a string"', "true", "[1, 2]", '[{"format": "gwinspect/1"}]',
    "{}", '{"format": "gwinspect/2", "traces": []}', '{"format": "gwinspect/1"}',
    '{"format": "gwinspect/1", "traces": 5}', '{"format": "gwinspect/1", "traces": [null]}',
    '{"format": "gwinspect/1", "traces": [{"format": "gwinspect/1", "id": "x"}]}', "NaN", b"\xff\xfe",
    "[" * 100_000 + "]" * 100_000, '{"a": ' * 50_000 + "1" + "}" * 50_000,
]


@pytest.mark.parametrize("text", GARBAGE, ids=lambda t: repr(t)[:30])
def test_loads_of_garbage_raises_value_error(text: Any) -> None:
    with pytest.raises(ValueError):
        gwinspect.loads(text)


def test_loads_of_corrupted_real_dumps_raises_value_error() -> None:
    w = gwinspect.wrap(wsgi_app)
    run_wsgi(w, make_environ("POST", body=b"\xff"))
    good = json.loads(gwinspect.dumps(w.store.list()[0]))
    corruptions = [
        ("request", "not a dict"), ("events", 5), ("events", [{"kind": "chunk"}]),
        ("events", [{"t_ms": "x", "kind": 1}]), ("response", ["list"]), ("error", {"type": "X"}), ("violations", [{}]),
    ]
    for key, value in corruptions:
        bad = dict(good, **{key: value})
        with pytest.raises(ValueError):
            gwinspect.loads(json.dumps(bad))
    bad_blob = json.loads(json.dumps(good))
    for e in bad_blob["events"]:
        if e["kind"] == "input":
            e["data"] = {"encoding": "base64", "data": "!!!not base64", "size": 1, "truncated": False}
    with pytest.raises(ValueError):
        gwinspect.loads(json.dumps(bad_blob))


byte_strings = st.binary(max_size=64)
texts = st.text(max_size=32)  # any code points, lone surrogates included


@settings(max_examples=40, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(path=texts, headers=st.lists(st.tuples(byte_strings, byte_strings), max_size=4),
       bodies=st.lists(byte_strings, min_size=1, max_size=4), text_frame=texts, extra=st.dictionaries(texts, texts))
def test_any_asgi_traffic_dumps_validates_and_reloads(path: str, headers: list[tuple[bytes, bytes]],
                                                      bodies: list[bytes], text_frame: str,
                                                      extra: dict[str, str]) -> None:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        while (await receive()).get("more_body"):
            pass
        await send({"type": "http.response.start", "status": 200, "headers": headers, **extra})
        for b in bodies:
            await send({"type": "http.response.body", "body": b, "more_body": True, "note": text_frame})
        await send({"type": "http.response.body", "body": b""})
    w = gwinspect.wrap(app, max_body=100)
    run_asgi(w, http_scope(path, headers=headers, query=b"".join(bodies)), request_messages(*bodies))
    [trace] = w.store.list()
    assert not trace.partial
    roundtrip_ok(w)
    d = trace.to_dict()
    sent = [blob_bytes(m["body"]) for m in messages(d, "send")[1:-1]]
    joined, kept = b"".join(bodies), b"".join(sent)
    assert kept == joined[:100]


@settings(max_examples=40, deadline=None, database=None)
@given(environ_extra=st.dictionaries(st.text(max_size=10), st.one_of(
    st.text(max_size=20), st.binary(max_size=20), st.integers(), st.floats(), st.none(), st.booleans(),
    st.lists(st.integers(), max_size=3), st.sets(st.integers(), max_size=3)), max_size=6),
       chunks=st.lists(st.binary(max_size=40), max_size=5), header_value=st.text(
           alphabet=st.characters(min_codepoint=32, max_codepoint=255), max_size=20))
def test_any_wsgi_traffic_dumps_validates_and_reloads(environ_extra: dict[str, Any], chunks: list[bytes],
                                                      header_value: str) -> None:
    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        start_response("200 OK", [("X-Value", header_value)])
        return chunks
    w = gwinspect.wrap(app, max_body=64)
    env = make_environ(headers={"X-In": header_value})
    env.update(environ_extra)
    env.setdefault("REQUEST_METHOD", "GET")
    run_wsgi(w, env)
    roundtrip_ok(w)
    assert not w.store.list()[0].partial


def test_blob_encoding_rules() -> None:
    assert Blob(b"hi", 2).to_dict() == {"encoding": "utf-8", "data": "hi", "size": 2, "truncated": False}
    assert Blob(b"\xff", 10, True).to_dict() == {"encoding": "base64", "data": "/w==", "size": 10, "truncated": True}
    for b in (Blob(b"", 0), Blob("é".encode(), 2), Blob(b"\xed\xb2\x80", 3)):  # encoded surrogate: not UTF-8
        assert Blob.from_dict(b.to_dict()) == b


def test_from_dict_ignores_unknown_keys() -> None:
    w = gwinspect.wrap(wsgi_app)
    run_wsgi(w, make_environ())
    d = json.loads(gwinspect.dumps(w.store.list()[0]))
    d["future_key"] = {"anything": 1}
    assert Trace.from_dict(d).to_dict() == w.store.list()[0].to_dict()


def test_malformed_asgi_messages_are_recorded_as_they_were_and_dump_valid() -> None:
    """Messages that break the protocol (no type, not a dict) are recorded for the rules, and the dump
    still validates and reloads: "every dump validates"."""
    odd_in: list[Any] = [{"body": b"no type"}, ["a", "list"]]

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await receive()
        await receive()
        await send({})
        await send(None)
        await send([("type", "http.response.start")])
        await send({"type": 42, "status": "200"})
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": "str body", "more_body": 5})
    w = gwinspect.wrap(app)
    run_asgi(w, http_scope(), odd_in)
    [trace] = w.store.list()
    assert not trace.partial
    d = trace.to_dict()
    kinds = [(e["kind"], e["message"]) for e in d["events"]]
    assert kinds[0] == ("receive", {"body": {"encoding": "utf-8", "data": "no type", "size": 7, "truncated": False}})
    assert kinds[1] == ("receive", ["a", "list"])
    assert kinds[2] == ("send", {}) and kinds[3] == ("send", None)
    assert kinds[4] == ("send", [["type", "http.response.start"]])
    assert kinds[5] == ("send", {"type": 42, "status": "200"})
    assert d["response"]["status"] == 200
    roundtrip_ok(w)


edge_values = st.sampled_from([None, True, False, 0, -1, 2**70, 1.5, math.nan, math.inf, "", "200 OK", "\udcff",
                               b"", b"\xff", b"200", (), [], {}])
anything = st.recursive(
    edge_values | st.integers() | st.floats() | st.text(max_size=8) | st.binary(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.tuples(inner, inner) | st.dictionaries(st.text(max_size=5), inner,
                                                                                           max_size=3),
    max_leaves=8)


@settings(max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(start=st.fixed_dictionaries({"status": anything}, optional={"headers": anything, "trailers": anything}),
       body=st.fixed_dictionaries({"body": anything}, optional={"more_body": anything, "text": anything}),
       scope_extra=st.dictionaries(st.sampled_from(["client", "server", "http_version", "method", "scheme",
                                                    "root_path", "path", "query_string", "headers", "raw_path"]),
                                   anything, max_size=4))
def test_any_malformed_asgi_values_dump_validly(start: dict[str, Any], body: dict[str, Any],
                                                scope_extra: dict[str, Any]) -> None:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "http.response.start", **start})
        await send({"type": "http.response.body", **body})
    w = gwinspect.wrap(app)
    scope = http_scope()
    scope.update(scope_extra)
    run_asgi(w, scope, request_messages(b"x"))
    [trace] = w.store.list()
    assert not trace.partial, "gwinspect failed on a malformed value instead of recording it"
    roundtrip_ok(w)


@settings(max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(status=anything, headers=anything, chunks=st.lists(anything, max_size=3),
       environ_extra=st.dictionaries(st.sampled_from(["REQUEST_METHOD", "PATH_INFO", "SCRIPT_NAME", "QUERY_STRING",
                                                      "SERVER_PROTOCOL", "REMOTE_ADDR", "REMOTE_PORT",
                                                      "wsgi.url_scheme", "CONTENT_TYPE", "HTTP_X_Y"]),
                                     anything, max_size=4))
def test_any_malformed_wsgi_values_dump_validly(status: Any, headers: Any, chunks: list[Any],
                                                environ_extra: dict[str, Any]) -> None:
    def app(environ: dict[str, Any], start_response: Any) -> list[Any]:
        start_response(status, headers)
        return chunks
    w = gwinspect.wrap(app)
    env = make_environ()
    env.update(environ_extra)
    run_wsgi(w, env)
    [trace] = w.store.list()
    assert not trace.partial, "gwinspect failed on a malformed value instead of recording it"
    roundtrip_ok(w)


EDGE = [None, True, False, 0, -1, 2**70, 1.5, math.nan, math.inf, "", "200 OK", "\udcff", b"", b"\xff", b"200",
        (), [], {}, [("a",)], {"k": object()}, BrokenRepr()]


@pytest.mark.parametrize("value", EDGE, ids=[type(v).__name__ + str(i) for i, v in enumerate(EDGE)])
@pytest.mark.parametrize("where", ["status", "headers", "body", "more_body", "client", "http_version", "method",
                                   "path"])
def test_edge_values_in_asgi_fields_dump_validly(where: str, value: Any) -> None:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await receive()
        start = {"type": "http.response.start", "status": 200, "headers": []}
        body = {"type": "http.response.body", "body": b"ok"}
        for msg in (start, body):
            if where in msg:
                msg[where] = value
        if where == "more_body":
            body["more_body"] = value
        await send(start)
        await send(body)
    w = gwinspect.wrap(app)
    scope = http_scope()
    if where in ("client", "http_version", "method", "path"):
        scope[where] = value
    run_asgi(w, scope, request_messages(b"x"))
    [trace] = w.store.list()
    assert not trace.partial
    roundtrip_ok(w)


@pytest.mark.parametrize("value", EDGE, ids=[type(v).__name__ + str(i) for i, v in enumerate(EDGE)])
@pytest.mark.parametrize("where", ["status", "headers", "chunk", "REQUEST_METHOD", "SERVER_PROTOCOL", "REMOTE_ADDR",
                                   "wsgi.url_scheme", "HTTP_X_Y", "PATH_INFO", "SCRIPT_NAME", "QUERY_STRING"])
def test_edge_values_in_wsgi_fields_dump_validly(where: str, value: Any) -> None:
    def app(environ: dict[str, Any], start_response: Any) -> list[Any]:
        start_response(value if where == "status" else "200 OK", value if where == "headers" else [])
        return [value if where == "chunk" else b"ok"]
    w = gwinspect.wrap(app)
    env = make_environ()
    if where not in ("status", "headers", "chunk"):
        env[where] = value
    run_wsgi(w, env)
    [trace] = w.store.list()
    assert not trace.partial
    roundtrip_ok(w)
