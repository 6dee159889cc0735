"""Announce an ended export to every configured target, and say how each one went.

A target that fails is reported, never raised: the export is delivered (or failed) either
way, and its record keeps which announcement did not go out. A target already told about
this status is not told again, so a retried or duplicated finish step does not spam.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

from .announcement import Announcement
from .clock import iso, utc_now
from .export_record import ExportRecord, NotificationOutcome
from .notification_targets import NotificationTargets
from .webhook_post import SIGNATURE_HEADER, PostResult, WebhookPoster, sign

SLACK = "slack"
WEBHOOK = "webhook"


@dataclass
class Notifier:
    targets: NotificationTargets
    poster: WebhookPoster
    region: str | None = None

    def announce(self, record: ExportRecord) -> list[NotificationOutcome]:
        announcement = Announcement.of(record, self.region)
        sends: dict[str, Callable[[], PostResult] | None] = {
            SLACK: self._slack(announcement) if self.targets.slack_webhook_url else None,
            WEBHOOK: self._webhook(announcement) if self.targets.webhook_url else None,
        }
        outcomes = []
        for target, send in sends.items():
            previous = record.notifications.get(target)
            if previous and previous.sent and previous.for_status == record.status:
                continue
            if send is None:
                outcome = NotificationOutcome(target, "skipped", "not configured", record.status)
            else:
                result = send()
                outcome = NotificationOutcome(
                    target, "sent" if result.ok else "failed", result.detail, record.status
                )
            outcomes.append(_stamped(outcome))
        return outcomes

    def _slack(self, announcement: Announcement) -> Callable[[], PostResult]:
        url = self.targets.slack_webhook_url
        assert url is not None
        body = json.dumps(announcement.slack_payload()).encode()
        return lambda: self.poster.post(url, body)

    def _webhook(self, announcement: Announcement) -> Callable[[], PostResult]:
        url, secret = self.targets.webhook_url, self.targets.webhook_signing_secret
        assert url is not None and secret is not None
        body = json.dumps(announcement.webhook_payload(iso(utc_now()))).encode()
        headers = {
            SIGNATURE_HEADER: sign(body, secret),
            "X-Lemlist-Export-Event": announcement.event,
        }
        return lambda: self.poster.post(url, body, headers)


def _stamped(outcome: NotificationOutcome) -> NotificationOutcome:
    return NotificationOutcome(
        outcome.target, outcome.outcome, outcome.detail, outcome.for_status, iso(utc_now())
    )
