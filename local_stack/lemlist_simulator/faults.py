"""One-shot misbehaviours that tests queue per route, to prove the pipeline survives them."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from .http_io import Response

ROUTES = frozenset({"start", "status", "download", "team", "campaigns", "email", "any"})


class FaultKind(StrEnum):
    RATE_LIMITED = "rate_limited"
    SERVER_ERROR = "server_error"
    JSON_ERROR = "json_error"
    TEXT_ERROR = "text_error"
    SLOW = "slow"
    TRUNCATE = "truncate"
    UNAUTHORIZED = "unauthorized"
    BAD_TEAM = "bad_team"
    RESET = "reset"
    OVERSIZE = "oversize"


@dataclass(frozen=True)
class Fault:
    """What one request gets instead of (or, for slow/truncate, on top of) its normal answer."""

    kind: FaultKind
    status: int = 0
    message: str = ""
    retry_after: float | None = None
    seconds: float = 0.0
    after_bytes: int = 0

    @classmethod
    def rate_limited(cls, retry_after: float | None = 2) -> Fault:
        return cls(FaultKind.RATE_LIMITED, status=429, retry_after=retry_after)

    @classmethod
    def server_error(cls, status: int = 503, body: str = "Service Unavailable") -> Fault:
        return cls(FaultKind.SERVER_ERROR, status=status, message=body)

    @classmethod
    def json_error(cls, status: int, message: str) -> Fault:
        return cls(FaultKind.JSON_ERROR, status=status, message=message)

    @classmethod
    def text_error(cls, status: int, message: str) -> Fault:
        return cls(FaultKind.TEXT_ERROR, status=status, message=message)

    @classmethod
    def slow(cls, seconds: float) -> Fault:
        return cls(FaultKind.SLOW, seconds=seconds)

    @classmethod
    def truncate(cls, after_bytes: int) -> Fault:
        return cls(FaultKind.TRUNCATE, after_bytes=after_bytes)

    @classmethod
    def reset(cls) -> Fault:
        """The connection is reset before any answer (a network fault, not an HTTP one)."""
        return cls(FaultKind.RESET)

    @classmethod
    def oversize(cls, extra_bytes: int) -> Fault:
        """A download serves `extra_bytes` more than the file lemlist announced."""
        return cls(FaultKind.OVERSIZE, after_bytes=extra_bytes)

    @classmethod
    def unauthorized(cls) -> Fault:
        return cls(FaultKind.UNAUTHORIZED, status=401)

    @classmethod
    def bad_team(cls) -> Fault:
        return cls(FaultKind.BAD_TEAM, status=400, message="Bad team")

    @property
    def replaces_answer(self) -> bool:
        return self.kind not in _MODIFIERS

    def response(self) -> Response:
        """The answer a replacing fault sends (slow and truncate have none of their own)."""
        match self.kind:
            case FaultKind.RATE_LIMITED:
                # Remaining 0 is set here so the server's normal rate-limit headers don't
                # contradict the 429; the other X-RateLimit-* headers are added by the server.
                headers = {"X-RateLimit-Remaining": "0"}
                if self.retry_after is not None:
                    headers["Retry-After"] = f"{self.retry_after:g}"
                return Response.text(429, "Too many requests").with_headers(headers)
            case FaultKind.JSON_ERROR:
                return Response.json(self.status, {"ok": False, "message": self.message})
            case FaultKind.UNAUTHORIZED:
                return Response.empty(401)
            case FaultKind.RESET:
                return Response.reset()
            case FaultKind.SERVER_ERROR | FaultKind.TEXT_ERROR | FaultKind.BAD_TEAM:
                return Response.text(self.status, self.message)
        raise ValueError(f"{self.kind} does not replace the answer")


# Faults that change the normal answer rather than replace it.
_MODIFIERS = (FaultKind.SLOW, FaultKind.TRUNCATE, FaultKind.OVERSIZE)
_BODY_MODIFIERS = (FaultKind.TRUNCATE, FaultKind.OVERSIZE)


class FaultQueue:
    """Thread-safe FIFO of (route, fault); a request takes the first entry for its route."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: list[tuple[str, Fault]] = []

    def push(self, route: str, faults: tuple[Fault, ...]) -> None:
        if route not in ROUTES:
            raise ValueError(f"unknown route {route!r}; expected one of {sorted(ROUTES)}")
        with self._lock:
            self._entries.extend((route, fault) for fault in faults)

    def take(self, route: str, accept: Callable[[Fault], bool]) -> Fault | None:
        """Pop the head fault for `route` only if `accept` wants it, so FIFO order holds."""
        with self._lock:
            for index, (queued_route, fault) in enumerate(self._entries):
                if queued_route in (route, "any"):
                    if not accept(fault):
                        return None
                    del self._entries[index]
                    return fault
        return None

    def pending(self) -> list[tuple[str, Fault]]:
        with self._lock:
            return list(self._entries)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


def answer_with_faults(
    queue: FaultQueue,
    route: str,
    normal: Callable[[], Response],
    sleep: Callable[[float], None],
    sends_body: bool = True,
) -> tuple[Response, tuple[Fault, ...]]:
    """The answer to one request: a queued fault's, or the normal one, maybe slowed/truncated.

    A replacing fault is taken before `normal` runs, so it has no side effect (a faulted
    status poll does not advance the export). A truncate waits in the queue for the first
    successful answer with a body: a redirect hop, an error or a HEAD does not consume it.
    """
    applied: tuple[Fault, ...] = ()
    fault = queue.take(route, lambda f: f.kind not in _BODY_MODIFIERS)
    if fault is not None and fault.replaces_answer:
        return fault.response(), (fault,)
    if fault is not None:  # slow: late, but otherwise normal
        sleep(fault.seconds)
        applied = (fault,)
    response = normal()
    if sends_body and 200 <= response.status < 300 and response.content_length > 0:
        cut = queue.take(route, lambda f: f.kind in _BODY_MODIFIERS)
        if cut is not None and cut.kind is FaultKind.OVERSIZE:
            return response.oversized(cut.after_bytes), (*applied, cut)
        if cut is not None:
            return response.truncated(cut.after_bytes), (*applied, cut)
    return response, applied
