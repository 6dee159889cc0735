"""The HTTP API's routes as its OpenAPI document describes them (docs/openapi.json, `make
openapi`), validated by Powertools with pydantic against their signatures and the models.

Imported on first use only: a request the plain checks vouch for (http_api.plain) is routed
without pydantic; this resolver answers every other one, and generates the document. What a
route does once its request is valid is the function's (`Routes`), the same both ways.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.event_handler.openapi.params import Header, Path, Query
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse
from pydantic import TypeAdapter, ValidationError

from lemlist_export.http_api.models import (
    ErrorBody,
    ExportList,
    ExportStarted,
    ExportView,
    RetryStarted,
    StartExportBody,
)
from lemlist_export.http_api.plain import (
    IDEMPOTENCY_KEY,
    LEMLIST_ID,
    LIMIT_DEFAULT,
    LIMIT_MAX,
    MAX_TEXT,
)


@dataclass(frozen=True)
class Routes:
    """What each route does with a valid request, and the answers to exceptions."""

    create_export: Callable[[dict[str, Any], str | None], Response[Any]]
    get_export: Callable[[str], dict[str, Any]]
    list_exports: Callable[[str, int, str | None], dict[str, Any]]
    retry_export: Callable[[str], Response[Any]]
    exception_handlers: Mapping[type[Exception], Callable[[Any], Response[Any]]]


def _errors(descriptions: dict[int, str]) -> dict[int, OpenAPIResponse]:
    """OpenAPI entries for error answers: every one is `{"message": "..."}`."""
    return {
        status: {"description": text, "content": {"application/json": {"model": ErrorBody}}}
        for status, text in descriptions.items()
    }


def resolver(routes: Routes) -> APIGatewayHttpResolver:
    """The validating resolver. Its routes' names and signatures are the document's (the
    operation ids are made of the names)."""
    app = APIGatewayHttpResolver(enable_validation=True)

    @app.post(
        "/exports",
        summary="Start an export",
        responses={
            202: {
                "description": "Started",
                "content": {"application/json": {"model": ExportStarted}},
            },
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
        return routes.create_export(body.model_dump(), idempotency_key)

    @app.get(
        "/exports/<exportId>",
        summary="Where an export stands",
        responses={
            200: {
                "description": "The export",
                "content": {"application/json": {"model": ExportView}},
            },
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
        return routes.get_export(exportId)

    @app.get(
        "/exports",
        summary="A campaign's recent exports, newest first",
        responses={
            200: {
                "description": "One page",
                "content": {"application/json": {"model": ExportList}},
            },
            **_errors(
                {400: "nextToken is not one of ours", 401: "No or bad token", 422: "Bad query"}
            ),
        },
    )
    def list_exports(
        campaign_id: Annotated[str, Query(alias="campaignId", pattern=LEMLIST_ID)],
        limit: Annotated[int, Query(ge=1, le=LIMIT_MAX)] = LIMIT_DEFAULT,
        next_token: Annotated[str | None, Query(alias="nextToken", max_length=MAX_TEXT)] = None,
    ) -> dict[str, Any]:
        return routes.list_exports(campaign_id, limit, next_token)

    @app.post(
        "/exports/<exportId>/retry",
        summary="Retry a failed export",
        description=(
            "Only a failed export can be retried. If lemlist still holds its file (it finished "
            "the export and its 24-hour download window has at least an hour left), the file "
            "is copied to S3 again and the same export is followed; otherwise a new export of "
            "the same campaign is started (the failed record's `retriedAs` names it). A "
            "repeated call answers the retry under way (`replay: true`) and starts nothing."
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
        return routes.retry_export(exportId)

    for exception, answer in routes.exception_handlers.items():
        app.exception_handler(exception)(answer)
    return app


_ADAPTERS: dict[Any, TypeAdapter[Any]] = {}


def validated_body(annotation: Any, body: Any) -> Any:
    """A route's body as Powertools' response validation leaves it (validated against the
    route's return type, then dumped as JSON values; a failure is a RequestValidationError
    located in the response): for a body the plain shapes (http_api.plain) cannot vouch for."""
    adapter = _ADAPTERS.get(annotation)
    if adapter is None:
        adapter = _ADAPTERS[annotation] = TypeAdapter(annotation)
    try:
        value = adapter.validate_python(body, from_attributes=True)
    except ValidationError as exc:
        errors = [{**error, "loc": ("response", *error["loc"])} for error in exc.errors()]
        raise RequestValidationError(errors, body=body) from None
    return adapter.dump_python(value, mode="json", by_alias=True)
