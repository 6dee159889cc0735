"""ExportsApiFunction: POST /exports, GET /exports/{exportId}, GET /exports.

Each handler, called with the sample event in events/ (shaped as AWS sends it).

The handlers run in their local Lambda workers with the stack's real dependencies (DynamoDB,
S3 and Secrets Manager on the embedded AWS, lemlist played by the simulator); only the ids in
the sample events are swapped for ones that exist here.
"""

from __future__ import annotations

import json

import pytest

from local_stack.lemlist_simulator import DEFAULT_CAMPAIGN_ID, LemlistSimulator
from local_stack.stack import LocalStack
from tests.conftest import load_event
from tests.handlers.support import copy_in_flight, invoke, with_ids


@pytest.mark.parametrize("sample", ["post_exports.json", "post_exports_base64.json"])
def test_post_exports_answers_202_records_and_starts_one_execution(
    stack: LocalStack, simulator: LemlistSimulator, sample: str
) -> None:
    outcome = invoke(stack, "ExportsApiFunction", load_event(sample))

    assert outcome.error is None
    answer = outcome.payload
    assert answer["statusCode"] == 202
    body = json.loads(answer["body"])
    assert body["status"] == "pending" and body["campaignId"] == DEFAULT_CAMPAIGN_ID
    assert body["exportId"] in simulator.exports
    record = stack.record(body["exportId"])
    assert record is not None and record.status == "pending" and record.source == "api"
    execution = stack.client("stepfunctions").describe_execution(
        executionArn=stack.execution_arn(body["exportId"])
    )
    started_with = json.loads(execution["input"])
    assert started_with["start"]["status"] == "started"
    assert started_with["start"]["exportId"] == body["exportId"]
    # The waits in the input come from the template parameters (zero in tests).
    assert started_with["check"]["nextCheckInSeconds"] == 0
    stack.wait_for_end(body["exportId"], timeout=60)


def test_get_export_handler_shows_the_record_and_a_download_url(
    stack: LocalStack, simulator: LemlistSimulator, api_key: str
) -> None:
    export_id, _ = copy_in_flight(stack, simulator, api_key)

    outcome = invoke(
        stack, "ExportsApiFunction", with_ids(load_event("get_export.json"), export_id)
    )

    assert outcome.payload["statusCode"] == 200
    view = json.loads(outcome.payload["body"])
    assert view["exportId"] == export_id and view["status"] == "delivered"
    assert view["downloadUrl"].startswith("http") and view["downloadUrlExpiresIn"] == 900


def test_list_exports_handler_pages_a_campaigns_exports(
    stack: LocalStack, simulator: LemlistSimulator, api_key: str
) -> None:
    export_id, _ = copy_in_flight(stack, simulator, api_key)

    outcome = invoke(stack, "ExportsApiFunction", load_event("list_exports.json"))

    body = json.loads(outcome.payload["body"])
    assert outcome.payload["statusCode"] == 200
    assert [e["exportId"] for e in body["exports"]] == [export_id]
    assert body["nextToken"] is None
