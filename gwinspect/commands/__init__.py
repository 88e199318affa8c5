"""One module per ``gwinspect`` subcommand; see :mod:`gwinspect.cli`."""
