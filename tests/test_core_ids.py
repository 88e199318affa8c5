"""Trace ids: unique, URL-safe, at least 96 bits -- also across forked worker processes."""

from __future__ import annotations

import os
import re
import sys

import pytest

from gwinspect.recorder import new_trace_id


def test_ids_are_unique_and_url_safe() -> None:
    ids = [new_trace_id() for _ in range(5000)]
    assert len(set(ids)) == len(ids)
    assert all(re.fullmatch(r"[A-Za-z0-9_-]{16,}", i) for i in ids)


def test_ids_never_start_with_a_dash_so_a_command_line_takes_them_as_values() -> None:
    # One in 64 base64 ids would: `gwinspect show dump.json --id -Y2...` then failed as a missing value.
    ids = [new_trace_id() for _ in range(20000)]
    assert not [i for i in ids if i.startswith("-")]
    assert any("-" in i for i in ids)  # still the URL-safe alphabet, only not in front
    assert {i[0] for i in ids} >= set("AZaz09_")  # the first character still varies over the alphabet


@pytest.mark.skipif(not hasattr(os, "fork") or sys.platform == "win32", reason="needs fork()")
def test_forked_workers_do_not_repeat_the_parents_ids() -> None:
    """gunicorn --preload forks workers from a parent that may already have drawn ids: a pooled
    os.urandom() read copied into every child would hand out the same ids in all of them
    (and they share a SQLite store)."""
    new_trace_id()  # the pool is filled in the parent
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report its next ids and leave at once
        try:
            os.close(read_end)
            os.write(write_end, " ".join(new_trace_id() for _ in range(5)).encode())
        finally:
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end) as f:
        child_ids = set(f.read().split())
    os.waitpid(pid, 0)
    parent_ids = {new_trace_id() for _ in range(5)}
    assert len(child_ids) == 5 and not child_ids & parent_ids
