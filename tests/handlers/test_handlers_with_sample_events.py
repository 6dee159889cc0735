"""Each handler, called with the sample event in events/ (shaped as AWS sends it).

The handlers run in-process with the stack's real dependencies (DynamoDB, S3 and Secrets
Manager on the embedded AWS, lemlist played by the simulator); only the ids in the sample
events are swapped for ones that exist here.
"""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import pytest
from slack_sdk.signature import SignatureVerifier

from lemlist_export.core.clock import iso, utc_now
from lemlist_export.core.url_judge import LOCAL_URLS
from lemlist_export.lemlist.client import ClientSettings, LemlistClient
from lemlist_export.records.new import new_record
from lemlist_export.workflow.contract import input_for_started
from lemlist_export.workflow.wait_policy import WaitPolicy
from local_stack.lambdas import Invocation
from local_stack.lemlist_simulator import DEFAULT_CAMPAIGN_ID, ExportPlan, LemlistSimulator
from local_stack.stack import LocalStack
from local_stack.webhook_receiver import LocalNotificationTargets
from tests.conftest import SLACK_SIGNING_SECRET, load_event


def invoke(stack: LocalStack, logical_id: str, event: dict[str, Any]) -> Invocation:
    return stack.lambdas.invoke(stack.stack.functions[logical_id].name, event)


def lemlist_export_in_flight(
    stack: LocalStack, simulator: LemlistSimulator, api_key: str
) -> tuple[str, dict[str, Any]]:
    """An export started in lemlist and recorded, as the start handler leaves it."""
    client = LemlistClient(api_key, ClientSettings(base_url=simulator.base_url, urls=LOCAL_URLS))
    status = client.start_export(DEFAULT_CAMPAIGN_ID)
    record = new_record(status, source="api", now=utc_now(), retention_days=1)
    stack.store().create(record)
    return status.export_id, input_for_started(record, WaitPolicy(), record.source)


def with_ids(event: dict[str, Any], export_id: str) -> dict[str, Any]:
    """The sample event about `export_id`, started now (the samples date from their writing)."""
    text = json.dumps(event).replace("axp_Vv6lJOc8NlVVmDud5", export_id)
    event = json.loads(text)
    if "startedAt" in event:
        event["startedAt"] = iso(utc_now())
    return event


@pytest.mark.parametrize("sample", ["post_exports.json", "post_exports_base64.json"])
def test_start_handler_answers_202_records_and_starts_one_execution(
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


def test_check_handler_records_progress_and_answers_the_next_wait(
    stack: LocalStack, simulator: LemlistSimulator, api_key: str
) -> None:
    export_id, _ = lemlist_export_in_flight(stack, simulator, api_key)

    outcome = invoke(
        stack, "CheckExportFunction", with_ids(load_event("check_export.json"), export_id)
    )

    assert outcome.error is None
    assert outcome.payload["status"] == "pending"
    assert outcome.payload["pollCount"] == 1
    # The sample's policy: 5 s at first (lemlist's advice).
    assert outcome.payload["nextCheckInSeconds"] == 5
    record = stack.record(export_id)
    assert record is not None and record.poll_count == 1 and record.progress.total == 100


def test_check_handler_raises_the_typed_error_step_functions_catches(
    stack: LocalStack, simulator: LemlistSimulator, api_key: str
) -> None:
    event = with_ids(load_event("check_export.json"), "axp_NotAnExport000001")

    outcome = invoke(stack, "CheckExportFunction", event)

    assert outcome.error is not None
    assert outcome.error["errorType"] == "ExportExpiredError"
    assert "2 hours" in outcome.error["errorMessage"]


def deliver(stack: LocalStack, simulator: LemlistSimulator, api_key: str) -> tuple[str, Invocation]:
    """An export lemlist has finished, copied by the deliver handler from its sample event."""
    simulator.set_plan(DEFAULT_CAMPAIGN_ID, ExportPlan(pending_polls=0))
    export_id, _ = lemlist_export_in_flight(stack, simulator, api_key)
    client = LemlistClient(api_key, ClientSettings(base_url=simulator.base_url, urls=LOCAL_URLS))
    done = client.get_export_status(DEFAULT_CAMPAIGN_ID, export_id)
    event = with_ids(load_event("copy_export.json"), export_id)
    stack.store().record_poll(export_id, done, 1)  # what the check step records when done
    event["fileSize"] = done.file_size
    return export_id, invoke(stack, "CopyExportFunction", event)


def test_deliver_handler_streams_the_csv_into_s3(
    stack: LocalStack, simulator: LemlistSimulator, api_key: str
) -> None:
    export_id, outcome = deliver(stack, simulator, api_key)

    assert outcome.error is None
    assert outcome.payload["status"] == "delivered"
    record = stack.record(export_id)
    assert record is not None and record.status == "delivered"
    stored = stack.client("s3").get_object(Bucket=record.bucket, Key=record.key)["Body"].read()
    assert stored == simulator.exports[export_id].csv.to_bytes()
    assert outcome.payload["sha256"] == record.sha256


def test_finish_handler_records_the_caught_failure_and_announces_it(
    stack: LocalStack,
    simulator: LemlistSimulator,
    api_key: str,
    targets: LocalNotificationTargets,
) -> None:
    export_id, _ = lemlist_export_in_flight(stack, simulator, api_key)

    outcome = invoke(
        stack,
        "AnnounceExportFunction",
        with_ids(load_event("announce_export_failed.json"), export_id),
    )

    assert outcome.error is None
    record = stack.record(export_id)
    assert record is not None and record.status == "failed"
    assert record.failure_type == "ExportExpiredError"
    assert record.failure_reason.startswith(f"lemlist no longer knows export {export_id}")
    (hook,) = targets.receiver.posts_to(targets.WEBHOOK_PATH)
    assert hook.json()["error"] == record.failure_reason
    # A second delivery of the same event changes nothing and posts nothing new.
    invoke(
        stack,
        "AnnounceExportFunction",
        with_ids(load_event("announce_export_failed.json"), export_id),
    )
    assert len(targets.receiver.posts) == 2


def test_finish_handler_catches_a_timed_out_execution_from_eventbridge(
    stack: LocalStack,
    simulator: LemlistSimulator,
    api_key: str,
    targets: LocalNotificationTargets,
) -> None:
    export_id, _ = lemlist_export_in_flight(stack, simulator, api_key)

    outcome = invoke(
        stack, "AnnounceExportFunction", with_ids(load_event("execution_timed_out.json"), export_id)
    )

    assert outcome.error is None
    record = stack.record(export_id)
    assert record is not None and record.status == "failed"
    assert "TIMED_OUT" in (record.failure_reason or "")
    assert record.notifications["slack"].outcome == "sent"


def test_finish_handler_reads_a_lambda_error_cause_from_eventbridge(
    stack: LocalStack, simulator: LemlistSimulator, api_key: str
) -> None:
    export_id, _ = lemlist_export_in_flight(stack, simulator, api_key)
    event = with_ids(load_event("execution_timed_out.json"), export_id)
    event["detail"].update(
        status="FAILED",
        error="LemlistAuthError",
        cause=json.dumps(
            {
                "errorType": "LemlistAuthError",
                "errorMessage": "lemlist rejected the API key (401 Unauthorized)",
                "stackTrace": ['  File "/var/task/app.py", line 21\n'],
            }
        ),
    )

    assert invoke(stack, "AnnounceExportFunction", event).error is None

    record = stack.record(export_id)
    assert record is not None and record.failure_type == "LemlistAuthError"
    assert record.failure_reason.startswith("lemlist rejected the API key (401 Unauthorized)")
    assert "stackTrace" not in record.failure_reason


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
    export_id, first = deliver(stack, simulator, api_key)
    event = with_ids(load_event("copy_export.json"), export_id)
    event["fileSize"] = first.payload["bytes"]

    again = invoke(stack, "CopyExportFunction", event)

    assert again.error is None
    assert again.payload["status"] == "delivered"
    assert again.payload["sha256"] == first.payload["sha256"]
    downloads = [r for r in simulator.requests if r.route == "download"]
    assert len(downloads) == 1  # nothing fetched twice


def test_finish_handler_announces_a_delivered_export(
    stack: LocalStack,
    simulator: LemlistSimulator,
    api_key: str,
    targets: LocalNotificationTargets,
) -> None:
    export_id, _ = deliver(stack, simulator, api_key)

    event = with_ids(load_event("announce_export_delivered.json"), export_id)
    outcome = invoke(stack, "AnnounceExportFunction", event)

    assert outcome.error is None
    assert outcome.payload == {
        "exportId": export_id,
        "status": "delivered",
        "notifications": {"slack": "sent", "webhook": "sent"},
    }
    (hook,) = targets.receiver.posts_to(targets.WEBHOOK_PATH)
    assert hook.json()["event"] == "export.delivered"
    assert hook.signature_valid is True


def test_finish_handler_never_calls_an_undelivered_export_delivered(
    stack: LocalStack, simulator: LemlistSimulator, api_key: str
) -> None:
    export_id, _ = lemlist_export_in_flight(stack, simulator, api_key)

    event = with_ids(load_event("announce_export_delivered.json"), export_id)
    outcome = invoke(stack, "AnnounceExportFunction", event)

    assert outcome.error is None
    record = stack.record(export_id)
    assert record is not None and record.status == "failed"
    assert record.failure_type == "IncompleteExport"


def test_get_export_handler_shows_the_record_and_a_download_url(
    stack: LocalStack, simulator: LemlistSimulator, api_key: str
) -> None:
    export_id, _ = deliver(stack, simulator, api_key)

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
    export_id, _ = deliver(stack, simulator, api_key)

    outcome = invoke(stack, "ExportsApiFunction", load_event("list_exports.json"))

    body = json.loads(outcome.payload["body"])
    assert outcome.payload["statusCode"] == 200
    assert [e["exportId"] for e in body["exports"]] == [export_id]
    assert body["nextToken"] is None


def test_slack_handler_acknowledges_a_signed_command(
    stack: LocalStack, simulator: LemlistSimulator
) -> None:
    event = load_event("slack_command.json")
    body = base64.b64decode(event["body"])
    stamp = str(int(time.time()))
    event["headers"]["x-slack-request-timestamp"] = stamp
    event["headers"]["x-slack-signature"] = SignatureVerifier(
        SLACK_SIGNING_SECRET
    ).generate_signature(timestamp=stamp, body=body)

    outcome = invoke(stack, "SlackCommandFunction", event)

    assert outcome.payload["statusCode"] == 200
    assert "Starting an export" in outcome.payload["body"]
    name = "slack_13345224609_738474920_8088930838d88f008e0"
    execution = stack.client("stepfunctions").describe_execution(
        executionArn=stack.execution_arn(name)
    )
    assert json.loads(execution["input"])["campaignId"] == DEFAULT_CAMPAIGN_ID
    assert "hooks.slack.com" not in execution["input"]


def test_scheduled_handler_starts_one_execution_per_campaign(stack: LocalStack) -> None:
    outcome = invoke(stack, "ScheduledExportsFunction", load_event("scheduled_run.json"))

    assert outcome.error is None
    assert outcome.payload["started"] == [DEFAULT_CAMPAIGN_ID]
    assert outcome.payload["scheduledTime"] == "2026-11-30T06:00:00Z"


def test_start_handler_starts_the_export_and_answers_its_slot(
    stack: LocalStack, simulator: LemlistSimulator
) -> None:
    outcome = invoke(stack, "StartExportFunction", load_event("start_export.json"))

    assert outcome.error is None
    slot = outcome.payload
    assert slot["status"] == "started" and slot["attempt"] == 1
    assert slot["exportId"] in simulator.exports
    record = stack.record(slot["exportId"])
    assert record is not None and record.source == "schedule"
    assert slot["startedAt"] == record.created_at
    assert record.execution_name == "sched_3f1c2a9b7d4e_20261130T0600_cam_DemoCampaign01"
    # A retried task continues the same export instead of starting another.
    again = invoke(stack, "StartExportFunction", load_event("start_export.json"))
    assert again.payload["exportId"] == slot["exportId"] and len(simulator.exports) == 1
