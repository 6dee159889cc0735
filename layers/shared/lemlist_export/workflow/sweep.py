"""The sweeper: no export stays open without something finishing it.

An export is open (pending or delivering) while its execution runs. Two things can leave
one open with no execution: the start path dying between lemlist's answer and
StartExecution (the record exists, the execution never started), and an execution that
ended without its own failure path while the watchdog's event was lost for good. On a
schedule the sweeper looks at every export open for longer than a few minutes whose
execution is not running, and finishes it: it resumes the poll when lemlist still knows
the export (a new execution, started once), or records it as failed with the reason and
announces it. It also counts the exports open for longer than an export can take
(`OverdueExports`, which an alarm watches).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Protocol

from botocore.exceptions import ClientError

from lemlist_export.core.aws_errors import error_code, transient_aws_errors
from lemlist_export.core.clock import parse_iso
from lemlist_export.core.errors import (
    CampaignNotFoundError,
    ExportExpiredError,
    LemlistError,
)
from lemlist_export.lemlist.client import LemlistClient
from lemlist_export.records.record import ExportRecord
from lemlist_export.workflow.contract import input_for_started
from lemlist_export.workflow.launch import execution_arn, start_execution_once
from lemlist_export.workflow.wait_policy import WaitPolicy

if TYPE_CHECKING:
    from mypy_boto3_stepfunctions import SFNClient

RUNNING = "RUNNING"


class Executions(Protocol):
    def status(self, name: str) -> str | None:
        """The named execution's status (RUNNING, SUCCEEDED, FAILED, ...), None if none."""

    def resume(self, record: ExportRecord, name: str) -> None:
        """Start an execution named `name` that polls `record`'s export (once per name)."""


class Lemlist(Protocol):
    def still_knows(self, record: ExportRecord) -> bool:
        """True while lemlist still answers the export's status; False (or ExportExpiredError)
        once it forgot it."""


@dataclass
class SweepReport:
    open_exports: int = 0
    running: int = 0
    overdue: list[str] = field(default_factory=list)  # open longer than an export can take
    resumed: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    left_for_later: list[str] = field(default_factory=list)  # lemlist could not be asked


@dataclass(frozen=True)
class SweepPolicy:
    # Open this long with no running execution: an orphan (a start path takes seconds).
    orphan_after: timedelta = timedelta(minutes=10)
    # Open this long at all: more than an export can take (lemlist's 2 hours, then the copy).
    overdue_after: timedelta = timedelta(hours=3)


def sweep(
    open_exports: Iterable[ExportRecord],
    *,
    executions: Executions,
    lemlist: Lemlist,
    fail: Callable[[ExportRecord, str], None],
    now: datetime,
    policy: SweepPolicy = SweepPolicy(),
) -> SweepReport:
    """Look at each open export; resume or fail the orphans. `fail` records and announces."""
    report = SweepReport()
    for record in open_exports:
        report.open_exports += 1
        age = now - parse_iso(record.created_at)
        if age >= policy.overdue_after:
            report.overdue.append(record.export_id)
        if age < policy.orphan_after:
            continue
        name = record.execution_name or record.export_id
        status = executions.status(name)
        if status == RUNNING:
            report.running += 1
            continue
        _finish_orphan(record, name, status, executions, lemlist, fail, report)
    return report


def _finish_orphan(
    record: ExportRecord,
    name: str,
    status: str | None,
    executions: Executions,
    lemlist: Lemlist,
    fail: Callable[[ExportRecord, str], None],
    report: SweepReport,
) -> None:
    how = (
        "its status poller never started"
        if status is None
        else f"its workflow ended ({status}) without finishing it"
    )
    try:
        known = lemlist.still_knows(record)
    except (ExportExpiredError, CampaignNotFoundError):
        known = False
    except LemlistError:
        report.left_for_later.append(record.export_id)  # lemlist unreachable: next sweep
        return
    if known and status is None:
        # The execution this export should have had: the same name, started once.
        executions.resume(record, name)
        report.resumed.append(record.export_id)
        return
    if known:
        # The name is spent (Step Functions keeps names 90 days): a new one, still once.
        executions.resume(record, f"{record.export_id}-swept")
        report.resumed.append(record.export_id)
        return
    fail(
        record,
        f"The export was left unfinished ({how}) and lemlist no longer has it: start a new export.",
    )
    report.failed.append(record.export_id)


class StepFunctionsExecutions:
    """`Executions` on Step Functions: the state machine's executions by name."""

    def __init__(
        self,
        stepfunctions: SFNClient,
        state_machine_arn: str,
        waits: WaitPolicy,
        record_name: Callable[[str, str], None],
    ) -> None:
        self._sfn = stepfunctions
        self._machine = state_machine_arn
        self._waits = waits
        self._record_name = record_name  # (export id, execution name): the record follows it

    def status(self, name: str) -> str | None:
        try:
            with transient_aws_errors("Step Functions DescribeExecution"):
                answer = self._sfn.describe_execution(
                    executionArn=execution_arn(self._machine, name)
                )
        except ClientError as exc:
            if error_code(exc) == "ExecutionDoesNotExist":
                return None
            raise
        return str(answer["status"])

    def resume(self, record: ExportRecord, name: str) -> None:
        execution_input = input_for_started(record, self._waits, record.source)
        start_execution_once(self._sfn, self._machine, name, execution_input)
        if name != (record.execution_name or record.export_id):
            self._record_name(record.export_id, name)


class LemlistLookup:
    """`Lemlist` on the lemlist client: does lemlist still answer the export's status?"""

    def __init__(self, client: LemlistClient) -> None:
        self._client = client

    def still_knows(self, record: ExportRecord) -> bool:
        # Any answer (pending, done, error) is for the resumed execution to act on; lemlist
        # answers 404 once it forgot the export (ExportExpiredError).
        self._client.get_export_status(record.campaign_id, record.export_id)
        return True
