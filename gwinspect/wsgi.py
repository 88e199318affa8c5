"""WSGI adapter: wraps ``start_response``, ``write``, ``wsgi.input`` and the response iterable.

PEP 3333 says the response is over when the iterable is exhausted or closed,
whichever comes first -- not when the app returns -- so the trace is finished
there. ``wsgi.file_wrapper`` responses are returned as the very same object so
the server can still use sendfile; they are recorded when returned.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import socket
import sys
import weakref
from collections.abc import Iterable, Iterator
from types import FunctionType
from typing import Any

from .jsonsafe import Captured, as_text, safe_repr, to_model
from .model import REDACTED, Blob, ProtocolViolation, Request, Response
from .options import Settings, make_settings
from .recorder import Recorder, error_info, exception_fields
from .redact import Redactor
from .types import Environ, StartResponse, Write, WSGIApp

logger = logging.getLogger("gwinspect")


def wsgi_text(value: Any) -> str:
    """A PEP 3333 native string (bytes decoded as latin-1) shown as the UTF-8 it usually is."""
    if not isinstance(value, str):
        return "" if value is None else safe_repr(value)
    try:
        return value.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return value


def environ_headers(env: Environ) -> list[tuple[str, str]]:
    headers = []
    for key, value in env.items():
        if not isinstance(key, str):  # a malformed environ must not cost the whole trace
            continue
        if key.startswith("HTTP_"):
            headers.append((key[5:].replace("_", "-").lower(), wsgi_text(value)))
        elif key in ("CONTENT_TYPE", "CONTENT_LENGTH") and value:
            headers.append((key.replace("_", "-").lower(), wsgi_text(value)))
    return headers


_PLAIN = (str, int, bool, type(None))
# Values to_model() converts structurally; anything else ends up as its repr.
_MODELLED = (str, int, bool, float, bytes, bytearray, memoryview, dict, list, tuple, Captured, Blob)


def detached(value: Any, cap: int) -> Any:
    """What a finished trace keeps of one environ value: the model value to_model() gives, built cheaply.

    This runs once per request, so it avoids to_model()'s chain of checks for the usual
    server objects (wsgi.input, wsgi.errors, sockets): their repr is all a trace shows.
    """
    if type(value) is tuple and all(type(item) in _PLAIN for item in value):
        return value  # wsgi.version: pins nothing; becomes a list when the trace is built
    if value is None or isinstance(value, _MODELLED):
        return to_model(value, cap)
    cls = type(value)
    if cls.__repr__ is object.__repr__ or cls is FunctionType:
        return DefaultRepr(value)  # the usual server objects: their repr needs only their type and address
    if isinstance(value, type):
        return value  # a class (wsgi.file_wrapper) pins nothing; its repr is made when the trace is built
    if value is sys.stderr or value is sys.stdout:
        return _std_stream_repr(value)
    if cls is socket.socket:
        return _socket_repr(value)
    return safe_repr(value)


class DefaultRepr:
    """Stands in for an object whose repr is the default one, without keeping the object alive.

    ``repr()`` of it is exactly the object's own: ``<module.Class object at 0x...>`` (or
    ``<function name at 0x...>``), formatted only if the trace is ever read.
    """

    __slots__ = ("address", "cls", "name")

    def __init__(self, value: Any) -> None:
        self.cls = type(value)
        self.address = id(value)
        self.name = value.__qualname__ if self.cls is FunctionType else None

    def __repr__(self) -> str:
        if self.name is not None:
            return f"<function {self.name} at {self.address:#x}>"
        module, qualname = self.cls.__module__, self.cls.__qualname__
        if isinstance(module, str) and module != "builtins":
            return f"<{module}.{qualname} object at {self.address:#x}>"
        return f"<{self.cls.__name__} object at {self.address:#x}>"


_enum_texts: dict[tuple[str, int], str] = {}


def _socket_repr(sock: socket.socket) -> str:
    """``repr(sock)`` exactly as socket.socket.__repr__ writes it (gunicorn puts its socket in the environ).

    The stock repr converts family and type to enums on every call, which costs more than the
    two system calls; here each distinct value is converted once.
    """
    try:
        closed = getattr(sock, "_closed", False)
        cached = None if closed else _open_socket_reprs.get(sock)
        if cached is not None and cached[0] == sock.fileno():
            return cached[1]  # a kept-alive connection: same socket, same addresses, no system calls
        family, kind = _RAW_SOCKET.family.__get__(sock), _RAW_SOCKET.type.__get__(sock)  # type: ignore[attr-defined]
        family_text = _enum_texts.get(("family", family))
        if family_text is None:
            family_text = _enum_texts[("family", family)] = "%s" % (sock.family,)  # noqa: UP031 -- as the stdlib
        kind_text = _enum_texts.get(("type", kind))
        if kind_text is None:
            kind_text = _enum_texts[("type", kind)] = "%s" % (sock.type,)  # noqa: UP031
        text = "<%s.%s%s fd=%i, family=%s, type=%s, proto=%i" % (  # noqa: UP031
            type(sock).__module__, type(sock).__qualname__, " [closed]" if closed else "", sock.fileno(),
            family_text, kind_text, sock.proto)
        if not closed:
            for name, method in (("laddr", sock.getsockname), ("raddr", sock.getpeername)):
                try:
                    address = method()
                    if address:
                        text += f", {name}={address}"
                except (OSError, AttributeError):
                    pass
        text += ">"
        if not closed:
            _open_socket_reprs[sock] = (sock.fileno(), text)
        return text
    except Exception:
        return safe_repr(sock)


# Reprs of sockets still open, by socket (weakly: an entry goes when its socket does).
_open_socket_reprs: weakref.WeakKeyDictionary[socket.socket, tuple[int, str]] = weakref.WeakKeyDictionary()


_RAW_SOCKET = socket.socket.__mro__[1]  # _socket.socket: its family/type are the plain integers


_std_reprs: dict[int, tuple[Any, str]] = {}


def _std_stream_repr(stream: Any) -> str:
    """wsgi.errors is sys.stderr for most servers: the same object, and the same (costly) repr, every request."""
    cached = _std_reprs.get(id(stream))
    if cached is not None and cached[0] is stream:
        return cached[1]
    text = safe_repr(stream)
    if len(_std_reprs) >= 8:  # sys.stderr replaced again and again (test runners): keep only the current ones
        _std_reprs.clear()
    _std_reprs[id(stream)] = (stream, text)
    return text


class WSGIRecorder(Recorder):
    __slots__ = ("environ", "exhausted", "start_args")

    protocol = "wsgi"

    def __init__(self, settings: Settings, environ: Environ) -> None:
        super().__init__(settings, "http")
        self.environ = dict(environ)  # as the server sent it, before the app changes it
        self.start_args: tuple[Any, ...] | None = None
        self.exhausted = False

    # ---- hooks ----------------------------------------------------------
    def on_start_response(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        try:
            status = args[0] if args else kwargs.get("status")
            headers = args[1] if len(args) > 1 else kwargs.get("response_headers", kwargs.get("headers"))
            exc_info = args[2] if len(args) > 2 else kwargs.get("exc_info")
            if type(headers) is list:
                headers = headers[:]  # the app may reuse or mutate its list afterwards
            exc = None
            if exc_info:  # summarised now: keeping exc_info would keep its frames alive
                exc = error_info(exc_info[1])
            self.start_args = (status, headers)
            self.add("start_response", (status, headers, exc))
        except Exception as bug:
            self.fail(bug)

    def on_data(self, kind: str, data: Any) -> None:
        try:
            self.add(kind, self.keep_out(data))
        except Exception as bug:
            self.fail(bug)

    def on_input(self, call: str, data: Any) -> None:
        try:
            if data:
                self.add("input", (call, self.keep_in(data)))
        except Exception as bug:
            self.fail(bug)

    def on_close(self) -> None:
        try:
            self.add("close", self.exhausted)
            if self.state == "complete":  # a late close() still reaches the stored trace
                self.settings.store.finished(self)
                return
            if not self.exhausted and self.environ.get("REQUEST_METHOD") != "HEAD":
                self.disconnected = True  # the server gave up on the body: the client went away
        except Exception as bug:
            self.fail(bug)
        self.finish()

    def finish(self) -> None:
        if self.state != "complete":
            # A stored trace must not pin what the server handed over (wsgi.input may buffer
            # megabytes of body, a socket...): keep the environ's objects as their model values.
            try:
                cap = self.settings.max_body
                environ = self.environ
                for key in [k for k, v in environ.items() if type(v) not in _PLAIN]:
                    environ[key] = detached(environ[key], cap)  # in place: same keys, so readers never race
            except Exception as bug:
                self.fail(bug)
        super().finish()

    def on_file(self, wrapper: Any) -> None:
        try:
            self.add("file", describe_file(wrapper))
        except Exception as bug:
            self.fail(bug)
        self.finish()

    # ---- building -------------------------------------------------------
    def _event_fields(self, kind: str, payload: Any) -> dict[str, Any]:
        cap = self.settings.max_body
        if kind == "start_response":
            status, headers, exc = payload
            return {"status": to_model(status, cap), "headers": self._headers(headers),
                    "exc_info": {"type": exc.type, "message": exc.message} if exc else None}
        if kind == "input":
            return {"call": payload[0], "data": to_model(payload[1], cap)}
        if kind in ("write", "chunk"):
            return {"data": to_model(payload, cap)}
        if kind == "close":
            return {"exhausted": payload}
        if kind == "file":
            return {"file": to_model(payload, cap)}
        if kind == "exception":
            return exception_fields(payload)
        return {"detail": to_model(payload, cap)}

    def _headers(self, headers: Any) -> Any:
        cap = self.settings.max_body
        if not isinstance(headers, (list, tuple)):
            return to_model(headers, cap)
        # Each pair on its own: a name or value that is not a str is kept as what it was (bytes as bytes)
        # and a malformed entry as is, for the rules -- but a secret's value never, whatever the shape.
        out = []
        for h in headers:
            if isinstance(h, (tuple, list)) and len(h) >= 2 and self._secret_name(h[0]):
                out.append([to_model(h[0], cap), *[REDACTED] * (len(h) - 1)])
            else:
                out.append(to_model(h, cap))
        return out

    def _secret_name(self, name: Any) -> bool:
        if isinstance(name, (bytes, bytearray)):
            name = bytes(name).decode("latin-1")
        return self.settings.redactor.matches(name if isinstance(name, str) else safe_repr(name))

    def _context(self, redactor: Redactor) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
        return to_model(redactor.environ(self.environ), self.settings.max_body), None

    def _request(self) -> Request:
        env, redactor = self.environ, self.settings.redactor
        proto = env.get("SERVER_PROTOCOL")
        client = env.get("REMOTE_ADDR")
        if client and env.get("REMOTE_PORT"):
            client = f"{client}:{env['REMOTE_PORT']}"
        return Request(
            method=wsgi_text(env.get("REQUEST_METHOD")) or None,
            path=wsgi_text(env.get("SCRIPT_NAME", "")) + wsgi_text(env.get("PATH_INFO", "")),
            query_string=redactor.query(wsgi_text(env.get("QUERY_STRING", ""))),
            http_version=proto.split("/", 1)[-1] if isinstance(proto, str) else None,
            scheme=env.get("wsgi.url_scheme") if isinstance(env.get("wsgi.url_scheme"), str) else None,
            client=str(client) if client else None,
            headers=redactor.headers(environ_headers(env)),
            body_size=self.in_size,
        )

    def _response(self) -> Response | None:
        if self.start_args is None:
            return None
        status, headers = self.start_args
        code = int(status[:3]) if isinstance(status, str) and status[:3].isdigit() else None
        pairs: list[tuple[str, str]] = []
        if isinstance(headers, (list, tuple)):
            pairs = [(as_text(h[0]), as_text(h[1])) for h in headers if isinstance(h, (tuple, list)) and len(h) == 2]
        size = self.out_size
        for _t_ns, kind, payload in self.events[:]:
            if kind == "file" and isinstance(payload, dict) and isinstance(payload.get("size"), int):
                size += payload["size"]
        return Response(code, self.settings.redactor.headers(pairs), size)


def describe_file(wrapper: Any) -> dict[str, Any]:
    """What can be told of a file_wrapper without reading it (the server sends it)."""
    info: dict[str, Any] = {"wrapper": type(wrapper).__qualname__}
    filelike = next((getattr(wrapper, a) for a in ("filelike", "file", "f") if getattr(wrapper, a, None)), None)
    if filelike is not None:
        name = getattr(filelike, "name", None)
        if isinstance(name, str):
            info["name"] = name
        with contextlib.suppress(Exception):  # not a real file (BytesIO...): size unknown
            info["size"] = os.fstat(filelike.fileno()).st_size - filelike.tell()
    return info


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

    __slots__ = ("_closed", "_iterable", "_iterator", "_rec")

    def __init__(self, iterable: Iterable[bytes], rec: WSGIRecorder) -> None:
        self._iterable = iterable
        self._iterator: Iterator[bytes] | None = None
        self._rec = rec
        self._closed = False

    def __iter__(self) -> RecordingIterable:
        if self._iterator is None:
            try:
                self._iterator = iter(self._iterable)
            except BaseException as exc:
                self._rec.record_exception(exc, "iteration")
                self._rec.finish()
                raise
        return self

    def __next__(self) -> bytes:
        if self._iterator is None:
            self.__iter__()
        try:
            chunk = next(self._iterator)  # type: ignore[arg-type]
        except StopIteration:
            self._rec.exhausted = True
            self._rec.finish()
            raise
        except BaseException as exc:
            self._rec.record_exception(exc, "iteration")
            self._rec.finish()
            raise
        self._rec.on_data("chunk", chunk)
        return chunk

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        close = getattr(self._iterable, "close", None)
        try:
            if close is not None:
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


class WSGIInspector:
    """Wraps a WSGI app: records each request into the store and serves the panel."""

    def __init__(self, app: WSGIApp, **options: Any) -> None:
        self.app = app
        self.settings = make_settings(**options)
        self.store = self.settings.store
        self._panel: Any = None

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        settings = self.settings
        # Only decide inside the try: the app (or panel) must be called outside it, so that its
        # exceptions are never caught here (no second call) and it never runs inside our handler.
        rec: WSGIRecorder | None = None
        panel = False
        try:
            path = environ.get("PATH_INFO", "")
            if not isinstance(path, str):
                path = ""  # a broken server's path: the request is still recorded (and never the panel)
            if settings.is_panel_path(path):
                panel = True
            elif not (settings.exclude_paths and settings.excluded(path)):
                rec = WSGIRecorder(settings, environ)
                settings.store.add(rec)
                if "wsgi.input" in environ:
                    environ["wsgi.input"] = RecordingInput(environ["wsgi.input"], rec)
                hooked = _recording_start_response(rec, start_response)
        except Exception:
            logger.warning("gwinspect could not record a request; passing it through", exc_info=True)
            rec = None
        if panel:
            return self._serve_panel(environ, start_response)
        if rec is None:
            return self.app(environ, start_response)
        try:
            result = self.app(environ, hooked)
        except BaseException as exc:
            rec.record_exception(exc, "call")
            rec.finish()
            raise
        return _wrap_result(result, rec, environ)

    def _serve_panel(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        from .panel_wsgi import serve_panel  # imported on first use: the recording path never needs it
        return serve_panel(self, environ, start_response)


def _recording_start_response(rec: WSGIRecorder, start_response: StartResponse) -> StartResponse:
    def start_response_recorded(*args: Any, **kwargs: Any) -> Write:
        rec.on_start_response(args, kwargs)
        write = start_response(*args, **kwargs)

        def write_recorded(data: bytes) -> Any:
            rec.on_data("write", data)
            return write(data)
        return write_recorded
    return start_response_recorded


def _wrap_result(result: Iterable[bytes], rec: WSGIRecorder, environ: Environ) -> Iterable[bytes]:
    try:
        file_wrapper = environ.get("wsgi.file_wrapper")
        if isinstance(file_wrapper, type) and isinstance(result, file_wrapper):
            rec.on_file(result)  # same object back: the server may sendfile() it
            return result
        if hasattr(result, "__len__"):
            return SizedRecordingIterable(result, rec)
        return RecordingIterable(result, rec)
    except ProtocolViolation:
        raise  # strict=True: the file response broke an error-level rule
    except Exception as bug:
        rec.fail(bug)
        return result
