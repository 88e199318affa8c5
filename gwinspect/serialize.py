"""``gwinspect/1`` JSON: dump traces for a bug report and load them back."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from typing import Any

from .model import FORMAT, Trace


def to_document(traces: Trace | Iterable[Trace]) -> dict[str, Any]:
    if isinstance(traces, Trace):
        return traces.to_dict()
    return {"format": FORMAT, "traces": [t.to_dict() for t in traces]}


def dumps(traces: Trace | Iterable[Trace], *, indent: int | None = None) -> str:
    """One trace as a trace object, several as a ``{"format", "traces"}`` bundle.

    ASCII-only output: lone surrogates from undecodable paths survive as ``\\udcxx``
    escapes, and the file can be attached anywhere without an encoding question.
    """
    return json.dumps(to_document(traces), indent=indent, ensure_ascii=True, allow_nan=False)


def from_document(doc: Any) -> list[Trace]:
    if isinstance(doc, list):
        return [Trace.from_dict(d) for d in doc]
    if not isinstance(doc, dict):
        raise ValueError("a gwinspect dump is a JSON object")
    if "traces" in doc:
        if doc.get("format") != FORMAT:
            raise ValueError(f"unsupported dump format {doc.get('format')!r}, expected {FORMAT!r}")
        return [Trace.from_dict(d) for d in doc["traces"]]
    return [Trace.from_dict(doc)]


def loads(text: str | bytes) -> list[Trace]:
    """Read a dump (one trace or a bundle); raises ``ValueError`` on anything else."""
    try:
        doc = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as exc:  # RecursionError: absurdly deep nesting
        raise ValueError(f"not JSON: {exc}") from exc
    try:
        return from_document(doc)
    except (KeyError, TypeError, AttributeError, RecursionError) as exc:
        raise ValueError(f"not a valid {FORMAT} dump: {type(exc).__name__}: {exc}") from exc


def load(path: str | os.PathLike[str]) -> list[Trace]:
    with open(path, encoding="utf-8") as f:
        return loads(f.read())


def dump(traces: Trace | Iterable[Trace], path: str | os.PathLike[str], *, indent: int | None = 2) -> None:
    with open(path, "w", encoding="ascii") as f:
        f.write(dumps(traces, indent=indent))
