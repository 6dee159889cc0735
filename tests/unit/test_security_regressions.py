"""One regression per finding of the security review (issue 6), at unit level, on real
sockets: a look-alike lemlist, an attacker's server, the embedded S3. Each failed on the code
before the URL judge; tests/e2e/test_security.py runs the same attacks through the stack."""

from __future__ import annotations

import io
import json
from dataclasses import replace
from typing import Any

import pytest

from lemlist_export.core.errors import (
    ConfigurationError,
    DownloadIncompleteError,
    DownloadTooLargeError,
    DownloadUnavailableError,
    InvalidRequestError,
    LemlistProtocolError,
    LemlistRequestError,
    LemlistTransientError,
    UnsafeUrlError,
)
from lemlist_export.core.url_judge import LOCAL_URLS
from lemlist_export.http_api.views import public_view
from lemlist_export.lemlist.client import ClientSettings, LemlistClient
from lemlist_export.lemlist.status import ExportStatus
from lemlist_export.notify.announcement import Announcement
from lemlist_export.notify.callbacks import CallbackPolicy
from lemlist_export.notify.targets import NotificationTargets
from lemlist_export.records.record import ExportRecord
from lemlist_export.storage.s3_upload import MIB, ObjectSpec, stream_to_s3
from local_stack.lemlist_simulator import DEFAULT_CAMPAIGN_ID, ExportPlan, Fault, LemlistSimulator
from tests.conftest import SCRATCH_BUCKET, scratch_keys, scratch_uploads
from tests.lookalike import LookalikeServer, crafted_urls

API_KEY = "key-security-regressions-0123"
CAMPAIGN = "cam_A1B2C3D4E5F6G7H8I9"
EXPORT = "axp_Vv6lJOc8NlVVmDud5"


@pytest.fixture
def sim() -> Any:
    with LemlistSimulator(api_key=API_KEY) as simulator:
        yield simulator


def local_client(sim: LemlistSimulator) -> LemlistClient:
    return LemlistClient(API_KEY, ClientSettings(base_url=sim.base_url, urls=LOCAL_URLS))


def done_status(client: LemlistClient) -> ExportStatus:
    status = client.start_export(DEFAULT_CAMPAIGN_ID)
    while status.is_pending:
        status = client.get_export_status(DEFAULT_CAMPAIGN_ID, status.export_id)
    return status


# -- High: the key sent to another host by a crafted URL ------------------------------------


@pytest.mark.parametrize("template", range(2), ids=["backslash-at", "two-backslashes-at"])
def test_a_crafted_download_url_never_takes_the_key_to_the_lookalike(
    sim: LemlistSimulator, lookalike: LookalikeServer, template: int
) -> None:
    crafted = crafted_urls(lookalike.authority)[template]
    sim.set_plan(DEFAULT_CAMPAIGN_ID, ExportPlan(pending_polls=0, download_url=crafted))
    client = local_client(sim)
    status = done_status(client)
    assert status.url is not None and "\\" in status.url  # what lemlist's answer carried

    with pytest.raises(UnsafeUrlError) as raised:
        client.open_download(status.url)

    assert "backslash" in str(raised.value)
    assert lookalike.seen == []
    assert [r for r in sim.requests if r.route == "download"] == []


@pytest.mark.parametrize("template", range(2), ids=["backslash-at", "two-backslashes-at"])
def test_a_crafted_redirect_never_takes_the_key_to_the_lookalike(
    sim: LemlistSimulator, lookalike: LookalikeServer, template: int
) -> None:
    crafted = crafted_urls(lookalike.authority)[template]
    plan = ExportPlan(pending_polls=0, download="redirect", redirect_location=crafted)
    sim.set_plan(DEFAULT_CAMPAIGN_ID, plan)
    client = local_client(sim)
    status = done_status(client)

    with pytest.raises(UnsafeUrlError) as raised:
        client.open_download(status.url or "")

    assert str(raised.value).startswith("The download's redirect was refused")
    assert lookalike.seen == []


def test_a_redirect_to_another_origin_is_followed_without_the_key(
    sim: LemlistSimulator, lookalike: LookalikeServer
) -> None:
    plan = ExportPlan(
        pending_polls=0, download="redirect", redirect_location=f"http://{lookalike.authority}/f"
    )
    sim.set_plan(DEFAULT_CAMPAIGN_ID, plan)
    client = local_client(sim)

    with client.open_download(done_status(client).url or "") as download:
        download.read()

    assert [seen.authorization for seen in lookalike.seen] == [None]


def test_a_foreign_redirect_back_to_the_api_does_not_get_the_key(
    sim: LemlistSimulator, lookalike: LookalikeServer
) -> None:
    # The review's bounce: lemlist's link -> someone else's server -> 302 to an API path of
    # its choosing. Followed without the key, lemlist refuses it, and nothing is opened.
    plan = ExportPlan(pending_polls=0, download_url=f"http://{lookalike.authority}/f")
    sim.set_plan(DEFAULT_CAMPAIGN_ID, plan)
    lookalike.redirect_to = f"{sim.base_url}/team"
    client = local_client(sim)
    status = done_status(client)

    with pytest.raises(LemlistRequestError) as raised:
        client.open_download(status.url or "")

    (team,) = [r for r in sim.requests if r.route == "team"]
    assert team.has_auth is False
    assert "refused the download (401)" in str(raised.value)
    assert "API key" not in str(raised.value)  # not the key's fault: no advice to change it


def test_an_error_from_another_server_says_its_status_not_its_body(
    sim: LemlistSimulator, lookalike: LookalikeServer
) -> None:
    plan = ExportPlan(pending_polls=0, download_url=f"http://{lookalike.authority}/f?sig=1")
    sim.set_plan(DEFAULT_CAMPAIGN_ID, plan)
    lookalike.answer = (403, b"<Error><StringToSign>X-Amz-Signature=deadbeef</StringToSign>")
    client = local_client(sim)

    with pytest.raises(LemlistRequestError) as raised:
        client.open_download(done_status(client).url or "")

    assert str(raised.value) == f"http://{lookalike.authority} refused the download (403)"


@pytest.mark.parametrize(("status", "error"), [(404, "gone"), (503, "answered 503")])
def test_another_servers_404_is_a_gone_file_and_its_5xx_is_transient(
    sim: LemlistSimulator, lookalike: LookalikeServer, status: int, error: str
) -> None:
    plan = ExportPlan(pending_polls=0, download_url=f"http://{lookalike.authority}/f")
    sim.set_plan(DEFAULT_CAMPAIGN_ID, plan)
    lookalike.answer = (status, b"whatever it says")
    client = local_client(sim)

    with pytest.raises(DownloadUnavailableError if status == 404 else LemlistTransientError) as e:
        client.open_download(done_status(client).url or "")

    assert error in str(e.value) and "whatever" not in str(e.value)


# -- Medium: the callbackUrl allowlist bypass ------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "https://attacker.example\\.hooks.zapier.com/catch",
        "https://hooks.zapier.com\\@attacker.example/catch",
        "https://hooks.zapier.com%2eattacker.example/catch",
        "https://hooks.zapier.com.attacker.example/catch",
    ],
)
def test_a_callback_url_that_would_post_elsewhere_is_refused(url: str) -> None:
    with pytest.raises(InvalidRequestError):
        CallbackPolicy(("hooks.zapier.com",)).accept(url)


def test_an_accepted_callback_url_is_stored_as_judged() -> None:
    accepted = CallbackPolicy(("hooks.zapier.com",)).accept(
        "HTTPS://Hooks.Zapier.com:443/hooks/catch/1/a/#frag"
    )

    assert accepted == "https://hooks.zapier.com/hooks/catch/1/a/"


# -- Lower: plain http to loopback in the deployed stack --------------------------------------


def test_deployed_a_loopback_download_url_is_refused_without_a_request(
    lookalike: LookalikeServer,
) -> None:
    # In Lambda, 127.0.0.1:9001 is the Runtime API.
    client = LemlistClient(API_KEY)  # deployed settings: the lemlist API, strict judge

    with pytest.raises(UnsafeUrlError) as raised:
        client.open_download(f"http://{lookalike.authority}/2018-06-01/runtime/invocation/next")

    assert "this machine" in str(raised.value)
    assert lookalike.seen == []


# -- Lower: no byte cap when the size is unknown ----------------------------------------------


@pytest.mark.parametrize("size", [3 * MIB, 13 * MIB], ids=["single put", "multipart"])
def test_a_download_of_unknown_size_stops_at_the_cap_and_leaves_nothing(scratch_s3: Any, size: int):
    with pytest.raises(DownloadTooLargeError) as raised:
        stream_to_s3(
            scratch_s3,
            io.BytesIO(b"x" * size),
            ObjectSpec(SCRATCH_BUCKET, "big.csv"),
            expected_size=None,
            max_size=size - 1,
        )

    assert (raised.value.size, raised.value.limit) == (size, size - 1)
    assert scratch_keys(scratch_s3) == []
    assert scratch_uploads(scratch_s3) == []


def test_a_download_at_exactly_the_cap_is_stored(scratch_s3: Any) -> None:
    stored = stream_to_s3(
        scratch_s3,
        io.BytesIO(b"x" * 1000),
        ObjectSpec(SCRATCH_BUCKET, "ok.csv"),
        expected_size=None,
        max_size=1000,
    )

    assert stored.bytes == 1000


# -- Lower: download URL paths (signed tokens) in messages -------------------------------------


def test_a_broken_download_names_the_host_not_the_path(sim: LemlistSimulator) -> None:
    sim.set_plan(DEFAULT_CAMPAIGN_ID, ExportPlan(pending_polls=0))
    client = local_client(sim)
    status = done_status(client)
    sim.inject("download", Fault.truncate(after_bytes=10))

    with (
        pytest.raises(DownloadIncompleteError) as raised,
        client.open_download(status.url or "") as d,
    ):
        while d.read(1024):
            pass

    message = str(raised.value)
    assert sim.base_url.split("/api")[0] in message
    assert "/api/files" not in message and "fil_" not in message


def test_a_download_that_cannot_connect_names_the_host_not_the_path() -> None:
    client = LemlistClient(
        API_KEY, ClientSettings(base_url="http://127.0.0.1:9/api", urls=LOCAL_URLS)
    )

    with pytest.raises(Exception) as raised:
        client.open_download("http://127.0.0.1:9/api/files/exports/fil_secret_token.csv")

    assert "secret_token" not in str(raised.value)
    assert "http://127.0.0.1:9" in str(raised.value)


# -- Lower: Slack text from outside not escaped in the announcement ---------------------------

HOSTILE_NAME = "Q4 <!channel> <https://evil.example/login|Open your CSV> & more"
HOSTILE_REASON = "lemlist said: <!here> see <https://evil.example|the fix>"
RECORD = ExportRecord(
    export_id=EXPORT,
    campaign_id=CAMPAIGN,
    status="failed",
    created_at="2026-11-29T10:00:00.000Z",
    updated_at="2026-11-29T10:00:20.000Z",
    expires_at=1_800_000_000,
    campaign_name=HOSTILE_NAME,
    failed_at="2026-11-29T10:00:20.000Z",
    failure_type="LemlistExportError",
    failure_reason=HOSTILE_REASON,
)


@pytest.mark.parametrize("status", ["failed", "delivered"])
def test_the_slack_announcement_shows_outside_text_without_acting_on_it(status: str) -> None:
    record = (
        RECORD
        if status == "failed"
        else replace(
            RECORD, status="delivered", s3_uri="s3://b/k.csv", bucket="b", key="k.csv", bytes=1
        )
    )

    payload = json.dumps(Announcement.of(record, "eu-west-1").slack_payload())

    for live in ("<!channel>", "<!here>", "<https://evil.example"):
        assert live not in payload
    assert "&lt;!channel&gt;" in payload
    assert "&amp; more" in payload


def test_the_webhook_payload_keeps_outside_text_as_written() -> None:
    payload = Announcement.of(RECORD).webhook_payload("2026-11-29T10:00:21.000Z")

    assert payload["campaignName"] == HOSTILE_NAME
    assert payload["error"] == HOSTILE_REASON


# -- Lower: ids lemlist returns used as keys, names and S3 key segments -----------------------


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        ({"id": "../../campaign_id=x/evil", "status": "pending"}, "not letters, digits"),
        ({"id": "axp_1 OR 1=1", "status": "pending"}, "not letters, digits"),
        ({"id": "a" * 65, "status": "pending"}, "not letters, digits"),
        ({"id": EXPORT, "status": "pending", "campaignId": "cam_Other"}, "another campaign"),
        ({"id": EXPORT, "status": "<!channel>"}, "without a status"),
    ],
)
def test_ids_lemlist_returns_are_checked_before_use(answer: dict[str, Any], reason: str) -> None:
    with pytest.raises(LemlistProtocolError) as raised:
        ExportStatus.from_answer(answer, campaign_id=CAMPAIGN)

    assert reason in str(raised.value)


@pytest.mark.parametrize("size", ["²", "1" * 40, "-1", "1e3"])
def test_a_size_that_is_not_a_plain_count_is_ignored_not_crashed_on(size: str) -> None:
    status = ExportStatus.from_answer(
        {"id": EXPORT, "status": "done", "fileSize": size}, campaign_id=CAMPAIGN
    )

    assert status.file_size is None


def test_a_long_campaign_name_is_cut() -> None:
    status = ExportStatus.from_answer(
        {"id": EXPORT, "status": "pending", "campaignName": "n" * 10_000}, campaign_id=CAMPAIGN
    )

    assert len(status.campaign_name) == 256


# -- Lower: GET /exports/{id} showed lemlist's raw status with its url -----------------------


def test_the_public_view_never_shows_a_download_url() -> None:
    record = replace(
        RECORD,
        download_url="https://api.lemlist.com/api/files/exports/fil_token.csv",
        lemlist_status={"status": "error", "url": "https://api.lemlist.com/api/files/x.csv"},
    )

    view = json.dumps(public_view(record))

    assert "api/files" not in view
    assert '"status": "error"' in view


# -- The notifications secret: one judge, two signing secrets ---------------------------------


def test_a_crafted_webhook_url_in_the_secret_is_refused_without_showing_it() -> None:
    url = "https://evil.example\\@hooks.zapier.com/hooks/catch/1/SECRETPATH/"

    with pytest.raises(ConfigurationError) as raised:
        NotificationTargets.from_secret({"webhookUrl": url, "webhookSigningSecret": "s" * 32})

    assert "webhookUrl was refused" in str(raised.value)
    assert "SECRETPATH" not in str(raised.value)


def test_the_callback_and_webhook_signing_secrets_must_differ() -> None:
    with pytest.raises(ConfigurationError) as raised:
        NotificationTargets.from_secret(
            {"webhookSigningSecret": "same-" * 8, "callbackSigningSecret": "same-" * 8}
        )

    assert "must differ" in str(raised.value)
