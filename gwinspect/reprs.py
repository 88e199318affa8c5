"""Exact reprs of the server objects a WSGI environ holds, made cheaply for traces that must not keep them alive.

``wsgi_environ.detach_environ`` replaces each such object in a trace's copy of the environ
by what is here: a :class:`DefaultRepr` stand-in, formatted only when read, or the repr's
text, cached where the same object comes back request after request (a kept-alive
connection's socket, ``sys.stderr``, a connection's bound method).
"""

from __future__ import annotations

import socket
import sys
import weakref
from types import FunctionType, MethodType
from typing import Any

from .jsonsafe import Captured, safe_repr, to_model
from .model import Blob


class DefaultRepr:
    """Stands in for an object whose repr is the default one, without keeping the object alive.

    ``repr()`` of it is exactly the object's own: ``<module.Class object at 0x...>`` (or
    ``<function name at 0x...>``), formatted only if the trace is ever read (formatting the
    address costs more than making this object).
    """

    __slots__ = ("address", "cls", "name")
    cls: type
    address: int
    name: str | None  # a function's qualified name; None for any other object

    def __repr__(self) -> str:
        if self.name is not None:
            return f"<function {self.name} at {self.address:#x}>"
        module, qualname = self.cls.__module__, self.cls.__qualname__
        if isinstance(module, str) and module != "builtins":
            return f"<{module}.{qualname} object at {self.address:#x}>"
        return f"<{self.cls.__name__} object at {self.address:#x}>"


def default_repr(value: Any) -> DefaultRepr:
    """A stand-in for ``value``, kept for the next object met at its address.

    Stand-ins are shared by the traces whose objects had the same class (and, for a function,
    name) at the same address: their text is the same, and a stored trace then keeps two
    objects fewer (stand-in and address) for each (every object a trace keeps costs throughput:
    docs/performance.md).
    """
    stand_in = DefaultRepr()
    stand_in.cls = type(value)
    stand_in.address = address = id(value)
    stand_in.name = value.__qualname__ if stand_in.cls is FunctionType else None
    if len(stand_ins_by_address) >= _MAX_STAND_INS:  # addresses vary: keep the recent ones only
        stand_ins_by_address.clear()
    stand_ins_by_address[address] = stand_in
    return stand_in


_MAX_STAND_INS = 256
stand_ins_by_address: dict[int, DefaultRepr] = {}  # by address: the stand-in last made for an object there


_enum_texts: dict[tuple[str, int], str] = {}


def socket_repr(sock: socket.socket) -> str:
    """``repr(sock)`` exactly as socket.socket.__repr__ writes it (gunicorn puts its socket in the environ).

    The stock repr converts family and type to enums on every call, which costs more than the
    two system calls; here each distinct value is converted once.
    """
    try:
        closed = getattr(sock, "_closed", False)
        cached = None if closed else _open_socket_reprs.get(id(sock))
        if cached is not None and cached[0]() is sock and cached[1] == sock.fileno():
            return cached[2]  # a kept-alive connection: same socket, same addresses, no system calls
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
            if len(_open_socket_reprs) >= 1024:  # connections come and go: keep only recent ones
                _open_socket_reprs.clear()
            _open_socket_reprs[id(sock)] = (weakref.ref(sock), sock.fileno(), text)
        return text
    except Exception:
        return safe_repr(sock)


# Reprs of sockets still open, by id(): a plain dict lookup, where a WeakKeyDictionary's is a Python call.
# The weak reference tells that the socket under that id is still the same one, without keeping it.
_open_socket_reprs: dict[int, tuple[weakref.ref[socket.socket], int, str]] = {}


_RAW_SOCKET = socket.socket.__mro__[1]  # _socket.socket: its family/type are the plain integers


_std_reprs: dict[int, tuple[Any, str]] = {}


def std_stream_repr(stream: Any) -> str:
    """wsgi.errors is sys.stderr for most servers: the same object, and the same (costly) repr, every request."""
    cached = _std_reprs.get(id(stream))
    if cached is not None and cached[0] is stream:
        return cached[1]
    text = safe_repr(stream)
    if len(_std_reprs) >= 8:  # sys.stderr replaced again and again (test runners): keep only the current ones
        _std_reprs.clear()
    _std_reprs[id(stream)] = (stream, text)
    return text


def method_repr(method: MethodType) -> str:
    """``repr(method)``, made once per bound object and function while that object lives.

    waitress puts a bound method of the connection's channel in every environ
    (``waitress.client_disconnected``), and its repr formats the channel's: 3 µs a request.
    The text is the one from the first time the method was met; a repr that changes while its
    object lives (the channel's would say so if it stopped being connected) keeps that first text.
    """
    owner, func = method.__self__, method.__func__
    key = (id(owner), id(func))
    cached = _method_reprs.get(key)
    if cached is not None and cached[0]() is owner and cached[1]() is func:
        return cached[2]
    text = safe_repr(method)
    try:
        refs = weakref.ref(owner), weakref.ref(func)
    except TypeError:  # no weak references to one of them: made every time
        return text
    if len(_method_reprs) >= 1024:  # connections come and go: keep only recent ones
        _method_reprs.clear()
    _method_reprs[key] = (*refs, text)
    return text


# By (id of the bound object, id of the function); the weak references tell both are still the same ones.
_method_reprs: dict[tuple[int, int], tuple[weakref.ref[Any], weakref.ref[Any], str]] = {}


PLAIN_TYPES = (str, int, bool, type(None))
# Values to_model() converts structurally; anything else ends up as its repr.
_MODELLED = (str, int, bool, float, bytes, bytearray, memoryview, dict, list, tuple, Captured, Blob)


def detached(value: Any, cap: int) -> Any:
    """What a finished trace keeps of a value the server or app handed over: the model value
    to_model() gives, built cheaply, so that the trace does not keep the object alive.

    This runs once per request for environ values, so it avoids to_model()'s chain of checks
    for the usual server objects (wsgi.input, wsgi.errors, sockets): their repr is all a trace shows.
    """
    if type(value) is tuple and all(type(item) in PLAIN_TYPES for item in value):
        return value  # wsgi.version: pins nothing; becomes a list when the trace is built
    if value is None or isinstance(value, _MODELLED):
        return to_model(value, cap)
    cls = type(value)
    if cls.__repr__ is object.__repr__ or cls is FunctionType:
        return default_repr(value)  # the usual server objects: their repr needs only their type and address
    if isinstance(value, type):
        return value  # a class (wsgi.file_wrapper) pins nothing; its repr is made when the trace is built
    if value is sys.stderr or value is sys.stdout:
        return std_stream_repr(value)
    if cls is socket.socket:
        return socket_repr(value)
    if cls is MethodType:
        return method_repr(value)
    return safe_repr(value)
