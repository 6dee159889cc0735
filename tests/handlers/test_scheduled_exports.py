"""ScheduledExportsFunction: one firing of the schedule.

Each handler, called with the sample event in events/ (shaped as AWS sends it).

The handlers run in their local Lambda workers with the stack's real dependencies (DynamoDB,
S3 and Secrets Manager on the embedded AWS, lemlist played by the simulator); only the ids in
the sample events are swapped for ones that exist here.
"""

from __future__ import annotations

from local_stack.lemlist_simulator import DEFAULT_CAMPAIGN_ID
from local_stack.stack import LocalStack
from tests.conftest import load_event
from tests.handlers.support import invoke


def test_scheduled_handler_starts_one_execution_per_campaign(stack: LocalStack) -> None:
    outcome = invoke(stack, "ScheduledExportsFunction", load_event("scheduled_run.json"))

    assert outcome.error is None
    assert outcome.payload["started"] == [DEFAULT_CAMPAIGN_ID]
    assert outcome.payload["scheduledTime"] == "2026-11-30T06:00:00Z"
