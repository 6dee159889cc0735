"""What one firing of a schedule exports, and how its executions are named and paced.

EventBridge Scheduler invokes with the JSON its input template fills: the campaigns
(`campaignIds`, or every campaign in a `campaignStatus`), and `scheduledTime` and
`scheduleArn`, which Scheduler substitutes for each firing. Scheduler delivers at least once,
so a firing can arrive twice: execution names are derived from (schedule, firing, campaign)
and Step Functions refuses a second execution of the same name, which makes the repeat
harmless.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from lemlist_export.core.errors import InvalidRequestError
from lemlist_export.core.identifiers import is_lemlist_id
from lemlist_export.lemlist.rate_gate import DEFAULT_WINDOW_SECONDS

if TYPE_CHECKING:
    from lemlist_export.lemlist.client import LemlistClient

# Places of each rate window a firing's starts leave to the exports already running.
STARTS_LEAVE_PER_WINDOW = 2
CAMPAIGN_STATUSES = ("running", "draft", "archived", "ended", "paused", "errors")
MANUAL_SCHEDULE = "manual"
# What Scheduler substitutes; seeing one verbatim means the input template is not Scheduler's.
SCHEDULED_TIME_PLACEHOLDER = "<aws.scheduler.scheduled-time>"
SCHEDULE_ARN_PLACEHOLDER = "<aws.scheduler.schedule-arn>"
# Step Functions allows 80 characters; names also serve as record ids, which are checked as
# lemlist-like ids (letters, digits, underscores, at most 64), so they stay within both.
MAX_NAME_LENGTH = 64
_NAME_PREFIX = "sched_"
_FIRING_HASH_CHARS = 12
_CAMPAIGN_HASH_CHARS = 10
_SHOWN_BAD_VALUES = 5
_EXAMPLE = (
    '{"campaignIds": "cam_A,cam_B", "scheduledTime": "<aws.scheduler.scheduled-time>", '
    '"scheduleArn": "<aws.scheduler.schedule-arn>"}'
)


@dataclass(frozen=True)
class ScheduledRun:
    """One firing of a schedule: either listed campaigns or every campaign in one status."""

    campaign_ids: tuple[str, ...]
    campaign_status: str | None
    scheduled_time: str
    schedule_arn: str

    @classmethod
    def from_event(cls, event: dict[str, Any]) -> ScheduledRun:
        """The run described by Scheduler's input, or InvalidRequestError saying what is wrong.

        A field that is missing, null or blank counts as not given, so that a template filling
        both fields from parameters can leave one of them empty.
        """
        if not isinstance(event, dict):
            raise InvalidRequestError(f"The schedule's input must be a JSON object like {_EXAMPLE}")
        campaign_ids = _campaign_ids(event.get("campaignIds"))
        campaign_status = _campaign_status(event.get("campaignStatus"))
        if campaign_ids and campaign_status is not None:
            raise InvalidRequestError(
                "The schedule's input gives both campaignIds and campaignStatus; give one of them"
            )
        if not campaign_ids and campaign_status is None:
            raise InvalidRequestError(
                "The schedule's input gives neither campaignIds nor campaignStatus; give one, "
                f"like {_EXAMPLE}"
            )
        return cls(
            campaign_ids=campaign_ids,
            campaign_status=campaign_status,
            scheduled_time=_scheduled_time(event.get("scheduledTime")),
            schedule_arn=_schedule_arn(event.get("scheduleArn")),
        )


def campaigns_to_export(run: ScheduledRun, lemlist: LemlistClient) -> list[str]:
    """The configured campaign ids, or every campaign lemlist lists in the run's status (in
    lemlist's order, each once; entries without a usable id are skipped)."""
    if run.campaign_status is None:
        return list(run.campaign_ids)
    listed = (item.get("_id") for item in lemlist.list_campaigns(status=run.campaign_status))
    return _unique(value for value in listed if isinstance(value, str) and is_lemlist_id(value))


def execution_name(run: ScheduledRun, campaign_id: str) -> str:
    """The deterministic Step Functions execution name of one campaign's export in one firing.

    `sched_<12 hex of the firing>_<UTC time to the minute>_<campaign id>`: the hash makes it
    unique per (schedule, scheduled time), the rest makes it readable. A campaign id too long
    to fit keeps its head and trades its tail for a hash of the whole id.
    """
    head = firing_id(run) + "_"
    room = MAX_NAME_LENGTH - len(head)
    if len(campaign_id) > room or not is_lemlist_id(campaign_id):
        digest = hashlib.sha256(campaign_id.encode()).hexdigest()[:_CAMPAIGN_HASH_CHARS]
        kept = "".join(c for c in campaign_id if c.isascii() and (c.isalnum() or c == "_"))
        campaign_id = f"{kept[: room - _CAMPAIGN_HASH_CHARS - 1]}_{digest}"
    return head + campaign_id


def firing_id(run: ScheduledRun) -> str:
    """The id of the firing as a whole: `sched_<12 hex of the firing>_<UTC time to the minute>`.

    Every execution name of the firing starts with it followed by `_<campaign id>`, so it is
    never one of theirs. It keys the firing's own record when the firing fails to start its
    exports (see `schedules.failures`).
    """
    # The time is hashed normalised: one instant written two ways is still one firing.
    moment = scheduled_moment(run)
    firing = hashlib.sha256(f"{run.schedule_arn}\n{moment.isoformat()}".encode()).hexdigest()
    return f"{_NAME_PREFIX}{firing[:_FIRING_HASH_CHARS]}_{moment:%Y%m%dT%H%M}"


def scheduled_moment(run: ScheduledRun) -> datetime:
    """The firing's scheduled time, in UTC."""
    return _parse_time(run.scheduled_time).astimezone(UTC)


def starts_per_second(
    requests_per_window: int, window_seconds: float = DEFAULT_WINDOW_SECONDS
) -> float:
    """How fast a firing starts its exports: the stack's lemlist budget (the rate gate's
    requests per window) less STARTS_LEAVE_PER_WINDOW places a window for the status checks
    and downloads of exports already running. The default 18 per 2 s starts 8 a second, so
    200 campaigns take 25 s to start. Each start still passes the rate gate (starts go before
    status checks there); the spread only keeps them from all asking in the same second."""
    usable = max(1, requests_per_window - STARTS_LEAVE_PER_WINDOW)
    return usable / window_seconds


def start_delays(count: int, per_second: float) -> list[int]:
    """Whole-second delays spreading `count` starts at `per_second`: at 5/s, five 0s, five 1s,
    and so on, so that a schedule of hundreds of campaigns does not reach lemlist at once."""
    if count < 0:
        raise ValueError("count must not be negative")
    if per_second <= 0:
        raise ValueError("per_second must be positive")
    # The epsilon keeps float division from pushing an exact multiple into the next second.
    return [math.floor(index / per_second + 1e-9) for index in range(count)]


# -- parsing -------------------------------------------------------------------------------


def _campaign_ids(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        items: list[Any] = value.split(",")
    elif isinstance(value, list):
        items = value
    else:
        raise InvalidRequestError(
            'campaignIds must be a comma-separated string ("cam_A,cam_B") or a JSON list'
        )
    not_text = [item for item in items if not isinstance(item, str)]
    if not_text:
        raise InvalidRequestError(f"campaignIds must hold strings, not {_show(not_text)}")
    given = [item.strip() for item in items if item.strip()]
    bad = [item for item in given if not is_lemlist_id(item)]
    if bad:
        raise InvalidRequestError(
            f"campaignIds has values that are not lemlist campaign ids: {_show(bad)} "
            "(ids are 1 to 64 letters, digits or underscores, like cam_A1B2C3D4E5F6G7H8I9)"
        )
    return tuple(_unique(given))


def _campaign_status(value: Any) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    status = value.strip().lower() if isinstance(value, str) else value
    if status not in CAMPAIGN_STATUSES:
        raise InvalidRequestError(
            f"campaignStatus must be one of {', '.join(CAMPAIGN_STATUSES)}, not {_show([value])}"
        )
    return str(status)


def _scheduled_time(value: Any) -> str:
    if value is None or value == SCHEDULED_TIME_PLACEHOLDER or value == "":
        raise InvalidRequestError(
            "The schedule's input has no scheduledTime: its input template is wrong, it must "
            f'set "scheduledTime": "{SCHEDULED_TIME_PLACEHOLDER}" for Scheduler to fill in'
        )
    if not isinstance(value, str):
        raise InvalidRequestError("scheduledTime must be an ISO 8601 string")
    _parse_time(value)
    return value


def _schedule_arn(value: Any) -> str:
    if value is None or value == "":
        return MANUAL_SCHEDULE
    if value == SCHEDULE_ARN_PLACEHOLDER:
        raise InvalidRequestError(
            "The schedule's input has scheduleArn unreplaced: its input template is wrong, it "
            f'must set "scheduleArn": "{SCHEDULE_ARN_PLACEHOLDER}" for Scheduler to fill in'
        )
    if not isinstance(value, str):
        raise InvalidRequestError("scheduleArn must be a string")
    return value


def _parse_time(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise InvalidRequestError(
            f"scheduledTime is not an ISO 8601 time like 2026-11-30T06:00:00Z: {_show([text])}"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _unique(values: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(values))


def _show(values: list[Any]) -> str:
    shown = ", ".join(repr(value)[:80] for value in values[:_SHOWN_BAD_VALUES])
    more = len(values) - _SHOWN_BAD_VALUES
    return shown + (f" and {more} more" if more > 0 else "")
