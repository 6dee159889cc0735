"""`make serve` driven over real HTTP, as a user tries a Zapier or Slack payload with curl."""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from urllib.parse import urlencode

import pytest
import urllib3
from slack_sdk.signature import SignatureVerifier

from local_stack.lemlist_simulator import DEFAULT_CAMPAIGN_ID
from local_stack.openapi import DOCUMENT
from tests.conftest import ROOT

pytestmark = pytest.mark.e2e

TOKEN = "serve-test-token-0123456789"
SLACK_SECRET = "serve-test-slack-secret-0123"


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    environment.update(API_TOKEN=TOKEN, SLACK_SIGNING_SECRET=SLACK_SECRET)
    # Port 0: the server binds a free port itself and its banner names it (a port picked here
    # and bound there could be taken in between).
    process = subprocess.Popen(
        [sys.executable, "-m", "local_stack", "serve", "--port", "0"],
        cwd=ROOT,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    banner = process.stdout.readline()
    found = re.search(r"http://127\.0\.0\.1:(\d+)", banner)
    assert found and found.group(1) != "0", banner + (process.stderr.read() or "")
    yield found.group(0)
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=30) == 0


def request(method: str, url: str, **kwargs: object) -> urllib3.BaseHTTPResponse:
    return urllib3.request(method, url, timeout=30, retries=False, **kwargs)  # type: ignore[arg-type]


def bearer(**extra: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json", **extra}


def test_an_export_over_http_from_start_to_download(server: str) -> None:
    body = json.dumps({"campaignId": DEFAULT_CAMPAIGN_ID})
    refused = request("POST", f"{server}/exports", body=body)
    started = request(
        "POST", f"{server}/exports", body=body, headers=bearer(**{"Idempotency-Key": "k1"})
    )
    replayed = request(
        "POST", f"{server}/exports", body=body, headers=bearer(**{"Idempotency-Key": "k1"})
    )

    assert refused.status == 401
    assert started.status == 202 and replayed.json() == started.json()
    status_url = started.json()["statusUrl"]
    assert status_url.startswith(f"{server}/exports/axp_")
    deadline = time.monotonic() + 60
    while (view := request("GET", status_url, headers=bearer()).json())["status"] != "delivered":
        assert view["status"] in ("pending", "delivering"), view
        assert time.monotonic() < deadline
        time.sleep(0.3)
    csv = request("GET", view["downloadUrl"]).data
    assert csv.startswith(b"campaignName,")
    assert hashlib.sha256(csv).hexdigest() == view["sha256"] and len(csv) == view["bytes"]
    listed = request("GET", f"{server}/exports?campaignId={DEFAULT_CAMPAIGN_ID}", headers=bearer())
    assert [e["exportId"] for e in listed.json()["exports"]] == [view["exportId"]]


def test_a_slack_command_over_http(server: str) -> None:
    body = urlencode(
        {
            "command": "/lemlist-export",
            "text": "help",
            "user_id": "U1",
            "user_name": "ada",
            "channel_id": "C1",
            "team_id": "T1",
            "response_url": "https://hooks.slack.com/commands/T1/1/x",
            "trigger_id": "1.2.3",
        }
    ).encode()
    stamp = str(int(time.time()))
    signature = SignatureVerifier(SLACK_SECRET).generate_signature(timestamp=stamp, body=body)
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": stamp,
        "X-Slack-Signature": signature,
    }

    answer = request("POST", f"{server}/slack/commands", body=body, headers=headers)
    forged = request(
        "POST",
        f"{server}/slack/commands",
        body=body,
        headers={**headers, "X-Slack-Signature": "v0=00"},
    )

    assert answer.status == 200 and answer.json()["response_type"] == "ephemeral"
    assert "/lemlist-export cam_" in json.dumps(answer.json())
    assert forged.status == 401


def test_the_openapi_document_and_a_schedule_firing(server: str) -> None:
    document = request("GET", f"{server}/openapi.json")
    fired = request("POST", f"{server}/_local/schedules/default/run")

    assert document.status == 200 and document.data.decode() == DOCUMENT.read_text()
    assert fired.status == 200
    assert DEFAULT_CAMPAIGN_ID in fired.json()["started"] + fired.json()["alreadyStarted"]


def test_a_schedule_firing_delivered_twice_names_its_scheduled_time(server: str) -> None:
    run = f"{server}/_local/schedules/default/run?scheduledTime=2026-11-29T06:00:00Z"

    first = request("POST", run)
    again = request("POST", run)
    bad = request("POST", f"{server}/_local/schedules/default/run?scheduledTime=yesterday")

    assert first.status == again.status == 200
    assert first.json()["scheduledTime"] == "2026-11-29T06:00:00Z"
    assert first.json()["started"] == [DEFAULT_CAMPAIGN_ID]
    assert again.json()["started"] == [] and again.json()["alreadyStarted"] == [DEFAULT_CAMPAIGN_ID]
    assert bad.status == 400 and "ISO 8601" in bad.json()["message"]
