"""The HTTP API's request and response shapes; Powertools validates against them and
generates the OpenAPI document from them (docs/openapi.json). Imported with pydantic on first
use only (http_api.documented); http_api.plain knows what they pass without them."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from lemlist_export.http_api.plain import LEMLIST_ID, MAX_TEXT


class StartExportBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    campaignId: str = Field(
        pattern=LEMLIST_ID,
        description="The lemlist campaign to export (letters, digits and underscores).",
        examples=["cam_A1B2C3D4E5F6G7H8I9"],
    )
    callbackUrl: str | None = Field(
        default=None,
        max_length=MAX_TEXT,
        description=(
            "Optional https URL on an allowed host (e.g. a Zapier catch hook) that also gets "
            "the final outcome: the stack's webhook payload, signed when the stack has a "
            "callbackSigningSecret (Slack's message format for hooks.slack.com)."
        ),
        examples=["https://hooks.zapier.com/hooks/catch/123456/abcdef/"],
    )


class ExportStarted(BaseModel):
    exportId: str
    campaignId: str
    campaignName: str
    status: str
    createdAt: str
    statusUrl: str


class RetryStarted(BaseModel):
    """A re-driven export: which export to follow, and where."""

    exportId: str = Field(
        description=(
            "The export to follow: the failed one itself when its file is copied again, "
            "else the new export started for it"
        )
    )
    retryOf: str = Field(description="The failed export that was retried")
    retry: int = Field(description="Which retry of it this is (1 for the first)")
    action: Literal["copyAgain", "newExport"] = Field(
        description=(
            "copyAgain: lemlist still holds the file, it is copied to S3 again; newExport: "
            "it does not (or never finished it), a new export of the campaign was started"
        )
    )
    reason: str = Field(description="Why this action, in a sentence")
    campaignId: str
    status: str = Field(description="The followed export's status: pending, delivering, ...")
    replay: bool = Field(
        description="True when this call repeated a retry already under way: nothing new started"
    )
    statusUrl: str = Field(description="GET it to follow the export")


class ExportView(BaseModel):
    """An export as the API shows it: no credentials, a presigned URL once delivered."""

    model_config = ConfigDict(extra="allow")

    exportId: str
    campaignId: str
    status: str = Field(description="pending, delivering, delivered or failed")
    createdAt: str
    updatedAt: str
    campaignName: str | None = None
    s3Uri: str | None = None
    bytes: int | None = None
    sha256: str | None = None
    error: str | None = None
    downloadUrl: str | None = Field(
        default=None, description="Presigned GET URL of the CSV, short-lived."
    )
    retryCount: int | None = Field(
        default=None, description="How many times it was retried (POST .../retry)"
    )
    retriedAs: str | None = Field(
        default=None, description="The new export a retry started for this failed one"
    )
    retryOf: str | None = Field(default=None, description="The failed export this one re-drives")


class ExportList(BaseModel):
    exports: list[ExportView]
    nextToken: str | None = Field(
        default=None, description="Pass as nextToken to get the next (older) page."
    )


class ErrorBody(BaseModel):
    message: str
    details: list[dict[str, Any]] | None = None
