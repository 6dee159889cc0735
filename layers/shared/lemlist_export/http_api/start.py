"""POST /exports' work once the request is valid: start, and say how it went.

Returns `{"status", "body"}` rather than raising once lemlist has started the export, so
that the Idempotency-Key layer stores every such outcome and a replay never starts a second
export. Raises only while nothing was started (lemlist refused, a bad id): a replay may then
try again.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from lemlist_export.core.clock import utc_now
from lemlist_export.core.observability import logger, metrics, tag_export
from lemlist_export.wiring import runtime, settings
from lemlist_export.workflow.launch import PollerStartError, UnrecordedExportError, launch_export

# Zapier gives up after 30 s: wait out at most a few seconds of lemlist rate limiting.
START_RATE_LIMIT_WAIT = 5.0


def start_for_api(request: dict[str, Any], status_url: Callable[[str], str]) -> dict[str, Any]:
    """`{"status": 202 | 503, "body": ...}` for `{"campaignId", "callbackUrl"?}`."""
    tag_export(None, request["campaignId"])
    try:
        return {"status": 202, "body": _started(request, status_url)}
    except PollerStartError as exc:
        logger.error("Export started in lemlist but not polled", extra={"reason": str(exc)})
        # Recorded as failed; announce it like any other failed export.
        runtime.announce(exc.record.export_id)
        return {"status": 503, "body": {"message": str(exc), "exportId": exc.record.export_id}}
    except UnrecordedExportError as exc:
        logger.error("Export started in lemlist but not recorded", extra={"reason": str(exc)})
        return {"status": 503, "body": {"message": str(exc), "exportId": exc.export_id}}


def _started(request: dict[str, Any], status_url: Callable[[str], str]) -> dict[str, Any]:
    started = launch_export(
        request["campaignId"],
        source="api",
        lemlist=runtime.lemlist(max_rate_limit_wait=START_RATE_LIMIT_WAIT),
        store=runtime.store(),
        stepfunctions=runtime.stepfunctions(),
        state_machine_arn=settings.required("STATE_MACHINE_ARN"),
        waits=settings.wait_policy(),
        retention_days=settings.retention_days(),
        now=utc_now(),
        callback_url=request.get("callbackUrl"),
    )
    record = started.record
    tag_export(record.export_id, record.campaign_id)
    logger.info("Export started", extra={"execution_arn": started.execution_arn})
    metrics.add_metric(name="ExportsStarted", unit=MetricUnit.Count, value=1)
    # ExportStarted's fields in its order, built without pydantic (http_api.plain).
    return {
        "exportId": record.export_id,
        "campaignId": record.campaign_id,
        "campaignName": record.campaign_name,
        "status": record.status,
        "createdAt": record.created_at,
        "statusUrl": status_url(record.export_id),
    }
