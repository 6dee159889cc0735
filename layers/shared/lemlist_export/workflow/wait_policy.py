"""How long to wait before the next lemlist call, and when to give up.

The policy travels in the state machine's input (`waits`), so every wait is chosen by
whoever started the execution: the template's parameters in AWS, zero or a second in tests.
The Wait states read the chosen number with SecondsPath. Nothing here sleeps.
"""

from __future__ import annotations

import math
import random
from dataclasses import asdict, dataclass, fields
from typing import Any

from lemlist_export.core.naming import camel_case


@dataclass(frozen=True)
class WaitPolicy:
    # The first check at 5 s, as lemlist advises; then each wait is wait_growth_percent of the
    # export's age (adaptive polling), never less than interval_seconds, never more than
    # max_interval_seconds. A check at age t waits at most t/10 (at least 5 s), so an export
    # lemlist finishes after D seconds is noticed within max(5 s, 10% of D); over exports of
    # 5 s to 2 hours that is about a third of the checks of lemlist's advice (5 s for the
    # first minute, then 15 s): 63 checks instead of 487 for a 2-hour export
    # (benchmarks/status_polls.py). lemlist's progress fields do not help: its docs show a
    # finished export at progress 0 of 0, so a percentage cannot be trusted.
    # wait_growth_percent 0 is lemlist's advice itself: interval_seconds, one more every
    # slow_down_every_seconds, up to max_interval_seconds.
    first_wait_seconds: int = 5
    interval_seconds: int = 5
    max_interval_seconds: int = 900
    wait_growth_percent: int = 10
    slow_down_every_seconds: int = 60
    # lemlist keeps a status 2 hours; a pending export older than that has failed.
    expire_after_seconds: int = 7200
    # Bounds the execution history (25,000 events) whatever lemlist does.
    max_checks: int = 1500
    # Consecutive 5xx/timeouts tolerated before the export is declared failed.
    max_transient_errors: int = 8
    max_backoff_seconds: int = 120
    # A 429 without Retry-After: wait one rate-limit window.
    rate_limit_wait_seconds: int = 2
    # Copying the CSV: attempts in all, and the first wait between them (then doubled).
    max_delivery_attempts: int = 4
    delivery_retry_seconds: int = 10

    def to_input(self) -> dict[str, int]:
        return {camel_case(name): value for name, value in asdict(self).items()}

    @classmethod
    def from_input(cls, data: dict[str, Any] | None) -> WaitPolicy:
        """Read the policy back; missing or malformed fields keep their defaults."""
        data = data or {}
        values = {}
        for f in fields(cls):
            raw = data.get(camel_case(f.name))
            if isinstance(raw, int | float) and not isinstance(raw, bool) and raw >= 0:
                values[f.name] = int(raw)
        return cls(**values)

    def next_check(self, elapsed_seconds: float) -> int:
        """The wait before the next status check of an export this old: a share of its age
        (see wait_growth_percent), and never past the moment lemlist forgets the export."""
        elapsed = max(0.0, elapsed_seconds)
        if self.wait_growth_percent > 0:
            wait = max(self.interval_seconds, int(elapsed * self.wait_growth_percent / 100))
        else:
            steps = 1 + int(elapsed // max(1, self.slow_down_every_seconds))
            wait = self.interval_seconds * steps
        wait = min(wait, self.max_interval_seconds)
        # The last check before lemlist's expiry lands on it, not a long wait beyond it.
        until_expiry = math.ceil(self.expire_after_seconds - elapsed)
        if 0 < until_expiry < wait:
            wait = max(until_expiry, min(self.interval_seconds, wait))
        return wait

    def backoff(self, consecutive_failures: int, base: int | None = None) -> int:
        """Exponential wait after the n-th consecutive transient failure."""
        first = max(1, self.interval_seconds if base is None else base)
        growth: int = 2 ** max(0, consecutive_failures - 1)
        return min(first * growth, self.max_backoff_seconds)

    def after_rate_limit(self, retry_after: float | None, usual_wait: int) -> int:
        """Never sooner than lemlist's Retry-After, and never more often than usual; plus up to
        a second at random, so that the exports refused together do not come back together."""
        spread = random.randint(0, 1)  # noqa: S311 (spreading load, not security)
        if retry_after is None:
            return max(self.rate_limit_wait_seconds, usual_wait) + spread
        return max(math.ceil(retry_after), usual_wait) + spread
