"""The terminal face of gwinspect: a timeline per trace and a list of many, with rich.

Every piece of recorded data is put on screen as a :class:`rich.text.Text` built
from :func:`~gwinspect.render.text.escape`-d strings: rich never parses markup or
emoji codes in a ``Text``, and no control character survives the escaping, so a
hostile path or header can neither style nor drive the terminal.

``full=False`` (compact) merges runs of body events and shows key headers only;
``full=True`` shows every event, every header, bodies folded over several lines
and the whole traceback.
"""

from __future__ import annotations

import io
import os
import re
from collections.abc import Iterable, Sequence
from typing import IO, Any

from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text

from ..model import Trace, Violation
from .events import Row, describe, header_lines, merge
from .text import escape, human_ms, human_size, status_class

STATUS_STYLE = {"1xx": "magenta", "2xx": "green", "3xx": "cyan", "4xx": "yellow", "5xx": "bold red",
                "none": "dim"}
TONE_STYLE = {"in": "cyan", "out": "green", "error": "bold red", "meta": "dim"}
SEVERITY_STYLE = {"error": "bold red", "warning": "yellow", "info": "blue"}
TRACEBACK_FRAMES = 3


def make_console(file: IO[str] | None = None, *, no_color: bool = False, width: int | None = None,
                 stderr: bool = False, record: bool = False) -> Console:
    """A console for gwinspect output; colour follows the terminal, ``NO_COLOR`` and ``no_color``."""
    no_color = no_color or bool(os.environ.get("NO_COLOR"))
    return Console(file=file, stderr=stderr, width=width, record=record, no_color=no_color,
                   color_system=None if no_color else "auto", highlight=False, emoji=False, markup=False,
                   soft_wrap=False)


def status_of(trace: Trace) -> int | None:
    status = trace.response.status if trace.response else None
    return status if isinstance(status, int) and not isinstance(status, bool) else None


def target(trace: Trace) -> str:
    """Path plus query, escaped."""
    req = trace.request
    if trace.type == "lifespan":
        return "lifespan"
    return escape(req.path) + (f"?{escape(req.query_string)}" if req.query_string else "")


def header(trace: Trace) -> Text:
    """The one-line summary: protocol, method, path, status, duration, bytes in/out, client."""
    status = status_of(trace)
    style = STATUS_STYLE["5xx" if trace.error is not None else status_class(status)]
    line = Text()
    line.append(f"{escape(trace.protocol).upper()} {escape(trace.type)}", style="bold")
    if trace.request.method:
        line.append(f"  {escape(trace.request.method)}", style="bold")
    line.append(f"  {target(trace)}", style="bold")
    if trace.type != "lifespan" and (status is not None or trace.state == "complete"):
        line.append(f"  {status if status is not None else 'no response'}", style=style)
    if trace.state != "complete":
        line.append("  in progress", style="magenta")
    line.append(f"  {human_ms(trace.duration_ms)}")
    out = trace.response.body_size if trace.response else 0
    line.append(f"  ↑{human_size(trace.request.body_size)} ↓{human_size(out)}", style="dim")
    if trace.request.client:
        line.append(f"  {escape(trace.request.client)}", style="dim")
    line.append(f"  #{escape(trace.id)}", style="dim")
    return line


def _bar(prev: float, start: float, end: float, total: float, width: int) -> str:
    """Where an event sits in the request: ``─`` the wait since the previous one, ``━`` a merged run."""
    if total <= 0 or width <= 0:
        return ""

    def cell(t: float) -> int:
        return min(width - 1, max(0, int(t / total * (width - 1))))

    a, b, c = cell(prev), cell(start), cell(end)
    b, c = max(a, b), max(a, b, c)
    return " " * a + "─" * (b - a) + "━" * (c - b) + "●" + " " * (width - 1 - c)


def _offset(t_ms: float) -> str:
    return f"{t_ms:8.3f} ms" if t_ms < 100_000 else f"{t_ms / 1000:8.2f} s "


def _violation_row(grid: Table, v: Violation, at: str) -> None:
    style = SEVERITY_STYLE.get(v.severity, "yellow")
    grid.add_row(Text(at, style="dim"), Text("!", style=style),
                 Text(f"{escape(v.severity)} {escape(v.rule)}", style=style),
                 Text(escape(v.message), style=style), Text(""))


def waterfall(trace: Trace, *, full: bool, width: int) -> Table:
    """Offset, direction, event kind, summary and a time bar per event, violations in place."""
    bar_width = max(8, min(32, width // 6))
    rows: list[Row] = [describe(i, e, False, width) for i, e in enumerate(trace.events)]
    offset_width = max([11] + [len(_offset(r.t_ms)) for r in rows])
    label_width = min(34, max([5] + [len(r.label) for r in rows]))
    summary_width = max(12, width - offset_width - 1 - label_width - bar_width - 4)
    # Full mode shows each body whole below its event (no previews); compact merges runs of them.
    rows = [describe(i, e, True, 0) for i, e in enumerate(trace.events)] if full else merge(rows)
    by_event: dict[int, list[Violation]] = {}
    for v in trace.violations:
        if isinstance(v.event, int) and 0 <= v.event < len(trace.events):
            by_event.setdefault(v.event, []).append(v)
    duration = trace.duration_ms if isinstance(trace.duration_ms, (int, float)) else 0.0
    total = max([duration] + [e.t_ms for e in trace.events])
    # Fixed widths: rich would otherwise squeeze the offsets and bars before the summaries.
    grid = Table.grid(padding=(0, 1), expand=False)
    grid.add_column(justify="right", no_wrap=True, width=offset_width)
    grid.add_column(no_wrap=True, width=1)
    grid.add_column(no_wrap=True, overflow="ellipsis", width=label_width)
    grid.add_column(overflow="fold" if full else "ellipsis", no_wrap=not full, width=summary_width)
    grid.add_column(no_wrap=True, width=bar_width)
    prev = 0.0
    for row in rows:
        tone = TONE_STYLE.get(row.tone, "")
        grid.add_row(Text(_offset(row.t_ms), style="dim"), Text(row.arrow, style=tone),
                     Text(row.label, style=tone), Text(row.summary),
                     Text(_bar(prev, row.t_ms, row.last_t, total, bar_width), style=tone or "dim"))
        prev = row.last_t
        for line in row.details:
            grid.add_row("", "", "", Text(line, style="dim"), "")
        for i in range(row.index, row.last_index + 1):
            for v in by_event.get(i, ()):
                _violation_row(grid, v, f"#{i}")
    return grid


# gwinspect's own adapter frames sit between the server and the app in every traceback: noise in the
# compact view (the full view keeps them).
OWN_FRAME = re.compile(r'File ".*[/\\]gwinspect[/\\](?:wsgi|asgi)\.py"')


def _traceback_lines(tb: str, full: bool) -> list[str]:
    """The whole traceback (full), or the last frames of the final exception, without its repeated message."""
    lines = escape(tb, keep_newlines=True).splitlines()
    if full:
        return lines
    frames: list[list[str]] = []
    for line in lines:
        if line.startswith("Traceback "):
            frames = []  # a chained exception: only the last one's frames
        elif line.startswith("  File "):
            frames.append([line])
        elif line.startswith("    ") and frames:
            frames[-1].append(line)
    kept = [f for f in frames if not OWN_FRAME.search(f[0])] or frames
    return [line for frame in kept[-TRACEBACK_FRAMES:] for line in frame]


def timeline(trace: Trace, *, full: bool = False, width: int = 100) -> RenderableType:
    """Everything about one trace, top to bottom."""
    parts: list[RenderableType] = [header(trace)]
    meta = Text(f"  {escape(trace.started_at)}", style="dim")
    if trace.request.http_version:
        meta.append(f"  HTTP/{escape(trace.request.http_version)}")
    if trace.request.scheme:
        meta.append(f"  {escape(trace.request.scheme)}")
    flagged = False
    for flag, note in ((trace.partial, "partial: gwinspect missed part of this trace"),
                       (trace.disconnected, "the client disconnected early"),
                       (trace.events_dropped > 0, f"{trace.events_dropped} events not kept (max_events)")):
        if flag:
            meta.append(f"  {note}", style="yellow")
            flagged = True
    if full or flagged:
        parts.append(meta)
    if full and trace.request.headers:
        parts.append(Text("  request headers", style="bold"))
        parts.extend(Text(f"    {line}", style="dim") for line in header_lines(trace.request.headers))
    if trace.events:
        parts.append(waterfall(trace, full=full, width=width))
    loose = [v for v in trace.violations if not (isinstance(v.event, int) and 0 <= v.event < len(trace.events))]
    for v in loose:
        style = SEVERITY_STYLE.get(v.severity, "yellow")
        parts.append(Text(f"  ! {escape(v.severity)} {escape(v.rule)}: {escape(v.message)}", style=style))
    if trace.error is not None:
        err = trace.error
        parts.append(Text(f"  ✖ {escape(err.type)}: {escape(err.message)}", style="bold red"))
        parts.extend(Text(f"    {line}", style="red") for line in _traceback_lines(err.traceback, full))
    return Group(*parts)


# List columns, and the narrowest terminal each one is still shown on.
LIST_COLUMNS = (("time", "left", 0), ("proto", "left", 90), ("method", "left", 0), ("path", "left", 0),
                ("status", "right", 0), ("duration", "right", 0), ("in", "right", 100),
                ("out", "right", 80), ("id", "left", 120))


def _list_cells(t: Trace) -> dict[str, Text]:
    status = status_of(t)
    style = STATUS_STYLE["5xx" if t.error is not None else status_class(status)]
    clock = t.started_at[11:23] if len(t.started_at) >= 23 else t.started_at
    shown_status = "…" if t.state != "complete" else (str(status) if status is not None else "-")
    if t.error is not None:
        shown_status += " ✖"
    return {"time": Text(escape(clock), style="dim"), "proto": Text(f"{escape(t.protocol)} {escape(t.type)}"),
            "method": Text(escape(t.request.method or "")), "path": Text(target(t)),
            "status": Text(shown_status, style=style), "duration": Text(human_ms(t.duration_ms)),
            "in": Text(human_size(t.request.body_size), style="dim"),
            "out": Text(human_size(t.response.body_size if t.response else 0), style="dim"),
            "id": Text(escape(t.id), style="dim")}


def trace_list(traces: Sequence[Trace], width: int = 120) -> Table:
    """Many traces, one per line, coloured by status class; fewer columns on narrow terminals."""
    columns = [(name, justify) for name, justify, min_width in LIST_COLUMNS if width >= min_width]
    rows = [_list_cells(t) for t in traces]
    # Every column keeps its natural width; only the path gives way (with an ellipsis).
    natural = {name: max([len(name)] + [r[name].cell_len for r in rows]) for name, _ in columns}
    fixed = sum(w for name, w in natural.items() if name != "path") + 2 * (len(columns) - 1)
    path_width = max(8, width - fixed)
    table = Table(box=None, show_edge=False, pad_edge=False, header_style="bold", expand=False,
                  padding=(0, 2, 0, 0), collapse_padding=True)
    for name, justify in columns:
        table.add_column(name, justify=justify, no_wrap=True, overflow="ellipsis",  # type: ignore[arg-type]
                         width=min(natural[name], path_width) if name == "path" else natural[name])
    for t, cells in zip(traces, rows, strict=True):
        style = STATUS_STYLE["5xx" if t.error is not None else status_class(status_of(t))]
        table.add_row(*(cells[name] for name, _ in columns), style=style if style == "bold red" else None)
    return table


def print_traces(console: Console, traces: Sequence[Trace], *, full: bool = False, listing: bool = True) -> None:
    """A dump on screen: the list (when there are several) and then each timeline."""
    if listing and len(traces) > 1:
        console.print(trace_list(traces, console.width))
        console.print()
    for trace in traces:
        console.print(timeline(trace, full=full, width=console.width))
        console.print()


def svg(traces: Iterable[Trace], *, full: bool = False, width: int = 110, title: str = "gwinspect",
        listing: bool = False) -> str:
    """Rendered traces as an SVG image (rich's recorded console), for docs and bug reports."""
    traces = list(traces)
    console = Console(file=io.StringIO(), record=True, width=width, force_terminal=True,
                      color_system="truecolor", highlight=False, emoji=False, markup=False)
    if listing:
        console.print(trace_list(traces, width))
    else:
        print_traces(console, traces, full=full)
    return console.export_svg(title=escape(title))


def render_text(renderable: Any, *, width: int = 100) -> str:
    """Plain text of a renderable (tests, logs)."""
    console = make_console(io.StringIO(), no_color=True, width=width)
    console.print(renderable)
    out = console.file
    assert isinstance(out, io.StringIO)
    return out.getvalue()
