"""ASGI lifespan checks: startup, then shutdown, each answered exactly once.

An app that does not support lifespan raises when called with the scope (the
server then carries on without it); such a trace has an ``error`` and is not
checked for missing answers.
"""

from __future__ import annotations

from collections.abc import Iterator

from ..model import Trace
from .values import Check, Finding, is_final, message_type, messages

PHASES = ("startup", "shutdown")


def check_lifespan(trace: Trace) -> Iterator[Finding]:
    received: dict[str, int] = {}  # phase -> index of the event that asked
    answered: dict[str, int] = {}
    for i, direction, _event, message in messages(trace):
        kind = message_type(message)
        if kind is None or not kind.startswith("lifespan."):
            continue
        parts = kind.split(".")
        phase = parts[1] if len(parts) > 1 else ""
        if phase not in PHASES:
            continue
        if direction == "receive" and len(parts) == 2:
            if phase in received:
                yield "ASGI-LS-004", f"lifespan.{phase} received a second time", i
            elif phase == "shutdown" and "startup" not in received:
                yield "ASGI-LS-004", "lifespan.shutdown received before lifespan.startup", i
            received.setdefault(phase, i)
        elif direction == "send" and len(parts) == 3 and parts[2] in ("complete", "failed"):
            if phase not in received:
                yield "ASGI-LS-001", f"{kind} sent before lifespan.{phase} was received", i
            elif phase in answered:
                yield "ASGI-LS-002", f"lifespan.{phase} answered a second time ({kind})", i
            answered.setdefault(phase, i)
    if not is_final(trace) or trace.error is not None:
        return
    for phase in PHASES:
        if phase in received and phase not in answered:
            yield "ASGI-LS-003", f"the application returned without answering lifespan.{phase}", received[phase]


CHECKS: tuple[Check, ...] = (check_lifespan,)
