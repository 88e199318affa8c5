"""The objects a WSGI app and server see in place of theirs: ``wsgi.input`` and the response iterable.

Both pass every byte and every call through unchanged and tell the recorder what went by.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .wsgi import WSGIRecorder


class RecordingInput:
    """``wsgi.input`` as the app reads it: every byte passed on, and recorded."""

    __slots__ = ("_lines", "_rec", "_stream")

    def __init__(self, stream: Any, rec: WSGIRecorder) -> None:
        self._stream = stream
        self._rec = rec
        self._lines: Iterator[bytes] | None = None

    def read(self, *args: Any) -> bytes:
        data: bytes = self._stream.read(*args)
        self._rec.on_input("read", data)
        return data

    def readline(self, *args: Any) -> bytes:
        data: bytes = self._stream.readline(*args)
        self._rec.on_input("readline", data)
        return data

    def readlines(self, *args: Any) -> list[bytes]:
        lines: list[bytes] = self._stream.readlines(*args)
        for line in lines:
            self._rec.on_input("readlines", line)
        return lines

    def __iter__(self) -> RecordingInput:
        return self

    def __next__(self) -> bytes:
        if self._lines is None:
            self._lines = iter(self._stream)
        line: bytes = next(self._lines)
        self._rec.on_input("iter", line)
        return line

    def __getattr__(self, name: str) -> Any:
        # Anything else the server's stream offers, as it offers it: readinto() only
        # exists here when it exists there (werkzeug checks with hasattr).
        attr = getattr(self._stream, name)
        if name in ("readinto", "readinto1"):
            return functools.partial(self._readinto, attr, name)
        if name == "read1":
            return functools.partial(self._read_with, attr, name)
        return attr

    def _readinto(self, method: Any, call: str, buffer: Any) -> Any:
        n = method(buffer)
        if n:
            self._rec.on_input(call, memoryview(buffer)[:n])
        return n

    def _read_with(self, method: Any, call: str, *args: Any) -> Any:
        data = method(*args)
        self._rec.on_input(call, data)
        return data


class RecordingIterable:
    """The app's response iterable, recorded chunk by chunk; ``close()`` forwarded once."""

    __slots__ = ("_chunks", "_closed", "_iterable", "_rec")
    _chunks: Iterator[bytes]  # made by __next__ only, for a server that never calls iter()

    def __init__(self, iterable: Iterable[bytes], rec: WSGIRecorder) -> None:
        self._iterable = iterable
        self._rec = rec
        self._closed = False

    def __iter__(self) -> Iterator[bytes]:
        # A generator: the server's iter() makes it without running any of our code, and resuming
        # one costs less than a __next__ method call. Iterating it twice iterates the app's
        # iterable twice, as iterating the bare one twice would.
        rec = self._rec
        try:
            for chunk in self._iterable:
                rec.on_data("chunk", chunk)
                yield chunk
        except GeneratorExit:  # dropped unfinished (the server stopped early): close() tells the rest
            raise
        except BaseException as exc:  # the app's iterable failed: the very same exception goes on to the server
            rec.record_exception(exc, "iteration")
            rec.finish()
            raise
        rec.exhausted = True
        rec.finish()

    def __next__(self) -> bytes:
        # For a server that calls next() on the response itself (as it could on a bare generator).
        try:
            chunks = self._chunks
        except AttributeError:
            chunks = self._chunks = self.__iter__()
        return next(chunks)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        close = getattr(self._iterable, "close", None)
        if close is not None:
            try:
                close()
            except BaseException as exc:
                self._rec.record_exception(exc, "close")
                self._rec.on_close()
                raise
        self._rec.on_close()


class SizedRecordingIterable(RecordingIterable):
    """For iterables with ``len()``: servers (waitress, wsgiref) set Content-Length when it is 1."""

    __slots__ = ()

    def __len__(self) -> int:
        return len(self._iterable)  # type: ignore[arg-type]
