"""Delivery at size, in shape: memory stays flat whatever the file size, and parts go up
several at a time without giving up any guarantee. No timing is asserted (benchmarks/
delivery_size.py measures throughput and peak RSS at 256 MiB and 2 GiB)."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from lemlist_export.core.errors import StorageError
from lemlist_export.storage.s3_upload import (
    MIB,
    MIN_PART_SIZE,
    PARTS_IN_FLIGHT,
    ObjectSpec,
    stream_to_s3,
)
from tests.conftest import SCRATCH_BUCKET, scratch_keys, scratch_uploads

ROOT = Path(__file__).resolve().parents[2]

# A fresh process per copy: its peak RSS (VmHWM) is that copy's alone.
_CHILD = r"""
import json, sys
sys.path.insert(0, sys.argv[1])
import boto3
from lemlist_export.storage.s3_upload import MIB, ObjectSpec, stream_to_s3

endpoint, bucket, key = sys.argv[2:5]
size, part_size = int(sys.argv[5]), int(sys.argv[6])

class Source:
    # `size` bytes made on the fly, 1 MiB at most per read: never the whole file at once.
    def __init__(self, size):
        self.left = size
    def read(self, n=-1):
        n = min(self.left, 1 * MIB if n < 0 else n)
        self.left -= n
        return b"x" * n

def status(field):
    for line in open("/proc/self/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024

s3 = boto3.client("s3", endpoint_url=endpoint)
s3.put_object(Bucket=bucket, Key="warm-up", Body=b"x")  # botocore loads its models now
before = status("VmRSS")
stored = stream_to_s3(s3, Source(size), ObjectSpec(bucket, key), expected_size=size,
                      part_size=part_size)
print(json.dumps({"bytes": stored.bytes, "parts": stored.parts,
                  "growth": status("VmHWM") - before}))
"""


def deliver_in_child(s3: Any, key: str, size: int, part_size: int) -> dict[str, Any]:
    answer = subprocess.run(  # noqa: S603
        [
            sys.executable,
            "-c",
            _CHILD,
            str(ROOT / "layers" / "shared"),
            s3.meta.endpoint_url,
            SCRATCH_BUCKET,
            key,
            str(size),
            str(part_size),
        ],
        check=True,
        stdout=subprocess.PIPE,
        text=True,
        timeout=120,
        env=dict(os.environ),
    )
    result: dict[str, Any] = json.loads(answer.stdout.strip().splitlines()[-1])
    return result


def test_delivery_memory_is_flat_whatever_the_file_size(scratch_s3: Any) -> None:
    # 5 MiB parts: both files fill the pipe of parts in flight, the larger is 4 times longer.
    part = MIN_PART_SIZE
    small = deliver_in_child(scratch_s3, "small.csv", 24 * MIB, part)
    large = deliver_in_child(scratch_s3, "large.csv", 96 * MIB, part)

    assert (small["bytes"], large["bytes"]) == (24 * MIB, 96 * MIB)
    assert (small["parts"], large["parts"]) == (5, 20)
    for key, size in (("small.csv", 24 * MIB), ("large.csv", 96 * MIB)):
        assert scratch_s3.head_object(Bucket=SCRATCH_BUCKET, Key=key)["ContentLength"] == size
    # Flat: 72 MiB more file, (almost) no more memory; had it grown with the file, the
    # difference would be tens of MiB.
    assert large["growth"] - small["growth"] < 12 * MIB, (small, large)
    # And bounded by the parts in flight (plus the one being read), not by the file.
    assert large["growth"] < (PARTS_IN_FLIGHT + 1) * part + 16 * MIB, large


class _Recording:
    """The S3 client, with its UploadPart calls watched (and held or failed on demand)."""

    def __init__(self, s3: Any, hold_until: int = 0, fail_part: int | None = None) -> None:
        self._s3 = s3
        self._lock = threading.Lock()
        self._held = threading.Barrier(hold_until) if hold_until > 1 else None
        self._fail_part = fail_part
        self.in_flight = 0
        self.most_in_flight = 0
        self.events: list[str] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._s3, name)

    def upload_part(self, **kwargs: Any) -> Any:
        with self._lock:
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
            self.events.append(f"start {kwargs['PartNumber']}")
        try:
            number = kwargs["PartNumber"]
            if self._held is not None and number <= self._held.parties:
                self._held.wait(timeout=30)  # these parts are all in flight at once
            if number == self._fail_part:
                raise ClientError({"Error": {"Code": "AccessDenied"}}, "UploadPart")
            return self._s3.upload_part(**kwargs)
        finally:
            with self._lock:
                self.in_flight -= 1
                self.events.append(f"end {kwargs['PartNumber']}")

    def abort_multipart_upload(self, **kwargs: Any) -> Any:
        with self._lock:
            self.events.append("abort")
        return self._s3.abort_multipart_upload(**kwargs)


class _Counted:
    def __init__(self, data: bytes) -> None:
        self._data = memoryview(data)
        self.read_bytes = 0

    def read(self, size: int = -1) -> bytes:
        chunk = bytes(self._data[self.read_bytes : self.read_bytes + size])
        self.read_bytes += len(chunk)
        return chunk


def test_parts_go_up_several_at_once_never_more_than_the_bound(scratch_s3: Any) -> None:
    data = bytes(range(256)) * (7 * MIN_PART_SIZE // 256 + 7)  # 7 parts of 5 MiB, and a bit
    s3 = _Recording(scratch_s3, hold_until=3)
    stored = stream_to_s3(
        s3,
        _Counted(data),
        ObjectSpec(SCRATCH_BUCKET, "parallel.csv"),
        expected_size=len(data),
        part_size=MIN_PART_SIZE,
        parts_in_flight=3,
    )
    assert s3.most_in_flight == 3
    assert stored.parts == len(data) // MIN_PART_SIZE + 1
    # Parts that ended out of order still make the file, byte for byte, in order.
    assert scratch_s3.get_object(Bucket=SCRATCH_BUCKET, Key="parallel.csv")["Body"].read() == data


def test_a_failed_part_stops_the_read_and_aborts_after_every_part_ended(scratch_s3: Any) -> None:
    data = b"y" * (20 * MIN_PART_SIZE)
    s3 = _Recording(scratch_s3, fail_part=3)
    source = _Counted(data)
    with pytest.raises(StorageError, match="UploadPart failed: AccessDenied"):
        stream_to_s3(
            s3,
            source,
            ObjectSpec(SCRATCH_BUCKET, "broken.csv"),
            expected_size=len(data),
            part_size=MIN_PART_SIZE,
            parts_in_flight=3,
        )
    assert source.read_bytes < len(data) // 2  # the copy stopped soon after the failure
    assert s3.events[-1] == "abort"  # no part was still being sent when it was aborted
    assert s3.events.count("abort") == 1
    assert scratch_keys(scratch_s3) == []
    assert scratch_uploads(scratch_s3) == []


class _Filling:
    """A source that fills the caller's buffer itself, as a download does (never `read`),
    a little at a time: some calls return less than asked."""

    def __init__(self, data: bytes) -> None:
        self._data = memoryview(data)
        self.offset = 0
        self.calls = 0

    def read(self, size: int = -1) -> bytes:
        raise AssertionError("a source that fills buffers is never read piece by piece")

    def readinto(self, buffer: memoryview) -> int:
        self.calls += 1
        got = min(len(buffer), 3 * MIB + 17, len(self._data) - self.offset)
        buffer[:got] = self._data[self.offset : self.offset + got]
        self.offset += got
        return got


def test_a_source_that_fills_buffers_itself_arrives_whole(scratch_s3: Any) -> None:
    data = bytes(range(256)) * (3 * MIN_PART_SIZE // 256 + 1001)  # 3 parts and a bit
    source = _Filling(data)
    stored = stream_to_s3(
        scratch_s3,
        source,
        ObjectSpec(SCRATCH_BUCKET, "filled.csv"),
        expected_size=len(data),
        part_size=MIN_PART_SIZE,
    )
    assert (stored.bytes, stored.parts) == (len(data), 4)
    assert stored.sha256 == hashlib.sha256(data).hexdigest()
    assert source.calls > stored.parts  # short fills were continued, not taken as the end
    assert scratch_s3.get_object(Bucket=SCRATCH_BUCKET, Key="filled.csv")["Body"].read() == data
