"""No orphans: the sweeper finishes exports left open with no running execution.

Each test leaves an export the way a crash would (the record written, the execution never
started, or ended without finishing it), runs SweepExportsFunction as its schedule would,
and checks the end: delivered with lemlist's bytes, or failed with a reason, and announced.
"""

from __future__ import annotations

import json
import time
from datetime import timedelta
from typing import Any

import pytest

from lemlist_export.core.clock import utc_now
from lemlist_export.core.url_judge import LOCAL_URLS
from lemlist_export.lemlist.client import ClientSettings, LemlistClient
from lemlist_export.records.new import new_record, refused_record
from lemlist_export.records.record import ExportRecord
from lemlist_export.wiring.settings import wait_policy
from lemlist_export.workflow.contract import input_for_started
from local_stack.lemlist_simulator import DEFAULT_CAMPAIGN_ID, ExportPlan, LemlistSimulator
from local_stack.stack import LocalStack
from local_stack.webhook_receiver import LocalNotificationTargets

pytestmark = pytest.mark.e2e


def left_open(
    stack: LocalStack, simulator: LemlistSimulator, api_key: str, *, minutes_ago: int
) -> ExportRecord:
    """An export lemlist started and the store recorded, as if the start path then died
    before StartExecution (so no execution runs it)."""
    client = LemlistClient(api_key, ClientSettings(base_url=simulator.base_url, urls=LOCAL_URLS))
    status = client.start_export(DEFAULT_CAMPAIGN_ID)
    record = new_record(
        status, source="api", now=utc_now() - timedelta(minutes=minutes_ago), retention_days=1
    )
    stack.store().create(record)
    return record


def sweep(stack: LocalStack, event: dict[str, Any] | None = None) -> dict[str, Any]:
    name = stack.stack.functions["SweepExportsFunction"].name
    # {}: what EventBridge Scheduler sends a target without an Input.
    outcome = stack.lambdas.invoke(name, event or {})
    assert outcome.error is None, outcome.error
    return dict(outcome.payload)


def served(simulator: LemlistSimulator, export_id: str) -> bytes:
    return simulator.exports[export_id].csv.to_bytes()


def stored(stack: LocalStack, record: ExportRecord) -> bytes:
    assert record.bucket and record.key
    return stack.client("s3").get_object(Bucket=record.bucket, Key=record.key)["Body"].read()


def ends_delivered(
    stack: LocalStack,
    simulator: LemlistSimulator,
    targets: LocalNotificationTargets,
    export_id: str,
) -> None:
    """The resumed export ends delivered with lemlist's bytes, announced once."""
    final = stack.wait_for_end(export_id, timeout=60)
    assert final.status == "delivered"
    assert stored(stack, final) == served(simulator, export_id)
    assert webhook_events(targets) == [("export.delivered", export_id)]


def webhook_events(targets: LocalNotificationTargets) -> list[tuple[str, str]]:
    posts = targets.receiver.posts_to(targets.WEBHOOK_PATH)
    return [(p.json()["event"], p.json()["exportId"]) for p in posts]


def test_an_export_whose_poller_never_started_is_resumed_and_delivered(
    stack: LocalStack,
    simulator: LemlistSimulator,
    targets: LocalNotificationTargets,
    api_key: str,
) -> None:
    record = left_open(stack, simulator, api_key, minutes_ago=20)

    report = sweep(stack)

    assert report["resumed"] == [record.export_id] and report["failed"] == []
    ends_delivered(stack, simulator, targets, record.export_id)
    # Swept once: the next run finds nothing open.
    assert sweep(stack)["openExports"] == 0


def test_an_export_lemlist_forgot_is_failed_and_announced(
    stack: LocalStack,
    simulator: LemlistSimulator,
    targets: LocalNotificationTargets,
    api_key: str,
) -> None:
    simulator.set_plan(DEFAULT_CAMPAIGN_ID, ExportPlan(expire_after_seconds=0.5))
    record = left_open(stack, simulator, api_key, minutes_ago=200)
    time.sleep(0.6)  # lemlist's own expiry, shortened by the plan: it forgets the export

    report = sweep(stack)

    assert report["failed"] == [record.export_id] and report["overdue"] == 1
    final = stack.record(record.export_id)
    assert final is not None and final.status == "failed"
    assert final.failure_type == "OrphanedExport"
    assert "its status poller never started" in (final.failure_reason or "")
    assert "start a new export" in (final.failure_reason or "")
    assert webhook_events(targets) == [("export.failed", record.export_id)]
    assert {n.outcome for n in final.notifications.values()} == {"sent"}


def test_a_running_export_and_a_young_one_are_left_alone(
    stack: LocalStack, simulator: LemlistSimulator, api_key: str
) -> None:
    simulator.set_plan(DEFAULT_CAMPAIGN_ID, ExportPlan(pending_polls=10_000))
    old = left_open(stack, simulator, api_key, minutes_ago=30)
    young = left_open(stack, simulator, api_key, minutes_ago=1)
    waits = wait_policy({"POLL_FIRST_WAIT_SECONDS": "5", "POLL_INTERVAL_SECONDS": "5"})
    stack.client("stepfunctions").start_execution(
        stateMachineArn=stack.stack.state_machine_arn,
        name=old.export_id,
        input=json.dumps(input_for_started(old, waits, "api")),
    )

    report = sweep(stack)

    assert (report["openExports"], report["running"]) == (1, 1)  # the young one is not listed
    assert report["resumed"] == [] and report["failed"] == []
    for record in (old, young):
        current = stack.record(record.export_id)
        assert current is not None and current.status == "pending"


def start_broken_execution(stack: LocalStack, record: ExportRecord) -> None:
    """An execution of the export that fails outside its own failure path (its input lacks
    the slots the first Choice reads: States.Runtime, no Catch), its watchdog event lost (the
    local watchdog only runs when a test waits for an end)."""
    sfn = stack.client("stepfunctions")
    arn = sfn.start_execution(
        stateMachineArn=stack.stack.state_machine_arn, name=record.export_id, input="{}"
    )["executionArn"]
    deadline = time.monotonic() + 30
    while sfn.describe_execution(executionArn=arn)["status"] == "RUNNING":
        assert time.monotonic() < deadline
        time.sleep(0.1)


def test_an_export_whose_execution_died_unannounced_is_resumed_under_a_new_name(
    stack: LocalStack,
    simulator: LemlistSimulator,
    targets: LocalNotificationTargets,
    api_key: str,
) -> None:
    record = left_open(stack, simulator, api_key, minutes_ago=20)
    start_broken_execution(stack, record)

    # Just ended: the watchdog's to finish first.
    assert sweep(stack)["resumed"] == []
    # Run by hand without the grace (as after 30 minutes):
    report = sweep(stack, {"stoppedGraceSeconds": 0})

    assert report["resumed"] == [record.export_id]
    current = stack.record(record.export_id)
    assert current is not None and current.execution_name == f"{record.export_id}-swept-1"
    ends_delivered(stack, simulator, targets, record.export_id)


def test_an_export_whose_execution_was_stopped_by_hand_is_failed_not_resumed(
    stack: LocalStack,
    simulator: LemlistSimulator,
    targets: LocalNotificationTargets,
    api_key: str,
) -> None:
    record = left_open(stack, simulator, api_key, minutes_ago=20)
    sfn = stack.client("stepfunctions")
    waits = wait_policy({"POLL_FIRST_WAIT_SECONDS": "30"})
    execution = sfn.start_execution(
        stateMachineArn=stack.stack.state_machine_arn,
        name=record.export_id,
        input=json.dumps(input_for_started(record, waits, "api")),
    )
    sfn.stop_execution(executionArn=execution["executionArn"])

    report = sweep(stack, {"stoppedGraceSeconds": 0})

    assert report["failed"] == [record.export_id] and report["resumed"] == []
    final = stack.record(record.export_id)
    assert final is not None and final.status == "failed"
    assert "stopped (ABORTED)" in (final.failure_reason or "")
    assert webhook_events(targets) == [("export.failed", record.export_id)]
    # Announced once: a second run finds nothing open and announces nothing more.
    assert sweep(stack, {"stoppedGraceSeconds": 0})["openExports"] == 0
    assert webhook_events(targets) == [("export.failed", record.export_id)]


def test_a_refused_start_never_enters_the_sweepers_index(
    stack: LocalStack, simulator: LemlistSimulator
) -> None:
    refused = refused_record(
        "slack_refused_1",
        DEFAULT_CAMPAIGN_ID,
        source="slack",
        failure_type="LemlistRequestError",
        reason="lemlist answered 400",
        now=utc_now() - timedelta(hours=5),
        retention_days=1,
    )
    stack.store().create(refused)
    items = stack.client("dynamodb").scan(TableName=stack.stack.table)["Items"]
    assert [i for i in items if "openShard" in i] == []
    assert sweep(stack, {"orphanAfterSeconds": 0})["openExports"] == 0
