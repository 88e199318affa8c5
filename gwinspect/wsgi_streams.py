"""The objects a WSGI app and server see in place of theirs: ``wsgi.input`` and the response iterable.

Both pass every byte and every call through unchanged and tell the recorder what went by.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator
from time import perf_counter_ns
from typing import TYPE_CHECKING, Any, TypeVar

from .recorder import error_info
from .types import Write

if TYPE_CHECKING:
    from .wsgi import WSGIRecorder

_Made = TypeVar("_Made", "RecordingInput", "RecordingIterable", "RecordingStartResponse")


def make(cls: type[_Made], inner: Any, rec: WSGIRecorder) -> _Made:
    """A :class:`RecordingInput` or response wrapper around ``inner``.

    Written out inline in ``WSGIInspector.__call__``: these classes have no ``__init__``, because
    a call into one from the request path costs more than everything it would do.
    """
    made = cls()
    made._inner = inner
    made._rec = rec
    if isinstance(made, RecordingIterable):
        made._closed = False
    return made


_ABSENT: Any = object()  # an argument the app did not pass (None is a value it can pass)


class RecordingInput:
    """``wsgi.input`` as the app reads it: every byte passed on, and recorded."""

    __slots__ = ("_inner", "_lines", "_rec")
    _inner: Any  # the server's stream
    _rec: WSGIRecorder
    _lines: Iterator[bytes]  # made by the first __next__

    # Keyword arguments too: gunicorn's Body takes read(size=...), and the app must not see a difference.
    def read(self, *args: Any, **kwargs: Any) -> bytes:
        data: bytes = self._inner.read(*args, **kwargs)
        self._rec.on_input("read", data)
        return data

    def readline(self, *args: Any, **kwargs: Any) -> bytes:
        data: bytes = self._inner.readline(*args, **kwargs)
        self._rec.on_input("readline", data)
        return data

    def readlines(self, *args: Any, **kwargs: Any) -> list[bytes]:
        lines: list[bytes] = self._inner.readlines(*args, **kwargs)
        for line in lines:
            self._rec.on_input("readlines", line)
        return lines

    def __iter__(self) -> RecordingInput:
        return self

    def __next__(self) -> bytes:
        try:
            lines = self._lines
        except AttributeError:
            lines = self._lines = iter(self._inner)
        line: bytes = next(lines)
        self._rec.on_input("iter", line)
        return line

    # Special methods are looked up on the type, never through __getattr__: `with environ["wsgi.input"]
    # as f` works where the server's stream is a context manager (an io object), and reads through f
    # are recorded as well.
    def __enter__(self) -> Any:
        enter = getattr(type(self._inner), "__enter__", None)
        if enter is None:  # as `with` says of the server's stream itself (gunicorn's Body)
            raise TypeError(f"{type(self._inner).__name__!r} object does not support the context manager protocol")
        entered = enter(self._inner)
        return self if entered is self._inner else entered

    def __exit__(self, *exc: Any) -> Any:
        return type(self._inner).__exit__(self._inner, *exc)

    def __getattr__(self, name: str) -> Any:
        if name in _INPUT_SLOTS:  # not set yet (a copy being made): never look for it in itself again
            raise AttributeError(name)
        # Anything else the server's stream offers, as it offers it: readinto() only
        # exists here when it exists there (werkzeug checks with hasattr).
        attr = getattr(self._inner, name)
        if name in ("readinto", "readinto1"):
            return functools.partial(self._readinto, attr, name)
        if name == "read1":
            return functools.partial(self._read_with, attr, name)
        return attr

    def _readinto(self, method: Any, call: str, buffer: Any) -> Any:
        n = method(buffer)
        if n:
            try:
                view = _bytes_read(buffer, n)
            except Exception as bug:  # never the app's problem: it has its bytes
                self._rec.fail(bug)
                return n
            self._rec.on_input(call, view)
        return n

    def _read_with(self, method: Any, call: str, *args: Any) -> Any:
        data = method(*args)
        self._rec.on_input(call, data)
        return data


_INPUT_SLOTS = frozenset(RecordingInput.__slots__)


def _bytes_read(buffer: Any, n: int) -> memoryview:
    """The first ``n`` bytes of a buffer readinto() filled, whatever its shape and item size."""
    try:
        return memoryview(buffer).cast("B")[:n]
    except (TypeError, ValueError):  # not castable (not C-contiguous...): copied
        return memoryview(memoryview(buffer).tobytes()[:n])


class RecordingStartResponse:
    """Its bound ``start_response`` is what the app is given: the server's own, recorded on the way.
    Its bound ``write`` is what that returns: the server's ``write()``, recorded likewise.

    It holds the server's callables, the recorder does not: a stored trace never keeps the
    server's response objects alive (waitress's task, with the request body it buffers).
    """

    __slots__ = ("_inner", "_rec", "_write")
    _inner: Any  # the server's start_response
    _rec: WSGIRecorder
    _write: Write | None  # the server's write(), once start_response was called

    def start_response(self, status: Any, headers: Any, exc_info: Any = _ABSENT) -> Write:
        """What the app is given as ``start_response``: records the call, then makes the same one.

        Its parameters are those of every Python server's own (wsgiref, gunicorn, waitress,
        werkzeug), so a call they refuse is refused alike; an exact signature (no ``*args``)
        also lets CPython call it without a second interpreter loop.
        """
        rec = self._rec
        try:
            # Recorded as called: the app may change its list afterwards, and a server may add to it.
            # The server gets the app's own list, as it would bare: wsgiref and werkzeug read it only
            # when the first body byte goes out, so a header the app appends meanwhile is sent.
            recorded = tuple(headers) if type(headers) is list else headers
            exc = None
            if exc_info is not _ABSENT and exc_info:  # summarised now: exc_info would keep its frames alive
                exc = error_info(exc_info[1])
            rec.start_args = args = (status, recorded, exc)
            events = rec.events
            if len(events) < rec.settings.max_events and rec.state != "complete":
                events.append((perf_counter_ns(), "start_response", args))
            else:  # past max_events, or after the response ended (a broken app): add() accounts for it
                rec.add("start_response", args)
        except Exception as bug:
            rec.fail(bug)
        # Passed on as the app passed it: exc_info only when given.
        if exc_info is _ABSENT:
            write = self._inner(status, headers)
        else:
            try:  # the server re-raises exc_info[1] once headers are out: this frame joins its traceback
                write = self._inner(status, headers, exc_info)
            finally:
                exc_info = None  # so the frame must not hold it: a cycle, freed by the GC only (wsgiref does the same)
        known = self._write
        if known is None:
            self._write = write
        elif known is not write:  # called again, and the server gave another write(): each recorded apart
            other = RecordingStartResponse()
            other._inner, other._rec, other._write = self._inner, rec, write
            return other.write
        return self.write

    def write(self, data: bytes) -> Any:
        """What ``start_response`` returns to the app: the server's ``write()``, recorded."""
        self._rec.on_data("write", data)
        return self._write(data)  # type: ignore[misc]  # set: this method is handed out only after it is


class RecordingIterable:
    """The app's response iterable, recorded chunk by chunk; ``close()`` forwarded once."""

    __slots__ = ("_chunks", "_closed", "_inner", "_rec")
    _inner: Iterable[bytes]  # the app's response
    _rec: WSGIRecorder
    _chunks: Iterator[bytes]  # made by __next__ only, for a server that never calls iter()
    _closed: bool  # becomes True at the first close()

    def __iter__(self) -> Iterator[bytes]:
        # A generator: the server's iter() makes it without running any of our code, and resuming
        # one costs less than a __next__ method call. Iterating it twice iterates the app's
        # iterable twice, as iterating the bare one twice would.
        rec = self._rec
        events, settings = rec.events, rec.settings  # neither is ever rebound: read once, not per chunk
        try:
            for chunk in self._inner:
                try:  # rec.on_data("chunk", chunk) written out for the usual chunk: a call costs more
                    if (type(chunk) is bytes and rec.out_kept + len(chunk) <= settings.max_body
                            and len(events) < settings.max_events and rec.state != "complete"):
                        rec.out_kept += len(chunk)
                        events.append((perf_counter_ns(), "chunk", chunk))
                    else:
                        rec.on_data("chunk", chunk)
                except Exception as bug:  # gwinspect's own failure: never the app's or the server's
                    rec.fail(bug)
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
        close = getattr(self._inner, "close", None)
        if close is not None:
            try:
                close()
            except BaseException as exc:
                self._rec.record_exception(exc, "close")
                self._rec.on_close()
                raise
        rec = self._rec
        try:  # rec.on_close() written out for the usual close, after the response was sent: a call costs more
            events, settings = rec.events, rec.settings
            if rec.state == "complete" and len(events) < settings.max_events and settings.store_finished is None:
                events.append((perf_counter_ns(), "close", rec.exhausted))
                rec.version += 1  # the stored trace changed
                return
        except Exception as bug:
            rec.fail(bug)
        rec.on_close()


class SizedRecordingIterable(RecordingIterable):
    """For iterables with ``len()``: servers (waitress, wsgiref) set Content-Length when it is 1."""

    __slots__ = ()

    def __len__(self) -> int:
        return len(self._inner)  # type: ignore[arg-type]


class RecordingIterator(RecordingIterable):
    """For a response that is its own iterator (a generator): so is this, as ``iter()`` of the bare
    one gives that very object. A middleware doing ``yield from`` over it, or closing what ``iter()``
    gave, then closes the app's generator at once, not when it is collected."""

    __slots__ = ()

    def __iter__(self) -> RecordingIterator:
        return self

    def __next__(self) -> bytes:
        rec = self._rec
        try:
            chunk: bytes = next(self._inner)  # type: ignore[call-overload]
        except StopIteration:
            rec.exhausted = True
            rec.finish()
            raise
        except BaseException as exc:  # the app's generator failed: the very same exception goes on
            rec.record_exception(exc, "iteration")
            rec.finish()
            raise
        rec.on_data("chunk", chunk)
        return chunk
