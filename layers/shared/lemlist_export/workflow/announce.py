"""The end of every export: record how it ended, then announce it.

Called by the state machine on both paths, and by the watchdog for executions that died
before reaching either (timed out, aborted, a failure no Catch could take). The outcome is
written before anything that could fail for an unrelated reason (reading the notification
targets, posting): a broken notifications secret must not leave an export open.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import suppress

from lemlist_export.core.clock import iso, utc_now
from lemlist_export.core.errors import ExportError, InvalidTransitionError
from lemlist_export.notify.notifier import Notifier
from lemlist_export.records.new import refused_record
from lemlist_export.records.record import ExportRecord, NotificationOutcome
from lemlist_export.records.requests import RequestStore
from lemlist_export.records.store import ExportStore
from lemlist_export.workflow.failure_reasons import Failure

# Where the record says that no target could even be read.
TARGETS = "targets"


def announce_export(
    export_id: str,
    *,
    failure: Failure | None,
    store: ExportStore,
    notifier: Callable[[], Notifier],
) -> ExportRecord:
    """Mark a failure (if the export had not ended yet), announce, and record the outcomes."""
    if failure is not None:
        store.mark_failed(export_id, failure.error_type, failure.reason)
    record = store.get(export_id)
    if not record.is_final:
        # Only reachable if a caller says "delivered" for an export that was not: say so.
        store.mark_failed(
            export_id, "IncompleteExport", "The export ended without its file being delivered."
        )
        record = store.get(export_id)
    try:
        outcomes = notifier().announce(record)
    except ExportError as exc:
        outcomes = [
            NotificationOutcome(
                TARGETS, "failed", f"no announcement: {exc}", record.status, iso(utc_now())
            )
        ]
    store.record_notifications(export_id, outcomes)
    return store.get(export_id)


def announce_refused_start(
    request_id: str,
    campaign_id: str,
    *,
    source: str,
    failure: Failure,
    store: ExportStore,
    requests: RequestStore,
    notifier: Callable[[], Notifier],
    retention_days: int,
) -> ExportRecord:
    """The end of a Slack or scheduled request whose export lemlist never started: kept on
    file under the request id, and announced like any failed export."""
    asked = requests.find(request_id)
    if asked is not None and asked.export_id:
        # lemlist did start it before the failure: that export is the one to finish.
        return announce_export(asked.export_id, failure=failure, store=store, notifier=notifier)
    if store.find(request_id) is None:
        record = refused_record(
            request_id,
            campaign_id,
            source=source,
            failure_type=failure.error_type,
            reason=failure.reason,
            now=utc_now(),
            retention_days=retention_days,
            slack_response_url=asked.slack_response_url if asked else None,
            requested_by=asked.requested_by if asked else None,
            requested_at=asked.requested_at if asked else None,
            retry_of=asked.retry_of if asked else None,
        )
        with suppress(InvalidTransitionError):  # a duplicate finish got there first
            store.create(record)
    return announce_export(request_id, failure=None, store=store, notifier=notifier)
