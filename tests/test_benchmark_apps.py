"""``benchmarks/overhead.py --servers``: its apps (a control gives the bare app's answer after a loop priced
here), its helpers, and one short run end to end."""

from __future__ import annotations

import asyncio
import os
import re
import time
from pathlib import Path

import pytest

import benchmarks.server_apps as server_apps
import benchmarks.throughput as throughput
from tests.apps_core import make_environ, run_wsgi


def test_the_loop_matching_gwinspect_is_priced_in_this_process() -> None:
    # gwinspect adds several times a hello-world request's own time: some iterations must match it.
    assert server_apps.matching_loops("wsgi", rounds=3, n=500) > 0
    assert server_apps.matching_loops("asgi", rounds=3, n=500) > 0


def test_control_apps_answer_as_the_bare_ones() -> None:
    wsgi = run_wsgi(server_apps.wsgi_control, make_environ())
    bare = run_wsgi(server_apps.wsgi_bare, make_environ())
    assert (wsgi.start_calls, wsgi.chunks) == (bare.start_calls, bare.chunks) and wsgi.chunks

    def messages(app: object) -> list[dict[str, object]]:
        sent: list[dict[str, object]] = []

        async def receive() -> dict[str, object]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: dict[str, object]) -> None:
            sent.append(message)
        asyncio.run(app({"type": "http", "method": "GET", "path": "/", "headers": []}, receive, send))  # type: ignore[operator]
        return sent
    assert messages(server_apps.asgi_control) == messages(server_apps.asgi_bare)


def test_floor_apps_answer_as_the_bare_ones_and_keep_their_last_requests() -> None:
    from benchmarks.floor import floor_asgi, floor_wsgi
    from benchmarks.peers import raw_asgi, raw_wsgi
    wsgi = floor_wsgi(raw_wsgi, keep=3)
    bare = run_wsgi(raw_wsgi, make_environ())
    for _ in range(5):
        run = run_wsgi(wsgi, make_environ())
        assert (run.start_calls, run.chunks) == (bare.start_calls, bare.chunks)
    assert len(wsgi.records) == 3
    started, environ, (_, status, _headers), (_, chunk), ended = wsgi.records[-1]
    assert environ["PATH_INFO"] == "/" and status == "200 OK" and chunk == bare.chunks[0] and ended >= started

    asgi = floor_asgi(raw_asgi, keep=2)
    sent: list[dict[str, object]] = []

    async def send(message: dict[str, object]) -> None:
        sent.append(message)
    for _ in range(3):
        asyncio.run(asgi({"type": "http", "method": "GET", "path": "/", "headers": []}, None, send))
    bare_sent: list[dict[str, object]] = []

    async def bare_send(message: dict[str, object]) -> None:
        bare_sent.append(message)
    asyncio.run(raw_asgi({"type": "http", "method": "GET", "path": "/", "headers": []}, None, bare_send))
    assert sent == bare_sent * 3 and len(asgi.records) == 2
    assert [m for _, m in asgi.records[-1][2:4]] == bare_sent


@pytest.mark.servers
@pytest.mark.timeout(180)
def test_servers_mode_measures_a_server_and_prints_its_row(capsys: pytest.CaptureFixture[str]) -> None:
    # The whole --servers path on one row, as short as it goes: real servers, real load, a table row.
    from benchmarks.overhead import main
    assert main(["--servers", "--server", "uvicorn (raw", "--rounds", "1", "--duration", "1"]) == 0
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if line.startswith("| uvicorn")]
    assert len(rows) == 1 and rows[0].startswith("| uvicorn (raw ASGI) |"), out
    cells = [cell.strip() for cell in rows[0].strip("|").split("|")]
    bare, wrapped = (float(cell.replace(",", "")) for cell in cells[1:3])
    assert bare > 0 and wrapped > 0
    for cell in cells[3:]:  # kept: "<median>% (<lowest>-<highest>)"
        assert re.fullmatch(r"\d+\.\d% \(\d+-\d+\)", cell), cell


def test_kept_is_the_median_ratio_with_its_range() -> None:
    assert throughput._kept([0.9, 0.8, 1.0]) == "90.0% (80-100)"


@pytest.mark.skipif(not Path("/proc/stat").exists(), reason="reads Linux's /proc/stat")
def test_cpu_times_count_up_for_an_existing_cpu_and_are_zero_for_a_missing_one() -> None:
    cpu = str(min(os.sched_getaffinity(0)))
    idle, total = throughput._cpu_times(cpu)
    assert 0 <= idle <= total and total > 0
    assert throughput._cpu_times("99999") == (0, 0)


def test_cold_timing_evicts_before_each_request_and_times_only_the_request(monkeypatch: pytest.MonkeyPatch) -> None:
    import benchmarks.inprocess as inprocess
    from benchmarks.peers import raw_asgi, raw_wsgi
    evictions: list[int] = []
    real_evict = inprocess.evict_caches
    monkeypatch.setattr(inprocess, "evict_caches", lambda: (evictions.append(1), real_evict()))
    start = time.perf_counter()
    for _ in range(5):
        real_evict()
    eviction_us = (time.perf_counter() - start) / 5 * 1e6
    loop = asyncio.new_event_loop()
    try:
        for protocol, app in (("wsgi", raw_wsgi), ("asgi", raw_asgi)):
            evictions.clear()
            cold = inprocess.Timer(protocol, app, loop, cold=True).measure(20)
            assert len(evictions) == 20
            assert 0 < cold < eviction_us / 2, (cold, eviction_us)  # the 8 MB write is not in the request's time
    finally:
        loop.close()


def test_instruction_counts_are_read_from_callgrind_output_and_differenced_per_request(tmp_path: Path) -> None:
    from benchmarks.instructions import callgrind_totals, per_request
    out = tmp_path / "cg.1"
    out.write_text("version: 1\ncreator: callgrind-3.22.0\nevents: Ir Dr Dw I1mr D1mr D1mw ILmr DLmr DLmw\n"
                   "fn=(1) main\n0 5 1 1 0 0 0 0 0 0\ntotals: 9000 10 20 300 40 50 6 7 8\n")
    small = callgrind_totals(out)
    assert small == {"Ir": 9000, "Dr": 10, "Dw": 20, "I1mr": 300, "D1mr": 40, "D1mw": 50,
                     "ILmr": 6, "DLmr": 7, "DLmw": 8}
    large = {**small, "Ir": 49000, "I1mr": 700, "D1mr": 440}
    row = per_request(small, large, 4000)
    assert row["Ir"] == 10 and row["I1mr"] == 0.1 and row["D1mr"] == 0.1 and row["D1mw"] == 0
    (tmp_path / "empty").write_text("no events here\n")
    assert callgrind_totals(tmp_path / "empty") == {}
