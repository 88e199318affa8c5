"""The panel at ``{path}``: one I/O-free request handler for the WSGI and the ASGI adapters.

``handle(settings, request) -> PanelResponse`` takes a :class:`PanelRequest`
(method, path, query, headers, client, ...) and returns status, headers and a
body -- or, for ``api/events``, an :class:`EventFeed` that the adapter streams.
The adapters (``panel_wsgi.py``, ``panel_asgi.py``) only translate; every rule
lives here and in ``panel_security.py``, so both stacks behave the same.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, quote, urlencode

from . import panel_api as api
from .panel_events import EventFeed
from .panel_security import COOKIE_NAME, SECURITY_HEADERS, check_access, cookie_value, cross_site, same_origin

if TYPE_CHECKING:
    from .options import Settings

logger = logging.getLogger("gwinspect")

_ASSET = re.compile(r"^[a-z0-9-]{1,40}\.(?:js|css|svg|html)$")
_TYPES = {"js": "text/javascript; charset=utf-8", "css": "text/css; charset=utf-8",
          "svg": "image/svg+xml", "html": "text/html; charset=utf-8"}
JSON = "application/json"
TEXT = "text/plain; charset=utf-8"


@dataclass(frozen=True, slots=True)
class PanelRequest:
    method: str
    path: str  # as the adapter matched it against settings.path (PATH_INFO or scope["path"])
    query: str = ""
    headers: tuple[tuple[str, str], ...] = ()  # lower-case names, text values
    client: str | None = None  # the peer's address, without the port
    scheme: str = "http"
    root: str = ""  # SCRIPT_NAME or root_path: where the app is mounted, for the cookie path
    body: bytes = b""


@dataclass(slots=True)
class PanelResponse:
    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    feed: EventFeed | None = None  # api/events: the adapter streams feed.opening(), then feed.poll()


def respond(status: int, body: bytes = b"", content_type: str = TEXT,
            extra: tuple[tuple[str, str], ...] = ()) -> PanelResponse:
    headers = [("Content-Type", content_type), ("Content-Length", str(len(body))), *SECURITY_HEADERS, *extra]
    return PanelResponse(status, headers, body)


def not_found() -> PanelResponse:
    """The answer to anyone not allowed in: a plain 404 that names nothing."""
    return respond(404, b"Not Found")


def json_response(value: object, status: int = 200, filename: str | None = None) -> PanelResponse:
    extra = (("Content-Disposition", f'attachment; filename="{filename}"'),) if filename else ()
    return respond(status, api.to_json(value), JSON, extra)


def api_error(status: int, message: str, extra: tuple[tuple[str, str], ...] = ()) -> PanelResponse:
    return respond(status, api.to_json({"error": message}), JSON, extra)


@lru_cache(maxsize=32)
def asset(name: str) -> bytes | None:
    if not _ASSET.match(name):
        return None
    try:
        return (resources.files("gwinspect") / "static" / name).read_bytes()
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        return None


def handle(settings: Settings, request: PanelRequest) -> PanelResponse:
    """Answer one panel request; never raises (a bug gives a bare 500, logged)."""
    try:
        response = _route(settings, request)
    except Exception:
        logger.warning("gwinspect panel failed on %s %s", request.method, request.path, exc_info=True)
        response = respond(500, b"Internal Server Error")
    if request.method == "HEAD":
        response.body = b""
        response.feed = None
    return response


def _route(settings: Settings, request: PanelRequest) -> PanelResponse:
    params = dict(parse_qsl(request.query, keep_blank_values=True, errors="replace"))
    query_token = params.pop("token", None) if settings.token is not None else None
    access = check_access(headers=request.headers, client=request.client, token=settings.token,
                          allow_hosts=settings.allow_hosts, query_token=query_token)
    if not access.allowed or cross_site(request.headers, request.scheme):
        return not_found()
    sub = request.path[len(settings.path):]
    if access.by_query:  # one-time ?token=: trade it for a cookie and drop it from the URL
        return _token_redirect(settings, request, sub, params)
    if sub in ("", "/", "/index.html") or sub.startswith("/static/"):
        if request.method not in ("GET", "HEAD"):
            return respond(405, b"Method Not Allowed", extra=(("Allow", "GET, HEAD"),))
        if sub == "":  # relative, so it stays right under any SCRIPT_NAME or root_path
            return respond(308, b"", extra=(("Location", settings.path.rsplit("/", 1)[-1] + "/"),))
        body = asset("index.html" if sub in ("/", "/index.html") else sub[len("/static/"):])
        if body is None:
            return not_found()
        name = "index.html" if sub in ("/", "/index.html") else sub
        return respond(200, body, _TYPES[name.rsplit(".", 1)[-1]])
    if sub == "/api/clear":
        return _clear(settings, request, access.by_token)
    if request.method not in ("GET", "HEAD"):
        return api_error(405, "method not allowed", (("Allow", "GET, HEAD"),))
    if sub == "/api/traces":
        return _list(settings, params)
    if sub.startswith("/api/traces/"):
        return _one(settings, sub[len("/api/traces/"):], params)
    if sub == "/api/export":
        query = params.get("q", "")[:api.MAX_QUERY]
        return respond(200, api.export_bundle(settings.store, query).encode("ascii"), JSON,
                       (("Content-Disposition", 'attachment; filename="gwinspect-traces.json"'),))
    if sub == "/api/events":
        last = next((v for k, v in request.headers if k == "last-event-id"), None)
        feed = EventFeed(settings.store, last, retry_ms=1000)
        return PanelResponse(200, [("Content-Type", "text/event-stream; charset=utf-8"),
                                   ("X-Accel-Buffering", "no"), *SECURITY_HEADERS], feed=feed)
    return api_error(404, "no such panel route")


def _token_redirect(settings: Settings, request: PanelRequest, sub: str, params: dict[str, str]) -> PanelResponse:
    # Relative to where the request went, and quoted: the path's own text must never make the
    # Location point elsewhere (a path decoded to a leading "\\" names another host to a browser) or end the header.
    last = (settings.path + sub).rsplit("/", 1)[-1]
    location = "./" + quote(last, safe="") + ("?" + urlencode(params) if params else "")
    cookie = (f"{COOKIE_NAME}={cookie_value(settings.token or '')}; Path={request.root + settings.path}; HttpOnly; "
              "SameSite=Strict" + ("; Secure" if request.scheme == "https" else ""))
    return respond(303, b"", extra=(("Location", location), ("Set-Cookie", cookie)))


def _clear(settings: Settings, request: PanelRequest, by_token: bool) -> PanelResponse:
    if request.method != "POST":
        return api_error(405, "clear needs POST", (("Allow", "POST"),))
    # A cookie rides along with cross-site requests; only the header token or the origin proves intent.
    if not by_token and not same_origin(request.headers, request.scheme):
        return api_error(403, "clear needs a same-origin request or the token")
    settings.store.clear()
    return json_response({"cleared": True, "total": settings.store.count()})


def _list(settings: Settings, params: dict[str, str]) -> PanelResponse:
    limit = api.int_param(params.get("limit"), 50, 1, api.MAX_LIMIT)
    offset = api.int_param(params.get("offset"), 0, 0, 10**9)
    if limit is None or offset is None:
        return api_error(400, "limit and offset take non-negative integers")
    query = params.get("q", "")
    if len(query) > api.MAX_QUERY:
        return api_error(400, f"q is limited to {api.MAX_QUERY} characters")
    return json_response(api.list_traces(settings.store, limit, offset, query))


def _one(settings: Settings, name: str, params: dict[str, str]) -> PanelResponse:
    trace_id, dot, ext = name.partition(".")
    if not api.TRACE_ID.match(trace_id) or (dot and ext not in ("har", "curl")):
        return api_error(404, "no such trace")
    trace = settings.store.get(trace_id)
    if trace is None:
        return api_error(404, "no such trace")
    download = params.get("download") == "1"
    if ext == "curl":
        return respond(200, api.curl_command(trace).encode("utf-8"), TEXT)
    if ext == "har":
        from .serialize_har import to_har
        return json_response(to_har([trace]), filename=f"{trace_id}.har" if download else None)
    return json_response(trace.to_dict(), filename=f"gwinspect-{trace_id}.json" if download else None)
