"""POST /exports/{exportId}/retry's work once the request is valid: re-drive, and say how.

The re-drive itself (`workflow.redrive`) is idempotent by construction (one execution per
retry number, claimed by a conditional write), so this route needs no Idempotency-Key: a
repeated call answers the retry under way (`replay: true`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from lemlist_export.core.clock import utc_now
from lemlist_export.core.observability import logger, metrics, tag_export
from lemlist_export.http_api.start import START_RATE_LIMIT_WAIT
from lemlist_export.lemlist.client import LemlistClient
from lemlist_export.records.record import COPY_AGAIN
from lemlist_export.wiring import runtime, settings
from lemlist_export.workflow.redrive import RetryAsker, RetryOutcome, redrive_export


def retry_for_api(export_id: str, status_url: Callable[[str], str]) -> dict[str, Any]:
    """The 202 answer's body; raises what the caller should see as an error (404, 409, 503)."""
    tag_export(export_id)
    outcome = redrive_export(
        export_id,
        asker=RetryAsker("api", requested_by="api"),
        store=runtime.store(),
        requests=runtime.requests(),
        stepfunctions=runtime.stepfunctions(),
        state_machine_arn=settings.required("STATE_MACHINE_ARN"),
        waits=settings.wait_policy(),
        now=utc_now(),
        lemlist=_lemlist,
        retention_days=settings.retention_days(),
    )
    measure_retry(outcome)
    follow = outcome.follow
    # The API starts a new export itself, so there is always one to follow.
    assert follow is not None
    tag_export(follow.export_id, follow.campaign_id)
    # RetryStarted's fields in its order, built without pydantic (http_api.plain).
    return {
        "exportId": follow.export_id,
        "retryOf": outcome.retried.export_id,
        "retry": outcome.retry,
        "action": "copyAgain" if outcome.action == COPY_AGAIN else "newExport",
        "reason": outcome.reason,
        "campaignId": follow.campaign_id,
        "status": follow.status,
        "replay": outcome.replay,
        "statusUrl": status_url(follow.export_id),
    }


def measure_retry(outcome: RetryOutcome) -> None:
    """Log and count a retry; a repeat counts as nothing new."""
    logger.info(
        "Export retry under way" if outcome.replay else "Export retried",
        extra={
            "retry": outcome.retry,
            "action": outcome.action,
            "execution_name": outcome.execution_name,
            "follow": outcome.follow.export_id if outcome.follow else None,
        },
    )
    if outcome.replay:
        return
    metrics.add_metric(name="ExportsRetried", unit=MetricUnit.Count, value=1)
    if outcome.newly_started:
        metrics.add_metric(name="ExportsStarted", unit=MetricUnit.Count, value=1)


def _lemlist() -> LemlistClient:
    return runtime.lemlist(max_rate_limit_wait=START_RATE_LIMIT_WAIT)
