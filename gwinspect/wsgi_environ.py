"""What a WSGI trace shows of the environ: display strings, headers, and detached values.

A finished trace must not keep the server's objects alive (``wsgi.input`` may hold a
whole request body, a socket a connection), so values are *detached* when the request
ends: plain data is kept, objects become the text of their ``repr()``, computed as
cheaply as possible because this runs once per request.
"""

from __future__ import annotations

import contextlib
import io
import os
import socket
import sys
from collections.abc import Iterable
from types import FunctionType, MethodType
from typing import Any

from .jsonsafe import safe_repr
from .reprs import PLAIN_TYPES, default_repr, detached, method_repr, socket_repr, stand_ins_by_address
from .types import Environ


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


# How detach_environ() treats values of each type, learnt on first sight: servers hand over
# the same few types every request, so the checks in detached() run once per type, not per value.
_KEEP, _DEFAULT_REPR, _TUPLE, _CHECK, _FUNCTION, _SOCKET, _METHOD = 0, 1, 2, 3, 4, 5, 6
_STAND_IN = (_DEFAULT_REPR, _FUNCTION)  # replaced by a DefaultRepr
_PLAIN_STRATEGIES: dict[type, int] = dict.fromkeys(PLAIN_TYPES, _KEEP)
_strategies: dict[type, int] = dict(_PLAIN_STRATEGIES)


def _strategy(cls: type) -> int:
    how = _strategies.get(cls)
    if how is not None:
        return how
    if cls in PLAIN_TYPES or issubclass(cls, type):
        how = _KEEP  # plain data, or a class (wsgi.file_wrapper): pins nothing worth detaching
    elif cls.__repr__ is object.__repr__:
        how = _DEFAULT_REPR
    elif cls is FunctionType:
        how = _FUNCTION  # gunicorn's wsgi.early_hints: its repr needs only its name and address too
    elif cls is socket.socket:
        how = _SOCKET  # gunicorn.socket
    elif cls is MethodType:
        how = _METHOD  # waitress.client_disconnected: the same connection's method, request after request
    elif cls is tuple:
        how = _TUPLE
    else:
        how = _CHECK
    if len(_strategies) >= 256:  # types made per request would otherwise grow this forever
        _strategies.clear()
        _strategies.update(_PLAIN_STRATEGIES)
    _strategies[cls] = how
    return how


def detach_environ(environ: Environ, cap: int) -> None:
    """Replace, in place, each value that could keep a server object alive by what a trace shows of it.

    Same keys, so a reader iterating the environ meanwhile carries on. This runs once per request,
    so it looks only where objects are: a server puts them under the same few keys every time
    (``wsgi.input``, ``wsgi.errors``, ``gunicorn.socket``). An environ with a key never met
    before (a C-level subset test tells) has every value looked at, and each key found holding
    an object is looked at from then on. What this can miss is a key first met holding plain data
    that later holds an object; PEP 3333 makes CGI variables strings, and servers keep one type
    per extension key, so such an object would be an oddity, and is referenced only while its
    trace is stored.
    """
    if _seen_keys.issuperset(environ):
        keys: Iterable[str] = _object_keys
    else:
        keys = list(environ)
        _learn(environ)
    strategies = _strategies
    for key in keys:
        value: Any = environ.get(key)  # None when this environ lacks the key: kept, as any None is
        cls = type(value)
        how = strategies.get(cls)
        if how is None:
            how = _strategy(cls)
        if how in _STAND_IN:
            # The stand-in made for the object last seen at this address, when it fits: servers make
            # these objects per request, and they often land where the previous request's were.
            address = id(value)
            stand_in = stand_ins_by_address.get(address)
            if (stand_in is None or stand_in.cls is not cls
                    or (how == _FUNCTION and stand_in.name != value.__qualname__)):
                stand_in = default_repr(value)
            environ[key] = stand_in
        elif how == _TUPLE:
            try:
                seen = value in _plain_tuples  # wsgi.version: the same (1, 0) every time
            except TypeError:  # unhashable items: not plain
                seen = False
            if not seen:
                environ[key] = kept = detached(value, cap)
                if kept is value and len(_plain_tuples) < 64:
                    _plain_tuples.add(value)
        elif how == _SOCKET:
            environ[key] = socket_repr(value)
        elif how == _METHOD:
            environ[key] = method_repr(value)
        elif how == _CHECK:
            environ[key] = detached(value, cap)


_MAX_KEYS = 4096  # header names vary by client; past this many, environs are always looked at whole
_seen_keys: set[Any] = set()
_object_keys: list[Any] = []  # keys met holding an object that detaching replaces


def _learn(environ: Environ) -> None:
    for key, value in list(environ.items()):
        if key in _seen_keys or len(_seen_keys) >= _MAX_KEYS:
            continue
        _seen_keys.add(key)
        how = _strategy(type(value))
        pins = how != _KEEP and (how != _TUPLE or detached(value, 0) is not value)
        # sys.stderr (most servers' wsgi.errors) lives as long as the process: nothing to let go of.
        if pins and value is not sys.stderr and value is not sys.stdout and key not in _object_keys:
            _object_keys.append(key)


_plain_tuples: set[tuple[Any, ...]] = set()  # tuples of plain values seen: they pin nothing, keep them


def describe_file(wrapper: Any) -> dict[str, Any]:
    """What can be told of a file_wrapper without reading it, or changing it (the server sends it)."""
    info: dict[str, Any] = {"wrapper": type(wrapper).__qualname__}
    filelike = next((f for f in (getattr(wrapper, a, None) for a in ("filelike", "file", "f")) if f is not None), None)
    if filelike is not None:
        name = getattr(filelike, "name", None)
        if isinstance(name, str):
            info["name"] = name
        # Only where the size is the open file's: fileno() of another file-like object may do work (a
        # SpooledTemporaryFile moves its data from memory to disk), and tell() may not count bytes.
        if isinstance(filelike, _REAL_FILES):
            with contextlib.suppress(Exception):  # closed, or not a regular file: size unknown
                info["size"] = os.fstat(filelike.fileno()).st_size - filelike.tell()
    return info


_REAL_FILES = (io.FileIO, io.BufferedReader, io.BufferedRandom)
