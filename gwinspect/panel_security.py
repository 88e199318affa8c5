"""Who may see the panel, and the headers every panel response carries.

The panel shows everything the app received, so it is closed unless the
request is plainly local: a loopback client address, a loopback Host name (a
DNS-rebinding page carries its own Host), and no proxy header (behind a reverse
proxy on the same host every client looks like 127.0.0.1). ``token=`` opens it
on purpose -- and, once set, is required from everyone. Anything that cannot be
parsed fails closed.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import re
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

# Trusted Types (Chromium): even a slip that hands a string to innerHTML or eval would throw.
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "base-uri 'none'; form-action 'none'; frame-ancestors 'none'; require-trusted-types-for 'script'; "
       "trusted-types 'none'")

SECURITY_HEADERS: tuple[tuple[str, str], ...] = (
    ("Content-Security-Policy", CSP),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "no-referrer"),
    ("Cache-Control", "no-store"),
    ("X-Frame-Options", "DENY"),
    ("Cross-Origin-Opener-Policy", "same-origin"),
    ("Cross-Origin-Resource-Policy", "same-origin"),
)

# Headers a proxy adds; their presence means "not a direct local client", whatever they say.
PROXY_HEADERS = frozenset({
    "forwarded", "x-forwarded-for", "x-real-ip", "x-forwarded-host", "x-forwarded-proto",
    "x-forwarded-server", "x-original-forwarded-for", "true-client-ip", "cf-connecting-ip",
    "x-client-ip", "x-cluster-client-ip", "fastly-client-ip", "via", "x-forwarded-port",
    "x-forwarded-prefix", "x-forwarded-scheme", "x-forwarded-ssl", "x-original-url", "x-original-host",
})

COOKIE_NAME = "gwinspect_panel"
_HOST = re.compile(r"^(?:\[(?P<v6>[0-9a-fA-F:.]+)\]|(?P<name>[A-Za-z0-9._-]+))(?::(?P<port>\d{1,5}))?$")

Headers = Sequence[tuple[str, str]]


@dataclass(frozen=True, slots=True)
class Access:
    allowed: bool
    by_token: bool = False  # the token came in a header (not a cookie): may also clear without Origin
    by_query: bool = False  # the token came as ?token= (traded for a cookie by a redirect)


def header_values(headers: Headers, name: str) -> list[str]:
    return [v for k, v in headers if k == name]


def is_loopback_client(client: object) -> bool:
    if not isinstance(client, str) or not client or len(client) > 64:
        return False
    try:
        addr = ipaddress.ip_address(client.split("%", 1)[0])
    except ValueError:
        return False
    mapped = getattr(addr, "ipv4_mapped", None)
    return bool((mapped or addr).is_loopback)


def split_host(host: str) -> tuple[str, int | None] | None:
    """``name[:port]`` or ``[v6][:port]`` -> (lower-case name, port); None when malformed."""
    m = _HOST.match(host.strip())
    if not m:
        return None
    port = int(m["port"]) if m["port"] else None
    if port is not None and not 0 < port < 65536:
        return None
    if m["v6"]:
        return "[" + m["v6"].lower() + "]", port
    return m["name"].lower().rstrip("."), port


def is_loopback_name(name: str) -> bool:
    if name == "localhost" or name.endswith(".localhost"):
        return True  # RFC 6761: browsers resolve these to loopback themselves
    try:
        return ipaddress.ip_address(name.strip("[]")).is_loopback
    except ValueError:
        return False


def host_allowed(headers: Headers, allow_hosts: Sequence[str]) -> bool:
    hosts = header_values(headers, "host")
    if len(hosts) != 1:
        return False
    parsed = split_host(hosts[0])
    if parsed is None:
        return False
    name, port = parsed
    if is_loopback_name(name):
        return True
    return name in allow_hosts or (port is not None and f"{name}:{port}" in allow_hosts)


def cookie_value(token: str) -> str:
    """What the cookie holds: derived from the token, so the cookie is not the token itself."""
    return hmac.new(token.encode("utf-8"), b"gwinspect panel cookie", hashlib.sha256).hexdigest()


def read_cookie(headers: Headers, name: str) -> str | None:
    for raw in header_values(headers, "cookie"):
        for part in raw.split(";"):
            key, sep, value = part.strip().partition("=")
            if sep and key == name:
                return value.strip()
    return None


def bearer_token(headers: Headers) -> str | None:
    values = header_values(headers, "authorization")
    if len(values) != 1:
        return None
    scheme, _, value = values[0].strip().partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode("utf-8", "surrogatepass"), b.encode("utf-8", "surrogatepass"))


def check_access(*, headers: Headers, client: object, token: str | None, allow_hosts: Sequence[str],
                 query_token: str | None = None) -> Access:
    """The access rule, in one place. ``query_token`` is a ``?token=`` value (checked like the header)."""
    if token is not None:
        given = bearer_token(headers)
        if given is not None and same(given, token):
            return Access(True, by_token=True)
        if query_token is not None and same(query_token, token):
            return Access(True, by_query=True)
        cookie = read_cookie(headers, COOKIE_NAME)
        return Access(cookie is not None and same(cookie, cookie_value(token)))
    if any(name in PROXY_HEADERS for name, _ in headers):
        return Access(False)
    return Access(is_loopback_client(client) and host_allowed(headers, allow_hosts))


def cross_site(headers: Headers, scheme: str) -> bool:
    """A browser says a page of another origin made this request (``Sec-Fetch-Site`` other than
    ``same-origin`` or ``none``, which a typed URL or bookmark gets, or a foreign ``Origin``).

    Such requests are answered as if there were no panel, before any work: another site could
    not read the answers, but it could time them (how long a search of the store takes tells
    whether it matched). Clients other than browsers send neither header.
    """
    sites = header_values(headers, "sec-fetch-site")
    if any(site not in ("same-origin", "none") for site in sites):
        return True
    return bool(header_values(headers, "origin")) and not same_origin(headers, scheme)


def _origin_tuple(scheme: str, host: str, port: int | None) -> tuple[str, str, int]:
    return scheme, host, port if port is not None else (443 if scheme == "https" else 80)


def same_origin(headers: Headers, scheme: str) -> bool:
    """For state changes: the browser says the request comes from a page of this very origin."""
    origins = header_values(headers, "origin")
    fetch_site = header_values(headers, "sec-fetch-site")
    if len(origins) > 1 or len(fetch_site) > 1:
        return False
    if fetch_site and fetch_site[0] != "same-origin":
        return False
    if not origins:
        return bool(fetch_site)  # a browser that sends Sec-Fetch-Site: same-origin but no Origin
    hosts = header_values(headers, "host")
    if len(hosts) != 1 or origins[0] == "null":
        return False
    own = split_host(hosts[0])
    try:
        url = urlsplit(origins[0])
        theirs = (url.scheme, (url.hostname or "").lower(), url.port)
    except ValueError:
        return False
    if own is None or not theirs[1]:
        return False
    if ":" in theirs[1]:
        theirs = (theirs[0], "[" + theirs[1] + "]", theirs[2])
    return _origin_tuple(*theirs) == _origin_tuple(scheme, *own)
