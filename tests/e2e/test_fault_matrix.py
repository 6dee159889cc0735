"""The fault matrix: one row per fault, each proving that nothing is lost.

Every row starts one export through the HTTP API (the Start step's rows: a schedule's
firing) on the embedded stack (handlers in their Lambda workers, the real state machine),
plays its fault (lemlist's simulator, the AWS fault injector in front of moto, the
notification targets, or a Lambda worker killed or timed out), and asserts the same things:
the terminal record (delivered, or failed with a reason a person can act on), the S3 contents
(exactly the bytes lemlist served, or nothing; never an unfinished multipart upload), the
announcement (one outcome, on each target), one lemlist export only, and that the fault was
really played. docs/reliability.md lists the rows.
"""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import threading
import time
from dataclasses import dataclass, field

import pytest

from lemlist_export.records.record import ExportRecord
from local_stack.aws_faults import AwsFault
from local_stack.lemlist_simulator import (
    DEFAULT_CAMPAIGN_ID,
    ExportPlan,
    Fault,
    LemlistSimulator,
    SyntheticCsv,
)
from local_stack.scheduler import fire
from local_stack.stack import LocalStack
from local_stack.webhook_receiver import LocalNotificationTargets
from tests.conftest import StackFactory

pytestmark = pytest.mark.e2e

MIB = 1024 * 1024


@dataclass(frozen=True)
class TargetFault:
    status: int
    body: str = "error"
    times: int = 1
    retry_after: float | None = None
    delay: float = 0.0


@dataclass(frozen=True)
class Row:
    id: str
    outcome: str  # "delivered" or "failed"
    reason: str = ""  # words the failure reason must contain (lower case)
    lemlist: tuple[tuple[str, Fault], ...] = ()  # (route, fault), queued in order
    plan: ExportPlan | None = None
    aws: tuple[AwsFault, ...] = ()
    environment: dict[str, str] = field(default_factory=dict)
    timeouts: dict[str, int] = field(default_factory=dict)
    slack: TargetFault | None = None
    webhook: TargetFault | None = None
    notified: tuple[str, str] = ("sent", "sent")  # (slack, webhook) outcomes
    csv_rows: int | None = None  # a bigger CSV (multipart uploads)
    # "api": POST /exports starts it (no Start task); "schedule": a schedule's firing, whose
    # execution's Start task starts it in lemlist.
    via: str = "api"


def faults(route: str, *played: Fault) -> tuple[tuple[str, Fault], ...]:
    return tuple((route, fault) for fault in played)


# Copies are multipart from 5 MiB parts on: a 12 MiB CSV is three parts.
MULTIPART = {"UPLOAD_PART_SIZE_MIB": "5"}
MULTIPART_ROWS = 60_000
# About 37 MiB of CSV: a query-ready copy (about 15% of it) over one 5-MiB part.
QUERY_COPY_MULTIPART_ROWS = 170_000
FAST_TIMEOUT = {"LEMLIST_READ_TIMEOUT_SECONDS": "1"}


def ddb(
    operation: str, code: str, times: int = 1, status: int = 400, matching: str = ""
) -> AwsFault:
    return AwsFault("dynamodb", operation, code, status=status, times=times, matching=matching)


# The local stack's table names (<stack>-<logical id>), as a request's body names them.
EXPORTS_TABLE = '"lemlist-local-ExportsTable"'
COORDINATION_TABLE = '"lemlist-local-CoordinationTable"'


def s3(operation: str, code: str = "InternalError", status: int = 500, times: int = 1) -> AwsFault:
    return AwsFault("s3", operation, code, status=status, times=times)


THROTTLED = "ProvisionedThroughputExceededException"

ROWS = [
    # -- lemlist's rate limit ----------------------------------------------------------
    Row(
        "status-429-storm-with-retry-after",
        "delivered",
        lemlist=faults("status", *[Fault.rate_limited(1)] * 3),
    ),
    Row(
        "status-429-storm-without-retry-after",
        "delivered",
        lemlist=faults("status", *[Fault.rate_limited(None)] * 3),
    ),
    Row(
        "download-429-with-retry-after",
        "delivered",
        lemlist=faults("download", Fault.rate_limited(1)),
    ),
    # -- lemlist's server errors and the network ---------------------------------------
    Row("status-5xx-burst", "delivered", lemlist=faults("status", *[Fault.server_error()] * 3)),
    Row(
        "status-connection-reset",
        "delivered",
        lemlist=faults("status", Fault.reset(), Fault.reset()),
    ),
    Row(
        "status-read-timeout",
        "delivered",
        lemlist=faults("status", Fault.slow(2.5)),
        environment=FAST_TIMEOUT,
    ),
    Row("download-5xx", "delivered", lemlist=faults("download", Fault.server_error(502))),
    Row("download-connection-reset", "delivered", lemlist=faults("download", Fault.reset())),
    Row(
        "download-read-timeout",
        "delivered",
        lemlist=faults("download", Fault.slow(2.5)),
        environment=FAST_TIMEOUT,
    ),
    # -- answers that cannot be read, while lemlist still holds the export --------------
    Row(
        "status-not-json",
        "delivered",
        lemlist=faults("status", Fault.text_error(200, "not json"), Fault.text_error(200, "{")),
    ),
    Row(
        "status-html-page",
        "delivered",
        lemlist=faults("status", Fault.text_error(502, "<html><body>Bad gateway</body></html>")),
    ),
    Row(
        "status-unexpected-shape",
        "delivered",
        lemlist=faults("status", Fault.json_error(200, "maintenance")),
    ),
    # -- lemlist's own outcomes ---------------------------------------------------------
    Row(
        "status-error",
        "failed",
        reason="lemlist",
        plan=ExportPlan(pending_polls=1, outcome="error"),
    ),
    Row(
        "still-pending-at-expiry",
        "failed",
        reason="no longer knows",
        plan=ExportPlan(outcome="never", expire_after_seconds=3),
        environment={"EXPORT_EXPIRES_AFTER_SECONDS": "3"},
    ),
    # -- the download -------------------------------------------------------------------
    Row("download-truncated-once", "delivered", lemlist=faults("download", Fault.truncate(100))),
    Row(
        "download-truncated-every-time",
        "failed",
        reason="broke off",
        lemlist=faults("download", Fault.truncate(100), Fault.truncate(100)),
        environment={"MAX_DELIVERY_ATTEMPTS": "2"},
    ),
    Row("download-slow", "delivered", lemlist=faults("download", Fault.slow(1.5))),
    Row(
        "download-redirected-to-storage",
        "delivered",
        plan=ExportPlan(download="redirect"),
    ),
    Row(
        "download-401-once",
        "delivered",
        lemlist=faults("download", Fault.text_error(401, "Unauthorized")),
    ),
    Row(
        "download-403-once",
        "delivered",
        lemlist=faults("download", Fault.text_error(403, "Forbidden")),
    ),
    Row(
        "download-404-file-gone",
        "failed",
        reason="file is gone",
        lemlist=faults("download", Fault.text_error(404, "Not Found")),
    ),
    Row(
        "download-larger-than-file-size-once",
        "delivered",
        lemlist=faults("download", Fault.oversize(1000)),
    ),
    # -- S3 -----------------------------------------------------------------------------
    Row(
        "s3-upload-part-fails-mid-multipart",
        "delivered",
        aws=(s3("UploadPart"),),
        environment=MULTIPART,
        csv_rows=MULTIPART_ROWS,
    ),
    Row(
        # The CSV is stored; its query-ready copy (over one part) cannot be completed, more
        # times than the SDK tries one call: the copy's upload is aborted, and the step's
        # retry (where the rest of the failures are played) writes it whole.
        "s3-query-copy-complete-fails",
        "delivered",
        aws=(
            AwsFault(
                "s3",
                "CompleteMultipartUpload",
                "InternalError",
                status=500,
                times=8,
                matching="analytics/",
            ),
        ),
        environment=MULTIPART,
        csv_rows=QUERY_COPY_MULTIPART_ROWS,
    ),
    Row(
        "s3-complete-multipart-fails",
        "delivered",
        aws=(s3("CompleteMultipartUpload"),),
        environment=MULTIPART,
        csv_rows=MULTIPART_ROWS,
    ),
    Row(
        "s3-put-object-slow-down",
        "delivered",
        aws=(s3("PutObject", "SlowDown", 503),),
    ),
    # -- DynamoDB -----------------------------------------------------------------------
    Row(
        "dynamodb-throttled-on-updates",
        "delivered",
        aws=(ddb("UpdateItem", THROTTLED, times=3),),
    ),
    Row(
        "dynamodb-throttled-on-reads",
        "delivered",
        aws=(ddb("GetItem", THROTTLED, times=2),),
    ),
    Row(
        "dynamodb-internal-error",
        "delivered",
        aws=(ddb("UpdateItem", "InternalServerError", status=500),),
    ),
    # -- the notification targets -------------------------------------------------------
    Row(
        "webhook-down",
        "delivered",
        webhook=TargetFault(503, "down", times=10),
        notified=("sent", "failed"),
    ),
    Row(
        "webhook-429-with-retry-after",
        "delivered",
        webhook=TargetFault(429, "slow down", retry_after=1),
    ),
    Row("slack-slow", "delivered", slack=TargetFault(200, "ok", delay=2)),
    Row(
        "slack-rate-limited",
        "delivered",
        slack=TargetFault(429, "rate_limited", retry_after=1),
    ),
    # -- the Start step (a scheduled export) --------------------------------------------
    Row(
        # lemlist started the export, then writing its record failed past botocore's retries:
        # the state machine retries the step, which finds the request's export id and
        # follows that export (a second lemlist export would be left unread).
        "start-record-write-fails-after-lemlist-answered",
        "delivered",
        # 5: every attempt botocore makes (the Lambdas' config: 1 + 4 retries).
        aws=(ddb("PutItem", THROTTLED, times=5, matching=EXPORTS_TABLE),),
        via="schedule",
    ),
    Row(
        # DynamoDB slow to take the request before lemlist is asked: the Start worker is
        # killed at its Timeout (the late write still lands), the step retried.
        "start-lambda-timeout",
        "delivered",
        aws=(AwsFault("dynamodb", "PutItem", "", matching=COORDINATION_TABLE, delay=3),),
        timeouts={"StartExportFunction": 2},
        via="schedule",
    ),
    # -- Lambda -------------------------------------------------------------------------
    Row(
        "check-lambda-timeout",
        "delivered",
        lemlist=faults("status", Fault.slow(3)),
        timeouts={"CheckExportFunction": 2},
    ),
    Row(
        "copy-lambda-timeout",
        "delivered",
        lemlist=faults("download", Fault.slow(3)),
        timeouts={"CopyExportFunction": 2},
    ),
    Row(
        # Slack slow to answer: the Announce worker is killed at its Timeout mid-post, the
        # step retried; the webhook announced once, Slack's outcome recorded.
        "announce-lambda-timeout",
        "delivered",
        slack=TargetFault(200, "ok", delay=3),
        timeouts={"AnnounceExportFunction": 2},
    ),
]


@pytest.mark.parametrize("row", ROWS, ids=lambda row: row.id)
def test_a_fault_loses_nothing(
    row: Row,
    make_stack: StackFactory,
    simulator: LemlistSimulator,
    targets: LocalNotificationTargets,
) -> None:
    scheduled = {"ScheduleCampaignIds": DEFAULT_CAMPAIGN_ID} if row.via == "schedule" else {}
    stack = make_stack(environment=row.environment, timeouts=row.timeouts, parameters=scheduled)
    if row.csv_rows is not None:
        csv = SyntheticCsv(rows=row.csv_rows)
        simulator.add_campaign(DEFAULT_CAMPAIGN_ID, csv=csv, plan=row.plan)
    elif row.plan is not None:
        simulator.set_plan(DEFAULT_CAMPAIGN_ID, row.plan)
    for route, fault in row.lemlist:
        simulator.inject(route, fault)
    stack.aws.faults.inject(*row.aws)
    for path, target_fault in (
        (targets.SLACK_PATH, row.slack),
        (targets.WEBHOOK_PATH, row.webhook),
    ):
        if target_fault is not None:
            targets.receiver.fail_next(
                path,
                target_fault.status,
                target_fault.body,
                target_fault.times,
                retry_after=target_fault.retry_after,
                delay=target_fault.delay,
            )

    if row.via == "schedule":
        record = export_through_a_schedule(stack, simulator)
    else:
        record = export_through_the_api(stack)

    assert_nothing_lost(stack, simulator, targets, record, row.outcome, row.reason, row.notified)
    assert simulator.pending_faults == [], "every lemlist fault was played"
    assert stack.aws.faults.pending() == [], "every AWS fault was played"


def test_a_copy_worker_killed_mid_upload_is_retried_into_one_object(
    make_stack: StackFactory, simulator: LemlistSimulator, targets: LocalNotificationTargets
) -> None:
    stack = make_stack(environment=MULTIPART)
    simulator.add_campaign(DEFAULT_CAMPAIGN_ID, csv=SyntheticCsv(rows=MULTIPART_ROWS))
    # The first download is slow enough to be caught mid-upload; the retry's is not.
    simulator.inject("download", Fault.slow(0.5))
    copy_function = stack.stack.functions["CopyExportFunction"].name
    killed: list[int] = []

    def kill_the_copy_once_a_part_is_up() -> None:
        deadline = time.monotonic() + 60
        s3 = stack.client("s3")
        while time.monotonic() < deadline:
            uploads = s3.list_multipart_uploads(Bucket=stack.stack.bucket).get("Uploads", [])
            pids = stack.lambdas.busy_pids(copy_function)
            if uploads and pids:
                os.kill(pids[0], signal.SIGKILL)
                killed.append(pids[0])
                return
            time.sleep(0.02)

    killer = threading.Thread(target=kill_the_copy_once_a_part_is_up)
    killer.start()
    record = export_through_the_api(stack)
    killer.join()

    assert killed, "the copy worker was caught mid-upload"
    assert_nothing_lost(stack, simulator, targets, record, "delivered")
    crashes = [s for s in stack.lambdas.stats if s.error_type == "Runtime.ExitError"]
    assert [s.function for s in crashes] == [copy_function]


def test_two_exports_of_one_campaign_at_once_are_both_delivered(
    stack: LocalStack, simulator: LemlistSimulator, targets: LocalNotificationTargets
) -> None:
    started = [start(stack), start(stack)]
    assert len(set(started)) == 2

    records = [stack.wait_for_end(export_id, timeout=90) for export_id in started]

    assert [r.status for r in records] == ["delivered", "delivered"]
    by_id = {e.id: e.csv.to_bytes() for e in simulator.exports.values()}
    s3 = stack.client("s3")
    for record in records:
        assert record.bucket and record.key
        body = s3.get_object(Bucket=record.bucket, Key=record.key)["Body"].read()
        assert body == by_id[record.export_id]
    assert len(stored_keys(stack)) == 4  # two CSVs, two query-ready copies
    events = [p.json() for p in targets.receiver.posts_to(targets.WEBHOOK_PATH)]
    assert sorted(e["exportId"] for e in events) == sorted(started)


# -- the checks every row shares -------------------------------------------------------------


def start(stack: LocalStack) -> str:
    assert stack.http_api is not None
    answer = stack.http_api.request(
        "POST",
        "/exports",
        headers=stack.api_headers(),
        body=json.dumps({"campaignId": DEFAULT_CAMPAIGN_ID}),
    )
    assert answer.status == 202, answer.json()
    return str(answer.json()["exportId"])


def export_through_the_api(stack: LocalStack) -> ExportRecord:
    return stack.wait_for_end(start(stack), timeout=120)


def export_through_a_schedule(stack: LocalStack, simulator: LemlistSimulator) -> ExportRecord:
    """Fire the schedule (ScheduleCampaignIds: the default campaign) and follow the export
    its execution's Start task starts in lemlist."""
    fired = fire(stack)
    assert fired.error is None and fired.payload["started"] == [DEFAULT_CAMPAIGN_ID], fired
    deadline = time.monotonic() + 60
    # The record names the execution to follow (a scheduled one is named for its firing).
    while not (simulator.exports and stack.record(next(iter(simulator.exports)))):
        assert time.monotonic() < deadline, "the scheduled export was never recorded"
        time.sleep(0.05)
    return stack.wait_for_end(next(iter(simulator.exports)), timeout=120)


def stored_keys(stack: LocalStack) -> list[str]:
    answer = stack.client("s3").list_objects_v2(Bucket=stack.stack.bucket)
    return [item["Key"] for item in answer.get("Contents", [])]


def assert_nothing_lost(
    stack: LocalStack,
    simulator: LemlistSimulator,
    targets: LocalNotificationTargets,
    record: ExportRecord,
    outcome: str,
    reason: str = "",
    notified: tuple[str, str] = ("sent", "sent"),
) -> None:
    s3 = stack.client("s3")
    assert record.status == outcome, record.failure_reason
    if outcome == "delivered":
        served = simulator.exports[record.export_id].csv.to_bytes()
        # The CSV, and its query-ready copy, once each: no fault left a second of either.
        copy_key = (record.query_copy_uri or "").removeprefix(f"s3://{record.bucket}/")
        assert sorted(stored_keys(stack)) == sorted([record.key, copy_key])
        rows = list(csv.reader(io.StringIO(served.decode("utf-8-sig"), newline="")))
        assert record.query_copy_rows == len(rows) - 1
        assert record.bucket and record.key
        assert s3.get_object(Bucket=record.bucket, Key=record.key)["Body"].read() == served
        assert record.bytes == len(served)
    else:
        assert reason in (record.failure_reason or "").lower(), record.failure_reason
        assert stored_keys(stack) == []
    assert s3.list_multipart_uploads(Bucket=stack.stack.bucket).get("Uploads", []) == []
    # Announced once per target, with the outcome; no other export was announced.
    outcomes = {name: n.outcome for name, n in record.notifications.items()}
    assert (outcomes.get("slack"), outcomes.get("webhook")) == notified
    events = [p.json() for p in targets.receiver.posts_to(targets.WEBHOOK_PATH)]
    assert events and {(e["event"], e["exportId"]) for e in events} == {
        (f"export.{outcome}", record.export_id)
    }
    # One lemlist export: no fault made the stack start a second one.
    starts = [r for r in simulator.requests if r.route == "start" and 200 <= r.status < 300]
    assert len(starts) == 1
    assert list(simulator.exports) == [record.export_id]
