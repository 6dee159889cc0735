"""A scheduled firing that could not start its exports: on file and announced, once.

When listing the campaigns or starting their executions fails (lemlist refuses the key or is
down, the key's secret cannot be read, Step Functions refuses a start), no execution exists
to record and announce it. So the firing itself gets a failed record, announced like any
failed export, with a reason that says what happened and what to do. The record is keyed by
the firing (`schedules.plan.firing_id`): a retried or duplicated delivery of the same firing
finds it, and the notifier skips the targets already told, so the firing is announced once.
The caller raises the error again afterwards: the asynchronous invocation still fails, is
retried, and ends in the stack's FailedInvocationsQueue (the alarm path).

A record needs a campaign id (the table's byCampaign index is keyed by it), and a firing has
none of its own: it gets `schedule`, which no lemlist campaign has (theirs start with `cam_`),
so `GET /exports?campaignId=schedule` lists the failed firings. Its campaign name says which
campaigns the firing was for.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, field, replace
from datetime import datetime

from lemlist_export.core.errors import (
    AwsTransientError,
    ConfigurationError,
    InvalidTransitionError,
    LemlistAuthError,
    LemlistBadTeamError,
    LemlistError,
    LemlistTransientError,
    RateLimitedError,
    UnsafeUrlError,
)
from lemlist_export.core.redaction import redact
from lemlist_export.notify.notifier import Notifier
from lemlist_export.records.new import refused_record
from lemlist_export.records.record import ExportRecord
from lemlist_export.records.store import ExportStore
from lemlist_export.schedules.plan import ScheduledRun, firing_id, scheduled_moment
from lemlist_export.workflow.announce import announce_export
from lemlist_export.workflow.failure_reasons import Failure

SCHEDULE_CAMPAIGN_ID = "schedule"
SOURCE = "schedule"
_SHOWN_CAMPAIGNS = 10
_MAX_REASON = 1000
_NEXT_RUN = "then wait for the next run"
_RETRIED = (
    "AWS Lambda runs a failed firing again, up to twice within minutes, and starts only the "
    "exports still missing (each is announced when it ends); if those attempts fail too, "
    "this run's exports wait for the next scheduled run"
)


@dataclass
class FiringProgress:
    """How far a firing got: the campaigns it found (None until known), and those whose
    execution exists (started by this delivery or by an earlier one)."""

    campaigns: list[str] | None = None
    started: list[str] = field(default_factory=list)

    def not_started(self) -> list[str]:
        done = set(self.started)
        return [campaign for campaign in self.campaigns or [] if campaign not in done]


@dataclass(frozen=True)
class StackFacts:
    """What the advice names: the secret holding the lemlist key, and the API's URL (names
    and addresses only, never a secret's value)."""

    key_secret: str
    api_url: str


def describe_failed_firing(
    run: ScheduledRun, error: BaseException, progress: FiringProgress, stack: StackFacts
) -> Failure:
    """The failure of a firing, as a sentence a person can act on."""
    when = f"{scheduled_moment(run):%Y-%m-%dT%H:%M:%SZ}"
    missing = progress.not_started()
    if progress.started and missing:
        done = (
            f"The scheduled run of {when} started {len(progress.started)} of "
            f"{len(progress.campaigns or [])} exports ({_list(progress.started)}) but not "
            f"{_list(missing)}"
        )
    elif progress.started:
        done = f"The scheduled run of {when} started its exports ({_list(progress.started)})"
    else:
        done = f"The scheduled run of {when} started no export"
    what = str(error).strip().rstrip(".") or type(error).__name__
    reason = f"{done}: {what}. {_advice(error, stack)}."
    return Failure(type(error).__name__, _clip(redact(reason)))


def record_failed_firing(
    run: ScheduledRun,
    error: BaseException,
    progress: FiringProgress,
    *,
    stack: StackFacts,
    store: ExportStore,
    notifier: Callable[[], Notifier],
    retention_days: int,
    now: datetime,
) -> ExportRecord:
    """Keep the firing's failure on file (the first reason stays) and announce it once."""
    record_id = firing_id(run)
    if store.find(record_id) is None:
        failure = describe_failed_firing(run, error, progress, stack)
        record = refused_record(
            record_id,
            SCHEDULE_CAMPAIGN_ID,
            source=SOURCE,
            failure_type=failure.error_type,
            reason=failure.reason,
            now=now,
            retention_days=retention_days,
            requested_by=_schedule_name(run),
            requested_at=run.scheduled_time,
        )
        record = _with_campaign_name(record, run)
        with suppress(InvalidTransitionError):  # a duplicate delivery got there first
            store.create(record)
    return announce_export(record_id, failure=None, store=store, notifier=notifier)


def _advice(error: BaseException, stack: StackFacts) -> str:
    secret = f"the secret {stack.key_secret} (parameter LemlistApiKeySecretName)"
    if isinstance(error, LemlistAuthError):
        return f"Put a valid lemlist API key in {secret}, {_NEXT_RUN}"
    if isinstance(error, LemlistBadTeamError):
        return (
            f"Check that the API key in {secret} belongs to the lemlist team that owns the "
            f"campaigns, {_NEXT_RUN}"
        )
    if isinstance(error, RateLimitedError | LemlistTransientError | AwsTransientError):
        return f"Nothing to do: {_RETRIED}"
    if isinstance(error, LemlistError | UnsafeUrlError):
        return (
            f"Check that LemlistApiUrl ({stack.api_url}) is lemlist's API and that the key in "
            f"{secret} is valid, {_NEXT_RUN}"
        )
    if isinstance(error, ConfigurationError):
        return f"Fix the stack's configuration named above, {_NEXT_RUN}"
    return (
        "The function's logs have the details, and the failed invocation is kept in the "
        f"stack's FailedInvocationsQueue; {_RETRIED}"
    )


def _with_campaign_name(record: ExportRecord, run: ScheduledRun) -> ExportRecord:
    if run.campaign_status is not None:
        name = f"every {run.campaign_status} campaign"
    else:
        name = f"campaigns {_list(list(run.campaign_ids))}"
    return replace(record, campaign_name=name)


def _schedule_name(run: ScheduledRun) -> str:
    """`schedule <name>` from the schedule's ARN (`.../schedule/<group>/<name>`)."""
    return f"schedule {run.schedule_arn.rsplit('/', 1)[-1]}"


def _list(campaigns: list[str]) -> str:
    shown = ", ".join(campaigns[:_SHOWN_CAMPAIGNS])
    more = len(campaigns) - _SHOWN_CAMPAIGNS
    return shown + (f" and {more} more" if more > 0 else "")


def _clip(text: str) -> str:
    return text if len(text) <= _MAX_REASON else text[: _MAX_REASON - 1] + "…"
