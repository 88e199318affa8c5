"""The panel's I/O-free handler: access rules, security headers, routes, ids, clear."""

from __future__ import annotations

import json
from typing import Any

import pytest

from gwinspect.model import Request, Response, Trace
from gwinspect.options import make_settings
from gwinspect.panel import PanelRequest, PanelResponse, handle
from gwinspect.panel_security import COOKIE_NAME, CSP, cookie_value
from gwinspect.store import MemoryStore

LOCAL = (("host", "127.0.0.1:8000"),)
TOKEN = "s3cr3t-token-value"


def make_trace(i: int = 0, path: str = "/hello", method: str = "GET", status: int = 200) -> Trace:
    return Trace(id=f"trace{i:011d}-abc", protocol="asgi", type="http", started_at="2026-01-01T00:00:00.000000Z",
                 state="complete", duration_ms=1.5, request=Request(method, path, "", "1.1", "http", "127.0.0.1:5",
                                                                   (("host", "localhost"),)),
                 response=Response(status, (("content-type", "text/plain"),), 2), environ=None, scope={},
                 events=())


def settings_with(n: int = 0, **options: Any) -> Any:
    settings = make_settings(**options)
    for i in range(n):
        settings.store.add_trace(make_trace(i, path=f"/p/{i}", method="POST" if i % 2 else "GET"))
    return settings


def call(settings: Any, path: str = "/__inspect__/api/traces", query: str = "", headers: Any = LOCAL,
         client: Any = "127.0.0.1", method: str = "GET", scheme: str = "http") -> PanelResponse:
    return handle(settings, PanelRequest(method, path, query, tuple(headers), client, scheme))


def header(response: PanelResponse, name: str) -> str | None:
    return next((v for k, v in response.headers if k.lower() == name.lower()), None)


def assert_secure(response: PanelResponse) -> None:
    assert header(response, "content-security-policy") == CSP
    assert "unsafe" not in CSP and "frame-ancestors 'none'" in CSP
    assert header(response, "x-content-type-options") == "nosniff"
    assert header(response, "referrer-policy") == "no-referrer"
    assert header(response, "cache-control") == "no-store"


@pytest.mark.parametrize("client", ["127.0.0.1", "127.8.9.10", "::1", "::ffff:127.0.0.1"])
@pytest.mark.parametrize("host", ["localhost", "localhost:8000", "127.0.0.1:1", "[::1]:8080", "[::1]",
                                  "app.localhost:5000", "LOCALHOST"])
def test_loopback_client_and_host_are_served(client: str, host: str) -> None:
    response = call(settings_with(1), headers=(("host", host),), client=client)
    assert response.status == 200, (client, host)
    assert json.loads(response.body)["total"] == 1


@pytest.mark.parametrize("client", ["10.0.0.5", "192.168.1.2", "2001:db8::1", "8.8.8.8", None, "", "garbage",
                                    "127.0.0.1:8000", "localhost", "127.0.0.1 ", "[::1]", "x" * 100, 12345])
def test_remote_and_malformed_clients_get_a_bare_404(client: Any) -> None:
    response = call(settings_with(1), client=client)
    assert response.status == 404
    assert b"gwinspect" not in response.body.lower() and b"trace" not in response.body.lower()
    assert_secure(response)


@pytest.mark.parametrize("headers", [
    (("host", "attacker.example"),), (("host", "attacker.example:8000"),), (("host", "127.0.0.1.evil.com"),),
    (), (("host", "localhost"), ("host", "evil.example")), (("host", "local host"),), (("host", "localhost:99999"),),
    (("host", "[::1"),), (("host", ""),), (("host", "localhost@evil.com"),)])
def test_foreign_missing_or_malformed_host_is_refused(headers: Any) -> None:
    assert call(settings_with(), headers=headers).status == 404


@pytest.mark.parametrize("proxy", ["forwarded", "x-forwarded-for", "x-real-ip", "x-forwarded-host", "via"])
@pytest.mark.parametrize("value", ["127.0.0.1", "203.0.113.9", "for=127.0.0.1"])
def test_any_proxy_header_makes_a_request_remote(proxy: str, value: str) -> None:
    response = call(settings_with(), headers=(*LOCAL, (proxy, value)))
    assert response.status == 404
    assert_secure(response)


def test_allow_hosts_widens_the_host_rule_only() -> None:
    settings = settings_with(allow_hosts=["myapp.test", "other.test:8443"])
    assert call(settings, headers=(("host", "MyApp.test:8000"),)).status == 200
    assert call(settings, headers=(("host", "other.test:8443"),)).status == 200
    assert call(settings, headers=(("host", "other.test:9999"),)).status == 404
    assert call(settings, headers=(("host", "myapp.test"),), client="10.1.2.3").status == 404


def test_token_in_the_authorization_header_opens_it_from_anywhere() -> None:
    settings = settings_with(1, token=TOKEN)
    remote = {"headers": (("host", "panel.example.com"), ("x-forwarded-for", "1.2.3.4")), "client": "10.9.8.7"}
    assert call(settings, **remote).status == 404
    ok = call(settings, headers=(*remote["headers"], ("authorization", f"Bearer {TOKEN}")), client="10.9.8.7")
    assert ok.status == 200
    for bad in (f"Bearer {TOKEN}x", f"Bearer {TOKEN[:-1]}", f"Basic {TOKEN}", "Bearer", TOKEN):
        assert call(settings, headers=(*remote["headers"], ("authorization", bad)), client="10.9.8.7").status == 404
    # once a token is set it is required from everyone, loopback included
    assert call(settings).status == 404


def test_one_time_query_token_sets_a_strict_cookie_and_redirects_without_it() -> None:
    settings = settings_with(1, token=TOKEN)
    response = call(settings, path="/__inspect__/", query=f"token={TOKEN}&q=post", client="10.0.0.1",
                    headers=(("host", "example.com"),), scheme="https")
    assert response.status == 303
    assert_secure(response)
    location = header(response, "location")
    assert location == "./?q=post" and TOKEN not in location
    cookie = header(response, "set-cookie") or ""
    assert cookie.startswith(f"{COOKIE_NAME}={cookie_value(TOKEN)};") and TOKEN not in cookie
    for flag in ("HttpOnly", "SameSite=Strict", "Path=/__inspect__", "Secure"):
        assert flag in cookie
    with_cookie = (("host", "example.com"), ("cookie", f"a=b; {COOKIE_NAME}={cookie_value(TOKEN)}"))
    assert call(settings, headers=with_cookie, client="10.0.0.1").status == 200
    forged = (("host", "example.com"), ("cookie", f"{COOKIE_NAME}={TOKEN}"))
    assert call(settings, headers=forged, client="10.0.0.1").status == 404
    assert call(settings, path="/__inspect__/", query="token=wrong", client="10.0.0.1").status == 404


def test_query_named_token_is_ordinary_without_a_configured_token() -> None:
    response = call(settings_with(1), query="token=anything")
    assert response.status == 200


def test_every_response_carries_the_security_headers() -> None:
    settings = settings_with(1)
    tid = make_trace(0).id
    cases = [("GET", "/__inspect__"), ("GET", "/__inspect__/"), ("GET", "/__inspect__/static/app.js"),
             ("GET", "/__inspect__/static/nope.js"), ("GET", "/__inspect__/api/traces"),
             ("GET", f"/__inspect__/api/traces/{tid}"), ("GET", f"/__inspect__/api/traces/{tid}.har"),
             ("GET", f"/__inspect__/api/traces/{tid}.curl"), ("GET", "/__inspect__/api/export"),
             ("GET", "/__inspect__/api/events"), ("GET", "/__inspect__/api/clear"), ("POST", "/__inspect__/api/clear"),
             ("GET", "/__inspect__/api/unknown"), ("DELETE", "/__inspect__/api/traces"), ("PUT", "/__inspect__/")]
    for method, path in cases:
        response = call(settings, path=path, method=method)
        assert_secure(response)
    assert_secure(call(settings, client="10.0.0.1"))


def test_page_redirect_and_assets() -> None:
    settings = settings_with()
    redirect = call(settings, path="/__inspect__")
    assert redirect.status == 308 and header(redirect, "location") == "__inspect__/"
    page = call(settings, path="/__inspect__/")
    assert page.status == 200 and header(page, "content-type") == "text/html; charset=utf-8"
    assert b"<script type=\"module\" src=\"static/app.js\"></script>" in page.body
    assert b"<style" not in page.body and b" style=" not in page.body and b"onclick" not in page.body
    js = call(settings, path="/__inspect__/static/app.js")
    assert js.status == 200 and header(js, "content-type", ).startswith("text/javascript")  # type: ignore[union-attr]
    for bad in ("../panel.py", "..%2fpanel.py", "APP.JS", "app.js/", "x/../app.js", "", "app.py"):
        assert call(settings, path="/__inspect__/static/" + bad).status == 404, bad
    moved = settings_with(path="/debug/panel")
    assert header(call(moved, path="/debug/panel"), "location") == "panel/"
    assert call(moved, path="/debug/panel/api/traces").status == 200
    head = call(settings, path="/__inspect__/", method="HEAD")
    assert head.status == 200 and head.body == b"" and int(header(head, "content-length") or 0) > 0


def test_static_javascript_never_writes_html() -> None:
    from importlib import resources
    for item in (resources.files("gwinspect") / "static").iterdir():
        text = item.read_text(encoding="utf-8")
        for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function",
                     "http://", "https://", "style=\"", "<style"):
            assert sink not in text or (item.name == "icon.svg" and sink == "http://"), (item.name, sink)


def test_list_api_pages_filters_and_validates() -> None:
    settings = settings_with(30)
    doc = json.loads(call(settings, query="limit=10&offset=5").body)
    assert doc["total"] == 30 and [t["path"] for t in doc["traces"]] == [f"/p/{i}" for i in range(24, 14, -1)]
    row = doc["traces"][0]
    assert set(row) >= {"id", "method", "path", "query_string", "status", "duration_ms", "started_at", "protocol",
                        "type", "state", "request_body_size", "response_body_size", "error", "violations"}
    doc = json.loads(call(settings, query="q=post&limit=3").body)
    assert doc["total"] == 15 and all(t["method"] == "POST" for t in doc["traces"]) and len(doc["traces"]) == 3
    assert json.loads(call(settings, query="limit=100000").body)["limit"] == 500
    for bad in ("limit=-1", "limit=x", "offset=1e3", "q=" + "a" * 600):
        assert call(settings, query=bad).status == 400, bad


@pytest.mark.parametrize("bad", ["short", "../../etc/passwd", "..%2f..%2fetc%2fpasswd", "a" * 65,
                                 "abc def ghi jkl mno", "trace00000000000-abc.json", "trace00000000000-abc.har.har",
                                 "%00" * 8, "<script>x</script>"])
def test_trace_ids_are_validated_before_any_lookup(bad: str) -> None:
    settings = settings_with(1)
    looked_up: list[str] = []
    real_get = settings.store.get
    settings.store.get = lambda tid: looked_up.append(tid) or real_get(tid)  # type: ignore[method-assign]
    response = call(settings, path="/__inspect__/api/traces/" + bad)
    assert response.status == 404 and looked_up == []
    assert_secure(response)


def test_detail_har_curl_and_downloads() -> None:
    settings = settings_with(1)
    trace = settings.store.get(make_trace(0).id)
    assert trace is not None
    detail = call(settings, path=f"/__inspect__/api/traces/{trace.id}")
    assert json.loads(detail.body) == trace.to_dict() and header(detail, "content-disposition") is None
    download = call(settings, path=f"/__inspect__/api/traces/{trace.id}", query="download=1")
    assert header(download, "content-disposition") == f'attachment; filename="gwinspect-{trace.id}.json"'
    har = json.loads(call(settings, path=f"/__inspect__/api/traces/{trace.id}.har").body)
    assert har["log"]["version"] == "1.2" and har["log"]["entries"][0]["request"]["url"] == "http://localhost/p/0"
    curl = call(settings, path=f"/__inspect__/api/traces/{trace.id}.curl")
    assert curl.body == b"curl http://localhost/p/0"
    assert call(settings, path="/__inspect__/api/traces/" + "x" * 16).status == 404
    export = call(settings, path="/__inspect__/api/export")
    assert json.loads(export.body)["format"] == "gwinspect/1"
    assert "attachment" in (header(export, "content-disposition") or "")


def test_clear_needs_post_and_same_origin_or_the_header_token() -> None:
    settings = settings_with(3)
    own = ("host", "127.0.0.1:8000")
    refused = [("GET", (own, ("origin", "http://127.0.0.1:8000"))), ("POST", (own,)),
               ("POST", (own, ("origin", "http://evil.example"))), ("POST", (own, ("origin", "http://127.0.0.1:8001"))),
               ("POST", (own, ("origin", "https://127.0.0.1:8000"))), ("POST", (own, ("origin", "null"))),
               ("POST", (own, ("sec-fetch-site", "cross-site"))),
               ("POST", (own, ("origin", "http://127.0.0.1:8000"), ("sec-fetch-site", "same-site")))]
    for method, headers in refused:
        response = call(settings, path="/__inspect__/api/clear", method=method, headers=headers)
        assert response.status in (403, 404, 405), (method, headers)  # 404: another site's page asked
        assert_secure(response)
    assert len(settings.store) == 3
    ok = call(settings, path="/__inspect__/api/clear", method="POST", headers=(own, ("origin", "http://127.0.0.1:8000")))
    assert ok.status == 200 and len(settings.store) == 0
    settings.store.add_trace(make_trace(1))
    ok = call(settings, path="/__inspect__/api/clear", method="POST", headers=(own, ("sec-fetch-site", "same-origin")))
    assert ok.status == 200 and len(settings.store) == 0
    default_port = call(settings, path="/__inspect__/api/clear", method="POST",
                        headers=(("host", "localhost"), ("origin", "http://localhost:80")))
    assert default_port.status == 200


def test_clear_with_token_cookie_still_needs_the_origin_but_header_token_does_not() -> None:
    settings = settings_with(2, token=TOKEN)
    cookie = ("cookie", f"{COOKIE_NAME}={cookie_value(TOKEN)}")
    host = ("host", "panel.example.com")
    assert call(settings, path="/__inspect__/api/clear", method="POST", headers=(host, cookie)).status == 403
    assert call(settings, path="/__inspect__/api/clear", method="POST",
                headers=(host, cookie, ("origin", "http://panel.example.com"))).status == 200
    settings.store.add_trace(make_trace(5))
    bearer = call(settings, path="/__inspect__/api/clear", method="POST",
                  headers=(host, ("authorization", f"Bearer {TOKEN}")), client="10.0.0.9")
    assert bearer.status == 200 and len(settings.store) == 0


def test_a_failing_store_gives_a_bare_500_with_headers() -> None:
    class Broken(MemoryStore):
        def list(self, *a: Any, **k: Any) -> Any:
            raise RuntimeError("disk gone")
    settings = make_settings(store=Broken(5))
    response = call(settings)
    assert response.status == 500 and b"disk" not in response.body
    assert_secure(response)


def test_event_feed_announces_new_and_updated_ids() -> None:
    settings = settings_with(2)
    response = call(settings, path="/__inspect__/api/events")
    assert response.status == 200 and header(response, "content-type") == "text/event-stream; charset=utf-8"
    assert_secure(response)
    feed = response.feed
    assert feed is not None
    opening = feed.opening().decode()
    assert opening.startswith("retry: ") and "event: hello" in opening and f"id: {settings.store.sequence}" in opening
    assert feed.poll() == b""
    settings.store.add_trace(make_trace(7))
    event = feed.poll().decode()
    assert "event: traces" in event and make_trace(7).id in event and make_trace(0).id not in event
    last = settings.store.sequence
    settings.store.clear()
    assert '"cleared":true' in feed.poll().decode()
    # a reconnecting browser sends Last-Event-ID: it hears at once that something changed
    again = call(settings, path="/__inspect__/api/events", headers=(*LOCAL, ("last-event-id", str(last))))
    assert again.feed is not None and "event: traces" in again.feed.opening().decode()
    current = str(settings.store.sequence)
    same = call(settings, path="/__inspect__/api/events", headers=(*LOCAL, ("last-event-id", current)))
    assert same.feed is not None and "event: hello" in same.feed.opening().decode()


def test_ten_thousand_traces_page_quickly() -> None:
    import time
    settings = settings_with(10_000, max_traces=10_000)
    started = time.perf_counter()
    for query in ("limit=50", "limit=50&offset=9950", "q=/p/99&limit=50", "q=post 2xx&limit=50&offset=100"):
        response = call(settings, query=query)
        assert response.status == 200
    assert json.loads(call(settings, query="q=/p/999").body)["total"] == 11
    assert time.perf_counter() - started < 2.0


@pytest.mark.parametrize("path", ["/__inspect__/", "/__inspect__/api/traces", "/__inspect__/api/export",
                                  "/__inspect__/static/app.js", "/__inspect__/api/events"])
def test_a_page_of_another_site_gets_no_panel_at_all(path: str) -> None:
    # Another site cannot read the answers, but it could time them (a search over the store takes
    # longer when it matches): it gets the plain 404, before any work.
    settings = settings_with(3)
    own = ("host", "127.0.0.1:8000")
    for extra in ((("sec-fetch-site", "cross-site"),), (("sec-fetch-site", "same-site"),),
                  (("origin", "http://evil.example"),), (("origin", "http://127.0.0.1:8001"),),
                  (("origin", "null"),)):
        response = call(settings, path=path, query="q=post", headers=(own, *extra))
        assert response.status == 404 and response.feed is None, extra
        assert_secure(response)
    for extra in ((), (("sec-fetch-site", "same-origin"),), (("sec-fetch-site", "none"),),
                  (("origin", "http://127.0.0.1:8000"), ("sec-fetch-site", "same-origin"))):
        assert call(settings, path=path, headers=(own, *extra)).status == 200, extra


def test_the_token_redirect_needs_the_right_token_and_stays_on_this_site() -> None:
    settings = settings_with(1, token=TOKEN)
    with_cookie = (("host", "example.com"), ("cookie", f"{COOKIE_NAME}={cookie_value(TOKEN)}"))
    # A wrong ?token= from someone holding the cookie: served, not redirected (no redirect to make).
    served = call(settings, path="/__inspect__/api/traces", query="token=wrong", headers=with_cookie)
    assert served.status == 200 and header(served, "location") is None
    # The path's own text never decides where the redirect goes, nor ends the header.
    for path, expected in (("/__inspect__/api/traces", "./traces"), ("/__inspect__", "./__inspect__"),
                           ("/__inspect__/\\\\evil.test", "./%5C%5Cevil.test"),
                           ("/__inspect__/x\r\nX-Injected: 1", "./x%0D%0AX-Injected%3A%201")):
        response = call(settings, path=path, query=f"token={TOKEN}", headers=(("host", "example.com"),))
        assert response.status == 303 and header(response, "location") == expected, path


@pytest.mark.parametrize("name", ["x-forwarded-port", "x-forwarded-prefix", "x-original-url"])
def test_more_proxy_headers_close_the_panel(name: str) -> None:
    assert call(settings_with(1), headers=(LOCAL[0], (name, "x"))).status == 404
