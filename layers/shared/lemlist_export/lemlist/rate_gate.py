"""One lemlist rate budget per API key, shared through DynamoDB by every Lambda using the key.

lemlist allows 20 requests per sliding 2 s per API key, on all routes together. Hundreds of
exports can run at once, each calling lemlist from its own invocation, so no process can count
alone. The gate spaces the key's requests evenly instead of counting them: one DynamoDB item per
key holds the next free place in time (`tat`, the generic cell rate algorithm's "theoretical
arrival time"), and a request books the place by moving it one spacing on, in a single
conditional UpdateItem that DynamoDB applies atomically. Places are `window / (limit - 1)`
apart, so any window holds at most `limit` of them; the default limit is 18 of lemlist's 20, a
margin for clocks that disagree and for requests that leave a little after their place.

Booking a place is one write, whatever the load: no read first, no version to race for, so
hundreds of invocations at once cost DynamoDB one request each (a read-then-write scheme
loses most races under that load and pays for every loss). A request whose place is a little
ahead waits for it in its invocation; one whose place is further ahead than it may wait is
refused (RateLimitedError, held_back) with the time the next place frees, and books nothing.

Priorities: starts, downloads and campaign listings (URGENT) may book as far ahead as their
caller waits (at least URGENT_WAIT_SECONDS, 4 s); status checks (ROUTINE) only
ROUTINE_WAIT_SECONDS (2 s) ahead. So while starts or downloads keep the places booked further
ahead, status checks are refused, and a burst of checks never holds a start back by more
than that.

A refused status check is not sent back to try its luck with all the others: the item keeps
a queue time (`routineNext`), and each refused check is given the next place in it, one
spacing after the previous one. Two hundred exports waiting at once thus come back spread over
the time the budget needs to check them all, each once, instead of every few seconds together
(each retry is a Lambda invocation and state transitions, and most would be refused again).
The queue reaches at most MAX_QUEUE_SECONDS ahead. Should lemlist still answer 429, the client
treats it as it treats the gate's own refusal.
"""

from __future__ import annotations

import hashlib
import math
import random
import time
from collections.abc import Callable
from enum import Enum
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from lemlist_export.core.aws_errors import transient_aws_errors
from lemlist_export.core.errors import RateLimitedError

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


DEFAULT_LIMIT = 18
DEFAULT_WINDOW_SECONDS = 2.0
# How far ahead a status check books a place (and waits for it in its invocation): two
# seconds in a Lambda cost less than another round through the state machine, and checks
# coming back from their waits arrive bunched (the Wait state counts whole seconds).
ROUTINE_WAIT_SECONDS = 2.0
# How far ahead a start, download or listing books a place at least (more if its caller
# waits longer): further than status checks, which keeps such requests ahead of them.
URGENT_WAIT_SECONDS = 4.0
# How far ahead refused status checks are queued at most (beyond, they share the last place).
MAX_QUEUE_SECONDS = 60.0
# Waiters refused together spread over this much time instead of all coming back at once.
MAX_JITTER_SECONDS = 0.25
# Bookings that find the place moved between two tries (time passing between them): at most.
MAX_TRIES = 4
# The item outlives its last booked place by a minute, then DynamoDB's TTL deletes it.
EXPIRES_AFTER_SECONDS = 60
_ITEM_PREFIX = "lemlist-rate"
_NAMES = {"#tat": "tat", "#queue": "routineNext", "#expiration": "expiration"}


class Priority(Enum):
    URGENT = "urgent"  # starts, downloads, campaign listings: book as far as they wait
    ROUTINE = "routine"  # status checks: book only just ahead, else queue


def key_id_for(api_key: str) -> str:
    """A short id for an API key that cannot be turned back into it: what items are named by."""
    return hashlib.sha256(f"lemlist-rate-gate:{api_key}".encode()).hexdigest()[:16]


class DynamoRateGate:
    """lemlist_client.RateGate spacing a key's requests so that no `window` holds more than
    `limit` of them.

    The table is the one Powertools idempotency uses (`id` key, `expiration` TTL): the item is
    named `lemlist-rate#<key id>`, which no idempotency key looks like. It holds `tat` (the next
    free place, epoch seconds) and `routineNext` (where the next refused status check queues).
    """

    def __init__(
        self,
        dynamodb: DynamoDBClient,
        table: str,
        key_id: str,
        *,
        limit: int = DEFAULT_LIMIT,
        window_seconds: float = DEFAULT_WINDOW_SECONDS,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        routine_wait: float = ROUTINE_WAIT_SECONDS,
        urgent_wait: float = URGENT_WAIT_SECONDS,
    ) -> None:
        if limit < 2:
            raise ValueError("limit must be at least 2")
        if window_seconds <= 0:
            raise ValueError("window_seconds must be positive")
        self._db = dynamodb
        self._table = table
        self._key = {"id": {"S": f"{_ITEM_PREFIX}#{key_id}"}}
        self._limit = limit
        self._window = window_seconds
        # limit places spaced this far apart span exactly one window.
        self._spacing = window_seconds / (limit - 1)
        self._clock = clock
        self._sleep = sleep
        self._routine_wait = routine_wait
        self._urgent_wait = urgent_wait
        self._known: float | None = None  # the place last seen: which booking to try first

    def __repr__(self) -> str:
        return (
            f"DynamoRateGate(table={self._table!r}, limit={self._limit}, "
            f"window_seconds={self._window:g})"
        )

    @property
    def spacing(self) -> float:
        """Seconds between two booked places."""
        return self._spacing

    def acquire(self, priority: Priority = Priority.URGENT, max_wait: float = 0.0) -> float:
        """Book the key's next place and wait for it; return the seconds waited. Refused
        (RateLimitedError, held_back, nothing booked) when the place is further ahead than the
        request may wait. AWS throttling or failures raise AwsTransientError: a gate that
        cannot book must not admit."""
        routine = priority is Priority.ROUTINE
        horizon = self._routine_wait if routine else max(max_wait, self._urgent_wait)
        for _ in range(MAX_TRIES):
            now = self._clock()
            known = self._known
            # The place last seen says which booking to try; a refused one tells the truth.
            if known is None or known <= now:
                booked, current = self._book_free(now)
            else:
                booked, current = self._book_next(now, horizon)
            if booked is not None:
                wait = max(0.0, booked - now)
                if wait > 0:
                    self._sleep(wait)
                return wait
            place = current.get("tat", 0.0)  # _conditional remembered it
            if place > now + horizon:
                refusal = self._refusal(place, now)
                if not routine:
                    raise refusal
                raise self._queue(refusal, current.get("routineNext"), now)
        # The place moved under every try: as busy as can be; come back a place later.
        raise RateLimitedError(
            "The shared lemlist rate limit for this API key is contended",
            retry_after=self._spacing + random.uniform(0.0, MAX_JITTER_SECONDS),  # noqa: S311
            held_back=True,
        )

    def _book_free(self, now: float) -> tuple[float | None, dict[str, float]]:
        """The place is free now (nobody booked since it passed): take it."""
        nxt = now + self._spacing
        stored, current = self._conditional(
            "SET #tat = :next, #expiration = :expiration",
            "attribute_not_exists(#tat) OR #tat <= :now",
            {":next": _n(nxt), ":now": _n(now), ":expiration": self._expiration(nxt)},
        )
        return (None, current) if stored is None else (now, stored)

    def _book_next(self, now: float, horizon: float) -> tuple[float | None, dict[str, float]]:
        """The place is ahead, within the horizon: take it, moving it one spacing on."""
        stored, current = self._conditional(
            "SET #tat = #tat + :spacing, #expiration = :expiration",
            "#tat > :now AND #tat <= :horizon",
            {
                ":spacing": _n(self._spacing),
                ":now": _n(now),
                ":horizon": _n(now + horizon),
                ":expiration": self._expiration(now + horizon + self._spacing),
            },
        )
        return (None, current) if stored is None else (stored["tat"] - self._spacing, stored)

    def _queue(
        self, refusal: RateLimitedError, queue: float | None, now: float
    ) -> RateLimitedError:
        """`refusal` for a status check, its wait moved to its place in the queue of refused
        checks: after the queue's end, or when the next place frees if the queue ended
        before. Like booking, one write that DynamoDB applies atomically, with no read."""
        free_at = now + (refusal.retry_after or 0.0)
        cap = now + MAX_QUEUE_SECONDS
        for _ in range(MAX_TRIES):
            if queue is not None and queue > cap:
                place = cap  # a full queue: share its last place, book nothing
                break
            if queue is not None and queue >= free_at:
                stored, current = self._conditional(
                    "SET #queue = #queue + :spacing",
                    "#queue >= :free AND #queue <= :cap",
                    {":spacing": _n(self._spacing), ":free": _n(free_at), ":cap": _n(cap)},
                )
                if stored is not None:
                    place = stored["routineNext"] - self._spacing
                    break
            else:
                stored, current = self._conditional(
                    "SET #queue = :next",
                    "attribute_not_exists(#queue) OR #queue < :free",
                    {":next": _n(free_at + self._spacing), ":free": _n(free_at)},
                )
                if stored is not None:
                    place = free_at
                    break
            queue = current.get("routineNext")
        else:
            return refusal  # the queue moved under every try: not queued, the refusal stands
        return RateLimitedError(str(refusal), retry_after=place - now, held_back=True)

    def _conditional(
        self, expression: str, condition: str, values: dict[str, Any]
    ) -> tuple[dict[str, float] | None, dict[str, float]]:
        """One conditional write: the item's numbers after it, or None and the item's numbers
        as they stand when the condition did not hold."""
        names = {k: v for k, v in _NAMES.items() if k in expression or k in condition}
        try:
            with transient_aws_errors("DynamoDB UpdateItem (lemlist rate gate)"):
                answer = self._db.update_item(
                    TableName=self._table,
                    Key=self._key,
                    UpdateExpression=expression,
                    ConditionExpression=condition,
                    ExpressionAttributeNames=names,
                    ExpressionAttributeValues=values,
                    ReturnValues="ALL_NEW",
                    ReturnValuesOnConditionCheckFailure="ALL_OLD",
                )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise
            current = _numbers(exc.response.get("Item", {}))
            self._remember(current)
            return None, current
        stored = _numbers(answer.get("Attributes", {}))
        self._remember(stored)
        return stored, stored

    def _remember(self, stored: dict[str, float]) -> None:
        """The place as the item holds it (none: free now) picks the next try's booking."""
        self._known = stored.get("tat", 0.0)

    def _refusal(self, place: float, now: float) -> RateLimitedError:
        jitter = random.uniform(0.0, MAX_JITTER_SECONDS)  # noqa: S311 (spreading, not secrecy)
        return RateLimitedError(
            f"The shared lemlist rate limit for this API key is reached "
            f"({self._limit} requests per {self._window:g} s)",
            retry_after=max(0.0, place - now) + jitter,
            held_back=True,
        )

    def _expiration(self, until: float) -> dict[str, str]:
        return {"N": str(math.ceil(until) + EXPIRES_AFTER_SECONDS)}


def _n(value: float) -> dict[str, str]:
    return {"N": f"{value:.6f}"}


def _numbers(item: Any) -> dict[str, float]:
    """The gate's numbers from an item as DynamoDB returns it."""
    found = {}
    for name in ("tat", "routineNext"):
        if "N" in item.get(name, {}):
            found[name] = float(item[name]["N"])
    return found
