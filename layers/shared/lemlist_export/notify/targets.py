"""Where the final announcement goes, read from the notifications secret.

The secret is a JSON object; every key is optional:
`{"slackWebhookUrl": "...", "webhookUrl": "...", "webhookSigningSecret": "...",
"callbackSigningSecret": "..."}`. Webhook URLs are credentials (whoever has one can post),
so all of them count as secrets. Callbacks (URLs a caller chose) are signed with their own
secret, never the webhook's: a callback's receiver must not be able to sign for the webhook.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from lemlist_export.core.errors import ConfigurationError, UnsafeUrlError
from lemlist_export.core.redaction import register_secret
from lemlist_export.core.url_judge import UrlJudge


@dataclass(frozen=True)
class NotificationTargets:
    slack_webhook_url: str | None = None
    webhook_url: str | None = None
    webhook_signing_secret: str | None = None
    callback_signing_secret: str | None = None

    @classmethod
    def from_secret(
        cls, secret: str | dict[str, Any] | None, urls: UrlJudge | None = None
    ) -> NotificationTargets:
        if not secret:
            return cls()
        if isinstance(secret, str):
            try:
                secret = json.loads(secret)
            except json.JSONDecodeError:
                raise ConfigurationError("The notifications secret is not a JSON object") from None
        if not isinstance(secret, dict):
            raise ConfigurationError("The notifications secret is not a JSON object")
        targets = cls(
            slack_webhook_url=_text(secret, "slackWebhookUrl"),
            webhook_url=_text(secret, "webhookUrl"),
            webhook_signing_secret=_text(secret, "webhookSigningSecret"),
            callback_signing_secret=_text(secret, "callbackSigningSecret"),
        )
        register_secret(targets.webhook_signing_secret)
        register_secret(targets.callback_signing_secret)
        for key, value in (
            ("slackWebhookUrl", targets.slack_webhook_url),
            ("webhookUrl", targets.webhook_url),
        ):
            if value:
                register_secret(value)
                try:
                    (urls or UrlJudge()).judge(value, f"The notifications secret's {key}")
                except UnsafeUrlError as exc:
                    raise ConfigurationError(str(exc)) from None
        if targets.webhook_url and not targets.webhook_signing_secret:
            raise ConfigurationError(
                "The notifications secret sets webhookUrl without webhookSigningSecret"
            )
        if (
            targets.callback_signing_secret
            and targets.callback_signing_secret == targets.webhook_signing_secret
        ):
            raise ConfigurationError(
                "The notifications secret's callbackSigningSecret must differ from "
                "webhookSigningSecret"
            )
        return targets


def _text(secret: dict[str, Any], key: str) -> str | None:
    value = secret.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ConfigurationError(f"The notifications secret's {key} must be a string")
    return value.strip()
