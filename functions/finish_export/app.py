"""Record how an export ended and announce it (Slack, webhook).

Invoked by the state machine at the end of both paths, and by an EventBridge rule when an
execution ends FAILED, TIMED_OUT or ABORTED, so that no started export goes unannounced.
"""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from lemlist_export import runtime
from lemlist_export.export_record import DELIVERED
from lemlist_export.failure_reasons import Failure
from lemlist_export.observability import logger, metrics, tag_export, tracer

EXECUTION_STATUS_CHANGE = "Step Functions Execution Status Change"
# The error of the state machine's own "Export failed" state: that path already finished.
HANDLED_FAILURE = "ExportFailed"


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    if event.get("detail-type") == EXECUTION_STATUS_CHANGE:
        metrics.add_metric(name="WatchdogEvents", unit=MetricUnit.Count, value=1)
    if _already_finished(event):
        return {"skipped": "the execution ended through its own failure path"}
    export_id, failure = _read(event)
    tag_export(export_id)
    record = runtime.finish(export_id, failure)
    tag_export(record.export_id, record.campaign_id)
    outcome = "ExportsDelivered" if record.status == DELIVERED else "ExportsFailed"
    metrics.add_metric(name=outcome, unit=MetricUnit.Count, value=1)
    if record.status == DELIVERED and record.duration_seconds() is not None:
        metrics.add_metric(
            name="ExportDuration", unit=MetricUnit.Seconds, value=record.duration_seconds() or 0
        )
    notifications = {name: n.outcome for name, n in record.notifications.items()}
    failed = [name for name, n in record.notifications.items() if n.outcome == "failed"]
    if failed:
        metrics.add_metric(name="NotificationsFailed", unit=MetricUnit.Count, value=len(failed))
    logger.info(
        "Export finished",
        extra={"status": record.status, "reason": record.failure_reason, "notified": notifications},
    )
    return {"exportId": record.export_id, "status": record.status, "notifications": notifications}


def _already_finished(event: dict[str, Any]) -> bool:
    return (
        event.get("detail-type") == EXECUTION_STATUS_CHANGE
        and (event.get("detail") or {}).get("error") == HANDLED_FAILURE
    )


def _read(event: dict[str, Any]) -> tuple[str, Failure | None]:
    """(export id, failure or None) from a state machine task input or an EventBridge event."""
    if event.get("detail-type") == EXECUTION_STATUS_CHANGE:
        detail = event.get("detail") or {}
        execution_input = json.loads(detail.get("input") or "{}")
        export_id = execution_input.get("exportId") or detail["name"]
        status = detail.get("status", "FAILED")
        error = detail.get("error") or f"Execution{status.title().replace('_', '')}"
        # A Lambda error's cause is its JSON answer: read it like a Catch's.
        return export_id, Failure.from_caught(
            {"Error": error, "Cause": detail.get("cause")},
            fallback=f"The export's execution ended {status}.",
        )
    failure = event.get("failure")
    return event["exportId"], Failure.from_caught(failure) if failure else None
