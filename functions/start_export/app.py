"""The Start step: start in lemlist an export that Slack or a schedule asked for.

Answers its slot of the execution's state (`start`): started, with the export id, or retry
with a wait (a 429 or a passing outage). Tells the Slack command, if one asked.
"""

from __future__ import annotations

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from lemlist_export.core.clock import utc_now
from lemlist_export.core.observability import logger, metrics, tag_export, traced
from lemlist_export.notify.notifier import reply_in_slack
from lemlist_export.records.record import ExportRecord
from lemlist_export.slack.messages import started_message
from lemlist_export.wiring import runtime, settings
from lemlist_export.workflow.contract import StartSlot, StartTaskInput, start_answer, start_request
from lemlist_export.workflow.start import start_export


@logger.inject_lambda_context(clear_state=True)
@traced
@metrics.log_metrics
def lambda_handler(event: StartTaskInput, context: LambdaContext) -> StartSlot:
    request = start_request(event)
    tag_export(None, request.campaign_id)
    metrics.add_metric(name="StartAttempts", unit=MetricUnit.Count, value=1)
    outcome = start_export(
        request,
        lemlist=runtime.lemlist(),
        store=runtime.store(),
        requests=runtime.requests(),
        retention_days=settings.retention_days(),
        now=utc_now(),
    )
    answer = start_answer(outcome)
    record = outcome.record
    if record is None:
        logger.info("lemlist is busy; will try again", extra={"start": answer})
        return answer
    tag_export(record.export_id, record.campaign_id)
    if outcome.newly_started:
        metrics.add_metric(name="ExportsStarted", unit=MetricUnit.Count, value=1)
        logger.info("Export started", extra={"request_id": request.request_id})
        _tell_slack(record)
    return answer


def _tell_slack(record: ExportRecord) -> None:
    """Progress for the Slack command that asked, if one did: never worth failing the start."""
    try:
        posted = reply_in_slack(runtime.poster(), record, started_message(record))
    except Exception:
        logger.exception("Slack progress not posted")
        return
    if posted is not None and not posted.ok:
        logger.warning("Slack progress not posted", extra={"detail": posted.detail})
