"""The slash command's answers: well-formed Block Kit, the facts that matter, within limits."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from typing import Any

import pytest

from lemlist_export.notify.announcement import Announcement
from lemlist_export.records.record import ExportRecord, Progress
from lemlist_export.slack.command import (
    RetryExport,
    ShowHelp,
    ShowStatus,
    StartExport,
    Unknown,
    parse_intent,
)
from lemlist_export.slack.messages import (
    help_message,
    started_message,
    starting_message,
    status_message,
    unknown_message,
)

CAMPAIGN = "cam_A1B2C3D4E5F6G7H8I9"
EXPORT = "axp_Vv6lJOc8NlVVmDud5"
S3_URI = f"s3://exports-bucket/exports/campaign_id={CAMPAIGN}/date=2026-11-29/{EXPORT}.csv"
LONG_REASON = "lemlist said no. " * 300  # 5,100 characters

PENDING = ExportRecord(
    export_id=EXPORT,
    campaign_id=CAMPAIGN,
    status="pending",
    created_at="2026-11-29T10:00:00.000Z",
    updated_at="2026-11-29T10:00:20.000Z",
    expires_at=1_800_000_000,
    campaign_name="Q4 Outreach — Démo",
    progress=Progress(progress=120, total=400, step="activities"),
    poll_count=3,
    last_polled_at="2026-11-29T10:00:20.000Z",
)
DELIVERING = replace(PENDING, status="delivering", file_size=45_133, progress=Progress())
DELIVERED = replace(
    DELIVERING,
    status="delivered",
    s3_uri=S3_URI,
    bucket="exports-bucket",
    key=S3_URI.removeprefix("s3://exports-bucket/"),
    bytes=45_133,
    sha256="01cf34702eaf64b1dbc88ab090bebe5051ea70cef4511139d2819d4291d37bb5",
    delivered_at="2026-11-29T10:00:41.200Z",
)
FAILED = replace(
    PENDING,
    status="failed",
    failed_at="2026-11-29T12:00:05.000Z",
    failure_type="ExportExpiredError",
    failure_reason="lemlist no longer knows this export: it keeps a status 2 hours.",
)


def all_texts(message: dict[str, Any]) -> str:
    return json.dumps(message, ensure_ascii=False)


def assert_well_formed(message: dict[str, Any], response_type: str = "ephemeral") -> None:
    assert message["response_type"] == response_type
    assert isinstance(message["text"], str) and message["text"]
    assert len(message["text"]) <= 3000
    assert 1 <= len(message["blocks"]) <= 50
    json.dumps(message)  # what goes to Slack is JSON
    for block in message["blocks"]:
        if block["type"] == "section":
            assert "text" in block or "fields" in block
            if "text" in block:
                assert block["text"]["type"] == "mrkdwn"
                assert 0 < len(block["text"]["text"]) <= 3000
            for field in block.get("fields", []):
                assert 0 < len(field["text"]) <= 2000
            assert len(block.get("fields", [])) <= 10
        elif block["type"] == "header":
            assert len(block["text"]["text"]) <= 150
        elif block["type"] == "context":
            for element in block["elements"]:
                assert 0 < len(element["text"]) <= 3000
        else:
            raise AssertionError(f"unexpected block {block['type']}")


# -- help and unknown ----------------------------------------------------------------------


def test_help_shows_every_form_with_examples() -> None:
    message = help_message()
    assert_well_formed(message)
    usage = message["blocks"][0]["text"]["text"]
    assert usage == "\n".join(
        [
            "*Usage*",
            f"`/lemlist-export {CAMPAIGN}`  export a campaign's statistics to S3 "
            "(also `/lemlist-export export cam_…` or `/lemlist-export start cam_…`)",
            f"`/lemlist-export https://app.lemlist.com/campaigns/{CAMPAIGN}/report`  the same, "
            "with the campaign's link pasted from lemlist (an https link on lemlist.com; also "
            "after `export` or `start`)",
            f"`/lemlist-export status {EXPORT}`  where an export stands "
            "(also `/lemlist-export axp_…`)",
            f"`/lemlist-export retry {EXPORT}`  retry a failed export: its file is copied "
            "again while lemlist still holds it (24 hours), else the campaign is exported anew",
            "`/lemlist-export help`  this message (also `?`, `-h`, `--help`, `usage`, or nothing)",
            "Keywords work in any case, with extra spaces or a colon after them; an id or a "
            "link may be in backticks or quotes.",
        ]
    )


# Every form parse_intent accepts, one example each, and the intent it gives.
ACCEPTED_FORMS = {
    CAMPAIGN: StartExport,
    f"export {CAMPAIGN}": StartExport,
    f"start {CAMPAIGN}": StartExport,
    f"https://app.lemlist.com/campaigns/{CAMPAIGN}/report": StartExport,
    f"export https://app.lemlist.com/campaigns/{CAMPAIGN}/report": StartExport,
    f"start <https://app.lemlist.com/campaigns/{CAMPAIGN}/report|report>": StartExport,
    f"status {EXPORT}": ShowStatus,
    EXPORT: ShowStatus,
    "help": ShowHelp,
    "?": ShowHelp,
    "-h": ShowHelp,
    "--help": ShowHelp,
    "usage": ShowHelp,
    "": ShowHelp,
    f"STATUS:  `{EXPORT}`": ShowStatus,
    f"Export '{CAMPAIGN}'": StartExport,
    f"retry {EXPORT}": RetryExport,
    f"Retry: `{EXPORT}`": RetryExport,
}


def test_every_form_the_usage_shows_works_as_shown() -> None:
    usage = help_message()["blocks"][0]["text"]["text"]
    spans = re.findall(r"`([^`]*)`", usage)
    assert len(spans) >= 12
    for span in spans:
        text = span.removeprefix("/lemlist-export").strip()
        text = text.replace("cam_…", CAMPAIGN).replace("axp_…", EXPORT)
        if text in ("export", "start"):  # "also after `export` or `start`": with a link
            text = f"{text} https://app.lemlist.com/campaigns/{CAMPAIGN}/report"
        assert not isinstance(parse_intent(text), Unknown), span


@pytest.mark.parametrize(("text", "intent"), ACCEPTED_FORMS.items())
def test_the_usage_hides_no_form_the_command_accepts(text: str, intent: type) -> None:
    assert isinstance(parse_intent(text), intent)
    usage = help_message()["blocks"][0]["text"]["text"]
    words = text.split()
    keyword = words[0].lower().rstrip(":") if words else ""
    if intent is ShowHelp:
        assert (
            (f"`{keyword}`" in usage)
            or (f"/lemlist-export {keyword}`" in usage)
            or (not text and "or nothing" in usage)
        )
    elif keyword in ("export", "start", "status", "retry"):
        assert f"/lemlist-export {keyword} " in usage
    elif text.startswith("https://"):
        assert "`/lemlist-export https://app.lemlist.com/campaigns/" in usage
    else:
        assert f"`/lemlist-export {text[:4]}" in usage
    if text != text.lower() or ":" in keyword or "  " in text:
        assert "any case, with extra spaces or a colon" in usage
    if any(c in text for c in "`'\""):
        assert "backticks or quotes" in usage


def test_help_uses_the_command_as_installed() -> None:
    text = all_texts(help_message("/stats-export"))
    assert "/stats-export status axp_" in text
    assert "/lemlist-export" not in text


def test_unknown_gives_the_reason_and_the_usage() -> None:
    message = unknown_message("`status` needs an export id, like `axp_1`.")
    assert_well_formed(message)
    assert message["blocks"][0]["text"]["text"].endswith(
        "`status` needs an export id, like `axp_1`."
    )
    assert "needs an export id" in message["text"]
    assert "/lemlist-export status axp_" in all_texts(message)


def test_unknown_fits_a_5000_character_reason() -> None:
    message = unknown_message(LONG_REASON)
    assert_well_formed(message)
    assert message["blocks"][0]["text"]["text"].endswith("…")


def test_unknown_cannot_ping_the_channel() -> None:
    message = unknown_message("I don't know what to do with `<!channel> & co`.")
    section = message["blocks"][0]["text"]["text"]
    assert "<!channel>" not in section and "<!channel>" not in message["text"]
    assert "&lt;!channel&gt; &amp; co" in section
    # What Slack already escaped is not escaped twice.
    assert "&lt;b&gt;" in unknown_message("`&lt;b&gt;`")["blocks"][0]["text"]["text"]


# -- the start -----------------------------------------------------------------------------


def test_starting_acknowledges_the_campaign() -> None:
    message = starting_message(CAMPAIGN)
    assert_well_formed(message)
    assert f"Starting an export of `{CAMPAIGN}`" in message["text"]
    assert "when the CSV is in S3" in message["text"]


def test_started_gives_the_export_id_and_how_to_ask_about_it() -> None:
    message = started_message(PENDING)
    assert_well_formed(message)
    text = all_texts(message)
    assert EXPORT in message["text"]
    assert "Q4 Outreach — Démo" in text
    assert CAMPAIGN in text
    assert "lemlist is preparing it" in message["text"]
    assert f"/lemlist-export status {EXPORT}" in text


def test_started_without_a_campaign_name_shows_the_id() -> None:
    message = started_message(replace(PENDING, campaign_name=""))
    assert f"of `{CAMPAIGN}` started" in message["text"]


def test_a_campaign_name_is_escaped() -> None:
    message = started_message(replace(PENDING, campaign_name="<!here> R&D"))
    assert "<!here>" not in all_texts(message)
    assert "&lt;!here&gt; R&amp;D" in all_texts(message)


# -- status ---------------------------------------------------------------------------------


def test_status_of_an_unknown_export_says_so() -> None:
    message = status_message(None, EXPORT)
    assert_well_formed(message)
    assert f"I know no export `{EXPORT}`" in message["text"]


def test_status_of_a_pending_export_shows_progress_and_checks() -> None:
    message = status_message(PENDING, EXPORT)
    assert_well_formed(message)
    text = all_texts(message)
    assert "preparing" in text
    assert "120/400 (activities)" in text
    assert "*Status checks*\\n3" in text
    assert EXPORT in text and CAMPAIGN in text
    assert message["text"] == (
        f"Export {EXPORT} of {CAMPAIGN} is pending: 120/400 (activities), 3 status checks"
    )
    # Times render in the reader's time zone, with the UTC time as fallback.
    assert "<!date^1795946400^" in text
    assert "|2026-11-29 10:00:00 UTC>" in text


def test_status_of_a_pending_export_before_any_check() -> None:
    message = status_message(replace(PENDING, poll_count=0, progress=Progress()), EXPORT)
    assert_well_formed(message)
    text = all_texts(message)
    assert "waiting" in text
    assert "none yet" in text


def test_status_of_a_delivering_export() -> None:
    message = status_message(DELIVERING, EXPORT)
    assert_well_formed(message)
    text = all_texts(message)
    assert "copying it to S3" in text
    assert "44.1 KiB" in text
    assert "delivering" in message["text"]


def test_status_of_a_delivered_export_gives_where_how_big_how_long() -> None:
    message = status_message(DELIVERED, EXPORT)
    assert_well_formed(message)
    text = all_texts(message)
    assert S3_URI in text
    assert "44.1 KiB" in text
    assert "41 s" in text
    assert "delivered" in message["text"]


def test_status_of_a_delivered_export_links_the_console_given_a_region() -> None:
    text = all_texts(status_message(DELIVERED, EXPORT, region="eu-west-3"))
    assert "s3.console.aws.amazon.com" in text


def test_status_of_a_failed_export_gives_the_reason() -> None:
    message = status_message(FAILED, EXPORT)
    assert_well_formed(message)
    assert "it keeps a status 2 hours" in all_texts(message)
    assert "failed" in message["text"]


def in_channel(record: ExportRecord) -> dict[str, Any]:
    """What the notifier posts to a Slack command's response_url when an export ends."""
    return {"response_type": "in_channel", **Announcement.of(record).slack_payload()}


@pytest.mark.parametrize("build", [status_message, lambda r, _id: in_channel(r)])
def test_a_5000_character_failure_reason_fits(build: Any) -> None:
    message = build(replace(FAILED, failure_reason=LONG_REASON), EXPORT)
    assert_well_formed(message, message["response_type"])
    assert "lemlist said no." in all_texts(message)


def test_a_long_campaign_name_fits_everywhere() -> None:
    record = replace(PENDING, campaign_name="N" * 5000)
    for message in (
        started_message(record),
        status_message(record, EXPORT),
        status_message(replace(DELIVERED, campaign_name="N" * 5000), EXPORT),
        in_channel(replace(FAILED, campaign_name="N" * 5000)),
        in_channel(replace(DELIVERED, campaign_name="N" * 5000)),
    ):
        assert_well_formed(message, message["response_type"])


def test_status_of_a_status_this_code_does_not_know() -> None:
    message = status_message(replace(PENDING, status="archived"), EXPORT)
    assert_well_formed(message)
    assert "archived" in message["text"]


# -- the end, in the channel ----------------------------------------------------------------


@pytest.mark.parametrize("record", [DELIVERED, FAILED], ids=["delivered", "failed"])
def test_final_is_posted_in_the_channel_like_the_announcement(record: ExportRecord) -> None:
    message = in_channel(record)
    assert_well_formed(message, "in_channel")
    assert message["blocks"][0]["type"] == "header"
    assert EXPORT in all_texts(message)
    assert record.status in message["text"]
