"""Signatures on what the stack posts to webhooks and callbacks, in the usual replay-proof form.

`X-Lemlist-Export-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">`.
The timestamp is signed with the body, so a receiver that refuses timestamps older than
`TOLERANCE_SECONDS` cannot be fed a recorded post again later. The stack's own webhook and
callbacks (URLs a caller chose) are signed with different secrets, so a callback receiver
cannot replay what it got to the stack's webhook either.
"""

from __future__ import annotations

import hashlib
import hmac
import re

SIGNATURE_HEADER = "X-Lemlist-Export-Signature"
SCHEME = "v1"
# How old (or how far in the future) a signed timestamp may be when it is checked.
TOLERANCE_SECONDS = 300
_TIMESTAMP = re.compile(r"[0-9]{1,12}")
_MAC = re.compile(r"[0-9a-f]{64}")


def signature(body: bytes, secret: str, timestamp: int) -> str:
    """The header value for `body` posted at `timestamp` (Unix seconds)."""
    return f"t={timestamp},{SCHEME}={_mac(body, secret, timestamp)}"


def is_valid(
    header: str | None,
    body: bytes,
    secret: str,
    now: float,
    tolerance: int = TOLERANCE_SECONDS,
) -> bool:
    """Whether `header` signs `body` with `secret` at a time within `tolerance` of `now`."""
    if not header:
        return False
    fields: dict[str, list[str]] = {}
    for item in header.split(","):
        name, _, value = item.strip().partition("=")
        fields.setdefault(name, []).append(value)
    stamps = fields.get("t", [])
    if len(stamps) != 1 or not _TIMESTAMP.fullmatch(stamps[0]):
        return False
    timestamp = int(stamps[0])
    if abs(now - timestamp) > tolerance:
        return False
    expected = _mac(body, secret, timestamp)
    given = [mac for mac in fields.get(SCHEME, []) if _MAC.fullmatch(mac)]
    return any(hmac.compare_digest(expected, mac) for mac in given)


def _mac(body: bytes, secret: str, timestamp: int) -> str:
    message = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()
