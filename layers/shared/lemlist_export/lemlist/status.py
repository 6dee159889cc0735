"""lemlist's export status, read from either of its documented answers.

The start endpoint answers a bare status object; the status endpoint wraps it in
`{"ok": true, "status": {...}}`. A pending status has `id` but no `_id`; a done one adds
`endedAt`, `fileSize` and `url`, and reports `progress`/`total` as 0, so those two are
progress hints, never a percentage to trust.

Ids lemlist returns become DynamoDB keys, execution names and S3 key segments: they are
checked here, before anything uses them. The download URL is kept out of `raw` (it is a
credential-like link; only the copy step reads it, from `url`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lemlist_export.core.errors import LemlistProtocolError
from lemlist_export.core.identifiers import is_lemlist_id

# Longer names are cut: they travel in records, S3 metadata and Slack messages.
MAX_NAME_LENGTH = 256
# Fields of lemlist's status that never leave the copy step.
PRIVATE_FIELDS = frozenset({"url"})

PENDING = "pending"
DONE = "done"
ERROR = "error"


@dataclass(frozen=True)
class ExportStatus:
    export_id: str
    campaign_id: str
    campaign_name: str
    status: str
    started_at: str | None
    ended_at: str | None
    progress: int | None
    total: int | None
    progress_type: str | None
    file_size: int | None
    url: str | None
    raw: dict[str, Any]

    @property
    def is_pending(self) -> bool:
        return self.status == PENDING

    @classmethod
    def from_answer(cls, body: Any, *, campaign_id: str) -> ExportStatus:
        """Parse a start or status answer; raise LemlistProtocolError if it is not one."""
        if isinstance(body, dict) and isinstance(body.get("status"), dict):
            body = body["status"]
        if not isinstance(body, dict):
            raise LemlistProtocolError("lemlist answered an export status that is not an object")
        export_id = body.get("id") or body.get("_id")
        status = body.get("status")
        if not isinstance(export_id, str) or not export_id:
            raise LemlistProtocolError("lemlist answered an export status without an id")
        if not is_lemlist_id(export_id):
            raise LemlistProtocolError(
                "lemlist answered an export id that is not letters, digits and underscores"
            )
        if not isinstance(status, str) or not is_lemlist_id(status):
            raise LemlistProtocolError(f"lemlist answered export {export_id} without a status")
        answered_campaign = body.get("campaignId")
        if answered_campaign is not None and answered_campaign != campaign_id:
            raise LemlistProtocolError(
                f"lemlist answered about another campaign than {campaign_id} for export {export_id}"
            )
        return cls(
            export_id=export_id,
            campaign_id=campaign_id,
            campaign_name=(_text(body.get("campaignName")) or "")[:MAX_NAME_LENGTH],
            status=status,
            started_at=_text(body.get("startedAt")),
            ended_at=_text(body.get("endedAt")),
            progress=_integer(body.get("progress")),
            total=_integer(body.get("total")),
            progress_type=_text(body.get("progressType")),
            file_size=_integer(body.get("fileSize")),
            url=_text(body.get("url")),
            raw={k: v for k, v in body.items() if k not in PRIVATE_FIELDS},
        )


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _integer(value: Any) -> int | None:
    # bool is an int in Python; a boolean here is not a count.
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and _is_count(value):
        return int(value)
    return None


def _is_count(text: str) -> bool:
    """ASCII digits, short enough to be a size (`"²".isdigit()` is true, `int("²")` fails)."""
    return text.isascii() and text.isdigit() and len(text) <= 18
