"""A one-paragraph description of the machine and software a benchmark ran on."""

from __future__ import annotations

import os
import platform
import sys
from importlib import metadata

PACKAGES = ("gwinspect", "starlette", "flask", "uvicorn", "gunicorn", "waitress", "hypercorn", "httpx",
            "opentelemetry-sdk", "opentelemetry-instrumentation-asgi", "opentelemetry-instrumentation-wsgi",
            "asgion")


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def versions() -> dict[str, str]:
    found = {}
    for name in PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return found


def describe() -> str:
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    pkgs = ", ".join(f"{k} {v}" for k, v in versions().items())
    return (f"{cpu_model()}, {cores} cores available; {platform.system()} {platform.release()}; "
            f"{platform.python_implementation()} {sys.version.split()[0]}; {pkgs}")
