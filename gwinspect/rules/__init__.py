"""Protocol conformance rules: PEP 3333 for WSGI, the ASGI HTTP, WebSocket and lifespan specs.

``check(trace)`` returns the violations a recorded trace shows, each tied to the
event that caused it. Checks read only the trace, so they run after the request
(or when a loaded dump is read), never on the request path. Every check runs
on its own: a bug in one cannot stop the others or raise into the caller.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from ..model import ProtocolViolation, Trace, Violation
from . import asgi_http, asgi_lifespan, asgi_ws, messages, scope, wsgi
from .catalogue import BY_ID, RULES, Rule
from .values import Check

if TYPE_CHECKING:
    from ..options import Settings
    from ..recorder import Recorder

__all__ = ["RULES", "ProtocolViolation", "Rule", "check", "checks_for", "install", "make_checker"]

logger = logging.getLogger("gwinspect")

# One long stream of str chunks must not turn into thousands of identical violations.
MAX_PER_RULE = 10
_SEVERITY_ORDER = {"error": 0, "warning": 1, "info": 2}
_ASGI_COMMON = (*scope.CHECKS, *messages.CHECKS)
CHECKS_BY_KIND: dict[tuple[str, str], tuple[Check, ...]] = {
    ("wsgi", "http"): wsgi.CHECKS,
    ("asgi", "http"): (*_ASGI_COMMON, *asgi_http.CHECKS),
    ("asgi", "websocket"): (*_ASGI_COMMON, *asgi_ws.CHECKS),
    ("asgi", "lifespan"): (*_ASGI_COMMON, *asgi_lifespan.CHECKS),
}
_broken: set[str] = set()  # checks that already logged a failure (log once per process)


def checks_for(trace: Trace) -> tuple[Check, ...]:
    return CHECKS_BY_KIND.get((trace.protocol, trace.type), ())


def check(trace: Trace) -> tuple[Violation, ...]:
    """Every violation ``trace`` shows, in event order (trace-level ones last)."""
    found: list[Violation] = []
    per_rule: dict[str, int] = {}
    for fn in checks_for(trace):
        try:
            for rule_id, message, event in fn(trace):
                rule = BY_ID[rule_id]
                per_rule[rule_id] = per_rule.get(rule_id, 0) + 1
                if per_rule[rule_id] <= MAX_PER_RULE:
                    found.append(Violation(rule.id, rule.severity, message, _event_index(event, trace)))
        except Exception:
            name = getattr(fn, "__qualname__", repr(fn))
            if name not in _broken:
                _broken.add(name)
                logger.warning("gwinspect rule check %s failed; other checks still ran", name, exc_info=True)
    found.sort(key=lambda v: (v.event is None, v.event or 0, _SEVERITY_ORDER.get(v.severity, 3)))
    return tuple(found)


def _event_index(event: object, trace: Trace) -> int | None:
    if isinstance(event, int) and not isinstance(event, bool) and 0 <= event < len(trace.events):
        return event
    return None


def make_checker(settings: Settings | None = None) -> Callable[[Trace], Trace]:
    """The ``settings.checker`` hook: a trace in, the same trace with its violations out."""
    def checker(trace: Trace) -> Trace:
        return dataclasses.replace(trace, violations=check(trace))
    return checker


def errors(violations: Iterable[Violation]) -> tuple[Violation, ...]:
    return tuple(v for v in violations if v.severity == "error")


def strict_listener(settings: Settings) -> Callable[[Recorder], None]:
    """An ``on_finish`` listener raising :class:`ProtocolViolation` when a trace breaks an error rule.

    The recorder runs every listener first (the store is told, the console
    prints), then re-raises it to the caller, after the response is complete.
    """
    def raise_on_errors(rec: Recorder) -> None:
        trace = rec.snapshot()
        found = errors(trace.violations if settings.checker is not None else check(trace))
        if found:
            raise ProtocolViolation(trace, found)
    return raise_on_errors


def install(settings: Settings) -> None:
    """Hook the rules into an inspector's settings (called by ``make_settings``)."""
    if settings.validate:
        settings.checker = make_checker(settings)
    if settings.strict:
        settings.on_finish.append(strict_listener(settings))
