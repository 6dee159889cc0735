"""Scheduled runs: the template's ScheduleV2 fired as EventBridge Scheduler would."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest

from local_stack.lemlist_simulator import DEFAULT_CAMPAIGN_ID, LemlistSimulator
from local_stack.scheduler import find_schedule, fire, scheduler_input
from local_stack.stack import LocalStack
from tests.conftest import StackFactory, load_event

pytestmark = pytest.mark.e2e

FIRING = datetime(2026, 11, 30, 6, 0, tzinfo=UTC)


def starts(simulator: LemlistSimulator) -> int:
    return len([r for r in simulator.requests if r.route == "start"])


def wait_for_all(stack: LocalStack, expected: int) -> None:
    """Until the schedule's `expected` executions have all ended (and their watchdog ran)."""
    sfn = stack.client("stepfunctions")
    deadline = time.monotonic() + 90
    while True:
        runs = sfn.list_executions(stateMachineArn=stack.stack.state_machine_arn)["executions"]
        if len(runs) >= expected and all(run["status"] != "RUNNING" for run in runs):
            assert stack.watchdog is not None
            for run in runs:
                stack.watchdog.notice(run["executionArn"])
            return
        assert time.monotonic() < deadline, "scheduled executions still running"
        time.sleep(0.2)


def test_the_template_schedule_input_becomes_the_event_scheduler_sends(
    stack: LocalStack,
) -> None:
    schedule = find_schedule(stack, "default")

    sent = scheduler_input(schedule, FIRING)

    assert '"campaignStatus": "running"' in sent
    assert '"scheduledTime": "2026-11-30T06:00:00Z"' in sent
    assert "<aws.scheduler" not in sent
    assert schedule.state == "DISABLED"  # off until the user turns it on
    sample = load_event("scheduled_run.json")
    assert set(sample) == {"campaignStatus", "scheduledTime", "scheduleArn"}


@pytest.mark.parametrize("shape", ["array", "paginated"])
def test_a_firing_exports_every_running_campaign(
    stack: LocalStack, simulator: LemlistSimulator, shape: str
) -> None:
    simulator.campaign_list_shape = shape
    for index in range(4):
        simulator.add_campaign(f"cam_Running{index}", f"Running {index}")
    simulator.add_campaign("cam_Paused", "Paused one", status="paused")

    outcome = fire(stack, when=FIRING)

    assert outcome.error is None
    started = set(outcome.payload["started"])
    assert started == {DEFAULT_CAMPAIGN_ID, *(f"cam_Running{i}" for i in range(4))}
    wait_for_all(stack, 5)
    for campaign_id in started:
        (record,) = stack.store().list_by_campaign(campaign_id, limit=5)[0]
        assert record.status == "delivered" and record.source == "schedule"
    assert stack.store().list_by_campaign("cam_Paused", limit=5)[0] == []


def test_a_firing_delivered_twice_starts_nothing_twice(
    stack: LocalStack, simulator: LemlistSimulator
) -> None:
    first = fire(stack, when=FIRING)
    wait_for_all(stack, 1)

    again = fire(stack, when=FIRING)

    assert first.payload["started"] == [DEFAULT_CAMPAIGN_ID]
    assert again.payload == {
        **again.payload,
        "started": [],
        "alreadyStarted": [DEFAULT_CAMPAIGN_ID],
    }
    assert starts(simulator) == 1
    next_day = fire(stack, when=FIRING.replace(day=1, month=12))
    assert next_day.payload["started"] == [DEFAULT_CAMPAIGN_ID]


def test_configured_campaign_ids_are_exported_without_listing(
    make_stack: StackFactory, simulator: LemlistSimulator
) -> None:
    simulator.add_campaign("cam_Chosen1", "Chosen one")
    simulator.add_campaign("cam_Chosen2", "Chosen two")
    stack = make_stack(parameters={"ScheduleCampaignIds": "cam_Chosen1, cam_Chosen2"})

    outcome = fire(stack, when=FIRING)

    assert outcome.payload["started"] == ["cam_Chosen1", "cam_Chosen2"]
    assert not [r for r in simulator.requests if r.route == "campaigns"]
    wait_for_all(stack, 2)


def test_many_campaigns_share_lemlists_rate_limit_without_a_single_429(
    stack: LocalStack, simulator: LemlistSimulator
) -> None:
    for index in range(24):
        simulator.add_campaign(f"cam_Bulk{index:02d}", f"Bulk {index}")

    outcome = fire(stack, when=FIRING)
    wait_for_all(stack, 25)

    assert len(outcome.payload["started"]) == 25
    answered = [r.status for r in simulator.requests if r.origin == "api"]
    assert 429 not in answered
    delivered = [
        record
        for campaign in outcome.payload["started"]
        for record in stack.store().list_by_campaign(campaign, limit=2)[0]
    ]
    assert len(delivered) == 25 and {r.status for r in delivered} == {"delivered"}
