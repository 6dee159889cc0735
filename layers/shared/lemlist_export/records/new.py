"""The first record of an export: one lemlist started, or one it refused to start."""

from __future__ import annotations

from datetime import datetime, timedelta

from lemlist_export.core.clock import iso
from lemlist_export.lemlist.status import ExportStatus
from lemlist_export.records.record import FAILED, PENDING, ExportRecord, Progress


def new_record(
    status: ExportStatus,
    *,
    source: str,
    now: datetime,
    retention_days: int,
    callback_url: str | None = None,
    slack_response_url: str | None = None,
    requested_by: str | None = None,
    execution_name: str | None = None,
    requested_at: str | None = None,
    retry_of: str | None = None,
) -> ExportRecord:
    """The first record of an export lemlist just started (`retry_of`: the failed export it
    re-drives, if a retry started it)."""
    stamp = iso(now)
    return ExportRecord(
        export_id=status.export_id,
        campaign_id=status.campaign_id,
        campaign_name=status.campaign_name,
        status=PENDING,
        source=source,
        created_at=stamp,
        updated_at=stamp,
        lemlist_started_at=status.started_at,
        progress=Progress(status.progress, status.total, status.progress_type),
        expires_at=int((now + timedelta(days=retention_days)).timestamp()),
        notifications={},
        callback_url=callback_url,
        slack_response_url=slack_response_url,
        requested_by=requested_by,
        execution_name=execution_name or status.export_id,
        requested_at=requested_at,
        retry_of=retry_of,
    )


def refused_record(
    request_id: str,
    campaign_id: str,
    *,
    source: str,
    failure_type: str,
    reason: str,
    now: datetime,
    retention_days: int,
    slack_response_url: str | None = None,
    requested_by: str | None = None,
    requested_at: str | None = None,
    retry_of: str | None = None,
) -> ExportRecord:
    """The record of an export lemlist never started (a Slack or scheduled request it
    refused), keyed by the request id so that the refusal is on file like any export."""
    stamp = iso(now)
    return ExportRecord(
        export_id=request_id,
        campaign_id=campaign_id,
        status=FAILED,
        source=source,
        created_at=stamp,
        updated_at=stamp,
        failed_at=stamp,
        failure_type=failure_type,
        failure_reason=reason,
        expires_at=int((now + timedelta(days=retention_days)).timestamp()),
        notifications={},
        slack_response_url=slack_response_url,
        requested_by=requested_by,
        execution_name=request_id,
        requested_at=requested_at,
        retry_of=retry_of,
    )
