"""The HTTP API's request and response shapes; Powertools validates against them and
generates the OpenAPI document from them (docs/openapi.json)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

LEMLIST_ID = r"^[A-Za-z0-9_]{1,64}$"


class StartExportBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    campaignId: str = Field(
        pattern=LEMLIST_ID,
        description="The lemlist campaign to export (letters, digits and underscores).",
        examples=["cam_A1B2C3D4E5F6G7H8I9"],
    )
    callbackUrl: str | None = Field(
        default=None,
        max_length=2048,
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


class ExportList(BaseModel):
    exports: list[ExportView]
    nextToken: str | None = Field(
        default=None, description="Pass as nextToken to get the next (older) page."
    )


class ErrorBody(BaseModel):
    message: str
    details: list[dict[str, Any]] | None = None
