"""One complete export on a local stack, as a user sees it: start, progress, outcome, file.

Starts through the HTTP API route (the real start handler, an API Gateway v2 event), follows
the record while the state machine runs, then reads the delivered object back from S3 into
the output folder, using the same key layout, and checks its sha256 against the record.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from lemlist_export.records.record import DELIVERED, ExportRecord

from .stack import LocalStack


@dataclass
class ExportSummary:
    exportId: str | None
    campaignId: str
    status: str  # "delivered" | "failed"
    s3Uri: str | None = None
    bytes: int | None = None
    sha256: str | None = None
    localPath: str | None = None
    error: str | None = None
    campaignName: str | None = None
    notifications: dict[str, str] = field(default_factory=dict)
    statusChecks: int | None = None
    durationSeconds: float | None = None

    @property
    def delivered(self) -> bool:
        return self.status == DELIVERED

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False)


def run_export(
    stack: LocalStack,
    campaign_id: str,
    out_dir: Path,
    *,
    on_change: Callable[[ExportRecord | None], None] | None = None,
    timeout: float | None = None,
) -> ExportSummary:
    assert stack.http_api is not None
    response = stack.http_api.request(
        "POST",
        "/exports",
        headers={**stack.api_headers(), "user-agent": "local-stack"},
        body=json.dumps({"campaignId": campaign_id}),
    )
    answer = _json(response.body)
    if response.status != 202:
        message = answer.get("message") or f"The start request answered {response.status}"
        return ExportSummary(answer.get("exportId"), campaign_id, "failed", error=message)
    record = stack.wait_for_end(answer["exportId"], on_change=on_change, timeout=timeout)
    return _summary(stack, record, out_dir)


def _summary(stack: LocalStack, record: ExportRecord, out_dir: Path) -> ExportSummary:
    summary = ExportSummary(
        exportId=record.export_id,
        campaignId=record.campaign_id,
        campaignName=record.campaign_name,
        status=record.status,
        error=record.failure_reason,
        notifications={
            name: f"{n.outcome} ({n.detail})" if n.detail else n.outcome
            for name, n in record.notifications.items()
        },
        statusChecks=record.poll_count,
        durationSeconds=record.duration_seconds(),
    )
    if record.status != DELIVERED:
        return summary
    assert record.bucket and record.key
    # The same partitions as in S3 (campaign_id=/date=), under the output folder.
    prefix = stack.stack.environment.get("EXPORTS_PREFIX", "").strip("/")
    relative = record.key.removeprefix(f"{prefix}/") if prefix else record.key
    local_path = out_dir / relative
    digest, size = _download(stack, record.bucket, record.key, local_path)
    summary.s3Uri, summary.bytes, summary.sha256 = record.s3_uri, record.bytes, record.sha256
    summary.localPath = str(local_path)
    if digest != record.sha256 or size != record.bytes:
        summary.status = "failed"
        summary.error = (
            f"The object read back from S3 ({size} bytes, sha256 {digest}) differs from what "
            f"was recorded ({record.bytes} bytes, sha256 {record.sha256})"
        )
    return summary


def _download(stack: LocalStack, bucket: str, key: str, target: Path) -> tuple[str, int]:
    """Stream the object to `target`; its sha256 and size as read."""
    target.parent.mkdir(parents=True, exist_ok=True)
    body = stack.client("s3").get_object(Bucket=bucket, Key=key)["Body"]
    digest, size = hashlib.sha256(), 0
    with target.open("wb") as out:
        for chunk in body.iter_chunks(1024 * 1024):
            digest.update(chunk)
            size += len(chunk)
            out.write(chunk)
    return digest.hexdigest(), size


def _json(body: bytes) -> dict[str, Any]:
    try:
        parsed = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return {}
    return parsed if isinstance(parsed, dict) else {}
