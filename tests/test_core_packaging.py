"""Packaging: importing gwinspect pulls in no framework and not rich; typing marker and schema ship."""

from __future__ import annotations

import json
import subprocess
import sys
from importlib import resources

from tests.realserver import ROOT

HEAVY = ("rich", "flask", "werkzeug", "starlette", "fastapi", "falcon", "django", "uvicorn", "waitress",
         "httpx", "jsonschema")


def test_import_pulls_in_no_framework_and_not_rich() -> None:
    code = ("import sys, gwinspect; gwinspect.wrap(lambda e, s: []); "
            f"print([m for m in {HEAVY!r} if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_py_typed_and_schema_ship_as_package_data() -> None:
    files = resources.files("gwinspect")
    assert files.joinpath("py.typed").is_file()
    schema = json.loads(files.joinpath("trace.schema.json").read_text(encoding="utf-8"))
    assert schema["$schema"].startswith("https://json-schema.org/")
    assert "trace" in schema["$defs"]


def test_schema_is_a_valid_json_schema() -> None:
    import jsonschema
    schema = json.loads(resources.files("gwinspect").joinpath("trace.schema.json").read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)


def test_public_names() -> None:
    import gwinspect
    for name in ("wrap", "WSGIInspector", "ASGIInspector", "dumps", "loads", "load", "dump", "DEFAULT_REDACT",
                 "Trace", "Event", "Request", "Response", "ErrorInfo", "Violation", "Blob", "MemoryStore"):
        assert hasattr(gwinspect, name), name
    assert gwinspect.FORMAT == "gwinspect/1"


def test_pyproject_declares_package_data_python_and_runtime_dependency() -> None:
    import tomllib
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    project = meta["project"]
    assert project["name"] == "gwinspect" and project["requires-python"] == ">=3.10"
    assert [d.split(">")[0].split("=")[0].strip() for d in project["dependencies"]] == ["rich"]
    assert {"test", "frameworks", "servers"} <= set(project["optional-dependencies"])
    data = meta["tool"]["setuptools"]["package-data"]["gwinspect"]
    assert "py.typed" in data and "trace.schema.json" in data
