"""Stream a byte source into one S3 object, verified before it becomes visible.

Memory stays at about one part, whatever the file size. The object appears only after the
whole stream was read and its size matched what lemlist announced: a single PutObject for a
file that fits in one part, else a multipart upload completed only after verification and
aborted on any failure (the bucket's lifecycle rule sweeps uploads a crash left behind).
"""

from __future__ import annotations

import hashlib
import logging
import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, cast

from botocore.exceptions import BotoCoreError, ClientError

from lemlist_export.core.aws_errors import error_code, is_transient
from lemlist_export.core.errors import (
    DownloadIncompleteError,
    DownloadTooLargeError,
    StorageError,
    StorageTransientError,
)

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import CompletedPartTypeDef


MIB = 1024 * 1024
MIN_PART_SIZE = 5 * MIB  # S3's floor for every part but the last
MAX_PARTS = 10_000
DEFAULT_PART_SIZE = 8 * MIB

log = logging.getLogger(__name__)


class ByteSource(Protocol):
    def read(self, size: int = -1) -> bytes: ...


@dataclass(frozen=True)
class StoredObject:
    bucket: str
    key: str
    bytes: int
    sha256: str
    parts: int

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


@dataclass(frozen=True)
class ObjectSpec:
    bucket: str
    key: str
    content_type: str = "text/csv"
    metadata: dict[str, str] | None = None


def part_size_for(expected_size: int | None, preferred: int = DEFAULT_PART_SIZE) -> int:
    """The part size: `preferred`, raised when a known size would need over 10,000 parts."""
    size = max(preferred, MIN_PART_SIZE)
    if expected_size is not None and expected_size > size * MAX_PARTS:
        size = math.ceil(expected_size / (MAX_PARTS - 1) / MIB) * MIB
    return size


def stream_to_s3(
    s3: S3Client,
    source: ByteSource,
    target: ObjectSpec,
    *,
    expected_size: int | None,
    part_size: int = DEFAULT_PART_SIZE,
    max_size: int | None = None,
    before_commit: Callable[[], None] | None = None,
) -> StoredObject:
    """Copy `source` to `target`, hashing and counting on the way; see the module doc.

    `max_size` bounds a stream whose size nobody announced (it is read until it ends).
    `before_commit` runs after the whole stream was read and checked, just before the object
    becomes visible; raising there abandons the copy (used to re-check the export's record).
    """
    commit = before_commit or (lambda: None)
    part_size = part_size_for(expected_size if expected_size is not None else max_size, part_size)
    digest = hashlib.sha256()
    first = _read_part(source, part_size)
    total = len(first)
    digest.update(first)
    _check_not_over(total, expected_size, max_size)

    if len(first) < part_size:
        _check_complete(total, expected_size)
        commit()
        with _s3_errors("PutObject"):
            s3.put_object(Body=_as_body(first), **_object_args(target))
        return StoredObject(target.bucket, target.key, total, digest.hexdigest(), parts=1)

    # The checksum algorithm is declared up front: botocore checksums every part anyway,
    # and S3 refuses parts whose checksum type the upload did not announce.
    with _s3_errors("CreateMultipartUpload"):
        upload_id = s3.create_multipart_upload(ChecksumAlgorithm="CRC32", **_object_args(target))[
            "UploadId"
        ]
    upload = _Upload(target.bucket, target.key, upload_id)
    try:
        parts: list[CompletedPartTypeDef] = []
        chunk = first
        del first
        while chunk:
            number = len(parts) + 1
            with _s3_errors("UploadPart"):
                answer = s3.upload_part(
                    Body=_as_body(chunk),
                    PartNumber=number,
                    ChecksumAlgorithm="CRC32",
                    Bucket=upload.bucket,
                    Key=upload.key,
                    UploadId=upload.upload_id,
                )
            part: CompletedPartTypeDef = {"PartNumber": number, "ETag": answer["ETag"]}
            if answer.get("ChecksumCRC32"):
                part["ChecksumCRC32"] = answer["ChecksumCRC32"]
            parts.append(part)
            if len(chunk) < part_size:
                break
            del chunk  # let the previous part go before the next one is read
            chunk = _read_part(source, part_size)
            total += len(chunk)
            digest.update(chunk)
            _check_not_over(total, expected_size, max_size)
        _check_complete(total, expected_size)
        commit()
        with _s3_errors("CompleteMultipartUpload"):
            s3.complete_multipart_upload(
                MultipartUpload={"Parts": parts},
                Bucket=upload.bucket,
                Key=upload.key,
                UploadId=upload.upload_id,
            )
    except BaseException:
        _abort(s3, upload)
        raise
    return StoredObject(target.bucket, target.key, total, digest.hexdigest(), parts=len(parts))


def _object_args(target: ObjectSpec) -> dict[str, Any]:
    args: dict[str, Any] = {
        "Bucket": target.bucket,
        "Key": target.key,
        "ContentType": target.content_type,
    }
    if target.metadata:
        args["Metadata"] = target.metadata
    return args


def _read_part(source: ByteSource, size: int) -> bytearray:
    """Up to `size` bytes; fewer only at the end of the stream. Not copied again: botocore
    sends a bytearray as is."""
    buffer = bytearray()
    while len(buffer) < size:
        chunk = source.read(min(size - len(buffer), 1 * MIB))
        if not chunk:
            break
        buffer += chunk
    return buffer


def _check_not_over(total: int, expected: int | None, limit: int | None) -> None:
    if limit is not None and total > limit:
        raise DownloadTooLargeError(
            f"The download passed the stack's limit of {limit} bytes (MaxDownloadMiB); "
            "nothing was stored",
            size=total,
            limit=limit,
        )
    if expected is not None and total > expected:
        raise DownloadIncompleteError(
            f"The download is larger than the {expected} bytes lemlist announced; "
            "nothing was stored",
            received=total,
            expected=expected,
        )


def _check_complete(total: int, expected: int | None) -> None:
    if expected is not None and total != expected:
        raise DownloadIncompleteError(
            f"The download stopped after {total} of {expected} bytes; nothing was stored",
            received=total,
            expected=expected,
        )


@contextmanager
def _s3_errors(operation: str) -> Iterator[None]:
    """Turn botocore's errors into StorageError / StorageTransientError with a plain message."""
    try:
        yield
    except ClientError as exc:
        code = error_code(exc)
        failed = StorageTransientError if is_transient(exc) else StorageError
        raise failed(f"S3 {operation} failed: {code}", operation=operation, code=code) from None
    except BotoCoreError as exc:
        code = type(exc).__name__
        message = f"S3 {operation} failed: {code}"
        raise StorageTransientError(message, operation=operation, code=code) from None


@dataclass(frozen=True)
class _Upload:
    bucket: str
    key: str
    upload_id: str


def _as_body(chunk: bytearray) -> bytes:
    """botocore sends a bytearray as it is (no copy of a part); its stubs list only bytes."""
    return cast(bytes, chunk)


def _abort(s3: S3Client, upload: _Upload) -> None:
    try:
        s3.abort_multipart_upload(Bucket=upload.bucket, Key=upload.key, UploadId=upload.upload_id)
    except Exception:
        # The bucket lifecycle rule removes it within a day; the original error matters more.
        log.warning("Could not abort multipart upload of %s", upload.key, exc_info=True)


def abort_unfinished_uploads(s3: S3Client, bucket: str, key: str) -> int:
    """Abort the multipart uploads of `key` that an earlier attempt left unfinished (its
    Lambda crashed or timed out mid-upload); how many were aborted."""
    aborted = 0
    with _s3_errors("ListMultipartUploads"):
        answer = s3.list_multipart_uploads(Bucket=bucket, Prefix=key)
    for upload in answer.get("Uploads", []):
        if upload.get("Key") != key or "UploadId" not in upload:
            continue
        with _s3_errors("AbortMultipartUpload"):
            s3.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload["UploadId"])
        aborted += 1
    return aborted
