"""Identifiers we accept from callers and put into lemlist URLs and S3 keys."""

from __future__ import annotations

import re

from lemlist_export.core.errors import InvalidRequestError

# lemlist ids are letters, digits and underscores (cam_..., axp_...). The prefix is not
# checked: lemlist's docs have shown more than one.
_LEMLIST_ID = re.compile(r"[A-Za-z0-9_]{1,64}")


def is_lemlist_id(value: object) -> bool:
    return isinstance(value, str) and _LEMLIST_ID.fullmatch(value) is not None


def require_lemlist_id(value: object, what: str = "id") -> str:
    """`value` if it is a well-formed lemlist id, else InvalidRequestError."""
    if not isinstance(value, str):
        raise InvalidRequestError(f"The {what} must be a string")
    if not is_lemlist_id(value):
        raise InvalidRequestError(
            f"The {what} must be 1 to 64 letters, digits or underscores, "
            "like cam_A1B2C3D4E5F6G7H8I9"
        )
    return value
