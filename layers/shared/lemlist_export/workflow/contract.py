"""The contract between statemachine/export.asl.json and the Python steps, in one place.

The execution's state has one slot per step (`start`, `check`, `copy`, `announce`) and each
task writes only its own (its ResultPath); the ASL reads the paths typed here, and matches the
error names below. tests/template/test_workflow_contract.py reads the ASL and holds it to this
module: every path it reads exists here, every error it matches is a real exception class,
every Fail error is one the Announce step knows it handled.

Task inputs become the steps' typed requests here, and their outcomes become slots here: the
step modules (start, check, copy) never see an event's shape.

(No `from __future__ import annotations` here: TypedDict needs NotRequired evaluated to know
which keys are optional.)
"""

from typing import Any, Literal, NotRequired, TypedDict, cast

from lemlist_export.core.clock import parse_iso
from lemlist_export.records.record import ExportRecord
from lemlist_export.workflow.check import CheckOutcome, CheckRequest
from lemlist_export.workflow.copy import CopyOutcome, CopyRequest
from lemlist_export.workflow.start import StartOutcome, StartRequest
from lemlist_export.workflow.wait_policy import WaitPolicy

# The Fail states' errors: the execution ended through its own failure path, so the export was
# recorded and announced already (the watchdog skips these).
EXPORT_FAILED = "ExportFailed"
EXPORT_NOT_STARTED = "ExportNotStarted"
FAIL_ERRORS = frozenset({EXPORT_FAILED, EXPORT_NOT_STARTED})

# Errors the ASL's Pass states put in `failure` for an outcome no task raised.
START_PROTOCOL_ERROR = "StartProtocolError"
COPY_PROTOCOL_ERROR = "CopyProtocolError"
PASS_STATE_ERRORS = frozenset(
    {START_PROTOCOL_ERROR, COPY_PROTOCOL_ERROR, "LemlistExportError", "LemlistProtocolError"}
)


class Waits(TypedDict, total=False):
    """WaitPolicy as it travels in the state (WaitPolicy.to_input)."""

    firstWaitSeconds: int
    intervalSeconds: int
    maxIntervalSeconds: int
    waitGrowthPercent: int
    slowDownEverySeconds: int
    expireAfterSeconds: int
    maxChecks: int
    maxTransientErrors: int
    maxBackoffSeconds: int
    rateLimitWaitSeconds: int
    maxDeliveryAttempts: int
    deliveryRetrySeconds: int


class StartSlot(TypedDict):
    status: Literal["waiting", "retry", "started"]
    attempt: int
    transientErrors: NotRequired[int]
    nextAttemptInSeconds: NotRequired[int]
    note: NotRequired[str]
    # Once started: the export, and when we asked (the 2-hour expiry counts from here).
    exportId: NotRequired[str]
    startedAt: NotRequired[str]


class CheckSlot(TypedDict):
    status: str  # pending | done | error | whatever lemlist adds one day
    pollCount: int
    transientErrors: int
    nextCheckInSeconds: NotRequired[int]
    note: NotRequired[str]
    progress: NotRequired[str]
    fileSize: NotRequired[int | None]


class CopySlot(TypedDict):
    status: Literal["waiting", "retry", "delivered"]
    attempt: int
    retryInSeconds: NotRequired[int]
    note: NotRequired[str]
    s3Uri: NotRequired[str | None]
    bytes: NotRequired[int | None]
    sha256: NotRequired[str | None]


class Caught(TypedDict):
    """What a Catch (or a Pass state) puts in `failure`."""

    Error: str
    Cause: str


class AnnounceSlot(TypedDict):
    exportId: str
    status: str
    notifications: dict[str, str]


class ExecutionState(TypedDict):
    """The execution's input and, slot by slot, its state."""

    campaignId: str
    source: str
    waits: Waits
    start: StartSlot
    check: CheckSlot
    copy: CopySlot
    failure: NotRequired[Caught]
    announce: NotRequired[AnnounceSlot]


class StartTaskInput(TypedDict):
    requestId: str
    campaignId: str
    source: str
    waits: Waits
    previous: StartSlot


class CheckTaskInput(TypedDict):
    exportId: str
    campaignId: str
    startedAt: str
    waits: Waits
    previous: CheckSlot


class CopyTaskInput(TypedDict):
    exportId: str
    campaignId: str
    fileSize: int | None
    waits: Waits
    previous: CopySlot


class AnnounceTaskInput(TypedDict, total=False):
    exportId: str
    requestId: str
    campaignId: str
    source: str
    failure: Caught


# -- execution inputs -----------------------------------------------------------------------


def input_for_started(record: ExportRecord, waits: WaitPolicy, source: str) -> ExecutionState:
    """An execution for an export lemlist started already (the HTTP API did): it checks first."""
    return {
        "campaignId": record.campaign_id,
        "source": source,
        "waits": _waits(waits),
        "start": _started_slot(record, attempt=0),
        "check": _first_check(waits),
        "copy": {"status": "waiting", "attempt": 0},
    }


def input_to_copy_again(record: ExportRecord, waits: WaitPolicy, source: str) -> ExecutionState:
    """An execution for a failed export whose file lemlist still holds (a re-drive): its
    check slot already says `done`, so the state machine goes straight to the copy, which
    reads the download URL the record kept. No status check: lemlist forgets a status 2
    hours after the start, but keeps the file 24 hours."""
    return {
        "campaignId": record.campaign_id,
        "source": source,
        "waits": _waits(waits),
        "start": _started_slot(record, attempt=0),
        "check": {
            "status": "done",
            "pollCount": record.poll_count,
            "transientErrors": 0,
            "fileSize": record.file_size,
        },
        "copy": {"status": "waiting", "attempt": 0},
    }


def input_to_start(
    campaign_id: str, source: str, waits: WaitPolicy, delay: int = 0
) -> ExecutionState:
    """An execution whose Start step asks lemlist (Slack, schedules), after `delay` seconds."""
    return {
        "campaignId": campaign_id,
        "source": source,
        "waits": _waits(waits),
        "start": {"status": "waiting", "attempt": 0, "nextAttemptInSeconds": delay},
        "check": _first_check(waits),
        "copy": {"status": "waiting", "attempt": 0},
    }


def started_export_id(execution_input: dict[str, Any]) -> str | None:
    """The export an execution was launched for, if lemlist had started it by then (inputs of
    executions launched before the slots existed carry it at the top)."""
    start = execution_input.get("start")
    if isinstance(start, dict) and isinstance(start.get("exportId"), str):
        return str(start["exportId"])
    legacy = execution_input.get("exportId")
    return legacy if isinstance(legacy, str) else None


# -- Start ------------------------------------------------------------------------------------


def start_request(event: StartTaskInput) -> StartRequest:
    previous = event.get("previous") or {}
    return StartRequest(
        request_id=event["requestId"],
        campaign_id=event["campaignId"],
        source=event.get("source") or "schedule",
        waits=WaitPolicy.from_input(dict(event.get("waits") or {})),
        attempt=int(previous.get("attempt", 0)),
        transient_errors=int(previous.get("transientErrors", 0)),
    )


def start_answer(outcome: StartOutcome) -> StartSlot:
    if outcome.record is not None:
        return _started_slot(outcome.record, outcome.attempt)
    slot: StartSlot = {
        "status": "retry",
        "attempt": outcome.attempt,
        "transientErrors": outcome.transient_errors,
        "nextAttemptInSeconds": outcome.retry_in_seconds or 0,
    }
    if outcome.note:
        slot["note"] = outcome.note
    return slot


# -- Check ------------------------------------------------------------------------------------


def check_request(event: CheckTaskInput) -> CheckRequest:
    previous = event.get("previous") or {}
    return CheckRequest(
        export_id=event["exportId"],
        campaign_id=event["campaignId"],
        started_at=parse_iso(event["startedAt"]),
        policy=WaitPolicy.from_input(dict(event.get("waits") or {})),
        poll_count=int(previous.get("pollCount", 0)),
        transient_errors=int(previous.get("transientErrors", 0)),
    )


def check_answer(outcome: CheckOutcome) -> CheckSlot:
    slot: CheckSlot = {
        "status": outcome.status,
        "pollCount": outcome.poll_count,
        "transientErrors": outcome.transient_errors,
    }
    if outcome.next_check_in_seconds is not None:
        slot["nextCheckInSeconds"] = outcome.next_check_in_seconds
    if outcome.note:
        slot["note"] = outcome.note
    if outcome.progress:
        slot["progress"] = outcome.progress
    if outcome.status == "done":
        slot["fileSize"] = outcome.file_size
    return slot


# -- Copy -------------------------------------------------------------------------------------


def copy_request(event: CopyTaskInput) -> CopyRequest:
    size = event.get("fileSize")
    previous = event.get("previous") or {}
    return CopyRequest(
        export_id=event["exportId"],
        file_size=size if isinstance(size, int) and not isinstance(size, bool) else None,
        policy=WaitPolicy.from_input(dict(event.get("waits") or {})),
        attempts_so_far=int(previous.get("attempt", 0)),
    )


def copy_answer(outcome: CopyOutcome) -> CopySlot:
    if outcome.record is not None:
        record = outcome.record
        return {
            "status": "delivered",
            "attempt": outcome.attempt,
            "s3Uri": record.s3_uri,
            "bytes": record.bytes,
            "sha256": record.sha256,
        }
    slot: CopySlot = {
        "status": "retry",
        "attempt": outcome.attempt,
        "retryInSeconds": outcome.retry_in_seconds or 0,
    }
    if outcome.note:
        slot["note"] = outcome.note
    return slot


# -- plumbing ---------------------------------------------------------------------------------


def _waits(policy: WaitPolicy) -> Waits:
    return cast(Waits, policy.to_input())


def _first_check(waits: WaitPolicy) -> CheckSlot:
    return {
        "status": "pending",
        "pollCount": 0,
        "transientErrors": 0,
        "nextCheckInSeconds": waits.first_wait_seconds,
    }


def _started_slot(record: ExportRecord, attempt: int) -> StartSlot:
    # Our own clock, not lemlist's startedAt: the 2-hour expiry is measured from here.
    return {
        "status": "started",
        "attempt": attempt,
        "exportId": record.export_id,
        "startedAt": record.created_at,
    }
