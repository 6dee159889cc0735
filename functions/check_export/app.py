"""State machine task: look at an export's status once and say what to do next."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from lemlist_export.core.clock import utc_now
from lemlist_export.core.observability import logger, metrics, tag_export, tracer
from lemlist_export.wiring import runtime
from lemlist_export.workflow.check import CheckRequest, check_export


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = CheckRequest.from_input(event)
    tag_export(request.export_id, request.campaign_id)
    metrics.add_metric(name="CheckAttempts", unit=MetricUnit.Count, value=1)
    result = check_export(request, lemlist=runtime.lemlist(), store=runtime.store(), now=utc_now())
    logger.info("Status checked", extra={"result": result})
    return result
