"""What a Lambda container builds once and reuses across invocations: AWS clients, the
lemlist client (rebuilt when the key in Secrets Manager changes), the store, the notifier."""

from __future__ import annotations

import os
from functools import cache
from typing import Any

import boto3
from botocore.config import Config

from . import secrets, settings
from .export_record import ExportRecord
from .export_store import ExportStore
from .failure_reasons import Failure
from .finish import finish_export
from .lemlist_client import ClientSettings, LemlistClient
from .notifier import Notifier
from .rate_gate import DynamoRateGate, key_id_for
from .request_store import RequestStore
from .webhook_post import WebhookPoster

# Explicit timeouts: botocore's defaults (60 s connect, 60 s read) outlast our Lambdas.
_AWS_CONFIG = Config(
    connect_timeout=3, read_timeout=20, retries={"mode": "standard", "max_attempts": 4}
)


@cache
def aws(service: str) -> Any:
    config = _AWS_CONFIG
    if service == "s3":
        # Presigned URLs signed with SigV4, which every region accepts.
        config = config.merge(Config(signature_version="s3v4"))
    return boto3.client(service, config=config)  # type: ignore[call-overload]


def store() -> ExportStore:
    return _store(settings.required("EXPORTS_TABLE"))


@cache
def _store(table: str) -> ExportStore:
    return ExportStore(aws("dynamodb"), table)


def lemlist(*, max_rate_limit_wait: float = 0.0, transient_retries: int = 0) -> LemlistClient:
    """A client for the configured API, paced by the stack-wide rate gate; the key is
    re-read through the 5-minute cache."""
    client_settings = ClientSettings(
        base_url=settings.lemlist_api_url(),
        max_rate_limit_wait=max_rate_limit_wait,
        transient_retries=transient_retries,
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
    gate = DynamoRateGate(aws("dynamodb"), table, key_id_for(api_key), limit=per_window)
    return LemlistClient(api_key, client_settings, gate=gate)


def requests() -> RequestStore:
    return _requests(settings.required("COORDINATION_TABLE"))


@cache
def _requests(table: str) -> RequestStore:
    return RequestStore(aws("dynamodb"), table)


def notifier() -> Notifier:
    return Notifier(secrets.notification_targets(), _poster(), os.environ.get("AWS_REGION"))


@cache
def _poster() -> WebhookPoster:
    return WebhookPoster()


def finish(export_id: str, failure: Failure | None = None) -> ExportRecord:
    """Record and announce the end of an export (see `finish.finish_export`)."""
    return finish_export(export_id, failure=failure, store=store(), notifier=notifier)
