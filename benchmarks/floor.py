"""The least a recording middleware can do and still keep its last requests: a floor for ``--servers``.

``overhead.py --servers`` runs these beside the bare app as well as gwinspect, to tell what part
of gwinspect's cost any pure-Python recorder keeping as many requests would pay. Each keeps, for
each of its last ``keep`` requests (gwinspect's default ``max_traces``), one list: a timestamp, a
copy of the environ or scope, and a timestamp with each ``start_response`` call and response chunk
(WSGI) or each message (ASGI), and one when the response ends. Nothing else: no redaction, no
body cap, no ids, no error handling, no detaching of the server's objects from the stored environ
(which gwinspect does so as not to keep them alive), no store to read them back from. A floor, not
a rival: it is cheaper than anything a user could inspect.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator
from time import perf_counter_ns
from typing import Any

KEEP = 500  # gwinspect's default max_traces


def floor_wsgi(app: Any, keep: int = KEEP) -> Any:
    records: deque[list[Any]] = deque(maxlen=keep)  # a full deque drops its oldest on append

    def middleware(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        record = [perf_counter_ns(), dict(environ)]
        records.append(record)

        def recording_start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            record.append((perf_counter_ns(), status, headers))
            return start_response(status, headers, exc_info)
        return _chunks(app(environ, recording_start_response), record)
    middleware.records = records  # type: ignore[attr-defined]
    return middleware


def _chunks(result: Iterable[bytes], record: list[Any]) -> Iterator[bytes]:
    try:
        for chunk in result:
            record.append((perf_counter_ns(), chunk))
            yield chunk
    finally:  # run by the server's close() as well as by exhaustion
        record.append(perf_counter_ns())
        close = getattr(result, "close", None)
        if close is not None:
            close()


def floor_asgi(app: Any, keep: int = KEEP) -> Any:
    records: deque[list[Any]] = deque(maxlen=keep)

    async def middleware(scope: dict[str, Any], receive: Any, send: Any) -> None:
        record = [perf_counter_ns(), dict(scope)]
        records.append(record)

        async def recording_receive() -> Any:
            message = await receive()
            record.append((perf_counter_ns(), message))
            return message

        async def recording_send(message: Any) -> None:
            record.append((perf_counter_ns(), message))
            await send(message)
        try:
            await app(scope, recording_receive, recording_send)
        finally:
            record.append(perf_counter_ns())
    middleware.records = records  # type: ignore[attr-defined]
    return middleware
