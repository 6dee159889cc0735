"""Loopback stand-ins for a Slack incoming webhook and a Zapier catch hook.

Records every POST (path, headers, body), checks the webhook signature the way a receiver
should (docs/security.md: `t=<unix>,v1=<hex HMAC-SHA256 of "<t>.<body>">`, at most five
minutes old; written here from the docs, not imported from the stack, so the two are checked
against each other), and answers like the real thing (`ok` for Slack) unless told to fail.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

SIGNATURE_HEADER = "x-lemlist-export-signature"
TOLERANCE_SECONDS = 300


def signature_is_valid(header: str | None, body: bytes, secret: str, now: float) -> bool:
    """What a receiver does with `X-Lemlist-Export-Signature` (docs/security.md)."""
    if not header:
        return False
    parts = dict(item.strip().split("=", 1) for item in header.split(",") if "=" in item)
    timestamp, given = parts.get("t", ""), parts.get("v1", "")
    if not re.fullmatch(r"[0-9]{1,12}", timestamp) or not re.fullmatch(r"[0-9a-f]{64}", given):
        return False
    if abs(now - int(timestamp)) > TOLERANCE_SECONDS:
        return False
    signed = timestamp.encode() + b"." + body
    expected = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, given)


@dataclass(frozen=True)
class ReceivedPost:
    path: str
    headers: dict[str, str]
    body: bytes
    signature_valid: bool | None  # None: no signature header

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass(frozen=True)
class Answer:
    status: int
    body: str
    content_type: str = "text/plain"
    retry_after: float | None = None  # a Retry-After header (429s)
    delay: float = 0.0  # seconds before answering (a slow target)


class WebhookReceiver:
    def __init__(
        self,
        signing_secret: str | None = None,
        *,
        secret_for_path: Callable[[str], str | None] | None = None,
    ) -> None:
        """`signing_secret` checks every signed post, or `secret_for_path` picks one per path
        (the stack's webhook and callbacks are signed with different secrets)."""
        self.signing_secret = signing_secret
        self._secret_for_path = secret_for_path or (lambda path: signing_secret)
        self.posts: list[ReceivedPost] = []
        self._answers: dict[str, deque[Answer]] = {}
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    def start(self) -> WebhookReceiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                answer = receiver._record(self.path, dict(self.headers.items()), body)
                payload = answer.body.encode()
                time.sleep(answer.delay)
                self.send_response(answer.status)
                self.send_header("Content-Type", answer.content_type)
                if answer.retry_after is not None:
                    self.send_header("Retry-After", f"{answer.retry_after:g}")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:
                return None

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        # A short poll: stop() (every test's teardown) waits for one.
        threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()
        return self

    def url(self, path: str) -> str:
        assert self._server is not None, "start() first"
        return f"http://127.0.0.1:{self._server.server_address[1]}{path}"

    def fail_next(
        self,
        path: str,
        status: int,
        body: str,
        times: int = 1,
        *,
        retry_after: float | None = None,
        delay: float = 0.0,
    ) -> None:
        """Answer the next `times` posts to `path` with this status (after `delay` s)."""
        with self._lock:
            queue = self._answers.setdefault(path, deque())
            answer = Answer(status, body, retry_after=retry_after, delay=delay)
            queue.extend(answer for _ in range(times))

    def posts_to(self, path: str) -> list[ReceivedPost]:
        with self._lock:
            return [post for post in self.posts if post.path == path]

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def _record(self, path: str, headers: dict[str, str], body: bytes) -> Answer:
        lowered = {k.lower(): v for k, v in headers.items()}
        signature = lowered.get(SIGNATURE_HEADER)
        valid = None
        secret = self._secret_for_path(path)
        if signature is not None and secret:
            valid = signature_is_valid(signature, body, secret, time.time())
        with self._lock:
            self.posts.append(ReceivedPost(path, lowered, body, valid))
            queue = self._answers.get(path)
            if queue:
                return queue.popleft()
        return Answer(200, "ok")


class LocalNotificationTargets:
    """A local Slack webhook and a local Zapier-style catch hook behind one receiver."""

    SLACK_PATH = "/slack/incoming-webhook"
    WEBHOOK_PATH = "/hooks/catch"
    # Not in the secret: a stand-in for the response_url Slack sends with each command.
    SLACK_RESPONSE_PATH = "/slack/response"

    def __init__(self) -> None:
        self.signing_secret = secrets.token_hex(16)
        self.callback_signing_secret = secrets.token_hex(16)
        self.receiver = WebhookReceiver(secret_for_path=self._secret_for)

    def _secret_for(self, path: str) -> str:
        return self.signing_secret if path == self.WEBHOOK_PATH else self.callback_signing_secret

    def start(self) -> LocalNotificationTargets:
        self.receiver.start()
        return self

    def stop(self) -> None:
        self.receiver.stop()

    def notifications(self) -> dict[str, str]:
        """The notifications secret's JSON pointing at this receiver."""
        return {
            "slackWebhookUrl": self.receiver.url(self.SLACK_PATH),
            "webhookUrl": self.receiver.url(self.WEBHOOK_PATH),
            "webhookSigningSecret": self.signing_secret,
            "callbackSigningSecret": self.callback_signing_secret,
        }

    def describe_posts(self) -> list[str]:
        """One line per post received, for the run's summary."""
        lines = []
        for post in self.receiver.posts:
            try:
                body = post.json()
            except ValueError:
                lines.append(f"{post.path}: {len(post.body)} bytes (not JSON)")
                continue
            if post.path == self.SLACK_PATH:
                lines.append(f"Slack (local): {body.get('text', '')}")
            elif post.path == self.SLACK_RESPONSE_PATH:
                lines.append(f"Slack response_url (local): {body.get('text', '')}")
            else:
                verdict = {True: "signature valid", False: "SIGNATURE INVALID", None: "unsigned"}
                name = "webhook" if post.path == self.WEBHOOK_PATH else f"callback {post.path}"
                lines.append(
                    f"{name} (local): {body.get('event')} for {body.get('exportId')}, "
                    f"{verdict[post.signature_valid]}"
                )
        return lines
