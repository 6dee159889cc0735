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
from lemlist_export.core.errors import (
    CampaignNotFoundError,
    ExportExpiredError,
    LemlistError,
)
from lemlist_export.lemlist.client import LemlistClient
from lemlist_export.records.record import ExportRecord
from lemlist_export.workflow.contract import input_for_started
from lemlist_export.workflow.launch import STARTED, execution_arn, start_execution_once
from lemlist_export.workflow.wait_policy import WaitPolicy

if TYPE_CHECKING:
    from mypy_boto3_stepfunctions import SFNClient

RUNNING = "RUNNING"
PENDING_REDRIVE = "PENDING_REDRIVE"
ABORTED = "ABORTED"
MAX_SWEPT_NAMES = 5


@dataclass(frozen=True)
class ExecutionState:
    status: str  # RUNNING, SUCCEEDED, FAILED, TIMED_OUT, ABORTED, PENDING_REDRIVE
    stopped_at: datetime | None = None


@dataclass(frozen=True)
class OpenExport:
    record: ExportRecord
    opened_at: datetime  # when it became open (created, or re-opened by a copy-again retry)


class Executions(Protocol):
    def state(self, name: str) -> ExecutionState | None:
        """The named execution's state, None if there is none."""

    def resume(self, record: ExportRecord, name: str) -> bool:
        """Start an execution named `name` that polls `record`'s export; False if that name
        was used already (Step Functions keeps names 90 days)."""


class Lemlist(Protocol):
    def still_knows(self, record: ExportRecord) -> bool:
        """True while lemlist still answers the export's status; False (or ExportExpiredError)
        once it forgot it."""


class Records(Protocol):
    def reread(self, export_id: str) -> ExportRecord | None:
        """The record as it is now (a consistent read)."""

    def follow(self, export_id: str, execution_name: str) -> bool:
        """The open export is run by `execution_name` from now on; False if it ended."""

    def fail(self, record: ExportRecord, reason: str) -> None:
        """Record the failure (if the export is still open) and announce it."""


@dataclass
class SweepReport:
    open_exports: int = 0
    running: int = 0
    overdue: list[str] = field(default_factory=list)  # open longer than an export can take
    resumed: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    left_for_later: list[str] = field(default_factory=list)  # could not be judged this run


@dataclass(frozen=True)
class SweepPolicy:
    # Open this long with no running execution: an orphan (a start path takes seconds).
    orphan_after: timedelta = timedelta(minutes=10)
    # An execution that ended this recently is the watchdog's to finish (EventBridge retries).
    stopped_grace: timedelta = timedelta(minutes=30)
    # Open this long at all: more than an export can take (lemlist's 2 hours, then the copy).
    overdue_after: timedelta = timedelta(hours=3)


def sweep(
    open_exports: Iterable[OpenExport],
    *,
    executions: Executions,
    lemlist: Lemlist,
    records: Records,
    now: datetime,
    policy: SweepPolicy = SweepPolicy(),
    on_error: Callable[[ExportRecord, Exception], None] = lambda record, exc: None,
) -> SweepReport:
    """Look at each open export; resume or fail the orphans. One export that cannot be
    judged (AWS or lemlist failing) is left for the next run, never stops the others."""
    report = SweepReport()
    for item in open_exports:
        report.open_exports += 1
        age = now - item.opened_at
        if age >= policy.overdue_after:
            report.overdue.append(item.record.export_id)
        if age < policy.orphan_after:
            continue
        try:
            _judge(item.record, executions, lemlist, records, now, policy, report)
        except Exception as exc:
            report.left_for_later.append(item.record.export_id)
            on_error(item.record, exc)
    return report


def _judge(
    listed: ExportRecord,
    executions: Executions,
    lemlist: Lemlist,
    records: Records,
    now: datetime,
    policy: SweepPolicy,
    report: SweepReport,
) -> None:
    name = listed.execution_name or listed.export_id
    state = executions.state(name)
    if state is not None and state.status in (RUNNING, PENDING_REDRIVE):
        report.running += 1
        return
    if state is not None and (
        state.stopped_at is None or now - state.stopped_at < policy.stopped_grace
    ):
        return  # just ended: the watchdog finishes it (and EventBridge retries it for a day)
    # Read again after asking about the execution: it may have ended the export since.
    record = records.reread(listed.export_id)
    if record is None or record.is_final:
        return
    if state is not None and state.status == ABORTED:
        # Someone stopped it: not for the sweeper to undo.
        records.fail(record, _reason("its workflow was stopped (ABORTED)", known=None))
        report.failed.append(record.export_id)
        return
    try:
        known = lemlist.still_knows(record)
    except (ExportExpiredError, CampaignNotFoundError):
        known = False
    except LemlistError:
        report.left_for_later.append(record.export_id)  # lemlist unreachable: next run
        return
    how = (
        "its status poller never started"
        if state is None
        else f"its workflow ended ({state.status}) without finishing it"
    )
    if not known:
        records.fail(record, _reason(how, known=False))
        report.failed.append(record.export_id)
        return
    if state is None and executions.resume(record, name):
        report.resumed.append(record.export_id)  # the execution it should have had
        return
    for n in range(1, MAX_SWEPT_NAMES + 1):
        swept = f"{record.export_id}-swept-{n}"
        if executions.state(swept) is not None:
            continue
        # The record names its execution before it starts, so the watchdog follows it.
        if not records.follow(record.export_id, swept):
            return
        if executions.resume(record, swept):
            report.resumed.append(record.export_id)
            return
    records.fail(record, _reason(how, known=True))
    report.failed.append(record.export_id)


def _reason(how: str, *, known: bool | None) -> str:
    if known is False:
        return (
            f"The export was left unfinished ({how}) and lemlist no longer has it: start a new "
            "export."
        )
    if known is True:
        return (
            f"The export was left unfinished ({how}) and was resumed {MAX_SWEPT_NAMES} times "
            "already: retry it or start a new export."
        )
    return f"The export was left unfinished ({how}): retry it or start a new export."


class StepFunctionsExecutions:
    """`Executions` on Step Functions: the state machine's executions by name."""

    def __init__(self, stepfunctions: SFNClient, state_machine_arn: str, waits: WaitPolicy) -> None:
        self._sfn = stepfunctions
        self._machine = state_machine_arn
        self._waits = waits

    def state(self, name: str) -> ExecutionState | None:
        try:
            with transient_aws_errors("Step Functions DescribeExecution"):
                answer = self._sfn.describe_execution(
                    executionArn=execution_arn(self._machine, name)
                )
        except ClientError as exc:
            if error_code(exc) == "ExecutionDoesNotExist":
                return None
            raise
        return ExecutionState(str(answer["status"]), answer.get("stopDate"))

    def resume(self, record: ExportRecord, name: str) -> bool:
        execution_input = input_for_started(record, self._waits, record.source)
        return start_execution_once(self._sfn, self._machine, name, execution_input) == STARTED


class LemlistLookup:
    """`Lemlist` on the lemlist client: does lemlist still answer the export's status?"""

    def __init__(self, client: LemlistClient) -> None:
        self._client = client

    def still_knows(self, record: ExportRecord) -> bool:
        # Any answer (pending, done, error) is for the resumed execution to act on; lemlist
        # answers 404 once it forgot the export (ExportExpiredError).
        self._client.get_export_status(record.campaign_id, record.export_id)
        return True
