"""Status checks per export: the wait policy against lemlist's advice (the reference).

Deterministic (no clock): replays the wait policy for exports that lemlist takes a given
time to prepare, and counts checks, state transitions (what Step Functions bills) and
execution history events (capped at 25,000 per execution). Over a log-uniform mix of export
durations from 5 s to 2 hours it measures the calls against lemlist's advice (5 s for the
first minute, then 15 s) and the detection delay (from ready to noticed) against its limit,
max(5 s, 10% of the export's duration); both go to benchmarks/results.json ("polling").

    .venv/bin/python -m benchmarks.status_polls [--exports 2000]
"""

from __future__ import annotations

import argparse
import math
import random
import sys
from dataclasses import dataclass

import local_stack  # noqa: F401  (layer on sys.path)
from benchmarks.results import record
from lemlist_export.workflow.wait_policy import WaitPolicy

# Per status check: Wait, Task and Choice states. Transitions are billed per state entered;
# history events per state: Wait 2, Lambda task 5, Choice 2.
TRANSITIONS_PER_CHECK = 3
EVENTS_PER_CHECK = 9
PRICE_PER_TRANSITION = 0.025 / 1000
SHORTEST, LONGEST = 5.0, 7200.0  # the mix: lemlist's exports take 5 s to 2 hours

# lemlist's advice: check at 5 s, every 5 s for the first minute, then every 15 s.
LEMLIST_ADVICE = WaitPolicy(
    first_wait_seconds=5,
    interval_seconds=5,
    max_interval_seconds=15,
    wait_growth_percent=0,
    slow_down_every_seconds=60,
)
ADVICE_AFTER_A_MINUTE = 15


@dataclass(frozen=True)
class Polled:
    checks: int
    noticed_at: float  # the check that saw it done

    def delay(self, ready_after: float) -> float:
        return self.noticed_at - ready_after


def poll(policy: WaitPolicy, ready_after: float) -> Polled:
    """The checks the policy makes for an export lemlist finishes after `ready_after` s."""
    elapsed, checks = float(policy.first_wait_seconds), 1
    while elapsed < ready_after:
        elapsed += policy.next_check(elapsed)
        checks += 1
    return Polled(checks, elapsed)


def advice(ready_after: float) -> Polled:
    """lemlist's advice as the issue states it: 5 s for the first minute, then 15 s."""
    elapsed, checks = 5.0, 1
    while elapsed < ready_after:
        elapsed += 5 if elapsed < 60 else ADVICE_AFTER_A_MINUTE
        checks += 1
    return Polled(checks, elapsed)


def delay_limit(ready_after: float) -> float:
    return max(5.0, 0.1 * ready_after)


def mix(count: int, seed: int = 20261201) -> list[float]:
    """Export durations, log-uniform between SHORTEST and LONGEST."""
    rng = random.Random(seed)
    low, high = math.log(SHORTEST), math.log(LONGEST)
    return [math.exp(rng.uniform(low, high)) for _ in range(count)]


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(share * len(ordered)) - 1)]


def over_the_mix(policy: WaitPolicy, durations: list[float]) -> dict[str, float]:
    ours = [poll(policy, d) for d in durations]
    reference = [advice(d) for d in durations]
    ratios = [p.delay(d) / delay_limit(d) for p, d in zip(ours, durations, strict=True)]
    return {
        "calls_ratio_vs_lemlist_advice": sum(p.checks for p in ours)
        / sum(p.checks for p in reference),
        "p95_delay_over_limit": percentile(ratios, 0.95),
        "max_delay_over_limit": max(ratios),
        "checks_for_2_hours": poll(policy, LONGEST).checks,
        "advice_checks_for_2_hours": advice(LONGEST).checks,
        "exports_in_mix": len(durations),
    }


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--exports", type=int, default=2000, help="durations in the mix")
    args = parser.parse_args()
    policy = WaitPolicy()
    print(
        f"{'lemlist takes':>14} {'ours':>6} {'advice':>7} {'ratio':>6} {'delay':>7} "
        f"{'limit':>6} {'history events':>15} {'cost/export':>12}"
    )
    worst_events = 0
    for ready_after in (10, 60, 300, 1800, 7200):
        ours, reference = poll(policy, ready_after), advice(ready_after)
        events = ours.checks * EVENTS_PER_CHECK
        worst_events = max(worst_events, events)
        cost = (ours.checks * TRANSITIONS_PER_CHECK + 6) * PRICE_PER_TRANSITION
        print(
            f"{ready_after:>12} s {ours.checks:>6} {reference.checks:>7} "
            f"{ours.checks / reference.checks:>6.2f} {ours.delay(ready_after):>6.0f}s "
            f"{delay_limit(ready_after):>5.0f}s {events:>15} {'$' + format(cost, '.5f'):>12}"
        )
    figures = over_the_mix(policy, mix(args.exports))
    print(
        f"\nover {figures['exports_in_mix']:.0f} exports of 5 s to 2 h (log-uniform): "
        f"{figures['calls_ratio_vs_lemlist_advice']:.2f}x the checks of lemlist's advice "
        "(target: at most 0.50), detection delay p95 "
        f"{figures['p95_delay_over_limit']:.2f} of max(5 s, 10% of the duration) "
        "(target: at most 1.00)"
    )
    record("polling", figures)
    failed = []
    if worst_events >= 25_000:
        failed.append("a 2-hour export would exceed the 25,000-event history")
    if figures["calls_ratio_vs_lemlist_advice"] > 0.5:
        failed.append("more than half the checks of lemlist's advice")
    if figures["p95_delay_over_limit"] > 1.0:
        failed.append("the detection delay's p95 is over its limit")
    for reason in failed:
        print(f"FAIL: {reason}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
