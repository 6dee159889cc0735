"""Powertools Logger, Tracer and Metrics, shared by every handler.

Logs are JSON with the export and campaign ids appended by each handler; the formatter masks
every registered secret in the final line, tracebacks included.
"""

from __future__ import annotations

import logging
import os

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter

from lemlist_export.core.redaction import redact


class RedactingFormatter(LambdaPowertoolsFormatter):
    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


logger = Logger(logger_formatter=RedactingFormatter())
# Only AWS SDK calls are traced: an HTTP trace would record webhook and response_url paths,
# which are credentials. Responses are not captured either (they hold presigned URLs).
tracer = Tracer(patch_modules=["boto3", "botocore"])
# The template sets POWERTOOLS_METRICS_NAMESPACE; the default keeps a module imported before
# any environment exists (the OpenAPI generator, a test) from leaving a namespace-less
# singleton that refuses to flush later.
metrics = Metrics(namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE") or "LemlistStatsExport")


def tag_export(export_id: str | None, campaign_id: str | None = None) -> None:
    """Put the ids on every log line from here to the end of the invocation."""
    keys = {"export_id": export_id, "campaign_id": campaign_id}
    logger.append_keys(**{k: v for k, v in keys.items() if v})
