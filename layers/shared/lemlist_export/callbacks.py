"""Per-export callback URLs: where a caller (a Zap, a script) wants the outcome posted too.

Only https URLs on an allowlisted host (the deployment's CallbackHosts, e.g. Zapier's and
Slack's hook hosts) are accepted, so the API cannot be used to make this stack post to
arbitrary addresses. A callback URL is a credential: it is stored, never shown or logged.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from .errors import InvalidRequestError, UnsafeUrlError
from .redaction import register_secret
from .url_policy import require_safe_url

DEFAULT_HOSTS = ("hooks.zapier.com", "hooks.slack.com")


@dataclass(frozen=True)
class CallbackPolicy:
    allowed_hosts: tuple[str, ...] = DEFAULT_HOSTS

    @classmethod
    def from_setting(cls, value: str | None) -> CallbackPolicy:
        """From the CALLBACK_HOSTS setting: unset means the defaults, empty means none."""
        if value is None:
            return cls()
        hosts = tuple(h.strip().lower() for h in value.split(",") if h.strip())
        return cls(hosts)

    def accept(self, url: str) -> str:
        """`url` if it may receive this export's outcome, else InvalidRequestError."""
        if len(url) > 2048:
            raise InvalidRequestError("callbackUrl is longer than 2048 characters")
        try:
            origin = require_safe_url(url)
        except UnsafeUrlError:
            raise InvalidRequestError("callbackUrl must be an https URL") from None
        if urlsplit(url).username or urlsplit(url).password:
            raise InvalidRequestError("callbackUrl must not carry a user name or password")
        if not self.allowed_hosts:
            raise InvalidRequestError("This stack accepts no callbackUrl (CallbackHosts is empty)")
        if not any(origin.host == h or origin.host.endswith("." + h) for h in self.allowed_hosts):
            allowed = ", ".join(self.allowed_hosts)
            raise InvalidRequestError(
                f"callbackUrl's host {origin.host} is not allowed (allowed: {allowed})"
            )
        register_secret(url)
        return url
