"""Starting an execution once (the one way every trigger does it), and errors that carry
their facts as attributes, the way urllib3's do."""

from __future__ import annotations

import io
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from lemlist_export.core.aws_errors import TRANSIENT_CODES, transient_aws_errors
from lemlist_export.core.errors import (
    AwsTransientError,
    DownloadIncompleteError,
    StorageError,
    StorageTransientError,
)
from lemlist_export.storage.s3_upload import ObjectSpec, stream_to_s3
from lemlist_export.workflow.contract import input_to_start
from lemlist_export.workflow.launch import ALREADY_STARTED, STARTED, start_execution_once
from lemlist_export.workflow.wait_policy import WaitPolicy

MACHINE = "arn:aws:states:us-east-1:123456789012:stateMachine:exports"
INPUT = input_to_start("cam_A1B2C3", "schedule", WaitPolicy())


@pytest.fixture
def sfn() -> Any:
    client = boto3.client(
        "stepfunctions", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    with Stubber(client) as stub:
        client.stub = stub
        yield client


def started(name: str) -> dict[str, Any]:
    arn = MACHINE.replace(":stateMachine:", ":execution:") + f":{name}"
    return {"executionArn": arn, "startDate": "2026-11-29T06:00:00Z"}


def test_a_new_name_starts_an_execution(sfn: Any) -> None:
    sfn.stub.add_response("start_execution", started("run_1"))

    assert start_execution_once(sfn, MACHINE, "run_1", INPUT) == STARTED


def test_a_name_already_used_starts_nothing_and_says_so(sfn: Any) -> None:
    sfn.stub.add_client_error("start_execution", "ExecutionAlreadyExists", http_status_code=400)

    assert start_execution_once(sfn, MACHINE, "run_1", INPUT) == ALREADY_STARTED


def test_looking_first_tells_a_repeat_from_a_first_start(sfn: Any) -> None:
    sfn.stub.add_response(
        "describe_execution",
        {
            "executionArn": started("run_1")["executionArn"],
            "stateMachineArn": MACHINE,
            "status": "RUNNING",
            "startDate": "2026-11-29T06:00:00Z",
        },
    )

    assert start_execution_once(sfn, MACHINE, "run_1", INPUT, look_first=True) == ALREADY_STARTED
    sfn.stub.assert_no_pending_responses()  # no StartExecution was made


def test_throttling_is_transient_and_names_its_operation_and_code(sfn: Any) -> None:
    sfn.stub.add_client_error("start_execution", "ThrottlingException", http_status_code=400)

    with pytest.raises(AwsTransientError) as raised:
        start_execution_once(sfn, MACHINE, "run_1", INPUT)

    assert raised.value.operation == "Step Functions StartExecution"
    assert raised.value.code == "ThrottlingException"


def test_any_other_refusal_is_raised_as_is(sfn: Any) -> None:
    sfn.stub.add_client_error("start_execution", "InvalidName", http_status_code=400)

    with pytest.raises(Exception, match="InvalidName"):
        start_execution_once(sfn, MACHINE, "run_1", INPUT)


def test_one_list_of_transient_codes_serves_every_service() -> None:
    assert {"ThrottlingException", "SlowDown", "InternalError", "RequestTimeout"} <= TRANSIENT_CODES
    from botocore.exceptions import ClientError

    error = ClientError({"Error": {"Code": "SlowDown"}}, "PutObject")
    with pytest.raises(AwsTransientError) as raised, transient_aws_errors("S3 PutObject"):
        raise error
    assert (raised.value.operation, raised.value.code) == ("S3 PutObject", "SlowDown")


@pytest.mark.parametrize(
    ("code", "status", "kind"),
    [("SlowDown", 503, StorageTransientError), ("AccessDenied", 403, StorageError)],
)
def test_s3_failures_carry_the_operation_and_code(code: str, status: int, kind: type) -> None:
    s3 = boto3.client(
        "s3", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    with Stubber(s3) as stub:
        stub.add_client_error("put_object", code, http_status_code=status)
        with pytest.raises(kind) as raised:
            stream_to_s3(s3, io.BytesIO(b"a,b\n"), ObjectSpec("b", "k.csv"), expected_size=4)

    assert type(raised.value) is kind
    assert (raised.value.operation, raised.value.code) == ("PutObject", code)


def test_a_short_download_carries_what_arrived_and_what_was_expected() -> None:
    with pytest.raises(DownloadIncompleteError) as raised:
        stream_to_s3(None, io.BytesIO(b"x" * 7), ObjectSpec("b", "k.csv"), expected_size=10)

    assert (raised.value.received, raised.value.expected) == (7, 10)
    assert "7 of 10 bytes" in str(raised.value)
