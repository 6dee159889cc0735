"""Opaque next-page tokens for listing a campaign's exports (DynamoDB query keys)."""

from __future__ import annotations

import base64
import json
import re
from typing import Any

from lemlist_export.core.errors import InvalidRequestError


def page_token(last_key: dict[str, Any]) -> str:
    """An opaque next-page token (the query's LastEvaluatedKey, url-safe base64 JSON)."""
    plain = {name: value["S"] for name, value in last_key.items()}
    return base64.urlsafe_b64encode(json.dumps(plain).encode()).decode().rstrip("=")


def page_key(token: str, campaign_id: str) -> dict[str, Any]:
    """The ExclusiveStartKey of a token; InvalidRequestError if it is not one of ours."""
    try:
        padded = token + "=" * (-len(token) % 4)
        plain = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, UnicodeDecodeError):
        raise InvalidRequestError("nextToken is not a token this API gave out") from None
    expected = {"exportId", "campaignId", "createdAt"}
    if (
        not isinstance(plain, dict)
        or set(plain) != expected
        or plain["campaignId"] != campaign_id
        # DynamoDB refuses empty or oversized key values: refuse them here, as a 400.
        or not all(isinstance(v, str) and 0 < len(v) <= 64 for v in plain.values())
        or not _ISO_TIME.fullmatch(plain["createdAt"])
    ):
        raise InvalidRequestError("nextToken is not a token this API gave out for this campaign")
    return {name: {"S": value} for name, value in plain.items()}


_ISO_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z")
