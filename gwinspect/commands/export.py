"""``gwinspect export svg FILE -o out.svg``: a rendered timeline as an SVG image."""

from __future__ import annotations

import argparse
from typing import Any

from ..cli import CLIError
from ..render.text import escape
from .show import add_common, malformed_is_an_error, read_dump, select


def register(sub: Any) -> None:
    p = sub.add_parser("export", help="write rendered traces to a file (svg)",
                       description="Export rendered traces; `svg` writes the terminal timeline as an SVG image "
                                   "(for READMEs and bug reports).")
    formats = p.add_subparsers(dest="format", metavar="FORMAT", required=True)
    s = formats.add_parser("svg", help="the timeline (or the list, with --list) as an SVG image",
                           description="Render traces as the terminal shows them and save the picture as SVG.")
    add_common(s)
    s.add_argument("-o", "--output", required=True, metavar="OUT", help="the SVG file to write")
    s.add_argument("--list", action="store_true", help="the list of traces instead of timelines")
    s.add_argument("--width", type=int, default=110, metavar="N", help="columns of the picture (default 110)")
    s.add_argument("--title", default="gwinspect", help="the window title in the picture")
    s.set_defaults(handler=export_svg)


def export_svg(args: argparse.Namespace) -> int:
    from ..render.terminal import svg
    traces = select(read_dump(args.file), args.trace_id)
    if not traces:
        raise CLIError("the dump holds no traces")
    if args.width < 40:
        raise CLIError("--width must be at least 40")
    with malformed_is_an_error(args.file):
        image = svg(traces, full=args.full, width=args.width, title=args.title, listing=args.list)
    try:
        with open(args.output, "w", encoding="utf-8") as f:
            f.write(image)
    except OSError as exc:
        raise CLIError(f"cannot write {escape(args.output)}: {escape(exc.strerror or exc)}") from None
    print(f"wrote {escape(args.output)} ({len(traces)} trace{'s' if len(traces) != 1 else ''})")
    return 0
