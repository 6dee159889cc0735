"""Keep secrets out of anything we print.

Every secret value this process loads (lemlist key, tokens, signing secrets, webhook URLs)
is registered here; the log formatter and every error message we build pass through
`redact`. This is a safety net: code should not put secrets in messages to begin with.
"""

from __future__ import annotations

import threading

MASK = "[REDACTED]"
# Shorter values would mask ordinary words; no real key or URL is this short.
_MIN_SECRET_LENGTH = 6

_lock = threading.Lock()
# Longest first, so a secret that contains another one is masked whole.
_secrets: tuple[str, ...] = ()


def register_secret(value: str | None) -> None:
    """Remember a secret value so that `redact` masks it from now on."""
    global _secrets
    if not value or len(value) < _MIN_SECRET_LENGTH:
        return
    with _lock:
        if value not in _secrets:
            _secrets = tuple(sorted({*_secrets, value}, key=len, reverse=True))


def redact(text: str) -> str:
    """`text` with every registered secret replaced by a mask."""
    for secret in _secrets:
        if secret in text:
            text = text.replace(secret, MASK)
    return text


def forget_secrets() -> None:
    """Tests only: start from an empty registry."""
    global _secrets
    with _lock:
        _secrets = ()
