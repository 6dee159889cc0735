"""The Start, Check and Copy decisions, table by table, against a scripted lemlist.

The steps take their dependencies as arguments, so a fake lemlist (answers or errors in
order) and a fake store (remembering what was written) are enough to pin every decision:
the next wait, the counters, what is raised, and what was recorded. No network, no AWS.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from lemlist_export.core.errors import (
    DownloadIncompleteError,
    ExportExpiredError,
    InvalidTransitionError,
    LemlistProtocolError,
    LemlistTransientError,
    RateLimitedError,
    UnsafeUrlError,
)
from lemlist_export.lemlist.status import ExportStatus
from lemlist_export.records.record import ExportRecord
from lemlist_export.records.requests import ExportRequest
from lemlist_export.workflow.check import CheckOutcome, CheckRequest, check_export
from lemlist_export.workflow.copy import (
    CopyRequest,
    Destination,
    copy_export,
    query_copy_rate,
    with_query_copy,
)
from lemlist_export.workflow.start import StartRequest, start_export
from lemlist_export.workflow.wait_policy import WaitPolicy

NOW = datetime(2026, 11, 29, 6, 0, tzinfo=UTC)
CAMPAIGN = "cam_A1B2C3D4E5F6G7H8I9"
EXPORT = "axp_Vv6lJOc8NlVVmDud5"
POLICY = WaitPolicy()


def status(state: str = "pending", **fields: Any) -> ExportStatus:
    return ExportStatus.from_answer({"id": EXPORT, "status": state, **fields}, campaign_id=CAMPAIGN)


class ScriptedLemlist:
    """Answers (or raises) from a script, one entry per call, and remembers the calls."""

    def __init__(self, *script: Any) -> None:
        self.script = list(script)
        self.calls: list[str] = []

    def _next(self, call: str) -> Any:
        self.calls.append(call)
        answer = self.script.pop(0)
        if isinstance(answer, BaseException):
            raise answer
        return answer

    def get_export_status(self, campaign_id: str, export_id: str) -> ExportStatus:
        return self._next("status")

    def start_export(self, campaign_id: str) -> ExportStatus:
        return self._next("start")

    def open_download(self, url: str) -> Any:
        return self._next("download")


class MemoryStore:
    """The ExportStore calls the steps make, on a dict."""

    def __init__(self, *records: ExportRecord) -> None:
        self.records = {r.export_id: r for r in records}
        self.polls: list[tuple[str, str, int]] = []

    def record_poll(self, export_id: str, seen: ExportStatus, polls: int) -> bool:
        self.polls.append((export_id, seen.status, polls))
        return True

    def find(self, export_id: str) -> ExportRecord | None:
        return self.records.get(export_id)

    def get(self, export_id: str) -> ExportRecord:
        return self.records[export_id]

    def create(self, record: ExportRecord) -> None:
        if record.export_id in self.records:
            raise InvalidTransitionError("already recorded")
        self.records[record.export_id] = record

    def begin_delivery(self, export_id: str) -> None:
        self.records[export_id] = replace(self.records[export_id], status="delivering")


# -- Check --------------------------------------------------------------------------------

CHECKS = [
    # (name, elapsed seconds, previous polls, previous transient errors, lemlist, expected)
    ("pending at first", 0, 0, 0, status(), CheckOutcome("pending", 1, 0, 5)),
    # Adaptive polling: 10% of the export's age.
    ("pending after two minutes", 120, 4, 0, status(), CheckOutcome("pending", 5, 0, 12)),
    (
        "a 5xx backs off",
        10,
        2,
        0,
        LemlistTransientError("503"),
        CheckOutcome("pending", 3, 1, 5, note="503"),
    ),
    (
        "a third 5xx in a row waits longer",
        10,
        2,
        2,
        LemlistTransientError("503"),
        CheckOutcome("pending", 3, 3, 20, note="503"),
    ),
    (
        "done carries the size",
        30,
        3,
        1,
        status("done", fileSize=45133, url="https://api.lemlist.com/api/files/x.csv"),
        CheckOutcome("done", 4, 0, file_size=45133),
    ),
    ("error is handed to the Choice", 30, 3, 0, status("error"), CheckOutcome("error", 4)),
    ("an unknown status too", 30, 3, 0, status("archived"), CheckOutcome("archived", 4)),
]


@pytest.mark.parametrize(
    ("elapsed", "polls", "transient", "answer", "expected"),
    [row[1:] for row in CHECKS],
    ids=[row[0] for row in CHECKS],
)
def test_a_check_decides(elapsed, polls, transient, answer, expected):
    request = CheckRequest(
        EXPORT, CAMPAIGN, NOW - timedelta(seconds=elapsed), POLICY, polls, transient
    )
    store = MemoryStore()

    outcome = check_export(request, lemlist=ScriptedLemlist(answer), store=store, now=NOW)

    assert outcome == expected
    recorded = [] if isinstance(answer, BaseException) else [(EXPORT, answer.status, polls + 1)]
    assert store.polls == recorded


@pytest.mark.parametrize(
    ("retry_after", "elapsed", "lowest"),
    [(7, 0, 7), (None, 0, POLICY.rate_limit_wait_seconds), (1, 120, 12)],
    ids=["retry-after", "no retry-after", "never sooner than the usual pace"],
)
def test_a_429_waits_at_least_retry_after_and_the_usual_pace(retry_after, elapsed, lowest):
    request = CheckRequest(EXPORT, CAMPAIGN, NOW - timedelta(seconds=elapsed), POLICY, 3)
    lemlist = ScriptedLemlist(RateLimitedError("429", retry_after=retry_after))

    outcome = check_export(request, lemlist=lemlist, store=MemoryStore(), now=NOW)

    assert outcome.status == "pending" and outcome.poll_count == 4
    assert outcome.next_check_in_seconds in (max(lowest, 5), max(lowest, 5) + 1)


@pytest.mark.parametrize(
    ("elapsed", "polls", "transient", "answer", "error"),
    [
        (7200, 9, 0, status(), ExportExpiredError),
        (10, 0, POLICY.max_transient_errors, LemlistTransientError("503"), LemlistTransientError),
        (10, 0, 0, status("done"), LemlistProtocolError),
    ],
    ids=["pending past lemlist's 2 hours", "one 5xx too many", "done without a URL"],
)
def test_a_check_raises_what_retrying_cannot_fix(elapsed, polls, transient, answer, error):
    request = CheckRequest(
        EXPORT, CAMPAIGN, NOW - timedelta(seconds=elapsed), POLICY, polls, transient
    )

    with pytest.raises(error):
        check_export(request, lemlist=ScriptedLemlist(answer), store=MemoryStore(), now=NOW)


def test_a_check_past_the_history_budget_gives_up_without_asking_lemlist():
    request = CheckRequest(EXPORT, CAMPAIGN, NOW, POLICY, poll_count=POLICY.max_checks)
    lemlist = ScriptedLemlist()

    with pytest.raises(ExportExpiredError):
        check_export(request, lemlist=lemlist, store=MemoryStore(), now=NOW)
    assert lemlist.calls == []


# -- Copy ---------------------------------------------------------------------------------

RECORD = ExportRecord(
    export_id=EXPORT,
    campaign_id=CAMPAIGN,
    status="pending",
    created_at="2026-11-29T06:00:00.000Z",
    updated_at="2026-11-29T06:00:00.000Z",
    expires_at=1_800_000_000,
    download_url="https://api.lemlist.com/api/files/exports/x.csv",
)


@pytest.mark.parametrize(
    ("attempts_so_far", "failure", "wait"),
    [
        (0, DownloadIncompleteError("cut", received=10, expected=20), 10),
        (1, LemlistTransientError("503"), 20),
        (2, DownloadIncompleteError("cut"), 40),
    ],
    ids=["first cut download", "second attempt, a 5xx", "third attempt"],
)
def test_a_copy_that_a_later_attempt_can_fix_answers_a_growing_wait(attempts_so_far, failure, wait):
    request = CopyRequest(EXPORT, 20, POLICY, attempts_so_far)

    outcome = copy_export(
        request,
        lemlist=ScriptedLemlist(failure),
        store=MemoryStore(RECORD),
        s3=None,
        destination=Destination("bucket"),
    )

    assert (outcome.attempt, outcome.record, outcome.retry_in_seconds) == (
        attempts_so_far + 1,
        None,
        wait,
    )
    assert outcome.note == str(failure)


def test_a_copy_refused_for_a_rate_limit_waits_at_least_retry_after():
    outcome = copy_export(
        CopyRequest(EXPORT, 20, POLICY),
        lemlist=ScriptedLemlist(RateLimitedError("429", retry_after=30)),
        store=MemoryStore(RECORD),
        s3=None,
        destination=Destination("bucket"),
    )

    assert outcome.retry_in_seconds in (30, 31)


@pytest.mark.parametrize(
    ("attempts_so_far", "failure"),
    [
        (POLICY.max_delivery_attempts - 1, DownloadIncompleteError("cut")),
        (0, UnsafeUrlError("refused")),
    ],
    ids=["the last attempt", "a URL the judge refuses"],
)
def test_a_copy_raises_when_no_attempt_can_fix_it(attempts_so_far, failure):
    with pytest.raises(type(failure)):
        copy_export(
            CopyRequest(EXPORT, 20, POLICY, attempts_so_far),
            lemlist=ScriptedLemlist(failure),
            store=MemoryStore(RECORD),
            s3=None,
            destination=Destination("bucket"),
        )


def test_a_copy_of_an_export_already_delivered_answers_delivered_without_downloading():
    delivered = replace(RECORD, status="delivered", s3_uri="s3://bucket/k.csv", bytes=20)
    lemlist = ScriptedLemlist()

    outcome = copy_export(
        CopyRequest(EXPORT, 20, POLICY, 1),
        lemlist=lemlist,
        store=MemoryStore(delivered),
        s3=None,
        destination=Destination("bucket"),
    )

    assert outcome.record == delivered and outcome.attempt == 2
    assert lemlist.calls == []


# -- Start --------------------------------------------------------------------------------


class MemoryRequests:
    def __init__(self, known: ExportRequest | None = None) -> None:
        self.known = known
        self.attached: list[tuple[str, str]] = []

    def save(self, request: ExportRequest, now: datetime) -> ExportRequest:
        return self.known or request

    def attach_export(self, request_id: str, export_id: str) -> None:
        self.attached.append((request_id, export_id))


def start(request: StartRequest, lemlist: ScriptedLemlist, **stores: Any) -> Any:
    return start_export(
        request,
        lemlist=lemlist,
        store=stores.get("store", MemoryStore()),
        requests=stores.get("requests", MemoryRequests()),
        retention_days=90,
        now=NOW,
    )


REQUEST = StartRequest("sched_x_20261129T0600_cam_A", CAMPAIGN, "schedule", POLICY)


def test_a_start_records_the_export_id_before_anything_else():
    requests, store = MemoryRequests(), MemoryStore()

    outcome = start(REQUEST, ScriptedLemlist(status()), requests=requests, store=store)

    assert outcome.newly_started and outcome.attempt == 1
    assert requests.attached == [(REQUEST.request_id, EXPORT)]
    assert store.get(EXPORT).execution_name == REQUEST.request_id


@pytest.mark.parametrize(
    ("failure", "transient", "waits"),
    [
        (RateLimitedError("429", retry_after=4), 0, (4, 5)),
        (LemlistTransientError("503"), 1, (5,)),
    ],
    ids=["429", "5xx"],
)
def test_a_start_lemlist_refused_for_now_answers_retry(failure, transient, waits):
    outcome = start(REQUEST, ScriptedLemlist(failure))

    assert outcome.record is None
    assert outcome.transient_errors == transient
    assert outcome.retry_in_seconds in waits


def test_a_start_after_too_many_5xx_raises():
    request = replace(REQUEST, transient_errors=POLICY.max_transient_errors)

    with pytest.raises(LemlistTransientError):
        start(request, ScriptedLemlist(LemlistTransientError("503")))


def test_a_retried_start_continues_the_export_lemlist_already_started():
    known = ExportRequest(REQUEST.request_id, CAMPAIGN, "schedule", "2026-11-29T06:00:00Z")
    known = replace(known, export_id=EXPORT)
    lemlist = ScriptedLemlist()

    outcome = start(
        replace(REQUEST, attempt=1),
        lemlist,
        requests=MemoryRequests(known),
        store=MemoryStore(RECORD),
    )

    assert outcome.record == RECORD and not outcome.newly_started and outcome.attempt == 2
    assert lemlist.calls == []  # never a second export in lemlist


# -- the query-ready copy's time -------------------------------------------------------------


class CopyFailures(MemoryStore):
    """MemoryStore that also keeps why a copy was not written."""

    def record_query_copy_failure(self, export_id: str, reason: str) -> ExportRecord:
        self.records[export_id] = replace(self.records[export_id], query_copy_error=reason)
        return self.records[export_id]


def test_a_query_copy_that_cannot_finish_in_the_time_left_is_not_begun_and_says_why():
    delivered = replace(
        RECORD, status="delivered", bucket="b", key="exports/x.csv", bytes=3 * 1024**3
    )
    store = CopyFailures(delivered)
    destination = Destination(
        bucket="b",
        analytics_prefix="analytics/export_rows",
        seconds_left=lambda: 300.0,  # 3 GiB at 512 MB takes about 530 s
        query_copy_bytes_per_second=query_copy_rate(512),
    )

    # No S3 client is needed: nothing is read or written.
    record = with_query_copy(delivered, store=store, s3=None, destination=destination)

    assert record.query_copy_uri is None
    assert record.query_copy_error is not None
    assert "3.0 GiB" in record.query_copy_error and "make backfill" in record.query_copy_error
    assert store.records[EXPORT].query_copy_error == record.query_copy_error


@pytest.mark.parametrize(
    ("memory_mb", "mib_per_second"), [(512, 20 * 512 / 1769), (1769, 20.0), (3008, 20.0)]
)
def test_the_copy_rate_follows_the_cpu_lambda_gives_a_memory_size(memory_mb, mib_per_second):
    assert query_copy_rate(memory_mb) == pytest.approx(mib_per_second * 1024 * 1024)
