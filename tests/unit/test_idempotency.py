"""POST /exports' Idempotency-Key on two DynamoDB engines: moto, and Amazon's DynamoDB Local.

The code under test is ExportsApiFunction's own `_start_once` (Powertools' idempotent_function
with the function's config, key prefix and DynamoDBPersistenceLayer), its persistence pointed
at a CoordinationTable as template.yaml defines it. Only `_start`, the work behind it (lemlist,
the record, the execution), is replaced: by a slow start that counts how often it ran.
"""

from __future__ import annotations

import importlib.util
import os
import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any
from unittest import mock

import pytest
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
    IdempotencyValidationError,
)

from lemlist_export.core.errors import LemlistTransientError
from local_stack.embedded_aws import REGION

if TYPE_CHECKING:
    from tests.dynamodb_local import DynamoEngine

pytest_plugins = ["tests.dynamodb_local"]  # the dynamodb_engine fixture

APP = Path(__file__).resolve().parents[2] / "functions" / "exports_api" / "app.py"


@pytest.fixture(scope="module")
def exports_api() -> ModuleType:
    """functions/exports_api/app.py, loaded privately (no other test sees this module)."""
    spec = importlib.util.spec_from_file_location("exports_api_app_under_idempotency_test", APP)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    # Its persistence layer builds a boto3 client at import: that needs a region, no call.
    with mock.patch.dict(os.environ, {"AWS_DEFAULT_REGION": REGION}):
        spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def coordination_table(dynamodb_engine: DynamoEngine) -> Iterator[str]:
    name = dynamodb_engine.create_table("CoordinationTable")
    yield name
    dynamodb_engine.client().delete_table(TableName=name)


@dataclass
class LambdaContext:
    """What the idempotency layer asks of Lambda's context: the time left (API Gateway's 29 s)."""

    function_name: str = "ExportsApiFunction"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:ExportsApi"
    aws_request_id: str = field(default_factory=lambda: secrets.token_hex(16))

    def get_remaining_time_in_millis(self) -> int:
        return 29_000


@dataclass
class Starts:
    """The replaced `_start`: one export per call, after a while; or failures, as scripted."""

    failures: list[Exception] = field(default_factory=list)
    seconds: float = 0.3
    requests: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, request: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            self.requests.append(request)
            count = len(self.requests)
            failure = self.failures.pop(0) if self.failures else None
        time.sleep(self.seconds)
        if failure is not None:
            raise failure
        body = {"exportId": f"axp_Started{count}", "campaignId": request["campaignId"]}
        return {"status": 202, "body": body}


@pytest.fixture
def starts(
    exports_api: ModuleType,
    dynamodb_engine: DynamoEngine,
    coordination_table: str,
    monkeypatch: pytest.MonkeyPatch,
) -> Starts:
    counted = Starts()
    monkeypatch.setattr(exports_api, "_start", counted)
    # The very layer `_start_once` was decorated with, pointed at this engine's table.
    monkeypatch.setattr(exports_api.persistence, "table_name", coordination_table)
    monkeypatch.setattr(exports_api.persistence, "client", dynamodb_engine.client())
    exports_api.idempotency.register_lambda_context(LambdaContext())
    return counted


def request(key: str, campaign_id: str = "cam_A1B2C3D4E5F6G7H8I9", **body: Any) -> dict[str, Any]:
    """What create_export hands `_start_once`: the validated body and the header's key."""
    return {"campaignId": campaign_id, "callbackUrl": None, **body, "idempotencyKey": key}


def new_key() -> str:
    return f"zap-run-{secrets.token_hex(6)}"


def call_together(function: Any, requests: list[dict[str, Any]]) -> list[Any]:
    """Call `function(request=...)` for each request in threads released at once; each
    answer, or the exception it raised."""
    gate = threading.Barrier(len(requests))
    answers: list[Any] = [None] * len(requests)

    def call(index: int) -> None:
        gate.wait()
        try:
            answers[index] = function(request=requests[index])
        except Exception as exc:  # the test asserts on it
            answers[index] = exc

    threads = [threading.Thread(target=call, args=(i,)) for i in range(len(requests))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return answers


def stored_items(engine: DynamoEngine, table: str) -> list[dict[str, Any]]:
    return engine.client().scan(TableName=table, ConsistentRead=True)["Items"]


@pytest.mark.parametrize("callers", [2, 8])
def test_concurrent_calls_with_one_key_start_one_export(
    exports_api: ModuleType, starts: Starts, callers: int
) -> None:
    key = new_key()
    starts.seconds = 1.0  # every caller arrives while the first one runs

    answers = call_together(exports_api._start_once, [request(key)] * callers)

    assert len(starts.requests) == 1
    body = {"exportId": "axp_Started1", "campaignId": request(key)["campaignId"]}
    started = {"status": 202, "body": body}
    # Callers that arrived while it ran are told so (the API's 409); none starts another.
    assert all(
        answer == started or isinstance(answer, IdempotencyAlreadyInProgressError)
        for answer in answers
    ), answers
    assert answers.count(started) >= 1
    assert any(isinstance(answer, IdempotencyAlreadyInProgressError) for answer in answers)
    # Once it has ended, every replay gets its outcome, still without starting anything.
    assert exports_api._start_once(request=request(key)) == started
    assert len(starts.requests) == 1


def test_the_outcome_is_kept_24_hours_under_the_tables_key_and_ttl(
    exports_api: ModuleType,
    starts: Starts,
    dynamodb_engine: DynamoEngine,
    coordination_table: str,
) -> None:
    from tests.dynamodb_local import template_table

    key, campaign = new_key(), f"cam_{secrets.token_hex(8)}"
    before = time.time()
    exports_api._start_once(request=request(key, campaign_id=campaign))

    table = template_table("CoordinationTable")
    (partition_key,) = [k["AttributeName"] for k in table["KeySchema"]]
    ttl = table["TimeToLiveSpecification"]["AttributeName"]
    (item,) = [
        item
        for item in stored_items(dynamodb_engine, coordination_table)
        if campaign in item.get("data", {}).get("S", "")
    ]
    assert item[partition_key]["S"].startswith(f"{exports_api.IDEMPOTENCY_KEY_PREFIX}#")
    assert item["status"] == {"S": "COMPLETED"}
    assert before + 24 * 3600 - 1 <= int(item[ttl]["N"]) <= time.time() + 24 * 3600 + 1
    assert key not in str(item)  # the key is stored hashed


def test_a_key_reused_with_another_body_is_refused_without_a_start(
    exports_api: ModuleType, starts: Starts
) -> None:
    key = new_key()
    exports_api._start_once(request=request(key))

    with pytest.raises(IdempotencyValidationError):
        exports_api._start_once(request=request(key, campaign_id="cam_AnotherCampaign"))
    with pytest.raises(IdempotencyValidationError):
        exports_api._start_once(request=request(key, callbackUrl="https://hooks.zapier.com/x"))
    assert len(starts.requests) == 1


def test_other_keys_start_other_exports(exports_api: ModuleType, starts: Starts) -> None:
    answers = call_together(exports_api._start_once, [request(new_key()) for _ in range(3)])

    assert len(starts.requests) == 3
    assert sorted(answer["body"]["exportId"] for answer in answers) == [
        "axp_Started1",
        "axp_Started2",
        "axp_Started3",
    ]


def test_a_start_that_raised_leaves_the_key_free_for_a_retry(
    exports_api: ModuleType, starts: Starts
) -> None:
    # It raises only while nothing was started in lemlist (see http_api.start).
    starts.failures.append(LemlistTransientError("lemlist answered 503", status=503))
    key = new_key()

    with pytest.raises(LemlistTransientError):
        exports_api._start_once(request=request(key))
    retried = exports_api._start_once(request=request(key))

    assert retried["body"]["exportId"] == "axp_Started2"
    assert len(starts.requests) == 2
