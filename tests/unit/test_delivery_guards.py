"""What keeps a wrong file out of S3 and an export from being lost to an AWS hiccup."""

from __future__ import annotations

import io
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from lemlist_export.errors import AwsTransientError, DownloadIncompleteError, InvalidTransitionError
from lemlist_export.export_store import ExportStore
from lemlist_export.s3_upload import MIB, ObjectSpec, stream_to_s3
from local_stack.stack import embedded


@pytest.fixture
def s3() -> Any:
    aws, _ = embedded()
    client = aws.client("s3")
    client.create_bucket(Bucket="guards-bucket")
    yield client
    for item in client.list_objects_v2(Bucket="guards-bucket").get("Contents", []):
        client.delete_object(Bucket="guards-bucket", Key=item["Key"])
    client.delete_bucket(Bucket="guards-bucket")


def keys(s3: Any) -> list[str]:
    return [o["Key"] for o in s3.list_objects_v2(Bucket="guards-bucket").get("Contents", [])]


def uploads(s3: Any) -> list[Any]:
    return s3.list_multipart_uploads(Bucket="guards-bucket").get("Uploads", [])


def refuse() -> None:
    raise InvalidTransitionError("the export ended meanwhile")


@pytest.mark.parametrize("size", [1000, 12 * MIB], ids=["single put", "multipart"])
def test_a_copy_refused_at_the_last_moment_leaves_nothing(s3: Any, size: int) -> None:
    data = b"x" * size
    with pytest.raises(InvalidTransitionError):
        stream_to_s3(
            s3,
            io.BytesIO(data),
            ObjectSpec("guards-bucket", "late.csv"),
            expected_size=size,
            before_commit=refuse,
        )
    assert keys(s3) == []
    assert uploads(s3) == []


def test_a_multipart_copy_declares_its_checksums_and_arrives_whole(s3: Any) -> None:
    data = bytes(range(256)) * (50 * 1024)  # 12.5 MiB: two parts
    stored = stream_to_s3(
        s3, io.BytesIO(data), ObjectSpec("guards-bucket", "whole.csv"), expected_size=len(data)
    )
    assert stored.parts == 2
    assert s3.get_object(Bucket="guards-bucket", Key="whole.csv")["Body"].read() == data


def test_more_bytes_than_announced_is_refused(s3: Any) -> None:
    with pytest.raises(DownloadIncompleteError, match="larger than the 10 bytes"):
        stream_to_s3(
            s3, io.BytesIO(b"x" * 11), ObjectSpec("guards-bucket", "big.csv"), expected_size=10
        )
    assert keys(s3) == []


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
