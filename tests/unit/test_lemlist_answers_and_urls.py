"""Pure helpers: lemlist's error bodies and Retry-After, URL policy, ids and wait policy."""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from lemlist_export.core.errors import InvalidRequestError
from lemlist_export.core.identifiers import is_lemlist_id, require_lemlist_id
from lemlist_export.core.redaction import MASK, forget_secrets, register_secret
from lemlist_export.lemlist.answers import error_text, parse_retry_after
from lemlist_export.workflow.wait_policy import WaitPolicy

SECRET = "sk-live-ABCDEFGHIJKLMNOP"
NOW = datetime(2024, 10, 1, 12, 0, 0, tzinfo=UTC)


@pytest.fixture
def registered_secret() -> Iterator[str]:
    forget_secrets()
    register_secret(SECRET)
    yield SECRET
    forget_secrets()


# -- error_text ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            b'{"ok": false, "message": "Export with id axp_1 not found"}',
            "Export with id axp_1 not found",
        ),
        (b'{"error": "Invalid limit"}', "Invalid limit"),
        (b"Bad team", "Bad team"),
        (b"Campaign not found\n", "Campaign not found"),
        (b"  Campaign \n\t not   found  ", "Campaign not found"),
        (b'{"message": "two\\n  lines"}', "two lines"),
        (b"", ""),
        (b'{"ok": false}', ""),
        (b'{"message": 42}', ""),
        (b"{not json at all", "{not json at all"),
        (b'["a", "list"]', '["a", "list"]'),
    ],
)
def test_error_text_reads_json_messages_and_plain_text(body, expected):
    assert error_text(body) == expected


def test_error_text_survives_bytes_that_are_not_utf8():
    assert error_text(b"Bad \xff team") == "Bad \ufffd team"


def test_error_text_clips_long_text_to_200_characters():
    text = error_text(b"x" * 500)

    assert len(text) == 200
    assert text.endswith("…")
    assert text.startswith("x" * 199)


def test_error_text_masks_registered_secrets(registered_secret):
    text = error_text(f"invalid key {registered_secret} for team".encode())

    assert text == f"invalid key {MASK} for team"


def test_error_text_masks_secrets_inside_a_json_message(registered_secret):
    body = f'{{"ok": false, "message": "key {registered_secret} revoked"}}'.encode()

    assert error_text(body) == f"key {MASK} revoked"


def test_error_text_leaks_no_part_of_a_secret_cut_by_the_clipping(registered_secret):
    # The secret straddles the 200-character cut: masking must happen before clipping,
    # or the first characters of the key survive.
    text = error_text(("a" * 190 + registered_secret).encode())

    assert registered_secret[:8] not in text


def test_forgotten_secrets_are_no_longer_masked(registered_secret):
    forget_secrets()

    assert error_text(f"key {registered_secret}".encode()) == f"key {registered_secret}"


def test_values_too_short_to_be_secrets_are_not_masked(registered_secret):
    register_secret("abc")

    assert error_text(b"abc def") == "abc def"


# -- parse_retry_after ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "expected"),
    [("3", 3.0), ("0", 0.0), (" 2 ", 2.0), ("1.5", 1.5), ("120", 120.0), ("-5", 0.0)],
)
def test_retry_after_in_seconds(header, expected):
    assert parse_retry_after(header, now=NOW) == expected


def test_retry_after_as_an_http_date_in_the_future():
    header = format_datetime(NOW + timedelta(seconds=30), usegmt=True)

    assert parse_retry_after(header, now=NOW) == 30.0


def test_retry_after_as_an_http_date_in_the_past_is_zero():
    header = format_datetime(NOW - timedelta(minutes=5), usegmt=True)

    assert parse_retry_after(header, now=NOW) == 0.0


@pytest.mark.parametrize("header", [None, "", "   ", "soon", "nan", "1 second"])
def test_retry_after_that_cannot_be_read_is_none(header):
    assert parse_retry_after(header, now=NOW) is None


@pytest.mark.parametrize("header", ["inf", "Infinity", "1e999"])
def test_retry_after_is_never_infinite(header):
    # Callers round it up with math.ceil, which raises OverflowError on infinity.
    seconds = parse_retry_after(header, now=NOW)

    assert seconds is None or math.isfinite(seconds)


# -- identifiers ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    ["cam_A1B2C3D4E5F6G7H8I9", "axp_Vv6lJOc8NlVVmDud5", "exp_123456", "a", "_", "x" * 64],
)
def test_well_formed_lemlist_ids_are_accepted(value):
    assert require_lemlist_id(value) == value
    assert is_lemlist_id(value)


@pytest.mark.parametrize(
    "value",
    [
        "",
        "cam_1/../x",
        "../cam_1",
        "cam_1?x=1",
        "cam_1%2F",
        "cam 1",
        "cam-1",
        "cam_1\n",
        "cam_é",
        "x" * 65,
    ],
)
def test_malformed_lemlist_ids_are_refused(value):
    with pytest.raises(InvalidRequestError) as raised:
        require_lemlist_id(value, "campaign id")

    assert "campaign id" in str(raised.value)
    assert not is_lemlist_id(value)


@pytest.mark.parametrize("value", [None, 123, ["cam_1"], b"cam_1"])
def test_a_lemlist_id_must_be_a_string(value):
    with pytest.raises(InvalidRequestError, match="must be a string"):
        require_lemlist_id(value)


# -- WaitPolicy ----------------------------------------------------------------------------


def test_wait_policy_round_trips_through_the_state_machine_input():
    policy = WaitPolicy(first_wait_seconds=0, interval_seconds=1, max_checks=10)

    data = policy.to_input()

    assert data["firstWaitSeconds"] == 0
    assert data["intervalSeconds"] == 1
    assert data["maxChecks"] == 10
    assert data["rateLimitWaitSeconds"] == 2
    assert all(isinstance(value, int) for value in data.values())
    assert WaitPolicy.from_input(data) == policy
    assert WaitPolicy.from_input(WaitPolicy().to_input()) == WaitPolicy()


def test_wait_policy_ignores_missing_and_malformed_values():
    data = {
        "intervalSeconds": "10",
        "maxChecks": -1,
        "firstWaitSeconds": True,
        "maxBackoffSeconds": None,
        "max_interval_seconds": 99,
        "unknownKey": 3,
    }

    assert WaitPolicy.from_input(data) == WaitPolicy()
    assert WaitPolicy.from_input(None) == WaitPolicy()
    assert WaitPolicy.from_input({}) == WaitPolicy()


def test_wait_policy_truncates_fractional_seconds():
    assert WaitPolicy.from_input({"intervalSeconds": 7.9}).interval_seconds == 7


@pytest.mark.parametrize(
    ("elapsed", "wait"),
    [(-3, 5), (0, 5), (59.9, 5), (60, 10), (119, 10), (120, 15), (3600, 15)],
)
def test_without_growth_next_check_is_lemlists_advice_5_to_10_to_15_seconds(elapsed, wait):
    advice = WaitPolicy(max_interval_seconds=15, wait_growth_percent=0)
    assert advice.next_check(elapsed) == wait


@pytest.mark.parametrize(
    ("elapsed", "wait"),
    [(-3, 5), (0, 5), (49, 5), (60, 6), (300, 30), (1800, 180), (6000, 600), (7000, 200)],
)
def test_adaptive_next_check_is_a_tenth_of_the_exports_age_and_lands_on_its_expiry(elapsed, wait):
    """At least 5 s, 10% of the age after that, and never past lemlist's 2-hour expiry (a
    check at 7,000 s waits the 200 s left, not 700)."""
    assert WaitPolicy().next_check(elapsed) == wait


def test_next_check_never_exceeds_the_configured_maximum():
    policy = WaitPolicy(interval_seconds=4, max_interval_seconds=6, slow_down_every_seconds=10)
    advice = WaitPolicy(
        interval_seconds=4,
        max_interval_seconds=6,
        slow_down_every_seconds=10,
        wait_growth_percent=0,
    )

    assert [policy.next_check(t) for t in (0, 10, 20, 1000)] == [4, 4, 4, 6]
    assert [advice.next_check(t) for t in (0, 10, 20, 1000)] == [4, 6, 6, 6]


def test_adaptive_polling_halves_the_checks_and_keeps_the_delay_within_its_limit():
    """The benchmark's figures, on a small mix (a check of shape; `make bench` runs 2,000)."""
    from benchmarks.status_polls import mix, over_the_mix

    figures = over_the_mix(WaitPolicy(), mix(300))

    assert figures["calls_ratio_vs_lemlist_advice"] <= 0.5
    assert figures["p95_delay_over_limit"] <= 1.0
    assert figures["max_delay_over_limit"] <= 1.0


@pytest.mark.parametrize(
    ("failures", "wait"), [(0, 5), (1, 5), (2, 10), (3, 20), (4, 40), (5, 80), (6, 120), (30, 120)]
)
def test_backoff_doubles_from_the_interval_and_caps(failures, wait):
    assert WaitPolicy().backoff(failures) == wait


def test_backoff_from_an_explicit_base():
    policy = WaitPolicy(max_backoff_seconds=50)

    assert [policy.backoff(n, base=10) for n in (1, 2, 3, 4)] == [10, 20, 40, 50]
    assert policy.backoff(1, base=0) == 1


@pytest.mark.parametrize(
    ("retry_after", "usual", "wait"),
    [
        (1.2, 5, 5),  # never more often than usual
        (7.1, 5, 8),  # never sooner than Retry-After, rounded up
        (8, 5, 8),
        (0, 5, 5),
        (30, 15, 30),
        (None, 1, 2),  # no Retry-After: one rate-limit window
        (None, 10, 10),
    ],
)
def test_after_rate_limit_respects_retry_after_and_the_usual_wait(retry_after, usual, wait):
    # Plus at most one second at random, so refused exports do not return together.
    seen = {WaitPolicy().after_rate_limit(retry_after, usual) for _ in range(200)}
    assert seen == {wait, wait + 1}


def test_after_rate_limit_without_retry_after_uses_the_configured_window():
    assert WaitPolicy(rate_limit_wait_seconds=3).after_rate_limit(None, 0) in (3, 4)
