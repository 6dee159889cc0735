"""One lemlist rate budget per API key, shared through DynamoDB by every Lambda using the key.

lemlist allows 20 requests per 2 s per API key, on all routes together. Hundreds of exports
can run at once, each calling lemlist from its own invocation, so no process can count alone:
each request first takes a slot in a DynamoDB counter with one atomic, conditional UpdateItem.

Fixed windows: window `i` covers [i * 2 s, (i + 1) * 2 s) of the wall clock, one item each.
The default is 10 per window, not 20: requests at the end of one window and at the start of the
next are less than 2 s apart, so 20 per window could put 40 into lemlist's sliding 2 s, while
any 2 s span touches at most two windows, so 10 per window never exceeds 20 in any 2 s.
Should lemlist still answer 429 (a clock far off, a burst delayed in flight), the client
treats it as it treats the gate's own refusal.
"""

from __future__ import annotations

import hashlib
import math
import random
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from lemlist_export.core.aws_errors import transient_aws_errors
from lemlist_export.core.errors import RateLimitedError

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


DEFAULT_LIMIT = 10
DEFAULT_WINDOW_SECONDS = 2.0
# Waiters refused in one window spread over this much of the next instead of all arriving
# at its first millisecond and being refused together again.
MAX_JITTER_SECONDS = 0.25
# Counters outlive their window by a minute, then DynamoDB's TTL deletes them.
EXPIRES_AFTER_SECONDS = 60
_ITEM_PREFIX = "lemlist-rate"


def key_id_for(api_key: str) -> str:
    """A short id for an API key that cannot be turned back into it: what items are named by."""
    return hashlib.sha256(f"lemlist-rate-gate:{api_key}".encode()).hexdigest()[:16]


class DynamoRateGate:
    """lemlist_client.RateGate admitting at most `limit` requests per fixed window per key.

    The table is the one Powertools idempotency uses (`id` key, `expiration` TTL): counters
    are named `lemlist-rate#<key id>#<window index>`, which no idempotency key looks like.
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
    ) -> None:
        if limit < 1:
            raise ValueError("limit must be at least 1")
        if window_seconds <= 0:
            raise ValueError("window_seconds must be positive")
        self._db = dynamodb
        self._table = table
        self._key_id = key_id
        self._limit = limit
        self._window = window_seconds
        self._clock = clock

    def __repr__(self) -> str:
        return (
            f"DynamoRateGate(table={self._table!r}, key_id={self._key_id!r}, "
            f"limit={self._limit}, window_seconds={self._window:g})"
        )

    def acquire(self) -> None:
        """Take one slot in the current window, or raise RateLimitedError saying when the next
        window opens. AWS throttling or failures raise AwsTransientError: a gate that cannot
        count must not admit."""
        now = self._clock()
        index = math.floor(now / self._window)
        window_end = (index + 1) * self._window
        try:
            with transient_aws_errors("DynamoDB UpdateItem (lemlist rate gate)"):
                self._db.update_item(
                    TableName=self._table,
                    Key={"id": {"S": f"{_ITEM_PREFIX}#{self._key_id}#{index}"}},
                    UpdateExpression="ADD #admitted :one SET #expiration = :expiration",
                    ConditionExpression="attribute_not_exists(#admitted) OR #admitted < :limit",
                    ExpressionAttributeNames={"#admitted": "admitted", "#expiration": "expiration"},
                    ExpressionAttributeValues={
                        ":one": {"N": "1"},
                        ":limit": {"N": str(self._limit)},
                        ":expiration": {"N": str(math.ceil(window_end) + EXPIRES_AFTER_SECONDS)},
                    },
                )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise
            jitter = random.uniform(0.0, MAX_JITTER_SECONDS)  # noqa: S311 (spreading, not secrecy)
            raise RateLimitedError(
                f"The shared lemlist rate limit for this API key is reached "
                f"({self._limit} requests per {self._window:g} s)",
                retry_after=max(0.0, window_end - now) + jitter,
            ) from None
