"""Signatures on what the stack posts to webhooks and callbacks, in the usual replay-proof form.

`X-Lemlist-Export-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">`.
The timestamp is signed with the body, so a receiver that refuses timestamps older than
`TOLERANCE_SECONDS` cannot be fed a recorded post again later (docs/security.md has a
receiver's check). The stack's own webhook and callbacks (URLs a caller chose) are signed
with different secrets, so a callback receiver cannot replay what it got to the stack's
webhook either.
"""

from __future__ import annotations

import hashlib
import hmac

SIGNATURE_HEADER = "X-Lemlist-Export-Signature"
SCHEME = "v1"
# How old (or how far in the future) a signed timestamp may be when it is checked.
TOLERANCE_SECONDS = 300


def signature(body: bytes, secret: str, timestamp: int) -> str:
    """The header value for `body` posted at `timestamp` (Unix seconds)."""
    return f"t={timestamp},{SCHEME}={_mac(body, secret, timestamp)}"


def _mac(body: bytes, secret: str, timestamp: int) -> str:
    message = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()
