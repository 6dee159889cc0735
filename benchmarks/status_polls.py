"""Status checks per export: our wait policy against polling every 5 s (the reference).

Deterministic (no clock): replays the wait policy for exports that lemlist takes a given
time to prepare, and counts checks, state transitions (what Step Functions bills) and
execution history events (capped at 25,000 per execution).

    .venv/bin/python -m benchmarks.status_polls
"""

from __future__ import annotations

import sys

import local_stack  # noqa: F401  (layer on sys.path)
from lemlist_export.workflow.wait_policy import WaitPolicy

# Per status check: Wait, Task and Choice states. Transitions are billed per state entered;
# history events per state: Wait 2, Lambda task 5, Choice 2.
TRANSITIONS_PER_CHECK = 3
EVENTS_PER_CHECK = 9
PRICE_PER_TRANSITION = 0.025 / 1000


def checks_with_policy(policy: WaitPolicy, ready_after: float) -> int:
    elapsed, checks = float(policy.first_wait_seconds), 1
    while elapsed < ready_after:
        elapsed += policy.next_check(elapsed)
        checks += 1
    return checks


def checks_every(seconds: int, ready_after: float) -> int:
    return 1 + int(max(0.0, ready_after - seconds) // seconds) + (ready_after % seconds > 0)


def main() -> int:
    policy = WaitPolicy()
    print(
        f"{'lemlist takes':>14} {'ours':>6} {'every 5 s':>10} {'ratio':>6} "
        f"{'history events':>15} {'cost/export':>12}"
    )
    worst_events = 0
    for ready_after in (10, 60, 300, 1800, 7200):
        ours = checks_with_policy(policy, ready_after)
        reference = checks_every(5, ready_after)
        events = ours * EVENTS_PER_CHECK
        worst_events = max(worst_events, events)
        cost = (ours * TRANSITIONS_PER_CHECK + 6) * PRICE_PER_TRANSITION
        print(
            f"{ready_after:>12} s {ours:>6} {reference:>10} {ours / reference:>6.2f} "
            f"{events:>15} {'$' + format(cost, '.5f'):>12}"
        )
    if worst_events >= 25_000:
        print("FAIL: a 2-hour export would exceed the 25,000-event history", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
