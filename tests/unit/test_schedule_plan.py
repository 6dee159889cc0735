"""Planning a scheduled run: Scheduler's input, the campaigns it covers, names and pacing."""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from lemlist_export.core.errors import InvalidRequestError
from lemlist_export.core.identifiers import is_lemlist_id
from lemlist_export.core.url_judge import LOCAL_URLS
from lemlist_export.lemlist.client import ClientSettings, LemlistClient
from lemlist_export.schedules.plan import (
    ScheduledRun,
    campaigns_to_export,
    execution_name,
    start_delays,
    starts_per_second,
)
from local_stack.lemlist_simulator import DEFAULT_CAMPAIGN_ID, LemlistSimulator

API_KEY = "key-SchedulePlan-0123456789"
TIME = "2026-11-30T06:00:00Z"
ARN = "arn:aws:scheduler:us-east-1:123456789012:schedule/default/lemlist-nightly"
NAME = re.compile(r"[A-Za-z0-9_]{1,80}")


def run(**changes: Any) -> ScheduledRun:
    base: dict[str, Any] = {
        "campaign_ids": ("cam_A1B2C3D4E5F6G7H8I9",),
        "campaign_status": None,
        "scheduled_time": TIME,
        "schedule_arn": ARN,
    }
    return ScheduledRun(**{**base, **changes})


# -- from_event ------------------------------------------------------------------------------


def test_campaign_ids_as_a_comma_string_are_trimmed_and_deduplicated() -> None:
    event = {
        "campaignIds": " cam_B , cam_A,,cam_B, ,cam_C ",
        "scheduledTime": TIME,
        "scheduleArn": ARN,
    }

    assert ScheduledRun.from_event(event) == ScheduledRun(
        campaign_ids=("cam_B", "cam_A", "cam_C"),
        campaign_status=None,
        scheduled_time=TIME,
        schedule_arn=ARN,
    )


def test_campaign_ids_as_a_list() -> None:
    event = {"campaignIds": ["cam_A", " cam_B", "", "cam_A"], "scheduledTime": TIME}

    planned = ScheduledRun.from_event(event)

    assert planned.campaign_ids == ("cam_A", "cam_B")
    assert planned.campaign_status is None
    assert planned.schedule_arn == "manual"


@pytest.mark.parametrize("status", ["running", "draft", "archived", "ended", "paused", "errors"])
def test_campaign_status(status: str) -> None:
    event = {"campaignStatus": status, "scheduledTime": TIME, "scheduleArn": ARN}

    planned = ScheduledRun.from_event(event)

    assert planned.campaign_ids == ()
    assert planned.campaign_status == status


@pytest.mark.parametrize(
    "event",
    [
        {"campaignStatus": " Running ", "scheduledTime": TIME},
        # A template filling both fields from parameters leaves the unused one empty.
        {"campaignIds": "", "campaignStatus": "running", "scheduledTime": TIME},
        {"campaignIds": [], "campaignStatus": "running", "scheduledTime": TIME},
        {"campaignIds": None, "campaignStatus": "running", "scheduledTime": TIME},
    ],
)
def test_blank_fields_count_as_not_given(event: dict[str, Any]) -> None:
    planned = ScheduledRun.from_event(event)

    assert planned.campaign_status == "running"
    assert planned.campaign_ids == ()


def test_a_blank_status_beside_ids_counts_as_not_given() -> None:
    event = {"campaignIds": "cam_A", "campaignStatus": " ", "scheduledTime": TIME}

    assert ScheduledRun.from_event(event).campaign_status is None


@pytest.mark.parametrize(
    ("event", "says"),
    [
        (
            {"campaignIds": "cam_A", "campaignStatus": "running", "scheduledTime": TIME},
            "both campaignIds and campaignStatus",
        ),
        ({"scheduledTime": TIME}, "neither campaignIds nor campaignStatus"),
        ({"campaignIds": " , ", "scheduledTime": TIME}, "neither"),
        ({"campaignIds": 42, "scheduledTime": TIME}, "comma-separated string"),
        ({"campaignIds": {"id": "cam_A"}, "scheduledTime": TIME}, "comma-separated string"),
        ({"campaignIds": ["cam_A", 7, None], "scheduledTime": TIME}, "must hold strings"),
        ({"campaignStatus": "active", "scheduledTime": TIME}, "one of running, draft"),
        ({"campaignStatus": 3, "scheduledTime": TIME}, "campaignStatus must be one of"),
        ({"campaignIds": "cam_A"}, "input template is wrong"),
        (
            {"campaignIds": "cam_A", "scheduledTime": "<aws.scheduler.scheduled-time>"},
            "input template is wrong",
        ),
        ({"campaignIds": "cam_A", "scheduledTime": ""}, "input template is wrong"),
        ({"campaignIds": "cam_A", "scheduledTime": "yesterday"}, "not an ISO 8601 time"),
        ({"campaignIds": "cam_A", "scheduledTime": 1764482400}, "ISO 8601 string"),
        (
            {
                "campaignIds": "cam_A",
                "scheduledTime": TIME,
                "scheduleArn": "<aws.scheduler.schedule-arn>",
            },
            "input template is wrong",
        ),
        ({"campaignIds": "cam_A", "scheduledTime": TIME, "scheduleArn": 5}, "must be a string"),
        (["cam_A"], "must be a JSON object"),
    ],
)
def test_bad_input_says_what_is_wrong(event: Any, says: str) -> None:
    with pytest.raises(InvalidRequestError, match=re.escape(says)):
        ScheduledRun.from_event(event)


def test_bad_campaign_ids_are_all_listed_and_only_them() -> None:
    event = {"campaignIds": "cam_ok,bad-id, also bad ,cam_fine,x", "scheduledTime": TIME}

    with pytest.raises(InvalidRequestError) as raised:
        ScheduledRun.from_event(event)

    message = str(raised.value)
    assert "'bad-id'" in message and "'also bad'" in message
    assert "cam_ok" not in message and "cam_fine" not in message


def test_many_bad_campaign_ids_are_summarised() -> None:
    bad = [f"bad id {n}" for n in range(9)]

    with pytest.raises(InvalidRequestError, match="and 4 more"):
        ScheduledRun.from_event({"campaignIds": bad, "scheduledTime": TIME})


# -- campaigns_to_export -------------------------------------------------------------------


@pytest.fixture
def sim() -> Iterator[LemlistSimulator]:
    with LemlistSimulator(api_key=API_KEY) as simulator:
        yield simulator


@pytest.fixture
def lemlist(sim: LemlistSimulator) -> LemlistClient:
    return LemlistClient(API_KEY, ClientSettings(base_url=sim.base_url, urls=LOCAL_URLS))


def test_configured_ids_need_no_lemlist_call(sim: LemlistSimulator, lemlist: LemlistClient) -> None:
    planned = run(campaign_ids=("cam_B", "cam_A"))

    assert campaigns_to_export(planned, lemlist) == ["cam_B", "cam_A"]
    assert sim.requests == []


@pytest.mark.parametrize("shape", ["array", "paginated"])
def test_every_campaign_in_a_status_across_pages(
    sim: LemlistSimulator, lemlist: LemlistClient, shape: str
) -> None:
    sim.campaign_list_shape = shape  # type: ignore[assignment]
    running = [sim.add_campaign(f"cam_Running{n:04d}") for n in range(205)]
    paused = [sim.add_campaign(f"cam_Paused{n:04d}", status="paused") for n in range(7)]
    sim.add_campaign("cam_Draft0001", status="draft")

    everything_running = campaigns_to_export(run(campaign_status="running"), lemlist)
    listings = [r for r in sim.requests if r.route == "campaigns"]
    only_paused = campaigns_to_export(run(campaign_status="paused"), lemlist)

    # The simulator's demo campaign is running too; lemlist's order is kept.
    assert everything_running == [DEFAULT_CAMPAIGN_ID, *running]
    assert len(listings) == 3  # 206 campaigns, 100 a page
    assert all(r.query.get("status") == "running" for r in listings)
    assert only_paused == paused


def test_a_status_with_no_campaign_plans_nothing(lemlist: LemlistClient) -> None:
    assert campaigns_to_export(run(campaign_status="archived"), lemlist) == []


class ListingLemlist:
    """A lemlist answering the listing with whatever the test gives."""

    def __init__(self, campaigns: list[dict[str, Any]]) -> None:
        self.campaigns = campaigns
        self.asked: list[str | None] = []

    def list_campaigns(self, status: str | None = None) -> Iterator[dict[str, Any]]:
        self.asked.append(status)
        yield from self.campaigns


def test_listed_entries_without_a_usable_id_are_skipped_and_repeats_dropped() -> None:
    lemlist = ListingLemlist(
        [
            {"_id": "cam_B", "name": "B"},
            {"name": "no id at all"},
            {"_id": "not an id"},
            {"_id": 12},
            {"_id": None},
            {"id": "cam_OnlyInId"},
            {"_id": "cam_A"},
            {"_id": "cam_B"},
        ]
    )

    chosen = campaigns_to_export(run(campaign_status="paused"), lemlist)  # type: ignore[arg-type]

    assert chosen == ["cam_B", "cam_A"]
    assert lemlist.asked == ["paused"]


# -- execution_name --------------------------------------------------------------------------


def test_execution_names_are_readable_and_stable() -> None:
    name = execution_name(run(), "cam_A1B2C3D4E5F6G7H8I9")

    assert re.fullmatch(r"sched_[0-9a-f]{12}_20261130T0600_cam_A1B2C3D4E5F6G7H8I9", name)
    assert name == execution_name(run(), "cam_A1B2C3D4E5F6G7H8I9")
    event = {"campaignIds": "cam_A1B2C3D4E5F6G7H8I9", "scheduledTime": TIME, "scheduleArn": ARN}
    assert name == execution_name(ScheduledRun.from_event(event), "cam_A1B2C3D4E5F6G7H8I9")


def test_execution_names_differ_by_campaign_time_and_schedule() -> None:
    names = {
        execution_name(run(), "cam_A"),
        execution_name(run(), "cam_B"),
        execution_name(run(scheduled_time="2026-11-30T06:00:01Z"), "cam_A"),
        execution_name(run(scheduled_time="2026-12-01T06:00:00Z"), "cam_A"),
        execution_name(run(schedule_arn=ARN + "-2"), "cam_A"),
        execution_name(run(schedule_arn="manual"), "cam_A"),
    }

    assert len(names) == 6


def test_one_instant_written_two_ways_is_one_firing() -> None:
    assert execution_name(run(), "cam_A") == execution_name(
        run(scheduled_time="2026-11-30T07:00:00+01:00"), "cam_A"
    )


def test_hundreds_of_campaigns_get_distinct_names() -> None:
    ids = [f"cam_{n:018d}" for n in range(500)]

    names = [execution_name(run(), campaign_id) for campaign_id in ids]

    assert len(set(names)) == len(ids)


@pytest.mark.parametrize(
    "campaign_id",
    ["c", "cam_A1B2C3D4E5F6G7H8I9", "cam_" + "x" * 27, "cam_" + "x" * 28, "a" * 64, "_" * 64],
)
def test_execution_names_fit_step_functions_and_record_ids(campaign_id: str) -> None:
    name = execution_name(run(), campaign_id)

    assert len(name) <= 80
    assert NAME.fullmatch(name)
    assert is_lemlist_id(name)  # also a record id: at most 64 letters, digits, underscores


def test_long_campaign_ids_keep_their_head_and_stay_unique() -> None:
    first = "cam_" + "Q" * 40 + "_first"
    second = "cam_" + "Q" * 40 + "_second"

    one, two = execution_name(run(), first), execution_name(run(), second)

    assert one != two
    assert len(one) <= 64 and len(two) <= 64
    for name, campaign_id in ((one, first), (two, second)):
        tail = name.split("_20261130T0600_", 1)[1]
        assert re.fullmatch(re.escape(campaign_id[:20]) + r"_[0-9a-f]{10}", tail)


def test_short_ids_are_kept_whole() -> None:
    fits = "cam_" + "x" * 27  # 31 characters: exactly the room left

    assert execution_name(run(), fits).endswith("_" + fits)


# -- start_delays ----------------------------------------------------------------------------


def test_start_delays_spread_starts_by_the_second() -> None:
    assert start_delays(12, 5) == [0] * 5 + [1] * 5 + [2] * 2
    assert start_delays(0, 5) == []
    assert start_delays(3, 0.5) == [0, 2, 4]
    assert start_delays(4, 1) == [0, 1, 2, 3]


@pytest.mark.parametrize("per_second", [0.3, 1, 2.5, 3, 10])
def test_no_second_starts_more_than_the_rate_allows(per_second: float) -> None:
    delays = start_delays(500, per_second)

    per_delay = Counter(delays)
    assert delays == sorted(delays)
    assert max(per_delay.values()) <= math.ceil(per_second)
    # And no second is wasted: the last start is as early as the rate permits.
    assert delays[-1] == int((500 - 1) / per_second + 1e-9)


def test_starts_go_at_the_rate_budget_less_two_places_a_window() -> None:
    assert starts_per_second(18) == 8  # the default LemlistRequestsPerWindow
    assert starts_per_second(20) == 9
    assert starts_per_second(1) == starts_per_second(3) == 0.5  # never stopped
    assert start_delays(200, starts_per_second(18))[-1] == 24


def test_start_delays_refuse_nonsense() -> None:
    with pytest.raises(ValueError, match="per_second"):
        start_delays(3, 0)
    with pytest.raises(ValueError, match="count"):
        start_delays(-1, 5)
