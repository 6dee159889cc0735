"""One look at an export's status: record it, and say what the state machine does next.

A 429 or a passing lemlist outage is not a failure: the check answers `pending` with a wait
(at least Retry-After, or a growing backoff) and the state machine's Wait state honours it.
Only what retrying cannot fix raises, and the state machine's Catch turns that into a
failed, announced export.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from lemlist_export.core.errors import (
    ExportExpiredError,
    LemlistProtocolError,
    LemlistTransientError,
    RateLimitedError,
)
from lemlist_export.core.humanize import format_duration
from lemlist_export.lemlist.client import LemlistClient
from lemlist_export.lemlist.status import DONE, PENDING, ExportStatus
from lemlist_export.records.store import ExportStore
from lemlist_export.workflow.wait_policy import WaitPolicy


@dataclass(frozen=True)
class CheckRequest:
    export_id: str
    campaign_id: str
    started_at: datetime
    policy: WaitPolicy
    poll_count: int = 0
    transient_errors: int = 0


@dataclass(frozen=True)
class CheckOutcome:
    """What one look found: lemlist's status (`pending` with the wait before the next look,
    `done` with the file's size, or whatever else lemlist said), and the loop's counters."""

    status: str
    poll_count: int
    transient_errors: int = 0
    next_check_in_seconds: int | None = None
    note: str = ""
    progress: str = ""
    file_size: int | None = None


def check_export(
    request: CheckRequest, *, lemlist: LemlistClient, store: ExportStore, now: datetime
) -> CheckOutcome:
    """The state machine's next move; raises only what retrying cannot fix."""
    policy = request.policy
    elapsed = (now - request.started_at).total_seconds()
    polls = request.poll_count + 1
    if polls > policy.max_checks:
        raise ExportExpiredError(
            f"lemlist was still preparing export {request.export_id} after {polls - 1} status "
            f"checks over {format_duration(elapsed)}; giving up"
        )
    try:
        status = lemlist.get_export_status(request.campaign_id, request.export_id)
    except RateLimitedError as exc:
        wait = policy.after_rate_limit(exc.retry_after, policy.next_check(elapsed))
        return _pending(polls, request.transient_errors, wait, note=str(exc))
    except (LemlistTransientError, LemlistProtocolError) as exc:
        # A 5xx, a broken connection, or an answer that cannot be read (an HTML error page,
        # not JSON, an unexpected shape): lemlist still holds the export, so look again
        # within the expiry window rather than give up at the first one.
        failures = request.transient_errors + 1
        if failures > policy.max_transient_errors:
            raise type(exc)(
                f"lemlist failed {failures} status checks in a row; last: {exc}"
            ) from None
        return _pending(polls, failures, policy.backoff(failures), note=str(exc))

    store.record_poll(request.export_id, status, polls)
    if status.status == PENDING:
        if elapsed >= policy.expire_after_seconds:
            raise ExportExpiredError(
                f"lemlist was still preparing export {request.export_id} after "
                f"{format_duration(elapsed)}; lemlist gives up on exports after "
                f"{format_duration(policy.expire_after_seconds)}"
            )
        return _pending(polls, 0, policy.next_check(elapsed), progress=_progress(status))
    if status.status == DONE:
        if not status.url:
            raise LemlistProtocolError(
                f"lemlist says export {request.export_id} is done but gives no download URL"
            )
        # The URL stays in the record: execution histories and logs never see it.
        return CheckOutcome(DONE, polls, file_size=status.file_size)
    # "error", or a status lemlist may add one day: the state machine's Choice decides.
    return CheckOutcome(status.status, polls)


def _pending(
    polls: int, transient_errors: int, wait: int, *, note: str = "", progress: str = ""
) -> CheckOutcome:
    return CheckOutcome(PENDING, polls, transient_errors, wait, note, progress)


def _progress(status: ExportStatus) -> str:
    if status.total:
        return f"{status.progress or 0}/{status.total}"
    return status.progress_type or ""
