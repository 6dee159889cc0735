"""A scheduled firing that fails: on file, announced once, and still a failed invocation."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime

import pytest
import urllib3

from lemlist_export.records.record import ExportRecord
from lemlist_export.schedules.failures import SCHEDULE_CAMPAIGN_ID
from local_stack.lemlist_simulator import DEFAULT_CAMPAIGN_ID, Fault, LemlistSimulator
from local_stack.scheduler import fire, firing_record_id
from local_stack.serve import LocalApiServer
from local_stack.stack import LocalStack
from local_stack.webhook_receiver import LocalNotificationTargets
from tests.conftest import StackFactory

pytestmark = pytest.mark.e2e

FIRING = datetime(2026, 11, 30, 6, 0, tzinfo=UTC)
KEY_SECRET = "lemlist-stats-export/api-key"  # the template's default LemlistApiKeySecretName


def executions(stack: LocalStack) -> list[dict]:
    sfn = stack.client("stepfunctions")
    return sfn.list_executions(stateMachineArn=stack.stack.state_machine_arn)["executions"]


def failed_posts(targets: LocalNotificationTargets) -> tuple[list, list]:
    slack = [
        post
        for post in targets.receiver.posts_to(targets.SLACK_PATH)
        if "failed" in post.json()["text"]
    ]
    hooks = [
        post
        for post in targets.receiver.posts_to(targets.WEBHOOK_PATH)
        if post.json()["event"] == "export.failed"
    ]
    return slack, hooks


def test_a_firing_lemlist_refuses_is_recorded_and_announced_once_and_still_fails(
    make_stack: StackFactory, targets: LocalNotificationTargets, api_key: str
) -> None:
    wrong_key = f"wrong-key-{api_key[::-1]}"
    stack = make_stack(key=wrong_key)

    first = fire(stack, when=FIRING)
    again = fire(stack, when=FIRING)  # Lambda's retry, or Scheduler delivering twice

    # The invocation still fails, so AWS retries it and then queues it (FailedInvocationsQueue).
    for outcome in (first, again):
        assert outcome.errored and outcome.error is not None
        assert outcome.error["errorType"] == "LemlistAuthError"
    record = stack.record(firing_record_id(stack, None, FIRING))
    assert record is not None
    assert (record.status, record.source, record.campaign_id) == (
        "failed",
        "schedule",
        SCHEDULE_CAMPAIGN_ID,
    )
    assert record.failure_type == "LemlistAuthError"
    assert record.failure_reason == (
        "The scheduled run of 2026-11-30T06:00:00Z started no export: lemlist rejected the "
        f"API key (401 Unauthorized). Put a valid lemlist API key in the secret {KEY_SECRET} "
        "(parameter LemlistApiKeySecretName), then wait for the next run."
    )
    assert record.campaign_name == "every running campaign"
    assert {name: n.outcome for name, n in record.notifications.items()} == {
        "slack": "sent",
        "webhook": "sent",
    }
    assert executions(stack) == []

    (slack,), (hook,) = failed_posts(targets)
    assert len(targets.receiver.posts) == 2
    assert KEY_SECRET in slack.json()["text"]
    assert hook.signature_valid is True
    body = hook.json()
    assert (body["exportId"], body["status"], body["errorType"]) == (
        record.export_id,
        "failed",
        "LemlistAuthError",
    )
    assert body["error"] == record.failure_reason
    for post in targets.receiver.posts:
        assert wrong_key.encode() not in post.body and api_key.encode() not in post.body


def test_a_firing_while_lemlist_is_down_is_announced_and_its_retry_still_exports(
    stack: LocalStack, simulator: LemlistSimulator, targets: LocalNotificationTargets
) -> None:
    simulator.inject("campaigns", Fault.server_error(503))

    failed = fire(stack, when=FIRING)
    retried = fire(stack, when=FIRING)  # lemlist is back by Lambda's retry

    assert failed.error is not None and failed.error["errorType"] == "LemlistTransientError"
    record = stack.record(firing_record_id(stack, None, FIRING))
    assert record is not None and record.status == "failed"
    reason = record.failure_reason or ""
    assert reason.startswith(
        "The scheduled run of 2026-11-30T06:00:00Z started no export: lemlist answered 503"
    )
    assert "Nothing to do: AWS Lambda runs a failed firing again" in reason
    assert retried.error is None and retried.payload["started"] == [DEFAULT_CAMPAIGN_ID]
    export = wait_for_export(stack, DEFAULT_CAMPAIGN_ID)
    assert export.status == "delivered"
    slack, hooks = failed_posts(targets)
    assert len(slack) == len(hooks) == 1  # the firing's failure, once; then the delivery
    assert [h.json()["exportId"] for h in hooks] == [record.export_id]


def test_a_firing_that_cannot_read_the_key_is_recorded_as_a_configuration_error(
    stack: LocalStack, targets: LocalNotificationTargets
) -> None:
    stack.client("secretsmanager").delete_secret(
        SecretId=KEY_SECRET, ForceDeleteWithoutRecovery=True
    )
    stack.forget_warm_state()

    outcome = fire(stack, when=FIRING)

    assert outcome.error is not None and outcome.error["errorType"] == "ConfigurationError"
    record = stack.record(firing_record_id(stack, None, FIRING))
    assert record is not None
    assert record.failure_reason == (
        "The scheduled run of 2026-11-30T06:00:00Z started no export: Could not read the "
        f"secret {KEY_SECRET}: ResourceNotFoundException. Fix the stack's configuration "
        "named above, then wait for the next run."
    )
    assert len(failed_posts(targets)[1]) == 1


@pytest.mark.parametrize(
    ("fault", "status", "error_type"),
    [
        pytest.param(Fault.unauthorized(), 502, "LemlistAuthError", id="lemlist-refused"),
        pytest.param(Fault.server_error(500), 503, "LemlistTransientError", id="lemlist-down"),
        pytest.param(None, 500, "ConfigurationError", id="no-key-secret"),
    ],
)
def test_the_local_schedule_route_answers_a_failed_firing_in_json(
    stack: LocalStack,
    simulator: LemlistSimulator,
    fault: Fault | None,
    status: int,
    error_type: str,
) -> None:
    if fault is not None:
        simulator.inject("campaigns", fault)
    else:
        stack.client("secretsmanager").delete_secret(
            SecretId=KEY_SECRET, ForceDeleteWithoutRecovery=True
        )
        stack.forget_warm_state()
    server = LocalApiServer(stack, port=0).start()
    try:
        response = urllib3.request(
            "POST",
            f"{server.url}/_local/schedules/default/run?scheduledTime=2026-11-30T06:00:00Z",
            timeout=30,
            retries=False,
        )
    finally:
        server.stop()

    assert response.status == status
    assert response.headers["content-type"] == "application/json"
    assert b"stackTrace" not in response.data and b"Traceback" not in response.data
    body = response.json()
    assert set(body) == {"message", "errorType", "exportId"}
    assert body["errorType"] == error_type
    assert body["exportId"] == firing_record_id(stack, None, FIRING)
    record = stack.record(body["exportId"])
    assert record is not None and record.status == "failed"
    assert body["message"] == record.failure_reason
    assert body["message"].startswith("The scheduled run of ")


def wait_for_export(stack: LocalStack, campaign_id: str) -> ExportRecord:
    deadline = time.monotonic() + 60
    while True:
        records = stack.store().list_by_campaign(campaign_id, limit=5)[0]
        if records:
            return stack.wait_for_end(records[0].export_id, timeout=60)
        assert time.monotonic() < deadline, "the retried firing started no export"
        time.sleep(0.1)


def test_the_firing_record_is_listed_under_the_schedule_placeholder(
    make_stack: StackFactory,
) -> None:
    stack = make_stack(key="wrong-key-for-the-listing-test")
    fire(stack, when=FIRING)

    response = stack.http_api.request(  # type: ignore[union-attr]
        "GET", "/exports", headers=stack.api_headers(), query=f"campaignId={SCHEDULE_CAMPAIGN_ID}"
    )

    assert response.status == 200
    (listed,) = json.loads(response.body)["exports"]
    assert listed["exportId"] == firing_record_id(stack, None, FIRING)
    assert listed["source"] == "schedule" and listed["status"] == "failed"
