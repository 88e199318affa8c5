"""The same small site in every framework, for the no-false-positive tests of the rules.

Routes: ``/json`` (GET, HEAD, POST echo), ``/stream`` (chunked), ``/file`` (a file
response with validators), ``/redirect`` (302), ``/empty`` (204), ``/cached``
(304), and for frameworks that have them a ``/ws`` echo WebSocket and lifespan
hooks. Each ``make_*`` returns the bare app; the tests and servers wrap it.
Importable by servers as ``tests.rules_apps:<name>`` (run from the repo root).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

# At module level: FastAPI resolves the handlers' (string) annotations in this module's globals.
from starlette.requests import Request
from starlette.websockets import WebSocket, WebSocketDisconnect

FILE = Path(__file__)  # any real file will do; this one is always there
PAYLOAD = {"ok": True, "items": [1, 2, 3]}


def chunks() -> Iterator[bytes]:
    for i in range(3):
        yield f"chunk {i}\n".encode()


async def achunks() -> AsyncIterator[bytes]:
    for i in range(3):
        yield f"chunk {i}\n".encode()


def make_flask() -> Any:
    import flask
    app = flask.Flask("rules_flask")

    @app.route("/json", methods=["GET", "POST"])
    def json_view() -> Any:
        return flask.jsonify(flask.request.get_json(silent=True) or PAYLOAD)

    @app.get("/stream")
    def stream() -> Any:
        return flask.Response(flask.stream_with_context(chunks()), mimetype="text/plain")

    @app.get("/file")
    def file() -> Any:
        return flask.send_file(FILE, mimetype="text/plain", conditional=True, etag=True)

    @app.get("/redirect")
    def redirect() -> Any:
        return flask.redirect("/json")

    @app.get("/empty")
    def empty() -> Any:
        return "", 204

    @app.get("/cached")
    def cached() -> Any:
        return flask.Response(status=304)
    return app


def make_starlette(fastapi: bool = False) -> Any:
    from contextlib import asynccontextmanager

    from starlette.responses import FileResponse, JSONResponse, RedirectResponse, Response, StreamingResponse

    @asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        yield

    async def json_view(request: Request) -> Response:
        body = await request.body()
        return JSONResponse(json.loads(body) if body else PAYLOAD)

    async def stream(request: Request) -> Response:
        return StreamingResponse(achunks(), media_type="text/plain")

    async def file(request: Request) -> Response:
        return FileResponse(FILE, media_type="text/plain")

    async def redirect(request: Request) -> Response:
        return RedirectResponse("/json", status_code=302)

    async def empty(request: Request) -> Response:
        return Response(status_code=204)

    async def cached(request: Request) -> Response:
        return Response(status_code=304)

    async def ws(websocket: WebSocket) -> None:
        await websocket.accept()
        try:
            while True:
                await websocket.send_text(await websocket.receive_text())
        except WebSocketDisconnect:
            pass
    routes = [("/json", json_view, ["GET", "POST"]), ("/stream", stream, ["GET"]), ("/file", file, ["GET"]),
              ("/redirect", redirect, ["GET"]), ("/empty", empty, ["GET"]), ("/cached", cached, ["GET"])]
    if fastapi:
        from fastapi import FastAPI
        api = FastAPI(lifespan=lifespan)
        for path, fn, methods in routes:
            api.add_api_route(path, fn, methods=methods)
        api.add_api_websocket_route("/ws", ws)
        return api
    from starlette.applications import Starlette
    from starlette.routing import Route, WebSocketRoute
    return Starlette(lifespan=lifespan, routes=[*(Route(p, f, methods=m) for p, f, m in routes),
                                                WebSocketRoute("/ws", ws)])


def make_falcon(asgi: bool) -> Any:
    import falcon
    import falcon.asgi

    class Json:
        def on_get(self, req: Any, resp: Any) -> None:
            resp.media = PAYLOAD

        def on_post(self, req: Any, resp: Any) -> None:
            resp.media = req.get_media()

    class AsyncJson:
        async def on_get(self, req: Any, resp: Any) -> None:
            resp.media = PAYLOAD

        async def on_post(self, req: Any, resp: Any) -> None:
            resp.media = await req.get_media()

        async def on_websocket(self, req: Any, ws: Any) -> None:
            await ws.accept()
            try:
                while True:
                    await ws.send_text(await ws.receive_text())
            except falcon.WebSocketDisconnected:
                pass

    class Stream:
        def on_get(self, req: Any, resp: Any) -> None:
            resp.content_type = "text/plain"
            resp.stream = achunks() if asgi else chunks()

    class File:
        def on_get(self, req: Any, resp: Any) -> None:
            resp.content_type = "text/plain"
            resp.set_stream(FILE.open("rb"), FILE.stat().st_size) if not asgi else None
            if asgi:
                resp.data = FILE.read_bytes()

    class Redirect:
        def on_get(self, req: Any, resp: Any) -> None:
            raise falcon.HTTPFound("/json")

    class Empty:
        def on_get(self, req: Any, resp: Any) -> None:
            resp.status = 204

    class Cached:
        def on_get(self, req: Any, resp: Any) -> None:
            resp.status = 304

    class Lifespan:
        async def process_startup(self, scope: Any, event: Any) -> None:
            pass

        async def process_shutdown(self, scope: Any, event: Any) -> None:
            pass

    def wrap_async(resource: Any) -> Any:
        """Falcon's ASGI app wants coroutine responders: the same resource, awaited."""
        class Async:
            async def on_get(self, req: Any, resp: Any) -> None:
                resource.on_get(req, resp)
        return Async()
    app: Any = falcon.asgi.App(middleware=[Lifespan()]) if asgi else falcon.App()
    app.add_route("/json", AsyncJson() if asgi else Json())
    for path, resource in (("/stream", Stream()), ("/file", File()), ("/redirect", Redirect()),
                           ("/empty", Empty()), ("/cached", Cached())):
        app.add_route(path, wrap_async(resource) if asgi else resource)
    if asgi:
        app.add_route("/ws", AsyncJson())
    return app


def recorded(app: Any) -> Any:
    """For servers: ``app`` wrapped, each finished trace appended as one JSON line to $GWINSPECT_RULES_OUT."""
    import os
    import threading

    import gwinspect
    out = os.environ.get("GWINSPECT_RULES_OUT")
    if not out:
        return app
    inspector = gwinspect.wrap(app)
    lock = threading.Lock()

    def save(rec: Any) -> None:
        line = json.dumps(rec.snapshot().to_dict())
        with lock, open(out, "a", encoding="utf-8") as f:
            f.write(line + "\n")
    inspector.settings.on_finish.append(save)
    return inspector


FACTORIES: dict[str, tuple[Any, ...]] = {
    "flask_app": (make_flask,), "starlette_app": (make_starlette,), "fastapi_app": (make_starlette, True),
    "falcon_wsgi": (make_falcon, False), "falcon_asgi": (make_falcon, True),
}


def __getattr__(name: str) -> Any:
    if name in FACTORIES:
        factory, *args = FACTORIES[name]
        app = factory(*args)
        if name == "flask_app":
            app.wsgi_app = recorded(app.wsgi_app)
            return app
        return recorded(app)
    raise AttributeError(name)
