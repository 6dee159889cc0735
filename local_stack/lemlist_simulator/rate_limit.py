"""lemlist's rate limit: 20 requests per 2 seconds per API key, all API routes together.

Semantics chosen here (lemlist does not document them): a sliding-window log. A request is
accepted if fewer than `limit` requests of the same key were accepted in the last `window`
seconds of the simulator clock; rejected (429) requests do not count, so a client that waits
Retry-After always gets through. A sliding window is stricter than a fixed one (no double
burst at a window edge), so a client that passes here also passes a fixed-window server.
The bucket is the Authorization header as sent (hashed): each key, right or wrong, has its
own budget, and requests without credentials share one.
"""

from __future__ import annotations

import hashlib
import math
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

LIMIT = 20
WINDOW_SECONDS = 2.0


@dataclass(frozen=True)
class RateDecision:
    """The outcome for one request, with what the X-RateLimit-* headers report."""

    allowed: bool
    limit: int
    remaining: int
    reset_at: datetime
    retry_after: int

    def headers(self) -> dict[str, str]:
        return {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": js_date_string(self.reset_at),
        }


class SlidingWindowLimiter:
    """Per-key sliding-window log; keys are hashed so no API key is kept in memory."""

    def __init__(
        self,
        clock: Callable[[], float],
        wall: Callable[[float], datetime],
        limit: int = LIMIT,
        window: float = WINDOW_SECONDS,
    ) -> None:
        self._clock = clock
        self._wall = wall
        self._limit = limit
        self._window = window
        self._lock = threading.Lock()
        self._accepted: dict[str, deque[float]] = {}

    def hit(self, credential: str | None) -> RateDecision:
        key = hashlib.sha256((credential or "").encode("utf-8")).hexdigest()
        with self._lock:
            now = self._clock()
            times = self._accepted.setdefault(key, deque())
            while times and times[0] <= now - self._window:
                times.popleft()
            allowed = len(times) < self._limit
            if allowed:
                times.append(now)
            # The window frees its next slot when its oldest accepted request ages out.
            reset = times[0] + self._window if times else now + self._window
            retry_after = max(1, math.ceil(reset - now))
            return RateDecision(
                allowed=allowed,
                limit=self._limit,
                remaining=max(0, self._limit - len(times)),
                reset_at=self._wall(reset),
                retry_after=retry_after,
            )


def js_date_string(moment: datetime) -> str:
    """A UTC date as JavaScript's Date.toString() prints it, which is what lemlist sends."""
    utc = moment.astimezone(UTC)
    # Names from tables, not strftime, which would follow the process locale.
    day = _DAYS[utc.weekday()]
    month = _MONTHS[utc.month - 1]
    clock = f"{utc.hour:02d}:{utc.minute:02d}:{utc.second:02d}"
    return f"{day} {month} {utc.day:02d} {utc.year} {clock} GMT+0000 (Coordinated Universal Time)"


_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
