"""Helpful HTTP errors: a campaign id where an export id belongs, a campaign's lemlist link
where its id belongs; and the link reader both the API and Slack use."""

from __future__ import annotations

import pytest

from lemlist_export.core.errors import ExportNotFoundError
from lemlist_export.http_api.errors import campaign_id_hint, http_error, validation_message
from lemlist_export.lemlist.campaign_links import CampaignLink, looks_like_link, read_campaign_link

CAMPAIGN = "cam_A1B2C3D4E5F6G7H8I9"
LINK = f"https://app.lemlist.com/teams/tea_XXXX/campaigns/{CAMPAIGN}/report"
ADVICE = (
    "campaignId must be a lemlist campaign id: letters, digits and underscores, "
    "like cam_A1B2C3D4E5F6G7H8I9"
)


def pattern_error(value: object, location: tuple[str, ...] = ("body", "campaignId")) -> dict:
    """A validation error as Powertools reports a campaignId that fails the id pattern."""
    return {
        "type": "string_pattern_mismatch",
        "loc": location,
        "msg": "String should match pattern '^[A-Za-z0-9_]{1,64}$'",
        "input": value,
    }


# -- GET /exports/{id} with a campaign id ----------------------------------------------------


def lookup(export_id: str) -> None:
    with campaign_id_hint(export_id):
        raise ExportNotFoundError(f"No export {export_id} is recorded")


@pytest.mark.parametrize("campaign_id", ["cam_A1B2C3", CAMPAIGN, "CAM_a1", "cam_DoesNotExist"])
def test_an_unknown_campaign_id_points_to_the_list_route(campaign_id: str) -> None:
    with pytest.raises(ExportNotFoundError) as caught:
        lookup(campaign_id)
    error = http_error(caught.value)
    assert error.status == 404
    assert error.message == (
        f"{campaign_id} is a campaign id; a campaign's exports are at "
        f"GET /exports?campaignId={campaign_id}"
    )


@pytest.mark.parametrize("export_id", ["axp_DoesNotExist01", "slack_1_2_3", "campaign", "cam_"])
def test_an_unknown_export_id_keeps_its_404(export_id: str) -> None:
    with pytest.raises(ExportNotFoundError) as caught:
        lookup(export_id)
    assert http_error(caught.value).message == f"No export {export_id} is recorded"


def test_a_found_export_passes_through() -> None:
    with campaign_id_hint(CAMPAIGN):
        found = "the record"
    assert found == "the record"


# -- a link sent as campaignId ---------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        LINK,
        f"https://app.lemlist.com/campaigns/{CAMPAIGN}/report?tab=leads#top",
        f"http://app.lemlist.com/campaigns/{CAMPAIGN}",
        f"app.lemlist.com/campaigns/{CAMPAIGN}",
    ],
)
def test_a_campaign_link_as_campaign_id_says_which_id_to_send(value: str) -> None:
    assert validation_message([pattern_error(value)]) == (
        422,
        f'{ADVICE}; this looks like a campaign URL: send "{CAMPAIGN}"',
    )


def test_the_hint_works_on_the_list_query_too() -> None:
    status, message = validation_message([pattern_error(LINK, ("query", "campaignId"))])
    assert status == 422
    assert message.endswith(f'send "{CAMPAIGN}"')


@pytest.mark.parametrize(
    "value",
    [
        "cam_12-34",
        "https://app.lemlist.com/campaigns/",
        "https://app.lemlist.com/campaigns/cam_12-34",
        f"https://app.lemlist.com/campaigns/{CAMPAIGN}/vs/cam_Other0000000001",
        f"https://user@app.lemlist.com/campaigns/{CAMPAIGN}",
        f"https://evil.example\\@app.lemlist.com/campaigns/{CAMPAIGN}",
        123,
        None,
    ],
)
def test_without_one_readable_id_the_422_is_unchanged(value: object) -> None:
    assert validation_message([pattern_error(value)]) == (422, ADVICE)


def test_other_fields_get_no_link_hint() -> None:
    error = {**pattern_error(LINK, ("query", "exportId"))}
    assert "send" not in validation_message([error])[1]


# -- the link reader -------------------------------------------------------------------------


def test_a_link_is_read_for_its_one_campaign_id() -> None:
    assert read_campaign_link(LINK) == CampaignLink(campaign_id=CAMPAIGN, found=(CAMPAIGN,))


@pytest.mark.parametrize(
    ("text", "is_link"),
    [
        (LINK, True),
        ("HTTPS://APP.LEMLIST.COM/x", True),
        ("app.lemlist.com/campaigns/cam_x", True),
        ("lemlist.com", True),
        ("ftp://x", True),
        (CAMPAIGN, False),
        ("status", False),
        ("lemlist.community/x", False),
        ("<@U123|steve>", False),
    ],
)
def test_what_counts_as_a_link(text: str, is_link: bool) -> None:
    assert looks_like_link(text) is is_link


def test_a_link_on_another_host_is_not_read_but_shows_its_id() -> None:
    read = read_campaign_link(f"https://example.com/campaigns/{CAMPAIGN}")
    assert read.campaign_id is None
    assert read.lone_id == CAMPAIGN
    assert read.problem == "That link is on example.com, not lemlist.com, so I did not read it"


def test_an_ip_address_host_is_not_lemlist() -> None:
    read = read_campaign_link(f"https://93.184.216.34/campaigns/{CAMPAIGN}")
    assert read.campaign_id is None
    assert "not lemlist.com" in read.problem
