"""What a failed scheduled firing says: what happened, how far it got, and what to do."""

from __future__ import annotations

from typing import Any

import pytest

from lemlist_export.core.errors import (
    AwsTransientError,
    LemlistBadTeamError,
    LemlistProtocolError,
    LemlistRequestError,
    RateLimitedError,
)
from lemlist_export.core.identifiers import is_lemlist_id
from lemlist_export.core.redaction import MASK, register_secret
from lemlist_export.schedules.failures import (
    FiringProgress,
    StackFacts,
    describe_failed_firing,
)
from lemlist_export.schedules.plan import ScheduledRun, execution_name, firing_id

STACK = StackFacts(key_secret="team/lemlist-key", api_url="https://api.lemlist.com/api")
ARN = "arn:aws:scheduler:us-east-1:123456789012:schedule/default/lemlist-nightly"


def run(**changes: Any) -> ScheduledRun:
    base: dict[str, Any] = {
        "campaign_ids": (),
        "campaign_status": "running",
        "scheduled_time": "2026-11-30T07:00:00+01:00",
        "schedule_arn": ARN,
    }
    return ScheduledRun(**{**base, **changes})


def test_the_firing_id_is_a_record_id_and_never_one_of_its_executions_names() -> None:
    firing = firing_id(run())

    assert is_lemlist_id(firing)
    assert firing.startswith("sched_") and firing.endswith("_20261130T0600")
    assert firing == firing_id(run(scheduled_time="2026-11-30T06:00:00Z"))  # one instant
    assert firing != firing_id(run(scheduled_time="2026-12-01T06:00:00Z"))
    for campaign in ("all", "a", "cam_A1B2C3D4E5F6G7H8I9", "x" * 64):
        name = execution_name(run(), campaign)
        assert name.startswith(firing + "_") and name != firing


def test_a_partial_firing_names_what_started_and_what_did_not() -> None:
    progress = FiringProgress(campaigns=["cam_A", "cam_B", "cam_C"], started=["cam_A"])
    error = AwsTransientError("Step Functions StartExecution failed: ThrottlingException")

    failure = describe_failed_firing(run(), error, progress, STACK)

    assert failure.error_type == "AwsTransientError"
    assert failure.reason.startswith(
        "The scheduled run of 2026-11-30T06:00:00Z started 1 of 3 exports (cam_A) but not "
        "cam_B, cam_C: Step Functions StartExecution failed: ThrottlingException. Nothing to "
        "do: AWS Lambda runs a failed firing again, up to twice within minutes, and starts "
        "only the exports still missing"
    )


@pytest.mark.parametrize(
    ("error", "advice"),
    [
        (
            LemlistBadTeamError("lemlist answered 400 Bad team", status=400),
            "Check that the API key in the secret team/lemlist-key (parameter "
            "LemlistApiKeySecretName) belongs to the lemlist team that owns the campaigns",
        ),
        (
            LemlistProtocolError("lemlist answered /campaigns with a body that is not JSON"),
            "Check that LemlistApiUrl (https://api.lemlist.com/api) is lemlist's API",
        ),
        (LemlistRequestError("lemlist answered 403", status=403), "Check that LemlistApiUrl"),
        (RateLimitedError("lemlist rate limit reached", retry_after=90), "Nothing to do"),
        (KeyError("surprise"), "The function's logs have the details"),
    ],
)
def test_each_failure_says_what_to_do(error: Exception, advice: str) -> None:
    failure = describe_failed_firing(run(), error, FiringProgress(), STACK)

    assert failure.reason.startswith("The scheduled run of 2026-11-30T06:00:00Z started no export")
    assert advice in failure.reason
    assert failure.reason.endswith(".")


def test_a_long_list_is_shortened_and_no_secret_is_repeated() -> None:
    register_secret("sk-live-secret-value")
    campaigns = [f"cam_{index:03d}" for index in range(300)]
    progress = FiringProgress(campaigns=campaigns, started=campaigns[:150])
    error = LemlistRequestError("lemlist said sk-live-secret-value is wrong", status=400)

    failure = describe_failed_firing(run(), error, progress, STACK)

    assert "and 140 more" in failure.reason
    assert "sk-live-secret-value" not in failure.reason and MASK in failure.reason
    assert len(failure.reason) <= 1000
