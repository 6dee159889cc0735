"""POST /slack/commands: the `/lemlist-export` slash command.

Verifies Slack's signature over the raw body, then answers within Slack's 3 seconds with an
ephemeral message: help, an export's status, "starting", or "retrying". A start only records
the request and starts the state machine, which asks lemlist itself and reports to the
command's response_url (so a slow lemlist never makes Slack time out); so does a retry
(`workflow.redrive`), which never calls lemlist from here.
"""

from __future__ import annotations

import base64
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import BotoCoreError, ClientError

from lemlist_export.core.clock import utc_now
from lemlist_export.core.errors import ExportError, ExportNotFoundError
from lemlist_export.core.observability import logger, metrics, tag_export, traced
from lemlist_export.core.redaction import register_secret
from lemlist_export.http_api.gate import credentials_unavailable, json_response
from lemlist_export.records.requests import new_request
from lemlist_export.slack.command import (
    RetryExport,
    ShowHelp,
    ShowStatus,
    SlackCommand,
    StartExport,
    execution_name_for,
    parse_intent,
)
from lemlist_export.slack.messages import (
    help_message,
    retry_refused_message,
    retrying_message,
    starting_message,
    status_message,
    unknown_message,
)
from lemlist_export.slack.signature import SlackSignatureError, verify_slack_request
from lemlist_export.wiring import runtime, secrets, settings
from lemlist_export.workflow.contract import input_to_start
from lemlist_export.workflow.launch import start_execution_once
from lemlist_export.workflow.redrive import RetryAsker, RetryRefusedError, redrive_export


@logger.inject_lambda_context(clear_state=True)
@traced
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    metrics.add_metric(name="SlackCommands", unit=MetricUnit.Count, value=1)
    try:
        signing_secret = secrets.slack_signing_secret()
    except ExportError as exc:
        return credentials_unavailable("Slack's signing secret", exc)
    if not signing_secret:
        return json_response(404, {"message": "This stack has no Slack command configured"})
    headers = {k.lower(): v for k, v in (event.get("headers") or {}).items()}
    try:
        body = _raw_body(event)
    except ValueError:
        return json_response(400, {"message": "The body is not valid base64"})
    try:
        verify_slack_request(
            signing_secret,
            body,
            headers.get("x-slack-request-timestamp"),
            headers.get("x-slack-signature"),
        )
        command = SlackCommand.from_form(body)
    except SlackSignatureError as exc:
        logger.warning("Slack request refused", extra={"reason": str(exc)})
        return json_response(401, {"message": str(exc)})
    except ExportError as exc:
        return json_response(400, {"message": str(exc)})
    register_secret(command.response_url)
    return json_response(200, _answer(command))


def _answer(command: SlackCommand) -> dict[str, Any]:
    intent = parse_intent(command.text, command.command or "/lemlist-export")
    if isinstance(intent, ShowHelp):
        return help_message(command.command or "/lemlist-export")
    if isinstance(intent, ShowStatus):
        tag_export(intent.export_id)
        return status_message(runtime.store(quick=True).find(intent.export_id), intent.export_id)
    if isinstance(intent, StartExport):
        return _start(command, intent.campaign_id)
    if isinstance(intent, RetryExport):
        return _retry(command, intent.export_id)
    return unknown_message(intent.reason, command.command or "/lemlist-export")


def _start(command: SlackCommand, campaign_id: str) -> dict[str, Any]:
    tag_export(None, campaign_id)
    name = execution_name_for(command)
    now = utc_now()
    runtime.requests(quick=True).save(
        new_request(
            name,
            campaign_id,
            source="slack",
            now=now,
            requested_by=f"slack:{command.user_name or command.user_id}",
            slack_response_url=command.response_url or None,
        ),
        now,
    )
    try:
        # A command Slack delivers twice has the same name: it starts nothing twice.
        start_execution_once(
            runtime.stepfunctions(quick=True),
            settings.required("STATE_MACHINE_ARN"),
            name,
            input_to_start(campaign_id, "slack", settings.wait_policy()),
        )
    except (ExportError, ClientError, BotoCoreError):
        logger.exception("Could not start the export's execution")
        return unknown_message(
            "The export could not be started (AWS Step Functions refused it); try again.",
            command.command or "/lemlist-export",
        )
    logger.info("Export requested from Slack", extra={"request_id": name})
    metrics.add_metric(name="SlackExportsRequested", unit=MetricUnit.Count, value=1)
    return starting_message(campaign_id)


def _retry(command: SlackCommand, export_id: str) -> dict[str, Any]:
    tag_export(export_id)
    name = command.command or "/lemlist-export"
    try:
        outcome = redrive_export(
            export_id,
            asker=RetryAsker(
                "slack",
                requested_by=f"slack:{command.user_name or command.user_id}",
                slack_response_url=command.response_url or None,
            ),
            store=runtime.store(quick=True),
            requests=runtime.requests(quick=True),
            stepfunctions=runtime.stepfunctions(quick=True),
            state_machine_arn=settings.required("STATE_MACHINE_ARN"),
            waits=settings.wait_policy(),
            now=utc_now(),
        )
    except ExportNotFoundError:
        return status_message(None, export_id)
    except RetryRefusedError as exc:
        return retry_refused_message(str(exc), export_id, command=name)
    except (ExportError, ClientError, BotoCoreError):
        logger.exception("Could not retry the export")
        return unknown_message("The retry could not be started (AWS refused it); try again.", name)
    logger.info(
        "Export retry under way" if outcome.replay else "Export retried from Slack",
        extra={"retry": outcome.retry, "action": outcome.action},
    )
    if not outcome.replay:
        metrics.add_metric(name="ExportsRetried", unit=MetricUnit.Count, value=1)
    return retrying_message(outcome, command=name)


def _raw_body(event: dict[str, Any]) -> bytes:
    """The body exactly as Slack sent it (the signature covers these bytes)."""
    body = event.get("body") or ""
    if event.get("isBase64Encoded"):
        return base64.b64decode(body, validate=True)  # binascii.Error is a ValueError
    return body.encode("utf-8")
