"""The HTTP API for Zapier and scripts (Bearer token on every route):

- POST /exports: start a lemlist export and hand it to the state machine; 202 at once.
  An `Idempotency-Key` header makes replays (Zapier retries for hours) return the same
  export instead of starting another one.
- GET /exports/{exportId}: where an export stands; a presigned download URL once delivered.
- GET /exports?campaignId=...: a campaign's recent exports, newest first, paginated.
- POST /exports/{exportId}/retry: re-drive a failed export (copy its file again while lemlist
  holds it, else export the campaign anew); 202 with the export to follow. Idempotent: a
  repeat answers the retry under way.

Two resolvers route the same requests. `router` takes the requests whose every parameter
http_api.plain vouches for, without pydantic; `app` (http_api.documented, built on first use)
validates any other with Powertools and pydantic, answers exactly as before, and is what
docs/openapi.json is generated from. Importing pydantic and building the models was about 30%
of this function's import (benchmarks/cold_start.py); valid requests never need them.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from functools import cache
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from lemlist_export.core.errors import ExportError
from lemlist_export.core.observability import logger, metrics, tag_export, traced
from lemlist_export.http_api import plain
from lemlist_export.http_api.errors import campaign_id_hint, http_error, validation_message
from lemlist_export.http_api.gate import as_json, refuse_before_routing
from lemlist_export.http_api.plain import NeedsValidation
from lemlist_export.http_api.start import start_for_api
from lemlist_export.http_api.views import presigned_download, public_view
from lemlist_export.wiring import runtime, settings

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig

# The requests http_api.plain vouches for (every other one: `app`, see _validating).
router = APIGatewayHttpResolver()


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
    """`app` (the validating resolver), `idempotency`, `persistence` and `_start_once`, built
    on first use."""
    if name == "app":
        return _validating()
    if name in ("idempotency", "persistence", "_start_once"):
        return _replay_machinery()[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# What each route does once its request is valid, whichever resolver validated it.


def create_export(request: dict[str, Any], idempotency_key: str | None) -> Response[Any]:
    """POST /exports with `StartExportBody.model_dump()`."""
    if request["callbackUrl"] is not None:
        from lemlist_export.notify.callbacks import CallbackPolicy

        policy = CallbackPolicy.from_setting(os.environ.get("CALLBACK_HOSTS"), settings.url_judge())
        request["callbackUrl"] = policy.accept(request["callbackUrl"])
    if idempotency_key is None:
        outcome = _start(request)
    else:
        outcome = _start_replayable({**request, "idempotencyKey": idempotency_key})
    if outcome["status"] != 202:
        raise StartOutcome(outcome["status"], outcome["body"])
    # A replay's body comes back from the idempotency store with its keys sorted.
    body = plain.started_body(outcome["body"])
    return Response(status_code=202, content_type="application/json", body=body)


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
    config.register_lambda_context(router.lambda_context)
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


def get_export(export_id: str) -> dict[str, Any]:
    """GET /exports/{exportId}."""
    with campaign_id_hint(export_id):
        record = runtime.store().get(export_id)
    tag_export(record.export_id, record.campaign_id)
    download = presigned_download(runtime.s3(), record, settings.download_url_expiry())
    return plain.json_answer({**public_view(record), **(download or {})})


def list_exports(campaign_id: str, limit: int, next_token: str | None) -> dict[str, Any]:
    """GET /exports?campaignId=..."""
    records, token = runtime.store().list_by_campaign(campaign_id, limit=limit, after=next_token)
    return plain.json_answer({"exports": [public_view(r) for r in records], "nextToken": token})


def retry_export(export_id: str) -> Response[Any]:
    """POST /exports/{exportId}/retry."""
    # Retries are rare: their modules are imported by the first one, not by every cold start.
    from lemlist_export.http_api.retry import retry_for_api

    with campaign_id_hint(export_id):
        body = retry_for_api(export_id, _status_url)
    return Response(status_code=202, content_type="application/json", body=plain.retry_body(body))


# The routes without pydantic: each reads its request with http_api.plain, which raises
# NeedsValidation (lambda_handler then asks `app`) before anything is done.


@router.post("/exports")
def _create_export() -> Response[Any]:
    event = router.current_event
    request = plain.start_request(plain.request_json(event))
    return create_export(request, plain.idempotency_key(event.headers))


@router.get("/exports/<exportId>")
def _get_export(exportId: str) -> dict[str, Any]:
    return get_export(plain.lemlist_id(exportId))


@router.get("/exports")
def _list_exports() -> dict[str, Any]:
    return list_exports(*plain.listing(router.current_event.query_string_parameters))


@router.post("/exports/<exportId>/retry")
def _retry_export(exportId: str) -> Response[Any]:
    return retry_export(plain.lemlist_id(exportId))


@router.not_found
def _not_routed(exc: NotFoundError) -> Response[Any]:
    # Other paths and methods (API Gateway sends none): `app` answers them as it always did.
    raise NeedsValidation


def invalid_request(exc: RequestValidationError) -> Response[dict[str, Any]]:
    status, message = validation_message(exc.errors())
    metrics.add_metric(name="RequestsRefused", unit=MetricUnit.Count, value=1)
    return _error(status, message)


def replay_refused(exc: ReplayRefused) -> Response[dict[str, Any]]:
    return _error(exc.status, exc.message)


def start_outcome(exc: StartOutcome) -> Response[dict[str, Any]]:
    metrics.add_metric(name="RequestsRefused", unit=MetricUnit.Count, value=1)
    return Response(status_code=exc.status, content_type="application/json", body=exc.body)


def export_error(exc: ExportError) -> Response[dict[str, Any]]:
    error = http_error(exc)
    metrics.add_metric(name="RequestsRefused", unit=MetricUnit.Count, value=1)
    log = logger.warning if error.status < 500 else logger.error
    log("Request refused", extra={"status": error.status, "reason": error.message})
    return _error(error.status, error.message, headers=error.headers)


def unexpected(exc: Exception) -> Response[dict[str, Any]]:
    logger.exception("Unexpected error")
    metrics.add_metric(name="RequestsRefused", unit=MetricUnit.Count, value=1)
    return _error(500, "Internal error; the stack's logs have the details.")


# Both resolvers answer exceptions alike (a validation error only reaches `router` from an
# answer pydantic had to check: see http_api.plain).
EXCEPTION_HANDLERS: dict[type[Exception], Callable[[Any], Response[Any]]] = {
    RequestValidationError: invalid_request,
    ReplayRefused: replay_refused,
    StartOutcome: start_outcome,
    ExportError: export_error,
    Exception: unexpected,
}
for _exception, _answer in EXCEPTION_HANDLERS.items():
    router.exception_handler(_exception)(_answer)


@cache
def _validating() -> APIGatewayHttpResolver:
    """`app`: the routes as documented, validated by Powertools with pydantic (imported here)."""
    from lemlist_export.http_api.documented import Routes, resolver

    return resolver(
        Routes(
            create_export=create_export,
            get_export=get_export,
            list_exports=list_exports,
            retry_export=retry_export,
            exception_handlers=EXCEPTION_HANDLERS,
        )
    )


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
    event = router.current_event
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
    return resolve(as_json(event), context)


def resolve(request: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """The answer to a request let through: by `router` if http_api.plain vouches for it,
    else by the validating resolver (as it always was)."""
    if plain.well_formed(request):
        try:
            return router.resolve(request, context)
        except NeedsValidation:
            pass  # raised before the route did anything
    return _validating().resolve(request, context)
