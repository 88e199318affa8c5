"""The inspectors' options, validated once, and the settings recorders read."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .model import Trace
from .redact import DEFAULT_REDACT, Redactor, normalize_patterns
from .store import Hook, TraceStore, open_store, request_hooks

if TYPE_CHECKING:
    from .recorder import Listener

DEFAULT_PATH = "/__inspect__"


@dataclass(slots=True)
class Settings:
    """Everything one inspector's recorders need; shared by all its requests."""

    path: str = DEFAULT_PATH
    store: TraceStore = field(default_factory=lambda: open_store(None, 500))
    max_traces: int = 500
    max_body: int = 65536
    max_events: int = 10_000
    redact: tuple[str, ...] = DEFAULT_REDACT
    allow_hosts: tuple[str, ...] = ()
    token: str | None = None
    console: bool | str = False
    exclude_paths: tuple[str, ...] = ()
    validate: bool = True
    strict: bool = False
    panel: bool = True
    redactor: Redactor = field(default_factory=lambda: Redactor(DEFAULT_REDACT))
    # Called with each recorder when its request completes, after the store is told (console, strict, ...).
    on_finish: list[Listener] = field(default_factory=list)
    # Turns a finished trace into one with violations (the rules module), or None.
    checker: Callable[[Trace], Trace] | None = None
    # What recorders call on the store when a request starts and completes (None: nothing), from the store.
    store_started: Hook = field(init=False)
    store_finished: Hook | None = field(init=False)

    def __post_init__(self) -> None:
        self.store_started, self.store_finished = request_hooks(self.store)

    def excluded(self, path: str) -> bool:
        return any(path == p or path.startswith(p.rstrip("/") + "/") for p in self.exclude_paths)

    def is_panel_path(self, path: str) -> bool:
        n = len(self.path)
        return self.panel and path.startswith(self.path) and (len(path) == n or path[n] == "/")


def make_settings(
    *,
    path: str = DEFAULT_PATH,
    store: Any = None,
    max_traces: int = 500,
    max_body: int = 65536,
    max_events: int = 10_000,
    redact: Any = DEFAULT_REDACT,
    allow_hosts: Iterable[str] | None = None,
    token: str | None = None,
    console: bool | str = False,
    exclude_paths: Iterable[str] = (),
    validate: bool = True,
    strict: bool = False,
    panel: bool = True,
) -> Settings:
    if not isinstance(path, str) or not path.startswith("/") or path == "/":
        raise ValueError(f"path= must start with '/' and not be '/' alone, got {path!r}")
    for name, value in (("max_traces", max_traces), ("max_body", max_body), ("max_events", max_events)):
        if not isinstance(value, int) or isinstance(value, bool) or value < (1 if name != "max_body" else 0):
            raise ValueError(f"{name}= must be a positive integer, got {value!r}")
    if console not in (False, True, "compact", "full"):
        raise ValueError(f"console= takes False, True, 'compact' or 'full', got {console!r}")
    if token is not None and (not isinstance(token, str) or len(token) < 8):
        raise ValueError("token= must be a string of at least 8 characters")
    if store is None:
        store = os.environ.get("GWINSPECT_STORE") or None
    # A lone string is one entry, not a sequence of one-character prefixes ("/" would exclude everything).
    if isinstance(exclude_paths, str):
        exclude_paths = (exclude_paths,)
    if isinstance(allow_hosts, str):
        allow_hosts = (allow_hosts,)
    patterns = normalize_patterns(redact)
    settings = Settings(
        path=path.rstrip("/"), store=open_store(store, max_traces), max_traces=max_traces,
        max_body=max_body, max_events=max_events, redact=patterns,
        allow_hosts=tuple(h.lower() for h in (allow_hosts or ())), token=token, console=console,
        exclude_paths=tuple(exclude_paths), validate=validate, strict=strict, panel=panel,
        redactor=Redactor(patterns),
    )
    if validate or strict:
        from .rules import install  # imported here: a bare `import gwinspect` stays light
        install(settings)
    if console:
        from .render.live import attach_console  # imported only when asked: it loads rich lazily
        attach_console(settings)
    return settings
