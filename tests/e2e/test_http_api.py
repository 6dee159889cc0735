"""The HTTP API as Zapier and scripts use it: auth, idempotent starts, callbacks, reads."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest
import urllib3

from local_stack.aws_faults import AwsFault
from local_stack.http_api import HttpResponse
from local_stack.lemlist_simulator import DEFAULT_CAMPAIGN_ID, LemlistSimulator
from local_stack.stack import LocalStack
from local_stack.webhook_receiver import LocalNotificationTargets
from tests.conftest import StackFactory

pytestmark = pytest.mark.e2e


def call(
    stack: LocalStack,
    method: str,
    path: str,
    body: Any = None,
    *,
    headers: dict[str, str] | None = None,
    query: str = "",
) -> HttpResponse:
    assert stack.http_api is not None
    raw = body if isinstance(body, str | bytes) or body is None else json.dumps(body)
    return stack.http_api.request(
        method, path, headers={**stack.api_headers(), **(headers or {})}, body=raw, query=query
    )


def start(stack: LocalStack, **extra: Any) -> HttpResponse:
    headers = extra.pop("headers", None)
    return call(
        stack, "POST", "/exports", {"campaignId": DEFAULT_CAMPAIGN_ID, **extra}, headers=headers
    )


def starts_seen(simulator: LemlistSimulator) -> int:
    return len([r for r in simulator.requests if r.route == "start"])


# -- authentication -------------------------------------------------------------------


@pytest.mark.parametrize(
    "authorization",
    [None, "", "Bearer", "Basic dXNlcjpwYXNz", "Bearer not-the-token-0123456789"],
    ids=["missing", "empty", "no token", "basic", "wrong token"],
)
@pytest.mark.parametrize(
    ("method", "path", "query"),
    [("POST", "/exports", ""), ("GET", "/exports/axp_X", ""), ("GET", "/exports", "campaignId=c")],
)
def test_every_route_needs_the_bearer_token(
    stack: LocalStack,
    simulator: LemlistSimulator,
    authorization: str | None,
    method: str,
    path: str,
    query: str,
) -> None:
    assert stack.http_api is not None
    headers = {"content-type": "application/json"}
    if authorization is not None:
        headers["authorization"] = authorization
    body = json.dumps({"campaignId": DEFAULT_CAMPAIGN_ID}) if method == "POST" else None

    response = stack.http_api.request(method, path, headers=headers, body=body, query=query)

    assert response.status == 401
    assert response.headers.get("www-authenticate") == "Bearer"
    assert "token" in response.json()["message"]
    assert starts_seen(simulator) == 0


def test_a_second_token_in_the_secret_works_during_rotation(
    stack: LocalStack, simulator: LemlistSimulator
) -> None:
    new = "the-new-token-after-rotation-42"
    secret = stack.stack.template.parameters["ApiTokenSecretName"]
    stack.client("secretsmanager").put_secret_value(
        SecretId=secret, SecretString=json.dumps({"tokens": [stack.options.api_token, new]})
    )
    stack.forget_warm_state()

    old = start(stack)
    rotated = start(stack, headers={"authorization": f"Bearer {new}"})

    assert (old.status, rotated.status) == (202, 202)


# -- idempotent starts ------------------------------------------------------------------


def test_a_replay_with_the_same_idempotency_key_returns_the_same_export(
    stack: LocalStack, simulator: LemlistSimulator
) -> None:
    key = {"idempotency-key": "zap-run-2026-11-29-0001"}

    first = start(stack, headers=key)
    replay = start(stack, headers=key)

    assert (first.status, replay.status) == (202, 202)
    assert first.json() == replay.json()
    assert starts_seen(simulator) == 1
    executions = stack.client("stepfunctions").list_executions(
        stateMachineArn=stack.stack.state_machine_arn
    )["executions"]
    assert len(executions) == 1
    stack.wait_for_end(first.json()["exportId"], timeout=60)


def test_without_a_key_every_post_is_a_new_export(
    stack: LocalStack, simulator: LemlistSimulator
) -> None:
    first, second = start(stack), start(stack)

    assert first.json()["exportId"] != second.json()["exportId"]
    assert starts_seen(simulator) == 2


def test_a_key_reused_with_another_body_is_refused(
    stack: LocalStack, simulator: LemlistSimulator
) -> None:
    simulator.add_campaign("cam_Other", "Other campaign")
    key = {"idempotency-key": "zap-run-reused"}
    assert start(stack, headers=key).status == 202

    other = call(stack, "POST", "/exports", {"campaignId": "cam_Other"}, headers=key)

    assert other.status == 422
    assert "different body" in other.json()["message"]
    assert starts_seen(simulator) == 1


def test_a_refused_start_does_not_burn_the_key(
    stack: LocalStack, simulator: LemlistSimulator
) -> None:
    key = {"idempotency-key": "zap-run-after-a-404"}
    missing = call(stack, "POST", "/exports", {"campaignId": "cam_NotYet"}, headers=key)
    simulator.add_campaign("cam_NotYet", "Created since")

    retried = call(stack, "POST", "/exports", {"campaignId": "cam_NotYet"}, headers=key)

    assert (missing.status, retried.status) == (404, 202)


def test_a_malformed_idempotency_key_is_a_422(stack: LocalStack) -> None:
    response = start(stack, headers={"idempotency-key": "has spaces in it"})

    assert response.status == 422
    assert "Idempotency-Key" in response.json()["message"]


# -- callbacks --------------------------------------------------------------------------


def test_a_callback_url_gets_the_signed_outcome(
    stack: LocalStack, targets: LocalNotificationTargets
) -> None:
    callback = targets.receiver.url("/zapier/catch/42")

    started = start(stack, callbackUrl=callback)
    record = stack.wait_for_end(started.json()["exportId"], timeout=60)

    (posted,) = targets.receiver.posts_to("/zapier/catch/42")
    assert posted.signature_valid is True
    assert posted.json()["event"] == "export.delivered"
    assert posted.json()["sha256"] == record.sha256
    assert record.notifications["callback"].outcome == "sent"


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("https://evil.example.com/hook", "not allowed"),
        ("http://hooks.zapier.com/hooks/catch/1/a/", "https"),
        ("https://user:pass@hooks.zapier.com/hooks/catch/1/a/", "user name"),
        ("not a url", "whitespace"),
        ("hooks.zapier.com/hooks/catch/1/a/", "not an absolute http(s) URL"),
        # Once read by the standard library as a subdomain of hooks.zapier.com, and posted to
        # attacker.example by urllib3: refused before either parser is asked.
        ("https://attacker.example\\.hooks.zapier.com/catch", "backslash"),
        ("https://hooks.zapier.com\\@attacker.example/catch", "backslash"),
        ("https://hooks.zapier.com.attacker.example/catch", "not allowed"),
        ("https://hooks.zapier.com%2eattacker.example/catch", "percent-encoded"),
    ],
)
def test_a_callback_url_off_the_allowlist_is_refused(
    stack: LocalStack, simulator: LemlistSimulator, url: str, reason: str
) -> None:
    response = start(stack, callbackUrl=url)

    assert response.status == 400
    assert reason in response.json()["message"]
    assert starts_seen(simulator) == 0


# -- reading exports --------------------------------------------------------------------


def test_a_delivered_export_has_a_working_download_url(
    stack: LocalStack, simulator: LemlistSimulator
) -> None:
    export_id = start(stack).json()["exportId"]
    stack.wait_for_end(export_id, timeout=60)

    response = call(stack, "GET", f"/exports/{export_id}")

    view = response.json()
    assert response.status == 200
    assert view["status"] == "delivered" and view["statusChecks"] == 3
    downloaded = urllib3.request("GET", view["downloadUrl"]).data
    assert downloaded == simulator.exports[export_id].csv.to_bytes()
    assert hashlib.sha256(downloaded).hexdigest() == view["sha256"]
    for hidden in ("callbackUrl", "slackResponseUrl", "expiresAt"):
        assert hidden not in view
    # lemlist's own download URL is not ours to hand out.
    assert simulator.base_url not in json.dumps(view)


def test_an_export_in_progress_has_no_download_url(make_stack: StackFactory) -> None:
    stack = make_stack(parameters={"PollFirstWaitSeconds": "30"})
    export_id = start(stack).json()["exportId"]

    view = call(stack, "GET", f"/exports/{export_id}").json()

    assert view["status"] == "pending"
    assert "downloadUrl" not in view and "s3Uri" not in view


@pytest.mark.parametrize(
    ("path", "status"),
    [("/exports/axp_DoesNotExist01", 404), ("/exports/axp-bad!", 422)],
)
def test_unknown_or_malformed_export_ids(stack: LocalStack, path: str, status: int) -> None:
    response = call(stack, "GET", path)

    assert response.status == status
    assert response.json()["message"]


def test_an_unknown_export_id_keeps_the_plain_404(stack: LocalStack) -> None:
    response = call(stack, "GET", "/exports/axp_DoesNotExist01")

    assert response.status == 404
    assert response.json() == {"message": "No export axp_DoesNotExist01 is recorded"}


@pytest.mark.parametrize("campaign_id", [DEFAULT_CAMPAIGN_ID, "cam_A1B2C3"])
def test_a_campaign_id_as_export_id_points_to_the_campaigns_exports(
    stack: LocalStack, campaign_id: str
) -> None:
    if campaign_id == DEFAULT_CAMPAIGN_ID:  # a campaign that has exports, too
        stack.wait_for_end(start(stack).json()["exportId"], timeout=60)

    response = call(stack, "GET", f"/exports/{campaign_id}")

    assert response.status == 404
    assert response.json() == {
        "message": f"{campaign_id} is a campaign id; a campaign's exports are at "
        f"GET /exports?campaignId={campaign_id}"
    }
    listed = call(stack, "GET", "/exports", query=f"campaignId={campaign_id}")
    assert listed.status == 200


def test_a_campaign_link_as_campaign_id_is_a_422_naming_the_id_to_send(
    stack: LocalStack, simulator: LemlistSimulator
) -> None:
    link = f"https://app.lemlist.com/teams/tea_XXXX/campaigns/{DEFAULT_CAMPAIGN_ID}/report"

    response = call(stack, "POST", "/exports", {"campaignId": link})

    assert response.status == 422
    assert response.json()["message"] == (
        "campaignId must be a lemlist campaign id: letters, digits and underscores, like "
        f'cam_A1B2C3D4E5F6G7H8I9; this looks like a campaign URL: send "{DEFAULT_CAMPAIGN_ID}"'
    )
    assert starts_seen(simulator) == 0


def test_a_link_without_one_campaign_id_gets_the_plain_422(
    stack: LocalStack, simulator: LemlistSimulator
) -> None:
    response = call(stack, "POST", "/exports", {"campaignId": "https://app.lemlist.com/campaigns/"})

    assert response.status == 422
    assert response.json()["message"] == (
        "campaignId must be a lemlist campaign id: letters, digits and underscores, like "
        "cam_A1B2C3D4E5F6G7H8I9"
    )
    assert starts_seen(simulator) == 0


def test_a_campaigns_exports_list_newest_first_in_pages(stack: LocalStack) -> None:
    ids = [start(stack).json()["exportId"] for _ in range(3)]
    for export_id in ids:
        stack.wait_for_end(export_id, timeout=60)

    first = call(stack, "GET", "/exports", query=f"campaignId={DEFAULT_CAMPAIGN_ID}&limit=2")
    token = first.json()["nextToken"]
    second = call(
        stack,
        "GET",
        "/exports",
        query=f"campaignId={DEFAULT_CAMPAIGN_ID}&limit=2&nextToken={token}",
    )

    listed = [e["exportId"] for e in first.json()["exports"] + second.json()["exports"]]
    assert listed == list(reversed(ids))
    assert second.json()["nextToken"] is None
    assert all(e["status"] == "delivered" for e in first.json()["exports"])


@pytest.mark.parametrize(
    ("query", "status", "words"),
    [
        ("", 422, "campaignId is required"),
        ("campaignId=cam_x&limit=0", 422, "limit"),
        ("campaignId=cam_x&limit=abc", 422, "limit"),
        ("campaignId=cam_x&nextToken=bm90LWEtdG9rZW4", 400, "nextToken"),
    ],
)
def test_bad_list_queries_get_a_reason(
    stack: LocalStack, query: str, status: int, words: str
) -> None:
    response = call(stack, "GET", "/exports", query=query)

    assert response.status == status
    assert words in response.json()["message"]


# -- odd requests ------------------------------------------------------------------------


def test_an_oversized_body_is_a_413_and_starts_nothing(
    stack: LocalStack, simulator: LemlistSimulator
) -> None:
    response = start(stack, padding="x" * 20_000)

    assert response.status == 413
    assert starts_seen(simulator) == 0


def test_a_json_body_sent_as_a_form_still_works(stack: LocalStack) -> None:
    # `curl -d '{...}'` sends application/x-www-form-urlencoded.
    response = call(
        stack,
        "POST",
        "/exports",
        json.dumps({"campaignId": DEFAULT_CAMPAIGN_ID}),
        headers={"content-type": "application/x-www-form-urlencoded"},
    )

    assert response.status == 202
    stack.wait_for_end(response.json()["exportId"], timeout=60)


def test_an_unknown_route_is_a_json_404(stack: LocalStack) -> None:
    response = call(stack, "DELETE", "/exports/axp_X")

    assert response.status == 404
    assert response.json()["message"]


# -- what the review found ----------------------------------------------------------------


def test_without_a_token_nothing_about_the_body_is_revealed(stack: LocalStack) -> None:
    assert stack.http_api is not None
    response = stack.http_api.request(
        "POST", "/exports", headers={"content-type": "application/json"}, body='{"nope": 1}'
    )

    assert response.status == 401
    assert "campaignId" not in response.json()["message"]


@pytest.mark.parametrize(
    ("body", "base64_encoded", "status", "words"),
    [
        (b"\xff\xfe\x00not utf-8", True, 400, "UTF-8"),
        (b"[" * 5000 + b"]" * 5000, False, 400, "JSON object"),
        (b"%%%not base64%%%", False, 400, "JSON object"),
        (json.dumps({"campaignId": DEFAULT_CAMPAIGN_ID, "callbackUrl": "https://[::1"}).encode(),
         False, 400, "callbackUrl was refused"),
    ],
    ids=["not utf-8", "deep nesting", "garbage", "broken url"],
)  # fmt: skip
def test_strange_bodies_are_4xx_never_5xx(
    stack: LocalStack,
    simulator: LemlistSimulator,
    body: bytes,
    base64_encoded: bool,
    status: int,
    words: str,
) -> None:
    from local_stack.http_api import http_api_event

    event = http_api_event(
        "POST",
        "/exports",
        route_key="POST /exports",
        headers={**stack.api_headers(), "content-type": "application/octet-stream"},
        body=body,
    )
    if not base64_encoded:
        event.update(body=body.decode("latin-1"), isBase64Encoded=False)

    outcome = stack.lambdas.invoke(stack.stack.functions["ExportsApiFunction"].name, event)

    assert outcome.payload["statusCode"] == status, outcome.payload
    assert words in json.loads(outcome.payload["body"])["message"]
    assert starts_seen(simulator) == 0


def test_a_forged_next_token_with_empty_keys_is_a_400(stack: LocalStack) -> None:
    import base64

    forged = base64.urlsafe_b64encode(
        json.dumps({"exportId": "", "campaignId": "cam_x", "createdAt": ""}).encode()
    ).decode()

    response = call(stack, "GET", "/exports", query=f"campaignId=cam_x&nextToken={forged}")

    assert response.status == 400


def test_a_replay_after_the_poller_failed_returns_the_same_answer_and_starts_nothing(
    make_stack: StackFactory, simulator: LemlistSimulator
) -> None:
    stack = make_stack()
    # Step Functions refuses the start (the execution is never launched), then works again.
    refused = AwsFault("states", "StartExecution", "StateMachineDoesNotExist", times=10)
    stack.aws.faults.inject(refused)
    key = {"idempotency-key": "zap-run-poller-down"}

    first = start(stack, headers=key)
    replay = start(stack, headers=key)

    assert (first.status, replay.status) == (503, 503)
    assert first.json() == replay.json()
    assert starts_seen(simulator) == 1
    record = stack.record(first.json()["exportId"])
    assert record is not None and record.status == "failed"
    assert record.failure_type == "PollerStartError"


def test_an_empty_callback_hosts_setting_allows_no_callback(make_stack: StackFactory) -> None:
    stack = make_stack(parameters={"CallbackHosts": ""})

    response = start(stack, callbackUrl="https://hooks.zapier.com/hooks/catch/1/a/")

    assert response.status == 400
    assert "accepts no callbackUrl" in response.json()["message"]
