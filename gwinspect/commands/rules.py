"""``gwinspect rules``: the protocol rule catalogue, as a table or as JSON."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from ..rules.catalogue import RULES


def register(sub: Any) -> None:
    p = sub.add_parser("rules", help="list the protocol conformance rules",
                       description="List every WSGI (PEP 3333) and ASGI rule gwinspect checks: id, severity, "
                                   "summary, hint and the spec section it comes from.")
    p.add_argument("--json", action="store_true", help="print the catalogue as JSON")
    p.add_argument("--no-color", action="store_true", help="no colours (also when NO_COLOR is set)")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    if args.json:
        sys.stdout.write(json.dumps([r.to_dict() for r in RULES], indent=2) + "\n")
        return 0
    from rich.table import Table
    from rich.text import Text

    from ..render.terminal import SEVERITY_STYLE, make_console
    table = Table(box=None, show_edge=False, pad_edge=False)
    for name in ("rule", "severity", "summary", "spec"):
        table.add_column(name, overflow="fold")
    for r in RULES:
        table.add_row(r.id, Text(r.severity, style=SEVERITY_STYLE.get(r.severity, "")), r.summary, r.spec)
    make_console(no_color=args.no_color).print(table)
    return 0
