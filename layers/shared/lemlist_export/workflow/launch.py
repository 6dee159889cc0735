"""Start an export: ask lemlist, record it, hand it to the state machine.

The record is written before the execution starts, and the execution is named after the
export id, so a retried StartExecution cannot run two pollers for one export. lemlist's
start is not idempotent (every call is a new export): it is called exactly once here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from lemlist_export.core.aws_errors import error_code, transient_aws_errors
from lemlist_export.core.errors import AwsTransientError, ExportError
from lemlist_export.core.identifiers import require_lemlist_id
from lemlist_export.lemlist.client import LemlistClient
from lemlist_export.records.new import new_record
from lemlist_export.records.record import ExportRecord
from lemlist_export.records.store import ExportStore
from lemlist_export.workflow.contract import ExecutionState, input_for_started
from lemlist_export.workflow.wait_policy import WaitPolicy

if TYPE_CHECKING:
    from mypy_boto3_stepfunctions import SFNClient


class PollerStartError(ExportError):
    """lemlist started the export but the state machine could not be started."""

    def __init__(self, message: str, record: ExportRecord) -> None:
        super().__init__(message)
        self.record = record


class UnrecordedExportError(ExportError):
    """lemlist started the export but its record could not be written (DynamoDB failing)."""

    def __init__(self, message: str, export_id: str) -> None:
        super().__init__(message)
        self.export_id = export_id


@dataclass(frozen=True)
class LaunchedExport:
    record: ExportRecord
    execution_arn: str


STARTED = "started"
ALREADY_STARTED = "alreadyStarted"


def start_execution_once(
    stepfunctions: SFNClient,
    state_machine_arn: str,
    name: str,
    execution_input: ExecutionState,
    *,
    look_first: bool = False,
) -> str:
    """Start the execution named `name` unless it exists: `STARTED` or `ALREADY_STARTED`.

    The one way every trigger starts an execution. The name makes it once: Step Functions
    refuses a name already used (ExecutionAlreadyExists), and answers a repeat of a running
    execution with the same input as if it started it. `look_first` asks first
    (DescribeExecution), for a caller that must tell a repeat from a first start even then (a
    schedule's duplicate firing). Throttling and AWS failures raise AwsTransientError.
    """
    if look_first and _exists(stepfunctions, execution_arn(state_machine_arn, name)):
        return ALREADY_STARTED
    try:
        with transient_aws_errors("Step Functions StartExecution"):
            stepfunctions.start_execution(
                stateMachineArn=state_machine_arn, name=name, input=json.dumps(execution_input)
            )
    except ClientError as exc:
        if error_code(exc) == "ExecutionAlreadyExists":
            return ALREADY_STARTED
        raise
    return STARTED


def _exists(stepfunctions: SFNClient, arn: str) -> bool:
    try:
        with transient_aws_errors("Step Functions DescribeExecution"):
            stepfunctions.describe_execution(executionArn=arn)
    except ClientError as exc:
        if error_code(exc) == "ExecutionDoesNotExist":
            return False
        raise
    return True


def execution_arn(state_machine_arn: str, name: str) -> str:
    """The ARN of the execution of `state_machine_arn` named `name`."""
    return state_machine_arn.replace(":stateMachine:", ":execution:") + f":{name}"


def launch_export(
    campaign_id: str,
    *,
    source: str,
    lemlist: LemlistClient,
    store: ExportStore,
    stepfunctions: SFNClient,
    state_machine_arn: str,
    waits: WaitPolicy,
    retention_days: int,
    now: datetime,
    callback_url: str | None = None,
) -> LaunchedExport:
    require_lemlist_id(campaign_id, "campaignId")
    status = lemlist.start_export(campaign_id)
    record = new_record(
        status, source=source, now=now, retention_days=retention_days, callback_url=callback_url
    )
    try:
        store.create(record)
    except AwsTransientError as exc:
        raise UnrecordedExportError(
            f"lemlist started export {record.export_id} but it could not be recorded ({exc}); "
            "nothing will deliver it",
            record.export_id,
        ) from None
    try:
        start_execution_once(
            stepfunctions,
            state_machine_arn,
            record.export_id,
            input_for_started(record, waits, source),
        )
    except (ClientError, BotoCoreError, AwsTransientError) as exc:
        code = exc.code if isinstance(exc, AwsTransientError) else _code(exc)
        reason = f"lemlist started the export but its status poller could not start ({code})"
        store.mark_failed(record.export_id, "PollerStartError", reason)
        raise PollerStartError(reason, store.get(record.export_id)) from None
    return LaunchedExport(record, execution_arn(state_machine_arn, record.export_id))


def _code(exc: ClientError | BotoCoreError) -> str:
    return error_code(exc) if isinstance(exc, ClientError) else type(exc).__name__
