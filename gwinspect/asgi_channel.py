"""What an ASGI app is given as ``receive`` and ``send``: the server's own, recorded on the way.

A channel holds the server's callables and the connection's recorder; the recorder does not
hold the callables. So a stored trace never keeps the server's connection objects alive
(uvicorn's cycle, its transport), and the app keeps them exactly as long as it would bare.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable, Mapping
from time import perf_counter_ns
from typing import TYPE_CHECKING, Any, TypeVar

from .reprs import detached
from .types import Message, Receive, Send

if TYPE_CHECKING:
    from .asgi import ASGIRecorder

# The keys of the messages an app sends, in the spec and its extensions, that hold plain data.
_DATA_KEYS = frozenset(("type", "status", "headers", "trailers", "body", "more_body", "bytes", "text", "code",
                        "reason", "subprotocol", "path", "offset", "count", "links"))


def _detach_extras(msg: dict[Any, Any], cap: int) -> None:
    """The values under keys not holding plain data, in the trace's copy of a message, as a trace
    keeps them: not the objects themselves (``http.response.zerocopysend`` sends an open file,
    which a stored trace would otherwise keep open long after the bare app's was closed)."""
    for key, value in list(msg.items()):
        if key not in _DATA_KEYS:
            msg[key] = detached(value, cap)


_F = TypeVar("_F", bound=Callable[..., Any])


def marked_coroutine_function(func: _F) -> _F:
    """Make ``func`` pass for a coroutine function, as servers' own ``send`` is (``async def``).

    asgiref's ``async_to_sync(send)``, which Channels' sync consumers call on every connection,
    warns when given a callable not so marked, and ``asyncio.iscoroutinefunction(send)`` would
    answer differently than bare. It returns an awaitable, so the mark tells the truth.
    ``inspect.iscoroutinefunction`` sees the mark from Python 3.12 only.
    """
    if hasattr(inspect, "markcoroutinefunction"):  # Python 3.12+
        return inspect.markcoroutinefunction(func)
    func._is_coroutine = asyncio.coroutines._is_coroutine  # type: ignore[attr-defined]  # asyncio's check before 3.12
    return func


class ASGIChannel:
    """The app's ``receive`` and ``send`` are this object's bound methods.

    Made by ``ASGIInspector.__call__``, which sets its three slots: it has no ``__init__``, since
    a call to one from the request path costs more than everything it would do. The
    bound methods cost one Python call per message (closures calling a recorder method cost two).
    """

    __slots__ = ("_rec", "_receive", "_send")
    _rec: ASGIRecorder
    _receive: Receive
    _send: Send

    async def receive(self) -> Message:
        message = await self._receive()
        rec = self._rec
        try:
            if type(message) is dict or isinstance(message, Mapping):
                msg = message.copy() if type(message) is dict else dict(message)
                body = msg.get("body")
                # The common case inline (bytes that fit the cap); this runs for every message.
                if type(body) is bytes and rec.in_kept + len(body) <= rec.settings.max_body:
                    rec.in_kept += len(body)
                elif "body" in msg or "bytes" in msg or "text" in msg:
                    rec.keep_payload(msg, outgoing=False)
            else:
                msg = message  # breaks the protocol: kept as it was, for the rules
            events = rec.events
            if len(events) < rec.settings.max_events:
                events.append((perf_counter_ns(), "receive", msg))
            else:
                rec.dropped("receive", msg)
        except Exception as bug:
            rec.fail(bug)
        return message

    @marked_coroutine_function
    def send(self, message: Message) -> Any:
        """Records the message and hands back the server's own awaitable (not a coroutine of ours).

        The app awaits exactly what it would await bare, and a coroutine per message is saved.
        """
        rec = self._rec
        try:
            if type(message) is dict or isinstance(message, Mapping):
                msg = message.copy() if type(message) is dict else dict(message)
                body = msg.get("body")
                if type(body) is bytes and rec.out_kept + len(body) <= rec.settings.max_body:
                    rec.out_kept += len(body)
                else:
                    if "body" in msg or "bytes" in msg or "text" in msg:
                        rec.keep_payload(msg, outgoing=True)
                    headers = msg.get("headers")
                    if type(headers) is list:  # outer middleware often appends to it in place once we pass it on
                        msg["headers"] = headers[:]
                    # zerocopysend's open file: the one object the spec has an app send. Checked by its
                    # key: checking every message's type or keys cost 500-1,000 instructions a request.
                    if "file" in msg:
                        _detach_extras(msg, rec.settings.max_body)
            else:
                msg = message
            events = rec.events
            if len(events) < rec.settings.max_events:
                events.append((perf_counter_ns(), "send", msg))
            else:
                rec.dropped("send", msg)
        except Exception as bug:
            rec.fail(bug)
        return self._send(message)

