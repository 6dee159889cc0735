"""What a Lambda container builds once and reuses across invocations: AWS clients, the
lemlist client (rebuilt when the key in Secrets Manager changes), the store, the notifier.

The lemlist client and the notifications are imported by the first call that builds them:
a function that never asks lemlist or announces (most of the API's requests) never pays for
their modules at its cold start (benchmarks/cold_start.py).
"""

from __future__ import annotations

import os
from functools import cache
from typing import TYPE_CHECKING, Any, cast

import boto3
from aws_lambda_powertools.metrics import MetricUnit
from botocore.config import Config

from lemlist_export.core.errors import ExportError, RateLimitedError
from lemlist_export.core.observability import metrics
from lemlist_export.records.requests import RequestStore
from lemlist_export.records.store import ExportStore
from lemlist_export.wiring import secrets, settings

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_stepfunctions import SFNClient

    from lemlist_export.lemlist.client import ClientSettings, LemlistClient
    from lemlist_export.notify.notifier import Notifier
    from lemlist_export.notify.webhook_post import WebhookPoster
    from lemlist_export.records.record import ExportRecord
    from lemlist_export.workflow.failure_reasons import Failure

# Explicit timeouts: botocore's defaults (60 s connect, 60 s read) outlast our Lambdas.
_AWS_CONFIG = Config(
    connect_timeout=3, read_timeout=20, retries={"mode": "standard", "max_attempts": 4}
)


# For Slack's 3-second acknowledgement: fail fast rather than make Slack give up.
_QUICK_CONFIG = Config(
    connect_timeout=1, read_timeout=2, retries={"mode": "standard", "max_attempts": 2}
)


def dynamodb(*, quick: bool = False) -> DynamoDBClient:
    return cast("DynamoDBClient", _client("dynamodb", quick))


def s3() -> S3Client:
    return cast("S3Client", _client("s3", False))


def stepfunctions(*, quick: bool = False) -> SFNClient:
    return cast("SFNClient", _client("stepfunctions", quick))


@cache
def _client(service: str, quick: bool) -> Any:
    """One client per service and patience, typed by the accessors above (boto3's own
    `client` is typed per literal service name only)."""
    config = _QUICK_CONFIG if quick else _AWS_CONFIG
    if service == "s3":
        # Presigned URLs signed with SigV4, which every region accepts.
        config = config.merge(Config(signature_version="s3v4"))
    factory: Any = boto3.client  # typed per literal service name: the accessors type it
    return factory(service, config=config)


def store(*, quick: bool = False) -> ExportStore:
    return _store(settings.required("EXPORTS_TABLE"), quick)


@cache
def _store(table: str, quick: bool) -> ExportStore:
    return ExportStore(dynamodb(quick=quick), table)


def lemlist(*, max_rate_limit_wait: float = 0.0, transient_retries: int = 0) -> LemlistClient:
    """A client for the configured API, paced by the stack-wide rate gate; the key is
    re-read through the 5-minute cache."""
    from lemlist_export.lemlist.client import ClientSettings

    client_settings = ClientSettings(
        base_url=settings.lemlist_api_url(),
        read_timeout=settings.lemlist_read_timeout(),
        max_rate_limit_wait=max_rate_limit_wait,
        transient_retries=transient_retries,
        urls=settings.url_judge(),
    )
    return _lemlist(
        secrets.lemlist_api_key(),
        client_settings,
        settings.required("COORDINATION_TABLE"),
        settings.requests_per_window(),
    )


@cache
def _lemlist(
    api_key: str, client_settings: ClientSettings, table: str, per_window: int
) -> LemlistClient:
    from lemlist_export.lemlist.client import LemlistClient
    from lemlist_export.lemlist.rate_gate import DynamoRateGate, key_id_for

    gate = DynamoRateGate(dynamodb(), table, key_id_for(api_key), limit=per_window)
    return LemlistClient(api_key, client_settings, gate=gate, on_rate_limited=count_rate_limited)


def count_rate_limited(_: RateLimitedError) -> None:
    """One LemlistRateLimited per 429 lemlist answered (flushed with the invocation's metrics)."""
    metrics.add_metric(name="LemlistRateLimited", unit=MetricUnit.Count, value=1)


def requests(*, quick: bool = False) -> RequestStore:
    return _requests(settings.required("COORDINATION_TABLE"), quick)


@cache
def _requests(table: str, quick: bool) -> RequestStore:
    return RequestStore(dynamodb(quick=quick), table)


def notifier() -> Notifier:
    from lemlist_export.notify.notifier import Notifier
    from lemlist_export.notify.targets import NotificationTargets

    region = os.environ.get("AWS_REGION")
    try:
        targets = secrets.notification_targets()
    except ExportError as exc:
        return Notifier(NotificationTargets(), _poster(), region, targets_problem=str(exc))
    return Notifier(targets, _poster(), region)


def poster() -> WebhookPoster:
    return _poster()


@cache
def _poster() -> WebhookPoster:
    from lemlist_export.notify.webhook_post import WebhookPoster

    return WebhookPoster(urls=settings.url_judge())


def announce(export_id: str, failure: Failure | None = None) -> ExportRecord:
    """Record and announce the end of an export (see `workflow.announce.announce_export`)."""
    from lemlist_export.workflow.announce import announce_export

    return announce_export(export_id, failure=failure, store=store(), notifier=notifier)
