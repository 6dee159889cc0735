"""The state machine's first task for exports asked for by Slack or a schedule.

Those callers cannot wait for lemlist (Slack wants an answer within 3 s; a schedule may
start hundreds of exports at once), so the execution itself starts the export. Like the
status check, a 429 or a passing outage answers `retry` with a wait (at least Retry-After)
instead of raising; the request item remembers the export id as soon as lemlist gives it,
so a retried task never starts a second export.

A re-driven export (`workflow.redrive`, NEW_EXPORT) starts here too, from a request that
names the failed export: the new export's record says which one it re-drives (`retryOf`),
and the failed one is pointed at it (`retriedAs`).
"""

from __future__ import annotations

import time
from contextlib import suppress
from dataclasses import dataclass, replace
from datetime import datetime

from lemlist_export.core.errors import (
    AwsTransientError,
    InvalidTransitionError,
    LemlistTransientError,
    RateLimitedError,
)
from lemlist_export.lemlist.client import LemlistClient
from lemlist_export.lemlist.status import ExportStatus
from lemlist_export.records.new import new_record
from lemlist_export.records.record import ExportRecord
from lemlist_export.records.requests import ExportRequest, RequestStore, new_request
from lemlist_export.records.store import ExportStore
from lemlist_export.workflow.wait_policy import WaitPolicy


@dataclass(frozen=True)
class StartRequest:
    request_id: str
    campaign_id: str
    source: str
    waits: WaitPolicy
    attempt: int = 0
    transient_errors: int = 0


@dataclass(frozen=True)
class StartOutcome:
    """One attempt's outcome: the record once lemlist started the export, else when to try
    again (`retry_in_seconds`) and why (`note`)."""

    attempt: int
    record: ExportRecord | None = None
    newly_started: bool = False
    transient_errors: int = 0
    retry_in_seconds: int | None = None
    note: str = ""
    # Whether lemlist's 429 was the reason to try again (else a passing outage).
    rate_limited: bool = False


def start_export(
    request: StartRequest,
    *,
    lemlist: LemlistClient,
    store: ExportStore,
    requests: RequestStore,
    retention_days: int,
    now: datetime,
) -> StartOutcome:
    asked = requests.save(
        new_request(request.request_id, request.campaign_id, source=request.source, now=now),
        now,
    )
    attempt = request.attempt + 1
    if asked.export_id:
        # A retry of this task after lemlist had already started the export.
        record = store.find(asked.export_id) or _record_again(
            asked, lemlist, store, retention_days, now
        )
        _link(store, asked, record)
        return StartOutcome(attempt, record)
    try:
        status = lemlist.start_export(request.campaign_id)
    except RateLimitedError as exc:
        wait = request.waits.after_rate_limit(exc.retry_after, 1)
        return _retry(attempt, request.transient_errors, wait, exc)
    except LemlistTransientError as exc:
        failures = request.transient_errors + 1
        if failures > request.waits.max_transient_errors:
            raise LemlistTransientError(
                f"lemlist failed {failures} attempts in a row to start the export; last: {exc}"
            ) from None
        return _retry(attempt, failures, request.waits.backoff(failures), exc)
    attached = _remember(requests, request.request_id, status.export_id)
    if attached and attached != status.export_id:
        # A concurrent start of the same request (a re-drive asked twice at once) got its
        # export written down first: that one is followed, this one is left unread in lemlist.
        winner = replace(asked, export_id=attached)
        record = store.find(attached) or _record_again(winner, lemlist, store, retention_days, now)
        _link(store, asked, record)
        return StartOutcome(attempt, record)
    record = _record(asked, status, retention_days, now)
    record = _create(store, record)
    _link(store, asked, record)
    return StartOutcome(attempt, record, newly_started=True)


def _remember(requests: RequestStore, request_id: str, export_id: str) -> str:
    """Write the export id down now, retrying here: until it is, a crash or a retried task
    would start a second export in lemlist. The export the request is attached to."""
    for attempt in range(1, 4):
        try:
            return requests.attach_export(request_id, export_id)
        except AwsTransientError:
            if attempt == 3:
                raise
            time.sleep(0.5 * attempt)
    raise AssertionError("unreachable")


def _create(store: ExportStore, record: ExportRecord) -> ExportRecord:
    """Write the record, unless a concurrent start of the same request wrote it first."""
    with suppress(InvalidTransitionError):
        store.create(record)
        return record
    return store.get(record.export_id)


def _link(store: ExportStore, asked: ExportRequest, record: ExportRecord) -> None:
    """A re-drive: point the failed export at the one started for it (idempotent)."""
    if asked.retry_of and asked.retry_of != record.export_id:
        store.link_retry(asked.retry_of, record.export_id)


def _record(
    asked: ExportRequest, status: ExportStatus, retention_days: int, now: datetime
) -> ExportRecord:
    return new_record(
        status,
        source=asked.source,
        now=now,
        retention_days=retention_days,
        slack_response_url=asked.slack_response_url,
        requested_by=asked.requested_by,
        execution_name=asked.request_id,
        requested_at=asked.requested_at,
        callback_url=asked.callback_url,
        retry_of=asked.retry_of,
    )


def _record_again(
    asked: ExportRequest,
    lemlist: LemlistClient,
    store: ExportStore,
    retention_days: int,
    now: datetime,
) -> ExportRecord:
    """The record a crashed attempt did not get to write, rebuilt from lemlist's status."""
    assert asked.export_id is not None
    status = lemlist.get_export_status(asked.campaign_id, asked.export_id)
    return _create(store, _record(asked, status, retention_days, now))


def _retry(attempt: int, transient_errors: int, wait: int, exc: Exception) -> StartOutcome:
    return StartOutcome(
        attempt,
        transient_errors=transient_errors,
        retry_in_seconds=wait,
        note=str(exc),
        rate_limited=isinstance(exc, RateLimitedError),
    )
