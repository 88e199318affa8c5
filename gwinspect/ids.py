"""Trace ids: 20 URL-safe characters carrying 120 random bits, drawn from a pooled ``os.urandom()`` read.

The pool spares the request path a system call per id; a recorder draws its id only
when something first asks for it (see :attr:`gwinspect.recorder.Recorder.trace_id`).
An id never starts with ``-``: on a command line (``gwinspect show dump.json --id ...``,
grep) it would read as an option. The first character then carries a hair under six
bits, so an id still carries far more than the 96 the trace format asks for.
"""

from __future__ import annotations

import base64
import os
import threading

_ID_BYTES = 15  # 20 base64 characters, no padding
_POOL_IDS = 256
_id_lock = threading.Lock()
_id_pool: list[str] = []


def _ids_after_fork_in_child() -> None:
    _id_pool.clear()  # a forked worker (gunicorn --preload) must not hand out its parent's remaining ids
    _id_lock.release()


# The lock is held across fork() so the child never inherits it locked by a thread that does not exist there.
if hasattr(os, "register_at_fork"):  # POSIX only; there is no fork() elsewhere
    os.register_at_fork(before=_id_lock.acquire, after_in_parent=_id_lock.release,
                        after_in_child=_ids_after_fork_in_child)


def new_trace_id() -> str:
    try:
        return _id_pool.pop()  # list.pop() is atomic: no lock on the common path
    except IndexError:
        pass
    with _id_lock:
        if not _id_pool:
            # 15 bytes are 20 base64 characters with no padding, so one encoding of the whole
            # block, cut every 20 characters, gives the ids (one call instead of 256).
            text = base64.urlsafe_b64encode(os.urandom(_ID_BYTES * _POOL_IDS)).decode("ascii")
            _id_pool.extend(_not_an_option(text[i:i + 20]) for i in range(0, len(text), 20))
        return _id_pool.pop()


def _not_an_option(trace_id: str) -> str:
    return "_" + trace_id[1:] if trace_id.startswith("-") else trace_id
