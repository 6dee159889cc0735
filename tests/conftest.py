"""Fixtures shared by the suite: a lemlist simulator, local webhook targets, local stacks."""

from __future__ import annotations

import io
import json
import os
import secrets
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import local_stack  # noqa: F401  (makes the shared layer importable, like Lambda's /opt)
from lemlist_export.core.redaction import forget_secrets
from local_stack.lemlist_simulator import LemlistSimulator
from local_stack.session import LOG_DIR_VARIABLE
from local_stack.stack import LocalStack, StackOptions
from local_stack.webhook_receiver import LocalNotificationTargets
from tests.lookalike import LookalikeServer, running_lookalike

# IAM least privilege over the whole e2e suite: every grant needed by some call.
pytest_plugins = ["tests.iam_coverage"]

# make run / make serve started by tests log here, not in .local/logs, which the docs' shell
# sessions read as a user would (pytest-xdist runs both at once). One directory per process.
os.environ.setdefault(LOG_DIR_VARIABLE, tempfile.mkdtemp(prefix="local-stack-logs-"))

ROOT = Path(__file__).resolve().parents[1]
EVENTS = ROOT / "events"

# Every wait the state machine makes comes from its input: zero here, so tests run at the
# speed of the code, not of lemlist's advice. Tests that need time say so.
NO_WAITS = {
    "PollFirstWaitSeconds": "0",
    "PollIntervalSeconds": "0",
    "PollMaxIntervalSeconds": "0",
}
NO_RETRY_WAITS = {"DELIVERY_RETRY_SECONDS": "0"}
SLACK_SIGNING_SECRET = "slack-signing-secret-for-tests-0123"


def load_event(name: str) -> dict[str, Any]:
    return json.loads((EVENTS / name).read_text())


@pytest.fixture(autouse=True)
def _forget_registered_secrets() -> Iterator[None]:
    """Secrets registered for redaction live as long as the process (as in a warm Lambda);
    between tests they would mask ordinary text another test expects to see."""
    yield
    forget_secrets()


@pytest.fixture
def api_key() -> str:
    return f"key-{secrets.token_hex(12)}"


@pytest.fixture
def simulator(api_key: str) -> Iterator[LemlistSimulator]:
    with LemlistSimulator(api_key=api_key) as sim:
        yield sim


@pytest.fixture
def targets() -> Iterator[LocalNotificationTargets]:
    targets = LocalNotificationTargets().start()
    yield targets
    targets.stop()


@pytest.fixture
def lookalike() -> Iterator[LookalikeServer]:
    """An attacker's server on loopback that records whatever reaches it."""
    with running_lookalike() as server:
        yield server


SCRATCH_BUCKET = "scratch-bucket"


@pytest.fixture
def scratch_s3() -> Iterator[Any]:
    """An S3 client of the embedded AWS with an empty bucket SCRATCH_BUCKET, removed after."""
    from local_stack.stack import embedded

    aws, _ = embedded()
    client = aws.client("s3")
    client.create_bucket(Bucket=SCRATCH_BUCKET)
    yield client
    for upload in client.list_multipart_uploads(Bucket=SCRATCH_BUCKET).get("Uploads", []):
        client.abort_multipart_upload(
            Bucket=SCRATCH_BUCKET, Key=upload["Key"], UploadId=upload["UploadId"]
        )
    for item in client.list_objects_v2(Bucket=SCRATCH_BUCKET).get("Contents", []):
        client.delete_object(Bucket=SCRATCH_BUCKET, Key=item["Key"])
    client.delete_bucket(Bucket=SCRATCH_BUCKET)


def scratch_keys(s3: Any) -> list[str]:
    return [o["Key"] for o in s3.list_objects_v2(Bucket=SCRATCH_BUCKET).get("Contents", [])]


def scratch_uploads(s3: Any) -> list[Any]:
    return s3.list_multipart_uploads(Bucket=SCRATCH_BUCKET).get("Uploads", [])


StackFactory = Callable[..., LocalStack]


@pytest.fixture
def make_stack(
    simulator: LemlistSimulator, api_key: str, targets: LocalNotificationTargets
) -> Iterator[StackFactory]:
    """Deploy template.yaml on the embedded AWS against the simulator (fresh each call).
    Executions a test leaves running are stopped, so they cannot reach the next test."""
    stacks: list[LocalStack] = []

    def make(
        *,
        key: str | None = None,
        notifications: bool = True,
        parameters: dict[str, str] | None = None,
        environment: dict[str, str] | None = None,
        slack: bool = True,
        timeouts: dict[str, int] | None = None,
    ) -> LocalStack:
        options = StackOptions(
            lemlist_api_url=simulator.base_url,
            lemlist_api_key=key or api_key,
            notifications=targets.notifications() if notifications else None,
            parameters={**NO_WAITS, **(parameters or {})},
            environment={**NO_RETRY_WAITS, **(environment or {})},
            slack_signing_secret=SLACK_SIGNING_SECRET if slack else None,
            timeouts=timeouts or {},
        )
        stacks.append(LocalStack(options).start())
        return stacks[-1]

    yield make
    for stack in stacks[-1:]:  # each start replaced the previous stack's resources
        stack.stop_executions()


@pytest.fixture
def stack(make_stack: StackFactory) -> LocalStack:
    return make_stack()


@pytest.fixture
def handler_logs() -> Iterator[io.StringIO]:
    """Every line the Lambda workers write during the test (the handlers' JSON logs and
    metrics, as Lambda would send them to CloudWatch)."""
    from local_stack.stack import embedded

    _, lambdas = embedded()
    buffer = io.StringIO()
    previous, lambdas.log_sink = lambdas.log_sink, buffer
    try:
        yield buffer
    finally:
        lambdas.log_sink = previous
