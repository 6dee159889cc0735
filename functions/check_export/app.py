"""The Check step: look at an export's status once and answer its slot (`check`): what
lemlist said, and the wait before the next look."""

from __future__ import annotations

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from lemlist_export.core.clock import utc_now
from lemlist_export.core.observability import logger, metrics, tag_export, traced
from lemlist_export.wiring import runtime
from lemlist_export.workflow.check import check_export
from lemlist_export.workflow.contract import CheckSlot, CheckTaskInput, check_answer, check_request


@logger.inject_lambda_context(clear_state=True)
@traced
@metrics.log_metrics
def lambda_handler(event: CheckTaskInput, context: LambdaContext) -> CheckSlot:
    request = check_request(event)
    tag_export(request.export_id, request.campaign_id)
    metrics.add_metric(name="CheckAttempts", unit=MetricUnit.Count, value=1)
    outcome = check_export(request, lemlist=runtime.lemlist(), store=runtime.store(), now=utc_now())
    answer = check_answer(outcome)
    logger.info("Status checked", extra={"result": answer})
    return answer
