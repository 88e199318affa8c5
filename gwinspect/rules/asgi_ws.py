"""ASGI WebSocket checks: the handshake, frames and closing.

The app answers ``websocket.connect`` with ``websocket.accept``, ``websocket.close``
(the server answers 403) or, with the ``websocket.http.response`` extension, a
denial response. Frames go out only between accept and close; a frame has
exactly one of ``text`` and ``bytes``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ..model import Blob, Trace
from .values import Check, Finding, message_type, messages, scope_extensions, show

FORBIDDEN_CODES = frozenset({1004, 1005, 1006, 1015})
MAX_REASON = 123  # a close frame's payload is at most 125 bytes, 2 of them the code


def _frame_payloads(message: dict[str, Any]) -> int:
    return sum(1 for key in ("text", "bytes") if message.get(key) is not None)


def check_frames(trace: Trace) -> Iterator[Finding]:
    for i, direction, _event, message in messages(trace):
        if message is None or message_type(message) not in ("websocket.send", "websocket.receive"):
            continue
        n = _frame_payloads(message)
        if n != 1:
            which = "both text and bytes" if n == 2 else "neither text nor bytes"
            yield "ASGI-WS-004", f"{message['type']} ({direction}) has {which}", i


def _reason_bytes(reason: Any) -> int | None:
    if isinstance(reason, str):
        return len(reason.encode("utf-8", "surrogatepass"))
    return reason.size if isinstance(reason, Blob) else None


def check_close(trace: Trace) -> Iterator[Finding]:
    for i, direction, _event, message in messages(trace):
        if direction != "send" or message is None or message_type(message) != "websocket.close":
            continue
        code = message.get("code", 1000)
        if isinstance(code, int) and not isinstance(code, bool):
            if code < 1000 or code > 4999 or code in FORBIDDEN_CODES:
                yield "ASGI-WS-005", f"close code {code} may not be sent", i
            elif 1016 <= code <= 2999:
                yield "ASGI-WS-006", f"close code {code} is reserved for WebSocket extensions", i
        size = _reason_bytes(message.get("reason"))
        if size is not None and size > MAX_REASON:
            yield "ASGI-WS-007", f"close reason is {size} bytes long", i


def check_states(trace: Trace) -> Iterator[Finding]:
    connected = accepted = closed = client_gone = denial_started = False
    scope = trace.scope if isinstance(trace.scope, dict) else {}
    offered: list[Any] = scope["subprotocols"] if isinstance(scope.get("subprotocols"), list) else []
    has_denial = "websocket.http.response" in scope_extensions(trace)
    for i, direction, _event, message in messages(trace):
        kind = message_type(message)
        if kind is None or message is None:
            continue
        if direction == "receive":
            if client_gone:
                yield "ASGI-WS-010", f"receive() returned {kind} after websocket.disconnect", i
            if kind == "websocket.connect":
                connected = True
            elif kind == "websocket.disconnect":
                client_gone = True
            continue
        if closed and kind.startswith("websocket."):
            yield "ASGI-WS-003", f"{kind} sent after the connection was closed", i
            continue
        if kind == "websocket.accept":
            if not connected:
                yield "ASGI-WS-011", "websocket.accept sent before websocket.connect was received", i
            if accepted or denial_started or client_gone:
                yield "ASGI-WS-002", "websocket.accept sent again, or after close, denial or disconnect", i
            accepted = True
            sub = message.get("subprotocol")
            if isinstance(sub, str) and sub not in offered:
                yield "ASGI-WS-009", f"subprotocol {show(sub)} is not among the offered {show(offered)}", i
        elif kind == "websocket.send":
            if not accepted:
                yield "ASGI-WS-001", "websocket.send before websocket.accept", i
            elif client_gone:
                yield "ASGI-WS-012", "websocket.send after websocket.disconnect was received", i
        elif kind == "websocket.close":
            if not connected:
                yield "ASGI-WS-011", "websocket.close sent before websocket.connect was received", i
            closed = True
        elif kind == "websocket.http.response.start":
            if not has_denial or accepted or denial_started:
                why = ("the server did not offer the websocket.http.response extension" if not has_denial
                       else "the connection was already accepted" if accepted else "it was already started")
                yield "ASGI-WS-008", f"denial response started but {why}", i
            denial_started = True
        elif kind == "websocket.http.response.body":
            if not denial_started:
                yield "ASGI-WS-008", "websocket.http.response.body sent before websocket.http.response.start", i
            if message.get("more_body") is not True:
                closed = True


CHECKS: tuple[Check, ...] = (check_frames, check_close, check_states)
