"""Turn what Step Functions caught (an error name and a cause) into a sentence for people."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from lemlist_export.core.redaction import redact

_MAX_REASON = 1000

# What to add for errors a person can act on.
_ADVICE = {
    "LemlistAuthError": "Put a valid lemlist API key in the secret, then start the export again.",
    "LemlistBadTeamError": "Check that the API key belongs to the team that owns the campaign.",
    "DownloadUnavailableError": "Start a new export: lemlist keeps the file 24 hours.",
    "ConfigurationError": "Fix the stack's configuration, then start the export again.",
}


@dataclass(frozen=True)
class Failure:
    error_type: str
    reason: str

    @classmethod
    def from_caught(cls, caught: dict[str, Any] | None, fallback: str = "") -> Failure:
        """From a Catch's `{"Error", "Cause"}`; the Cause of a Lambda error is its JSON.
        `fallback` is the message when the cause says nothing."""
        caught = caught or {}
        error = str(caught.get("Error") or "UnknownError")
        message = _message_from_cause(caught.get("Cause")) or fallback
        return cls.describe(error, message)

    @classmethod
    def describe(cls, error: str, message: str) -> Failure:
        if error == "States.Timeout":
            message = message or "A step of the export took longer than its time limit."
        elif error.startswith("Lambda."):
            message = f"AWS Lambda failed to run a step ({error}). {message}".strip()
        reason = message or f"The export failed with {error}."
        advice = _ADVICE.get(error)
        if advice and advice not in reason:
            reason = f"{reason.rstrip('.')}. {advice}"
        return cls(error, _clip(redact(reason)))


def _message_from_cause(cause: Any) -> str:
    if not isinstance(cause, str) or not cause.strip():
        return ""
    try:
        parsed = json.loads(cause)
    except json.JSONDecodeError:
        return cause.strip()
    if isinstance(parsed, dict):
        message = parsed.get("errorMessage") or parsed.get("message") or ""
        return str(message).strip()
    return cause.strip()


def _clip(text: str) -> str:
    return text if len(text) <= _MAX_REASON else text[: _MAX_REASON - 1] + "…"
