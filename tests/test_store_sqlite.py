"""SQLiteStore behind the TraceStore protocol: reads across instances, in-flight merge, filters, retention."""

from __future__ import annotations

import itertools
import os
import stat
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest

from gwinspect.query import matches
from gwinspect.store import FinishedTrace, MemoryStore, TraceStore
from gwinspect.store_sqlite import SQLiteStore
from tests.store_helpers import Blocking, InFlight, hit, make_trace, wrapped


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "traces.db"


def test_recorded_requests_reach_another_instance(db: Path) -> None:
    store = SQLiteStore(db)
    app = wrapped(store)
    for i in range(5):
        hit(app, f"/item/{i}", "POST" if i % 2 else "GET", query=f"n={i}")
    assert isinstance(store, TraceStore)
    assert len(store) == 5  # this process sees its own at once, written or not
    assert store.flush()
    other = SQLiteStore(db)  # what another worker process sees: the file only
    assert len(other) == 5
    assert [t.request.path for t in other.list()] == [f"/item/{i}" for i in range(4, -1, -1)]
    trace = other.list(limit=1)[0]
    assert trace.complete and trace.response is not None and trace.response.status == 200
    assert trace.request.query_string == "n=4" and [e.kind for e in trace.events][-1] == "close"
    assert other.get(trace.id) == trace and other.get("nope") is None
    assert other.count("post") == 2 and other.count("get /item/4") == 1
    store.close()
    other.close()


def test_in_flight_requests_show_here_at_once_and_elsewhere_when_finished(db: Path) -> None:
    store, other = SQLiteStore(db), SQLiteStore(db)
    live = InFlight(make_trace(1, path="/slow"))
    store.add(live)
    assert [t.state for t in store.list()] == ["in_progress"] and store.get(live.trace_id) is not None
    assert store.flush() and len(other) == 0  # nothing written while it is young and in flight
    live.finish()
    store.finished(live)
    assert store.get(live.trace_id).state == "complete"  # type: ignore[union-attr]
    assert store.flush()
    assert [t.state for t in other.list()] == ["complete"] and other.get(live.trace_id) is not None
    assert len(store) == 1  # written and no longer in flight: counted once


def test_long_running_requests_are_written_in_progress_for_other_workers(db: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    import gwinspect.store_live as mod
    monkeypatch.setattr(mod, "LONG_RUNNING_S", 0.0)
    store, other = SQLiteStore(db), SQLiteStore(db)
    live = InFlight(make_trace(1, path="/hung"))
    store.add(live)
    deadline = time.monotonic() + 5
    while not len(other) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [t.state for t in other.list()] == ["in_progress"]
    live.finish()
    store.finished(live)
    assert store.flush()
    assert [t.state for t in other.list()] == ["complete"] and len(other) == 1


def test_merged_pages_match_a_single_ordered_list(db: Path) -> None:
    """In-flight traces of this process interleave with stored ones by start time, on every page."""
    store = SQLiteStore(db)
    for i in range(0, 40, 2):
        store.add_trace(make_trace(i, method="POST" if i % 4 else "GET"))
    assert store.flush()
    for i in (1, 7, 8, 39, 45):  # 8 is also stored: this process's copy wins
        store.add(InFlight(make_trace(i, method="GET")))
    every = sorted({*range(0, 40, 2), 1, 7, 39, 45}, reverse=True)
    expected = [f"t{i:06d}" for i in every]
    assert store.count() == len(expected) == len(store)
    for limit, offset in itertools.product((1, 3, 7, 50), (0, 1, 2, 5, 20, 24, 30)):
        assert [t.id for t in store.list(limit=limit, offset=offset)] == expected[offset:offset + limit]
    gets = [f"t{i:06d}" for i in every if i % 4 == 0 or i in (1, 7, 39, 45)]
    assert [t.id for t in store.list(limit=100, query="get")] == gets and store.count("get") == len(gets)
    assert [t.id for t in store.list(limit=4, offset=3, query="get")] == gets[3:7]
    assert store.list(limit=0) == [] and store.list(limit=5, offset=1000) == []


def _variety() -> list:
    methods = ["GET", "post", "DeLeTe", None, "ÄRGER"]
    paths = ["/", "/api/users", "/API/Orders", "/caf\u00e9/\u00c9t\u00e9", "/bad\udcff/x", "/a b"]
    statuses = [200, 201, 302, 404, 418, 500, 503, None, 99]
    traces = []
    for i, (m, p, s) in enumerate(itertools.product(methods, paths, statuses)):
        traces.append(make_trace(i, method=m, path=p, status=s, query="q=Xy" if i % 3 == 0 else "",
                                 protocol="asgi" if i % 2 else "wsgi", kind=("http", "websocket", "lifespan")[i % 3],
                                 error=i % 7 == 0))
    return traces


QUERIES = ["", "get", "POST", "delete", "404", "4xx", "5xx", "2xx", "99", "status:9xx", "status:", "status:abc",
           "wsgi", "asgi", "http", "websocket", "lifespan", "error", "api", "/API/orders", "café", "été", "ÉTÉ",
           "path:api", "path:q=xy", "q=xy", "method:get", "method:", "method:ärger", "ärger", "protocol:asgi",
           "type:websocket", "get 4xx api", "post error", "foo:bar", "\udcff", "a b", "x", "get wsgi http 2xx"]


def test_sql_filters_agree_with_the_query_language(db: Path) -> None:
    traces = _variety()
    store = SQLiteStore(db)
    for t in traces:
        store.add_trace(t)
    assert store.flush()
    other = SQLiteStore(db)  # every filter runs in SQL here: nothing of it is in flight
    newest_first = sorted(traces, key=lambda t: t.started_at, reverse=True)
    for q in QUERIES:
        want = [t.id for t in newest_first if matches(t, q)]
        assert other.count(q) == len(want), q
        assert [t.id for t in other.list(limit=1000, query=q)] == want, q


def test_filters_stay_fast_on_10000_traces(db: Path) -> None:
    store = SQLiteStore(db, max_traces=20_000, queue_size=20_000)
    for i in range(10_000):
        store.add_trace(make_trace(i, method=("GET", "POST")[i % 2], path=f"/api/{i % 50}/items",
                                   status=(200, 404, 500)[i % 3]))
    assert store.flush(60)
    other = SQLiteStore(db)
    assert other.count() == 10_000
    for q in ("post 4xx /api/7/", "5xx", "get", "nothing-matches", "status:404 path:/3"):
        t0 = time.perf_counter()
        total = other.count(q)
        page = other.list(limit=50, query=q)
        elapsed = time.perf_counter() - t0
        assert len(page) == min(50, total)
        assert elapsed < 0.25, f"{q!r} took {elapsed:.3f}s"  # decoding 10,000 rows in Python takes seconds


def test_retention_by_count_keeps_the_newest(db: Path) -> None:
    store = SQLiteStore(db, max_traces=10)
    for i in range(25):
        store.add_trace(make_trace(i))
        if i % 4 == 0:
            assert store.flush()
    assert store.flush()
    other = SQLiteStore(db, max_traces=1000)  # a reader's own limit does not matter: the writer prunes
    assert [t.id for t in other.list(limit=100)] == [f"t{i:06d}" for i in range(24, 14, -1)]


def test_retention_by_age(db: Path) -> None:
    from datetime import datetime, timezone
    now = datetime.now(timezone.utc)
    store = SQLiteStore(db, max_age=60)
    store.add_trace(make_trace(1, started=now - timedelta(hours=2)))
    store.add_trace(make_trace(2, started=now - timedelta(seconds=5)))
    assert store.flush()
    raw = __import__("sqlite3").connect(db).execute("SELECT id FROM traces").fetchall()
    assert raw == [("t000002",)]  # deleted from the file by the writer, not just hidden
    assert [t.id for t in SQLiteStore(db, max_age=60).list()] == ["t000002"]


def test_files_are_owner_only_whatever_the_umask(db: Path) -> None:
    old = os.umask(0)
    try:
        store = SQLiteStore(db / ".." / "sub" / "traces.db")
        store.add_trace(make_trace(1))
        assert store.flush()
        reader = SQLiteStore(store.path)
        assert len(reader) == 1
        files = [store.path, Path(f"{store.path}-wal"), Path(f"{store.path}-shm")]
        assert {p.name: oct(stat.S_IMODE(p.stat().st_mode)) for p in files} == {p.name: "0o600" for p in files}
        assert stat.S_IMODE(store.path.parent.stat().st_mode) == 0o700  # a folder it had to create
    finally:
        os.umask(old)


def test_sequence_moves_when_another_instance_writes(db: Path) -> None:
    a, b = SQLiteStore(db), SQLiteStore(db)
    before = a.sequence
    b.add_trace(make_trace(1))
    assert b.flush()
    assert a.sequence > before
    mid = a.sequence
    assert a.sequence == mid  # stable while nothing happens
    b.clear()
    assert a.sequence > mid and len(a) == 0
    rev = a.revision
    b.add_trace(make_trace(2))
    assert b.flush()
    new_rev, traces = a.changed_since(rev)
    assert new_rev > rev and [t.id for t in traces] == ["t000002"] and a.changed_since(new_rev) == (new_rev, [])


def test_a_full_queue_drops_traces_without_delaying_requests(db: Path) -> None:
    store = SQLiteStore(db, queue_size=2)
    release = threading.Event()
    stuck = Blocking(make_trace(0), release)
    store.finished(stuck)
    assert stuck.entered.wait(5)  # the writer is now busy with it
    t0 = time.perf_counter()
    for i in range(1, 8):
        store.finished(FinishedTrace(make_trace(i)))
    assert time.perf_counter() - t0 < 0.05
    assert store.dropped == 5
    release.set()
    assert store.flush()
    assert len(SQLiteStore(db)) == 3 and store.count() == 3


def test_a_locked_file_does_not_block_requests(db: Path) -> None:
    store = SQLiteStore(db)
    app = wrapped(store)
    hit(app, "/warm")
    assert store.flush()
    import sqlite3
    locker = sqlite3.connect(db, isolation_level=None)
    locker.execute("BEGIN EXCLUSIVE")  # another process holds the file
    try:
        t0 = time.perf_counter()
        for i in range(20):
            hit(app, f"/while-locked/{i}")
        assert time.perf_counter() - t0 < 0.5
        assert store.count("while-locked") == 20  # shown from memory meanwhile
    finally:
        locker.execute("ROLLBACK")
        locker.close()
    assert store.flush(10)
    assert SQLiteStore(db).count("while-locked") == 20


def test_a_memory_store_and_a_sqlite_store_list_alike(db: Path) -> None:
    memory, sqlite = MemoryStore(100), SQLiteStore(db)
    for t in _variety()[:60]:
        memory.add_trace(t)
        sqlite.add_trace(t)
    assert sqlite.flush()
    for q in (None, "get", "4xx", "api"):
        assert [t.id for t in memory.list(limit=20, offset=5, query=q)] == \
            [t.id for t in SQLiteStore(db).list(limit=20, offset=5, query=q)]


def test_many_requests_in_flight(db: Path) -> None:
    store = SQLiteStore(db)
    for i in range(0, 600, 2):
        store.add_trace(make_trace(i))
    assert store.flush()
    for i in range(1, 2400, 2):  # a busy server: 1,200 requests in flight in this process
        store.add(InFlight(make_trace(i)))
    t0 = time.perf_counter()
    assert store.count() == 1500
    page = store.list(limit=10, offset=1195)
    assert time.perf_counter() - t0 < 2.0
    # 900 in-flight ones newer than every stored one (2399 ... 601), then both kinds interleave: 599, 598, ...
    assert [t.id for t in page] == [f"t{i:06d}" for i in range(304, 294, -1)]
    assert [t.id for t in store.list(limit=3, offset=898)] == ["t000603", "t000601", "t000599"]
