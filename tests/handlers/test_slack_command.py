"""SlackCommandFunction: a signed slash command.

Each handler, called with the sample event in events/ (shaped as AWS sends it).

The handlers run in their local Lambda workers with the stack's real dependencies (DynamoDB,
S3 and Secrets Manager on the embedded AWS, lemlist played by the simulator); only the ids in
the sample events are swapped for ones that exist here.
"""

from __future__ import annotations

import base64
import json
import time

from slack_sdk.signature import SignatureVerifier

from local_stack.lemlist_simulator import DEFAULT_CAMPAIGN_ID, LemlistSimulator
from local_stack.stack import LocalStack
from tests.conftest import SLACK_SIGNING_SECRET, load_event
from tests.handlers.support import invoke


def test_slack_handler_acknowledges_a_signed_command(
    stack: LocalStack, simulator: LemlistSimulator
) -> None:
    event = load_event("slack_command.json")
    body = base64.b64decode(event["body"])
    stamp = str(int(time.time()))
    event["headers"]["x-slack-request-timestamp"] = stamp
    event["headers"]["x-slack-signature"] = SignatureVerifier(
        SLACK_SIGNING_SECRET
    ).generate_signature(timestamp=stamp, body=body)

    outcome = invoke(stack, "SlackCommandFunction", event)

    assert outcome.payload["statusCode"] == 200
    assert "Starting an export" in outcome.payload["body"]
    name = "slack_13345224609_738474920_8088930838d88f008e0"
    execution = stack.client("stepfunctions").describe_execution(
        executionArn=stack.execution_arn(name)
    )
    assert json.loads(execution["input"])["campaignId"] == DEFAULT_CAMPAIGN_ID
    assert "hooks.slack.com" not in execution["input"]
