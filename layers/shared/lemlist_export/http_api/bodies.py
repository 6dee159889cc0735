"""Bodies the HTTP API refuses before any route reads them."""

from __future__ import annotations

import base64
import binascii
import json

from lemlist_export.http_api.errors import HttpError

MAX_BODY_BYTES = 16 * 1024
_EXAMPLE = '{"campaignId": "cam_A1B2C3D4E5F6G7H8I9"}'


def read_json_body(body: str, *, base64_encoded: bool) -> HttpError | None:
    """None if `body` (as API Gateway passes it) is a JSON document of a sane size; else the
    4xx to answer. Powertools would turn undecodable bytes or absurd nesting into a 500."""
    try:
        raw = base64.b64decode(body, validate=True) if base64_encoded else body.encode()
    except (binascii.Error, ValueError):
        return HttpError(400, "The body is not valid base64")
    if len(raw) > MAX_BODY_BYTES:
        return HttpError(413, f"The body is over {MAX_BODY_BYTES} bytes")
    try:
        parsed = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        return HttpError(400, "The body is not UTF-8 text")
    except (ValueError, RecursionError):
        return HttpError(400, f"The body must be a JSON object like {_EXAMPLE}")
    if not isinstance(parsed, dict):
        # Valid JSON of the wrong shape (an array, a string): the request is understood but
        # cannot be acted on. Never guess, e.g. by taking an array's first element.
        return HttpError(422, f"The body must be a JSON object like {_EXAMPLE}")
    return None
