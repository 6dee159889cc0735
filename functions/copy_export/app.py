"""The Copy step: stream the finished CSV from lemlist into S3 (one attempt), and answer its
slot (`copy`): delivered, or retry after a wait."""

from __future__ import annotations

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from lemlist_export.core.observability import logger, metrics, tag_export, traced
from lemlist_export.wiring import runtime, settings
from lemlist_export.workflow.contract import CopySlot, CopyTaskInput, copy_answer, copy_request
from lemlist_export.workflow.copy import Destination, copy_export, query_copy_rate

# The download is one request: a short 429 is cheaper to wait out here than to reschedule.
DOWNLOAD_RATE_LIMIT_WAIT = 10.0


@logger.inject_lambda_context(clear_state=True)
@traced
@metrics.log_metrics
def lambda_handler(event: CopyTaskInput, context: LambdaContext) -> CopySlot:
    request = copy_request(event)
    tag_export(request.export_id, event.get("campaignId"))
    metrics.add_metric(name="CopyAttempts", unit=MetricUnit.Count, value=1)
    outcome = copy_export(
        request,
        lemlist=runtime.lemlist(max_rate_limit_wait=DOWNLOAD_RATE_LIMIT_WAIT),
        store=runtime.store(),
        s3=runtime.s3(),
        destination=Destination(
            bucket=settings.required("EXPORTS_BUCKET"),
            prefix=settings.optional("EXPORTS_PREFIX") or "exports",
            part_size=settings.part_size(),
            max_bytes=settings.max_download_bytes(),
            analytics_prefix=settings.optional("ANALYTICS_PREFIX"),
            seconds_left=lambda: context.get_remaining_time_in_millis() / 1000,
            query_copy_bytes_per_second=query_copy_rate(int(context.memory_limit_in_mb)),
        ),
    )
    answer = copy_answer(outcome)
    if outcome.record is not None:
        metrics.add_metric(
            name="BytesDelivered", unit=MetricUnit.Bytes, value=outcome.record.bytes or 0
        )
        logger.info("CSV stored in S3", extra={"result": answer})
    else:
        logger.warning("Copy failed, will retry", extra={"result": answer})
    return answer
