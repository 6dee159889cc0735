"""CopyExportFunction: the Copy step.

Each handler, called with the sample event in events/ (shaped as AWS sends it).

The handlers run in their local Lambda workers with the stack's real dependencies (DynamoDB,
S3 and Secrets Manager on the embedded AWS, lemlist played by the simulator); only the ids in
the sample events are swapped for ones that exist here.
"""

from __future__ import annotations

from lemlist_export.core.url_judge import LOCAL_URLS
from lemlist_export.lemlist.client import ClientSettings, LemlistClient
from local_stack.lemlist_simulator import DEFAULT_CAMPAIGN_ID, ExportPlan, LemlistSimulator
from local_stack.stack import LocalStack
from tests.conftest import load_event
from tests.handlers.support import copy_in_flight, invoke, lemlist_export_in_flight, with_ids


def test_copy_handler_streams_the_csv_into_s3(
    stack: LocalStack, simulator: LemlistSimulator, api_key: str
) -> None:
    export_id, outcome = copy_in_flight(stack, simulator, api_key)

    assert outcome.error is None
    assert outcome.payload["status"] == "delivered"
    record = stack.record(export_id)
    assert record is not None and record.status == "delivered"
    stored = stack.client("s3").get_object(Bucket=record.bucket, Key=record.key)["Body"].read()
    assert stored == simulator.exports[export_id].csv.to_bytes()
    assert outcome.payload["sha256"] == record.sha256


def test_a_copy_for_an_export_that_already_failed_stores_nothing(
    stack: LocalStack, simulator: LemlistSimulator, api_key: str
) -> None:
    simulator.set_plan(DEFAULT_CAMPAIGN_ID, ExportPlan(pending_polls=0))
    export_id, _ = lemlist_export_in_flight(stack, simulator, api_key)
    client = LemlistClient(api_key, ClientSettings(base_url=simulator.base_url, urls=LOCAL_URLS))
    stack.store().record_poll(
        export_id, client.get_export_status(DEFAULT_CAMPAIGN_ID, export_id), 1
    )
    stack.store().mark_failed(export_id, "ExportExpiredError", "gave up")

    outcome = invoke(
        stack, "CopyExportFunction", with_ids(load_event("copy_export.json"), export_id)
    )

    assert outcome.error is not None and outcome.error["errorType"] == "InvalidTransitionError"
    listed = stack.client("s3").list_objects_v2(Bucket=stack.stack.bucket)
    assert listed.get("KeyCount", 0) == 0


def test_a_retried_copy_of_a_delivered_export_is_a_no_op(
    stack: LocalStack, simulator: LemlistSimulator, api_key: str
) -> None:
    export_id, first = copy_in_flight(stack, simulator, api_key)
    event = with_ids(load_event("copy_export.json"), export_id)
    event["fileSize"] = first.payload["bytes"]

    again = invoke(stack, "CopyExportFunction", event)

    assert again.error is None
    assert again.payload["status"] == "delivered"
    assert again.payload["sha256"] == first.payload["sha256"]
    downloads = [r for r in simulator.requests if r.route == "download"]
    assert len(downloads) == 1  # nothing fetched twice
