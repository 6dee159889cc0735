"""What keeps a wrong file out of S3 and an export from being lost to an AWS hiccup."""

from __future__ import annotations

import io
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from lemlist_export.core.errors import (
    AwsTransientError,
    DownloadIncompleteError,
    InvalidTransitionError,
)
from lemlist_export.records.store import ExportStore
from lemlist_export.storage.s3_upload import MIB, ObjectSpec, stream_to_s3
from tests.conftest import SCRATCH_BUCKET, scratch_keys, scratch_uploads


def refuse() -> None:
    raise InvalidTransitionError("the export ended meanwhile")


@pytest.mark.parametrize("size", [1000, 12 * MIB], ids=["single put", "multipart"])
def test_a_copy_refused_at_the_last_moment_leaves_nothing(scratch_s3: Any, size: int) -> None:
    data = b"x" * size
    with pytest.raises(InvalidTransitionError):
        stream_to_s3(
            scratch_s3,
            io.BytesIO(data),
            ObjectSpec(SCRATCH_BUCKET, "late.csv"),
            expected_size=size,
            before_commit=refuse,
        )
    assert scratch_keys(scratch_s3) == []
    assert scratch_uploads(scratch_s3) == []


def test_a_multipart_copy_declares_its_checksums_and_arrives_whole(scratch_s3: Any) -> None:
    data = bytes(range(256)) * (50 * 1024)  # 12.5 MiB: two parts
    stored = stream_to_s3(
        scratch_s3,
        io.BytesIO(data),
        ObjectSpec(SCRATCH_BUCKET, "whole.csv"),
        expected_size=len(data),
    )
    assert stored.parts == 2
    assert scratch_s3.get_object(Bucket=SCRATCH_BUCKET, Key="whole.csv")["Body"].read() == data


def test_more_bytes_than_announced_is_refused(scratch_s3: Any) -> None:
    with pytest.raises(DownloadIncompleteError, match="larger than the 10 bytes"):
        stream_to_s3(
            scratch_s3,
            io.BytesIO(b"x" * 11),
            ObjectSpec(SCRATCH_BUCKET, "big.csv"),
            expected_size=10,
        )
    assert scratch_keys(scratch_s3) == []


@pytest.mark.parametrize(
    "code", ["ProvisionedThroughputExceededException", "ThrottlingException", "InternalServerError"]
)
def test_dynamodb_throttling_that_outlasts_the_sdk_is_a_transient_error(code: str) -> None:
    client = boto3.client("dynamodb", region_name="us-east-1")
    store = ExportStore(client, "ExportsTable")
    with Stubber(client) as stub:
        stub.add_client_error("get_item", service_error_code=code, http_status_code=400)
        with pytest.raises(AwsTransientError, match=code):
            store.find("axp_Whatever")


def test_dynamodb_access_denied_is_not_retried_as_transient() -> None:
    client = boto3.client("dynamodb", region_name="us-east-1")
    store = ExportStore(client, "ExportsTable")
    with Stubber(client) as stub:
        stub.add_client_error("get_item", service_error_code="AccessDeniedException")
        with pytest.raises(Exception) as caught:
            store.find("axp_Whatever")
    assert not isinstance(caught.value, AwsTransientError)
