"""Stream a byte source into one S3 object, verified before it becomes visible.

Memory stays at a few parts (PARTS_IN_FLIGHT), whatever the file size: parts are sent on a
few threads while the next one is read, as boto3's upload_file does. The object appears only
after the whole stream was read and its size matched what lemlist announced: a single
PutObject for a file that fits in one part, else a multipart upload completed only after
verification and aborted on any failure (the bucket's lifecycle rule sweeps uploads a crash
left behind).
"""

from __future__ import annotations

import hashlib
import logging
import math
from collections.abc import Callable, Iterator
from concurrent.futures import ALL_COMPLETED, FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, cast, runtime_checkable

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
# Part buffers at most, sent on as many threads while the next part is read (4 x 8 MiB: a
# peak RSS of about 85 MiB whatever the file size; benchmarks/delivery_size.py).
PARTS_IN_FLIGHT = 4

log = logging.getLogger(__name__)


class ByteSource(Protocol):
    def read(self, size: int = -1) -> bytes: ...


@runtime_checkable
class _FillingSource(Protocol):
    """A source that fills the caller's buffer itself, as much as it can: the download does,
    straight from its socket (no object made per read, no copy of it into the part)."""

    def readinto(self, buffer: memoryview) -> int: ...


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
    parts_in_flight: int = PARTS_IN_FLIGHT,
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
        with s3_errors("PutObject"):
            s3.put_object(Body=_as_body(first), **_object_args(target))
        return StoredObject(target.bucket, target.key, total, digest.hexdigest(), parts=1)

    # The checksum algorithm is declared up front: botocore checksums every part anyway,
    # and S3 refuses parts whose checksum type the upload did not announce.
    with s3_errors("CreateMultipartUpload"):
        upload_id = s3.create_multipart_upload(ChecksumAlgorithm="CRC32", **_object_args(target))[
            "UploadId"
        ]
    upload = _Upload(target.bucket, target.key, upload_id)
    sender = _PartSender(s3, upload, parts_in_flight)
    try:
        chunk = first
        del first
        number = 1
        while True:
            sender.send(number, chunk)
            if len(chunk) < part_size:
                break
            # Waits while the pipe is full, and raises a part's failure before more is read.
            chunk = _read_part(source, part_size, sender.room())
            if not chunk:
                break
            number += 1
            total += len(chunk)
            digest.update(chunk)
            _check_not_over(total, expected_size, max_size)
        parts = sender.finish()
        _check_complete(total, expected_size)
        commit()
        with s3_errors("CompleteMultipartUpload"):
            s3.complete_multipart_upload(
                MultipartUpload={"Parts": parts},
                Bucket=upload.bucket,
                Key=upload.key,
                UploadId=upload.upload_id,
            )
    except BaseException:
        # Parts still being sent end first (sent or failed), so none lands after the abort.
        sender.stop()
        _abort(s3, upload)
        raise
    finally:
        sender.stop()
    return StoredObject(target.bucket, target.key, total, digest.hexdigest(), parts=len(parts))


class _PartSender:
    """The parts of one upload, sent on `in_flight` threads while the caller reads the next.

    S3 (like boto3's own upload_file) gets its throughput from parts in flight: one at a time
    leaves the connection idle while each part is read and S3 answers. At most `in_flight`
    part buffers exist (while one is read, the others are being sent), each reused once its
    part is sent: memory is the same on every part, whatever the file size.
    """

    def __init__(self, s3: S3Client, upload: _Upload, in_flight: int) -> None:
        self._s3 = s3
        self._upload = upload
        self._in_flight = max(1, in_flight)
        self._pool = ThreadPoolExecutor(max_workers=self._in_flight, thread_name_prefix="s3-part")
        self._sending: dict[Future[CompletedPartTypeDef], bytearray] = {}
        self._spare: list[bytearray] = []
        self._sent: list[CompletedPartTypeDef] = []

    def send(self, number: int, chunk: bytearray) -> None:
        future = self._pool.submit(_upload_part, self._s3, self._upload, number, chunk)
        self._sending[future] = chunk

    def room(self) -> bytearray | None:
        """Once fewer than `in_flight` parts are being sent: a sent part's buffer to reuse,
        if one is free. Raises the failure of any part that failed."""
        self._collect(None if len(self._sending) >= self._in_flight else 0, FIRST_COMPLETED)
        return self._spare.pop() if self._spare else None

    def finish(self) -> list[CompletedPartTypeDef]:
        """Every part sent (else the first failure raised), in part number order."""
        self._collect(None, ALL_COMPLETED)
        self._spare.clear()
        return sorted(self._sent, key=lambda part: part["PartNumber"])

    def stop(self) -> None:
        """Wait for the parts being sent (none starts anew) and end the threads."""
        self._pool.shutdown(wait=True, cancel_futures=True)

    def _collect(self, timeout: float | None, return_when: str) -> None:
        done, _ = wait(self._sending, timeout=timeout, return_when=return_when)
        for future in done:
            self._spare.append(self._sending.pop(future))
            self._sent.append(future.result())


def _upload_part(
    s3: S3Client, upload: _Upload, number: int, chunk: bytearray
) -> CompletedPartTypeDef:
    with s3_errors("UploadPart"):
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
    return part


def _object_args(target: ObjectSpec) -> dict[str, Any]:
    args: dict[str, Any] = {
        "Bucket": target.bucket,
        "Key": target.key,
        "ContentType": target.content_type,
    }
    if target.metadata:
        args["Metadata"] = target.metadata
    return args


def _read_part(source: ByteSource, size: int, buffer: bytearray | None = None) -> bytearray:
    """Up to `size` bytes, into `buffer` (a sent part's, reused) or a new one; fewer only at
    the end of the stream. Filled by the source itself when it can (`readinto`), else 1 MiB
    read at a time. Not copied again: botocore sends a bytearray as is. A buffer of the full
    size from the start: grown piece by piece, its reallocations would fragment the heap and
    RSS would climb part after part."""
    if buffer is None or len(buffer) != size:
        buffer = bytearray(size)
    filled = 0
    with memoryview(buffer) as view:
        if isinstance(source, _FillingSource):
            while filled < size and (got := source.readinto(view[filled:])):
                filled += got
        else:
            while filled < size and (chunk := source.read(min(size - filled, 1 * MIB))):
                view[filled : filled + len(chunk)] = chunk
                filled += len(chunk)
    if filled < size:
        del buffer[filled:]
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
def s3_errors(operation: str) -> Iterator[None]:
    """Turn botocore's errors into StorageError / StorageTransientError with a plain message
    (every S3 call of the layer goes through it)."""
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
    with s3_errors("ListMultipartUploads"):
        answer = s3.list_multipart_uploads(Bucket=bucket, Prefix=key)
    for upload in answer.get("Uploads", []):
        if upload.get("Key") != key or "UploadId" not in upload:
            continue
        with s3_errors("AbortMultipartUpload"):
            s3.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload["UploadId"])
        aborted += 1
    return aborted
