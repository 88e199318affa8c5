"""Which files are stores: clear one-line errors for everything else, and how store= specs resolve."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest

import gwinspect
from gwinspect.store import MemoryStore, StoreError, open_store
from gwinspect.store_sqlite import SQLiteStore, parse_duration
from tests.store_helpers import hit, make_trace


def _error(path: Path, **kwargs: object) -> str:
    with pytest.raises(StoreError) as info:
        SQLiteStore(path, **kwargs)  # type: ignore[arg-type]
    message = str(info.value)
    assert "\n" not in message and str(path) in message
    return message


def test_random_bytes_are_not_a_store(tmp_path: Path) -> None:
    junk = tmp_path / "junk.db"
    junk.write_bytes(os.urandom(8192))
    assert "not a gwinspect store" in _error(junk)
    assert junk.stat().st_size == 8192  # left alone


def test_another_applications_database_is_refused_untouched(tmp_path: Path) -> None:
    other = tmp_path / "app.db"
    conn = sqlite3.connect(other)
    conn.execute("CREATE TABLE users (name TEXT)")
    conn.commit()
    conn.close()
    assert "another application" in _error(other)
    conn = sqlite3.connect(other)
    conn.execute("PRAGMA application_id = 1234")
    conn.close()
    assert "another application" in _error(other)
    tables = sqlite3.connect(other).execute("SELECT name FROM sqlite_master").fetchall()
    assert tables == [("users",)]


def test_a_store_from_a_newer_gwinspect_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "new.db"
    SQLiteStore(path).close()
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version = 99")
    conn.close()
    assert "newer gwinspect" in _error(path)


def test_a_corrupt_store_is_an_error_when_opened_or_read(tmp_path: Path) -> None:
    path = tmp_path / "c.db"
    store = SQLiteStore(path)
    for i in range(300):
        store.add_trace(make_trace(i, path="/x" * 200))
    store.close()
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    data = bytearray(path.read_bytes())
    header = bytearray(data)
    header[:16] = b"not sqlite at al"  # a damaged header: refused when opened
    path.write_bytes(bytes(header))
    assert "not a gwinspect store" in _error(path)
    page = 4096
    for at in range(2 * page, len(data), page):  # damaged pages: refused when read
        data[at:at + page] = os.urandom(page)
    path.write_bytes(bytes(data))
    with pytest.raises(StoreError) as info:
        reader = SQLiteStore(path)
        reader.count()
        reader.list(limit=1000)
    assert "\n" not in str(info.value)


def test_missing_files_and_folders(tmp_path: Path) -> None:
    assert "no such store" in _error(tmp_path / "none.db", create=False)
    assert not (tmp_path / "none.db").exists()
    assert "directory" in _error(tmp_path)
    empty = tmp_path / "empty.db"
    empty.touch()
    assert "empty database" in _error(empty, create=False)
    SQLiteStore(empty).close()  # an empty file may become a store when asked to create one
    assert SQLiteStore(empty, create=False).count() == 0


def test_store_specs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert isinstance(open_store(None, 5), MemoryStore)
    for spec in ("memory", "memory://", " MEMORY "):
        store = open_store(spec, 7)
        assert isinstance(store, MemoryStore) and store.max_traces == 7
    rel = open_store("sqlite:///rel.db", 50)
    assert isinstance(rel, SQLiteStore) and rel.path == tmp_path / "rel.db" and rel.max_traces == 50
    absolute = open_store(f"sqlite:///{tmp_path}/abs.db?max_traces=9&max_age=2h", 50)
    assert isinstance(absolute, SQLiteStore) and absolute.path == tmp_path / "abs.db"
    assert (absolute.max_traces, absolute.max_age) == (9, 7200)
    by_path = open_store(tmp_path / "p.db", 11)
    assert isinstance(by_path, SQLiteStore) and by_path.max_traces == 11
    assert open_store(by_path, 1) is by_path
    for bad in ("sqlite://host/x.db", "sqlite:///", "sqlite:///x.db?max_traces=0", "sqlite:///x.db?max_age=soon",
                "sqlite:///x.db?color=red", "redis://localhost", "traces.db"):
        with pytest.raises(StoreError):
            open_store(bad, 10)
    with pytest.raises(TypeError):
        open_store(42, 10)


def test_the_environment_variable_selects_the_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "env.db"
    monkeypatch.setenv("GWINSPECT_STORE", f"sqlite:///{path}")
    app = gwinspect.wrap(lambda e, s: (s("200 OK", []), [b"x"])[1])
    assert isinstance(app.store, SQLiteStore) and app.store.path == path
    hit(app, "/from-env")
    assert app.store.flush()
    assert [t.request.path for t in SQLiteStore(path).list()] == ["/from-env"]
    explicit = MemoryStore(3)
    assert gwinspect.wrap(lambda e, s: [], store=explicit).store is explicit  # an explicit store wins
    monkeypatch.setenv("GWINSPECT_STORE", f"sqlite:///{path}/under-a-file.db")
    with pytest.raises(StoreError, match="cannot create the folder"):
        gwinspect.wrap(lambda e, s: [])


def test_durations() -> None:
    assert [parse_duration(t) for t in ("90", "90s", "15m", "2h", "1.5d")] == [90, 90, 900, 7200, 129600]
    for bad in ("", "h", "-5s", "5 weeks"):
        with pytest.raises(ValueError):
            parse_duration(bad)


def test_a_store_that_cannot_be_written_never_breaks_requests(tmp_path: Path, caplog: pytest.LogCaptureFixture,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    import gwinspect.store_sql
    import gwinspect.store_writer
    # Wait 50 ms for the lock instead of 5 s, so the test is quick; the behaviour is the same.
    monkeypatch.setattr(gwinspect.store_writer, "connect", lambda p: gwinspect.store_sql.connect(p, 50))
    path = tmp_path / "locked.db"
    store = SQLiteStore(path)
    app = gwinspect.wrap(lambda e, s: (s("200 OK", []), [b"fine"])[1], store=store)
    assert hit(app, "/before") == b"fine"
    assert store.flush()
    locker = sqlite3.connect(path, isolation_level=None)
    locker.execute("BEGIN EXCLUSIVE")  # another program keeps the file locked
    try:
        with caplog.at_level("WARNING", logger="gwinspect"):
            for i in range(3):
                assert hit(app, f"/after/{i}") == b"fine"
                assert store.flush()
    finally:
        locker.execute("ROLLBACK")
        locker.close()
    assert store.dropped == 3
    failures = [r.getMessage() for r in caplog.records if "could not write" in r.getMessage()]
    assert len(failures) == 1 and "database is locked" in failures[0], failures
    assert store.count() == 1  # what was lost does not linger in memory
    assert hit(app, "/later") == b"fine" and store.flush()
    assert SQLiteStore(path).count() == 2  # and the store works again once the file is free
