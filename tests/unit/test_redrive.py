"""Re-driving a failed export, piece by piece: which way a retry goes (copy again or export
anew) from what the record says, the record's claim of a retry on two DynamoDB engines
(moto and Amazon's DynamoDB Local), the Slack words, and how a retried export is announced.
The whole flow, with the state machine, is in tests/e2e/test_retry.py.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest

from lemlist_export.core.clock import iso
from lemlist_export.lemlist.status import ExportStatus
from lemlist_export.notify.announcement import Announcement
from lemlist_export.records.new import new_record
from lemlist_export.records.record import (
    COPY_AGAIN,
    DELIVERED,
    FAILED,
    NEW_EXPORT,
    PENDING,
    ExportRecord,
    NotificationOutcome,
)
from lemlist_export.records.requests import RequestStore, new_request
from lemlist_export.records.store import ExportStore
from lemlist_export.slack.command import RetryExport, Unknown, parse_intent
from lemlist_export.workflow.contract import input_to_copy_again
from lemlist_export.workflow.redrive import (
    COPY_MARGIN,
    plan_retry,
    retry_execution_name,
)
from lemlist_export.workflow.wait_policy import WaitPolicy

if TYPE_CHECKING:
    from tests.dynamodb_local import DynamoEngine

pytest_plugins = ["tests.dynamodb_local"]  # the dynamodb_engine fixture

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
URL = "https://api.lemlist.com/api/files/exports/fil_axp_X_q4.csv"


def failed(**fields: Any) -> ExportRecord:
    """A failed export lemlist had finished (its download URL kept), failed in the copy."""
    base: dict[str, Any] = {
        "export_id": "axp_Vv6lJOc8NlVVmDud5",
        "campaign_id": "cam_A1B2C3D4E5F6G7H8I9",
        "status": FAILED,
        "created_at": iso(NOW - timedelta(hours=3)),
        "updated_at": iso(NOW - timedelta(hours=2)),
        "expires_at": 1_900_000_000,
        "download_url": URL,
        "file_size": 45133,
        "poll_count": 3,
        "last_polled_at": iso(NOW - timedelta(hours=2, minutes=59)),
        "failure_type": "DownloadIncompleteError",
        "failure_reason": "The download broke off",
        "failed_at": iso(NOW - timedelta(hours=2)),
    }
    return ExportRecord(**{**base, **fields})


# -- which way a retry goes ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "action", "why"),
    [
        ({}, COPY_AGAIN, "still holds the file for about 21 h"),
        # Measured from the status check that saw it done, else from the start.
        ({"last_polled_at": None}, COPY_AGAIN, "still holds the file for about 21 h"),
        (
            {"last_polled_at": iso(NOW - timedelta(hours=22, minutes=30))},
            COPY_AGAIN,
            "about 1 h 30 min",
        ),
        # Less than COPY_MARGIN left, or past the 24 hours: a copy could lose the race.
        ({"last_polled_at": iso(NOW - timedelta(hours=23, minutes=30))}, NEW_EXPORT, "24 hours"),
        ({"last_polled_at": iso(NOW - timedelta(hours=25))}, NEW_EXPORT, "24 hours"),
        # lemlist never finished it: nothing to copy.
        ({"download_url": None, "failure_type": "LemlistExportError"}, NEW_EXPORT, "never"),
        ({"download_url": None, "failure_type": "ExportExpiredError"}, NEW_EXPORT, "never"),
        # The copy found the file gone.
        ({"failure_type": "DownloadUnavailableError"}, NEW_EXPORT, "no longer has the file"),
        ({"last_polled_at": "yesterday"}, NEW_EXPORT, "does not say when"),
    ],
)
def test_a_retry_copies_again_only_while_lemlist_holds_the_file(
    fields: dict[str, Any], action: str, why: str
) -> None:
    plan = plan_retry(failed(**fields), NOW)

    assert plan.action == action
    assert why in plan.reason
    assert plan.retry == 1
    assert plan.execution_name == "axp_Vv6lJOc8NlVVmDud5-retry-1"


def test_the_margin_is_an_hour_before_lemlist_deletes_the_file() -> None:
    edge = NOW - timedelta(hours=24) + COPY_MARGIN
    assert plan_retry(failed(last_polled_at=iso(edge)), NOW).action == COPY_AGAIN
    late = edge - timedelta(seconds=1)
    assert plan_retry(failed(last_polled_at=iso(late)), NOW).action == NEW_EXPORT


def test_retries_are_numbered_and_their_names_fit_step_functions() -> None:
    assert plan_retry(failed(retry_count=2), NOW).execution_name.endswith("-retry-3")
    longest = "axp_" + "x" * 60
    assert len(retry_execution_name(longest, 12)) <= 80


def test_a_copy_again_goes_straight_to_the_copy_with_the_recorded_size() -> None:
    state = input_to_copy_again(failed(), WaitPolicy(), "api")

    assert state["check"] == {
        "status": "done",
        "pollCount": 3,
        "transientErrors": 0,
        "fileSize": 45133,
    }
    assert state["start"]["status"] == "started"
    assert state["start"]["exportId"] == "axp_Vv6lJOc8NlVVmDud5"
    assert state["copy"] == {"status": "waiting", "attempt": 0}
    assert URL not in str(state)  # the download URL never travels in the execution


# -- the Slack words ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "retry axp_Vv6lJOc8NlVVmDud5",
        "RETRY: `axp_Vv6lJOc8NlVVmDud5`",
        "retry 'axp_Vv6lJOc8NlVVmDud5'",
    ],
)
def test_slack_retry_takes_an_export_id(text: str) -> None:
    assert parse_intent(text) == RetryExport("axp_Vv6lJOc8NlVVmDud5")


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("retry", "`retry` needs an export id"),
        ("retry axp_A axp_B", "`retry` takes one id"),
        ("retry cam_A1B2C3D4E5F6G7H8I9", "is a campaign id; `retry` takes the id of a failed"),
        ("retry https://app.lemlist.com/campaigns/cam_A1B2/report", "not a link"),
        ("retry axp-bad!", "is not an export id"),
    ],
)
def test_slack_retry_says_what_is_wrong(text: str, said: str) -> None:
    intent = parse_intent(text)
    assert isinstance(intent, Unknown)
    assert said in intent.reason


# -- announcing a retried export ----------------------------------------------------------


def test_each_retry_ends_with_its_own_event_id() -> None:
    first = failed()
    again = failed(status=DELIVERED, retry_count=1, failure_type=None, failed_at=None)
    anew = failed(export_id="axp_New000000000000000", status=DELIVERED, retry_of=first.export_id)

    payloads = [Announcement.of(r).webhook_payload(iso(NOW)) for r in (first, again, anew)]

    assert [p["eventId"] for p in payloads] == [
        "axp_Vv6lJOc8NlVVmDud5:failed",
        "axp_Vv6lJOc8NlVVmDud5:delivered:retry-1",
        "axp_New000000000000000:delivered",
    ]
    assert [(p["retryOf"], p["retryCount"]) for p in payloads] == [
        (None, 0),
        (None, 1),
        ("axp_Vv6lJOc8NlVVmDud5", 0),
    ]


# -- the record's claim, on both engines --------------------------------------------------


@pytest.fixture(scope="module")
def tables(dynamodb_engine: DynamoEngine) -> Iterator[tuple[str, str]]:
    exports = dynamodb_engine.create_table("ExportsTable")
    coordination = dynamodb_engine.create_table("CoordinationTable")
    yield exports, coordination
    for name in (exports, coordination):
        dynamodb_engine.client().delete_table(TableName=name)


@pytest.fixture
def store(dynamodb_engine: DynamoEngine, tables: tuple[str, str]) -> ExportStore:
    return ExportStore(dynamodb_engine.client(), tables[0])


@pytest.fixture
def requests(dynamodb_engine: DynamoEngine, tables: tuple[str, str]) -> RequestStore:
    return RequestStore(dynamodb_engine.client(), tables[1])


def failed_in_store(store: ExportStore) -> ExportRecord:
    """An export recorded, finished by lemlist, then failed in the copy and announced."""
    export_id = f"axp_{secrets.token_hex(8)}"
    done = ExportStatus.from_answer(
        {
            "id": export_id,
            "status": "done",
            "url": URL,
            "fileSize": 45133,
            "endedAt": "2026-11-30T09:00:00.000Z",
        },
        campaign_id="cam_A1B2C3D4E5F6G7H8I9",
    )
    store.create(new_record(done, source="api", now=NOW, retention_days=1))
    store.record_poll(export_id, done, 3)
    store.begin_delivery(export_id)
    store.mark_failed(export_id, "DownloadIncompleteError", "The download broke off")
    store.record_notifications(
        export_id, [NotificationOutcome("slack", "sent", "answered 200", FAILED)]
    )
    return store.get(export_id)


def entry(retry: int, action: str) -> dict[str, Any]:
    return {"retry": retry, "action": action, "executionName": f"x-retry-{retry}"}


def test_copying_again_reopens_the_record_and_keeps_the_failure_in_its_history(
    store: ExportStore,
) -> None:
    record = failed_in_store(store)

    claimed = store.claim_retry(
        record.export_id,
        retry=1,
        action=COPY_AGAIN,
        entry={**entry(1, COPY_AGAIN), "failureType": record.failure_type},
        slack_response_url="https://hooks.slack.com/commands/T1/2/abc",
    )

    assert claimed is True
    now = store.get(record.export_id)
    assert now.status == PENDING
    assert (now.retry_count, now.retry_action, now.execution_name) == (1, COPY_AGAIN, "x-retry-1")
    assert now.retry_history == [{**entry(1, COPY_AGAIN), "failureType": "DownloadIncompleteError"}]
    assert (now.failure_type, now.failure_reason, now.failed_at) == (None, None, None)
    # The end of the retry is announced afresh, in the Slack channel that asked for it.
    assert now.notifications == {}
    assert now.slack_response_url == "https://hooks.slack.com/commands/T1/2/abc"
    assert now.requested_at is not None and now.requested_at > record.updated_at
    # What lemlist said stays: the copy reads the URL again.
    assert (now.download_url, now.file_size, now.poll_count) == (URL, 45133, 3)
    # From pending it is an ordinary export again: copied, delivered, or failed again.
    store.begin_delivery(record.export_id)
    assert store.mark_failed(record.export_id, "DownloadIncompleteError", "again") is True
    assert store.claim_retry(
        record.export_id, retry=2, action=COPY_AGAIN, entry=entry(2, COPY_AGAIN)
    )
    assert [e["retry"] for e in store.get(record.export_id).retry_history] == [1, 2]


def test_a_retry_number_is_claimed_once(store: ExportStore) -> None:
    record = failed_in_store(store)
    wins: list[bool] = []
    barrier = threading.Barrier(4)

    def claim() -> None:
        barrier.wait()
        wins.append(
            store.claim_retry(
                record.export_id, retry=1, action=COPY_AGAIN, entry=entry(1, COPY_AGAIN)
            )
        )

    threads = [threading.Thread(target=claim) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(wins) == [False, False, False, True]
    assert len(store.get(record.export_id).retry_history) == 1


def test_only_a_failed_export_is_claimed_and_numbers_follow_on(store: ExportStore) -> None:
    record = failed_in_store(store)
    # Out of turn: retry 2 before retry 1.
    assert not store.claim_retry(
        record.export_id, retry=2, action=COPY_AGAIN, entry=entry(2, COPY_AGAIN)
    )
    assert store.claim_retry(
        record.export_id, retry=1, action=COPY_AGAIN, entry=entry(1, COPY_AGAIN)
    )
    # Now pending: not failed, so no retry 2 until this one fails.
    assert not store.claim_retry(
        record.export_id, retry=2, action=COPY_AGAIN, entry=entry(2, COPY_AGAIN)
    )
    assert not store.claim_retry(
        "axp_NeverRecorded", retry=1, action=COPY_AGAIN, entry=entry(1, COPY_AGAIN)
    )


def test_exporting_anew_leaves_the_record_failed_and_points_it_at_the_new_export(
    store: ExportStore, requests: RequestStore
) -> None:
    record = failed_in_store(store)

    assert store.claim_retry(
        record.export_id, retry=1, action=NEW_EXPORT, entry=entry(1, NEW_EXPORT)
    )
    store.link_retry(record.export_id, "axp_TheNewOne00000000")

    now = store.get(record.export_id)
    assert now.status == FAILED
    assert now.failure_type == "DownloadIncompleteError"  # still the reason it failed
    assert (now.retry_count, now.retry_action, now.retried_as) == (
        1,
        NEW_EXPORT,
        "axp_TheNewOne00000000",
    )
    assert now.notifications["slack"].for_status == FAILED  # nothing to announce again
    # The request the new export is started from carries the re-drive and the callback.
    asked = requests.save(
        new_request(
            f"{record.export_id}-retry-1",
            record.campaign_id,
            source="api",
            now=NOW,
            retry_of=record.export_id,
            callback_url="https://hooks.zapier.com/hooks/catch/1/a/",
        ),
        NOW,
    )
    found = requests.find(asked.request_id)
    assert found is not None
    assert (found.retry_of, found.callback_url) == (
        record.export_id,
        "https://hooks.zapier.com/hooks/catch/1/a/",
    )
    # First write wins: a second export id attached to the request gets the first back.
    assert requests.attach_export(asked.request_id, "axp_First0000000000000") == (
        "axp_First0000000000000"
    )
    assert requests.attach_export(asked.request_id, "axp_Second000000000000") == (
        "axp_First0000000000000"
    )
