"""A minimal Django project for the core tests: settings configured in-process once, plus a urlconf.

Used as ``ROOT_URLCONF = "tests.django_core"`` (through override_settings, so it
works whoever configured Django first in this process).
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.urls import path


def setup_django() -> None:
    import django
    from django.conf import settings
    if not settings.configured:
        settings.configure(DEBUG=False, ROOT_URLCONF="tests.django_core", ALLOWED_HOSTS=["*"],
                           SECRET_KEY="core-tests-" + "x" * 40, MIDDLEWARE=[], INSTALLED_APPS=[],
                           DATABASES={}, USE_TZ=True)
        django.setup()


def echo(request: HttpRequest) -> HttpResponse:
    resp = HttpResponse(b"echo:" + request.body, content_type="application/octet-stream")
    resp["X-Method"] = request.method or ""
    return resp


def stream(request: HttpRequest) -> StreamingHttpResponse:
    return StreamingHttpResponse((f"part{i};".encode() for i in range(3)), content_type="text/plain")


def boom(request: HttpRequest) -> Any:
    raise RuntimeError("django view failed")


urlpatterns = [path("echo", echo), path("stream", stream), path("boom", boom)]
