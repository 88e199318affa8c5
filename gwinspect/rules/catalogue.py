"""The rule catalogue, as data: one :class:`Rule` per protocol requirement gwinspect checks.

Ids are stable (they appear in dumps, in CI logs and in ``docs/rules.md``): a
rule may be reworded or re-graded, never renumbered. Severity says how sure
and how serious: ``error`` breaks the spec and real servers or clients
misbehave; ``warning`` breaks a "should" or works only by the server's
goodwill; ``info`` is worth knowing but often harmless.
"""

from __future__ import annotations

from dataclasses import dataclass

PEP3333 = "https://peps.python.org/pep-3333/"
ASGI_MAIN = "https://asgi.readthedocs.io/en/latest/specs/main.html"
ASGI_WWW = "https://asgi.readthedocs.io/en/latest/specs/www.html"
ASGI_LIFESPAN = "https://asgi.readthedocs.io/en/latest/specs/lifespan.html"
ASGI_EXTENSIONS = "https://asgi.readthedocs.io/en/latest/extensions.html"
RFC9110 = "https://www.rfc-editor.org/rfc/rfc9110"
RFC6455 = "https://www.rfc-editor.org/rfc/rfc6455"

SEVERITIES = ("error", "warning", "info")


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    severity: str  # "error" | "warning" | "info"
    summary: str  # one line: what is wrong
    hint: str  # one or two sentences: how to fix it
    spec: str  # the section the rule comes from
    url: str

    @property
    def protocol(self) -> str:
        return "wsgi" if self.id.startswith("WSGI-") else "asgi"

    def to_dict(self) -> dict[str, str]:
        return {"id": self.id, "severity": self.severity, "summary": self.summary, "hint": self.hint,
                "spec": self.spec, "url": self.url}


def _r(id: str, severity: str, summary: str, hint: str, spec: str, url: str) -> Rule:
    return Rule(id, severity, summary, hint, spec, url)


RULES: tuple[Rule, ...] = (
    # ---- WSGI (PEP 3333) ------------------------------------------------
    _r("WSGI-START-001", "error", "start_response() was never called",
       "Call start_response(status, headers) before returning or yielding the body.",
       "PEP 3333, The start_response() Callable", PEP3333 + "#the-start-response-callable"),
    _r("WSGI-START-002", "error", "start_response() called again without exc_info",
       "Call start_response() once; a second call is only allowed from an error handler, with exc_info.",
       "PEP 3333, The start_response() Callable", PEP3333 + "#the-start-response-callable"),
    _r("WSGI-START-003", "error", "start_response() called after the headers were sent, without exc_info",
       "Once body bytes are out the status cannot change: pass exc_info so the server re-raises the error.",
       "PEP 3333, Error Handling", PEP3333 + "#error-handling"),
    _r("WSGI-STATUS-001", "error", "status is not a native string",
       "Pass the status as a str such as '200 OK', not bytes or an int.",
       "PEP 3333, The start_response() Callable", PEP3333 + "#the-start-response-callable"),
    _r("WSGI-STATUS-002", "error", "status is not three digits, a space and a reason phrase",
       "Use the form '404 Not Found': a three-digit code from 100 to 599, one space, no control characters.",
       "PEP 3333, The start_response() Callable", PEP3333 + "#the-start-response-callable"),
    _r("WSGI-STATUS-003", "warning", "status has no reason phrase",
       "Add the reason phrase ('200 OK', not '200'); some servers and clients reject a bare code.",
       "PEP 3333, The start_response() Callable", PEP3333 + "#the-start-response-callable"),
    _r("WSGI-HDR-001", "error", "response headers are not a list of (name, value) tuples",
       "Pass a list of 2-tuples of str: [('Content-Type', 'text/plain')].",
       "PEP 3333, The start_response() Callable", PEP3333 + "#the-start-response-callable"),
    _r("WSGI-HDR-002", "error", "a response header name or value is not a native string",
       "Header names and values must be str (bytes are not allowed in Python 3 WSGI).",
       "PEP 3333, Unicode Issues", PEP3333 + "#unicode-issues"),
    _r("WSGI-HDR-003", "error", "a response header name or value is not latin-1",
       "Native strings may hold only code points up to U+00FF; encode other text (RFC 8187, percent-encoding).",
       "PEP 3333, Unicode Issues", PEP3333 + "#unicode-issues"),
    _r("WSGI-HDR-004", "error", "a response header name is not a valid HTTP token",
       "Header names are non-empty and made of token characters: no spaces, colons or control characters.",
       "RFC 9110, Field Names", RFC9110 + "#name-field-names"),
    _r("WSGI-HDR-005", "error", "a response header value contains control characters",
       "CR, LF and other control characters (except tab) in a value can split the response: strip them.",
       "PEP 3333, The start_response() Callable", PEP3333 + "#the-start-response-callable"),
    _r("WSGI-HDR-006", "error", "a hop-by-hop header was set by the application",
       "Connection, Keep-Alive, Transfer-Encoding, Upgrade, TE, Trailer and Proxy-* belong to the server.",
       "PEP 3333, Other HTTP Features", PEP3333 + "#other-http-features"),
    _r("WSGI-HDR-007", "error", "Content-Length is not a non-negative integer",
       "Send Content-Length as decimal digits only, once, or leave it out.",
       "PEP 3333, Handling the Content-Length Header", PEP3333 + "#handling-the-content-length-header"),
    _r("WSGI-WRITE-001", "error", "write() was called with something that is not bytes",
       "Encode text before writing it: write(text.encode('utf-8')).",
       "PEP 3333, The write() Callable", PEP3333 + "#the-write-callable"),
    _r("WSGI-WRITE-002", "error", "body bytes were sent before start_response() was called",
       "Call start_response() before the first write() or the first non-empty item of the iterable.",
       "PEP 3333, Buffering and Streaming", PEP3333 + "#buffering-and-streaming"),
    _r("WSGI-ITER-001", "error", "the response iterable yielded something that is not bytes",
       "Yield bytes; returning a str or bytes object itself iterates it item by item, so wrap it in a list.",
       "PEP 3333, Specification Details", PEP3333 + "#specification-details"),
    _r("WSGI-CLOSE-001", "info", "the server never called close() on the response iterable",
       "Servers must call close() when done; without it generators' finally blocks and cleanups never run.",
       "PEP 3333, Specification Details", PEP3333 + "#specification-details"),
    _r("WSGI-LEN-001", "error", "Content-Length does not match the body sent",
       "Compute Content-Length from the exact bytes sent, or leave it out and let the server frame the body.",
       "PEP 3333, Handling the Content-Length Header", PEP3333 + "#handling-the-content-length-header"),
    _r("WSGI-BODY-001", "error", "a body was sent with a 1xx, 204 or 304 status",
       "These statuses never carry content; send no body bytes with them.",
       "RFC 9110, Message Body Length", RFC9110 + "#section-6.4.1"),
    _r("WSGI-BODY-002", "info", "a body was sent in response to HEAD",
       "The server discards it, but producing it costs time: return no body for HEAD.",
       "RFC 9110, HEAD", RFC9110 + "#name-head"),
    _r("WSGI-INPUT-001", "error", "the application read wsgi.input past CONTENT_LENGTH",
       "Read at most CONTENT_LENGTH bytes; on some servers more reads block or eat the next request.",
       "PEP 3333, Input and Error Streams", PEP3333 + "#input-and-error-streams"),
    _r("WSGI-ENV-001", "error", "the environ lacks a required key",
       "The server must provide REQUEST_METHOD, SERVER_NAME, SERVER_PORT, SERVER_PROTOCOL and the wsgi.* keys.",
       "PEP 3333, environ Variables", PEP3333 + "#environ-variables"),
    _r("WSGI-ENV-002", "error", "an environ CGI variable is not a native string",
       "CGI variables (REQUEST_METHOD, PATH_INFO, HTTP_*, ...) must be str, never bytes or numbers.",
       "PEP 3333, environ Variables", PEP3333 + "#environ-variables"),
    _r("WSGI-ENV-003", "error", "an environ CGI variable is not latin-1",
       "Native strings carry bytes decoded as latin-1; a code point above U+00FF means it was decoded otherwise.",
       "PEP 3333, Unicode Issues", PEP3333 + "#unicode-issues"),
    _r("WSGI-ENV-004", "error", "a wsgi.* environ key has the wrong type or value",
       "wsgi.version is (1, 0), wsgi.url_scheme 'http' or 'https', wsgi.multithread/multiprocess/run_once bools.",
       "PEP 3333, environ Variables", PEP3333 + "#environ-variables"),
    # ---- ASGI: scope ----------------------------------------------------
    _r("ASGI-SCOPE-001", "info", "the scope has no valid 'asgi' version dict",
       "Servers should put {'version': '3.0', 'spec_version': '2.x'} under scope['asgi']; apps then assume 2.0.",
       "ASGI, Connection Scope", ASGI_MAIN + "#connection-scope"),
    _r("ASGI-SCOPE-002", "error", "a required scope key is missing",
       "HTTP scopes need http_version, method, path, query_string and headers; WebSocket ones path and headers.",
       "ASGI HTTP & WebSocket, Connection Scope", ASGI_WWW + "#http-connection-scope"),
    _r("ASGI-SCOPE-003", "error", "a scope key has the wrong type",
       "path, method, scheme are str; query_string and raw_path bytes; headers [bytes, bytes] pairs; "
       "client/server [str, int].",
       "ASGI HTTP & WebSocket, Connection Scope", ASGI_WWW + "#http-connection-scope"),
    _r("ASGI-SCOPE-004", "error", "a scope key has an invalid value",
       "http_version is '1.0', '1.1', '2' or '3'; method upper-case; scheme not empty; spec_version '2.x'.",
       "ASGI HTTP & WebSocket, Connection Scope", ASGI_WWW + "#http-connection-scope"),
    _r("ASGI-SCOPE-005", "warning", "a request header name in the scope is not lower-case",
       "Servers must lower-case header names in the scope; apps compare them as lower-case bytes.",
       "ASGI HTTP & WebSocket, Connection Scope", ASGI_WWW + "#http-connection-scope"),
    _r("ASGI-SCOPE-006", "info", "query_string or raw_path is a str, not bytes",
       "The spec says bytes; frameworks decode either, but an app reading them raw gets the wrong type.",
       "ASGI HTTP & WebSocket, Connection Scope", ASGI_WWW + "#http-connection-scope"),
    # ---- ASGI: messages -------------------------------------------------
    _r("ASGI-MSG-001", "error", "a message is not a dict with a str 'type'",
       "Every message is a dict whose 'type' names the event, e.g. {'type': 'http.response.start', ...}.",
       "ASGI, Events", ASGI_MAIN + "#events"),
    _r("ASGI-MSG-002", "error", "the app sent a message type that is not valid for this scope",
       "Send only the send events of the scope's protocol (extension events only when the server announces them).",
       "ASGI, Events", ASGI_MAIN + "#events"),
    _r("ASGI-MSG-003", "error", "a message field is missing or has the wrong type",
       "Bodies are bytes, status an int, headers [bytes, bytes] pairs, more_body a bool, text a str.",
       "ASGI HTTP & WebSocket", ASGI_WWW),
    _r("ASGI-MSG-004", "info", "a response header name is not lower-case",
       "The spec asks for lower-case header names in responses too; servers usually accept either.",
       "ASGI HTTP & WebSocket, Response Start", ASGI_WWW + "#response-start-send-event"),
    _r("ASGI-MSG-005", "warning", "a message uses a field the server's spec_version does not support",
       "websocket.accept headers need spec 2.1, websocket.close reason 2.3: older servers ignore them.",
       "ASGI HTTP & WebSocket, spec versions", ASGI_WWW),
    _r("ASGI-MSG-006", "info", "the server sent a message type the scope does not define",
       "Apps must ignore event types they do not know (test harnesses send some on purpose).",
       "ASGI, Events", ASGI_MAIN + "#events"),
    # ---- ASGI: HTTP -----------------------------------------------------
    _r("ASGI-HTTP-001", "error", "http.response.body sent before http.response.start",
       "Send http.response.start (status, headers) first.",
       "ASGI HTTP, Response Start", ASGI_WWW + "#response-start-send-event"),
    _r("ASGI-HTTP-002", "error", "http.response.start sent more than once",
       "A response has one start; decide the status before sending it.",
       "ASGI HTTP, Response Start", ASGI_WWW + "#response-start-send-event"),
    _r("ASGI-HTTP-003", "error", "a message was sent after the response was complete",
       "After http.response.body with more_body=False (and trailers, if announced) send nothing more.",
       "ASGI HTTP, Response Body", ASGI_WWW + "#response-body-send-event"),
    _r("ASGI-HTTP-004", "error", "trailers sent without being announced, or announced and never sent",
       "Set trailers=True in http.response.start, only when the server offers the http.response.trailers "
       "extension, then end with http.response.trailers.",
       "ASGI extensions, HTTP Trailers", ASGI_EXTENSIONS + "#http-trailers"),
    _r("ASGI-HTTP-005", "error", "the application returned without completing the response",
       "Always finish with http.response.body and more_body=False (unless the client disconnected).",
       "ASGI HTTP, Response Body", ASGI_WWW + "#response-body-send-event"),
    _r("ASGI-HTTP-006", "error", "Content-Length does not match the body sent",
       "Compute content-length from the exact bytes sent, or leave it out.",
       "RFC 9110, Content-Length", RFC9110 + "#name-content-length"),
    _r("ASGI-HTTP-007", "error", "a body was sent with a 1xx, 204 or 304 status",
       "These statuses never carry content; send an empty http.response.body.",
       "RFC 9110, Message Body Length", RFC9110 + "#section-6.4.1"),
    _r("ASGI-HTTP-008", "info", "a body was sent in response to HEAD",
       "The server discards it, but producing it costs time: send an empty body for HEAD.",
       "RFC 9110, HEAD", RFC9110 + "#name-head"),
    _r("ASGI-HTTP-009", "warning", "receive() was called again after http.disconnect",
       "Once http.disconnect arrives the request is over: stop reading, clean up and return.",
       "ASGI HTTP, Disconnect", ASGI_WWW + "#disconnect-receive-event"),
    _r("ASGI-HTTP-010", "error", "the server sent http.request after the request body was complete",
       "A server bug: after more_body=False only http.disconnect may follow.",
       "ASGI HTTP, Request", ASGI_WWW + "#request-receive-event"),
    # ---- ASGI: WebSocket ------------------------------------------------
    _r("ASGI-WS-001", "error", "websocket.send before websocket.accept",
       "Accept the connection first, after receiving websocket.connect.",
       "ASGI WebSocket, Accept", ASGI_WWW + "#accept-send-event"),
    _r("ASGI-WS-002", "error", "websocket.accept sent twice, or after the connection was closed or denied",
       "Accept once, before sending anything else.",
       "ASGI WebSocket, Accept", ASGI_WWW + "#accept-send-event"),
    _r("ASGI-WS-003", "error", "a message was sent after the application closed the WebSocket",
       "After websocket.close (or a finished denial response) send nothing more.",
       "ASGI WebSocket, Close", ASGI_WWW + "#close-send-event"),
    _r("ASGI-WS-004", "error", "a WebSocket frame does not have exactly one of text and bytes",
       "Set text (str) or bytes (bytes), and the other to None or leave it out.",
       "ASGI WebSocket, Send", ASGI_WWW + "#send-send-event"),
    _r("ASGI-WS-005", "error", "an invalid WebSocket close code",
       "Use 1000-1003, 1007-1014 or 3000-4999; 1004-1006 and 1015 are never sent in a close frame.",
       "RFC 6455, Status Codes", RFC6455 + "#section-7.4"),
    _r("ASGI-WS-006", "warning", "a WebSocket close code from the reserved range 1016-2999",
       "Codes 1016-2999 are reserved for WebSocket extensions; applications use 3000-4999.",
       "RFC 6455, Reserved Status Code Ranges", RFC6455 + "#section-7.4.2"),
    _r("ASGI-WS-007", "warning", "the close reason is longer than 123 bytes",
       "A close frame holds at most 123 bytes of UTF-8 reason; servers truncate or fail.",
       "RFC 6455, Close", RFC6455 + "#section-5.5.1"),
    _r("ASGI-WS-008", "error", "a denial response is out of order or not offered by the server",
       "Send websocket.http.response.start then body messages, before accepting, and only when the server "
       "announces the websocket.http.response extension.",
       "ASGI extensions, WebSocket Denial Response", ASGI_EXTENSIONS + "#websocket-denial-response"),
    _r("ASGI-WS-009", "error", "the accepted subprotocol was not offered by the client",
       "Pick the subprotocol from scope['subprotocols'], or accept without one.",
       "ASGI WebSocket, Accept", ASGI_WWW + "#accept-send-event"),
    _r("ASGI-WS-010", "warning", "receive() was called again after websocket.disconnect",
       "Once websocket.disconnect arrives the connection is gone: stop reading and return.",
       "ASGI WebSocket, Disconnect", ASGI_WWW + "#websocket"),
    _r("ASGI-WS-011", "error", "websocket.accept or websocket.close sent before websocket.connect was received",
       "Wait for websocket.connect before answering the handshake.",
       "ASGI WebSocket, Connect", ASGI_WWW + "#connect-receive-event"),
    _r("ASGI-WS-012", "warning", "websocket.send after websocket.disconnect was received",
       "The client is gone and servers raise on such sends: stop every task that writes when receive() "
       "returns websocket.disconnect.",
       "ASGI WebSocket, Disconnect", ASGI_WWW + "#websocket"),
    # ---- ASGI: lifespan -------------------------------------------------
    _r("ASGI-LS-001", "error", "a lifespan reply was sent without the event it answers",
       "Send lifespan.startup.* only after receiving lifespan.startup, lifespan.shutdown.* after lifespan.shutdown.",
       "ASGI Lifespan", ASGI_LIFESPAN),
    _r("ASGI-LS-002", "error", "a lifespan event was answered more than once",
       "Answer startup once (complete or failed) and shutdown once.",
       "ASGI Lifespan", ASGI_LIFESPAN),
    _r("ASGI-LS-003", "error", "the application returned without answering a lifespan event",
       "Reply lifespan.startup.complete / .failed and lifespan.shutdown.complete / .failed before returning.",
       "ASGI Lifespan", ASGI_LIFESPAN),
    _r("ASGI-LS-004", "error", "the server sent lifespan events out of order",
       "A server bug: lifespan.startup comes once and first, lifespan.shutdown once after it.",
       "ASGI Lifespan", ASGI_LIFESPAN),
)

BY_ID: dict[str, Rule] = {rule.id: rule for rule in RULES}


def rule(rule_id: str) -> Rule:
    return BY_ID[rule_id]
