"""ExportsApiFunction answers alike with and without pydantic (http_api.plain).

Its handler routes the requests http_api.plain vouches for without pydantic, and hands every
other to the validating resolver (Powertools with pydantic, as the API always ran). Here both
ways answer the same generated requests, good, bad and odd, and must agree: the answer (status,
headers, body) and what the route was called with. What the routes do once a request is valid
is replaced by recorders; their own tests are the handler and e2e tests.

Then the answers' bodies: shaped without pydantic, they must be what Powertools' response
validation makes of the same bodies (a replay's keys come back sorted, odd values included).
"""

from __future__ import annotations

import base64
import importlib.util
import json
import os
import string
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any, get_args
from unittest import mock

import pytest
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lemlist_export.http_api import plain
from lemlist_export.http_api.gate import as_json
from lemlist_export.http_api.models import ExportStarted, RetryStarted
from local_stack.embedded_aws import REGION
from local_stack.http_api import http_api_event

APP = Path(__file__).resolve().parents[2] / "functions" / "exports_api" / "app.py"
STARTED = {
    "exportId": "axp_Plain1",
    "campaignId": "cam_Plain1",
    "campaignName": "Plain",
    "status": "pending",
    "createdAt": "2026-12-01T00:00:00Z",
    "statusUrl": "https://api.example.com/exports/axp_Plain1",
}
RETRIED = {
    "exportId": "axp_Plain2",
    "retryOf": "axp_Plain1",
    "retry": 1,
    "action": "newExport",
    "reason": "lemlist no longer holds the file",
    "campaignId": "cam_Plain1",
    "status": "pending",
    "replay": False,
    "statusUrl": "https://api.example.com/exports/axp_Plain2",
}
VIEW = {"exportId": "axp_Plain1", "status": "delivered", "bytes": 12, "progress": {"step": "x"}}
# What the replaced routes were called with, in order.
CALLS: list[tuple[Any, ...]] = []


class Context:
    function_name = "ExportsApiFunction"
    memory_limit_in_mb = 256
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:ExportsApi"
    aws_request_id = "plain-path-test"

    def get_remaining_time_in_millis(self) -> int:
        return 29_000


class Quiet:
    """Metrics and logs are the same both ways; here they would only pile up."""

    def __getattr__(self, name: str) -> Callable[..., None]:
        return lambda *args, **kwargs: None


@pytest.fixture(scope="module")
def api() -> Iterator[ModuleType]:
    """functions/exports_api/app.py, loaded privately, its routes' work replaced by recorders
    before its validating resolver is built."""
    spec = importlib.util.spec_from_file_location("exports_api_app_under_plain_path_test", APP)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    with mock.patch.dict(os.environ, {"AWS_DEFAULT_REGION": REGION}):
        spec.loader.exec_module(module)

    def create_export(request: dict[str, Any], key: str | None) -> Response[Any]:
        CALLS.append(("create", dict(request), key))
        return Response(202, "application/json", plain.started_body(dict(sorted(STARTED.items()))))

    def get_export(export_id: str) -> dict[str, Any]:
        CALLS.append(("get", export_id))
        return plain.json_answer({**VIEW, "exportId": export_id})

    def list_exports(campaign_id: str, limit: int, token: str | None) -> dict[str, Any]:
        CALLS.append(("list", campaign_id, limit, token))
        return plain.json_answer({"exports": [VIEW] * min(limit, 2), "nextToken": token})

    def retry_export(export_id: str) -> Response[Any]:
        CALLS.append(("retry", export_id))
        return Response(202, "application/json", plain.retry_body(RETRIED))

    with mock.patch.multiple(
        module,
        create_export=create_export,
        get_export=get_export,
        list_exports=list_exports,
        retry_export=retry_export,
        metrics=Quiet(),
        logger=Quiet(),
    ):
        yield module


def both_ways(api: ModuleType, event: dict[str, Any]) -> tuple[Any, Any]:
    """(answer, route calls) from the handler's way, then from the validating resolver's."""
    request = as_json(event)
    outcomes = []
    for resolve in (api.resolve, api._validating().resolve):
        CALLS.clear()
        try:
            answer: Any = resolve(json.loads(json.dumps(request)), Context())
        except Exception as exc:  # the same failure both ways counts as agreement
            answer = ("raised", type(exc).__name__, str(exc))
        outcomes.append((answer, list(CALLS)))
    return outcomes[0], outcomes[1]


GOOD_IDS = st.from_regex(r"[A-Za-z0-9_]{1,64}", fullmatch=True)
IDS = st.one_of(
    GOOD_IDS,
    st.sampled_from(["axp_Vv6lJOc8NlVVmDud5", "cam_A1B2C3", "a" * 64, "_", "0"]),
    st.sampled_from(["", "a" * 65, "axp-1", "axp 1", "axp%201", "axp_1\n", "é", "a,b", "a.b"]),
    st.text(alphabet=string.ascii_letters + string.digits + "_-%.~,", max_size=70),
)
TEXTS = st.one_of(
    IDS,
    st.sampled_from(["0", "1", "20", "100", "101", "020", " 20", "20.0", "-1", "1,2", "1e2"]),
    st.sampled_from(["x" * 2048, "x" * 2049, "https://hooks.zapier.com/hooks/catch/1/a/"]),
    st.text(max_size=30),
)
JSON_VALUES = st.one_of(
    TEXTS,
    st.none(),
    st.booleans(),
    st.integers(-5, 5),
    st.floats(allow_nan=False, allow_infinity=False),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.sampled_from(["campaignId", "a"]), IDS, max_size=2),
)
URLS = st.one_of(
    st.none(),
    st.from_regex(r"https://[a-z.]{1,20}/[\x21-\x7e]{0,40}", fullmatch=True),
    JSON_VALUES,
)
GOOD_QUERIES = st.fixed_dictionaries(
    {"campaignId": GOOD_IDS},
    optional={
        "limit": st.integers(1, 100).map(str),
        "nextToken": st.text(string.ascii_letters + "=_-", max_size=40),
        "other": TEXTS,
    },
)
ODD_QUERIES = st.fixed_dictionaries(
    {},
    optional={
        "campaignId": st.one_of(GOOD_IDS, GOOD_IDS, TEXTS),
        "limit": st.one_of(st.integers(-1, 102).map(str), TEXTS),
        "nextToken": st.one_of(st.text(string.ascii_letters + "=_-", max_size=40), TEXTS),
        "campaignid": TEXTS,
        "other": TEXTS,
    },
)
QUERIES = st.one_of(GOOD_QUERIES, ODD_QUERIES)
GOOD_STARTS = st.fixed_dictionaries(
    {"campaignId": GOOD_IDS}, optional={"callbackUrl": st.one_of(st.none(), URLS)}
).map(json.dumps)
STARTS = st.fixed_dictionaries(
    {"campaignId": st.one_of(GOOD_IDS, GOOD_IDS, JSON_VALUES)},
    optional={"callbackUrl": URLS, "extra": JSON_VALUES, "campaignid": JSON_VALUES},
).map(json.dumps)
BODIES = st.one_of(
    st.sampled_from([None, ""]),
    GOOD_STARTS,
    GOOD_STARTS,
    STARTS,
    st.dictionaries(st.sampled_from(["callbackUrl", "other"]), JSON_VALUES, max_size=2).map(
        json.dumps
    ),
    st.sampled_from(['{"campaignId": 1', "[]", '[{"campaignId": "cam_A"}]', "null", "42"]),
)
KEYS = st.one_of(
    st.none(),
    st.none(),
    st.from_regex(r"[\x21-\x7e]{1,40}", fullmatch=True),
    st.from_regex(r"[\x21-\x7e]{1,40}", fullmatch=True),
    st.sampled_from(["k-1", "", "x" * 255, "x" * 256, "a,b", "has space", "é", "k\n"]),
    st.text(alphabet=string.printable, max_size=10),
)
API_ROUTES = [
    ("POST", "/exports"),
    ("GET", "/exports"),
    ("GET", "/exports/{id}"),
    ("POST", "/exports/{id}/retry"),
]
ODD_ROUTES = [
    ("PUT", "/exports"),
    ("OPTIONS", "/exports/{id}"),
    ("GET", "/exports/{id}/retry"),
    ("GET", "/elsewhere"),
]
ROUTES = st.sampled_from(API_ROUTES * 4 + ODD_ROUTES)


@st.composite
def requests(draw: st.DrawFn) -> dict[str, Any]:
    method, template = draw(ROUTES)
    path = template.replace("{id}", draw(IDS).replace("/", "").replace("\n", "") or "x")
    headers: dict[str, str] = {"host": "api.example.com"}
    key = draw(KEYS)
    if key is not None:
        headers[draw(st.sampled_from(["idempotency-key", "Idempotency-Key"]))] = key
    content_type = draw(
        st.sampled_from(["application/json", "application/json", "text/plain", None])
    )
    if content_type:
        headers["content-type"] = content_type
    query = draw(QUERIES)
    body = draw(BODIES) if method == "POST" else None
    event = http_api_event(method, path, route_key=f"{method} {template}")
    event["headers"] = headers  # as given: any case
    if query:
        event["queryStringParameters"] = query
        event["rawQueryString"] = "&".join(f"{k}={v}" for k, v in query.items())
    if body is not None:
        if draw(st.booleans()):
            event["body"] = base64.b64encode(body.encode()).decode()
            event["isBase64Encoded"] = True
        else:
            event["body"] = body
    return event


@settings(
    max_examples=400,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(event=requests())
def test_generated_requests_get_the_same_answer_both_ways(
    api: ModuleType, event: dict[str, Any]
) -> None:
    handlers, validating = both_ways(api, event)

    assert handlers == validating


@pytest.mark.parametrize(
    "event",
    [
        {"method": "POST", "path": "/exports", "body": {"campaignId": "cam_A1B2C3"}},
        {
            "method": "POST",
            "path": "/exports",
            "body": {"campaignId": "cam_A", "callbackUrl": "https://hooks.zapier.com/x"},
            "headers": {"Idempotency-Key": "zap-123"},
        },
        {"method": "GET", "path": "/exports/axp_Vv6lJOc8NlVVmDud5"},
        {"method": "GET", "path": "/exports", "query": "campaignId=cam_A1B2C3"},
        {"method": "GET", "path": "/exports", "query": "campaignId=cam_A&limit=100&nextToken=t"},
        {"method": "POST", "path": "/exports/axp_Vv6lJOc8NlVVmDud5/retry"},
    ],
    ids=["start", "start-keyed", "get", "list", "list-paged", "retry"],
)
def test_valid_requests_never_reach_the_validating_resolver(
    api: ModuleType, event: dict[str, Any]
) -> None:
    body = event.get("body")
    request = http_api_event(
        event["method"],
        event["path"],
        route_key="-",
        headers={"content-type": "application/json", **event.get("headers", {})},
        body=json.dumps(body).encode() if body else None,
        query=event.get("query", ""),
    )
    CALLS.clear()
    refused = AssertionError("the validating resolver was asked")
    with mock.patch.object(api, "_validating", side_effect=refused):
        answer = api.resolve(as_json(request), Context())

    assert answer["statusCode"] in (200, 202)
    assert len(CALLS) == 1


# Answers' bodies: shaped by http_api.plain, against Powertools' response validation.


def test_the_shapes_know_the_models_fields() -> None:
    assert tuple(ExportStarted.model_fields) == plain.STARTED_FIELDS
    assert all(f.annotation is str for f in ExportStarted.model_fields.values())
    assert list(plain.RETRY_FIELDS) == list(RetryStarted.model_fields)
    kinds = {name: f.annotation for name, f in RetryStarted.model_fields.items()}
    assert get_args(kinds.pop("action")) == plain.RETRY_ACTIONS
    assert kinds == {k: v for k, v in plain.RETRY_FIELDS.items() if k != "action"}


ANSWER_VALUES = st.one_of(
    st.text(max_size=5),
    st.none(),
    st.booleans(),
    st.integers(-2, 2),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(["copyAgain", "newExport"]),
    st.lists(st.integers(), max_size=2),
    st.builds(str.__new__, st.just(type("Text", (str,), {})), st.text(max_size=3)),
)


def answer_bodies(fields: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    """A model's body, some fields changed, dropped or added, in any key order."""
    changed = st.fixed_dictionaries({}, optional={name: ANSWER_VALUES for name in fields}).map(
        lambda odd: {**fields, **odd}
    )
    return st.one_of(
        st.just(fields),
        st.just(dict(sorted(fields.items()))),
        changed,
        changed.map(lambda body: dict(sorted(body.items(), reverse=True))),
        st.builds(
            lambda body, dropped, extra: {
                **{k: v for k, v in body.items() if k != dropped},
                **extra,
            },
            changed,
            st.sampled_from([*fields, None]),
            st.dictionaries(st.sampled_from(["extra", "more"]), ANSWER_VALUES, max_size=2),
        ),
    )


def answered_both_ways(
    api: ModuleType, annotation: Any, shape: Callable[[Any], Any], body: Any
) -> tuple[Any, Any]:
    """The answer to a route returning `body`: shaped by http_api.plain on a resolver without
    validation, and validated by Powertools against `annotation`; the API's exception
    handlers on both."""
    plain_way = APIGatewayHttpResolver()
    validating = APIGatewayHttpResolver(enable_validation=True)

    @plain_way.get("/answer")
    def shaped() -> Response[Any]:
        return Response(200, "application/json", shape(body))

    def validated() -> Any:
        return Response(200, "application/json", body)

    validated.__annotations__["return"] = annotation
    validating.get("/answer")(validated)
    for resolver in (plain_way, validating):
        for exception, handler in api.EXCEPTION_HANDLERS.items():
            resolver.exception_handler(exception)(handler)
    event = http_api_event("GET", "/answer", route_key="GET /answer")
    return plain_way.resolve(event, Context()), validating.resolve(event, Context())


ANSWER_SETTINGS = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@ANSWER_SETTINGS
@given(body=answer_bodies(STARTED))
def test_a_started_answer_is_what_powertools_makes_of_it(
    api: ModuleType, body: dict[str, Any]
) -> None:
    shaped, validated = answered_both_ways(api, Response[ExportStarted], plain.started_body, body)
    assert shaped == validated


@ANSWER_SETTINGS
@given(body=answer_bodies(RETRIED))
def test_a_retry_answer_is_what_powertools_makes_of_it(
    api: ModuleType, body: dict[str, Any]
) -> None:
    shaped, validated = answered_both_ways(api, Response[RetryStarted], plain.retry_body, body)
    assert shaped == validated


@ANSWER_SETTINGS
@given(body=answer_bodies({**VIEW, "nested": [{"a": 1.5}], "flag": True}))
def test_a_record_answer_is_what_powertools_makes_of_it(
    api: ModuleType, body: dict[str, Any]
) -> None:
    shaped, validated = answered_both_ways(api, dict[str, Any], plain.json_answer, body)
    assert shaped == validated
