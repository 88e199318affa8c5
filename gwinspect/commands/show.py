"""``gwinspect show FILE|-``: render a ``gwinspect/1`` dump as timelines (or re-emit it as JSON)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from ..cli import CLIError
from ..model import Trace
from ..render.text import escape


def read_dump(path: str) -> list[Trace]:
    """The traces of a dump file (``-`` for stdin); every failure is a one-line :class:`CLIError`."""
    from ..serialize import loads
    shown = "stdin" if path == "-" else escape(path)
    try:
        if path == "-":
            text = sys.stdin.buffer.read().decode("utf-8")
        else:
            with open(path, encoding="utf-8") as f:
                text = f.read()
    except FileNotFoundError:
        raise CLIError(f"no such file: {shown}") from None
    except IsADirectoryError:
        raise CLIError(f"{shown} is a directory, not a dump file") from None
    except UnicodeDecodeError:
        raise CLIError(f"{shown} is not a gwinspect dump (not UTF-8 text)") from None
    except OSError as exc:
        raise CLIError(f"cannot read {shown}: {escape(exc.strerror or exc)}") from None
    try:
        json.loads(text)
    except json.JSONDecodeError as exc:
        raise CLIError(f"{shown} is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})") from None
    try:
        traces = loads(text)
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise CLIError(f"{shown} is not a gwinspect/1 dump: {escape(str(exc).splitlines()[0] if str(exc) else exc)}"
                       ) from None
    return traces


def select(traces: list[Trace], trace_id: str | None) -> list[Trace]:
    if trace_id is None:
        return traces
    found = [t for t in traces if t.id == trace_id]
    if not found:  # a unique prefix is enough, like git
        found = [t for t in traces if t.id.startswith(trace_id)] if trace_id else []
        if len(found) > 1:
            raise CLIError(f"trace id prefix {escape(trace_id)!r} is ambiguous ({len(found)} traces)")
    if not found:
        raise CLIError(f"no trace with id {escape(trace_id)!r} in the dump ({len(traces)} traces)")
    return found[:1]


def add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", metavar="FILE", help="a gwinspect/1 dump (one trace or a bundle); - reads stdin")
    parser.add_argument("--id", dest="trace_id", metavar="ID",
                        help="only the trace with this id (or id prefix; --id=ID for an older id starting with -)")
    parser.add_argument("--full", action="store_true",
                        help="every event, every header, bodies and the whole traceback")


def register(sub: Any) -> None:
    p = sub.add_parser("show", help="render a dump as timelines in the terminal",
                       description="Render a gwinspect/1 dump: a list of its traces (when there are several) "
                                   "and each trace's timeline. Text from requests is shown escaped.")
    add_common(p)
    p.add_argument("--list", action="store_true", help="only the list of traces, one per line")
    p.add_argument("--json", action="store_true", help="print the selected traces as gwinspect/1 JSON instead")
    p.add_argument("--no-color", action="store_true", help="no colours (also when NO_COLOR is set)")
    p.add_argument("--width", type=int, metavar="N", help="render for N columns (default: the terminal's)")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    traces = select(read_dump(args.file), args.trace_id)
    if args.json:
        from ..serialize import dumps
        sys.stdout.write(dumps(traces[0] if args.trace_id else traces, indent=2) + "\n")
        return 0
    from ..render.terminal import make_console, print_traces, trace_list
    console = make_console(no_color=args.no_color, width=args.width)
    with malformed_is_an_error(args.file):
        if not traces:
            console.print("(the dump holds no traces)")
        elif args.list:
            console.print(trace_list(traces, console.width))
        else:
            print_traces(console, traces, full=args.full)
    return 0


@contextmanager
def malformed_is_an_error(path: str) -> Iterator[None]:
    """A dump that loads but holds values of the wrong types: one line, not a traceback."""
    try:
        yield
    except (TypeError, ValueError, AttributeError, KeyError, IndexError) as exc:
        shown = "stdin" if path == "-" else escape(path)
        raise CLIError(f"{shown} holds a malformed trace ({type(exc).__name__}: {escape(exc)})") from None
