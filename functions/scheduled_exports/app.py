"""EventBridge Scheduler target: start one export per campaign of a scheduled run.

Each campaign gets one state machine execution with a name derived from the schedule, the
firing's time and the campaign, so a firing delivered twice starts nothing twice. The
executions ask lemlist themselves, spread out and paced by the stack-wide rate gate.

A firing that fails before its exports are all started (lemlist refuses the key or is down,
a secret cannot be read, a start is refused) is recorded and announced once (see
`schedules.failures`), then fails the invocation anyway: Lambda retries it and, at the end,
keeps it in the FailedInvocationsQueue.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from lemlist_export.core.clock import utc_now
from lemlist_export.core.observability import logger, metrics, traced
from lemlist_export.schedules.failures import FiringProgress, StackFacts, record_failed_firing
from lemlist_export.schedules.plan import (
    ScheduledRun,
    campaigns_to_export,
    execution_name,
    start_delays,
    starts_per_second,
)
from lemlist_export.wiring import runtime, settings
from lemlist_export.workflow.contract import input_to_start
from lemlist_export.workflow.launch import STARTED, start_execution_once


@logger.inject_lambda_context(clear_state=True)
@traced
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    run = ScheduledRun.from_event(event)
    logger.append_keys(scheduled_time=run.scheduled_time)
    progress = FiringProgress()
    try:
        summary = _start_exports(run, progress)
    except Exception as exc:
        _report_failure(run, exc, progress)
        raise  # the invocation fails: retried, then kept in the FailedInvocationsQueue
    started = len(summary["started"])
    metrics.add_metric(name="ScheduledExports", unit=MetricUnit.Count, value=started)
    logger.info("Scheduled run", extra=summary)
    return summary


def _start_exports(run: ScheduledRun, progress: FiringProgress) -> dict[str, Any]:
    campaigns = campaigns_to_export(run, runtime.lemlist(max_rate_limit_wait=30))
    progress.campaigns = campaigns
    waits = settings.wait_policy()
    sfn = runtime.stepfunctions()
    machine = settings.required("STATE_MACHINE_ARN")
    started: list[str] = []
    already: list[str] = []
    # Starts at the pace of the shared lemlist budget (docs/schedules.md, step 4), counted
    # from now: starting hundreds of executions takes seconds of its own.
    began = utc_now()
    delays = start_delays(len(campaigns), starts_per_second(settings.requests_per_window()))
    for campaign_id, delay in zip(campaigns, delays, strict=True):
        name = execution_name(run, campaign_id)
        waited = int((utc_now() - began).total_seconds())
        # This firing may have been delivered before: ask first, so the summary says so.
        outcome = start_execution_once(
            sfn,
            machine,
            name,
            input_to_start(campaign_id, "schedule", waits, max(0, delay - waited)),
            look_first=True,
        )
        (started if outcome == STARTED else already).append(campaign_id)
        progress.started.append(campaign_id)
    return {
        "scheduledTime": run.scheduled_time,
        "campaigns": len(campaigns),
        "started": started,
        "alreadyStarted": already,
    }


def _report_failure(run: ScheduledRun, error: Exception, progress: FiringProgress) -> None:
    """Record and announce the failed firing; never hides the error it reports."""
    metrics.add_metric(name="ScheduledRunsFailed", unit=MetricUnit.Count, value=1)
    try:
        record = record_failed_firing(
            run,
            error,
            progress,
            stack=StackFacts(
                key_secret=settings.optional("LEMLIST_API_KEY_SECRET") or "(not set)",
                api_url=settings.lemlist_api_url(),
            ),
            store=runtime.store(),
            notifier=runtime.notifier,
            retention_days=settings.retention_days(),
            now=utc_now(),
        )
    except Exception:
        logger.exception("The failed scheduled run could not be recorded or announced")
        return
    logger.error(
        "Scheduled run failed",
        extra={
            "export_id": record.export_id,
            "reason": record.failure_reason,
            "notified": {name: n.outcome for name, n in record.notifications.items()},
        },
    )
