"""The export records (ExportStore) and export requests (RequestStore) on two DynamoDB
engines: moto, and Amazon's DynamoDB Local.

The tables are ExportsTable and CoordinationTable as template.yaml defines them (key, GSI,
TTL), so a query the template's index cannot serve fails here. Each status change is a
conditional write; the races at the end run against the engine's own atomicity.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest
from botocore.exceptions import ClientError

from lemlist_export.core.clock import iso, utc_now
from lemlist_export.core.errors import (
    ExportNotFoundError,
    InvalidRequestError,
    InvalidTransitionError,
)
from lemlist_export.lemlist.status import ExportStatus
from lemlist_export.records.new import new_record
from lemlist_export.records.record import (
    DELIVERED,
    DELIVERING,
    FAILED,
    PENDING,
    ExportRecord,
    NotificationOutcome,
    Progress,
)
from lemlist_export.records.requests import RequestStore, new_request
from lemlist_export.records.store import ExportStore
from lemlist_export.storage.s3_upload import StoredObject

if TYPE_CHECKING:
    from tests.dynamodb_local import DynamoEngine

pytest_plugins = ["tests.dynamodb_local"]  # the dynamodb_engine fixture

CSV = StoredObject("exports-bucket", "exports/campaign_id=c/export.csv", 45133, "ab" * 32, 1)


@pytest.fixture(scope="module")
def exports_table(dynamodb_engine: DynamoEngine) -> Iterator[str]:
    name = dynamodb_engine.create_table("ExportsTable")
    yield name
    dynamodb_engine.client().delete_table(TableName=name)


@pytest.fixture
def store(dynamodb_engine: DynamoEngine, exports_table: str) -> ExportStore:
    return ExportStore(dynamodb_engine.client(), exports_table)


def lemlist_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(8)}"


def status(export_id: str, campaign_id: str, state: str = "pending", **fields: Any) -> ExportStatus:
    answer = {"id": export_id, "status": state, **fields}
    return ExportStatus.from_answer(answer, campaign_id=campaign_id)


def recorded(
    store: ExportStore, *, campaign_id: str | None = None, now: datetime | None = None
) -> ExportRecord:
    """A new export, recorded as the start step records it."""
    seen = status(
        lemlist_id("axp"),
        campaign_id or lemlist_id("cam"),
        progress=0,
        total=120,
        progressType="activities",
        campaignName="Q4 outbound",
        startedAt="2026-11-29T06:00:00.000Z",
    )
    record = new_record(seen, source="api", now=now or utc_now(), retention_days=90)
    store.create(record)
    return record


def delivering(store: ExportStore) -> ExportRecord:
    record = recorded(store)
    store.begin_delivery(record.export_id)
    return record


# -- create and read -----------------------------------------------------------------------


def test_a_record_reads_back_as_written(store: ExportStore) -> None:
    record = recorded(store)

    assert store.get(record.export_id) == record
    assert store.find(record.export_id) == record
    assert record.status == PENDING
    assert record.progress == Progress(0, 120, "activities")


def test_an_unknown_export_is_none_or_not_found(store: ExportStore) -> None:
    assert store.find("axp_NeverRecorded") is None
    with pytest.raises(ExportNotFoundError, match="axp_NeverRecorded"):
        store.get("axp_NeverRecorded")


def test_a_second_create_of_one_export_is_refused_and_changes_nothing(store: ExportStore) -> None:
    record = recorded(store)
    store.begin_delivery(record.export_id)

    with pytest.raises(InvalidTransitionError, match="already recorded"):
        store.create(record)
    assert store.get(record.export_id).status == DELIVERING


# -- what a status check records ---------------------------------------------------------------


def test_a_pending_poll_records_progress_and_counts(store: ExportStore) -> None:
    record = recorded(store)
    seen = status(
        record.export_id, record.campaign_id, progress=40, total=120, progressType="activities"
    )

    assert store.record_poll(record.export_id, seen, 3) is True

    stored = store.get(record.export_id)
    assert stored.progress == Progress(40, 120, "activities")
    assert stored.poll_count == 3
    assert stored.last_polled_at is not None
    assert stored.status == PENDING


def test_a_done_poll_records_the_file_but_no_false_progress(store: ExportStore) -> None:
    record = recorded(store)
    url = "https://api.lemlist.com/api/files/export.csv"
    done = status(
        record.export_id,
        record.campaign_id,
        "done",
        progress=0,
        total=0,
        progressType="done",
        fileSize=45133,
        url=url,
    )

    assert store.record_poll(record.export_id, done, 4) is True

    stored = store.get(record.export_id)
    assert stored.progress == Progress(step="done")
    assert (stored.file_size, stored.download_url, stored.poll_count) == (45133, url, 4)


def test_an_error_poll_keeps_what_lemlist_said(store: ExportStore) -> None:
    record = recorded(store)
    error = status(record.export_id, record.campaign_id, "error", reason="quota", retries=2)

    store.record_poll(record.export_id, error, 2)

    assert store.get(record.export_id).lemlist_status == error.raw
    assert error.raw["reason"] == "quota"


def test_a_late_poll_never_reopens_an_export(store: ExportStore) -> None:
    record = delivering(store)
    late = status(record.export_id, record.campaign_id, progress=90, total=120)

    assert store.record_poll(record.export_id, late, 9) is False

    stored = store.get(record.export_id)
    assert (stored.status, stored.poll_count) == (DELIVERING, 0)
    assert stored.progress == record.progress


# -- status changes --------------------------------------------------------------------------


def test_delivery_begins_once_or_again_but_never_after_the_end(store: ExportStore) -> None:
    record = recorded(store)
    store.begin_delivery(record.export_id)
    store.begin_delivery(record.export_id)  # a retried copy step
    assert store.get(record.export_id).status == DELIVERING

    store.mark_delivered(record.export_id, CSV)
    with pytest.raises(InvalidTransitionError, match="is delivered; it cannot become delivering"):
        store.begin_delivery(record.export_id)

    failed = recorded(store)
    store.mark_failed(failed.export_id, "LemlistError", "lemlist reported an error")
    with pytest.raises(InvalidTransitionError, match="is failed"):
        store.begin_delivery(failed.export_id)


def test_a_change_to_an_unknown_export_is_not_found(store: ExportStore) -> None:
    with pytest.raises(ExportNotFoundError):
        store.begin_delivery("axp_NeverRecorded")
    with pytest.raises(ExportNotFoundError):
        store.mark_failed("axp_NeverRecorded", "Unknown", "no such export")
    assert store.find("axp_NeverRecorded") is None  # and no write created it


def test_delivered_records_the_object_and_a_retry_of_the_same_copy_is_a_no_op(
    store: ExportStore,
) -> None:
    record = delivering(store)

    first = store.mark_delivered(record.export_id, CSV)
    again = store.mark_delivered(record.export_id, CSV)

    assert first.status == DELIVERED
    assert (first.s3_uri, first.bytes, first.sha256) == (CSV.uri, CSV.bytes, CSV.sha256)
    assert first.delivered_at is not None
    assert again == first


def test_delivered_again_with_another_object_is_refused(store: ExportStore) -> None:
    record = delivering(store)
    store.mark_delivered(record.export_id, CSV)
    other = StoredObject(CSV.bucket, CSV.key, CSV.bytes, "cd" * 32, 1)

    with pytest.raises(InvalidTransitionError):
        store.mark_delivered(record.export_id, other)
    assert store.get(record.export_id).sha256 == CSV.sha256


def test_a_pending_export_cannot_be_delivered_without_a_delivery(store: ExportStore) -> None:
    record = recorded(store)

    with pytest.raises(InvalidTransitionError, match="is pending; it cannot become delivered"):
        store.mark_delivered(record.export_id, CSV)


def test_failing_ends_an_open_export_once(store: ExportStore) -> None:
    pending, in_delivery = recorded(store), delivering(store)

    assert store.mark_failed(pending.export_id, "LemlistError", "lemlist said error") is True
    assert store.mark_failed(in_delivery.export_id, "DownloadError", "cut short") is True
    assert store.mark_failed(pending.export_id, "Timeout", "a second reason") is False

    stored = store.get(pending.export_id)
    assert (stored.status, stored.failure_type, stored.failure_reason) == (
        FAILED,
        "LemlistError",
        "lemlist said error",
    )
    assert stored.failed_at is not None
    assert store.get(in_delivery.export_id).status == FAILED


def test_a_delivered_export_never_fails_afterwards(store: ExportStore) -> None:
    record = delivering(store)
    store.mark_delivered(record.export_id, CSV)

    assert store.mark_failed(record.export_id, "Watchdog", "execution timed out") is False
    assert store.get(record.export_id).status == DELIVERED


# -- notifications -----------------------------------------------------------------------------


def test_notification_outcomes_add_up_per_target(store: ExportStore) -> None:
    record = recorded(store)
    slack = NotificationOutcome("slack", "sent", for_status=FAILED, at=iso(utc_now()))
    webhook = NotificationOutcome("webhook", "failed", "HTTP 500", FAILED, iso(utc_now()))
    webhook_retry = NotificationOutcome("webhook", "sent", for_status=FAILED)

    store.record_notifications(record.export_id, [slack, webhook])
    store.record_notifications(record.export_id, [webhook_retry])
    store.record_notifications(record.export_id, [])  # nothing to say: no write

    assert store.get(record.export_id).notifications == {
        "slack": slack,
        "webhook": webhook_retry,
    }


def test_notifications_of_an_unknown_export_create_no_record(store: ExportStore) -> None:
    with pytest.raises(ClientError) as refused:
        store.record_notifications("axp_NeverRecorded", [NotificationOutcome("slack", "sent")])

    assert refused.value.response["Error"]["Code"] == "ConditionalCheckFailedException"
    assert store.find("axp_NeverRecorded") is None


# -- a campaign's exports, by the template's byCampaign index ----------------------------------


def test_a_campaigns_exports_list_newest_first_in_pages(store: ExportStore) -> None:
    campaign = lemlist_id("cam")
    start = datetime(2026, 11, 29, 6, 0, tzinfo=UTC)
    mine = [recorded(store, campaign_id=campaign, now=start + timedelta(hours=h)) for h in range(5)]
    for hour in range(2):  # another campaign's exports, at the same times
        recorded(store, now=start + timedelta(hours=hour))

    pages: list[list[str]] = []
    token: str | None = None
    while True:
        records, token = store.list_by_campaign(campaign, limit=2, after=token)
        pages.append([r.export_id for r in records])
        if token is None:
            break

    newest_first = [r.export_id for r in reversed(mine)]
    assert pages == [newest_first[0:2], newest_first[2:4], newest_first[4:]]


def test_a_token_is_only_good_for_its_own_campaign(store: ExportStore) -> None:
    campaign = lemlist_id("cam")
    for _ in range(2):
        recorded(store, campaign_id=campaign)
    _, token = store.list_by_campaign(campaign, limit=1)
    assert token is not None

    with pytest.raises(InvalidRequestError, match="for this campaign"):
        store.list_by_campaign(lemlist_id("cam"), limit=1, after=token)
    assert store.list_by_campaign(lemlist_id("cam"), limit=5) == ([], None)


# -- races, on the engine's own atomicity --------------------------------------------------------


def run_together(calls: list[Callable[[], Any]]) -> list[Any]:
    """Run the calls in threads released at once; each result, or the exception it raised."""
    start = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)

    def run(index: int) -> None:
        start.wait()
        try:
            results[index] = calls[index]()
        except Exception as exc:  # the caller asserts on it
            results[index] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return results


def test_of_many_simultaneous_creates_of_one_export_exactly_one_wins(store: ExportStore) -> None:
    seen = status(lemlist_id("axp"), lemlist_id("cam"))
    copies = [
        new_record(seen, source=source, now=utc_now(), retention_days=1)
        for source in ["api", "slack", "schedule", "api", "slack", "schedule", "api", "slack"]
    ]

    results = run_together([lambda r=r: store.create(r) for r in copies])

    winners = [i for i, result in enumerate(results) if result is None]
    assert len(winners) == 1
    assert all(
        isinstance(r, InvalidTransitionError) for i, r in enumerate(results) if i != winners[0]
    )
    assert store.get(seen.export_id) == copies[winners[0]]


def test_a_delivery_racing_a_failure_ends_one_way_only(store: ExportStore) -> None:
    for _ in range(8):
        export_id = delivering(store).export_id

        delivered, failed = run_together(
            [
                lambda export_id=export_id: store.mark_delivered(export_id, CSV),
                lambda export_id=export_id: store.mark_failed(export_id, "Watchdog", "timed out"),
            ]
        )

        final = store.get(export_id)
        if failed is True:
            assert isinstance(delivered, InvalidTransitionError)
            assert (final.status, final.s3_uri) == (FAILED, None)
        else:
            assert failed is False
            assert isinstance(delivered, ExportRecord) and delivered == final
            assert (final.status, final.failure_type) == (DELIVERED, None)


# -- export requests in the coordination table -----------------------------------------------------


@pytest.fixture(scope="module")
def requests(dynamodb_engine: DynamoEngine) -> Iterator[RequestStore]:
    name = dynamodb_engine.create_table("CoordinationTable")
    yield RequestStore(dynamodb_engine.client(), name)
    dynamodb_engine.client().delete_table(TableName=name)


def test_duplicate_requests_keep_the_first_and_the_first_export_id(
    requests: RequestStore,
) -> None:
    request_id = lemlist_id("req")
    asks = [
        new_request(request_id, lemlist_id("cam"), source="slack", now=utc_now(), requested_by=who)
        for who in ["U1", "U2", "U3", "U4"]
    ]

    kept = run_together([lambda a=a: requests.save(a, utc_now()) for a in asks])

    assert len(set(kept)) == 1 and kept[0] in asks
    assert requests.find(request_id) == kept[0]
    run_together([lambda e=e: requests.attach_export(request_id, e) for e in ["axp_A", "axp_B"]])
    attached = requests.find(request_id)
    assert attached is not None and attached.export_id in ("axp_A", "axp_B")
    requests.attach_export(request_id, "axp_Later")
    assert requests.find(request_id) == attached
    assert requests.find(lemlist_id("req")) is None
