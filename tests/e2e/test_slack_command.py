"""The /lemlist-export slash command, signed the way Slack signs (slack_sdk is the oracle)."""

from __future__ import annotations

import base64
import time
from typing import Any
from urllib.parse import urlencode

import pytest
from slack_sdk.signature import SignatureVerifier

from lemlist_export.records.requests import RequestStore
from local_stack.http_api import HttpResponse
from local_stack.lemlist_simulator import DEFAULT_CAMPAIGN_ID, LemlistSimulator
from local_stack.stack import LocalStack
from local_stack.webhook_receiver import LocalNotificationTargets
from tests.conftest import SLACK_SIGNING_SECRET, StackFactory

pytestmark = pytest.mark.e2e


def form(text: str, response_url: str, trigger_id: str | None = None) -> bytes:
    """A slash command's body as Slack sends it."""
    return urlencode(
        {
            "token": "gIkuvaNzQIHg97ATvDxqgjtO",
            "team_id": "T0001",
            "team_domain": "example",
            "channel_id": "C2147483705",
            "channel_name": "revops",
            "user_id": "U2147483697",
            "user_name": "ada",
            "command": "/lemlist-export",
            "text": text,
            "api_app_id": "A0123456789",
            "is_enterprise_install": "false",
            "response_url": response_url,
            "trigger_id": trigger_id or f"{time.time_ns()}.738474920.8088930838d88f008e0",
        }
    ).encode()


def slack_post(
    stack: LocalStack,
    body: bytes,
    *,
    secret: str = SLACK_SIGNING_SECRET,
    timestamp: int | None = None,
    signature: str | None = None,
) -> HttpResponse:
    stamp = str(timestamp if timestamp is not None else int(time.time()))
    signed = signature or SignatureVerifier(secret).generate_signature(timestamp=stamp, body=body)
    assert stack.http_api is not None
    return stack.http_api.request(
        "POST",
        "/slack/commands",
        headers={
            "content-type": "application/x-www-form-urlencoded",
            "x-slack-request-timestamp": stamp,
            "x-slack-signature": signed,
        },
        body=body,
    )


def response_url(targets: LocalNotificationTargets) -> str:
    return targets.receiver.url(targets.SLACK_RESPONSE_PATH)


def replies(targets: LocalNotificationTargets) -> list[dict[str, Any]]:
    return [post.json() for post in targets.receiver.posts_to(targets.SLACK_RESPONSE_PATH)]


def wait_for_replies(targets: LocalNotificationTargets, count: int) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 30
    while len(replies(targets)) < count and time.monotonic() < deadline:
        time.sleep(0.1)
    return replies(targets)


def test_an_export_from_slack_is_acknowledged_started_and_reported_in_the_channel(
    stack: LocalStack, simulator: LemlistSimulator, targets: LocalNotificationTargets
) -> None:
    answer = slack_post(stack, form(DEFAULT_CAMPAIGN_ID, response_url(targets)))

    assert answer.status == 200
    ack = answer.json()
    assert ack["response_type"] == "ephemeral"
    assert "Starting an export" in ack["text"] and DEFAULT_CAMPAIGN_ID in ack["text"]
    started, final = wait_for_replies(targets, 2)
    (export_id,) = simulator.exports
    assert export_id in str(started) and started["response_type"] == "ephemeral"
    assert final["response_type"] == "in_channel"
    assert "delivered" in final["text"]
    record = stack.wait_for_end(export_id, timeout=30)
    assert record is not None and record.status == "delivered"
    assert record.source == "slack" and record.requested_by == "slack:ada"
    assert record.notifications["slackResponse"].outcome == "sent"


@pytest.mark.parametrize(
    "text",
    [
        f"https://app.lemlist.com/teams/tea_XXXX/campaigns/{DEFAULT_CAMPAIGN_ID}/report",
        f"<https://app.lemlist.com/campaigns/{DEFAULT_CAMPAIGN_ID}/leads?tab=all&amp;p=2>",
        f"export <https://app.lemlist.com/campaigns/{DEFAULT_CAMPAIGN_ID}/|Q4 Outreach report>",
    ],
    ids=["plain", "slack wrapped", "after export, with a label"],
)
def test_a_pasted_campaign_link_starts_an_export_of_its_campaign(
    stack: LocalStack,
    simulator: LemlistSimulator,
    targets: LocalNotificationTargets,
    text: str,
) -> None:
    answer = slack_post(stack, form(text, response_url(targets)))

    assert answer.status == 200
    assert answer.json() == {
        "response_type": "ephemeral",
        "text": f"Starting an export of `{DEFAULT_CAMPAIGN_ID}`; I'll post here when the CSV "
        "is in S3.",
        "blocks": [
            {
                "type": "section",
                "text": {
                    "type": "mrkdwn",
                    "text": f":hourglass_flowing_sand: Starting an export of "
                    f"`{DEFAULT_CAMPAIGN_ID}`; I'll post here when the CSV is in S3.",
                },
            }
        ],
    }
    started, final = wait_for_replies(targets, 2)
    (export,) = simulator.exports.values()
    assert export.campaign_id == DEFAULT_CAMPAIGN_ID  # lemlist was asked for that campaign
    assert export.id in str(started) and "delivered" in final["text"]
    record = stack.wait_for_end(export.id, timeout=30)
    assert record.campaign_id == DEFAULT_CAMPAIGN_ID and record.status == "delivered"


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (
            "<https://app.lemlist.com/teams/tea_XXXX/settings|settings>",
            "I found no campaign id in that link; type `/lemlist-export cam_…` with the id "
            "from the campaign's URL.",
        ),
        (
            f"https://example.com/campaigns/{DEFAULT_CAMPAIGN_ID}",
            "That link is on example.com, not lemlist.com, so I did not read it; to export "
            f"`{DEFAULT_CAMPAIGN_ID}`, type `/lemlist-export {DEFAULT_CAMPAIGN_ID}`.",
        ),
        (
            f"https://app.lemlist.com/campaigns/{DEFAULT_CAMPAIGN_ID}/vs/cam_Other0000000001",
            f"That link holds 2 campaign ids (`{DEFAULT_CAMPAIGN_ID}`, `cam_Other0000000001`); "
            f"type `/lemlist-export` and the one you mean, like "
            f"`/lemlist-export {DEFAULT_CAMPAIGN_ID}`.",
        ),
    ],
    ids=["no id", "other host", "two ids"],
)
def test_a_link_without_one_readable_campaign_id_starts_nothing_and_says_why(
    stack: LocalStack,
    simulator: LemlistSimulator,
    targets: LocalNotificationTargets,
    text: str,
    reason: str,
) -> None:
    answer = slack_post(stack, form(text, response_url(targets)))

    assert answer.status == 200
    message = answer.json()
    assert message["response_type"] == "ephemeral"
    assert message["text"] == reason
    assert message["blocks"][0]["text"]["text"] == f":warning: {reason}"
    assert "*Usage*" in message["blocks"][1]["text"]["text"]
    executions = stack.client("stepfunctions").list_executions(
        stateMachineArn=stack.stack.state_machine_arn
    )["executions"]
    assert executions == [] and simulator.exports == {}
    assert replies(targets) == []


def test_a_base64_body_from_api_gateway_verifies_over_the_decoded_bytes(
    stack: LocalStack, targets: LocalNotificationTargets
) -> None:
    body = form("help", response_url(targets))
    stamp = str(int(time.time()))
    event_headers = {
        "content-type": "application/x-www-form-urlencoded",
        "x-slack-request-timestamp": stamp,
        "x-slack-signature": SignatureVerifier(SLACK_SIGNING_SECRET).generate_signature(
            timestamp=stamp, body=body
        ),
    }
    from local_stack.http_api import http_api_event

    event = http_api_event(
        "POST",
        "/slack/commands",
        route_key="POST /slack/commands",
        headers=event_headers,
        body=body,
    )
    assert event["isBase64Encoded"] is True and base64.b64decode(event["body"]) == body

    outcome = stack.lambdas.invoke(stack.stack.functions["SlackCommandFunction"].name, event)

    assert outcome.payload["statusCode"] == 200
    assert "Usage" in outcome.payload["body"]


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"secret": "not-the-signing-secret"}, "does not match"),
        ({"age": 310}, "old"),
        ({"age": -310}, "future"),
        ({"signature": "v1=abc"}, "v0"),
    ],
)
def test_unsigned_stale_or_forged_commands_are_refused(
    stack: LocalStack,
    simulator: LemlistSimulator,
    targets: LocalNotificationTargets,
    change: dict[str, Any],
    reason: str,
) -> None:
    if "age" in change:  # relative to now, not to when the tests were collected
        change = {"timestamp": int(time.time()) - change["age"]}
    answer = slack_post(stack, form(DEFAULT_CAMPAIGN_ID, response_url(targets)), **change)

    assert answer.status == 401
    assert reason in answer.json()["message"]
    assert simulator.exports == {}


def test_a_tampered_body_is_refused(
    stack: LocalStack, simulator: LemlistSimulator, targets: LocalNotificationTargets
) -> None:
    signed_for = form("help", response_url(targets))
    stamp = str(int(time.time()))
    signature = SignatureVerifier(SLACK_SIGNING_SECRET).generate_signature(
        timestamp=stamp, body=signed_for
    )

    answer = slack_post(
        stack,
        form(DEFAULT_CAMPAIGN_ID, response_url(targets)),
        timestamp=int(stamp),
        signature=signature,
    )

    assert answer.status == 401
    assert simulator.exports == {}


def test_help_and_status(stack: LocalStack, targets: LocalNotificationTargets) -> None:
    slack_post(stack, form(DEFAULT_CAMPAIGN_ID, response_url(targets)))
    wait_for_replies(targets, 2)
    (export_id,) = [
        r.export_id for r in stack.store().list_by_campaign(DEFAULT_CAMPAIGN_ID, limit=5)[0]
    ]

    helped = slack_post(stack, form("help", response_url(targets))).json()
    status = slack_post(stack, form(f"status {export_id}", response_url(targets))).json()
    unknown = slack_post(stack, form("status axp_Nope0000000001", response_url(targets))).json()
    nonsense = slack_post(stack, form("stauts", response_url(targets))).json()

    assert "/lemlist-export cam_" in str(helped)
    assert export_id in str(status) and "delivered" in str(status)
    assert "axp_Nope0000000001" in str(unknown)
    assert all(m["response_type"] == "ephemeral" for m in (helped, status, unknown, nonsense))
    assert "Usage" in str(nonsense)


def test_a_campaign_lemlist_refuses_is_recorded_and_reported(
    stack: LocalStack, targets: LocalNotificationTargets
) -> None:
    trigger = "555.666.refused"
    slack_post(stack, form("cam_DoesNotExist", response_url(targets), trigger_id=trigger))

    (final,) = wait_for_replies(targets, 1)
    record = stack.record("slack_555_666_refused")
    assert record is not None
    assert record.status == "failed" and record.failure_type == "CampaignNotFoundError"
    assert record.campaign_id == "cam_DoesNotExist" and record.source == "slack"
    assert "no such campaign" in final["text"]
    (hook,) = targets.receiver.posts_to(targets.WEBHOOK_PATH)
    assert hook.json()["event"] == "export.failed"


def test_the_same_command_delivered_twice_starts_one_export(
    stack: LocalStack, simulator: LemlistSimulator, targets: LocalNotificationTargets
) -> None:
    body = form(DEFAULT_CAMPAIGN_ID, response_url(targets), trigger_id="777.888.twice")

    first, second = slack_post(stack, body), slack_post(stack, body)

    assert (first.status, second.status) == (200, 200)
    wait_for_replies(targets, 2)
    assert len(simulator.exports) == 1


def test_the_response_url_is_kept_out_of_the_execution_history(
    stack: LocalStack, targets: LocalNotificationTargets
) -> None:
    url = response_url(targets)
    slack_post(stack, form(DEFAULT_CAMPAIGN_ID, url, trigger_id="999.000.history"))
    wait_for_replies(targets, 2)

    history = stack.client("stepfunctions").get_execution_history(
        executionArn=stack.execution_arn("slack_999_000_history")
    )
    assert url not in str(history["events"])
    stored = RequestStore(stack.client("dynamodb"), stack.stack.name("CoordinationTable"))
    assert stored.find("slack_999_000_history").slack_response_url == url


def test_a_stack_without_slack_says_so(make_stack: StackFactory) -> None:
    stack = make_stack(slack=False)

    answer = slack_post(stack, form("help", "https://hooks.slack.com/commands/T/1/x"))

    assert answer.status == 404
    assert "no Slack command" in answer.json()["message"]


def test_a_slack_export_survives_a_broken_notifications_secret(
    make_stack: StackFactory, simulator: LemlistSimulator, targets: LocalNotificationTargets
) -> None:
    broken = "lemlist-stats-export/broken-notifications"
    # Named through the template's parameter, so the function's policy allows reading it.
    stack = make_stack(notifications=False, parameters={"NotificationsSecretName": broken})
    stack.client("secretsmanager").create_secret(Name=broken, SecretString="{not json")

    slack_post(stack, form(DEFAULT_CAMPAIGN_ID, response_url(targets), trigger_id="1.2.broken"))
    started = wait_for_replies(targets, 1)

    (export_id,) = simulator.exports
    record = stack.wait_for_end(export_id, timeout=30)
    assert record.status == "delivered"
    assert export_id in str(started[0])
    # The channel that asked is still told; the stack's own targets say why they were not.
    assert record.notifications["slackResponse"].outcome == "sent"
    assert record.notifications["slack"].outcome == "skipped"  # the asking channel was told
    assert record.notifications["webhook"].outcome == "failed"
    assert "notifications secret" in record.notifications["webhook"].detail


def test_a_body_that_is_not_base64_is_a_400(stack: LocalStack) -> None:
    from local_stack.http_api import http_api_event

    event = http_api_event("POST", "/slack/commands", route_key="POST /slack/commands", body=b"x")
    event.update(body="%%% not base64", isBase64Encoded=True)

    outcome = stack.lambdas.invoke(stack.stack.functions["SlackCommandFunction"].name, event)

    assert outcome.payload["statusCode"] == 400
