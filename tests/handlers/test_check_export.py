"""CheckExportFunction: the Check step.

Each handler, called with the sample event in events/ (shaped as AWS sends it).

The handlers run in their local Lambda workers with the stack's real dependencies (DynamoDB,
S3 and Secrets Manager on the embedded AWS, lemlist played by the simulator); only the ids in
the sample events are swapped for ones that exist here.
"""

from __future__ import annotations

from local_stack.lemlist_simulator import LemlistSimulator
from local_stack.stack import LocalStack
from tests.conftest import load_event
from tests.handlers.support import invoke, lemlist_export_in_flight, with_ids


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
