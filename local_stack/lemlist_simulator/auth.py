"""lemlist's auth: HTTP Basic with an empty user name and the API key as password."""

from __future__ import annotations

import base64
import binascii
import hmac


def basic_auth_ok(header: str | None, api_key: str) -> bool:
    """True only for `Basic base64(":" + api_key)`; a non-empty user name is refused."""
    if header is None:
        return False
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return False
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return False
    user, separator, password = decoded.partition(":")
    if user or not separator:
        return False
    return hmac.compare_digest(password.encode("utf-8"), api_key.encode("utf-8"))
