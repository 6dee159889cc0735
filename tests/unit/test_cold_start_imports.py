"""What a handler's import (Lambda's init, every cold start) must not load: a regression guard
on the shape of each cold start, not on its time (benchmarks/cold_start.py measures that).

Each handler is imported in a fresh interpreter with the environment the template gives its
function, as the benchmark does.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from benchmarks.cold_start import LAYER, Function, _base_environment, functions

# Loaded by no handler at import.
NEVER = (
    # The X-Ray SDK: only with TraceAwsCalls (TRACE_AWS_CALLS=true); see core.observability.
    "aws_xray_sdk",
    "wrapt",
    # POST /exports replays (Idempotency-Key) build theirs on the first keyed request.
    "aws_lambda_powertools.utilities.idempotency",
    # Powertools' OpenAPI document models: for `make openapi`, never for a request.
    "aws_lambda_powertools.event_handler.openapi.models",
)
# Only the HTTP API parses requests with Powertools' resolver and pydantic.
API_ONLY = ("pydantic", "aws_lambda_powertools.event_handler", "lemlist_export.http_api.models")
NOT_LOADED = {
    function.name: NEVER + (() if function.name == "exports_api" else API_ONLY)
    for function in functions()
}
CHILD = """
import json, sys
sys.path[:0] = {path!r}
import app
print(json.dumps(sorted(sys.modules)))
"""


def loaded_by(function: Function, **environment: str) -> set[str]:
    child = CHILD.format(path=[str(function.code_dir), str(LAYER)])
    run = subprocess.run(  # noqa: S603 (our own interpreter and code)
        [sys.executable, "-c", child],
        env=_base_environment() | function.environment | environment,
        cwd=function.code_dir,
        capture_output=True,
        text=True,
        check=True,
    )
    return set(json.loads(run.stdout.strip().splitlines()[-1]))


def _under(modules: set[str], package: str) -> list[str]:
    return sorted(m for m in modules if m == package or m.startswith(package + "."))


@pytest.mark.parametrize("function", functions(), ids=lambda f: f.name)
def test_a_handler_imports_only_what_its_cold_start_needs(function: Function) -> None:
    modules = loaded_by(function)
    assert "app" in modules
    unexpected = {p: _under(modules, p) for p in NOT_LOADED[function.name] if _under(modules, p)}
    assert not unexpected, f"{function.name} loads at import: {unexpected}"


def test_trace_aws_calls_turns_the_xray_sdk_on() -> None:
    """The switch works: with it, the handler is wrapped by Powertools' Tracer."""
    check = next(f for f in functions() if f.name == "check_export")
    modules = loaded_by(check, TRACE_AWS_CALLS="true")
    assert "aws_xray_sdk.core" in modules
    assert "aws_xray_sdk.ext.botocore.patch" in modules
