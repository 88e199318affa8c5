"""Several writers at once -- threads and processes -- lose nothing; exits and forks flush properly."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
from pathlib import Path

from gwinspect.store_sqlite import SQLiteStore
from tests.realserver import ROOT
from tests.store_helpers import hit, wrapped

WRITER = textwrap.dedent("""
    import sys, threading
    import gwinspect
    from tests.store_helpers import hit, text_app
    db, tag, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    app = gwinspect.wrap(text_app, store="sqlite:///" + db + "?max_traces=5000")
    def work(t):
        for i in range(n):
            hit(app, f"/{tag}/{t}/{i}")
    threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
    for th in threads: th.start()
    for th in threads: th.join()
    # no flush(): leaving the interpreter must write what is still queued
""")


def _python(code: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-c", code, *args], cwd=ROOT, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def test_threads_of_one_process_lose_nothing(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "t.db")
    app = wrapped(store)

    def work(t: int) -> None:
        for i in range(100):
            hit(app, f"/thread/{t}/{i}")
    threads = [threading.Thread(target=work, args=(t,)) for t in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(30)
    assert store.flush(10) and store.dropped == 0
    paths = {t.request.path for t in SQLiteStore(store.path).list(limit=2000)}
    assert paths == {f"/thread/{t}/{i}" for t in range(8) for i in range(100)}


def test_processes_writing_at_once_lose_nothing_and_flush_at_exit(tmp_path: Path) -> None:
    db = tmp_path / "p.db"
    SQLiteStore(db).close()  # created once; the writers race on everything else
    procs = [_python(WRITER, str(db), f"proc{p}", "40") for p in range(4)]
    for p in procs:
        out, _ = p.communicate(timeout=60)
        assert p.returncode == 0, out
    store = SQLiteStore(db)
    paths = [t.request.path for t in store.list(limit=2000)]
    assert len(paths) == len(set(paths)) == 4 * 4 * 40
    assert all(t.complete for t in store.list(limit=2000))


def test_processes_creating_the_store_at_once(tmp_path: Path) -> None:
    db = tmp_path / "fresh" / "race.db"
    procs = [_python(WRITER, str(db), f"r{p}", "5") for p in range(4)]
    for p in procs:
        out, _ = p.communicate(timeout=60)
        assert p.returncode == 0, out
    assert SQLiteStore(db).count() == 4 * 4 * 5


FORK = textwrap.dedent("""
    import os, sys
    import gwinspect
    from tests.store_helpers import hit, text_app
    app = gwinspect.wrap(text_app, store="sqlite:///" + sys.argv[1])
    hit(app, "/parent/before")   # the parent's writer thread is running when it forks
    pid = os.fork()
    if pid == 0:                 # like a gunicorn --preload worker
        for i in range(20):
            hit(app, f"/child/{i}")
        ok = app.store.flush(10)
        os._exit(0 if ok else 3)
    _, status = os.waitpid(pid, 0)
    for i in range(5):
        hit(app, f"/parent/{i}")
    sys.exit(os.waitstatus_to_exitcode(status))
""")


def test_a_forked_child_gets_its_own_writer(tmp_path: Path) -> None:
    db = tmp_path / "fork.db"
    proc = _python(FORK, str(db))
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, out
    store = SQLiteStore(db)
    assert store.count("/child/") == 20 and store.count("/parent/") == 6
