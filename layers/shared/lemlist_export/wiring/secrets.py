"""Secrets from AWS Secrets Manager, through Powertools Parameters (cached 5 minutes).

Every value read here is registered for redaction before anything else sees it.
"""

from __future__ import annotations

import json

from aws_lambda_powertools.utilities import parameters
from botocore.exceptions import BotoCoreError, ClientError

from lemlist_export.core.aws_errors import is_transient
from lemlist_export.core.errors import AwsTransientError, ConfigurationError
from lemlist_export.core.redaction import register_secret
from lemlist_export.notify.targets import NotificationTargets
from lemlist_export.wiring.settings import optional, required, url_judge

CACHE_SECONDS = 300


def read_secret(name: str) -> str:
    try:
        value = parameters.get_secret(name, max_age=CACHE_SECONDS)
    except parameters.exceptions.GetParameterError as exc:
        # Name the secret and the AWS error code only, never a value.
        code = _code(exc)
        message = f"Could not read the secret {name}: {code}"
        if _transient(exc.__cause__ or exc.__context__):
            raise AwsTransientError(
                message, operation="Secrets Manager GetSecretValue", code=code
            ) from None
        raise ConfigurationError(message) from None
    if isinstance(value, bytes):
        value = value.decode()
    if not isinstance(value, str):
        raise ConfigurationError(f"The secret {name} is not a string")
    register_secret(value)
    return value


def lemlist_api_key() -> str:
    """The key, stored as the secret's plain value or as `{"apiKey": "..."}`."""
    name = required("LEMLIST_API_KEY_SECRET")
    value = read_secret(name).strip()
    if value.startswith("{"):
        try:
            value = str(json.loads(value).get("apiKey", "")).strip()
        except (json.JSONDecodeError, AttributeError):
            raise ConfigurationError(f"The secret {name} is neither a key nor JSON") from None
    if not value:
        raise ConfigurationError(f"The secret {name} holds no lemlist API key")
    register_secret(value)
    return value


def api_token_secret() -> str:
    """The HTTP API token secret's value, as stored (http_api.auth reads it)."""
    return read_secret(required("API_TOKEN_SECRET"))


def slack_signing_secret() -> str | None:
    """Slack's signing secret; None when the stack has no Slack command."""
    name = optional("SLACK_SIGNING_SECRET")
    return read_secret(name).strip() if name else None


def notification_targets() -> NotificationTargets:
    """Slack and webhook targets; none when NOTIFICATIONS_SECRET is unset."""
    name = optional("NOTIFICATIONS_SECRET")
    if not name:
        return NotificationTargets()
    return NotificationTargets.from_secret(read_secret(name), url_judge())


def _transient(cause: BaseException | None) -> bool:
    if isinstance(cause, ClientError):
        return is_transient(cause)
    return isinstance(cause, BotoCoreError)


def _code(exc: Exception) -> str:
    cause = exc.__cause__ or exc.__context__
    response = getattr(cause, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", "unknown error"))
    return type(cause).__name__ if cause else "unknown error"
