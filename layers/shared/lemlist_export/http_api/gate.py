"""What the HTTP API answers before any route sees a request.

No valid bearer token comes first, before anything about the request is revealed (a
validation error would tell an anonymous caller what the API expects); then bodies no route
could use: too large, not base64, not UTF-8, not JSON. Powertools would turn the last three
into 500s.
"""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from lemlist_export.core.errors import ExportError
from lemlist_export.core.observability import logger, metrics
from lemlist_export.http_api.auth import ApiTokens, UnauthorizedError
from lemlist_export.http_api.bodies import read_json_body
from lemlist_export.wiring import secrets


def refuse_before_routing(event: dict[str, Any]) -> dict[str, Any] | None:
    """The API Gateway answer for a request to turn away, or None to let it through."""
    headers = {k.lower(): v for k, v in (event.get("headers") or {}).items()}
    try:
        ApiTokens.from_secret(secrets.api_token_secret()).check(headers.get("authorization"))
    except UnauthorizedError as exc:
        metrics.add_metric(name="Unauthorized", unit=MetricUnit.Count, value=1)
        return plain_response(401, str(exc), {"WWW-Authenticate": "Bearer"})
    except ExportError as exc:
        return credentials_unavailable("the API token", exc)
    body = event.get("body")
    if not body:
        return None
    problem = read_json_body(body, base64_encoded=bool(event.get("isBase64Encoded")))
    if problem is not None:
        metrics.add_metric(name="RequestsRefused", unit=MetricUnit.Count, value=1)
        return plain_response(problem.status, problem.message)
    return None


def credentials_unavailable(what: str, exc: ExportError) -> dict[str, Any]:
    """A caller not yet authenticated learns only that it should retry: the reason (which
    secret, which AWS error) goes to the logs."""
    logger.error(f"Cannot read {what}", extra={"reason": str(exc)})
    metrics.add_metric(name="CredentialsUnavailable", unit=MetricUnit.Count, value=1)
    return plain_response(
        503, "The service is unavailable right now; try again shortly.", {"Retry-After": "5"}
    )


def as_json(event: dict[str, Any]) -> dict[str, Any]:
    """This API only speaks JSON: read every body as JSON, whatever its Content-Type says
    (curl -d sends form-urlencoded, some Zapier steps octet-stream)."""
    if not event.get("body"):
        return event
    headers = {k: v for k, v in (event.get("headers") or {}).items() if k.lower() != "content-type"}
    return {**event, "headers": {**headers, "content-type": "application/json"}}


def plain_response(
    status: int, message: str, headers: dict[str, str] | None = None
) -> dict[str, Any]:
    return json_response(status, {"message": message}, headers)


def json_response(
    status: int, body: dict[str, Any], headers: dict[str, str] | None = None
) -> dict[str, Any]:
    """An API Gateway (payload 2.0) answer with a JSON body."""
    return {
        "statusCode": status,
        "headers": {"Content-Type": "application/json", **(headers or {})},
        "body": json.dumps(body),
    }
