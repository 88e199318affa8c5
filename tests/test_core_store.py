"""The memory store and the query language: newest first, paging, filters, in-place completion."""

from __future__ import annotations

from typing import Any

import pytest

import gwinspect
from gwinspect.query import matches
from gwinspect.store import FinishedTrace, MemoryStore
from tests.apps_core import http_scope, make_environ, request_messages, run_asgi, run_wsgi


def wsgi_status(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    status = environ["PATH_INFO"].rsplit("/", 1)[-1]
    if status == "boom":
        raise RuntimeError("boom")
    start_response(f"{status} X", [])
    return [b""]


async def asgi_ok(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "websocket":
        await receive()
        await send({"type": "websocket.close"})
        return
    await receive()
    await send({"type": "http.response.start", "status": 201, "headers": []})
    await send({"type": "http.response.body", "body": b""})


@pytest.fixture
def store() -> MemoryStore:
    store = MemoryStore(100)
    w = gwinspect.wrap(wsgi_status, store=store)
    a = gwinspect.wrap(asgi_ok, store=store)
    run_wsgi(w, make_environ("GET", "/users/200", query="page=2"))
    run_wsgi(w, make_environ("POST", "/users/404"))
    run_wsgi(w, make_environ("DELETE", "/items/500"))
    run_wsgi(w, make_environ("GET", "/items/boom"))
    run_asgi(a, http_scope("/api/Things", "PUT"), request_messages())
    run_asgi(a, http_scope("/ws", type_="websocket"), [{"type": "websocket.connect"}])
    return store


@pytest.mark.parametrize(("query", "paths"), [
    ("", ["/ws", "/api/Things", "/items/boom", "/items/500", "/users/404", "/users/200"]),
    ("GET", ["/items/boom", "/users/200"]), ("post", ["/users/404"]), ("method:put", ["/api/Things"]),
    ("404", ["/users/404"]), ("4xx", ["/users/404", "/ws"]), ("5XX", ["/items/500"]), ("status:201", ["/api/Things"]),
    ("asgi", ["/ws", "/api/Things"]), ("protocol:wsgi", ["/items/boom", "/items/500", "/users/404", "/users/200"]),
    ("websocket", ["/ws"]), ("type:http get", ["/items/boom", "/users/200"]), ("error", ["/items/boom"]),
    ("users", ["/users/404", "/users/200"]), ("page=2", ["/users/200"]), ("path:things", ["/api/Things"]),
    ("items get", ["/items/boom"]), ("nothing-matches", []),
])
def test_query_language(store: MemoryStore, query: str, paths: list[str]) -> None:
    # the websocket closed before accepting: a 403, so it is in 4xx
    got = [t.request.path for t in store.list(limit=100, query=query)]
    assert sorted(got) == sorted(paths)
    assert got == [p for p in [t.request.path for t in store.list(limit=100)] if p in paths]  # newest first
    assert store.count(query) == len(paths)
    assert all(matches(t, query) for t in store.list(limit=100, query=query))


def test_paging_and_get(store: MemoryStore) -> None:
    everything = store.list(limit=100)
    assert len(store) == store.count() == 6
    assert [t.id for t in store.list(limit=2, offset=1)] == [t.id for t in everything[1:3]]
    assert [t.id for t in store.list(limit=2, offset=0, query="wsgi")] == [t.id for t in everything[2:4]]
    assert store.list(limit=0) == [] and store.list(limit=5, offset=50) == []
    assert store.get(everything[0].id) == everything[0]
    assert store.get("no-such-id") is None


def test_loaded_traces_can_be_imported_into_a_store(store: MemoryStore) -> None:
    dumped = gwinspect.loads(gwinspect.dumps(store.list(limit=100)))
    other = MemoryStore(3)
    for trace in reversed(dumped):
        other.add(FinishedTrace(trace))
    assert [t.id for t in other.list()] == [t.id for t in dumped[:3]]
    assert other.get(dumped[0].id) == dumped[0]


def test_sequence_grows_on_every_change() -> None:
    store = MemoryStore(10)
    seen = [store.sequence]
    w = gwinspect.wrap(wsgi_status, store=store)
    result = w(make_environ(path="/x/200"), lambda *a: None)
    seen.append(store.sequence)  # request started
    list(result)
    seen.append(store.sequence)  # request complete
    result.close()  # type: ignore[attr-defined]
    seen.append(store.sequence)  # late close
    store.clear()
    seen.append(store.sequence)
    assert seen == sorted(seen) and len(set(seen)) == len(seen)


def test_store_protocol_is_runtime_checkable() -> None:
    assert isinstance(MemoryStore(1), gwinspect.TraceStore)
    with pytest.raises(ValueError):
        MemoryStore(0)


def test_filtering_builds_only_the_traces_it_returns() -> None:
    """A search over many traces looks at cheap heads; only the page returned is built and checked."""
    from werkzeug.test import Client

    import gwinspect

    def app(environ, start_response):  # type: ignore[no-untyped-def]
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"x"]

    w = gwinspect.wrap(app, max_traces=1000)
    client = Client(w)
    for i in range(300):
        client.get(f"/item/{i}" + ("/special" if i % 30 == 0 else ""), buffered=True)
    built = []
    checker = w.settings.checker

    def counting(trace):  # type: ignore[no-untyped-def]
        built.append(trace.id)
        return checker(trace) if checker else trace
    w.settings.checker = counting
    assert w.store.count("special") == 10
    page = w.store.list(limit=3, offset=2, query="special")
    assert [t.request.path for t in page] == ["/item/210/special", "/item/180/special", "/item/150/special"]
    assert len(built) == 3


def test_a_single_string_is_one_excluded_path_and_one_allowed_host() -> None:
    from werkzeug.test import Client

    import gwinspect

    def app(environ, start_response):  # type: ignore[no-untyped-def]
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"x"]

    w = gwinspect.wrap(app, exclude_paths="/health", allow_hosts="dev.example")
    assert w.settings.allow_hosts == ("dev.example",)
    client = Client(w)
    client.get("/health", buffered=True)
    client.get("/healthy", buffered=True)
    client.get("/api", buffered=True)
    assert sorted(t.request.path for t in w.store.list()) == ["/api", "/healthy"]
