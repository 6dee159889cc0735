"""EventBridge Scheduler's part, played locally: fire a template schedule now.

The schedule's target gets the template's Input with Scheduler's context placeholders
(`<aws.scheduler.scheduled-time>`, `<aws.scheduler.schedule-arn>`) filled in, as in AWS.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

from lemlist_export.schedules.plan import ScheduledRun, firing_id

from .deploy import Schedule
from .embedded_aws import ACCOUNT_ID, REGION
from .lambdas import Invocation
from .stack import LocalStack


class UnknownScheduleError(KeyError):
    """No schedule of that name in the template."""


# `default` is the exports schedule (`<stack>-exports`); the sweeper's is `<stack>-sweep`.
DEFAULT_SCHEDULE = "exports"


def find_schedule(stack: LocalStack, name: str | None = None) -> Schedule:
    """A template schedule by its name (`lemlist-local-exports`), its name without the stack's
    prefix (`sweep`), or `default` (the exports schedule)."""
    schedules = stack.stack.schedules
    wanted = DEFAULT_SCHEDULE if name in (None, "", "default") else name
    for schedule in schedules:
        if wanted in (schedule.name, schedule.name.removeprefix(f"{stack.options.stack_name}-")):
            return schedule
    known = ", ".join(s.name for s in schedules) or "none"
    raise UnknownScheduleError(f"No schedule {name} (known: {known})")


def scheduler_input(schedule: Schedule, when: datetime) -> str:
    arn = f"arn:aws:scheduler:{REGION}:{ACCOUNT_ID}:schedule/default/{schedule.name}"
    return schedule.input.replace(
        "<aws.scheduler.scheduled-time>", when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    ).replace("<aws.scheduler.schedule-arn>", arn)


def fire(stack: LocalStack, name: str | None = None, when: datetime | None = None) -> Invocation:
    """Invoke the schedule's target once, for the firing at `when` (default: now)."""
    schedule = find_schedule(stack, name)
    event = json.loads(scheduler_input(schedule, when or datetime.now(UTC)))
    return stack.lambdas.invoke(schedule.function_name, event)


def firing_record_id(stack: LocalStack, name: str | None, when: datetime) -> str:
    """The id a failed firing of the schedule at `when` is recorded under (whether or not
    it was)."""
    schedule = find_schedule(stack, name)
    return firing_id(ScheduledRun.from_event(json.loads(scheduler_input(schedule, when))))
