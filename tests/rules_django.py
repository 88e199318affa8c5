"""The rules' test site in Django: views, urlconf, and (for servers) configured handlers.

In-process tests use ``override_settings(ROOT_URLCONF="tests.rules_django")``, so
it works whoever configured Django first. Servers import ``wsgi_app`` or
``asgi_app`` (configuring Django themselves when nobody has).
"""

from __future__ import annotations

import json
from typing import Any

from django.http import (
    FileResponse,
    HttpRequest,
    HttpResponse,
    HttpResponseRedirect,
    JsonResponse,
    StreamingHttpResponse,
)
from django.urls import path

from tests.rules_apps import FILE, PAYLOAD, chunks, recorded


def setup_django() -> None:
    import django
    from django.conf import settings
    if not settings.configured:
        settings.configure(DEBUG=False, ROOT_URLCONF="tests.rules_django", ALLOWED_HOSTS=["*"],
                           SECRET_KEY="rules-tests-" + "x" * 40, INSTALLED_APPS=[], DATABASES={}, USE_TZ=True,
                           MIDDLEWARE=["django.middleware.http.ConditionalGetMiddleware"])
        django.setup()


def json_view(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        return JsonResponse(json.loads(request.body or b"{}"))
    return JsonResponse(PAYLOAD)


def stream(request: HttpRequest) -> HttpResponse:
    return StreamingHttpResponse(chunks(), content_type="text/plain")


def file(request: HttpRequest) -> HttpResponse:
    return FileResponse(FILE.open("rb"), content_type="text/plain")


def redirect(request: HttpRequest) -> HttpResponse:
    return HttpResponseRedirect("/json")


def empty(request: HttpRequest) -> HttpResponse:
    return HttpResponse(status=204)


def cached(request: HttpRequest) -> HttpResponse:
    return HttpResponse(status=304)


urlpatterns = [path("json", json_view), path("stream", stream), path("file", file), path("redirect", redirect),
               path("empty", empty), path("cached", cached)]


def __getattr__(name: str) -> Any:
    if name == "wsgi_app":
        setup_django()
        from django.core.handlers.wsgi import WSGIHandler
        return recorded(WSGIHandler())
    if name == "asgi_app":
        setup_django()
        from django.core.handlers.asgi import ASGIHandler
        return recorded(ASGIHandler())
    raise AttributeError(name)
