"""The ``gwinspect`` command line (also ``python -m gwinspect``).

Each command lives in its own module under ``gwinspect/commands`` and exposes
``register(subparsers)``, which adds a parser whose ``handler`` default takes the
parsed arguments and returns an exit code. Errors a user can cause (a missing
file, bad JSON, an unknown id, an import that fails) are raised as
:class:`CLIError` and printed as one line on stderr, never as a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

# One line per command module; each adds its own subcommand(s).
COMMAND_MODULES: tuple[str, ...] = (
    "gwinspect.commands.show",
    "gwinspect.commands.run",
    "gwinspect.commands.demo",
    "gwinspect.commands.export",
    "gwinspect.commands.serve",
    "gwinspect.commands.tail",
    "gwinspect.commands.dump",
    "gwinspect.commands.rules",
    "gwinspect.commands.check",
)


class CLIError(Exception):
    """A user-facing error: printed as ``gwinspect: error: <message>``, exit status 2."""


def build_parser() -> argparse.ArgumentParser:
    from . import __version__
    parser = argparse.ArgumentParser(
        prog="gwinspect",
        description="Inspect WSGI and ASGI requests: timelines in the terminal and at /__inspect__.")
    parser.add_argument("--version", action="version", version=f"gwinspect {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help(sys.stderr)
        return 2
    try:
        return int(handler(args) or 0)
    except CLIError as exc:
        print(f"gwinspect: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `gwinspect show dump.json | head`
        return 0
