"""verify_slack_request accepts exactly what Slack's own SDK accepts, and says why it refuses."""

from __future__ import annotations

import base64
import time
from urllib.parse import urlencode

import pytest
from slack_sdk.signature import Clock, SignatureVerifier

from lemlist_export.core.errors import ConfigurationError, ExportError
from lemlist_export.slack.signature import (
    SlackSignatureError,
    slack_signature,
    verify_slack_request,
)

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
NOW = 1_764_000_000.0
BODY = urlencode(
    {
        "command": "/lemlist-export",
        "text": "cam_A1B2C3D4E5F6G7H8I9",
        "team_id": "T0001",
        "user_id": "U2147483697",
        "response_url": "https://hooks.slack.com/commands/1234/5678",
        "trigger_id": "13345224609.738474920.8088930838d88f008e0",
    }
).encode()
UTF8_BODY = urlencode({"command": "/lemlist-export", "text": "Démo — 日本 ✓"}).encode("utf-8")


class FixedClock(Clock):
    def __init__(self, now: float) -> None:
        self._now = now

    def now(self) -> float:
        return self._now


def sign(body: bytes, timestamp: str, secret: str = SECRET) -> str:
    return SignatureVerifier(secret).generate_signature(timestamp=timestamp, body=body)


def slack_sdk_accepts(body: bytes, timestamp: str | None, signature: str | None) -> bool:
    verifier = SignatureVerifier(SECRET, clock=FixedClock(NOW))
    try:
        return verifier.is_valid(body, timestamp, signature)
    except ValueError:  # the SDK lets int() fail on a non-integer timestamp
        return False


def we_accept(body: bytes, timestamp: str | None, signature: str | None) -> bool:
    try:
        verify_slack_request(SECRET, body, timestamp, signature, now=NOW)
    except SlackSignatureError:
        return False
    return True


def ts(offset: float = 0) -> str:
    return str(int(NOW - offset))


CASES = {
    "valid": (BODY, ts(), sign(BODY, ts()), True),
    "body changed by one byte": (
        BODY[:-1] + bytes([BODY[-1] ^ 1]),
        ts(),
        sign(BODY, ts()),
        False,
    ),
    "wrong secret": (BODY, ts(), sign(BODY, ts(), secret="another-signing-secret"), False),
    "timestamp 301 s old": (BODY, ts(301), sign(BODY, ts(301)), False),
    "timestamp 301 s in the future": (BODY, ts(-301), sign(BODY, ts(-301)), False),
    "timestamp 299 s old": (BODY, ts(299), sign(BODY, ts(299)), True),
    "timestamp 299 s in the future": (BODY, ts(-299), sign(BODY, ts(-299)), True),
    "timestamp exactly 300 s old": (BODY, ts(300), sign(BODY, ts(300)), True),
    "timestamp not an integer": (BODY, "now", sign(BODY, "now"), False),
    "timestamp with a fraction": (BODY, f"{NOW}", sign(BODY, f"{NOW}"), False),
    "timestamp signed, another sent": (BODY, ts(1), sign(BODY, ts()), False),
    "timestamp header missing": (BODY, None, sign(BODY, ts()), False),
    "signature header missing": (BODY, ts(), None, False),
    "both headers missing": (BODY, None, None, False),
    "empty signature": (BODY, ts(), "", False),
    "signature without v0=": (BODY, ts(), sign(BODY, ts()).removeprefix("v0="), False),
    "signature of another version": (
        BODY,
        ts(),
        "v1=" + sign(BODY, ts()).removeprefix("v0="),
        False,
    ),
    "signature in upper case": (BODY, ts(), sign(BODY, ts()).upper(), False),
    "UTF-8 body": (UTF8_BODY, ts(), sign(UTF8_BODY, ts()), True),
    "empty body": (b"", ts(), sign(b"", ts()), True),
}


@pytest.mark.parametrize(("body", "timestamp", "signature", "valid"), CASES.values(), ids=CASES)
def test_accepts_exactly_what_slack_sdk_accepts(
    body: bytes, timestamp: str | None, signature: str | None, valid: bool
) -> None:
    assert slack_sdk_accepts(body, timestamp, signature) is valid
    assert we_accept(body, timestamp, signature) is valid


def test_our_signature_is_slacks() -> None:
    assert slack_signature(SECRET, UTF8_BODY, ts()) == sign(UTF8_BODY, ts())


def test_a_utf8_body_is_signed_over_its_raw_bytes() -> None:
    signature = sign(UTF8_BODY, ts())
    verify_slack_request(SECRET, UTF8_BODY, ts(), signature, now=NOW)
    # The same text in another encoding is another body.
    latin1 = urlencode({"command": "/lemlist-export", "text": "Démo"}, encoding="latin-1")
    utf8 = urlencode({"command": "/lemlist-export", "text": "Démo"}).encode()
    with pytest.raises(SlackSignatureError, match="does not match"):
        verify_slack_request(SECRET, latin1.encode(), ts(), sign(utf8, ts()), now=NOW)


def test_a_base64_body_from_api_gateway_is_verified_once_decoded() -> None:
    signature = sign(UTF8_BODY, ts())
    event = {
        "body": base64.b64encode(UTF8_BODY).decode("ascii"),
        "isBase64Encoded": True,
        "headers": {"x-slack-request-timestamp": ts(), "x-slack-signature": signature},
    }
    raw = base64.b64decode(event["body"]) if event["isBase64Encoded"] else event["body"].encode()
    verify_slack_request(
        SECRET,
        raw,
        event["headers"]["x-slack-request-timestamp"],
        event["headers"]["x-slack-signature"],
        now=NOW,
    )
    # Checking the base64 text itself is checking the wrong bytes.
    with pytest.raises(SlackSignatureError, match="does not match"):
        verify_slack_request(SECRET, event["body"].encode(), ts(), signature, now=NOW)


@pytest.mark.parametrize(
    ("timestamp", "signature", "why"),
    [
        (None, "v0=00", "X-Slack-Request-Timestamp header is missing"),
        ("", "v0=00", "X-Slack-Request-Timestamp header is missing"),
        (ts(), None, "X-Slack-Signature header is missing"),
        ("12ab", "v0=00", "not a Unix time"),
        (" 1764000000", "v0=00", "not a Unix time"),
        ("-1764000000", "v0=00", "not a Unix time"),
        (ts(301), "v0=00", "301 s old"),
        (ts(-400), "v0=00", "400 s in the future"),
        (ts(), "sha256=00", "not a v0 signature"),
        (ts(), "v0=00", "does not match the body"),
    ],
)
def test_the_refusal_says_why(timestamp: str | None, signature: str | None, why: str) -> None:
    with pytest.raises(SlackSignatureError, match=why) as caught:
        verify_slack_request(SECRET, BODY, timestamp, signature, now=NOW)
    assert isinstance(caught.value, ExportError)
    message = str(caught.value)
    assert SECRET not in message
    assert "cam_A1B2C3D4E5F6G7H8I9" not in message
    assert "hooks.slack.com" not in message


def test_a_non_ascii_signature_is_refused_not_crashed() -> None:
    with pytest.raises(SlackSignatureError, match="does not match"):
        verify_slack_request(SECRET, BODY, ts(), "v0=é" + "0" * 63, now=NOW)


def test_the_window_is_configurable() -> None:
    verify_slack_request(SECRET, BODY, ts(500), sign(BODY, ts(500)), now=NOW, max_age_seconds=600)
    with pytest.raises(SlackSignatureError, match="at most 60 s"):
        verify_slack_request(SECRET, BODY, ts(61), sign(BODY, ts(61)), now=NOW, max_age_seconds=60)


def test_now_defaults_to_the_clock() -> None:
    fresh = str(int(time.time()))
    verify_slack_request(SECRET, BODY, fresh, sign(BODY, fresh))
    with pytest.raises(SlackSignatureError, match="old"):
        verify_slack_request(SECRET, BODY, ts(), sign(BODY, ts()))  # NOW is in the past


def test_an_empty_secret_is_a_configuration_error() -> None:
    # Anyone can compute an HMAC with an empty key: never accept with one.
    with pytest.raises(ConfigurationError, match="signing secret is empty"):
        verify_slack_request("", BODY, ts(), slack_signature("", BODY, ts()), now=NOW)
