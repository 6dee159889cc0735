"""StartExportFunction: the Start step.

Each handler, called with the sample event in events/ (shaped as AWS sends it).

The handlers run in their local Lambda workers with the stack's real dependencies (DynamoDB,
S3 and Secrets Manager on the embedded AWS, lemlist played by the simulator); only the ids in
the sample events are swapped for ones that exist here.
"""

from __future__ import annotations

from local_stack.lemlist_simulator import LemlistSimulator
from local_stack.stack import LocalStack
from tests.conftest import load_event
from tests.handlers.support import invoke


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
