"""The sweeper, every 15 minutes: finishes exports left open with no running execution
(resumes the poll while lemlist still knows the export, else fails and announces it), and
publishes OverdueExports (open longer than an export can take), which an alarm watches."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from lemlist_export.core.clock import iso, utc_now
from lemlist_export.core.observability import logger, metrics, tracer
from lemlist_export.records.record import ExportRecord
from lemlist_export.wiring import runtime, settings
from lemlist_export.workflow.announce import announce_export
from lemlist_export.workflow.failure_reasons import Failure
from lemlist_export.workflow.sweep import (
    LemlistLookup,
    StepFunctionsExecutions,
    SweepPolicy,
    sweep,
)

POLICY = SweepPolicy()


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    store = runtime.store()
    now = utc_now()

    def fail(record: ExportRecord, reason: str) -> None:
        failure = Failure("OrphanedExport", reason)
        announce_export(record.export_id, failure=failure, store=store, notifier=runtime.notifier)

    executions = StepFunctionsExecutions(
        runtime.stepfunctions(),
        settings.required("STATE_MACHINE_ARN"),
        settings.wait_policy(),
        store.follow_execution,
    )
    # Only exports open longer than a start takes can be orphans: the query skips the rest,
    # except for counting the overdue ones, which are older still.
    report = sweep(
        store.open_exports(iso(now - POLICY.orphan_after)),
        executions=executions,
        lemlist=LemlistLookup(runtime.lemlist()),
        fail=fail,
        now=now,
        policy=POLICY,
    )
    metrics.add_metric(name="OverdueExports", unit=MetricUnit.Count, value=len(report.overdue))
    metrics.add_metric(name="ExportsResumed", unit=MetricUnit.Count, value=len(report.resumed))
    metrics.add_metric(name="OrphansFailed", unit=MetricUnit.Count, value=len(report.failed))
    answer = {
        "openExports": report.open_exports,
        "running": report.running,
        "overdue": len(report.overdue),
        "overdueExports": report.overdue,
        "resumed": report.resumed,
        "failed": report.failed,
        "leftForLater": report.left_for_later,
    }
    logger.info("Swept", extra={"result": answer})
    return answer
