"""The HTTP API's requests and answers that need no pydantic.

Powertools validates the API's requests with pydantic against the routes' signatures and the
models (http_api.documented, http_api.models): importing pydantic and building the models
was about 30% of the API's import (benchmarks/cold_start.py). The checks here recognise the
requests that validation passes, and give the values it gives; the handler routes those
without pydantic. Any other request (a refusal's message is made of pydantic's errors, an
unusual one is not worth a second reading) goes to the validating resolver, which answers it
as it always did. So a check may be stricter than validation, never looser:
tests/unit/test_api_plain_path.py compares both ways on generated requests.

Answers alike: a body that Powertools' response validation would leave as it is (reordered
as its model orders its fields) is sent as it is; any other goes through pydantic.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEventV2

LEMLIST_ID: Final = r"^[A-Za-z0-9_]{1,64}$"
IDEMPOTENCY_KEY: Final = r"^[\x21-\x7e]{1,255}$"
# The longest callbackUrl and nextToken (the models' and the query's max_length).
MAX_TEXT: Final = 2048
LIMIT_DEFAULT: Final = 20
LIMIT_MAX: Final = 100
# ExportStarted's fields (each a str) and RetryStarted's with their types, in the models'
# order: what pydantic keeps as it is (exact types: a bool is no int here, nor a str subclass
# a str, though pydantic may take them).
STARTED_FIELDS: Final = (
    "exportId",
    "campaignId",
    "campaignName",
    "status",
    "createdAt",
    "statusUrl",
)
RETRY_ACTIONS: Final = ("copyAgain", "newExport")
RETRY_FIELDS: Final = {
    "exportId": str,
    "retryOf": str,
    "retry": int,
    "action": str,
    "reason": str,
    "campaignId": str,
    "status": str,
    "replay": bool,
    "statusUrl": str,
}
_START_FIELDS = frozenset({"campaignId", "callbackUrl"})
# A limit as pydantic reads it for sure: 1 to 100 in plain digits (it also takes " 20", "20.0").
_LIMIT = re.compile(r"[1-9][0-9]{0,2}")


class NeedsValidation(BaseException):
    """A request the checks cannot vouch for, raised by a route before it does anything: the
    validating resolver answers the request instead. Not an Exception, so that no exception
    handler of the route's resolver (the API's last one takes every Exception) answers it."""


def well_formed(event: Mapping[str, Any]) -> bool:
    """An event whose headers, query and cookies are text, as API Gateway sends them: the only
    ones Powertools' validation reads without failing (it splits every value on commas)."""
    headers = event.get("headers")
    query = event.get("queryStringParameters")
    cookies = event.get("cookies")
    return (
        (headers is None or _text_mapping(headers))
        and (query is None or _text_mapping(query))
        and isinstance(event.get("rawQueryString", ""), str)
        and (cookies is None or (type(cookies) is list and all(type(c) is str for c in cookies)))
        and "multiValueHeaders" not in event
        and "multiValueQueryStringParameters" not in event
    )


def _text_mapping(value: object) -> bool:
    return type(value) is dict and all(type(k) is str and type(v) is str for k, v in value.items())


def lemlist_id(value: object) -> str:
    """An export or campaign id in a path or query, as the LEMLIST_ID pattern passes it."""
    if type(value) is str and re.fullmatch(LEMLIST_ID, value):
        return value
    raise NeedsValidation


def _one_value(value: str) -> str:
    """A query or header value Powertools reads as the value itself: it splits values on
    commas and joins them again unless the name was repeated (which only the raw query
    string shows): a value without a comma is never split."""
    if "," in value:
        raise NeedsValidation
    return value


def request_json(event: APIGatewayProxyEventV2) -> Any:
    """The request's body as Powertools' validation reads it: JSON, under a JSON content type
    or none (lambda_handler's as_json gives every body one)."""
    content_type = event.headers.get("content-type", "").strip()
    if not event.body or (content_type and not content_type.startswith("application/json")):
        raise NeedsValidation
    try:
        return event.json_body
    except Exception:
        raise NeedsValidation from None


def start_request(body: object) -> dict[str, Any]:
    """POST /exports' JSON body as `StartExportBody.model_dump()` gives it."""
    if type(body) is not dict or not body.keys() <= _START_FIELDS:
        raise NeedsValidation
    campaign_id = lemlist_id(body.get("campaignId"))
    callback_url = body.get("callbackUrl")
    if callback_url is not None and not _short_ascii(callback_url):
        raise NeedsValidation
    return {"campaignId": campaign_id, "callbackUrl": callback_url}


def _short_ascii(value: object) -> bool:
    # ASCII: lengths counted alike by Python and pydantic, and no lone surrogate to refuse.
    return type(value) is str and value.isascii() and len(value) <= MAX_TEXT


def idempotency_key(headers: Mapping[str, str]) -> str | None:
    """The Idempotency-Key header (`headers` looks names up in any case), or None."""
    value = headers.get("idempotency-key")
    if value is None:
        return None
    if re.fullmatch(IDEMPOTENCY_KEY, _one_value(value)):
        return value
    raise NeedsValidation


def listing(query: Mapping[str, str]) -> tuple[str, int, str | None]:
    """GET /exports' (campaignId, limit, nextToken)."""
    campaign_id = lemlist_id(_one_value(query.get("campaignId", "")))
    limit = query.get("limit")
    if limit is None:
        count = LIMIT_DEFAULT
    elif _LIMIT.fullmatch(_one_value(limit)) and int(limit) <= LIMIT_MAX:
        count = int(limit)
    else:
        raise NeedsValidation
    token = query.get("nextToken")
    if token is not None and not _short_ascii(_one_value(token)):
        raise NeedsValidation
    return campaign_id, count, token


def started_body(body: Mapping[str, Any]) -> Any:
    """A 202 answer's body to POST /exports as ExportStarted serializes it (a replay's, from
    the idempotency store, has its keys sorted)."""
    if all(type(body.get(name)) is str for name in STARTED_FIELDS):
        return {name: body[name] for name in STARTED_FIELDS}
    from lemlist_export.http_api.documented import validated_body
    from lemlist_export.http_api.models import ExportStarted

    return validated_body(ExportStarted, body)


def retry_body(body: Mapping[str, Any]) -> Any:
    """A 202 answer's body to POST /exports/{id}/retry as RetryStarted serializes it."""
    if (
        all(type(body.get(name)) is kind for name, kind in RETRY_FIELDS.items())
        and body["action"] in RETRY_ACTIONS
    ):
        return {name: body[name] for name in RETRY_FIELDS}
    from lemlist_export.http_api.documented import validated_body
    from lemlist_export.http_api.models import RetryStarted

    return validated_body(RetryStarted, body)


def json_answer(value: dict[str, Any]) -> dict[str, Any]:
    """A route's `dict[str, Any]` answer as pydantic serializes it: itself, when it is made of
    JSON's own values (records are)."""
    if json_values(value):
        return value
    from lemlist_export.http_api.documented import validated_body

    serialized: dict[str, Any] = validated_body(dict[str, Any], value)
    return serialized


def json_values(value: object) -> bool:
    """True if `value` is made of JSON's own values only (what pydantic serializes as itself
    for `dict[str, Any]`): str, int, finite float, bool, None, lists and str-keyed dicts."""
    if value is None or type(value) in (str, int, bool):
        return True
    if type(value) is float:
        return math.isfinite(value)
    if type(value) is list:
        return all(json_values(item) for item in value)
    if type(value) is dict:
        return all(type(k) is str and json_values(v) for k, v in value.items())
    return False
