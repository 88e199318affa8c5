"""What an ASGI connection's messages say about the exchange, read when its trace is built."""

from __future__ import annotations

from typing import Any

from .jsonsafe import body_size, text_size

_STARTS = ("http.response.start", "websocket.accept", "websocket.http.response.start")
_BODIES = ("http.response.body", "websocket.http.response.body")


class Exchange:
    """What the messages say about the exchange: read once the trace is built, not while it runs.

    Fed the events in order: the first response start (``websocket.close`` before any
    accept stands for the 403 the server answers), body sizes per direction, and whether
    ``http.disconnect`` arrived before the response was complete.
    """

    __slots__ = ("disconnected", "done", "in_size", "out_size", "start")

    def __init__(self) -> None:
        self.start: dict[str, Any] | None = None
        self.done = False
        self.disconnected = False
        self.in_size = self.out_size = 0

    def feed(self, kind: str, msg: Any) -> None:
        if type(msg) is not dict:
            return  # not a message (the rules report it): says nothing about the exchange
        size = body_size(msg.get("body")) + body_size(msg.get("bytes"))
        text = msg.get("text")
        size += text_size(text) if type(text) is str else body_size(text)  # Captured when cut short
        mtype = msg.get("type")
        if kind == "send":
            self.out_size += size
            if mtype in _BODIES:
                if not msg.get("more_body", False):
                    self.done = True
            elif self.start is None and (mtype in _STARTS or mtype == "websocket.close"):
                self.start = msg
        elif kind == "receive":
            self.in_size += size
            if mtype == "http.disconnect" and not self.done:
                self.disconnected = True
