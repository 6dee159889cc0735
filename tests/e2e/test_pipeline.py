"""The real state machine, end to end on the embedded stack, against the lemlist simulator.

Each test starts an export through the HTTP API route (the real start handler), lets the
real ASL run the real check/deliver/finish handlers, and asserts what a user would check:
the bytes in S3, the export record, and what was posted to Slack and the webhook.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import itertools
import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest

from lemlist_export.records.record import ExportRecord
from local_stack.export_run import run_export
from local_stack.lemlist_simulator import (
    DEFAULT_CAMPAIGN_ID,
    DEFAULT_CAMPAIGN_NAME,
    ExportPlan,
    Fault,
    LemlistSimulator,
    SyntheticCsv,
)
from local_stack.stack import LocalStack
from local_stack.webhook_receiver import LocalNotificationTargets
from tests.conftest import StackFactory

pytestmark = pytest.mark.e2e


def start(stack: LocalStack, campaign_id: str = DEFAULT_CAMPAIGN_ID) -> tuple[int, dict[str, Any]]:
    assert stack.http_api is not None
    response = stack.http_api.request(
        "POST",
        "/exports",
        headers=stack.api_headers(),
        body=json.dumps({"campaignId": campaign_id}),
    )
    return response.status, response.json()


def export_to_the_end(stack: LocalStack, campaign_id: str = DEFAULT_CAMPAIGN_ID) -> ExportRecord:
    status, body = start(stack, campaign_id)
    assert status == 202, body
    return stack.wait_for_end(body["exportId"], timeout=60)


def object_bytes(stack: LocalStack, record: ExportRecord) -> bytes:
    assert record.bucket and record.key
    return stack.client("s3").get_object(Bucket=record.bucket, Key=record.key)["Body"].read()


def stored_keys(stack: LocalStack) -> list[str]:
    answer = stack.client("s3").list_objects_v2(Bucket=stack.stack.bucket)
    return [item["Key"] for item in answer.get("Contents", [])]


def unfinished_uploads(stack: LocalStack) -> list[Any]:
    answer = stack.client("s3").list_multipart_uploads(Bucket=stack.stack.bucket)
    return answer.get("Uploads", [])


def csv_of(simulator: LemlistSimulator, campaign_id: str = DEFAULT_CAMPAIGN_ID) -> bytes:
    exports = [e for e in simulator.exports.values() if e.campaign_id == campaign_id]
    return exports[-1].csv.to_bytes()


def requests_on(simulator: LemlistSimulator, route: str) -> list[Any]:
    return [r for r in simulator.requests if r.route == route]


# -- the happy path ---------------------------------------------------------------------


def test_delivered_object_is_byte_for_byte_what_lemlist_served(
    stack: LocalStack, simulator: LemlistSimulator, targets: LocalNotificationTargets
) -> None:
    record = export_to_the_end(stack)

    served = csv_of(simulator)
    assert record.status == "delivered"
    assert object_bytes(stack, record) == served
    assert record.bytes == len(served)
    assert record.sha256 == hashlib.sha256(served).hexdigest()
    assert re.fullmatch(
        rf"exports/campaign_id={DEFAULT_CAMPAIGN_ID}/date=\d{{4}}-\d\d-\d\d/{record.export_id}\.csv",
        record.key or "",
    )
    head = stack.client("s3").head_object(Bucket=record.bucket, Key=record.key)
    assert head["ContentType"] == "text/csv"
    assert head["Metadata"]["export-id"] == record.export_id
    assert unquote(head["Metadata"]["campaign-name"]) == DEFAULT_CAMPAIGN_NAME
    # Two pending answers, then done: three status checks, recorded on the way.
    assert record.poll_count == 3
    assert record.campaign_name == DEFAULT_CAMPAIGN_NAME
    assert record.delivered_at and record.created_at <= record.delivered_at
    assert unfinished_uploads(stack) == []


def test_delivery_is_announced_on_slack_and_on_the_signed_webhook(
    stack: LocalStack, targets: LocalNotificationTargets
) -> None:
    record = export_to_the_end(stack)

    assert {name: n.outcome for name, n in record.notifications.items()} == {
        "slack": "sent",
        "webhook": "sent",
    }
    (slack,) = targets.receiver.posts_to(targets.SLACK_PATH)
    message = slack.json()
    assert record.s3_uri in message["text"]
    text = json.dumps(message["blocks"], ensure_ascii=False)
    assert DEFAULT_CAMPAIGN_NAME in text and record.export_id in text
    assert all(len(b.get("text", {}).get("text", "")) <= 3000 for b in message["blocks"])

    (hook,) = targets.receiver.posts_to(targets.WEBHOOK_PATH)
    assert hook.signature_valid is True
    body = hook.json()
    assert body["event"] == "export.delivered"
    assert body["exportId"] == record.export_id
    assert (body["s3Uri"], body["bytes"], body["sha256"]) == (
        record.s3_uri,
        record.bytes,
        record.sha256,
    )
    assert body["eventId"] == f"{record.export_id}:delivered"


def test_a_multipart_file_arrives_whole(
    make_stack: StackFactory, simulator: LemlistSimulator
) -> None:
    big = SyntheticCsv(rows=60_000, seed=7)
    assert big.size > 8 * 1024 * 1024  # more than one 8 MiB part
    simulator.add_campaign("cam_BigCampaign", "Big one", big)
    stack = make_stack()

    record = export_to_the_end(stack, "cam_BigCampaign")

    assert record.status == "delivered"
    data = object_bytes(stack, record)
    assert len(data) == big.size
    assert hashlib.sha256(data).hexdigest() == big.sha256() == record.sha256
    assert unfinished_uploads(stack) == []


# -- lemlist says no --------------------------------------------------------------------


def test_lemlist_error_status_fails_the_export_and_keeps_lemlists_answer(
    stack: LocalStack, simulator: LemlistSimulator, targets: LocalNotificationTargets
) -> None:
    simulator.set_plan(DEFAULT_CAMPAIGN_ID, ExportPlan(pending_polls=1, outcome="error"))

    record = export_to_the_end(stack)

    assert record.status == "failed"
    assert record.failure_type == "LemlistExportError"
    assert "lemlist reported the export as failed" in (record.failure_reason or "")
    assert record.lemlist_status and record.lemlist_status["status"] == "error"
    assert stored_keys(stack) == []
    (hook,) = targets.receiver.posts_to(targets.WEBHOOK_PATH)
    assert hook.json()["event"] == "export.failed"
    assert hook.json()["error"] == record.failure_reason
    (slack,) = targets.receiver.posts_to(targets.SLACK_PATH)
    assert "failed" in slack.json()["text"]


def test_an_export_lemlist_drops_after_its_status_expired_fails_as_expired(
    make_stack: StackFactory, simulator: LemlistSimulator
) -> None:
    # lemlist keeps a status 2 hours; here 1 s, and we check every second.
    simulator.set_plan(DEFAULT_CAMPAIGN_ID, ExportPlan(outcome="never", expire_after_seconds=1))
    stack = make_stack(parameters={"PollIntervalSeconds": "1", "PollMaxIntervalSeconds": "1"})

    record = export_to_the_end(stack)

    assert record.status == "failed"
    assert record.failure_type == "ExportExpiredError"
    assert "2 hours" in (record.failure_reason or "")
    last = requests_on(simulator, "status")[-1]
    assert last.status == 404


def test_our_own_deadline_gives_up_on_an_export_still_pending(
    make_stack: StackFactory, simulator: LemlistSimulator
) -> None:
    simulator.set_plan(DEFAULT_CAMPAIGN_ID, ExportPlan(outcome="never"))
    stack = make_stack(
        parameters={"PollIntervalSeconds": "1", "PollMaxIntervalSeconds": "1"},
        environment={"EXPORT_EXPIRES_AFTER_SECONDS": "2"},
    )

    record = export_to_the_end(stack)

    assert record.status == "failed"
    assert record.failure_type == "ExportExpiredError"
    assert "still preparing" in (record.failure_reason or "")


def test_a_campaign_deleted_during_the_export_fails_it(
    stack: LocalStack, simulator: LemlistSimulator
) -> None:
    simulator.inject("status", Fault.text_error(404, "Campaign not found"))

    record = export_to_the_end(stack)

    assert record.status == "failed"
    assert record.failure_type == "CampaignNotFoundError"


# -- lemlist is busy or flaky -----------------------------------------------------------


def test_a_429_storm_is_waited_out_never_calling_before_retry_after(
    stack: LocalStack, simulator: LemlistSimulator
) -> None:
    simulator.inject("status", *[Fault.rate_limited(1) for _ in range(3)])

    record = export_to_the_end(stack)

    assert record.status == "delivered"
    statuses = requests_on(simulator, "status")
    assert [r.status for r in statuses[:3]] == [429, 429, 429]
    for refused, following in itertools.pairwise(statuses):
        if refused.status == 429:
            assert following.time - refused.time >= 1.0 - 0.05
    assert object_bytes(stack, record) == csv_of(simulator)


def test_transient_5xx_are_retried_with_backoff(
    stack: LocalStack, simulator: LemlistSimulator
) -> None:
    simulator.inject("status", Fault.server_error(503), Fault.server_error(502))

    record = export_to_the_end(stack)

    assert record.status == "delivered"
    statuses = requests_on(simulator, "status")
    assert [r.status for r in statuses[:2]] == [503, 502]
    # Backoff: 1 s after the first failure, 2 s after the second.
    assert statuses[1].time - statuses[0].time >= 1.0 - 0.05
    assert statuses[2].time - statuses[1].time >= 2.0 - 0.05


def test_lemlist_down_for_too_long_fails_the_export(
    make_stack: StackFactory, simulator: LemlistSimulator
) -> None:
    stack = make_stack(environment={"MAX_TRANSIENT_ERRORS": "1"})
    simulator.inject("status", Fault.server_error(503), Fault.server_error(503))

    record = export_to_the_end(stack)

    assert record.status == "failed"
    assert record.failure_type == "LemlistTransientError"
    assert "2 status checks in a row" in (record.failure_reason or "")


def test_a_truncated_download_is_retried_and_never_stored_half(
    make_stack: StackFactory, simulator: LemlistSimulator
) -> None:
    big = SyntheticCsv(rows=60_000, seed=3)
    simulator.add_campaign("cam_Truncated", "Cut short", big)
    stack = make_stack()
    # The first download dies inside the second 8 MiB part, after part one was uploaded.
    simulator.inject("download", Fault.truncate(after_bytes=9 * 1024 * 1024))

    record = export_to_the_end(stack, "cam_Truncated")

    assert record.status == "delivered"
    assert [r.status for r in requests_on(simulator, "download")] == [200, 200]
    assert hashlib.sha256(object_bytes(stack, record)).hexdigest() == big.sha256()
    assert unfinished_uploads(stack) == []


def test_a_download_that_keeps_failing_fails_the_export_with_nothing_stored(
    make_stack: StackFactory, simulator: LemlistSimulator
) -> None:
    stack = make_stack(environment={"MAX_DELIVERY_ATTEMPTS": "2"})
    simulator.inject("download", Fault.truncate(1000), Fault.truncate(1000))

    record = export_to_the_end(stack)

    assert record.status == "failed"
    assert record.failure_type == "DownloadIncompleteError"
    assert "broke off" in (record.failure_reason or "")
    assert stored_keys(stack) == []
    assert unfinished_uploads(stack) == []
    assert len(requests_on(simulator, "download")) == 2


def test_a_download_redirected_to_storage_gets_no_credentials(
    stack: LocalStack, simulator: LemlistSimulator
) -> None:
    simulator.set_plan(DEFAULT_CAMPAIGN_ID, ExportPlan(download="redirect"))

    record = export_to_the_end(stack)

    assert record.status == "delivered"
    storage = [r for r in simulator.requests if r.origin == "storage"]
    assert storage and not any(r.has_auth for r in storage)
    assert object_bytes(stack, record) == csv_of(simulator)


# -- notifications ------------------------------------------------------------------------


def test_a_failing_slack_webhook_never_loses_the_export(
    stack: LocalStack, simulator: LemlistSimulator, targets: LocalNotificationTargets
) -> None:
    targets.receiver.fail_next(targets.SLACK_PATH, 404, "channel_not_found")

    record = export_to_the_end(stack)

    assert record.status == "delivered"
    assert object_bytes(stack, record) == csv_of(simulator)
    slack, webhook = record.notifications["slack"], record.notifications["webhook"]
    assert slack.outcome == "failed" and "channel_not_found" in slack.detail
    assert webhook.outcome == "sent"


def test_without_notification_targets_the_record_says_so(
    make_stack: StackFactory, targets: LocalNotificationTargets
) -> None:
    stack = make_stack(notifications=False)

    record = export_to_the_end(stack)

    assert record.status == "delivered"
    assert {n.outcome for n in record.notifications.values()} == {"skipped"}
    assert targets.receiver.posts == []


# -- the start request ------------------------------------------------------------------


def test_a_bad_api_key_is_a_clear_502_and_starts_nothing(
    make_stack: StackFactory, simulator: LemlistSimulator
) -> None:
    stack = make_stack(key="key-not-the-right-one")

    status, body = start(stack)

    assert status == 502
    assert "rejected the API key" in body["message"]
    assert simulator.exports == {}
    executions = stack.client("stepfunctions").list_executions(
        stateMachineArn=stack.stack.state_machine_arn
    )["executions"]
    assert executions == []


def test_an_unknown_campaign_is_a_404(stack: LocalStack) -> None:
    status, body = start(stack, "cam_DoesNotExist")

    assert status == 404
    assert "no such campaign" in body["message"]


@pytest.mark.parametrize(
    ("body", "status", "expected"),
    [
        ("", 400, "must be a JSON object"),
        ("not json", 400, "must be a JSON object"),
        ("[]", 422, "must be a JSON object"),
        ('{"campaign": "cam_x"}', 422, "campaignId is required"),
        ('{"campaignId": 42}', 422, "campaignId must be a lemlist campaign id"),
        ('{"campaignId": "cam_1/../x"}', 422, "letters, digits and underscores"),
    ],
)
def test_bad_bodies_get_a_4xx_with_a_reason(
    stack: LocalStack, simulator: LemlistSimulator, body: str, status: int, expected: str
) -> None:
    assert stack.http_api is not None
    response = stack.http_api.request("POST", "/exports", headers=stack.api_headers(), body=body)

    assert response.status == status
    assert expected in response.json()["message"]
    assert simulator.exports == {}


# -- nothing is lost ----------------------------------------------------------------------


def test_an_aborted_execution_is_finished_by_the_watchdog(
    make_stack: StackFactory, targets: LocalNotificationTargets
) -> None:
    stack = make_stack(parameters={"PollFirstWaitSeconds": "30"})
    status, body = start(stack)
    assert status == 202

    stack.client("stepfunctions").stop_execution(
        executionArn=stack.execution_arn(body["exportId"]), cause="operator stopped it"
    )
    record = stack.wait_for_end(body["exportId"], timeout=30)

    assert record.status == "failed"
    assert "ABORTED" in (record.failure_reason or "") or "operator" in (record.failure_reason or "")
    (hook,) = targets.receiver.posts_to(targets.WEBHOOK_PATH)
    assert hook.json()["event"] == "export.failed"


def test_secrets_never_reach_logs_records_or_history(
    stack: LocalStack,
    simulator: LemlistSimulator,
    targets: LocalNotificationTargets,
    api_key: str,
    capfd: pytest.CaptureFixture[str],
    handler_logs: io.StringIO,
    tmp_path: Path,
) -> None:
    simulator.inject("status", Fault.rate_limited(1))
    delivered = run_export(stack, DEFAULT_CAMPAIGN_ID, tmp_path)
    simulator.set_plan(DEFAULT_CAMPAIGN_ID, ExportPlan(outcome="error"))
    failed = run_export(stack, DEFAULT_CAMPAIGN_ID, tmp_path)
    assert (delivered.status, failed.status) == ("delivered", "failed")

    secrets = [api_key, targets.signing_secret, *targets.notifications().values()]
    captured = capfd.readouterr()
    sfn = stack.client("stepfunctions")
    logs = handler_logs.getvalue()
    seen = [logs, captured.out, captured.err, delivered.to_json(), failed.to_json()]
    for summary in (delivered, failed):
        assert summary.exportId is not None
        record = stack.record(summary.exportId)
        assert record is not None
        seen.append(json.dumps(record.to_dict()))
        history = sfn.get_execution_history(executionArn=stack.execution_arn(summary.exportId))
        seen.append(json.dumps(history["events"], default=str))
    assert '"message":"Export finished"' in logs  # the handlers' logs were captured
    for secret in secrets:
        for text in seen:
            assert secret not in text


def test_a_broken_notifications_secret_still_records_the_outcome(
    make_stack: StackFactory, simulator: LemlistSimulator
) -> None:
    broken = "lemlist-stats-export/broken-notifications"
    # Named through the template's parameter, so the function's policy allows reading it.
    stack = make_stack(notifications=False, parameters={"NotificationsSecretName": broken})
    # A webhook without its signing secret: the targets cannot be read.
    stack.client("secretsmanager").create_secret(
        Name=broken,
        SecretString=json.dumps({"webhookUrl": "https://hooks.example.com/catch/1/secret"}),
    )
    simulator.set_plan(DEFAULT_CAMPAIGN_ID, ExportPlan(outcome="error"))

    record = export_to_the_end(stack)

    assert record.status == "failed"
    assert record.failure_type == "LemlistExportError"
    assert {name: n.outcome for name, n in record.notifications.items()} == {
        "slack": "failed",
        "webhook": "failed",
    }
    detail = record.notifications["webhook"].detail
    assert "without webhookSigningSecret" in detail
    assert "hooks.example.com" not in detail


# -- the query-ready copy (docs/analytics.md) ---------------------------------------------


ODD_CSV = (
    "\ufeffemail,Name,email,,note\r\n"
    'ana@example.com,"Ana, María","a2@example.com",x,"two\r\nlines"\r\n'
    '"bo@example.com","say ""hi""",,,🎉\r\n'
    "short@example.com\r\n"
).encode()


def copied_rows(stack: LocalStack, record: ExportRecord) -> list[dict[str, Any]]:
    bucket, _, key = (record.query_copy_uri or "").removeprefix("s3://").partition("/")
    body = stack.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
    return [json.loads(line) for line in gzip.decompress(body).decode().splitlines()]


def test_the_query_copy_lands_beside_the_csv_row_for_row_and_is_announced(
    stack: LocalStack, simulator: LemlistSimulator, targets: LocalNotificationTargets
) -> None:
    simulator.add_campaign("cam_OddCsv000000001", "Odd één", ODD_CSV)

    record = export_to_the_end(stack, "cam_OddCsv000000001")

    assert record.status == "delivered"
    assert object_bytes(stack, record) == ODD_CSV  # the CSV stays exactly as served
    date = (record.key or "").split("/date=")[1][:10]
    assert record.query_copy_uri == (
        f"s3://{record.bucket}/analytics/export_rows/export_date={date}/{record.export_id}.jsonl.gz"
    )
    expected = list(csv.reader(io.StringIO(ODD_CSV.decode("utf-8-sig"), newline="")))
    names = ["email", "Name", "email_3", "column_4", "note"]
    rows = copied_rows(stack, record)
    assert record.query_copy_rows == len(rows) == len(expected) - 1
    for number, (row, cells) in enumerate(zip(rows, expected[1:], strict=True), start=1):
        assert row["row_number"] == number
        assert (row["export_id"], row["campaign_id"], row["campaign_name"]) == (
            record.export_id,
            "cam_OddCsv000000001",
            "Odd één",
        )
        assert row["exported_at"][:10] == date
        assert row["fields"] == dict(zip(names, cells, strict=False))
    assert rows[0]["fields"]["note"] == "two\r\nlines"

    (hook,) = targets.receiver.posts_to(targets.WEBHOOK_PATH)
    body = hook.json()
    assert (body["queryCopyUri"], body["queryCopyRows"], body["queryCopyError"]) == (
        record.query_copy_uri,
        3,
        None,
    )
    (slack,) = targets.receiver.posts_to(targets.SLACK_PATH)
    assert record.query_copy_uri in json.dumps(slack.json()["blocks"])
    assert stack.http_api is not None
    shown = stack.http_api.request(
        "GET", f"/exports/{record.export_id}", headers=stack.api_headers()
    ).json()
    assert (shown["queryCopyUri"], shown["queryCopyRows"]) == (record.query_copy_uri, 3)


def test_a_csv_that_is_not_utf8_is_delivered_exactly_and_says_why_it_has_no_query_copy(
    stack: LocalStack, simulator: LemlistSimulator, targets: LocalNotificationTargets
) -> None:
    latin1 = "email,name\r\nzoe@example.com,Zoë\r\n".encode("latin-1")
    simulator.add_campaign("cam_Latin1Csv00000001", "Latin-1", latin1)

    record = export_to_the_end(stack, "cam_Latin1Csv00000001")

    assert record.status == "delivered"
    assert object_bytes(stack, record) == latin1
    assert record.query_copy_uri is None
    assert "UTF-8" in (record.query_copy_error or "")
    (hook,) = targets.receiver.posts_to(targets.WEBHOOK_PATH)
    assert hook.json()["queryCopyError"] == record.query_copy_error
    assert (
        not stack.client("s3")
        .list_objects_v2(Bucket=record.bucket, Prefix="analytics/")
        .get("Contents")
    )
