"""Per-export callback URLs: where a caller (a Zap, a script) wants the outcome posted too.

Only URLs the judge accepts (https to a public host, deployed) on an allowlisted host (the
deployment's CallbackHosts, e.g. Zapier's and Slack's hook hosts) are accepted, so the API
cannot be used to make this stack post to arbitrary addresses. The allowlist is checked on
the host the judge parsed, which is the host the post will reach. A callback URL is a
credential: it is stored, never shown or logged.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lemlist_export.core.errors import InvalidRequestError, UnsafeUrlError
from lemlist_export.core.redaction import register_secret
from lemlist_export.core.url_judge import UrlJudge

DEFAULT_HOSTS = ("hooks.zapier.com", "hooks.slack.com")


@dataclass(frozen=True)
class CallbackPolicy:
    allowed_hosts: tuple[str, ...] = DEFAULT_HOSTS
    urls: UrlJudge = field(default_factory=UrlJudge)

    @classmethod
    def from_setting(cls, value: str | None, urls: UrlJudge | None = None) -> CallbackPolicy:
        """From the CALLBACK_HOSTS setting: unset means the defaults, empty means none."""
        judge = urls or UrlJudge()
        if value is None:
            return cls(urls=judge)
        hosts = tuple(h.strip().lower() for h in value.split(",") if h.strip())
        return cls(hosts, judge)

    def accept(self, url: str) -> str:
        """The URL to post this export's outcome to (in the judged form, the only one ever
        used), or InvalidRequestError."""
        if len(url) > 2048:
            raise InvalidRequestError("callbackUrl is longer than 2048 characters")
        try:
            judged = self.urls.judge(url, "callbackUrl")
        except UnsafeUrlError as exc:
            raise InvalidRequestError(str(exc)) from None
        host = judged.host
        if not self.allowed_hosts:
            raise InvalidRequestError("This stack accepts no callbackUrl (CallbackHosts is empty)")
        if not any(host == h or host.endswith("." + h) for h in self.allowed_hosts):
            allowed = ", ".join(self.allowed_hosts)
            raise InvalidRequestError(
                f"callbackUrl's host {host} is not allowed (allowed: {allowed})"
            )
        register_secret(url)
        register_secret(judged.url)
        return judged.url
