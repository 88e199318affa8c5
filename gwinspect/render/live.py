"""Live mode: ``gwinspect.wrap(app, console=True)`` prints each finished trace to stderr.

The request path only appends the finished recorder to an unbounded
``queue.SimpleQueue`` (a C-level, lock-free-for-the-caller put that never blocks
and never drops); one daemon thread per process builds the trace
(``recorder.snapshot()``), renders it and writes it. An ``atexit`` hook drains
the queue before the interpreter exits, so a short script loses no lines.
All inspectors in a process share the printer, so their output never
interleaves mid-trace.
"""

from __future__ import annotations

import atexit
import logging
import os
import queue
import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..options import Settings
    from ..recorder import Recorder

logger = logging.getLogger("gwinspect")
_STOP = object()
DRAIN_TIMEOUT = 10.0  # seconds flush() waits; at exit, how long the printer may make no progress


class ConsolePrinter:
    """One thread that renders queued recorders, in the order they finished."""

    def __init__(self) -> None:
        self.queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self.pid = os.getpid()
        self.thread = threading.Thread(target=self._run, name="gwinspect-console", daemon=True)
        self.thread.start()
        self._console: Any = None
        self.handled = 0  # items taken off the queue so far: drain() watches it move

    def submit(self, recorder: Recorder, full: bool) -> None:
        self.queue.put((recorder, full))

    def _run(self) -> None:
        while True:
            item = self.queue.get()
            self.handled += 1
            if item is _STOP:
                return
            if isinstance(item, _Marker):
                item.done.set()
                continue
            recorder, full = item
            try:
                self._print(recorder, full)
            except Exception:  # a rendering bug must not kill the printer (or the app)
                logger.warning("gwinspect could not print a trace to the console", exc_info=True)

    def _print(self, recorder: Recorder, full: bool) -> None:
        from .terminal import make_console, timeline
        if self._console is None:
            # stderr=True writes to whatever sys.stderr is at print time (pytest, redirects).
            self._console = make_console(stderr=True)
        console = self._console
        console.print(timeline(recorder.snapshot(), full=full, width=console.width))
        console.file.flush()

    def drain(self, stall: float = DRAIN_TIMEOUT) -> None:
        """Print everything queued so far, then stop the thread (at exit).

        Waits as long as the printer keeps printing (a long backlog is not cut
        short), but gives up once it has made no progress for ``stall`` seconds
        (stderr blocked by a reader that went away must not hang the exit).
        """
        if not self.thread.is_alive():
            return
        self.queue.put(_STOP)
        while self.thread.is_alive():
            before = self.handled
            self.thread.join(stall)
            if self.handled == before:
                return


_printer: ConsolePrinter | None = None
_printer_lock = threading.Lock()


def printer() -> ConsolePrinter:
    """The process's printer; a forked worker (gunicorn) starts its own thread."""
    global _printer
    current = _printer
    if current is not None and current.pid == os.getpid():
        return current  # the request path's usual case: no lock
    with _printer_lock:
        if _printer is None or _printer.pid != os.getpid():
            _printer = ConsolePrinter()
            atexit.register(_printer.drain)
        return _printer


def flush(timeout: float = DRAIN_TIMEOUT) -> None:
    """Wait until every finished trace queued so far is printed (the CLI calls this on shutdown)."""
    current = _printer
    if current is None or current.pid != os.getpid():
        return
    done = threading.Event()
    current.queue.put(_Marker(done))
    done.wait(timeout)


class _Marker:
    """Queued after the traces to wait for; the printer sets it when it gets there."""

    def __init__(self, done: threading.Event) -> None:
        self.done = done


def attach_console(settings: Settings) -> None:
    """Add the console listener to an inspector's settings (``console=True|"compact"|"full"``)."""
    full = settings.console == "full"

    def print_when_finished(recorder: Recorder) -> None:
        printer().submit(recorder, full)

    settings.on_finish.append(print_when_finished)
