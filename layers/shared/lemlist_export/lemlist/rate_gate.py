"""One lemlist rate budget per API key, shared through DynamoDB by every Lambda using the key.

lemlist allows 20 requests per sliding 2 s per API key, on all routes together. Hundreds of
exports can run at once, each calling lemlist from its own invocation, so no process can count
alone: the admissions live in one DynamoDB item per key, as counts per time slice (a twentieth
of the window). A request is admitted when the slices of the last 2 s (plus the current one,
so at most 2.1 s) hold fewer than the limit; the admission is written with a conditional
update on the item's version (optimistic concurrency), so two invocations reading the same
counts cannot both take the last place: the second write fails, and that invocation reads
again. Every admission therefore counted every admission committed before it, whatever the
clocks of the invocations say.

The default limit is 18 of lemlist's 20, a margin for clocks that disagree and for requests
still in flight. Priorities: routine status checks may use the limit minus a reserve;
starts, downloads and campaign listings may use all of it, so a burst of status checks never
holds back a download or a start. And when the gate has to refuse one of those, status checks
step aside for a window: hundreds of exports started together are started first (their
exports run in lemlist meanwhile), then checked. Should lemlist still answer 429, the client
treats it as it treats the gate's own refusal.
"""

from __future__ import annotations

import hashlib
import math
import random
import time
from collections.abc import Callable
from enum import Enum
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from lemlist_export.core.aws_errors import transient_aws_errors
from lemlist_export.core.errors import RateLimitedError

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


DEFAULT_LIMIT = 18
DEFAULT_WINDOW_SECONDS = 2.0
# Places of the limit that routine status checks leave to starts and downloads (which also
# make them step aside for a window whenever one of them is refused).
DEFAULT_RESERVE = 2
# Slices of 0.1 s: the counted span is at most a slice longer than the window, so the gate
# admits at least limit / 2.1 s (a quarter-window slice would cost a fifth of the budget).
SLICES_PER_WINDOW = 20
# Waiters refused together spread over this much time instead of all coming back at once.
MAX_JITTER_SECONDS = 0.25
# Two invocations writing at the same instant: the loser reads again, this many times.
MAX_CONFLICTS = 8
# The item outlives its last admission by a minute, then DynamoDB's TTL deletes it.
EXPIRES_AFTER_SECONDS = 60
_ITEM_PREFIX = "lemlist-rate"


class Priority(Enum):
    URGENT = "urgent"  # starts, downloads, campaign listings: the whole limit
    ROUTINE = "routine"  # status checks: the limit minus the reserve


def key_id_for(api_key: str) -> str:
    """A short id for an API key that cannot be turned back into it: what items are named by."""
    return hashlib.sha256(f"lemlist-rate-gate:{api_key}".encode()).hexdigest()[:16]


class DynamoRateGate:
    """lemlist_client.RateGate admitting at most `limit` requests per sliding window per key.

    The table is the one Powertools idempotency uses (`id` key, `expiration` TTL): the item is
    named `lemlist-rate#<key id>`, which no idempotency key looks like. It holds `slices`
    (slice index -> admissions, the recent ones only) and `version`.
    """

    def __init__(
        self,
        dynamodb: DynamoDBClient,
        table: str,
        key_id: str,
        *,
        limit: int = DEFAULT_LIMIT,
        reserve: int = DEFAULT_RESERVE,
        window_seconds: float = DEFAULT_WINDOW_SECONDS,
        slices_per_window: int = SLICES_PER_WINDOW,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if limit < 1:
            raise ValueError("limit must be at least 1")
        if window_seconds <= 0:
            raise ValueError("window_seconds must be positive")
        if not 0 <= reserve < limit:
            raise ValueError("reserve must be at least 0 and less than the limit")
        if slices_per_window < 1:
            raise ValueError("slices_per_window must be at least 1")
        self._db = dynamodb
        self._table = table
        self._key = {"id": {"S": f"{_ITEM_PREFIX}#{key_id}"}}
        self._limit = limit
        self._reserve = reserve
        self._window = window_seconds
        self._slices = slices_per_window
        self._slice = window_seconds / slices_per_window
        self._clock = clock

    def __repr__(self) -> str:
        return (
            f"DynamoRateGate(table={self._table!r}, limit={self._limit}, "
            f"reserve={self._reserve}, window_seconds={self._window:g})"
        )

    def acquire(self, priority: Priority = Priority.URGENT) -> None:
        """Take one place in the key's sliding window, or raise RateLimitedError saying when
        one frees. AWS throttling or failures raise AwsTransientError: a gate that cannot
        count must not admit."""
        routine = priority is Priority.ROUTINE
        allowed = self._limit - (self._reserve if routine else 0)
        for _ in range(MAX_CONFLICTS):
            now = self._clock()
            current = math.floor(now / self._slice)
            slices, version, urgent_until = self._read()
            if routine and now < urgent_until:
                raise self._stepping_aside(urgent_until, now)
            # The window [now - window, now] lies within these slices (the oldest partly).
            recent = {i: n for i, n in slices.items() if i >= current - self._slices}
            if sum(recent.values()) >= allowed:
                if not routine:
                    self._ask_routine_to_step_aside(now + self._window)
                raise self._refusal(recent, allowed, now)
            # Kept a window longer than counted: an invocation whose clock is behind still
            # finds the slices its own window covers.
            kept = {i: n for i, n in slices.items() if i >= current - 2 * self._slices}
            kept[current] = kept.get(current, 0) + 1
            if self._write(kept, version, now):
                return
        # Lost every race: as busy as a full window; come back when a slice turns.
        raise RateLimitedError(
            "The shared lemlist rate limit for this API key is contended",
            retry_after=self._slice + random.uniform(0.0, MAX_JITTER_SECONDS),  # noqa: S311
            held_back=True,
        )

    def _read(self) -> tuple[dict[int, int], int, float]:
        with transient_aws_errors("DynamoDB GetItem (lemlist rate gate)"):
            item = self._db.get_item(TableName=self._table, Key=self._key, ConsistentRead=True).get(
                "Item", {}
            )
        slices = {
            int(index): int(count["N"])
            for index, count in item.get("slices", {}).get("M", {}).items()
            if "N" in count
        }
        version = int(item.get("version", {}).get("N", "0"))
        return slices, version, float(item.get("urgentUntil", {}).get("N", "0"))

    def _ask_routine_to_step_aside(self, until: float) -> None:
        """An urgent request was refused: routine ones wait until `until` (the item's version
        stays, so no admission in progress is disturbed)."""
        with transient_aws_errors("DynamoDB UpdateItem (lemlist rate gate)"):
            self._db.update_item(
                TableName=self._table,
                Key=self._key,
                UpdateExpression="SET #urgent = :until",
                ExpressionAttributeNames={"#urgent": "urgentUntil"},
                ExpressionAttributeValues={":until": {"N": f"{until:.3f}"}},
            )

    def _stepping_aside(self, until: float, now: float) -> RateLimitedError:
        jitter = random.uniform(0.0, MAX_JITTER_SECONDS)  # noqa: S311 (spreading, not secrecy)
        return RateLimitedError(
            "The shared lemlist rate limit for this API key is kept for starts and downloads",
            retry_after=until - now + jitter,
            held_back=True,
        )

    def _write(self, slices: dict[int, int], version: int, now: float) -> bool:
        """Store the admission unless another one was stored since the read (False)."""
        try:
            with transient_aws_errors("DynamoDB UpdateItem (lemlist rate gate)"):
                self._db.update_item(
                    TableName=self._table,
                    Key=self._key,
                    UpdateExpression=(
                        "SET #slices = :slices, #version = :next, #expiration = :expiration"
                    ),
                    ConditionExpression=(
                        "attribute_not_exists(#version) OR #version = :read"
                        if version == 0
                        else "#version = :read"
                    ),
                    ExpressionAttributeNames={
                        "#slices": "slices",
                        "#version": "version",
                        "#expiration": "expiration",
                    },
                    ExpressionAttributeValues={
                        ":slices": {"M": {str(i): {"N": str(n)} for i, n in slices.items()}},
                        ":read": {"N": str(version)},
                        ":next": {"N": str(version + 1)},
                        ":expiration": {"N": str(math.ceil(now) + EXPIRES_AFTER_SECONDS)},
                    },
                )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise
            return False
        return True

    def _refusal(self, recent: dict[int, int], allowed: int, now: float) -> RateLimitedError:
        """When enough of the oldest slices have left the window for one more request."""
        total = sum(recent.values())
        free_at = now + self._slice
        for index in sorted(recent):
            total -= recent[index]
            # Slice `index` stops counting once the current slice is index + slices + 1.
            free_at = (index + self._slices + 1) * self._slice
            if total < allowed:
                break
        jitter = random.uniform(0.0, MAX_JITTER_SECONDS)  # noqa: S311 (spreading, not secrecy)
        return RateLimitedError(
            f"The shared lemlist rate limit for this API key is reached "
            f"({allowed} requests per {self._window:g} s)",
            retry_after=max(0.0, free_at - now) + jitter,
            held_back=True,
        )
