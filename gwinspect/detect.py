"""Protocol detection for :func:`gwinspect.wrap`.

The order matters: coroutine functions (and objects whose ``__call__`` is one)
are ASGI 3; otherwise the number of positional parameters decides -- two is
WSGI ``(environ, start_response)``, three is ASGI 3, one is an ASGI 2
double-callable ``app(scope)``. A class is called to make a response (WSGI) or
an instance (ASGI 2), so its constructor's parameters are what count.
"""

from __future__ import annotations

import functools
import inspect
from typing import Any, Literal

Style = Literal["wsgi", "asgi3", "asgi2"]

_BY_ARITY: dict[int, Style] = {1: "asgi2", 2: "wsgi", 3: "asgi3"}


def _unwrapped(obj: Any) -> Any:
    """What a ``functools.partial`` (of a partial...) calls in the end."""
    while isinstance(obj, functools.partial):
        obj = obj.func
    return obj


def _is_coroutine_callable(obj: Any) -> bool:
    obj = _unwrapped(obj)
    if inspect.iscoroutinefunction(obj):
        return True
    call = getattr(type(obj), "__call__", None)  # noqa: B004 - the class's, not the instance's
    return not inspect.isclass(obj) and call is not None and inspect.iscoroutinefunction(call)


def _positional_arity(obj: Any) -> int | None:
    """How many positional arguments a call takes, or None when it cannot be told."""
    try:
        sig = inspect.signature(obj)
    except (TypeError, ValueError):
        return None
    count = 0
    for p in sig.parameters.values():
        if p.kind is p.VAR_POSITIONAL:
            return None
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty:
            count += 1
    return count


def asgi_style(app: Any) -> Style | None:
    """Classify ``app``; None when it is not recognisably an app of either protocol."""
    if not callable(app):
        return None
    if _is_coroutine_callable(app):
        return "asgi3"
    target = _unwrapped(app)
    if inspect.isclass(target) and hasattr(target, "__await__"):
        return "asgi3"  # asgiref's "instance is awaitable" form
    return _BY_ARITY.get(_positional_arity(app) or -1)


def is_asgi2(app: Any) -> bool:
    """For an app known to be ASGI: is it an ASGI 2 double-callable?

    A class without ``__await__`` is one whatever its constructor's parameters, as servers tell
    (uvicorn's ``interface="auto"``): ``__init__(self, scope, *args)`` takes the scope just as well.
    """
    style = asgi_style(app)
    if style is None:
        return inspect.isclass(_unwrapped(app))  # one with __await__ is "asgi3" already
    return style == "asgi2"


def detect_protocol(app: Any) -> Literal["wsgi", "asgi"]:
    style = asgi_style(app)
    if style is None:
        what = "not callable" if not callable(app) else "callable, but its signature fits neither protocol"
        raise TypeError(
            f"gwinspect.wrap() needs a WSGI app (environ, start_response) or an ASGI app "
            f"(scope, receive, send); {type(app).__name__} object is {what}. "
            "Pass protocol='wsgi' or protocol='asgi' if it is one.")
    return "wsgi" if style == "wsgi" else "asgi"
