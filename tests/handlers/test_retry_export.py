"""Retrying a failed export: ExportsApiFunction's POST /exports/{exportId}/retry and
SlackCommandFunction's `retry`, each called with its sample event in events/.

The handlers run in their local Lambda workers with the stack's real dependencies; the export
they retry is recorded as the steps leave a failed copy (lemlist finished it, the download
broke). What the state machine then does with the execution is tests/e2e/test_retry.py's.
"""

from __future__ import annotations

import base64
import json
import time
from typing import Any
from urllib.parse import parse_qsl, urlencode

from slack_sdk.signature import SignatureVerifier

from lemlist_export.core.url_judge import LOCAL_URLS
from lemlist_export.lemlist.client import ClientSettings, LemlistClient
from lemlist_export.records.record import COPY_AGAIN
from lemlist_export.records.requests import RequestStore
from local_stack.lemlist_simulator import DEFAULT_CAMPAIGN_ID, ExportPlan, LemlistSimulator
from local_stack.stack import LocalStack
from tests.conftest import SLACK_SIGNING_SECRET, load_event
from tests.handlers.support import invoke, lemlist_export_in_flight, with_ids


def failed_copy(stack: LocalStack, simulator: LemlistSimulator, api_key: str) -> str:
    """An export lemlist finished whose copy failed: the record as the steps leave it."""
    simulator.set_plan(DEFAULT_CAMPAIGN_ID, ExportPlan(pending_polls=0))
    export_id, _ = lemlist_export_in_flight(stack, simulator, api_key)
    client = LemlistClient(api_key, ClientSettings(base_url=simulator.base_url, urls=LOCAL_URLS))
    store = stack.store()
    store.record_poll(export_id, client.get_export_status(DEFAULT_CAMPAIGN_ID, export_id), 1)
    store.begin_delivery(export_id)
    store.mark_failed(export_id, "DownloadIncompleteError", "The download broke off")
    return export_id


def execution_input(stack: LocalStack, name: str) -> dict[str, Any]:
    execution = stack.client("stepfunctions").describe_execution(
        executionArn=stack.execution_arn(name)
    )
    found: dict[str, Any] = json.loads(execution["input"])
    return found


def test_the_api_retries_a_failed_copy_by_copying_again(
    stack: LocalStack, simulator: LemlistSimulator, api_key: str
) -> None:
    export_id = failed_copy(stack, simulator, api_key)

    outcome = invoke(
        stack, "ExportsApiFunction", with_ids(load_event("retry_export.json"), export_id)
    )

    assert outcome.error is None
    assert outcome.payload["statusCode"] == 202
    body = json.loads(outcome.payload["body"])
    assert body == {
        "exportId": export_id,
        "retryOf": export_id,
        "retry": 1,
        "action": "copyAgain",
        "reason": body["reason"],
        "campaignId": DEFAULT_CAMPAIGN_ID,
        "status": "pending",
        "replay": False,
        "statusUrl": f"https://abc123def4.execute-api.eu-west-1.amazonaws.com/exports/{export_id}",
    }
    record = stack.record(export_id)
    assert record is not None
    assert (record.status, record.retry_count, record.execution_name) == (
        "pending",
        1,
        f"{export_id}-retry-1",
    )
    started_with = execution_input(stack, f"{export_id}-retry-1")
    # Straight to the copy, with the size lemlist announced; never the download URL.
    assert started_with["check"]["status"] == "done"
    assert started_with["check"]["fileSize"] == record.file_size
    assert started_with["start"]["exportId"] == export_id
    assert record.download_url is not None and record.download_url not in json.dumps(started_with)


def test_slack_retries_an_export_lemlist_never_finished_through_the_start_step(
    stack: LocalStack, simulator: LemlistSimulator, api_key: str
) -> None:
    simulator.set_plan(DEFAULT_CAMPAIGN_ID, ExportPlan(outcome="error"))
    export_id, _ = lemlist_export_in_flight(stack, simulator, api_key)
    stack.store().mark_failed(export_id, "LemlistExportError", "lemlist reported an error")
    event = load_event("slack_command.json")
    form = dict(parse_qsl(base64.b64decode(event["body"]).decode()))
    body = urlencode({**form, "text": f"retry {export_id}"}).encode()
    event["body"] = base64.b64encode(body).decode()
    stamp = str(int(time.time()))
    event["headers"]["x-slack-request-timestamp"] = stamp
    event["headers"]["x-slack-signature"] = SignatureVerifier(
        SLACK_SIGNING_SECRET
    ).generate_signature(timestamp=stamp, body=body)
    exports_before = set(simulator.exports)

    outcome = invoke(stack, "SlackCommandFunction", event)

    assert outcome.payload["statusCode"] == 200
    answer = json.loads(outcome.payload["body"])
    assert answer["response_type"] == "ephemeral"
    assert answer["text"].startswith(f"Retrying export `{export_id}`")
    assert "never finished this export, so a new one is started" in answer["text"]
    # Slack answers within 3 s: lemlist is asked by the execution, not by the command.
    assert set(simulator.exports) == exports_before
    name = f"{export_id}-retry-1"
    started_with = execution_input(stack, name)
    assert started_with["start"]["status"] == "waiting" and started_with["source"] == "slack"
    assert "hooks.slack.com" not in json.dumps(started_with)
    request = RequestStore(stack.client("dynamodb"), stack.stack.name("CoordinationTable")).find(
        name
    )
    assert request is not None
    assert (request.retry_of, request.campaign_id) == (export_id, DEFAULT_CAMPAIGN_ID)
    assert request.slack_response_url == form["response_url"]
    record = stack.record(export_id)
    assert record is not None and record.status == "failed" and record.retry_count == 1


def test_the_watchdog_leaves_a_retried_export_to_its_retry(
    stack: LocalStack, simulator: LemlistSimulator, api_key: str
) -> None:
    """EventBridge may deliver an execution's end hours late: by then the export may be
    running again under its retry, which that old news must not fail."""
    export_id = failed_copy(stack, simulator, api_key)
    # Its retry, as the API claims it, with the copy under way (no execution needed here).
    name = f"{export_id}-retry-1"
    entry = {"retry": 1, "action": COPY_AGAIN, "executionName": name}
    assert stack.store().claim_retry(export_id, retry=1, action=COPY_AGAIN, entry=entry)
    stack.store().begin_delivery(export_id)
    old_news = with_ids(load_event("execution_timed_out.json"), export_id)

    skipped = invoke(stack, "AnnounceExportFunction", old_news)

    assert skipped.payload == {"skipped": f"the export is run by the execution {name} now"}
    record = stack.record(export_id)
    assert record is not None and record.status == "delivering"
    # The end of the retry's own execution is the watchdog's to finish.
    retry_news = json.loads(json.dumps(old_news).replace(export_id, name))
    retry_news["detail"]["input"] = json.dumps({"start": {"exportId": export_id}})

    finished = invoke(stack, "AnnounceExportFunction", retry_news)

    assert finished.payload["status"] == "failed"
    record = stack.record(export_id)
    assert record is not None
    assert record.status == "failed" and record.failure_type == "ExecutionTimedOut"
