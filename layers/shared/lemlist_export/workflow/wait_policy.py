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
    # lemlist's advice: check at 5 s at first, every 10 to 15 s for long exports.
    first_wait_seconds: int = 5
    interval_seconds: int = 5
    max_interval_seconds: int = 15
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
        """The wait before the next status check of an export this old."""
        steps = 1 + int(max(0.0, elapsed_seconds) // max(1, self.slow_down_every_seconds))
        return min(self.interval_seconds * steps, self.max_interval_seconds)

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
