"""Start real servers on 127.0.0.1 for tests: free ports, readiness, clean shutdown."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(port: int, timeout: float = 20.0, proc: subprocess.Popen[str] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            out = proc.stdout.read() if proc.stdout else ""
            raise RuntimeError(f"server exited with {proc.returncode} before listening:\n{out}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listened on 127.0.0.1:{port} within {timeout}s")


def stop(proc: subprocess.Popen[str], sig: int = signal.SIGTERM, timeout: float = 15.0) -> str:
    """Stop a server started in its own session; return what it printed."""
    if proc.poll() is None:
        with suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
    return out or ""


@contextmanager
def serve(cmd: Sequence[str], port: int, *, cwd: str | os.PathLike[str] | None = None,
          env: dict[str, str] | None = None, timeout: float = 20.0,
          stop_timeout: float = 15.0) -> Iterator[subprocess.Popen[str]]:
    """Run ``cmd`` (which must listen on ``port``) for the duration of the block.

    ``timeout`` bounds the wait for it to listen, ``stop_timeout`` the wait for it to exit after
    SIGTERM (then SIGKILL).
    """
    full_env = dict(os.environ, PYTHONUNBUFFERED="1")
    full_env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(ROOT), str(cwd or ""), full_env.get("PYTHONPATH", "")) if p)
    full_env.update(env or {})
    proc = subprocess.Popen(list(cmd), cwd=cwd, env=full_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)
    try:
        wait_for_port(port, timeout, proc)
        yield proc
    finally:
        stop(proc, timeout=stop_timeout)


PYTHON = sys.executable
