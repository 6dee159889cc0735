"""Announce an ended export to every configured target, and say how each one went.

A target that fails is reported, never raised: the export is delivered (or failed) either
way, and its record keeps which announcement did not go out. A target already told about
this status is not told again, so a retried or duplicated finish step does not spam.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from lemlist_export.core.clock import iso, parse_iso, utc_now
from lemlist_export.core.errors import ExportError
from lemlist_export.core.redaction import register_secret
from lemlist_export.core.url_judge import LOCAL_URLS
from lemlist_export.notify.announcement import Announcement
from lemlist_export.notify.targets import NotificationTargets
from lemlist_export.notify.webhook_post import PostResult, WebhookPoster
from lemlist_export.records.record import ExportRecord, NotificationOutcome

SLACK = "slack"
WEBHOOK = "webhook"
CALLBACK = "callback"
SLACK_RESPONSE = "slackResponse"
# Slack accepts posts to a slash command's response_url for 30 minutes.
RESPONSE_URL_LIFETIME = timedelta(minutes=29)


@dataclass
class Notifier:
    targets: NotificationTargets
    poster: WebhookPoster
    region: str | None = None
    # Why the stack's own targets could not be read (a broken notifications secret): they
    # are reported as failed, while the export's own targets are still told.
    targets_problem: str | None = None

    def announce(self, record: ExportRecord) -> list[NotificationOutcome]:
        """Tell every target (the stack's and this export's own) how the export ended."""
        announcement = Announcement.of(record, self.region)
        outcomes: dict[str, NotificationOutcome] = {}
        for target, send in self._plan(record, announcement).items():
            if _already_told(record, target):
                continue
            if target == SLACK and (
                _already_told(record, SLACK_RESPONSE) or _sent(outcomes.get(SLACK_RESPONSE))
            ):
                # Slack asked: the answer went to that channel; the webhook is the fallback.
                send = "told in the channel of the Slack command that asked"
            if isinstance(send, str):
                outcome = NotificationOutcome(target, "skipped", send, record.status)
            else:
                result = send()
                outcome = NotificationOutcome(
                    target, "sent" if result.ok else "failed", result.detail, record.status
                )
            outcomes[target] = _stamped(outcome)
        return list(outcomes.values())

    def _plan(
        self, record: ExportRecord, announcement: Announcement
    ) -> dict[str, Callable[[], PostResult] | str]:
        """Each target: how to tell it, or why it is skipped."""
        targets = self.targets
        plan: dict[str, Callable[[], PostResult] | str] = {}
        # The Slack command's own channel first: the stack's Slack webhook is its fallback.
        if record.slack_response_url:
            register_secret(record.slack_response_url)
            asked = parse_iso(record.requested_at or record.created_at)
            if utc_now() - asked < RESPONSE_URL_LIFETIME:
                plan[SLACK_RESPONSE] = self._slack(
                    announcement, record.slack_response_url, response_type="in_channel"
                )
            else:
                plan[SLACK_RESPONSE] = "Slack's response_url expires after 30 minutes"
        if self.targets_problem:
            unread = PostResult(False, f"not sent: {self.targets_problem}")
            plan[SLACK] = plan[WEBHOOK] = lambda: unread
        else:
            plan[SLACK] = (
                self._slack(announcement, targets.slack_webhook_url)
                if targets.slack_webhook_url
                else "not configured"
            )
            plan[WEBHOOK] = (
                self._signed(announcement, targets.webhook_url, targets.webhook_signing_secret)
                if targets.webhook_url
                else "not configured"
            )
        if record.callback_url:
            register_secret(record.callback_url)
            # A Slack incoming webhook wants Slack's format; anything else the JSON payload.
            if _host(record.callback_url) == "hooks.slack.com":
                plan[CALLBACK] = self._slack(announcement, record.callback_url)
            else:
                plan[CALLBACK] = self._signed(
                    announcement, record.callback_url, targets.callback_signing_secret
                )
        return plan

    def _slack(
        self, announcement: Announcement, url: str, response_type: str | None = None
    ) -> Callable[[], PostResult]:
        payload = announcement.slack_payload()
        if response_type:
            payload = {**payload, "response_type": response_type, "replace_original": False}
        body = json.dumps(payload).encode()
        return lambda: self.poster.post(url, body)

    def _signed(
        self, announcement: Announcement, url: str, secret: str | None
    ) -> Callable[[], PostResult]:
        """The webhook payload, signed with `secret` if there is one."""
        body = json.dumps(announcement.webhook_payload(iso(utc_now()))).encode()
        headers = {"X-Lemlist-Export-Event": announcement.event}
        return lambda: self.poster.post(url, body, headers, signing_secret=secret)


def _host(url: str) -> str | None:
    """The host a URL reaches (judged like any URL: the poster refuses what this refuses)."""
    try:
        return LOCAL_URLS.judge(url).host
    except ExportError:
        return None


def _already_told(record: ExportRecord, target: str) -> bool:
    previous = record.notifications.get(target)
    return bool(previous and previous.sent and previous.for_status == record.status)


def _sent(outcome: NotificationOutcome | None) -> bool:
    return outcome is not None and outcome.sent


def _stamped(outcome: NotificationOutcome) -> NotificationOutcome:
    return NotificationOutcome(
        outcome.target, outcome.outcome, outcome.detail, outcome.for_status, iso(utc_now())
    )


def reply_in_slack(
    poster: WebhookPoster, record: ExportRecord, message: dict[str, Any]
) -> PostResult | None:
    """Post a progress message to the Slack command that asked for this export (None if no
    Slack command did). Needs none of the stack's notification targets."""
    if not record.slack_response_url:
        return None
    register_secret(record.slack_response_url)
    return poster.post(record.slack_response_url, json.dumps(message).encode())
