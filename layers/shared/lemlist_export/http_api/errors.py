"""How our errors look to an HTTP caller: a status code and a sentence, never a stack trace."""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from lemlist_export.core.errors import (
    AwsTransientError,
    BodyTooLargeError,
    CampaignNotFoundError,
    ConfigurationError,
    ExportError,
    ExportNotFoundError,
    InvalidRequestError,
    LemlistAuthError,
    LemlistBadTeamError,
    LemlistError,
    LemlistTransientError,
    RateLimitedError,
)
from lemlist_export.http_api.auth import UnauthorizedError
from lemlist_export.lemlist.campaign_links import (
    looks_like_campaign_id,
    looks_like_link,
    read_campaign_link,
)
from lemlist_export.workflow.redrive import RetryRefusedError


@dataclass(frozen=True)
class HttpError:
    status: int
    message: str
    headers: dict[str, str] = field(default_factory=dict)


def http_error(exc: ExportError) -> HttpError:
    message = str(exc)
    if isinstance(exc, UnauthorizedError):
        return HttpError(401, message)
    if isinstance(exc, BodyTooLargeError):
        return HttpError(413, message)
    if isinstance(exc, InvalidRequestError):
        return HttpError(400, message)
    if isinstance(exc, CampaignNotFoundError | ExportNotFoundError):
        return HttpError(404, message)
    if isinstance(exc, RetryRefusedError):
        return HttpError(409, message)
    if isinstance(exc, LemlistAuthError | LemlistBadTeamError):
        return HttpError(502, f"{message}. Check the lemlist API key in the stack's secret.")
    if isinstance(exc, RateLimitedError):
        wait = max(1, math.ceil(exc.retry_after or 2))
        return HttpError(503, f"{message}. Try again in {wait} s.", {"Retry-After": str(wait)})
    if isinstance(exc, LemlistTransientError):
        return HttpError(503, f"lemlist is not answering right now ({message}). Try again later.")
    if isinstance(exc, LemlistError):
        return HttpError(502, message)
    if isinstance(exc, AwsTransientError):
        return HttpError(503, f"AWS is busy ({message}). Try again shortly.", {"Retry-After": "2"})
    if isinstance(exc, ConfigurationError):
        return HttpError(500, f"The stack is misconfigured: {message}")
    return HttpError(500, message)


@contextmanager
def campaign_id_hint(export_id: str) -> Iterator[None]:
    """Around an export lookup: an unknown id that is a campaign id gets, instead of a bare
    "no such export", where that campaign's exports are listed."""
    try:
        yield
    except ExportNotFoundError as exc:
        if not looks_like_campaign_id(export_id):
            raise
        raise ExportNotFoundError(
            f"{export_id} is a campaign id; a campaign's exports are at "
            f"GET /exports?campaignId={export_id}"
        ) from exc


# What a person should read for the validation errors a request can hit.
_FIELD_ADVICE = {
    "campaignId": "must be a lemlist campaign id: letters, digits and underscores, "
    "like cam_A1B2C3D4E5F6G7H8I9",
    "Idempotency-Key": "must be 1 to 255 visible ASCII characters",
    "limit": "must be a whole number from 1 to 100",
    "exportId": "must be a lemlist export id: letters, digits and underscores",
}
_FIELD_NAMES = {name.lower(): name for name in _FIELD_ADVICE}
_EXAMPLE = '{"campaignId": "cam_A1B2C3D4E5F6G7H8I9"}'


def validation_message(errors: Sequence[Any]) -> tuple[int, str]:
    """(status, sentence) for Powertools' validation errors: 400 when the body is not JSON or
    missing, 422 when it is JSON of the wrong shape."""
    parts: list[str] = []
    status = 422
    for error in errors:
        location = [str(p) for p in error.get("loc", ())]
        kind = error.get("type", "")
        if location == ["body"] or (location[:1] == ["body"] and kind == "json_invalid"):
            status = 400
            parts.append(f"The body must be a JSON object like {_EXAMPLE}")
            continue
        field = _FIELD_NAMES.get(location[-1].lower(), location[-1]) if location else "request"
        if kind == "missing":
            parts.append(f"{field} is required")
        elif kind == "extra_forbidden":
            parts.append(f"{field} is not a field this API knows")
        else:
            advice = _FIELD_ADVICE.get(field, error.get("msg", "is not valid"))
            parts.append(f"{field} {advice}{_link_hint(field, error.get('input'))}")
    unique = list(dict.fromkeys(parts)) or ["The request is not valid"]
    return status, "; ".join(unique)


def _link_hint(field: str, value: object) -> str:
    """For a campaign's lemlist link sent where its id belongs: the id to send instead."""
    if field != "campaignId" or not isinstance(value, str) or not looks_like_link(value):
        return ""
    campaign_id = read_campaign_link(value).lone_id
    if campaign_id is None:
        return ""
    return f'; this looks like a campaign URL: send "{campaign_id}"'
