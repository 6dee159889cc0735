"""POST /exports: start a lemlist export and hand it to the state machine; answer 202 at once."""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from lemlist_export import runtime, settings
from lemlist_export.clock import utc_now
from lemlist_export.errors import ExportError
from lemlist_export.http_errors import http_error
from lemlist_export.observability import logger, metrics, tag_export, tracer
from lemlist_export.start_request import parse_start_body
from lemlist_export.starter import PollerStartError, start_export

# Zapier gives up after 30 s: wait out at most a few seconds of lemlist rate limiting.
START_RATE_LIMIT_WAIT = 5.0

app = APIGatewayHttpResolver()


@app.post("/exports")
def create_export() -> Response:
    campaign_id = parse_start_body(app.current_event.decoded_body)
    tag_export(None, campaign_id)
    started = start_export(
        campaign_id,
        source="api",
        lemlist=runtime.lemlist(max_rate_limit_wait=START_RATE_LIMIT_WAIT),
        store=runtime.store(),
        stepfunctions=runtime.aws("stepfunctions"),
        state_machine_arn=settings.required("STATE_MACHINE_ARN"),
        waits=settings.wait_policy(),
        retention_days=settings.retention_days(),
        now=utc_now(),
    )
    record = started.record
    tag_export(record.export_id, record.campaign_id)
    logger.info("Export started", extra={"execution_arn": started.execution_arn})
    metrics.add_metric(name="ExportsStarted", unit=MetricUnit.Count, value=1)
    return _json(
        202,
        {
            "exportId": record.export_id,
            "campaignId": record.campaign_id,
            "campaignName": record.campaign_name,
            "status": record.status,
            "createdAt": record.created_at,
        },
    )


@app.exception_handler(PollerStartError)
def poller_not_started(exc: PollerStartError) -> Response:
    logger.error("Export started in lemlist but not polled", extra={"reason": str(exc)})
    # Recorded as failed; announce it like any other failed export.
    runtime.finish(exc.record.export_id)
    return _json(503, {"message": str(exc), "exportId": exc.record.export_id})


@app.exception_handler(ExportError)
def export_error(exc: ExportError) -> Response:
    error = http_error(exc)
    metrics.add_metric(name="StartsRefused", unit=MetricUnit.Count, value=1)
    log = logger.warning if error.status < 500 else logger.error
    log("Export not started", extra={"status": error.status, "reason": error.message})
    return _json(error.status, {"message": error.message}, error.headers)


@app.exception_handler(Exception)
def unexpected(exc: Exception) -> Response:
    logger.exception("Unexpected error")
    metrics.add_metric(name="StartsRefused", unit=MetricUnit.Count, value=1)
    return _json(500, {"message": "Internal error; the stack's logs have the details."})


def _json(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> Response:
    return Response(
        status_code=status,
        content_type="application/json",
        body=json.dumps(body),
        headers=headers or {},
    )


@logger.inject_lambda_context(
    correlation_id_path=correlation_paths.API_GATEWAY_HTTP, clear_state=True
)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
