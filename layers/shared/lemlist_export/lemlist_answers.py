"""Reading lemlist's error answers: text/plain or JSON bodies, and Retry-After."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from .redaction import redact

_MAX_TEXT = 200


def error_text(body: bytes) -> str:
    """The human part of an error body: JSON `message`, or the text itself, shortened."""
    text = body.decode("utf-8", errors="replace").strip()
    if text.startswith("{"):
        try:
            parsed = json.loads(text)
        except json.JSONDecodeError:
            parsed = None
        if isinstance(parsed, dict):
            message = parsed.get("message") or parsed.get("error")
            text = message if isinstance(message, str) else ""
    # Masked before it is shortened: a cut must never leave part of a secret behind.
    text = redact(" ".join(text.split()))
    if len(text) > _MAX_TEXT:
        text = text[: _MAX_TEXT - 1] + "…"
    return text


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date)."""
    if value is None:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)
