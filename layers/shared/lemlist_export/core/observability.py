"""Powertools Logger and Metrics, shared by every handler, and the optional X-Ray SDK Tracer.

Logs are JSON with the export and campaign ids appended by each handler; the formatter masks
every registered secret in the final line, tracebacks included.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar, cast

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter

from lemlist_export.core.redaction import redact

if TYPE_CHECKING:
    from aws_lambda_powertools import Tracer

Handler = TypeVar("Handler", bound=Callable[..., Any])


class RedactingFormatter(LambdaPowertoolsFormatter):
    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


logger = Logger(logger_formatter=RedactingFormatter())
# The template sets POWERTOOLS_METRICS_NAMESPACE; the default keeps a module imported before
# any environment exists (the OpenAPI generator, a test) from leaving a namespace-less
# singleton that refuses to flush later.
metrics = Metrics(namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE") or "LemlistStatsExport")


def tag_export(export_id: str | None, campaign_id: str | None = None) -> None:
    """Put the ids on every log line from here to the end of the invocation."""
    keys = {"export_id": export_id, "campaign_id": campaign_id}
    logger.append_keys(**{k: v for k, v in keys.items() if v})


# X-Ray. The template keeps `Tracing: Active`: Lambda itself records every invocation's
# segment (init, invocation, overhead) and the Step Functions trace links them, with no SDK
# in the function. The X-Ray SDK only adds a subsegment per AWS SDK call, and Powertools'
# Tracer imports it (with wrapt and asyncio) and patches botocore even when disabled: measured
# with benchmarks/cold_start.py, as Lambda runs a `sam build` (no bytecode shipped), it adds
# about 35 ms (9%) to a handler's ~400 ms import (check_export 392 -> 427 ms, exports_api
# 635 -> 671 ms; reference boto3.client("s3") 394 ms), 8-13 ms with cached bytecode. So the
# SDK is loaded only when the stack's TraceAwsCalls parameter sets TRACE_AWS_CALLS=true.
# Only AWS SDK calls are traced then: an HTTP trace would record webhook and response_url
# paths, which are credentials. Responses are not captured either (they hold presigned URLs;
# the template sets POWERTOOLS_TRACER_CAPTURE_RESPONSE=false).
def _tracer() -> Tracer | None:
    if os.environ.get("TRACE_AWS_CALLS", "").strip().lower() not in ("1", "true", "yes", "on"):
        return None
    from aws_lambda_powertools import Tracer

    return Tracer(patch_modules=["boto3", "botocore"])


tracer = _tracer()


def traced(handler: Handler) -> Handler:
    """The handler in an X-Ray subsegment with its cold start annotated, when the X-Ray SDK
    is on (TRACE_AWS_CALLS); the handler itself otherwise."""
    if tracer is None:
        return handler
    return cast(Handler, tracer.capture_lambda_handler(handler))
