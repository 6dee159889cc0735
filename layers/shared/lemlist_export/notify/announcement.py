"""What we say when an export ends: one summary, rendered for Slack and for webhooks.

Slack gets Block Kit (with a plain-text fallback); webhooks (Zapier catch hooks and the
like) get a flat JSON object whose fields map one-to-one in a Zap. Both are built from the
export record, the single source of truth.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lemlist_export.core.humanize import format_bytes, format_duration
from lemlist_export.notify.slack_text import escape, fit
from lemlist_export.records.record import DELIVERED, ExportRecord


@dataclass(frozen=True)
class Announcement:
    """The facts of an ended export that every target reports."""

    event: str  # "export.delivered" | "export.failed"
    record: ExportRecord
    console_url: str | None = None

    @classmethod
    def of(cls, record: ExportRecord, region: str | None = None) -> Announcement:
        event = "export.delivered" if record.status == DELIVERED else "export.failed"
        console = None
        if record.status == DELIVERED and record.bucket and record.key and region:
            console = (
                f"https://s3.console.aws.amazon.com/s3/object/{record.bucket}"
                f"?region={region}&prefix={record.key}"
            )
        return cls(event, record, console)

    @property
    def delivered(self) -> bool:
        return self.event == "export.delivered"

    @property
    def campaign(self) -> str:
        r = self.record
        return f"{r.campaign_name} ({r.campaign_id})" if r.campaign_name else r.campaign_id

    def headline(self) -> str:
        """One sentence, as plain text (webhooks); `slack_payload` escapes it for Slack."""
        r = self.record
        if self.delivered:
            return (
                f"lemlist export of {self.campaign} delivered: {format_bytes(r.bytes)} "
                f"in {format_duration(r.duration_seconds())} to {r.s3_uri}"
            )
        return f"lemlist export of {self.campaign} failed: {r.failure_reason or 'no reason given'}"

    # -- Slack -------------------------------------------------------------------------

    def slack_payload(self) -> dict[str, Any]:
        """Block Kit; every text that came from outside is escaped (no mention or link in a
        campaign name or a failure reason is acted on)."""
        r = self.record
        campaign = escape(self.campaign)
        if self.delivered:
            title = ":white_check_mark: lemlist export delivered"
            facts = [
                ("Campaign", campaign),
                ("Size", format_bytes(r.bytes)),
                ("Duration", format_duration(r.duration_seconds())),
                ("Export", f"`{escape(r.export_id)}`"),
            ]
            detail = f"*S3 location*\n`{escape(r.s3_uri or '')}`"
            if self.console_url:
                detail += f"\n<{escape(self.console_url)}|Open in the S3 console>"
            if r.query_copy_uri:
                detail += (
                    f"\n*Query copy* ({r.query_copy_rows} rows, SQL: docs/analytics.md)\n"
                    f"`{escape(r.query_copy_uri)}`"
                )
            elif r.query_copy_error:
                detail += f"\n*Query copy not written*\n{escape(r.query_copy_error)}"
        else:
            title = ":x: lemlist export failed"
            facts = [
                ("Campaign", campaign),
                ("Export", f"`{escape(r.export_id)}`"),
                ("After", format_duration(r.duration_seconds())),
                ("Reached", escape(_reached(r))),
            ]
            detail = f"*Reason*\n{escape(r.failure_reason or 'No reason was recorded.')}"
        blocks: list[dict[str, Any]] = [
            {"type": "header", "text": {"type": "plain_text", "text": title[:150], "emoji": True}},
            {
                "type": "section",
                "fields": [
                    {"type": "mrkdwn", "text": f"*{name}*\n{value}"} for name, value in facts
                ],
            },
            {"type": "section", "text": {"type": "mrkdwn", "text": detail}},
        ]
        if self.delivered and r.sha256:
            blocks.append(
                {
                    "type": "context",
                    "elements": [{"type": "mrkdwn", "text": f"sha256 `{r.sha256}`"}],
                }
            )
        return fit({"text": escape(self.headline()), "blocks": blocks})

    # -- generic webhook ---------------------------------------------------------------

    def webhook_payload(self, sent_at: str) -> dict[str, Any]:
        r = self.record
        return {
            "event": self.event,
            # Receivers dedupe on this: one export ends once (once per retry, when retried).
            "eventId": _event_id(r),
            "sentAt": sent_at,
            "exportId": r.export_id,
            "campaignId": r.campaign_id,
            "campaignName": r.campaign_name,
            "status": r.status,
            "s3Uri": r.s3_uri,
            "bucket": r.bucket,
            "key": r.key,
            "bytes": r.bytes,
            "sha256": r.sha256,
            # The query-ready copy (JSON Lines, gzip) beside the CSV: where, how many rows,
            # or why it could not be written.
            "queryCopyUri": r.query_copy_uri,
            "queryCopyRows": r.query_copy_rows,
            "queryCopyError": r.query_copy_error,
            "startedAt": r.created_at,
            "finishedAt": r.finished_at,
            "durationSeconds": r.duration_seconds(),
            "error": r.failure_reason,
            "errorType": r.failure_type,
            "message": self.headline(),
            # A re-drive: the failed export this one retries (a new export started for it),
            # and how many times this export itself was retried.
            "retryOf": r.retry_of,
            "retryCount": r.retry_count,
        }


def _event_id(record: ExportRecord) -> str:
    event = f"{record.export_id}:{record.status}"
    return f"{event}:retry-{record.retry_count}" if record.retry_count else event


def _reached(record: ExportRecord) -> str:
    if record.poll_count:
        return f"{record.poll_count} status checks, last: {record.progress.describe()}"
    return "no status check"
