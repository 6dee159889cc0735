"""What the simulator saw, for assertions: every request on both origins, without secrets."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Literal

Origin = Literal["api", "storage"]


@dataclass(frozen=True)
class RecordedRequest:
    """One request as received. The Authorization value is never kept, only whether it was
    present and carried the right key, so a recorded log can be printed safely."""

    method: str
    path: str
    query: dict[str, str]
    origin: Origin
    time: float
    status: int
    route: str
    has_auth: bool
    auth_ok: bool
    faults: tuple[str, ...] = field(default=())


def busiest_window(requests: list[RecordedRequest], window: float = 2.0) -> int:
    """Most requests received in any sliding `window` seconds (lemlist counts 20 per 2 s)."""
    times = sorted(r.time for r in requests)
    most, low = 0, 0
    for high, moment in enumerate(times):
        while times[low] <= moment - window:
            low += 1
        most = max(most, high - low + 1)
    return most


class RequestLog:
    """Thread-safe log in arrival order; a request appears once its answer is decided."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._next_ticket = 0
        self._items: list[tuple[int, RecordedRequest]] = []

    def ticket(self) -> int:
        """Taken on arrival, so a slow request still sorts before later ones."""
        with self._lock:
            self._next_ticket += 1
            return self._next_ticket

    def append(self, ticket: int, item: RecordedRequest) -> None:
        with self._lock:
            self._items.append((ticket, item))

    def snapshot(self) -> list[RecordedRequest]:
        with self._lock:
            return [item for _, item in sorted(self._items, key=lambda pair: pair[0])]

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
