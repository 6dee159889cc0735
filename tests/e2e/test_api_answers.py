"""What the HTTP API answers a caller who got the request slightly wrong (issue 7's findings)."""

from __future__ import annotations

import json

import pytest

from local_stack.lemlist_simulator import DEFAULT_CAMPAIGN_ID, LemlistSimulator
from local_stack.stack import LocalStack

pytestmark = pytest.mark.e2e


def post(stack: LocalStack, body: str, authorization: str | None = None) -> tuple[int, str]:
    assert stack.http_api is not None
    headers = stack.api_headers()
    if authorization is not None:
        headers["authorization"] = authorization
    answer = stack.http_api.request("POST", "/exports", headers=headers, body=body)
    return answer.status, answer.json()["message"]


@pytest.mark.parametrize("authorization", ["Bearer", "Bearer ", "bearer    "])
def test_an_empty_bearer_token_is_named_as_such(stack: LocalStack, authorization: str) -> None:
    status, message = post(stack, json.dumps({"campaignId": DEFAULT_CAMPAIGN_ID}), authorization)

    assert status == 401
    assert message.startswith("The bearer token is empty")
    assert "$API_TOKEN" in message


@pytest.mark.parametrize(
    "body",
    [
        json.dumps([{"campaignId": DEFAULT_CAMPAIGN_ID}]),  # once: the first element was used
        json.dumps(DEFAULT_CAMPAIGN_ID),
        "42",
        "null",
    ],
    ids=["array", "string", "number", "null"],
)
def test_json_that_is_not_an_object_is_a_422_and_starts_nothing(
    stack: LocalStack, simulator: LemlistSimulator, body: str
) -> None:
    status, message = post(stack, body)

    assert status == 422
    assert message.startswith("The body must be a JSON object like")
    assert [r for r in simulator.requests if r.route == "start"] == []


def test_idempotency_keys_are_named_after_the_pinned_prefix_not_the_module(
    stack: LocalStack,
) -> None:
    # Unpinned, Powertools names keys after the decorated function's module and name, so a
    # rename or move of `_start_once` would change every key (and a replay would start again).
    assert stack.http_api is not None
    function_name = stack.stack.functions["ExportsApiFunction"].name
    headers = {**stack.api_headers(), "idempotency-key": "pinned-prefix-1"}
    body = json.dumps({"campaignId": DEFAULT_CAMPAIGN_ID})
    assert stack.http_api.request("POST", "/exports", headers=headers, body=body).status == 202

    items = stack.client("dynamodb").scan(TableName=stack.stack.name("CoordinationTable"))["Items"]
    ids = [item["id"]["S"] for item in items]
    keys = [i for i in ids if "_start_once#" in i]

    assert keys == [i for i in ids if i.startswith(f"{function_name}.app._start_once#")]
    assert len(keys) == 1
