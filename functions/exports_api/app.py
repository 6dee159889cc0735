"""The HTTP API for Zapier and scripts (Bearer token on every route):

- POST /exports: start a lemlist export and hand it to the state machine; 202 at once.
  An `Idempotency-Key` header makes replays (Zapier retries for hours) return the same
  export instead of starting another one.
- GET /exports/{exportId}: where an export stands; a presigned download URL once delivered.
- GET /exports?campaignId=...: a campaign's recent exports, newest first, paginated.
- POST /exports/{exportId}/retry: re-drive a failed export (copy its file again while lemlist
  holds it, else export the campaign anew); 202 with the export to follow. Idempotent: a
  repeat answers the retry under way.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.event_handler.openapi.params import Header, Path, Query
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from lemlist_export.core.errors import ExportError
from lemlist_export.core.observability import logger, metrics, tag_export, traced
from lemlist_export.http_api.errors import campaign_id_hint, http_error, validation_message
from lemlist_export.http_api.gate import as_json, refuse_before_routing
from lemlist_export.http_api.models import (
    LEMLIST_ID,
    ErrorBody,
    ExportList,
    ExportStarted,
    ExportView,
    RetryStarted,
    StartExportBody,
)
from lemlist_export.http_api.start import start_for_api
from lemlist_export.http_api.views import presigned_download, public_view
from lemlist_export.wiring import runtime, settings

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig

IDEMPOTENCY_KEY = r"^[\x21-\x7e]{1,255}$"


def _errors(descriptions: dict[int, str]) -> dict[int, OpenAPIResponse]:
    """OpenAPI entries for error answers: every one is `{"message": "..."}`."""
    return {
        status: {"description": text, "content": {"application/json": {"model": ErrorBody}}}
        for status, text in descriptions.items()
    }


app = APIGatewayHttpResolver(enable_validation=True)


def openapi_settings() -> dict[str, Any]:
    """What docs/openapi.json is generated with, besides the routes (`make openapi`). Its
    models (Powertools' OpenAPI classes, pydantic) are a document's, never a request's: they
    are imported here, not at every cold start."""
    from aws_lambda_powertools.event_handler.openapi.models import HTTPBearer

    return {
        "title": "lemlist-stats-export API",
        "version": "1.0.0",
        "description": (
            "Start lemlist campaign-statistics exports that land in your S3 bucket, and follow "
            "them. Every route takes `Authorization: Bearer <token>`."
        ),
        "security_schemes": {"bearerAuth": HTTPBearer(bearerFormat="token from Secrets Manager")},
        "security": [{"bearerAuth": []}],
    }


# Powertools names a key after the decorated function's module and name: pinned to the name it
# had when keys were first written, so that moving or renaming the code never makes a replay
# (Zapier retries for hours, across deploys) look new and start a second export.
IDEMPOTENCY_KEY_PREFIX = (
    f"{os.environ.get('AWS_LAMBDA_FUNCTION_NAME', 'test-func')}.app._start_once"
)
# Replays (`idempotency`, `persistence`, `_start_once`) are built by the first request with an
# Idempotency-Key: Powertools' idempotency modules and their DynamoDB client would cost every
# cold start, and most requests (the GETs, a start without a key) never use them.
_replays: dict[str, Any] = {}


def _replay_machinery() -> dict[str, Any]:
    if not _replays:
        from aws_lambda_powertools.utilities.idempotency import (
            DynamoDBPersistenceLayer,
            IdempotencyConfig,
            idempotent_function,
        )

        idempotency = IdempotencyConfig(
            event_key_jmespath="idempotencyKey",
            payload_validation_jmespath="[campaignId, callbackUrl]",
            expires_after_seconds=24 * 3600,
        )
        persistence = DynamoDBPersistenceLayer(table_name=os.environ.get("COORDINATION_TABLE", ""))

        @idempotent_function(
            data_keyword_argument="request",
            persistence_store=persistence,
            config=idempotency,
            key_prefix=IDEMPOTENCY_KEY_PREFIX,
        )
        def _start_once(request: dict[str, Any]) -> dict[str, Any]:
            """`start_for_api`, its outcome remembered 24 h under the Idempotency-Key."""
            return _start(request)

        _replays.update(idempotency=idempotency, persistence=persistence, _start_once=_start_once)
    return _replays


def __getattr__(name: str) -> Any:
    """`idempotency`, `persistence` and `_start_once`, built on first use."""
    if name in ("idempotency", "persistence", "_start_once"):
        return _replay_machinery()[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@app.post(
    "/exports",
    summary="Start an export",
    responses={
        202: {"description": "Started", "content": {"application/json": {"model": ExportStarted}}},
        **_errors(
            {
                400: "Not a JSON body, or a callbackUrl that is not allowed",
                401: "No or bad token",
                404: "lemlist has no such campaign",
                409: "A request with the same Idempotency-Key is still running",
                413: "Body over 16 KiB",
                422: "Body fails validation (a campaign's lemlist URL as campaignId gets the "
                "id to send), or Idempotency-Key reused with another body",
                502: "lemlist rejected the stack's API key",
                503: "lemlist is rate limiting or down: retry after Retry-After",
            }
        ),
    },
)
def create_export(
    body: StartExportBody,
    idempotency_key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            pattern=IDEMPOTENCY_KEY,
            description="Replays with this key within 24 h return the same export.",
        ),
    ] = None,
) -> Response[ExportStarted]:
    request = body.model_dump()
    if body.callbackUrl is not None:
        from lemlist_export.notify.callbacks import CallbackPolicy

        policy = CallbackPolicy.from_setting(os.environ.get("CALLBACK_HOSTS"), settings.url_judge())
        request["callbackUrl"] = policy.accept(body.callbackUrl)
    if idempotency_key is None:
        outcome = _start(request)
    else:
        outcome = _start_replayable({**request, "idempotencyKey": idempotency_key})
    if outcome["status"] != 202:
        raise StartOutcome(outcome["status"], outcome["body"])
    return Response(status_code=202, content_type="application/json", body=outcome["body"])


class StartOutcome(Exception):
    """A start that ended badly after lemlist had started the export: replays get it too."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(body.get("message", ""))
        self.status = status
        self.body = body


class ReplayRefused(Exception):
    """An Idempotency-Key that cannot be replayed (reused with another body, or in flight)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _start_replayable(request: dict[str, Any]) -> dict[str, Any]:
    from aws_lambda_powertools.utilities.idempotency.exceptions import (
        IdempotencyAlreadyInProgressError,
        IdempotencyValidationError,
    )

    replays = _replay_machinery()
    config: IdempotencyConfig = replays["idempotency"]
    config.register_lambda_context(app.lambda_context)
    start_once: Callable[..., dict[str, Any]] = replays["_start_once"]
    try:
        return start_once(request=request)
    except IdempotencyValidationError:
        raise ReplayRefused(
            422, "This Idempotency-Key was already used with a different body"
        ) from None
    except IdempotencyAlreadyInProgressError:
        raise ReplayRefused(
            409, "A request with this Idempotency-Key is still running; retry shortly"
        ) from None


def _start(request: dict[str, Any]) -> dict[str, Any]:
    return start_for_api(request, _status_url)


@app.get(
    "/exports/<exportId>",
    summary="Where an export stands",
    responses={
        200: {"description": "The export", "content": {"application/json": {"model": ExportView}}},
        **_errors(
            {
                401: "No or bad token",
                404: "No such export (for a campaign id, the message points to "
                "GET /exports?campaignId=)",
                422: "Malformed export id",
            }
        ),
    },
)
def get_export(
    exportId: Annotated[str, Path(pattern=LEMLIST_ID)],
) -> dict[str, Any]:
    with campaign_id_hint(exportId):
        record = runtime.store().get(exportId)
    tag_export(record.export_id, record.campaign_id)
    download = presigned_download(runtime.s3(), record, settings.download_url_expiry())
    return {**public_view(record), **(download or {})}


@app.get(
    "/exports",
    summary="A campaign's recent exports, newest first",
    responses={
        200: {"description": "One page", "content": {"application/json": {"model": ExportList}}},
        **_errors({400: "nextToken is not one of ours", 401: "No or bad token", 422: "Bad query"}),
    },
)
def list_exports(
    campaign_id: Annotated[str, Query(alias="campaignId", pattern=LEMLIST_ID)],
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    next_token: Annotated[str | None, Query(alias="nextToken", max_length=2048)] = None,
) -> dict[str, Any]:
    records, token = runtime.store().list_by_campaign(campaign_id, limit=limit, after=next_token)
    return {"exports": [public_view(r) for r in records], "nextToken": token}


@app.post(
    "/exports/<exportId>/retry",
    summary="Retry a failed export",
    description=(
        "Only a failed export can be retried. If lemlist still holds its file (it finished "
        "the export and its 24-hour download window has at least an hour left), the file is "
        "copied to S3 again and the same export is followed; otherwise a new export of the "
        "same campaign is started (the failed record's `retriedAs` names it). A repeated call "
        "answers the retry under way (`replay: true`) and starts nothing."
    ),
    responses={
        202: {
            "description": "Retry under way",
            "content": {"application/json": {"model": RetryStarted}},
        },
        **_errors(
            {
                401: "No or bad token",
                404: "No such export, or lemlist has no such campaign any more",
                409: "The export is not failed (still under way, or delivered), or a retry "
                "already replaced it",
                422: "Malformed export id",
                502: "lemlist rejected the stack's API key",
                503: "lemlist or AWS is busy: retry after Retry-After",
            }
        ),
    },
)
def retry_export(
    exportId: Annotated[str, Path(pattern=LEMLIST_ID)],
) -> Response[RetryStarted]:
    # Retries are rare: their modules are imported by the first one, not by every cold start.
    from lemlist_export.http_api.retry import retry_for_api

    with campaign_id_hint(exportId):
        body: Any = retry_for_api(exportId, _status_url)
    return Response(status_code=202, content_type="application/json", body=body)


@app.exception_handler(RequestValidationError)
def invalid_request(exc: RequestValidationError) -> Response[dict[str, Any]]:
    status, message = validation_message(exc.errors())
    metrics.add_metric(name="RequestsRefused", unit=MetricUnit.Count, value=1)
    return _error(status, message)


@app.exception_handler(ReplayRefused)
def replay_refused(exc: ReplayRefused) -> Response[dict[str, Any]]:
    return _error(exc.status, exc.message)


@app.exception_handler(StartOutcome)
def start_outcome(exc: StartOutcome) -> Response[dict[str, Any]]:
    metrics.add_metric(name="RequestsRefused", unit=MetricUnit.Count, value=1)
    return Response(status_code=exc.status, content_type="application/json", body=exc.body)


@app.exception_handler(ExportError)
def export_error(exc: ExportError) -> Response[dict[str, Any]]:
    error = http_error(exc)
    metrics.add_metric(name="RequestsRefused", unit=MetricUnit.Count, value=1)
    log = logger.warning if error.status < 500 else logger.error
    log("Request refused", extra={"status": error.status, "reason": error.message})
    return _error(error.status, error.message, headers=error.headers)


@app.exception_handler(Exception)
def unexpected(exc: Exception) -> Response[dict[str, Any]]:
    logger.exception("Unexpected error")
    metrics.add_metric(name="RequestsRefused", unit=MetricUnit.Count, value=1)
    return _error(500, "Internal error; the stack's logs have the details.")


def _error(
    status: int,
    message: str,
    extra: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> Response[dict[str, Any]]:
    return Response(
        status_code=status,
        content_type="application/json",
        body={"message": message, **(extra or {})},
        headers=headers or {},
    )


def _status_url(export_id: str) -> str:
    event = app.current_event
    host = event.headers.get("host") or event.request_context.domain_name
    scheme = event.headers.get("x-forwarded-proto", "https")
    return f"{scheme}://{host}/exports/{export_id}"


@logger.inject_lambda_context(
    correlation_id_path=correlation_paths.API_GATEWAY_HTTP, clear_state=True
)
@traced
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    metrics.add_metric(name="ApiRequests", unit=MetricUnit.Count, value=1)
    refused = refuse_before_routing(event)
    if refused is not None:
        return refused
    return app.resolve(as_json(event), context)
