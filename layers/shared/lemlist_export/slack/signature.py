"""Is this request from Slack? Slack's v0 request signing, checked before the body is read.

Slack signs `v0:{X-Slack-Request-Timestamp}:{raw body}` with the app's signing secret
(HMAC-SHA256, hex, prefixed `v0=`). The signature covers the raw bytes, so verify before
parsing, and after undoing API Gateway's base64. The timestamp window refuses replays.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time

from lemlist_export.core.errors import ConfigurationError, ExportError

SIGNATURE_HEADER = "X-Slack-Signature"
TIMESTAMP_HEADER = "X-Slack-Request-Timestamp"
_VERSION = "v0"
_TIMESTAMP = re.compile(r"[0-9]{1,12}")


class SlackSignatureError(ExportError):
    """The request is not provably from Slack. The message says why, never what was sent."""


def slack_signature(signing_secret: str, body: bytes, timestamp: str) -> str:
    """`v0=<hex HMAC-SHA256>` of `v0:{timestamp}:{body}`, as Slack computes it."""
    basestring = f"{_VERSION}:{timestamp}:".encode() + body
    digest = hmac.new(signing_secret.encode(), basestring, hashlib.sha256).hexdigest()
    return f"{_VERSION}={digest}"


def verify_slack_request(
    signing_secret: str,
    body: bytes,
    timestamp: str | None,
    signature: str | None,
    *,
    now: float | None = None,
    max_age_seconds: int = 300,
) -> None:
    """Return if Slack signed `body` at `timestamp`, within `max_age_seconds` of `now`.

    Raises SlackSignatureError otherwise, and ConfigurationError if the secret is empty
    (anyone can compute an HMAC with an empty key).
    """
    if not signing_secret:
        raise ConfigurationError("The Slack signing secret is empty")
    if not timestamp:
        raise SlackSignatureError(f"The {TIMESTAMP_HEADER} header is missing")
    if not signature:
        raise SlackSignatureError(f"The {SIGNATURE_HEADER} header is missing")
    if _TIMESTAMP.fullmatch(timestamp) is None:
        raise SlackSignatureError(f"The {TIMESTAMP_HEADER} header is not a Unix time in seconds")
    age = (time.time() if now is None else now) - int(timestamp)
    if abs(age) > max_age_seconds:
        # Either a replay of an old request or a clock far off: both are refused.
        direction = "old" if age > 0 else "in the future"
        raise SlackSignatureError(
            f"The request timestamp is {abs(age):.0f} s {direction} "
            f"(at most {max_age_seconds} s either way)"
        )
    if not signature.startswith(f"{_VERSION}="):
        raise SlackSignatureError(f"The {SIGNATURE_HEADER} header is not a {_VERSION} signature")
    expected = slack_signature(signing_secret, body, timestamp)
    # surrogatepass: a header decoded from a JSON event can hold a lone surrogate ("\ud800"),
    # which strict UTF-8 cannot encode; it must be a mismatch, not a UnicodeEncodeError.
    sent = signature.encode("utf-8", "surrogatepass")
    if not hmac.compare_digest(expected.encode(), sent):
        raise SlackSignatureError(f"The {SIGNATURE_HEADER} header does not match the body")
