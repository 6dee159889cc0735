"""The security review's findings (issue 6), attacked end to end on the embedded stack.

A look-alike lemlist (the simulator with crafted answers) and an attacker's server on
loopback: whatever the answers say, the key never reaches the attacker, nothing it serves is
stored, and the export ends failed and announced with a reason that names no path.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from local_stack.lemlist_simulator import (
    DEFAULT_CAMPAIGN_ID,
    ExportPlan,
    Fault,
    LemlistSimulator,
    SyntheticCsv,
)
from local_stack.stack import LocalStack
from local_stack.webhook_receiver import LocalNotificationTargets
from local_stack.webhook_receiver import signature_is_valid as is_valid
from tests.conftest import SLACK_SIGNING_SECRET, StackFactory
from tests.lookalike import ATTACKER_CSV, LookalikeServer, crafted_urls

pytestmark = pytest.mark.e2e


def post(stack: LocalStack, path: str, body: Any, headers: dict[str, str] | None = None) -> Any:
    assert stack.http_api is not None
    return stack.http_api.request(
        "POST", path, headers={**stack.api_headers(), **(headers or {})}, body=json.dumps(body)
    )


def export_to_the_end(stack: LocalStack, **body: Any) -> Any:
    started = post(stack, "/exports", {"campaignId": DEFAULT_CAMPAIGN_ID, **body})
    assert started.status == 202, started.json()
    return stack.wait_for_end(started.json()["exportId"], timeout=60)


def stored_keys(stack: LocalStack) -> list[str]:
    answer = stack.client("s3").list_objects_v2(Bucket=stack.stack.bucket)
    return [item["Key"] for item in answer.get("Contents", [])]


def everything_announced(targets: LocalNotificationTargets) -> str:
    return "\n".join(post.body.decode() for post in targets.receiver.posts)


# -- High: a crafted status URL or redirect sends the key elsewhere ---------------------------


@pytest.mark.parametrize("where", ["status url", "redirect"])
@pytest.mark.parametrize("template", range(2), ids=["backslash-at", "two-backslashes-at"])
def test_a_lookalikes_crafted_url_never_gets_the_key_and_nothing_it_serves_is_stored(
    stack: LocalStack,
    simulator: LemlistSimulator,
    targets: LocalNotificationTargets,
    lookalike: LookalikeServer,
    where: str,
    template: int,
) -> None:
    crafted = crafted_urls(lookalike.authority)[template]
    if where == "status url":
        plan = ExportPlan(pending_polls=1, download_url=crafted)
    else:
        plan = ExportPlan(pending_polls=1, download="redirect", redirect_location=crafted)
    simulator.set_plan(DEFAULT_CAMPAIGN_ID, plan)

    record = export_to_the_end(stack)

    assert lookalike.seen == []
    assert stored_keys(stack) == []
    assert record.status == "failed"
    assert record.failure_type == "UnsafeUrlError"
    assert "backslash" in (record.failure_reason or "")
    (hook,) = targets.receiver.posts_to(targets.WEBHOOK_PATH)
    assert hook.json()["event"] == "export.failed"
    assert hook.json()["error"] == record.failure_reason
    assert lookalike.authority not in everything_announced(targets)


def test_a_status_url_on_another_host_is_fetched_without_the_key(
    stack: LocalStack, simulator: LemlistSimulator, lookalike: LookalikeServer
) -> None:
    # Nothing ambiguous: lemlist's link is on another host. It is called as lemlist said,
    # but the key stays home.
    plan = ExportPlan(
        pending_polls=0, download_url=f"http://{lookalike.authority}/{{file}}", announce_size=False
    )
    simulator.set_plan(DEFAULT_CAMPAIGN_ID, plan)

    record = export_to_the_end(stack)

    assert record.status == "delivered"
    assert [seen.authorization for seen in lookalike.seen] == [None]
    body = stack.client("s3").get_object(Bucket=record.bucket, Key=record.key)["Body"].read()
    assert body == ATTACKER_CSV


def test_a_foreign_hop_bouncing_back_to_the_api_never_carries_the_key(
    stack: LocalStack,
    simulator: LemlistSimulator,
    targets: LocalNotificationTargets,
    lookalike: LookalikeServer,
) -> None:
    # Found in review: each hop judged alone would have sent the key to an API path another
    # server chose, and stored lemlist's answer (older /team answers held the key) as the CSV.
    plan = ExportPlan(pending_polls=0, download_url=f"http://{lookalike.authority}/f")
    simulator.set_plan(DEFAULT_CAMPAIGN_ID, plan)
    lookalike.redirect_to = f"{simulator.base_url}/team"

    record = export_to_the_end(stack)

    # A refused download is tried again (MAX_DELIVERY_ATTEMPTS): never once with the key.
    teams = [r for r in simulator.requests if r.route == "team"]
    assert teams and all(team.has_auth is False for team in teams)
    assert stored_keys(stack) == []
    assert record.status == "failed"
    assert "refused the download (401)" in (record.failure_reason or "")
    assert "API key" not in (record.failure_reason or "")


# -- Medium: the callbackUrl allowlist bypass ------------------------------------------------
# tests/e2e/test_http_api.py posts the crafted callback URLs (refused, nothing started); the
# leak itself needs a host without a port, so it is proven without sockets in
# tests/unit/test_url_judge_properties.py and tests/unit/test_security_regressions.py.


# -- Lower: no byte cap; paths in messages; Slack escaping ------------------------------------


@pytest.mark.parametrize("announced", [True, False], ids=["fileSize given", "fileSize missing"])
def test_a_file_over_max_download_is_refused_and_nothing_is_stored(
    make_stack: StackFactory, simulator: LemlistSimulator, announced: bool
) -> None:
    stack = make_stack(parameters={"MaxDownloadMiB": "1"})
    simulator.add_campaign(
        DEFAULT_CAMPAIGN_ID,
        "Big",
        SyntheticCsv(rows=12_000, seed=3),  # about 1.5 MiB
        ExportPlan(pending_polls=0, announce_size=announced),
    )

    record = export_to_the_end(stack)

    assert record.status == "failed"
    assert record.failure_type == "DownloadTooLargeError"
    assert "MaxDownloadMiB" in (record.failure_reason or "")
    assert stored_keys(stack) == []
    uploads = stack.client("s3").list_multipart_uploads(Bucket=stack.stack.bucket)
    assert uploads.get("Uploads", []) == []
    downloads = [r for r in simulator.requests if r.route == "download"]
    # lemlist's fileSize refuses it before any download; without it, the server's length does.
    assert len(downloads) == (0 if announced else 1)


def test_a_signed_download_link_never_appears_in_a_record_log_or_announcement(
    make_stack: StackFactory,
    simulator: LemlistSimulator,
    targets: LocalNotificationTargets,
    handler_logs: Any,
) -> None:
    stack = make_stack(environment={"MAX_DELIVERY_ATTEMPTS": "2"})
    token = "SIGNED-TOKEN-do-not-show-0123"
    plan = ExportPlan(pending_polls=0, download_url=f"{{api}}/files/exports/{{file}}?sig={token}")
    simulator.set_plan(DEFAULT_CAMPAIGN_ID, plan)
    simulator.inject("download", Fault.truncate(10), Fault.truncate(10))

    record = export_to_the_end(stack)

    assert record.status == "failed"
    assert "broke off" in (record.failure_reason or "")
    shown = json.dumps(
        {k: v for k, v in record.to_dict().items() if k != "downloadUrl"}, ensure_ascii=False
    )
    for text in (shown, everything_announced(targets), handler_logs.getvalue()):
        assert token not in text
        assert "/files/exports/" not in text


def test_the_final_slack_message_shows_a_hostile_campaign_name_as_text(
    stack: LocalStack, simulator: LemlistSimulator, targets: LocalNotificationTargets
) -> None:
    name = "Q4 <!channel> <https://evil.example/login|Your CSV is ready>"
    simulator.add_campaign(DEFAULT_CAMPAIGN_ID, name, plan=ExportPlan(pending_polls=0))

    record = export_to_the_end(stack)

    (slack,) = targets.receiver.posts_to(targets.SLACK_PATH)
    assert record.campaign_name == name
    assert "<!channel>" not in slack.body.decode()
    assert "<https://evil.example" not in slack.body.decode()
    assert "&lt;!channel&gt;" in slack.json()["text"]
    (hook,) = targets.receiver.posts_to(targets.WEBHOOK_PATH)
    assert hook.json()["campaignName"] == name  # JSON receivers get it as written


# -- Lower: replayable signatures, one secret for the webhook and callbacks -------------------


def test_the_webhook_and_a_callback_are_signed_with_their_own_secrets(
    stack: LocalStack, targets: LocalNotificationTargets
) -> None:
    callback = targets.receiver.url("/zapier/catch/7")

    record = export_to_the_end(stack, callbackUrl=callback)

    (hook,) = targets.receiver.posts_to(targets.WEBHOOK_PATH)
    (called,) = targets.receiver.posts_to("/zapier/catch/7")
    assert record.notifications["callback"].outcome == "sent"
    assert (hook.signature_valid, called.signature_valid) == (True, True)
    header = "x-lemlist-export-signature"
    stamp = int(hook.headers[header].split(",")[0].removeprefix("t="))
    # What a callback's receiver holds cannot pass for the stack's webhook, and a post
    # replayed later than the tolerance is refused.
    assert not is_valid(called.headers[header], called.body, targets.signing_secret, stamp)
    assert not is_valid(hook.headers[header], hook.body, targets.signing_secret, stamp + 301)


# -- Lower: an unreadable token secret named to anonymous callers ----------------------------


def test_an_unreadable_token_secret_is_a_plain_503_to_anyone(stack: LocalStack) -> None:
    name = stack.stack.template.parameters["ApiTokenSecretName"]
    stack.client("secretsmanager").delete_secret(SecretId=name, ForceDeleteWithoutRecovery=True)
    stack.forget_warm_state()

    response = post(stack, "/exports", {"campaignId": DEFAULT_CAMPAIGN_ID})

    assert response.status == 503
    assert response.headers.get("retry-after") == "5"
    assert name not in json.dumps(response.json())
    assert "secret" not in response.json()["message"].lower()


def test_an_unreadable_slack_secret_is_a_plain_503_to_anyone(stack: LocalStack) -> None:
    name = stack.stack.template.parameters["SlackSigningSecretName"]
    stack.client("secretsmanager").delete_secret(SecretId=name, ForceDeleteWithoutRecovery=True)
    stack.forget_warm_state()
    assert stack.http_api is not None

    response = stack.http_api.request(
        "POST",
        "/slack/commands",
        headers={"content-type": "application/x-www-form-urlencoded"},
        body="command=%2Flemlist-export&text=help",
    )

    assert response.status == 503
    assert name not in json.dumps(response.json())
    assert SLACK_SIGNING_SECRET not in json.dumps(response.json())


# -- Lower: lemlist's raw status with its url in GET /exports/{id} ----------------------------


def test_a_failed_exports_view_never_shows_lemlists_link(
    stack: LocalStack, simulator: LemlistSimulator
) -> None:
    plan = ExportPlan(
        pending_polls=0, outcome="error", download_url="{api}/files/exports/{file}?sig=XYZ"
    )
    simulator.set_plan(DEFAULT_CAMPAIGN_ID, plan)
    record = export_to_the_end(stack)
    assert stack.http_api is not None

    view = stack.http_api.request(
        "GET", f"/exports/{record.export_id}", headers=stack.api_headers()
    )

    assert record.status == "failed"
    assert view.json()["lemlistStatus"]["status"] == "error"
    assert "sig=XYZ" not in json.dumps(view.json())
    assert "url" not in view.json()["lemlistStatus"]
