"""What the HTTP API shows of an export record: facts, never credentials.

lemlist's download URL, callback URLs and Slack response URLs stay inside; a delivered export
gets a short-lived presigned S3 URL instead.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lemlist_export.lemlist.status import PRIVATE_FIELDS
from lemlist_export.records.record import DELIVERED, ExportRecord

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


_HIDDEN = frozenset({"downloadUrl", "callbackUrl", "slackResponseUrl", "expiresAt"})
_RENAMED = {"failureReason": "error", "failureType": "errorType", "pollCount": "statusChecks"}


def public_view(record: ExportRecord) -> dict[str, Any]:
    view: dict[str, Any] = {}
    for key, value in record.to_dict().items():
        if key in _HIDDEN:
            continue
        if key == "lemlistStatus" and isinstance(value, dict):
            # Records written before lemlist's URL was kept out of this copy still hold it.
            value = {k: v for k, v in value.items() if k not in PRIVATE_FIELDS}
        view[_RENAMED.get(key, key)] = value
    return view


def presigned_download(
    s3: S3Client, record: ExportRecord, expires_in: int
) -> dict[str, Any] | None:
    """A GET URL for the delivered CSV, valid `expires_in` seconds (None if not delivered)."""
    if record.status != DELIVERED or not record.bucket or not record.key:
        return None
    filename = f"{record.export_id}.csv"
    url = s3.generate_presigned_url(
        "get_object",
        Params={
            "Bucket": record.bucket,
            "Key": record.key,
            "ResponseContentDisposition": f'attachment; filename="{filename}"',
        },
        ExpiresIn=expires_in,
    )
    return {"downloadUrl": url, "downloadUrlExpiresIn": expires_in}
