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
    # pydantic, and what validates with it: the HTTP API's validating resolver, built by the
    # first request http_api.plain cannot vouch for (valid requests are routed without it).
    "pydantic",
    "pydantic_core",
    "lemlist_export.http_api.models",
    "lemlist_export.http_api.documented",
    "aws_lambda_powertools.event_handler.openapi.params",
    "aws_lambda_powertools.event_handler.openapi.compat",
    "aws_lambda_powertools.event_handler.middlewares.openapi_validation",
)
# Only the HTTP API routes requests with Powertools' resolver.
API_ONLY = ("aws_lambda_powertools.event_handler",)
NOT_LOADED = {
    function.name: NEVER + (() if function.name == "exports_api" else API_ONLY)
    for function in functions()
}
CHILD = """
import json, sys
sys.path[:0] = {path!r}
import app
{then}
print(json.dumps(sorted(sys.modules)))
"""
# The API's first requests, valid ones as API Gateway sends them: routed and answered as the
# deployed handler does, their work (AWS, lemlist) replaced by answers of the same shapes.
VALID_REQUESTS = """
from lemlist_export.http_api import plain

started = dict(exportId="axp_1", campaignId="cam_1", campaignName="C", status="pending",
               createdAt="2026-12-01T00:00:00Z", statusUrl="https://x/exports/axp_1")
retried = dict(exportId="axp_2", retryOf="axp_1", retry=1, action="newExport", reason="r",
               campaignId="cam_1", status="pending", replay=False, statusUrl="https://x/e")
app.create_export = lambda request, key: app.Response(202, "application/json",
                                                      plain.started_body(started))
app.get_export = lambda export_id: plain.json_answer(dict(started, bytes=1))
app.list_exports = lambda *query: plain.json_answer(dict(exports=[started], nextToken=None))
app.retry_export = lambda export_id: app.Response(202, "application/json",
                                                  plain.retry_body(retried))
answers = []
for method, path, query, body, key in [
    ("POST", "/exports", None, '{"campaignId": "cam_1"}', None),
    ("POST", "/exports", None, '{"campaignId": "cam_1", "callbackUrl": "https://h/x"}', "k-1"),
    ("GET", "/exports/axp_1", None, None, None),
    ("GET", "/exports", {"campaignId": "cam_1", "limit": "5", "nextToken": "t"}, None, None),
    ("POST", "/exports/axp_1/retry", None, None, None),
]:
    headers = {"host": "x", "content-type": "application/json"}
    if key:
        headers["idempotency-key"] = key
    event = {"version": "2.0", "rawPath": path, "rawQueryString": "", "headers": headers,
             "requestContext": {"http": {"method": method}, "stage": "$default"},
             "isBase64Encoded": False}
    if query:
        event["queryStringParameters"] = query
    if body:
        event["body"] = body
    answers.append(app.resolve(event, None)["statusCode"])
assert answers == [202, 202, 200, 200, 202], answers
"""


def loaded_by(function: Function, then: str = "", **environment: str) -> set[str]:
    child = CHILD.format(path=[str(function.code_dir), str(LAYER)], then=then)
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


def test_the_apis_valid_requests_load_no_pydantic_either() -> None:
    """Nor does the API's first valid request load what validates with pydantic: only a
    request http_api.plain cannot vouch for does (its answer comes from pydantic's errors)."""
    api = next(f for f in functions() if f.name == "exports_api")
    modules = loaded_by(api, then=VALID_REQUESTS)
    unexpected = {p: _under(modules, p) for p in NEVER if _under(modules, p)}
    assert not unexpected, f"valid requests load: {unexpected}"
