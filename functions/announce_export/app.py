"""Record how an export ended and announce it (Slack, webhook, the caller's own targets).

Invoked by the state machine at the end of every path, and by an EventBridge rule when an
execution ends FAILED, TIMED_OUT or ABORTED, so that no started export goes unannounced. An
event about an execution that no longer runs its export (the export was retried since, under
`<exportId>-retry-<n>`: EventBridge may deliver hours late) is skipped: it must not fail the
retry.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from lemlist_export.core.observability import logger, metrics, tag_export, traced
from lemlist_export.records.record import DELIVERED, ExportRecord
from lemlist_export.wiring import runtime, settings
from lemlist_export.workflow.announce import announce_refused_start
from lemlist_export.workflow.contract import FAIL_ERRORS, started_export_id
from lemlist_export.workflow.failure_reasons import Failure

EXECUTION_STATUS_CHANGE = "Step Functions Execution Status Change"
# The error of the state machine's own failure states: that path already announced.
HANDLED_FAILURES = FAIL_ERRORS


@dataclass(frozen=True)
class Ending:
    """What ended: an export (export_id), or a request lemlist never started."""

    export_id: str | None
    request_id: str
    campaign_id: str
    source: str
    failure: Failure | None


@logger.inject_lambda_context(clear_state=True)
@traced
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    metrics.add_metric(name="AnnounceAttempts", unit=MetricUnit.Count, value=1)
    if event.get("detail-type") == EXECUTION_STATUS_CHANGE:
        metrics.add_metric(name="WatchdogEvents", unit=MetricUnit.Count, value=1)
        if (event.get("detail") or {}).get("error") in HANDLED_FAILURES:
            return {"skipped": "the execution ended through its own failure path"}
        ending = _from_status_change(event["detail"])
        follower = _current_execution(ending)
        if follower is not None:
            logger.info(
                "Execution no longer runs its export",
                extra={"ended": ending.request_id, "export_id": ending.export_id, "now": follower},
            )
            return {"skipped": f"the export is run by the execution {follower} now"}
    else:
        ending = _from_task(event)
    tag_export(ending.export_id, ending.campaign_id or None)
    record = _announce(ending)
    tag_export(record.export_id, record.campaign_id)
    _measure(record)
    notifications = {name: n.outcome for name, n in record.notifications.items()}
    logger.info(
        "Export finished",
        extra={"status": record.status, "reason": record.failure_reason, "notified": notifications},
    )
    return {"exportId": record.export_id, "status": record.status, "notifications": notifications}


def _announce(ending: Ending) -> ExportRecord:
    if ending.export_id:
        return runtime.announce(ending.export_id, ending.failure)
    return announce_refused_start(
        ending.request_id,
        ending.campaign_id,
        source=ending.source,
        failure=ending.failure or Failure.describe("ExportNotStarted", ""),
        store=runtime.store(),
        requests=runtime.requests(),
        notifier=runtime.notifier,
        retention_days=settings.retention_days(),
    )


def _current_execution(ending: Ending) -> str | None:
    """The execution that runs the ended one's export now, if another one does (a retry)."""
    if not ending.export_id or not ending.request_id:
        return None
    record = runtime.store().find(ending.export_id)
    if record is None or not record.execution_name:
        return None
    return record.execution_name if record.execution_name != ending.request_id else None


def _from_task(event: dict[str, Any]) -> Ending:
    failure = event.get("failure")
    return Ending(
        export_id=event.get("exportId"),
        request_id=event.get("requestId") or event.get("exportId") or "",
        campaign_id=event.get("campaignId") or "",
        source=event.get("source") or "",
        failure=Failure.from_caught(failure) if failure else None,
    )


def _from_status_change(detail: dict[str, Any]) -> Ending:
    execution_input = json.loads(detail.get("input") or "{}")
    status = detail.get("status", "FAILED")
    error = detail.get("error") or f"Execution{status.title().replace('_', '')}"
    return Ending(
        export_id=started_export_id(execution_input),
        request_id=detail.get("name") or "",
        campaign_id=execution_input.get("campaignId") or "",
        source=execution_input.get("source") or "",
        # A Lambda error's cause is its JSON answer: read it like a Catch's.
        failure=Failure.from_caught(
            {"Error": error, "Cause": detail.get("cause")},
            fallback=f"The export's execution ended {status}.",
        ),
    )


def _measure(record: ExportRecord) -> None:
    outcome = "ExportsDelivered" if record.status == DELIVERED else "ExportsFailed"
    metrics.add_metric(name=outcome, unit=MetricUnit.Count, value=1)
    duration = record.duration_seconds()
    if record.status == DELIVERED and duration is not None:
        metrics.add_metric(name="ExportDuration", unit=MetricUnit.Seconds, value=duration)
    failed = [n for n in record.notifications.values() if n.outcome == "failed"]
    if failed:
        metrics.add_metric(name="NotificationsFailed", unit=MetricUnit.Count, value=len(failed))
