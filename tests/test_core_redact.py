"""Redaction: on by default in every output, configurable, and impossible to turn off by accident."""

from __future__ import annotations

import json
from typing import Any

import pytest

import gwinspect
from tests.apps_core import (
    blob_bytes,
    events,
    http_scope,
    make_environ,
    messages,
    only_trace,
    request_messages,
    run_asgi,
    run_wsgi,
)

SECRETS = ("Basic-QUxBRERJTjpvcGVu", "COOKIE-SECRET", "SETCOOKIE-SECRET", "APIKEY-SECRET", "PROXY-SECRET",
           "TOKEN-HEADER-SECRET", "PASSWORD-HEADER-SECRET", "CLIENT-SECRET-VALUE", "QUERY-TOKEN-SECRET",
           "QUERY-PASSWORD-SECRET", "QUERY-APIKEY-SECRET", "TRAILER-SECRET", "WS-ACCEPT-SECRET")

REQUEST_HEADERS = {
    "Authorization": "Basic-QUxBRERJTjpvcGVu", "Cookie": "sid=COOKIE-SECRET", "X-Api-Key": "APIKEY-SECRET",
    "Proxy-Authorization": "PROXY-SECRET", "X-Auth-Token": "TOKEN-HEADER-SECRET",
    "X-Password": "PASSWORD-HEADER-SECRET", "X-Client-Secret": "CLIENT-SECRET-VALUE", "X-Plain": "visible-value",
}
QUERY = "page=2&access_token=QUERY-TOKEN-SECRET&password=QUERY-PASSWORD-SECRET&x_api_key=QUERY-APIKEY-SECRET"


def outputs(inspector: Any) -> list[str]:
    """Every serialised form of the inspector's traces."""
    traces = inspector.store.list()
    return [gwinspect.dumps(traces), gwinspect.dumps(traces[0], indent=2), json.dumps([t.to_dict() for t in traces]),
            repr(traces), gwinspect.dumps(gwinspect.loads(gwinspect.dumps(traces)))]


def assert_no_secrets(inspector: Any) -> None:
    for text in outputs(inspector):
        leaked = [s for s in SECRETS if s in text]
        assert not leaked, f"leaked {leaked}"
        assert "visible-value" in text and "[redacted]" in text


def wsgi_app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain"), ("Set-Cookie", "sid=SETCOOKIE-SECRET"),
                              ("X-Plain", "visible-value")])
    return [b"ok"]


def test_wsgi_default_redaction_everywhere() -> None:
    w = gwinspect.wrap(wsgi_app)
    env = make_environ(path="/p", query=QUERY, headers=REQUEST_HEADERS, REQUEST_URI="/p?" + QUERY,
                       RAW_URI="/p?" + QUERY)
    run_wsgi(w, env)
    assert env["HTTP_AUTHORIZATION"] == "Basic-QUxBRERJTjpvcGVu"  # the app's environ is not touched
    assert_no_secrets(w)
    d = only_trace(w)
    req = dict(map(tuple, d["request"]["headers"]))
    assert req["authorization"] == "[redacted]" and req["cookie"] == "[redacted]" and req["x-plain"] == "visible-value"
    assert d["environ"]["HTTP_AUTHORIZATION"] == "[redacted]" and d["environ"]["HTTP_X_API_KEY"] == "[redacted]"
    assert d["environ"]["HTTP_X_PLAIN"] == "visible-value"
    assert d["request"]["query_string"] == \
        "page=2&access_token=[redacted]&password=[redacted]&x_api_key=[redacted]"
    assert d["environ"]["QUERY_STRING"] == d["request"]["query_string"]
    [sr] = events(d, "start_response")
    assert ["Set-Cookie", "[redacted]"] in sr["headers"] and ["X-Plain", "visible-value"] in sr["headers"]
    assert ["Set-Cookie", "[redacted]"] in d["response"]["headers"]


def test_wsgi_header_pairs_given_as_lists_are_redacted_too() -> None:
    # wsgiref and gunicorn accept [name, value] lists as pairs: their values must not leak either.
    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        start_response("200 OK", [["Set-Cookie", "sid=SETCOOKIE-SECRET"], ["X-Plain", "visible-value"]])
        return [b""]
    w = gwinspect.wrap(app)
    run_wsgi(w, make_environ())
    text = gwinspect.dumps(w.store.list())
    assert "SETCOOKIE-SECRET" not in text and "visible-value" in text


def test_asgi_default_redaction_in_scope_messages_and_summaries() -> None:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "http.response.start", "status": 200, "trailers": True,
                    "headers": [(b"set-cookie", b"sid=SETCOOKIE-SECRET"), (b"x-plain", b"visible-value")]})
        await send({"type": "http.response.body", "body": b"ok"})
        await send({"type": "http.response.trailers", "headers": [(b"x-secret-trailer", b"TRAILER-SECRET")]})
    w = gwinspect.wrap(app)
    headers = [(k.encode(), v.encode()) for k, v in REQUEST_HEADERS.items()]
    run_asgi(w, http_scope("/p", query=QUERY.encode(), headers=headers), request_messages())
    assert_no_secrets(w)
    d = only_trace(w)
    scope_headers = {blob_bytes(k): blob_bytes(v) for k, v in d["scope"]["headers"]}
    assert scope_headers[b"Authorization"] == b"[redacted]" and scope_headers[b"X-Plain"] == b"visible-value"
    assert blob_bytes(d["scope"]["query_string"]).startswith(b"page=2&access_token=[redacted]")
    start = messages(d, "send")[0]
    assert [blob_bytes(v) for k, v in start["headers"]] == [b"[redacted]", b"visible-value"]
    assert ["set-cookie", "[redacted]"] in d["response"]["headers"]


def test_websocket_accept_headers_are_redacted() -> None:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "websocket.accept", "headers": [(b"set-cookie", b"WS-ACCEPT-SECRET"),
                                                             (b"x-plain", b"visible-value")]})
        await send({"type": "websocket.close"})
    w = gwinspect.wrap(app)
    run_asgi(w, http_scope("/ws", type_="websocket", headers=[(b"cookie", b"sid=COOKIE-SECRET")]),
             [{"type": "websocket.connect"}])
    text = gwinspect.dumps(w.store.list())
    assert "WS-ACCEPT-SECRET" not in text and "COOKIE-SECRET" not in text and "visible-value" in text


def test_extra_names_are_redacted_and_defaults_kept() -> None:
    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        start_response("200 OK", [("X-Internal-Id", "INTERNAL-42")])
        return [b""]
    w = gwinspect.wrap(app, redact=(*gwinspect.DEFAULT_REDACT, "x-internal-id", "*session*"))
    run_wsgi(w, make_environ(query="sessionid=SESS-1", headers={"X-Internal-Id": "INTERNAL-42",
                                                                "Authorization": "Basic-QUxBRERJTjpvcGVu"}))
    text = gwinspect.dumps(w.store.list())
    assert "INTERNAL-42" not in text and "SESS-1" not in text and "Basic-QUxBRERJTjpvcGVu" not in text
    assert "x-internal-id" in text.lower()  # the name stays, only the value goes


def test_redact_none_means_default() -> None:
    w = gwinspect.wrap(wsgi_app, redact=None)
    run_wsgi(w, make_environ(headers=REQUEST_HEADERS, query=QUERY))
    assert w.settings.redact == gwinspect.DEFAULT_REDACT
    assert_no_secrets(w)


@pytest.mark.parametrize("off", [(), []])
def test_only_an_explicit_empty_collection_turns_redaction_off(off: Any) -> None:
    w = gwinspect.wrap(wsgi_app, redact=off)
    run_wsgi(w, make_environ(headers=REQUEST_HEADERS, query=QUERY))
    text = gwinspect.dumps(w.store.list())
    assert "Basic-QUxBRERJTjpvcGVu" in text and "SETCOOKIE-SECRET" in text and "QUERY-TOKEN-SECRET" in text


@pytest.mark.parametrize("bad", [False, True, "", " ", 0, ("",), ("*",), ("**",), ["authorization", ""]],
                         ids=repr)
def test_configurations_that_would_silently_disable_redaction_are_errors(bad: Any) -> None:
    with pytest.raises((TypeError, ValueError)):
        gwinspect.wrap(wsgi_app, redact=bad)


def test_query_in_request_uri_is_redacted_when_the_secret_comes_first() -> None:
    w = gwinspect.wrap(wsgi_app)
    query = "x_api_key=QUERY-APIKEY-SECRET&authorization=QUERY-TOKEN-SECRET&page=2"
    run_wsgi(w, make_environ(path="/p", query=query, REQUEST_URI="/p?" + query, RAW_URI="/p?" + query))
    d = only_trace(w)
    text = gwinspect.dumps(w.store.list())
    assert "QUERY-APIKEY-SECRET" not in text and "QUERY-TOKEN-SECRET" not in text
    assert d["environ"]["REQUEST_URI"] == "/p?x_api_key=[redacted]&authorization=[redacted]&page=2"


@pytest.mark.parametrize("headers", [
    (("Set-Cookie", "sid=SETCOOKIE-SECRET"), ("X-Plain", "visible-value")),  # a tuple: gunicorn accepts it
    [("Set-Cookie", "sid=SETCOOKIE-SECRET"), ("X-Plain", "visible-value"), ("X-Broken",)],  # one bad pair
    [(b"Set-Cookie", b"sid=SETCOOKIE-SECRET"), ("X-Plain", "visible-value")],  # bytes, not native strings
    [("Set-Cookie", "sid=SETCOOKIE-SECRET", "extra"), ("X-Plain", "visible-value")],  # a triple
], ids=["tuple", "one-malformed-pair", "bytes-name", "triple"])
def test_malformed_start_response_headers_never_leak(headers: Any) -> None:
    """A header list that breaks the protocol is recorded for the rules, but its secrets still are not."""
    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        start_response("200 OK", headers)
        return [b""]
    w = gwinspect.wrap(app)
    run_wsgi(w, make_environ())
    text = gwinspect.dumps(w.store.list())
    assert "SETCOOKIE-SECRET" not in text and "visible-value" in text
    assert not w.store.list()[0].partial


@pytest.mark.parametrize("headers", [
    ((b"set-cookie", b"sid=SETCOOKIE-SECRET"), (b"x-plain", b"visible-value")),
    [(b"set-cookie", b"sid=SETCOOKIE-SECRET"), (b"x-plain", b"visible-value"), (b"x-broken",)],
    [("set-cookie", "sid=SETCOOKIE-SECRET"), (b"x-plain", b"visible-value")],
    [(b"Set-Cookie", b"sid=SETCOOKIE-SECRET", b"extra"), (b"x-plain", b"visible-value")],
], ids=["tuple", "one-malformed-pair", "str-pairs", "triple"])
def test_malformed_asgi_headers_never_leak(headers: Any) -> None:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b""})
    w = gwinspect.wrap(app)
    run_asgi(w, http_scope(headers=list(headers)), request_messages())
    text = gwinspect.dumps(w.store.list())
    assert "SETCOOKIE-SECRET" not in text and "visible-value" in text


def test_environ_secrets_redacted_whatever_their_type() -> None:
    w = gwinspect.wrap(wsgi_app)
    run_wsgi(w, make_environ(HTTP_AUTHORIZATION=b"Basic-QUxBRERJTjpvcGVu", HTTP_X_PLAIN="visible-value",
                             HTTP_COOKIE=["sid=COOKIE-SECRET"], SECRET_KEY="CLIENT-SECRET-VALUE"))
    assert_no_secrets(w)
    d = only_trace(w)
    assert d["environ"]["HTTP_AUTHORIZATION"] == "[redacted]" and d["environ"]["SECRET_KEY"] == "[redacted]"


# ---------------------------------------------------------------- credentials inside recorded text


def test_a_servers_process_environment_copied_into_the_environ_is_not_recorded(monkeypatch: pytest.MonkeyPatch) -> None:
    # wsgiref and Django's runserver copy os.environ into every request's environ.
    import io
    from wsgiref.handlers import SimpleHandler
    monkeypatch.setenv("DATABASE_URL", "postgres://app:PROCESS-SECRET@db/app")
    monkeypatch.setenv("SERVER_NAME", "not-this-one")  # a CGI variable is the request's, whatever the process has
    w = gwinspect.wrap(wsgi_app)
    SimpleHandler(io.BytesIO(), io.BytesIO(), io.StringIO(),
                  {"REQUEST_METHOD": "GET", "PATH_INFO": "/", "SERVER_NAME": "localhost", "SERVER_PORT": "80",
                   "SERVER_PROTOCOL": "HTTP/1.1", "DATABASE_URL": "postgres://app:PROCESS-SECRET@db/app",
                   "PLAIN_VAR": "per-request"}).run(w)
    d = only_trace(w)
    assert d["environ"]["DATABASE_URL"] == "[redacted]"
    assert d["environ"]["SERVER_NAME"] == "localhost" and d["environ"]["PLAIN_VAR"] == "per-request"
    assert "PROCESS-SECRET" not in gwinspect.dumps(w.store.list())


def test_credentials_inside_urls_reprs_and_messages_are_redacted() -> None:
    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        environ["test.repr"] = "unused"
        start_response("302 Found", [("Location", "/done?session_token=LOCATION-SECRET&step=2"),
                                     ("X-Plain", "visible-value")])
        return [b""]
    w = gwinspect.wrap(app)
    env = make_environ(path="/next", headers={"Referer": "http://localhost/reset?token=REFERER-SECRET&x=1",
                                              "X-Session-Id": "SESSION-SECRET", "X-Plain": "visible-value"},
                       **{"x.request": "<Request 'http://localhost/reset?password=REPR-SECRET' [GET]>",
                          "x.dsn": "postgres://app:DSN-SECRET@db/app", "x.query": "api_key=APIKEY-SECRET"})
    run_wsgi(w, env)
    text = gwinspect.dumps(w.store.list())
    for secret in ("LOCATION-SECRET", "REFERER-SECRET", "SESSION-SECRET", "REPR-SECRET", "DSN-SECRET", "APIKEY-SECRET"):
        assert secret not in text, secret
    d = only_trace(w)
    req = dict(map(tuple, d["request"]["headers"]))
    assert req["referer"] == "http://localhost/reset?token=[redacted]&x=1" and req["x-session-id"] == "[redacted]"
    assert dict(map(tuple, d["response"]["headers"]))["Location"] == "/done?session_token=[redacted]&step=2"
    assert d["environ"]["x.dsn"] == "postgres://app:[redacted]@db/app"
    assert "visible-value" in text and "step=2" in text and "x=1" in text


def test_lifespan_state_template_contexts_and_error_messages_are_redacted() -> None:
    class Settings:
        def __repr__(self) -> str:
            return "Settings(database_url='postgres://app:STATE-DSN-SECRET@db/app')"

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "http.response.debug", "info": {"template": "x.html",
                                                             "context": {"csrf_token": "CONTEXT-SECRET", "n": 1}}})
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})
        raise RuntimeError("upstream said no to https://api.example/v1?access_token=ERROR-SECRET")
    w = gwinspect.wrap(app)
    scope = http_scope("/p")
    scope["state"] = {"db_password": "STATE-SECRET", "settings": Settings(), "plain": "visible-value"}
    scope["raw_path"] = b"/p?token=RAWPATH-SECRET"  # a server that leaves the query in raw_path
    run_asgi(w, scope, request_messages())
    text = gwinspect.dumps(w.store.list())
    for secret in ("STATE-SECRET", "STATE-DSN-SECRET", "CONTEXT-SECRET", "ERROR-SECRET", "RAWPATH-SECRET"):
        assert secret not in text, secret
    d = only_trace(w)
    assert d["scope"]["state"]["db_password"] == "[redacted]" and d["scope"]["state"]["plain"] == "visible-value"
    assert "access_token=[redacted]" in d["error"]["message"] and "access_token=[redacted]" in d["error"]["traceback"]


# ---------------------------------------------------------------- bodies


def test_secret_fields_of_form_json_and_multipart_bodies_are_masked_across_pieces() -> None:
    form = b"user=bob&password=FORM-SECRET&remember=1"
    chunks = [b'{"user": "bob", "access_to', b'ken": "JSON-SECRET", "pin": 1234, "apiKey": "KEY-SECRET"}']

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        stream = environ["wsgi.input"]
        while stream.read(7):  # pieces of 7 bytes: the secret straddles several
            pass
        start_response("200 OK", [("Content-Type", "application/json")])
        return chunks
    w = gwinspect.wrap(app)
    run_wsgi(w, make_environ("POST", body=form, headers={"Content-Type": "application/x-www-form-urlencoded"}))
    d = only_trace(w)
    sent = b"".join(blob_bytes(e["data"]) for e in events(d, "input"))
    assert sent == b"user=bob&password=" + b"*" * len("FORM-SECRET") + b"&remember=1"
    body = b"".join(blob_bytes(e["data"]) for e in events(d, "chunk"))
    assert body == b'{"user": "bob", "access_token": "' + b"*" * 11 + b'", "pin": 1234, "apiKey": "' + b"*" * 10 + b'"}'
    assert [len(blob_bytes(e["data"])) for e in events(d, "chunk")] == [len(c) for c in chunks]  # pieces as sent
    text = gwinspect.dumps(w.store.list())
    assert "SECRET" not in text and "bob" in text

    multipart = (b'--XX\r\nContent-Disposition: form-data; name="user"\r\n\r\nbob\r\n'
                 b'--XX\r\nContent-Disposition: form-data; name="password"\r\n\r\nPART-SECRET\r\n--XX--\r\n')

    async def asgi_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        while (await receive()).get("more_body"):
            pass
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": b"password=PLAIN-TEXT-SHOWN"})
    a = gwinspect.wrap(asgi_app)
    scope = http_scope("/up", method="POST")
    scope["headers"] = [(b"content-type", b"multipart/form-data; boundary=XX")]
    run_asgi(a, scope, request_messages(multipart[:60], multipart[60:]))
    text = gwinspect.dumps(a.store.list())
    assert "PART-SECRET" not in text and "bob" in text and "*" * 11 in text
    assert "PLAIN-TEXT-SHOWN" in text  # a text/plain body is recorded as sent
