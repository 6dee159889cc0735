"""The sweeper, every 15 minutes: finishes exports left open with no running execution
(resumes the poll while lemlist still knows the export, else fails and announces it), and
publishes OverdueExports (open longer than an export can take), which an alarm watches."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from lemlist_export.core.clock import iso, parse_iso, utc_now
from lemlist_export.core.observability import logger, metrics, traced
from lemlist_export.records.record import ExportRecord
from lemlist_export.records.store import ExportStore
from lemlist_export.wiring import runtime, settings
from lemlist_export.workflow.announce import announce_export
from lemlist_export.workflow.sweep import (
    LemlistLookup,
    OpenExport,
    StepFunctionsExecutions,
    SweepPolicy,
    sweep,
)

POLICY = SweepPolicy()


class StoredRecords:
    """`Records` on the store: re-read, follow a new execution, fail and announce once."""

    def __init__(self, store: ExportStore) -> None:
        self._store = store

    def reread(self, export_id: str) -> ExportRecord | None:
        return self._store.find(export_id)

    def follow(self, export_id: str, execution_name: str) -> bool:
        return self._store.follow_execution(export_id, execution_name)

    def fail(self, record: ExportRecord, reason: str) -> None:
        # Announced only by the run that failed it: an export that ended meanwhile is not.
        if self._store.mark_failed(record.export_id, "OrphanedExport", reason):
            announce_export(
                record.export_id, failure=None, store=self._store, notifier=runtime.notifier
            )


def _policy(event: dict[str, Any]) -> SweepPolicy:
    """The schedule sends no input: the defaults. Run by hand, the event may shorten the
    waits: {"orphanAfterSeconds": 0, "stoppedGraceSeconds": 0} sweeps every open export
    whose execution is not running, now."""
    waits = {}
    for key, field_name in (
        ("orphanAfterSeconds", "orphan_after"),
        ("stoppedGraceSeconds", "stopped_grace"),
    ):
        value = event.get(key) if isinstance(event, dict) else None
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            waits[field_name] = timedelta(seconds=value)
    return dataclasses.replace(POLICY, **waits)


def _not_judged(record: ExportRecord, exc: Exception) -> None:
    logger.warning(
        "Could not sweep an export this run",
        extra={"export_id": record.export_id, "error": type(exc).__name__, "detail": str(exc)},
    )


@logger.inject_lambda_context(clear_state=True)
@traced
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    store = runtime.store()
    now = utc_now()
    policy = _policy(event)
    executions = StepFunctionsExecutions(
        runtime.stepfunctions(), settings.required("STATE_MACHINE_ARN"), settings.wait_policy()
    )
    # Only exports open longer than a start takes can be orphans: the query skips the rest
    # (the overdue ones are older still).
    listed = store.open_exports(iso(now - policy.orphan_after))
    report = sweep(
        (OpenExport(record, parse_iso(opened)) for record, opened in listed),
        executions=executions,
        lemlist=LemlistLookup(runtime.lemlist()),
        records=StoredRecords(store),
        now=now,
        policy=policy,
        on_error=_not_judged,
    )
    metrics.add_metric(name="OverdueExports", unit=MetricUnit.Count, value=len(report.overdue))
    metrics.add_metric(name="ExportsResumed", unit=MetricUnit.Count, value=len(report.resumed))
    metrics.add_metric(name="OrphansFailed", unit=MetricUnit.Count, value=len(report.failed))
    metrics.add_metric(
        name="SweepLeftForLater", unit=MetricUnit.Count, value=len(report.left_for_later)
    )
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
