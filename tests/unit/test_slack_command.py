"""Slack's slash-command form, the intents read from its text, and the execution names."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path
from urllib.parse import urlencode

import pytest

from lemlist_export.core.errors import InvalidRequestError
from lemlist_export.slack.command import (
    ShowHelp,
    ShowStatus,
    SlackCommand,
    StartExport,
    Unknown,
    execution_name_for,
    parse_intent,
)

ROOT = Path(__file__).resolve().parents[2]
CAMPAIGN = "cam_A1B2C3D4E5F6G7H8I9"
EXPORT = "axp_Vv6lJOc8NlVVmDud5"
RESPONSE_URL = "https://hooks.slack.com/commands/T0001/1234567890/abcDEF123secret"
TRIGGER_ID = "13345224609.738474920.8088930838d88f008e0"
EXECUTION_NAME = re.compile(r"[A-Za-z0-9_]{1,80}")


def slack_form(**overrides: str) -> bytes:
    """A body as Slack posts it: every field it sends, form-encoded."""
    fields = {
        "token": "gIkuvaNzQIHg97ATvDxqgjtO",
        "team_id": "T0001",
        "team_domain": "example",
        "channel_id": "C2147483705",
        "channel_name": "growth",
        "user_id": "U2147483697",
        "user_name": "Steve",
        "command": "/lemlist-export",
        "text": CAMPAIGN,
        "api_app_id": "A123456",
        "is_enterprise_install": "false",
        "response_url": RESPONSE_URL,
        "trigger_id": TRIGGER_ID,
    }
    fields.update(overrides)
    return urlencode(fields).encode("utf-8")


# -- the form ------------------------------------------------------------------------------


def test_a_real_slack_form_parses() -> None:
    command = SlackCommand.from_form(slack_form())
    assert command == SlackCommand(
        command="/lemlist-export",
        text=CAMPAIGN,
        user_id="U2147483697",
        user_name="Steve",
        channel_id="C2147483705",
        team_id="T0001",
        response_url=RESPONSE_URL,
        trigger_id=TRIGGER_ID,
    )


def test_spaces_and_non_ascii_text_survive_the_encoding() -> None:
    command = SlackCommand.from_form(slack_form(text="  status   axp_1 — Démo 日本 "))
    assert command.text == "  status   axp_1 — Démo 日本 "


def test_absent_fields_are_empty_strings() -> None:
    command = SlackCommand.from_form(b"command=%2Flemlist-export")
    assert command == SlackCommand(command="/lemlist-export")
    assert command.text == command.trigger_id == command.response_url == ""


def test_an_empty_text_is_kept_empty() -> None:
    assert SlackCommand.from_form(slack_form(text="")).text == ""


def test_the_response_url_stays_out_of_repr() -> None:
    # It lets anyone post to the channel for 30 minutes: a log line must not carry it.
    command = SlackCommand.from_form(slack_form())
    assert RESPONSE_URL not in repr(command)
    assert "U2147483697" in repr(command)


@pytest.mark.parametrize(
    ("body", "why"),
    [
        (b'{"command": "/lemlist-export", "text": "help"}', "not a UTF-8 form"),
        (b"command=%2Flemlist-export&&text=help", "not a UTF-8 form"),
        (b"just some words", "not a UTF-8 form"),
        (b"command=%2Flemlist-export&text=%FF", "not a UTF-8 form"),
        ("command=/lemlist-export&text=Démo".encode("latin-1"), "not a UTF-8 form"),
        (b"&".join([b"f%d=1" % i for i in range(200)] + [b"command=x"]), "not a UTF-8 form"),
        (b"", "no `command` field"),
        (b"text=help&user_id=U1", "no `command` field"),
        (b"command=&text=help", "no `command` field"),
    ],
    ids=[
        "json",
        "empty field",
        "not a form",
        "percent-encoded non-UTF-8",
        "latin-1 body",
        "too many fields",
        "empty body",
        "no command",
        "empty command",
    ],
)
def test_a_body_that_is_not_a_slack_command_is_refused(body: bytes, why: str) -> None:
    with pytest.raises(InvalidRequestError, match=why):
        SlackCommand.from_form(body)


# -- intents -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("", ShowHelp()),
        ("   ", ShowHelp()),
        ("help", ShowHelp()),
        ("HELP", ShowHelp()),
        ("  Help  ", ShowHelp()),
        ("--help", ShowHelp()),
        ("?", ShowHelp()),
        (CAMPAIGN, StartExport(CAMPAIGN)),
        (f"  {CAMPAIGN}  ", StartExport(CAMPAIGN)),
        (f"`{CAMPAIGN}`", StartExport(CAMPAIGN)),
        (f"```{CAMPAIGN}```", StartExport(CAMPAIGN)),
        (f'"{CAMPAIGN}"', StartExport(CAMPAIGN)),
        (f"'{CAMPAIGN}'", StartExport(CAMPAIGN)),
        (f"“{CAMPAIGN}”", StartExport(CAMPAIGN)),
        (f"\u2018{CAMPAIGN}\u2019", StartExport(CAMPAIGN)),
        (f"«{CAMPAIGN}»", StartExport(CAMPAIGN)),
        (f"export {CAMPAIGN}", StartExport(CAMPAIGN)),
        (f"EXPORT    {CAMPAIGN}", StartExport(CAMPAIGN)),
        (f"Export `{CAMPAIGN}`", StartExport(CAMPAIGN)),
        (f"start {CAMPAIGN}", StartExport(CAMPAIGN)),
        (f"\texport\n{CAMPAIGN}\u00a0", StartExport(CAMPAIGN)),
        (f"`export {CAMPAIGN}`", StartExport(CAMPAIGN)),
        (f"status {EXPORT}", ShowStatus(EXPORT)),
        (f"STATUS {EXPORT}", ShowStatus(EXPORT)),
        (f"  Status:   `{EXPORT}` ", ShowStatus(EXPORT)),
        (f"status '{EXPORT}'", ShowStatus(EXPORT)),
        (EXPORT, ShowStatus(EXPORT)),
        (f"`{EXPORT}`", ShowStatus(EXPORT)),
    ],
)
def test_every_form_of_every_intent(text: str, intent: object) -> None:
    assert parse_intent(text) == intent


def test_ids_keep_their_case() -> None:
    assert parse_intent("status AXP_Vv6lJOc8NlVVmDud5") == ShowStatus("AXP_Vv6lJOc8NlVVmDud5")
    assert parse_intent("export CAM_ab") == StartExport("CAM_ab")


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("status", "`status` needs an export id, like `axp_"),
        ("status   ``", "`status` needs an export id"),
        ("export", "`export` needs a campaign id, like `cam_"),
        ("start", "`start` needs a campaign id"),
        ("status axp_12-34", "`axp_12-34` is not an export id"),
        ("status axp_é", "`axp_é` is not an export id"),
        (f"status {EXPORT} {EXPORT}", "`status` takes one id"),
        ("export cam_1/../../x", "`cam_1/../../x` is not a campaign id"),
        ("export " + "a" * 65, "is not a campaign id"),
        ("export <mailto:a@b.c|a@b.c>", "is not a campaign id"),
        ("cam_12-34", "I don't know what to do with `cam_12-34`"),
        ("stauts axp_1", "I don't know what to do with `stauts axp_1`"),
        ("campaign", "I don't know what to do with `campaign`"),
        (f"{CAMPAIGN} {CAMPAIGN}", "I don't know what to do with"),
        ("<@U123|steve>", "I don't know what to do with `<@U123|steve>`"),
    ],
)
def test_anything_else_is_unknown_with_a_reason(text: str, reason: str) -> None:
    intent = parse_intent(text)
    assert isinstance(intent, Unknown)
    assert reason in intent.reason


def test_an_unknown_reason_quotes_little_and_cannot_break_its_code_span() -> None:
    intent = parse_intent("x" * 500 + " `rm -rf`")
    assert isinstance(intent, Unknown)
    assert len(intent.reason) < 100
    assert intent.reason.count("`") == 2


def test_a_campaign_id_given_to_status_points_to_the_export_form() -> None:
    intent = parse_intent(f"status {CAMPAIGN}")
    assert intent == Unknown(
        f"`{CAMPAIGN}` is a campaign id; `status` takes an export id, like `{EXPORT}` (the one "
        f"the start gave you). To export this campaign, type `/lemlist-export {CAMPAIGN}`."
    )


def test_an_export_id_given_to_export_points_to_status() -> None:
    for text in (f"export {EXPORT}", f"start {EXPORT}"):
        assert parse_intent(text) == Unknown(
            f"`{EXPORT}` is an export id, not a campaign id; to see where it stands, "
            f"type `/lemlist-export status {EXPORT}`."
        )


def test_a_bare_export_id_in_capitals_is_still_a_status() -> None:
    assert parse_intent("AXP_Vv6lJOc8NlVVmDud5") == ShowStatus("AXP_Vv6lJOc8NlVVmDud5")


def test_reasons_name_the_command_they_are_given() -> None:
    intent = parse_intent(f"status {CAMPAIGN}", command="/stats-export")
    assert isinstance(intent, Unknown)
    assert f"`/stats-export {CAMPAIGN}`" in intent.reason
    assert "/lemlist-export" not in intent.reason


# -- pasted lemlist links ------------------------------------------------------------------

LINK = f"https://app.lemlist.com/teams/tea_XXXX/campaigns/{CAMPAIGN}/report"
NO_ID_ADVICE = "type `/lemlist-export cam_…` with the id from the campaign's URL."


@pytest.mark.parametrize(
    "text",
    [
        LINK,
        f"https://app.lemlist.com/campaigns/{CAMPAIGN}/report",
        f"https://app.lemlist.com/campaigns/{CAMPAIGN}",
        f"https://app.lemlist.com/campaigns/{CAMPAIGN}/",
        f"https://app.lemlist.com/campaigns/{CAMPAIGN}//",
        f"https://lemlist.com/campaigns/{CAMPAIGN}",
        f"https://app.lemlist.com/campaigns/{CAMPAIGN}/leads?tab=all&page=2",
        f"https://app.lemlist.com/campaigns/{CAMPAIGN}/report#sequence",
        f"https://app.lemlist.com/campaigns/{CAMPAIGN}?from=cam_Other0000000001",
        f"https://APP.LEMLIST.COM/campaigns/{CAMPAIGN}",
        f"HTTPS://App.Lemlist.Com/campaigns/{CAMPAIGN}",
        f"https://app.lemlist.com:443/campaigns/{CAMPAIGN}",
        f"https://eu.app.lemlist.com/campaigns/{CAMPAIGN}",
        f"https://app.lemlist.com/campaigns/{CAMPAIGN}/x/{CAMPAIGN}",
        f"<{LINK}>",
        f"<{LINK}|{LINK}>",
        f"<{LINK}|Q4 Outreach — Démo report>",
        f"<https://app.lemlist.com/campaigns/{CAMPAIGN}/leads?tab=all&amp;page=2|leads>",
        f"  <{LINK}|the report>  ",
        f"`{LINK}`",
        f'"{LINK}"',
        f"`<{LINK}>`",
        f"export {LINK}",
        f"Export <{LINK}|the report>",
        f"START: <{LINK}>",
    ],
    ids=[
        "team link",
        "report link",
        "no trailing part",
        "trailing slash",
        "two trailing slashes",
        "apex domain",
        "query",
        "fragment",
        "another id in the query",
        "uppercase host",
        "uppercase scheme and host",
        "explicit port",
        "deeper subdomain",
        "the same id twice",
        "slack wrapped",
        "slack wrapped, url label",
        "slack wrapped, label with spaces",
        "slack wrapped, escaped ampersand",
        "slack wrapped, spaces around",
        "backticks",
        "quotes",
        "backticks around slack link",
        "after export",
        "after Export, wrapped",
        "after START:",
    ],
)
def test_a_pasted_campaign_link_starts_its_campaign(text: str) -> None:
    assert parse_intent(text) == StartExport(CAMPAIGN)


def test_the_id_from_a_link_keeps_its_case() -> None:
    assert parse_intent("https://app.lemlist.com/campaigns/cam_AbCdEf012") == StartExport(
        "cam_AbCdEf012"
    )


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (
            "https://app.lemlist.com/campaigns/",
            f"I found no campaign id in that link; {NO_ID_ADVICE}",
        ),
        (
            "<https://app.lemlist.com/teams/tea_XXXX/settings|settings>",
            f"I found no campaign id in that link; {NO_ID_ADVICE}",
        ),
        (
            f"https://app.lemlist.com/campaigns?campaignId={CAMPAIGN}",
            f"I found no campaign id in that link; {NO_ID_ADVICE}",
        ),
        (
            "https://app.lemlist.com/campaigns/cam_12-34/report",
            "`cam_12-34` in that link is not a well-formed campaign id (`cam_` then letters, "
            f"digits and underscores); {NO_ID_ADVICE}",
        ),
        (
            "https://app.lemlist.com/campaigns/cam_%41B/report",
            "`cam_%41B` in that link is not a well-formed campaign id",
        ),
        (
            "https://app.lemlist.com/campaigns/cam_/report",
            "`cam_` in that link is not a well-formed campaign id",
        ),
        (
            f"https://app.lemlist.com/campaigns/{CAMPAIGN}/compare/cam_Other0000000001",
            f"That link holds 2 campaign ids (`{CAMPAIGN}`, `cam_Other0000000001`); type "
            f"`/lemlist-export` and the one you mean, like `/lemlist-export {CAMPAIGN}`.",
        ),
        (
            f"https://example.com/campaigns/{CAMPAIGN}",
            "That link is on example.com, not lemlist.com, so I did not read it; to export "
            f"`{CAMPAIGN}`, type `/lemlist-export {CAMPAIGN}`.",
        ),
        (
            f"https://app.lemlist.com.example.com/campaigns/{CAMPAIGN}",
            "That link is on app.lemlist.com.example.com, not lemlist.com",
        ),
        (
            f"https://notlemlist.com/campaigns/{CAMPAIGN}",
            "That link is on notlemlist.com, not lemlist.com",
        ),
        (
            f"http://app.lemlist.com/campaigns/{CAMPAIGN}",
            "That link is http, not https, so I did not read it; to export "
            f"`{CAMPAIGN}`, type `/lemlist-export {CAMPAIGN}`.",
        ),
        (
            f"<http://app.lemlist.com/campaigns/{CAMPAIGN}|app.lemlist.com/campaigns/{CAMPAIGN}>",
            f"That link is http, not https, so I did not read it; to export `{CAMPAIGN}`",
        ),
        (
            f"app.lemlist.com/campaigns/{CAMPAIGN}",
            "That link has no `https://`, so I did not read it; to export "
            f"`{CAMPAIGN}`, type `/lemlist-export {CAMPAIGN}`.",
        ),
        (
            f"https://user:pw@app.lemlist.com/campaigns/{CAMPAIGN}",
            f"That link was refused: it carries a user name or password; {NO_ID_ADVICE}",
        ),
        (
            f"https://evil.example\\@app.lemlist.com/campaigns/{CAMPAIGN}",
            f"That link was refused: it contains a backslash; {NO_ID_ADVICE}",
        ),
        (
            f"https://app.lemlist.com\\campaigns\\{CAMPAIGN}",
            f"That link was refused: it contains a backslash; {NO_ID_ADVICE}",
        ),
        (
            f"<https://app.lemlist.com/campaigns/ {CAMPAIGN}|report>",
            f"That link was refused: it contains whitespace or a control character; {NO_ID_ADVICE}",
        ),
        (
            f"https://app.lemlist.com:99999/campaigns/{CAMPAIGN}",
            "That link was refused",
        ),
        (
            f"status {LINK}",
            f"`status` takes an export id, like `{EXPORT}`, not a link.",
        ),
        (
            f"{LINK} {LINK}",
            "I don't know what to do with",
        ),
    ],
    ids=[
        "no id",
        "slack wrapped, no id",
        "id only in the query",
        "bad characters",
        "percent-encoded",
        "prefix alone",
        "two ids",
        "other host",
        "lemlist as a subdomain of another host",
        "lemlist as a suffix of another name",
        "http",
        "http, slack wrapped",
        "no scheme",
        "user info",
        "backslash before @",
        "backslashes as separators",
        "whitespace",
        "port out of range",
        "status with a link",
        "two links",
    ],
)
def test_a_link_without_one_readable_campaign_id_says_why_and_what_to_type(
    text: str, reason: str
) -> None:
    intent = parse_intent(text)
    assert isinstance(intent, Unknown)
    assert reason in intent.reason


def test_a_refused_link_never_suggests_an_id_read_past_the_refusal() -> None:
    # User info or a backslash: the link is not read at all, so no id from it is offered.
    for text in (
        f"https://{CAMPAIGN}@app.lemlist.com/campaigns/cam_Other0000000001",
        f"https://evil.example\\@app.lemlist.com/campaigns/{CAMPAIGN}",
    ):
        intent = parse_intent(text)
        assert isinstance(intent, Unknown)
        assert "cam_Other" not in intent.reason
        assert f"type `/lemlist-export {CAMPAIGN}`" not in intent.reason


# -- execution names -----------------------------------------------------------------------


def test_the_execution_name_is_the_trigger_id_made_safe() -> None:
    command = SlackCommand.from_form(slack_form())
    name = execution_name_for(command)
    assert name == "slack_13345224609_738474920_8088930838d88f008e0"
    assert EXECUTION_NAME.fullmatch(name)
    assert execution_name_for(SlackCommand.from_form(slack_form())) == name


@pytest.mark.parametrize(
    "trigger_id",
    ["a.b-c:d/e f", "é日本✓", "x" * 200, "_", "....", "13345224609.738474920.8088930838d88f0"],
)
def test_any_trigger_id_gives_a_valid_name(trigger_id: str) -> None:
    name = execution_name_for(SlackCommand(command="/c", trigger_id=trigger_id))
    assert EXECUTION_NAME.fullmatch(name)
    assert name.startswith("slack_")


def test_without_a_trigger_id_the_name_is_a_stable_hash() -> None:
    command = SlackCommand.from_form(slack_form(trigger_id=""))
    name = execution_name_for(command)
    assert EXECUTION_NAME.fullmatch(name)
    assert re.fullmatch(r"slack_[0-9a-f]{64}", name)
    assert execution_name_for(SlackCommand.from_form(slack_form(trigger_id=""))) == name
    # Another invocation (another response_url), another text or user: another name.
    others = {
        execution_name_for(replace(command, response_url=RESPONSE_URL + "2")),
        execution_name_for(replace(command, text="help")),
        execution_name_for(replace(command, user_id="U0")),
        execution_name_for(replace(command, channel_id="C0")),
        execution_name_for(replace(command, team_id="T0")),
    }
    assert len(others) == 5
    assert name not in others


def test_distinct_trigger_ids_give_distinct_names() -> None:
    names = {
        execution_name_for(SlackCommand(command="/c", trigger_id=f"1334522460{i}.738474920.80"))
        for i in range(10)
    }
    assert len(names) == 10


# -- the manifest --------------------------------------------------------------------------


def test_the_manifest_declares_the_command_these_parsers_read() -> None:
    yaml = pytest.importorskip("yaml")
    manifest = yaml.safe_load((ROOT / "slack" / "manifest.yaml").read_text())
    assert manifest["_metadata"] == {"major_version": 1, "minor_version": 1}
    (command,) = manifest["features"]["slash_commands"]
    assert command["command"] == "/lemlist-export"
    assert command["url"].endswith("/slack/commands")
    assert command["should_escape"] is False
    assert manifest["oauth_config"]["scopes"]["bot"] == ["commands", "incoming-webhook"]
    assert manifest["settings"] == {
        "org_deploy_enabled": False,
        "socket_mode_enabled": False,
        "token_rotation_enabled": False,
    }
    assert len(manifest["display_information"]["name"]) <= 35
    assert len(manifest["display_information"]["description"]) <= 140
    # Each form the usage hint shows means what it says.
    hinted = [form.strip() for form in command["usage_hint"].split("|")]
    assert [type(parse_intent(form)) for form in hinted] == [
        StartExport,
        StartExport,
        ShowStatus,
        ShowHelp,
    ]
