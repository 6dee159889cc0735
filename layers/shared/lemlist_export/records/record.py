"""One export's record: what was asked, where it stands, and how it ended.

Statuses only move forward: pending -> delivering -> delivered, or pending/delivering ->
failed. `records.store` enforces that with conditional writes. The one way back is a
re-drive that copies a failed export's file again (failed -> pending, `claim_retry`), counted
and kept in the record's retry history.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

from lemlist_export.core.clock import parse_iso
from lemlist_export.core.naming import camel_case

PENDING = "pending"
DELIVERING = "delivering"
DELIVERED = "delivered"
FAILED = "failed"
FINAL_STATUSES = frozenset({DELIVERED, FAILED})

# How a re-drive goes on: copy the file lemlist still holds again, or export the campaign anew.
COPY_AGAIN = "copyAgain"
NEW_EXPORT = "newExport"


@dataclass(frozen=True)
class Progress:
    """lemlist's progress hints; `progress`/`total` are 0 when done, so never a percentage."""

    progress: int | None = None
    total: int | None = None
    step: str | None = None

    def describe(self) -> str:
        if self.total and self.progress is not None and self.total > 0:
            return f"{self.progress}/{self.total}" + (f" ({self.step})" if self.step else "")
        return self.step or "waiting"


@dataclass(frozen=True)
class NotificationOutcome:
    """What happened when we told one target (slack, webhook, callback) about the export."""

    target: str
    outcome: str  # "sent" | "failed" | "skipped"
    detail: str = ""
    for_status: str = ""
    at: str = ""

    @property
    def sent(self) -> bool:
        return self.outcome == "sent"

    def to_dict(self) -> dict[str, str]:
        """As stored under the record's `notifications.<target>` (camelCase, no empties)."""
        return {
            camel_case(f.name): getattr(self, f.name)
            for f in fields(self)
            if f.name != "target" and getattr(self, f.name) != ""
        }

    @classmethod
    def from_dict(cls, target: str, data: dict[str, Any]) -> NotificationOutcome:
        known = {camel_case(f.name): f.name for f in fields(cls) if f.name != "target"}
        return cls(target=target, **{known[k]: v for k, v in data.items() if k in known})


@dataclass(frozen=True)
class ExportRecord:
    export_id: str
    campaign_id: str
    status: str
    created_at: str
    updated_at: str
    expires_at: int  # TTL, epoch seconds
    campaign_name: str = ""
    source: str = "api"
    lemlist_started_at: str | None = None
    progress: Progress = field(default_factory=Progress)
    poll_count: int = 0
    last_polled_at: str | None = None
    file_size: int | None = None
    # lemlist's download URL: read by the copy step, never shown (it may carry a signature).
    download_url: str | None = None
    s3_uri: str | None = None
    bucket: str | None = None
    key: str | None = None
    bytes: int | None = None
    sha256: str | None = None
    # The query-ready copy beside the CSV (JSON Lines, gzip; docs/analytics.md), or why not.
    query_copy_uri: str | None = None
    query_copy_rows: int | None = None
    query_copy_bytes: int | None = None
    query_copy_error: str | None = None
    delivered_at: str | None = None
    failed_at: str | None = None
    failure_type: str | None = None
    failure_reason: str | None = None
    lemlist_status: dict[str, Any] | None = None
    notifications: dict[str, NotificationOutcome] = field(default_factory=dict)
    # Where this export's outcome also goes; credentials both, so never shown.
    callback_url: str | None = None
    slack_response_url: str | None = None
    # The Slack user or schedule that asked, for people reading the record.
    requested_by: str | None = None
    # The state machine execution that runs it (the export id for HTTP API starts).
    execution_name: str | None = None
    # When a Slack command or schedule asked (its Slack response_url lives 30 min from then).
    requested_at: str | None = None
    # Re-drives (POST /exports/{exportId}/retry, Slack `retry`): how many were asked, how the
    # last one goes on (COPY_AGAIN or NEW_EXPORT), one entry per retry (who asked, when, and
    # the failure it retried), and the export a NEW_EXPORT retry started.
    retry_count: int = 0
    retry_action: str | None = None
    retry_history: list[dict[str, Any]] = field(default_factory=list)
    retried_as: str | None = None
    # On an export a retry started: the failed export it re-drives.
    retry_of: str | None = None

    @property
    def is_final(self) -> bool:
        return self.status in FINAL_STATUSES

    @property
    def finished_at(self) -> str | None:
        return self.delivered_at or self.failed_at

    def duration_seconds(self) -> float | None:
        """From our start request to delivery or failure."""
        end = self.finished_at
        if not end:
            return None
        return (parse_iso(end) - parse_iso(self.created_at)).total_seconds()

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready mapping, camelCase, without empty fields."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value is None or value == {} or value == "" or value == []:
                continue
            if f.name == "retry_count" and not value:
                continue  # never retried: no such attribute (claim_retry's condition)
            if f.name == "progress":
                value = {k: v for k, v in asdict(value).items() if v is not None}
            elif f.name == "notifications":
                value = {name: outcome.to_dict() for name, outcome in value.items()}
            out[camel_case(f.name)] = value
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ExportRecord:
        known = {camel_case(f.name): f.name for f in fields(cls)}
        kwargs: dict[str, Any] = {}
        for key, value in data.items():
            name = known.get(key)
            if name is None:
                continue
            if name == "progress":
                value = Progress(**{k: v for k, v in value.items() if k in _PROGRESS_FIELDS})
            elif name == "notifications":
                value = {
                    target: NotificationOutcome.from_dict(target, outcome)
                    for target, outcome in value.items()
                }
            kwargs[name] = value
        return cls(**kwargs)


_PROGRESS_FIELDS = frozenset(f.name for f in fields(Progress))
