"""Copy a finished export's CSV from lemlist into S3, byte for byte, and record it.

The object key is laid out for Athena/Glue partitions:
`<prefix>/campaign_id=<id>/date=<YYYY-MM-DD>/<exportId>.csv`, the date being the day the
export started (UTC), so a retried delivery writes the same key.

Like the status check, a failure that a later attempt can fix (a broken download, a 429,
S3 failing mid-upload) is answered with a wait rather than raised: the state machine waits
that long and copies again, up to the policy's number of attempts.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING
from urllib.parse import quote

from lemlist_export.analytics.query_copy import ExportFacts, copy_key, write_query_copy
from lemlist_export.core.clock import parse_iso
from lemlist_export.core.errors import (
    DownloadIncompleteError,
    DownloadTooLargeError,
    InvalidTransitionError,
    LemlistAuthError,
    LemlistProtocolError,
    LemlistRequestError,
    LemlistTransientError,
    QueryCopyError,
    RateLimitedError,
    StorageError,
    StorageTransientError,
)
from lemlist_export.core.humanize import format_bytes, format_duration
from lemlist_export.core.redaction import register_secret
from lemlist_export.lemlist.client import LemlistClient
from lemlist_export.records.record import DELIVERED, DELIVERING, ExportRecord
from lemlist_export.records.store import ExportStore
from lemlist_export.storage.s3_upload import (
    DEFAULT_PART_SIZE,
    MIB,
    ObjectSpec,
    abort_unfinished_uploads,
    stream_to_s3,
)
from lemlist_export.workflow.wait_policy import WaitPolicy

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


_RETRYABLE = (
    DownloadIncompleteError,
    LemlistTransientError,
    QueryCopyError,
    RateLimitedError,
    StorageTransientError,
)


@dataclass(frozen=True)
class CopyRequest:
    export_id: str
    file_size: int | None
    policy: WaitPolicy
    attempts_so_far: int = 0


@dataclass(frozen=True)
class CopyOutcome:
    """One attempt's outcome: the delivered record, or when to copy again and why."""

    attempt: int
    record: ExportRecord | None = None
    retry_in_seconds: int | None = None
    note: str = ""


def _worth_another_attempt(exc: Exception) -> bool:
    """Transient failures, and a download refused with 401/403: the key passed lemlist's
    status checks moments ago, so a refused download link is retried before it fails."""
    if isinstance(exc, _RETRYABLE):
        return True
    return isinstance(exc, LemlistAuthError | LemlistRequestError) and exc.status in (401, 403)


@dataclass(frozen=True)
class Destination:
    bucket: str
    prefix: str = "exports"
    part_size: int = DEFAULT_PART_SIZE
    # The largest CSV accepted (MaxDownloadMiB), announced or not.
    max_bytes: int = 5 * 1024 * MIB
    # Where the query-ready copy goes (AnalyticsPrefix); None: no copy.
    analytics_prefix: str | None = None
    # Seconds this invocation has left (the Lambda's), and how fast it turns CSV into the
    # copy: a copy that cannot finish in time is not begun (see with_query_copy).
    seconds_left: Callable[[], float] | None = None
    query_copy_bytes_per_second: float = 5 * MIB


def object_key(prefix: str, campaign_id: str, started: datetime, export_id: str) -> str:
    path = f"campaign_id={campaign_id}/date={started:%Y-%m-%d}/{export_id}.csv"
    prefix = prefix.strip("/")
    return f"{prefix}/{path}" if prefix else path


def copy_export(
    request: CopyRequest,
    *,
    lemlist: LemlistClient,
    store: ExportStore,
    s3: S3Client,
    destination: Destination,
) -> CopyOutcome:
    """One copy attempt: delivered, or retry after a wait. Raises when the copy cannot
    succeed or the attempts are used up."""
    attempt = request.attempts_so_far + 1
    try:
        record = copy_to_s3(request, lemlist=lemlist, store=store, s3=s3, destination=destination)
    except InvalidTransitionError:
        # Another attempt of this step got there first (a retry after a timeout).
        record = store.get(request.export_id)
        if record.status != DELIVERED:
            raise
    except (*_RETRYABLE, LemlistAuthError, LemlistRequestError) as exc:
        policy = request.policy
        if attempt >= policy.max_delivery_attempts or not _worth_another_attempt(exc):
            raise
        wait = policy.backoff(attempt, base=policy.delivery_retry_seconds)
        if isinstance(exc, RateLimitedError):
            wait = policy.after_rate_limit(exc.retry_after, wait)
        return CopyOutcome(attempt, retry_in_seconds=wait, note=str(exc))
    return CopyOutcome(attempt, record)


def copy_to_s3(
    request: CopyRequest,
    *,
    lemlist: LemlistClient,
    store: ExportStore,
    s3: S3Client,
    destination: Destination,
) -> ExportRecord:
    """Stream the CSV into S3 and mark the record delivered; a no-op if it already is."""
    record = store.get(request.export_id)
    if record.status == DELIVERED:
        # A retry after the CSV was stored: the query copy may still be missing.
        return with_query_copy(record, store=store, s3=s3, destination=destination)
    store.begin_delivery(request.export_id)
    # One moment for the CSV's key, its metadata and its query-ready copy: lemlist's start.
    facts = _facts(record)
    target = ObjectSpec(
        bucket=destination.bucket,
        key=object_key(destination.prefix, record.campaign_id, facts.exported_at, record.export_id),
        content_type="text/csv",
        metadata=_metadata(record, facts, request.file_size),
    )
    if not record.download_url:
        raise LemlistProtocolError(f"No download URL was recorded for export {record.export_id}")
    _check_size(request.file_size, "lemlist announces", destination.max_bytes)
    register_secret(record.download_url)  # a safety net: messages show its host only
    with lemlist.open_download(record.download_url) as download:
        expected = (
            request.file_size if request.file_size is not None else download.verifiable_size()
        )
        _check_size(download.content_length, f"{download.where} announces", destination.max_bytes)
        if expected is None and not download.self_delimiting:
            raise DownloadIncompleteError(
                "Neither lemlist nor its file server gave the file's size, so a cut download "
                "could not be told from a whole one; nothing was stored"
            )
        # An earlier attempt may have died mid-upload (a crash, a Lambda timeout: the state
        # machine's retry gives the same input, so look every time): none is left over.
        abort_unfinished_uploads(s3, target.bucket, target.key)
        stored = stream_to_s3(
            s3,
            download,
            target,
            expected_size=expected,
            part_size=destination.part_size,
            max_size=destination.max_bytes,
            before_commit=lambda: _still_delivering(store, record.export_id),
        )
    delivered = store.mark_delivered(request.export_id, stored)
    return with_query_copy(delivered, store=store, s3=s3, destination=destination)


def with_query_copy(
    record: ExportRecord, *, store: ExportStore, s3: S3Client, destination: Destination
) -> ExportRecord:
    """Write the delivered CSV's query-ready copy (read back from S3, streamed, so memory
    stays flat) and record where it is, or why it could not be written: a CSV that cannot be
    read as CSV is still delivered exactly as lemlist served it. S3 failing on the way is
    transient: the step's retry comes back here. Done once per export."""
    prefix = destination.analytics_prefix
    done = record.query_copy_uri or record.query_copy_error
    if not prefix or done or not record.key:
        return record
    too_long = _no_time_for_the_copy(record.bytes or 0, destination)
    if too_long:
        # Begun, it would be cut by the Lambda's timeout, again at every retry.
        return store.record_query_copy_failure(record.export_id, too_long)
    bucket = record.bucket or destination.bucket
    facts = _facts(record)
    try:
        # An earlier attempt killed mid-copy left its upload: none is left over.
        abort_unfinished_uploads(s3, bucket, copy_key(prefix, facts))
        copy = write_query_copy(
            s3, bucket, record.key, prefix, facts, part_size=destination.part_size
        )
    except StorageTransientError:
        raise  # the step's retry comes back here
    except (QueryCopyError, StorageError) as exc:
        return store.record_query_copy_failure(record.export_id, str(exc))
    return store.record_query_copy(
        record.export_id, f"s3://{bucket}/{copy.key}", copy.rows, copy.bytes
    )


# CSV turned into its copy per second of one vCPU: benchmarks/query_copy.py measures 24 to
# 27 MiB/s here, a margin below it. Lambda gives a function one vCPU at 1,769 MB, and a
# share of one below (about 0.29 at the Copy function's 512 MB).
_COPY_BYTES_PER_VCPU_SECOND = 20 * MIB
_MB_PER_VCPU = 1769


def query_copy_rate(memory_mb: int) -> float:
    """How fast a function of this memory size writes a query-ready copy, bytes of CSV/s."""
    return _COPY_BYTES_PER_VCPU_SECOND * min(1.0, max(1, memory_mb) / _MB_PER_VCPU)


def _no_time_for_the_copy(csv_bytes: int, destination: Destination) -> str:
    """Why the copy of a CSV this large cannot be written in the time left ("" if it can)."""
    if destination.seconds_left is None:
        return ""
    needed = csv_bytes / destination.query_copy_bytes_per_second
    left = destination.seconds_left()
    if needed <= left:
        return ""
    return (
        f"The CSV ({format_bytes(csv_bytes)}) takes about {format_duration(needed)} to turn "
        f"into its query-ready copy, more than the Copy step had left "
        f"({format_duration(left)}); no copy was written. `make backfill` writes it "
        f"(docs/analytics.md), or give CopyExportFunction more memory (and so CPU)"
    )


def _facts(record: ExportRecord) -> ExportFacts:
    """The export as its query-ready copy describes it (exported_at: lemlist's start, the
    moment the CSV's key takes its day from)."""
    return ExportFacts(
        export_id=record.export_id,
        campaign_id=record.campaign_id,
        campaign_name=record.campaign_name,
        exported_at=parse_iso(record.lemlist_started_at or record.created_at),
    )


def _check_size(size: int | None, who: str, limit: int) -> None:
    if size is not None and size > limit:
        raise DownloadTooLargeError(
            f"The file {who} is {format_bytes(size)}, over the stack's limit of "
            f"{format_bytes(limit)} (MaxDownloadMiB); nothing was stored",
            size=size,
            limit=limit,
        )


def _still_delivering(store: ExportStore, export_id: str) -> None:
    """Refuse to publish the object of an export that ended meanwhile (a copy step retried
    after a timeout while this one was still running, and the export failed)."""
    current = store.get(export_id)
    if current.status != DELIVERING:
        raise InvalidTransitionError(
            f"Export {export_id} became {current.status} during the copy; the copy was dropped"
        )


def _metadata(record: ExportRecord, facts: ExportFacts, file_size: int | None) -> dict[str, str]:
    # S3 user metadata is ASCII only: the campaign name travels percent-encoded (UTF-8).
    metadata = {
        "export-id": record.export_id,
        "campaign-id": record.campaign_id,
        "campaign-name": quote(record.campaign_name, safe=" -_.,()&'"),
        # What the query-ready copy says of the export: a backfill rebuilds it from here.
        "exported-at": facts.exported_at_text,
    }
    if file_size is not None:
        metadata["lemlist-file-size"] = str(file_size)
    return metadata
