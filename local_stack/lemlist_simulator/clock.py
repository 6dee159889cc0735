"""The simulator's notion of time: one injectable clock for expiry, and wall dates derived from it.

Dates in answers follow the injected clock, so a test that moves its clock sees dates move too.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta


class SimClock:
    """Wraps a monotonic-like `Callable[[], float]` and anchors it to the wall clock at creation."""

    def __init__(self, source: Callable[[], float] | None = None) -> None:
        self._source = source or time.monotonic
        self._anchor_clock = self._source()
        self._anchor_wall = datetime.now(UTC)

    def now(self) -> float:
        return self._source()

    def wall(self, moment: float) -> datetime:
        """The UTC datetime of a clock value."""
        return self._anchor_wall + timedelta(seconds=moment - self._anchor_clock)

    def iso(self, moment: float) -> str:
        """ISO 8601 with milliseconds and Z, as lemlist writes dates."""
        return self.wall(moment).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"

    def epoch_ms(self, moment: float) -> int:
        return int(self.wall(moment).timestamp() * 1000)
