"""Reading lemlist's answers: error bodies (text/plain or JSON), Retry-After, what a 404
means on each route, and the campaign list in either of its shapes."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

from lemlist_export.core.errors import (
    CampaignNotFoundError,
    DownloadUnavailableError,
    ExportExpiredError,
    LemlistError,
    LemlistProtocolError,
    LemlistRequestError,
)
from lemlist_export.core.redaction import redact

_MAX_TEXT = 200


def error_text(body: bytes) -> str:
    """The human part of an error body: JSON `message`, or the text itself, shortened."""
    text = body.decode("utf-8", errors="replace").strip()
    if text.startswith("{"):
        try:
            parsed = json.loads(text)
        except (ValueError, RecursionError):
            # Not JSON, or JSON Python will not build: a number over the int digit limit
            # (ValueError), nesting deeper than the recursion limit. Shown as text then.
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


def campaign_page(body: Any, page_size: int) -> tuple[list[dict[str, Any]], bool]:
    """One page of campaigns from either shape: a bare array or {campaigns, pagination}."""
    if isinstance(body, list):
        return [c for c in body if isinstance(c, dict)], len(body) >= page_size
    if isinstance(body, dict) and isinstance(body.get("campaigns"), list):
        pagination = body.get("pagination") or {}
        campaigns = [c for c in body["campaigns"] if isinstance(c, dict)]
        next_page = pagination.get("nextPage") if isinstance(pagination, dict) else None
        return campaigns, bool(next_page) and bool(campaigns)
    raise LemlistProtocolError("lemlist answered /campaigns in a shape we do not know")


def campaign_not_found(text: str) -> LemlistError:
    return CampaignNotFoundError(f"lemlist has no such campaign ({text or '404'})", status=404)


def status_not_found(export_id: str) -> Callable[[str], LemlistError]:
    def build(text: str) -> LemlistError:
        if "campaign not found" in text.lower():
            return campaign_not_found(text)
        # lemlist drops a status 2 hours after the start: a 404 here is an expiry.
        return ExportExpiredError(
            f"lemlist no longer knows export {export_id}: a status lives 2 hours ({text or '404'})",
            status=404,
        )

    return build


def download_not_found(text: str) -> LemlistError:
    return DownloadUnavailableError(
        "The export file is gone (lemlist deletes it 24 hours after it is ready)"
        + (f": {text}" if text else ""),
        status=404,
    )


def generic_not_found(text: str) -> LemlistError:
    return LemlistRequestError(f"lemlist answered 404{': ' + text if text else ''}", status=404)
