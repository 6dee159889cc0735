"""AnnounceExportFunction: the Announce step, and the watchdog.

Each handler, called with the sample event in events/ (shaped as AWS sends it).

The handlers run in their local Lambda workers with the stack's real dependencies (DynamoDB,
S3 and Secrets Manager on the embedded AWS, lemlist played by the simulator); only the ids in
the sample events are swapped for ones that exist here.
"""

from __future__ import annotations

import json

from local_stack.lemlist_simulator import LemlistSimulator
from local_stack.stack import LocalStack
from local_stack.webhook_receiver import LocalNotificationTargets
from tests.conftest import load_event
from tests.handlers.support import copy_in_flight, invoke, lemlist_export_in_flight, with_ids


def test_announce_handler_records_the_caught_failure_and_announces_it(
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


def test_announce_handler_catches_a_timed_out_execution_from_eventbridge(
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


def test_announce_handler_reads_a_lambda_error_cause_from_eventbridge(
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


def test_announce_handler_announces_a_delivered_export(
    stack: LocalStack,
    simulator: LemlistSimulator,
    api_key: str,
    targets: LocalNotificationTargets,
) -> None:
    export_id, _ = copy_in_flight(stack, simulator, api_key)

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


def test_announce_handler_never_calls_an_undelivered_export_delivered(
    stack: LocalStack, simulator: LemlistSimulator, api_key: str
) -> None:
    export_id, _ = lemlist_export_in_flight(stack, simulator, api_key)

    event = with_ids(load_event("announce_export_delivered.json"), export_id)
    outcome = invoke(stack, "AnnounceExportFunction", event)

    assert outcome.error is None
    record = stack.record(export_id)
    assert record is not None and record.status == "failed"
    assert record.failure_type == "IncompleteExport"
