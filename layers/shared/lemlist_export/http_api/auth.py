"""Bearer-token authentication for the HTTP API (every route but Slack's, which Slack signs).

The tokens live in Secrets Manager: the secret is one token, or JSON `{"tokens": [...]}` so
that a new token can be added before the old one is retired. Comparison is constant-time.
"""

from __future__ import annotations

import hmac
import json
from dataclasses import dataclass

from lemlist_export.core.errors import ConfigurationError, ExportError
from lemlist_export.core.redaction import register_secret

_MIN_TOKEN_LENGTH = 16


class UnauthorizedError(ExportError):
    """No bearer token, or not one of ours: 401."""


@dataclass(frozen=True)
class ApiTokens:
    tokens: tuple[str, ...]

    @classmethod
    def from_secret(cls, value: str) -> ApiTokens:
        text = value.strip()
        tokens: list[str]
        if text.startswith("{"):
            try:
                parsed = json.loads(text).get("tokens")
            except (json.JSONDecodeError, AttributeError):
                raise ConfigurationError("The API token secret is not valid JSON") from None
            if not isinstance(parsed, list) or not all(isinstance(t, str) for t in parsed):
                raise ConfigurationError('The API token secret must be {"tokens": ["..."]}')
            tokens = [t.strip() for t in parsed if t.strip()]
        else:
            tokens = [text] if text else []
        if not tokens:
            raise ConfigurationError("The API token secret holds no token")
        if any(len(t) < _MIN_TOKEN_LENGTH for t in tokens):
            raise ConfigurationError(
                f"API tokens must be at least {_MIN_TOKEN_LENGTH} characters long"
            )
        for token in tokens:
            register_secret(token)
        return cls(tuple(tokens))

    def check(self, authorization: str | None) -> None:
        """Raise UnauthorizedError unless `authorization` is `Bearer <one of the tokens>`."""
        if not authorization:
            raise UnauthorizedError("Send the API token as 'Authorization: Bearer <token>'")
        scheme, _, presented = authorization.strip().partition(" ")
        if scheme.lower() != "bearer":
            raise UnauthorizedError("Send the API token as 'Authorization: Bearer <token>'")
        if not presented.strip():
            # Typically `-H "Authorization: Bearer $API_TOKEN"` with the variable unset.
            raise UnauthorizedError(
                "The bearer token is empty: send 'Authorization: Bearer <token>' "
                "(a shell variable such as $API_TOKEN that is not set gives this)"
            )
        candidate = presented.strip().encode()
        # Compare against every token, always, so timing says nothing about which matched.
        matched = False
        for token in self.tokens:
            matched |= hmac.compare_digest(candidate, token.encode())
        if not matched:
            raise UnauthorizedError("The API token is not valid")
