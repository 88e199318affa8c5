"""A finished WSGI trace lets go of the server's objects but shows each one exactly as ``repr()`` did.

gwinspect detaches the environ when a request finishes, cheaply (see
``gwinspect.wsgi_environ`` and ``gwinspect.reprs``): default reprs are formatted later from the type and
address, sockets without the stdlib's per-call enum conversions. The text must
be what ``repr()`` of the live object gave, whatever the object.
"""

from __future__ import annotations

import gc
import io
import socket
import sys
import weakref
from pathlib import Path
from typing import Any

import pytest

import gwinspect
from gwinspect import reprs
from gwinspect.jsonsafe import to_model


class Plain:
    pass


class Slotted:
    __slots__ = ("x",)


class Custom:
    def __repr__(self) -> str:
        return "<custom>"


def nested() -> Any:
    def inner() -> None:
        pass
    return inner


def hello(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    start_response("200 OK", [])
    return [b""]


def sockets(tmp_path: Path) -> list[socket.socket]:
    server = socket.create_server(("127.0.0.1", 0))
    client = socket.create_connection(server.getsockname())
    unix = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    unix.bind(str(tmp_path / "s"))
    closed = socket.socket()
    closed.close()
    return [server, client, *socket.socketpair(), unix, socket.socket(socket.AF_INET6, socket.SOCK_DGRAM), closed]


def test_every_kind_of_environ_object_keeps_its_exact_repr(tmp_path: Path) -> None:
    live: list[Any] = [Plain(), Slotted(), Custom(), object(), io.BytesIO(b"x"), lambda: None, nested(), print,
                       Plain, sys.stderr, sys.stdout, (1, 0), [1, b"x"], {"k": io.BytesIO()}, b"raw", 1.5,
                       *sockets(tmp_path)]
    expected = {f"x.{i}": to_model(v, 65536) for i, v in enumerate(live)}
    inspector = gwinspect.wrap(hello)
    environ: dict[str, Any] = {"REQUEST_METHOD": "GET", "PATH_INFO": "/", "wsgi.input": io.BytesIO()}
    environ.update((f"x.{i}", v) for i, v in enumerate(live))
    for _ in inspector(environ, lambda *a: None):
        pass
    recorded = inspector.store.list()[0].environ
    assert recorded is not None
    assert {k: v for k, v in recorded.items() if k.startswith("x.")} == expected
    for s in live:
        if isinstance(s, socket.socket):
            s.close()


@pytest.mark.parametrize("make", [Plain, io.BytesIO, lambda: (lambda: None)])
def test_a_finished_trace_does_not_keep_the_object_alive(make: Any) -> None:
    value = make()
    ref = weakref.ref(value)
    inspector = gwinspect.wrap(hello)
    result = inspector({"REQUEST_METHOD": "GET", "PATH_INFO": "/", "x.obj": value}, lambda *a: None)
    list(result)
    text = repr(value)
    del value, result
    gc.collect()
    assert ref() is None
    assert inspector.store.list()[0].environ["x.obj"] == text  # type: ignore[index]


def test_objects_met_at_the_same_address_share_one_stand_in_with_their_exact_repr() -> None:
    inspector = gwinspect.wrap(hello)
    kept = Plain()
    for _ in range(2):  # the same object twice: same class, same address
        list(inspector({"REQUEST_METHOD": "GET", "PATH_INFO": "/", "x.obj": kept}, lambda *a: None))
    older, newer = (source.environ["x.obj"] for source in inspector.store._ring)  # type: ignore[attr-defined]
    assert older is newer and repr(newer) == repr(kept)

    # Another class, or another function, at an address met before: its own stand-in, its own text.
    other, func = Slotted(), nested()
    reprs.stand_ins_by_address[id(other)] = reprs.default_repr(kept)
    reprs.stand_ins_by_address[id(other)].address = id(other)
    reprs.stand_ins_by_address[id(func)] = reprs.default_repr(lambda: None)
    reprs.stand_ins_by_address[id(func)].address = id(func)
    for value in (other, func):
        list(inspector({"REQUEST_METHOD": "GET", "PATH_INFO": "/", "x.obj": value}, lambda *a: None))
        assert inspector.store.list()[0].environ["x.obj"] == repr(value)  # type: ignore[index]


def test_the_stand_ins_kept_by_address_stay_bounded() -> None:
    objects = [Plain() for _ in range(3 * reprs._MAX_STAND_INS)]
    for value in objects:
        reprs.default_repr(value)
        assert len(reprs.stand_ins_by_address) <= reprs._MAX_STAND_INS


class Channel:
    """Like waitress's connection channel: a repr of its own, and a bound method of it in every environ."""

    def __init__(self) -> None:
        self.reprs = 0

    def __repr__(self) -> str:
        self.reprs += 1
        return f"<Channel connected at {id(self):#x}>"

    def check_client_disconnected(self) -> bool:
        return False


def test_a_bound_method_shows_its_exact_repr_made_once_per_object_and_does_not_keep_it_alive() -> None:
    inspector = gwinspect.wrap(hello)
    channel = Channel()
    expected = repr(channel.check_client_disconnected)
    before = channel.reprs
    for _ in range(3):  # one kept-alive connection, three requests
        environ = {"REQUEST_METHOD": "GET", "PATH_INFO": "/", "x.disconnected": channel.check_client_disconnected}
        list(inspector(environ, lambda *a: None))
    assert [t.environ["x.disconnected"] for t in inspector.store.list()] == [expected] * 3  # type: ignore[index]
    assert channel.reprs == before + 1  # formatted for the first request only
    other = Channel()  # another object: its own text
    list(inspector({"REQUEST_METHOD": "GET", "PATH_INFO": "/", "x.disconnected": other.check_client_disconnected},
                   lambda *a: None))
    assert inspector.store.list()[0].environ["x.disconnected"] == repr(other.check_client_disconnected)  # type: ignore[index]
    ref = weakref.ref(channel)
    del channel, environ
    gc.collect()
    assert ref() is None
