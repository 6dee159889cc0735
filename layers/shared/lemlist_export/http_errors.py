"""How our errors look to an HTTP caller: a status code and a sentence, never a stack trace."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from .errors import (
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


@dataclass(frozen=True)
class HttpError:
    status: int
    message: str
    headers: dict[str, str] = field(default_factory=dict)


def http_error(exc: ExportError) -> HttpError:
    message = str(exc)
    if isinstance(exc, BodyTooLargeError):
        return HttpError(413, message)
    if isinstance(exc, InvalidRequestError):
        return HttpError(400, message)
    if isinstance(exc, CampaignNotFoundError | ExportNotFoundError):
        return HttpError(404, message)
    if isinstance(exc, LemlistAuthError | LemlistBadTeamError):
        return HttpError(502, f"{message}. Check the lemlist API key in the stack's secret.")
    if isinstance(exc, RateLimitedError):
        wait = max(1, math.ceil(exc.retry_after or 2))
        return HttpError(503, f"{message}. Try again in {wait} s.", {"Retry-After": str(wait)})
    if isinstance(exc, LemlistTransientError):
        return HttpError(503, f"lemlist is not answering right now ({message}). Try again later.")
    if isinstance(exc, LemlistError):
        return HttpError(502, message)
    if isinstance(exc, ConfigurationError):
        return HttpError(500, f"The stack is misconfigured: {message}")
    return HttpError(500, message)
