"""Form fields and JSON members named like a secret, masked in recorded bodies.

A login form's ``password=`` is as much a secret as an ``Authorization`` header. Bodies
of three kinds are read when a trace is built: ``application/x-www-form-urlencoded``,
JSON (any ``...json`` type) and ``multipart/form-data`` (its text fields). A body is
recorded in pieces (each read, chunk or message), and a field may straddle two, so the
pieces of one direction are joined, masked, and cut back at the same places. Masking
keeps the length -- each byte of the value becomes ``*`` -- so body sizes, truncation
marks and the pieces' boundaries stay true. Other bodies are recorded as sent.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote_plus

from .model import Blob, Request, Response
from .redact import Redactor

# (the dict holding one piece of a body, as a Blob, and its key in it), in the order sent
Slot = tuple[dict[str, Any], str]

_FORM_FIELD = re.compile(r"(?:^|(?<=&))([^=&]*)=([^&]*)")
_JSON_MEMBER = re.compile(r'"((?:[^"\\]|\\.)*)"(\s*:\s*)("(?:[^"\\]|\\.)*"|-?\d[\d.eE+\-]*|true|false)')
_MULTIPART_FIELD = re.compile(r'(?is)(content-disposition:[^\r\n]*?\bname="([^"]*)"[^\r\n]*\r\n'
                              r'(?:[^\r\n]+\r\n)*\r\n)(.*?)(?=\r\n--|\Z)')


def _mask(text: str) -> str:
    return "*" * len(text)


def _form(redactor: Redactor, text: str) -> str:
    def field(m: re.Match[str]) -> str:
        return f"{m[1]}={_mask(m[2])}" if redactor.matches(unquote_plus(m[1])) else m[0]
    return _FORM_FIELD.sub(field, text)


def _json(redactor: Redactor, text: str) -> str:
    def member(m: re.Match[str]) -> str:
        try:
            name = json.loads(f'"{m[1]}"')
        except ValueError:
            name = m[1]
        if not redactor.matches(name):
            return m[0]
        value = m[3]
        masked = f'"{_mask(value[1:-1])}"' if value.startswith('"') else _mask(value)
        return f'"{m[1]}"{m[2]}{masked}'
    return _JSON_MEMBER.sub(member, text)


def _multipart(redactor: Redactor, text: str) -> str:
    def part(m: re.Match[str]) -> str:
        return m[1] + _mask(m[3]) if redactor.matches(m[2]) else m[0]
    return _MULTIPART_FIELD.sub(part, text)


def _masker(content_type: Any) -> Callable[[Redactor, str], str] | None:
    if not isinstance(content_type, str):
        return None
    media = content_type.split(";", 1)[0].strip().lower()
    if media == "application/x-www-form-urlencoded":
        return _form
    if media.endswith("json"):
        return _json
    if media == "multipart/form-data":
        return _multipart
    return None


def mask_bodies(redactor: Redactor, pieces: tuple[list[Slot], list[Slot]], request: Request,
                response: Response | None) -> None:
    """Mask the request's and the response's bodies, whose pieces are where ``pieces`` point, by the
    content types the trace shows."""
    if redactor:
        to_server, to_client = pieces
        mask_body(redactor, to_server, request.header("content-type"))
        mask_body(redactor, to_client, response.header("content-type") if response is not None else None)


def mask_body(redactor: Redactor, slots: list[Slot], content_type: Any) -> None:
    """Mask, in place, the secret-named fields of the body whose pieces ``slots`` point at."""
    masker = _masker(content_type)
    if masker is None or not redactor:
        return
    pieces = [(holder, key, holder[key]) for holder, key in slots if isinstance(holder.get(key), Blob)]
    if not pieces:
        return
    joined = b"".join(blob.data for _, _, blob in pieces).decode("latin-1")  # one char per byte, both ways
    masked = masker(redactor, joined)
    if masked == joined:
        return
    raw = masked.encode("latin-1")
    at = 0
    for holder, key, blob in pieces:
        holder[key] = Blob(raw[at:at + len(blob.data)], blob.size, blob.truncated)
        at += len(blob.data)
