"""The hello-world apps the ``--servers`` and ``--big`` benchmarks serve, bare and wrapped with gwinspect defaults."""

from __future__ import annotations

import gwinspect
from benchmarks.peers import raw_asgi, raw_wsgi
from tests.matrix_apps import wsgi_bare as matrix_wsgi
from tests.matrix_apps_asgi import asgi_bare as matrix_asgi

asgi_bare = raw_asgi
asgi_wrapped = gwinspect.wrap(raw_asgi)
wsgi_bare = raw_wsgi
wsgi_wrapped = gwinspect.wrap(raw_wsgi)

# The matrix scenarios (/stream?kb=, /upload), for the 1 GB peak-memory runs.
big_asgi_bare = matrix_asgi
big_asgi_wrapped = gwinspect.wrap(matrix_asgi)
big_wsgi_bare = matrix_wsgi
big_wsgi_wrapped = gwinspect.wrap(matrix_wsgi)
