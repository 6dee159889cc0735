"""The body of `POST /exports`: `{"campaignId": "cam_..."}`."""

from __future__ import annotations

import json

from .errors import BodyTooLargeError, InvalidRequestError
from .identifiers import require_lemlist_id

MAX_BODY_BYTES = 16 * 1024
_EXAMPLE = '{"campaignId": "cam_A1B2C3D4E5F6G7H8I9"}'


def parse_start_body(body: str | bytes | None) -> str:
    """The campaign id from the body, or InvalidRequestError saying what is wrong."""
    if body is None or not body.strip():
        raise InvalidRequestError(f"The body is empty; send JSON like {_EXAMPLE}")
    if len(body) > MAX_BODY_BYTES:
        raise BodyTooLargeError(f"The body is over {MAX_BODY_BYTES} bytes")
    try:
        data = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise InvalidRequestError(
            f"The body is not valid JSON; send JSON like {_EXAMPLE}"
        ) from None
    if not isinstance(data, dict):
        raise InvalidRequestError(f"The body must be a JSON object like {_EXAMPLE}")
    if "campaignId" not in data:
        raise InvalidRequestError(f"The body has no campaignId; send JSON like {_EXAMPLE}")
    return require_lemlist_id(data["campaignId"], "campaignId")
