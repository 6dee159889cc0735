"""Re-driving failed exports end to end: POST /exports/{exportId}/retry and Slack's `retry`,
on the embedded stack with the real state machine, against the lemlist simulator.

A failed copy whose file lemlist still holds is copied again (same export, same bytes); one
lemlist no longer holds (or never finished) is exported anew; only failed exports can be
retried; a repeated retry starts one execution.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from datetime import timedelta
from typing import Any

import pytest

from lemlist_export.core.clock import iso, utc_now
from lemlist_export.records.record import ExportRecord
from local_stack.lemlist_simulator import (
    DEFAULT_CAMPAIGN_ID,
    ExportPlan,
    Fault,
    LemlistSimulator,
)
from local_stack.stack import LocalStack
from local_stack.webhook_receiver import LocalNotificationTargets
from tests.conftest import StackFactory
from tests.e2e.test_pipeline import object_bytes, requests_on, start
from tests.e2e.test_slack_command import form, response_url, slack_post, wait_for_replies

pytestmark = pytest.mark.e2e

# Two copy attempts per execution, both broken by the simulator: the export fails.
TWO_ATTEMPTS = {"MAX_DELIVERY_ATTEMPTS": "2"}


def retry(stack: LocalStack, export_id: str) -> tuple[int, dict[str, Any]]:
    assert stack.http_api is not None
    response = stack.http_api.request(
        "POST", f"/exports/{export_id}/retry", headers=stack.api_headers()
    )
    return response.status, response.json()


def get(stack: LocalStack, export_id: str) -> dict[str, Any]:
    assert stack.http_api is not None
    response = stack.http_api.request("GET", f"/exports/{export_id}", headers=stack.api_headers())
    assert response.status == 200, response.body
    body: dict[str, Any] = response.json()
    return body


def failed_copy(stack: LocalStack, simulator: LemlistSimulator) -> ExportRecord:
    """An export lemlist finished whose download broke on both copy attempts."""
    simulator.inject("download", Fault.truncate(1000), Fault.truncate(1000))
    status, body = start(stack)
    assert status == 202, body
    record = stack.wait_for_end(body["exportId"], timeout=60)
    assert record.status == "failed"
    assert record.failure_type == "DownloadIncompleteError"
    return record


def age(stack: LocalStack, export_id: str, hours: float) -> None:
    """Make the record say lemlist finished the export `hours` ago (the status check that
    saw it done)."""
    then = iso(utc_now() - timedelta(hours=hours))
    stack.client("dynamodb").update_item(
        TableName=stack.stack.table,
        Key={"exportId": {"S": export_id}},
        UpdateExpression="SET lastPolledAt = :t",
        ExpressionAttributeValues={":t": {"S": then}},
    )


def execution_names(stack: LocalStack) -> list[str]:
    answer = stack.client("stepfunctions").list_executions(
        stateMachineArn=stack.stack.state_machine_arn
    )
    return sorted(e["name"] for e in answer["executions"])


def served(simulator: LemlistSimulator, export_id: str) -> bytes:
    return simulator.exports[export_id].csv.to_bytes()


def webhook_events(targets: LocalNotificationTargets) -> list[dict[str, Any]]:
    return [post.json() for post in targets.receiver.posts_to(targets.WEBHOOK_PATH)]


def wait_for(check: Any, timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise TimeoutError("the condition never held")


# -- copying again ------------------------------------------------------------------------


def test_a_failed_copy_is_copied_again_byte_for_byte_and_announced(
    make_stack: StackFactory, simulator: LemlistSimulator, targets: LocalNotificationTargets
) -> None:
    stack = make_stack(environment=TWO_ATTEMPTS)
    failed = failed_copy(stack, simulator)
    export_id = failed.export_id
    status_checks = len(requests_on(simulator, "status"))

    status, body = retry(stack, export_id)

    assert status == 202, body
    assert body["exportId"] == body["retryOf"] == export_id
    assert body["retry"] == 1 and body["action"] == "copyAgain" and body["replay"] is False
    assert body["status"] == "pending"
    assert body["statusUrl"].endswith(f"/exports/{export_id}")
    assert "still holds the file" in body["reason"]
    record = stack.wait_for_end(export_id, timeout=60)
    assert record.status == "delivered"
    assert object_bytes(stack, record) == served(simulator, export_id)
    assert record.sha256 == hashlib.sha256(served(simulator, export_id)).hexdigest()
    # Straight to the copy: no status check (lemlist forgets a status after 2 hours).
    assert len(requests_on(simulator, "status")) == status_checks
    assert [r.status for r in requests_on(simulator, "download")] == [200, 200, 200]
    assert record.execution_name == f"{export_id}-retry-1"
    assert execution_names(stack) == sorted([export_id, f"{export_id}-retry-1"])
    (entry,) = record.retry_history
    assert entry["failureType"] == "DownloadIncompleteError"
    assert entry["action"] == "copyAgain" and entry["source"] == "api"
    assert record.failure_type is None and record.failed_at is None
    # Announced twice: the failure, then the delivery of the retry.
    events = [(e["event"], e["eventId"], e["retryCount"]) for e in webhook_events(targets)]
    assert events == [
        ("export.failed", f"{export_id}:failed", 0),
        ("export.delivered", f"{export_id}:delivered:retry-1", 1),
    ]
    slack = [post.json()["text"] for post in targets.receiver.posts_to(targets.SLACK_PATH)]
    assert len(slack) == 2 and "delivered" in slack[1]
    assert {name: n.outcome for name, n in record.notifications.items()} == {
        "slack": "sent",
        "webhook": "sent",
    }
    view = get(stack, export_id)
    assert view["status"] == "delivered" and view["retryCount"] == 1
    assert "downloadUrl" in view and "downloadUrl" not in json.dumps(view["retryHistory"])


def test_a_replayed_retry_starts_one_execution(
    make_stack: StackFactory, simulator: LemlistSimulator
) -> None:
    stack = make_stack(environment=TWO_ATTEMPTS)
    export_id = failed_copy(stack, simulator).export_id
    # The copy waits on its download long enough for the repeats to arrive mid-retry.
    simulator.inject("download", Fault.slow(1.5))

    answers: list[tuple[int, dict[str, Any]]] = []
    calls = [threading.Thread(target=lambda: answers.append(retry(stack, export_id)))]
    calls.append(threading.Thread(target=lambda: answers.append(retry(stack, export_id))))
    for call in calls:
        call.start()
    for call in calls:
        call.join()
    answers.append(retry(stack, export_id))

    assert [status for status, _ in answers] == [202, 202, 202]
    assert sorted(body["replay"] for _, body in answers) == [False, True, True]
    assert {(body["exportId"], body["retry"], body["action"]) for _, body in answers} == {
        (export_id, 1, "copyAgain")
    }
    record = stack.wait_for_end(export_id, timeout=60)
    assert record.status == "delivered" and record.retry_count == 1
    assert execution_names(stack) == sorted([export_id, f"{export_id}-retry-1"])
    assert len(requests_on(simulator, "download")) == 3
    # Once delivered, a retry is refused.
    status, body = retry(stack, export_id)
    assert status == 409 and "delivered" in body["message"]


# -- what cannot be retried ---------------------------------------------------------------


def test_a_delivered_export_cannot_be_retried(stack: LocalStack) -> None:
    status, body = start(stack)
    export_id = body["exportId"]
    assert stack.wait_for_end(export_id, timeout=60).status == "delivered"

    status, body = retry(stack, export_id)

    assert status == 409
    assert body["message"] == (
        f"Export {export_id} was delivered; only a failed export can be retried"
    )
    assert execution_names(stack) == [export_id]
    assert stack.record(export_id).retry_count == 0  # type: ignore[union-attr]


def test_an_export_still_under_way_cannot_be_retried(
    stack: LocalStack, simulator: LemlistSimulator
) -> None:
    simulator.set_plan(DEFAULT_CAMPAIGN_ID, ExportPlan(outcome="never"))
    _, body = start(stack)
    export_id = body["exportId"]

    status, body = retry(stack, export_id)

    assert status == 409
    assert "is pending, still under way" in body["message"]
    assert execution_names(stack) == [export_id]


def test_an_unknown_export_is_404_and_a_bad_id_422(stack: LocalStack) -> None:
    status, body = retry(stack, "axp_NoSuchExport0000")
    assert status == 404 and "axp_NoSuchExport0000" in body["message"]

    status, body = retry(stack, "axp-not-an-id")
    assert status == 422

    assert execution_names(stack) == []


# -- exporting anew -----------------------------------------------------------------------


def test_an_export_lemlist_no_longer_holds_is_exported_anew(
    make_stack: StackFactory, simulator: LemlistSimulator, targets: LocalNotificationTargets
) -> None:
    stack = make_stack(environment=TWO_ATTEMPTS)
    old = failed_copy(stack, simulator).export_id
    age(stack, old, hours=25)  # lemlist deleted the file an hour ago

    status, body = retry(stack, old)

    assert status == 202, body
    new = body["exportId"]
    assert new != old and body["retryOf"] == old
    assert body["action"] == "newExport" and body["retry"] == 1 and body["replay"] is False
    assert "24 hours" in body["reason"]
    assert body["statusUrl"].endswith(f"/exports/{new}")
    record = stack.wait_for_end(new, timeout=60)
    assert record.status == "delivered"
    assert object_bytes(stack, record) == served(simulator, new)
    assert record.retry_of == old and record.execution_name == f"{old}-retry-1"
    failed = stack.record(old)
    assert failed is not None
    assert failed.status == "failed" and failed.retried_as == new and failed.retry_count == 1
    assert failed.retry_history[0]["action"] == "newExport"
    delivered = webhook_events(targets)[-1]
    assert delivered["exportId"] == new and delivered["retryOf"] == old
    assert execution_names(stack) == sorted([old, f"{old}-retry-1"])
    # The failed one was replaced: retrying it again is refused, pointing at the new one.
    status, body = retry(stack, old)
    assert status == 409
    assert body["message"] == (
        f"Export {old} was already retried as {new}, which was delivered; there is nothing to retry"
    )


def test_two_retries_at_once_export_anew_once(
    make_stack: StackFactory, simulator: LemlistSimulator
) -> None:
    stack = make_stack(environment=TWO_ATTEMPTS)
    old = failed_copy(stack, simulator).export_id
    age(stack, old, hours=25)
    # lemlist is slow to start the first call's export: the second call arrives meanwhile.
    simulator.inject("start", Fault.slow(6))

    answers: list[tuple[int, dict[str, Any]]] = []
    calls = [threading.Thread(target=lambda: answers.append(retry(stack, old))) for _ in range(2)]
    for call in calls:
        call.start()
    for call in calls:
        call.join()

    assert [status for status, _ in answers] == [202, 202]
    (new,) = {body["exportId"] for _, body in answers}
    assert sorted(body["replay"] for _, body in answers) == [False, True]
    record = stack.wait_for_end(new, timeout=60)
    assert record.status == "delivered" and record.retry_of == old
    assert execution_names(stack) == sorted([old, f"{old}-retry-1"])
    failed = stack.record(old)
    assert failed is not None and failed.retried_as == new and failed.retry_count == 1
    # Both calls may have asked lemlist (the second while the first waited): one export is
    # followed, the other is left unread in lemlist, never recorded.
    started = [e for e in simulator.exports if e != old]
    assert new in started and len(started) in (1, 2)
    assert [e for e in started if stack.record(e) is not None] == [new]


def test_an_export_lemlist_reported_failed_is_exported_anew(
    stack: LocalStack, simulator: LemlistSimulator
) -> None:
    simulator.set_plan(DEFAULT_CAMPAIGN_ID, ExportPlan(outcome="error"))
    _, body = start(stack)
    old = body["exportId"]
    assert stack.wait_for_end(old, timeout=60).failure_type == "LemlistExportError"
    simulator.set_plan(DEFAULT_CAMPAIGN_ID, ExportPlan())

    status, body = retry(stack, old)

    assert status == 202, body
    assert body["action"] == "newExport"
    assert "never finished" in body["reason"]
    record = stack.wait_for_end(body["exportId"], timeout=60)
    assert record.status == "delivered" and record.retry_of == old


# -- from Slack ---------------------------------------------------------------------------


def test_a_retry_from_slack_copies_again_and_answers_in_the_channel(
    make_stack: StackFactory, simulator: LemlistSimulator, targets: LocalNotificationTargets
) -> None:
    stack = make_stack(environment=TWO_ATTEMPTS)
    export_id = failed_copy(stack, simulator).export_id
    simulator.inject("download", Fault.slow(1.0))
    command = form(f"retry `{export_id}`", response_url(targets), trigger_id="1337.42.retry")

    first = slack_post(stack, command)
    again = slack_post(stack, command)  # Slack delivers a command twice at times

    assert first.status == again.status == 200
    assert first.json()["text"].startswith(f"Retrying export `{export_id}` of ")
    assert "(retry 1)" in first.json()["text"]
    assert again.json()["text"] == f"Export `{export_id}` is already being retried (retry 1)."
    record = stack.wait_for_end(export_id, timeout=60)
    assert record.status == "delivered"
    assert execution_names(stack) == sorted([export_id, f"{export_id}-retry-1"])
    assert record.retry_history[0]["requestedBy"] == "slack:ada"
    (reply,) = wait_for_replies(targets, 1)
    assert reply["response_type"] == "in_channel"
    assert record.s3_uri is not None and record.s3_uri in reply["text"]
    assert record.notifications["slackResponse"].outcome == "sent"


def test_a_retry_from_slack_exports_anew_when_the_file_is_gone(
    make_stack: StackFactory, simulator: LemlistSimulator, targets: LocalNotificationTargets
) -> None:
    stack = make_stack(environment=TWO_ATTEMPTS)
    old = failed_copy(stack, simulator).export_id
    age(stack, old, hours=30)

    answer = slack_post(stack, form(f"retry {old}", response_url(targets)))

    assert answer.status == 200
    text = answer.json()["text"]
    assert text.startswith(f"Retrying export `{old}`") and "a new export is started" in text
    failed = wait_for(lambda: (r := stack.record(old)) and r.retried_as and r)
    record = stack.wait_for_end(failed.retried_as, timeout=60)
    assert record.status == "delivered" and record.retry_of == old
    assert record.source == "slack" and record.requested_by == "slack:ada"
    started, ended = wait_for_replies(targets, 2)
    assert f"Export `{record.export_id}`" in started["text"] and "started" in started["text"]
    assert ended["response_type"] == "in_channel" and "delivered" in ended["text"]


def test_slack_refuses_to_retry_what_is_not_failed(
    stack: LocalStack, targets: LocalNotificationTargets
) -> None:
    _, body = start(stack)
    export_id = body["exportId"]
    stack.wait_for_end(export_id, timeout=60)

    delivered = slack_post(stack, form(f"retry {export_id}", response_url(targets))).json()
    unknown = slack_post(stack, form("retry axp_NoSuchExport0000", response_url(targets))).json()
    campaign = slack_post(stack, form(f"retry {DEFAULT_CAMPAIGN_ID}", response_url(targets)))

    assert delivered["text"] == (
        f"Export {export_id} was delivered; only a failed export can be retried"
    )
    assert unknown["text"] == "I know no export `axp_NoSuchExport0000`."
    assert "is a campaign id; `retry` takes the id of a failed export" in campaign.json()["text"]
    assert execution_names(stack) == [export_id]
