"""Re-drive a failed export: copy its file again while lemlist still holds it, else export
the campaign anew.

`POST /exports/{exportId}/retry` and Slack's `retry axp_...` come here. Only a failed export
can be retried. If its record says lemlist had finished it (the download URL was kept), the
failure was not that the file is gone, and lemlist's 24-hour download window has at least
`COPY_MARGIN` left, the retry copies that same file again (COPY_AGAIN): the record goes back to
pending and an execution goes straight to the copy. Otherwise it starts a new lemlist export of
the same campaign (NEW_EXPORT): the new record says `retryOf`, the failed one `retriedAs`.

Each retry is numbered (`retryCount`) and runs as the execution `<exportId>-retry-<n>`, claimed
by a conditional write and started with `start_execution_once`: two identical calls, a Slack
command delivered twice, or a caller retrying after a timeout start one execution, and the
repeat is answered like the first (`replay`). A retry that ended (failed again, or refused by
lemlist) may be retried again, as retry n+1.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from lemlist_export.core.clock import iso, parse_iso
from lemlist_export.core.errors import (
    AwsTransientError,
    ExportError,
    InvalidTransitionError,
    LemlistTransientError,
    RateLimitedError,
)
from lemlist_export.core.humanize import format_duration
from lemlist_export.lemlist.client import LemlistClient
from lemlist_export.records.record import (
    COPY_AGAIN,
    DELIVERED,
    DELIVERING,
    FAILED,
    NEW_EXPORT,
    PENDING,
    ExportRecord,
)
from lemlist_export.records.requests import RequestStore, new_request
from lemlist_export.records.store import ExportStore
from lemlist_export.workflow.contract import (
    ExecutionState,
    input_for_started,
    input_to_copy_again,
    input_to_start,
)
from lemlist_export.workflow.launch import STARTED, start_execution_once
from lemlist_export.workflow.start import StartRequest, start_export
from lemlist_export.workflow.wait_policy import WaitPolicy

if TYPE_CHECKING:
    from mypy_boto3_stepfunctions import SFNClient

# lemlist deletes a finished export's file 24 hours after it is done.
FILE_LIFETIME = timedelta(hours=24)
# A copy retried this close to the deletion could lose the race: export anew instead.
COPY_MARGIN = timedelta(hours=1)
# Failures that say the file itself is gone: copying again cannot help.
FILE_GONE = frozenset({"DownloadUnavailableError"})
# Step Functions names are at most 80 characters; lemlist ids are at most 64.
_NAME_MAX = 80


class RetryRefusedError(InvalidTransitionError):
    """This export cannot be retried (it is not failed, or a retry already replaced it)."""

    def __init__(self, message: str, record: ExportRecord) -> None:
        super().__init__(message)
        self.record = record


@dataclass(frozen=True)
class RetryAsker:
    """Who asks for the retry: `api` or `slack`, and where a Slack command wants the answer."""

    source: str
    requested_by: str | None = None
    # A credential for 30 minutes: never shown.
    slack_response_url: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class RetryPlan:
    retry: int
    action: str  # COPY_AGAIN | NEW_EXPORT
    execution_name: str
    reason: str  # why this action, for people


@dataclass(frozen=True)
class RetryOutcome:
    """The retry under way: the failed export as it is now, which retry, how it goes on, and
    the export to follow (the same one when copying again, the new one once lemlist started it;
    None while the execution is still asking lemlist)."""

    retried: ExportRecord
    retry: int
    action: str
    execution_name: str
    reason: str
    follow: ExportRecord | None
    # True when this call repeated a retry already under way: nothing new was started.
    replay: bool = False
    # True when this call had lemlist start the new export (NEW_EXPORT, HTTP API).
    newly_started: bool = False


def retry_execution_name(export_id: str, retry: int) -> str:
    return f"{export_id}-retry-{retry}"[:_NAME_MAX]


def plan_retry(record: ExportRecord, now: datetime) -> RetryPlan:
    """How the next retry of a failed export goes on, and why."""
    retry = record.retry_count + 1
    name = retry_execution_name(record.export_id, retry)
    held, reason = file_still_held(record, now)
    return RetryPlan(retry, COPY_AGAIN if held else NEW_EXPORT, name, reason)


def file_still_held(record: ExportRecord, now: datetime) -> tuple[bool, str]:
    """Whether lemlist still holds the export's file, as far as the record tells, and why."""
    if not record.download_url:
        return False, "lemlist never finished this export, so a new one is started"
    if record.failure_type in FILE_GONE:
        return False, "lemlist no longer has the file, so a new export is started"
    # The status check that saw it done: lemlist finished it at most one check interval
    # before (COPY_MARGIN absorbs that).
    done_at = record.last_polled_at or record.created_at
    try:
        deleted_at = parse_iso(done_at) + FILE_LIFETIME
    except ValueError:
        return False, "the record does not say when lemlist finished, so a new export is started"
    left = deleted_at - now
    if left < COPY_MARGIN:
        return False, (
            "lemlist deletes a file 24 hours after it is ready, and this one is too close to "
            "that (or past it), so a new export is started"
        )
    return True, (
        f"lemlist still holds the file for about {format_duration(left.total_seconds())}, "
        "so it is copied again"
    )


def redrive_export(
    export_id: str,
    *,
    asker: RetryAsker,
    store: ExportStore,
    requests: RequestStore,
    stepfunctions: SFNClient,
    state_machine_arn: str,
    waits: WaitPolicy,
    now: datetime,
    lemlist: Callable[[], LemlistClient] | None = None,
    retention_days: int = 90,
) -> RetryOutcome:
    """Retry failed export `export_id` once, or answer the retry already under way.

    With `lemlist` (the HTTP API: a client, built only when a new export is started), a new
    export is started here, so that the answer names it; without (Slack, which must answer
    within 3 s), the execution's Start step starts it.
    Raises ExportNotFoundError (unknown id), RetryRefusedError (not retryable), lemlist's
    errors while starting a new export, and AwsTransientError.
    """
    launcher = _Launcher(
        asker,
        store,
        requests,
        stepfunctions,
        state_machine_arn,
        waits,
        now,
        lemlist,
        retention_days,
    )
    record = store.get(export_id)
    for _ in range(3):
        under_way = launcher.under_way(record)
        if under_way is not None:
            return under_way
        if record.status != FAILED:
            raise RetryRefusedError(_not_failed(record), record)
        plan = plan_retry(record, now)
        if plan.action == NEW_EXPORT:
            # Before the claim: whoever runs the start reads the re-drive from it.
            launcher.save_request(record, plan)
        claimed = store.claim_retry(
            export_id,
            retry=plan.retry,
            action=plan.action,
            entry=_history_entry(record, plan, asker, now),
            slack_response_url=asker.slack_response_url,
        )
        if claimed:
            return launcher.launch(store.get(export_id), plan)
        record = store.get(export_id)  # another call claimed it: answer that retry
    raise AwsTransientError(
        f"Export {export_id} changed under every attempt to retry it; try again", code="Conflict"
    )


@dataclass(frozen=True)
class _Launcher:
    asker: RetryAsker
    store: ExportStore
    requests: RequestStore
    stepfunctions: SFNClient
    state_machine_arn: str
    waits: WaitPolicy
    now: datetime
    lemlist: Callable[[], LemlistClient] | None
    retention_days: int

    # -- a new retry ------------------------------------------------------------------

    def launch(self, record: ExportRecord, plan: RetryPlan) -> RetryOutcome:
        if plan.action == COPY_AGAIN:
            self._start_copy_again(record, plan.execution_name, replay=False)
            return self._outcome(record, plan.reason, follow=record)
        return self._follow_new_export(record, plan.reason, replay=False)

    def save_request(self, record: ExportRecord, plan: RetryPlan) -> None:
        self.requests.save(
            new_request(
                plan.execution_name,
                record.campaign_id,
                source=self.asker.source,
                now=self.now,
                requested_by=self.asker.requested_by,
                slack_response_url=self.asker.slack_response_url,
                retry_of=record.export_id,
                callback_url=record.callback_url,
            ),
            self.now,
        )

    # -- a retry already under way ----------------------------------------------------

    def under_way(self, record: ExportRecord) -> RetryOutcome | None:
        """The outcome of the record's latest retry if it has not ended (its execution is
        made sure of: a call that died before starting it is finished here); None if there
        is none, or it ended; RetryRefusedError if a later export replaced this one."""
        if record.retry_count == 0:
            return None
        reason = _last_reason(record)
        if record.retry_action == COPY_AGAIN:
            if record.status in (PENDING, DELIVERING):
                self._start_copy_again(record, _name(record), replay=True)
                return self._outcome(record, reason, follow=record, replay=True)
            if record.status == DELIVERED:
                raise RetryRefusedError(
                    f"Export {record.export_id} was delivered by its retry "
                    f"{record.retry_count}; there is nothing to retry",
                    record,
                )
            return None
        if record.retried_as:
            new = self.store.find(record.retried_as)
            if new is None:
                return None  # the new export's record expired: retry this one afresh
            if not new.is_final:
                self._launch(_name(record), input_for_started(new, self.waits, new.source))
                return self._outcome(record, reason, follow=new, replay=True)
            raise RetryRefusedError(_replaced(record, new), record)
        refused = self.store.find(_name(record))
        if refused is not None and refused.is_final:
            return None  # lemlist refused to start the new export: this retry ended
        return self._follow_new_export(record, reason, replay=True)

    # -- plumbing ---------------------------------------------------------------------

    def _follow_new_export(
        self, record: ExportRecord, reason: str, *, replay: bool
    ) -> RetryOutcome:
        name = _name(record)
        if self.lemlist is None:
            self._launch(name, input_to_start(record.campaign_id, self.asker.source, self.waits))
            return self._outcome(record, reason, follow=None, replay=replay)
        new, newly_started = self._start_new_export(record, name)
        self._launch_or_fail(
            name,
            input_for_started(new, self.waits, new.source),
            new.export_id,
            "lemlist started the export but its status poller could not start ({})",
            replay=replay,
        )
        outcome = self._outcome(self.store.get(record.export_id), reason, follow=new, replay=replay)
        return replace(outcome, newly_started=newly_started)

    def _start_new_export(self, record: ExportRecord, name: str) -> tuple[ExportRecord, bool]:
        """lemlist's start, once per retry: the request remembers the export it gave."""
        assert self.lemlist is not None
        started = start_export(
            StartRequest(name, record.campaign_id, self.asker.source, self.waits),
            lemlist=self.lemlist(),
            store=self.store,
            requests=self.requests,
            retention_days=self.retention_days,
            now=self.now,
        )
        if started.record is None:
            wait = started.retry_in_seconds or 1
            if started.rate_limited:
                raise RateLimitedError(started.note, retry_after=wait)
            raise LemlistTransientError(started.note)
        return started.record, started.newly_started

    def _start_copy_again(self, record: ExportRecord, name: str, *, replay: bool) -> None:
        # Failed again when it cannot start, so that it can be retried again (the next retry).
        self._launch_or_fail(
            name,
            input_to_copy_again(record, self.waits, self.asker.source),
            record.export_id,
            "The retry could not start its execution ({}); retry again",
            replay=replay,
        )

    def _launch_or_fail(
        self,
        name: str,
        execution_input: ExecutionState,
        export_id: str,
        reason: str,
        *,
        replay: bool,
    ) -> None:
        """Launch the execution; when it cannot start, `export_id` is marked failed with
        `reason` (the error in its `{}`) and the error raised. A replay only raises: the first
        call may have started it, and a later repeat will know."""
        try:
            self._launch(name, execution_input)
        except (ClientError, BotoCoreError, ExportError) as exc:
            if not replay:
                self.store.mark_failed(export_id, "PollerStartError", reason.format(exc))
            raise

    def _launch(self, name: str, execution_input: ExecutionState) -> bool:
        outcome = start_execution_once(
            self.stepfunctions, self.state_machine_arn, name, execution_input
        )
        return outcome == STARTED

    def _outcome(
        self,
        record: ExportRecord,
        reason: str,
        *,
        follow: ExportRecord | None,
        replay: bool = False,
    ) -> RetryOutcome:
        return RetryOutcome(
            retried=record,
            retry=record.retry_count,
            action=record.retry_action or NEW_EXPORT,
            execution_name=_name(record),
            reason=reason,
            follow=follow,
            replay=replay,
        )


def _name(record: ExportRecord) -> str:
    return retry_execution_name(record.export_id, record.retry_count)


def _history_entry(
    record: ExportRecord, plan: RetryPlan, asker: RetryAsker, now: datetime
) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "retry": plan.retry,
        "action": plan.action,
        "reason": plan.reason,
        "executionName": plan.execution_name,
        "requestedAt": iso(now),
        "source": asker.source,
        "failureType": record.failure_type,
        "failureReason": record.failure_reason,
        "failedAt": record.failed_at,
    }
    if asker.requested_by:
        entry["requestedBy"] = asker.requested_by
    return {k: v for k, v in entry.items() if v is not None}


def _last_reason(record: ExportRecord) -> str:
    last = record.retry_history[-1] if record.retry_history else {}
    return str(last.get("reason") or "")


def _not_failed(record: ExportRecord) -> str:
    if record.status == DELIVERED:
        return f"Export {record.export_id} was delivered; only a failed export can be retried"
    return (
        f"Export {record.export_id} is {record.status}, still under way; only a failed export "
        "can be retried"
    )


def _replaced(record: ExportRecord, new: ExportRecord) -> str:
    if new.status == DELIVERED:
        return (
            f"Export {record.export_id} was already retried as {new.export_id}, which was "
            "delivered; there is nothing to retry"
        )
    return (
        f"Export {record.export_id} was already retried as {new.export_id}, which "
        f"{new.status} too: retry {new.export_id} instead"
    )
