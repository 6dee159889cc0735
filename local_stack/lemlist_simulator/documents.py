"""The JSON bodies lemlist sends, shaped like the examples in its OpenAPI document."""

from __future__ import annotations

import math
from typing import Any

from .clock import SimClock
from .state import TEAM_ID, USER_ID, Campaign, CampaignListShape, SimExport

TEAM_CREATED_AT = "2018-02-22T08:52:30.926Z"
MAX_PAGE_SIZE = 100


def export_started(export: SimExport, clock: SimClock) -> dict[str, Any]:
    """The answer of /export/start: `_id` and `id` carry the same value."""
    return {
        "_id": export.id,
        **_export_common(export, clock),
        "progressIndex": 0,
        "progressTime": clock.epoch_ms(export.started_at),
        "progressLastStepDuration": 0,
        "progressType": "starting",
        "progress": 0,
        "total": 0,
    }


def export_status(export: SimExport, clock: SimClock, api_base: str) -> dict[str, Any]:
    """The `status` object of /status: pending has no `_id`, done adds endedAt/fileSize/url."""
    progress = {
        "progressIndex": export.progress_index,
        "progressTime": clock.epoch_ms(export.progress_at),
        "progressLastStepDuration": export.last_step_ms,
    }
    if export.status == "pending":
        return {
            **_export_common(export, clock),
            **progress,
            "progressType": "processing",
            "progress": export.progress,
            "total": export.total,
        }
    ended_at = clock.iso(export.ended_at if export.ended_at is not None else export.progress_at)
    finished: dict[str, Any] = {"endedAt": ended_at}
    if export.status == "done":
        finished = {
            "fileSize": export.csv.size,
            "endedAt": ended_at,
            "url": f"{api_base}/files/exports/{export.file_name}",
        }
    return {
        "_id": export.id,
        **_export_common(export, clock),
        **progress,
        "progressType": export.status,
        "progress": 0,
        "total": 0,
        **finished,
    }


def team() -> dict[str, Any]:
    """GET /team. Older lemlist answers echoed the API key; this one never does."""
    return {
        "_id": TEAM_ID,
        "name": "Simulated Team",
        "userIds": [USER_ID],
        "createdBy": USER_ID,
        "createdAt": TEAM_CREATED_AT,
    }


def campaign(item: Campaign, clock: SimClock) -> dict[str, Any]:
    return {
        "_id": item.id,
        "name": item.name,
        "labels": list(item.labels),
        "createdAt": clock.iso(item.created_at),
        "createdBy": USER_ID,
        "status": item.status,
        "hasError": bool(item.errors),
        "errors": list(item.errors),
    }


def campaign_page(
    campaigns: list[Campaign],
    clock: SimClock,
    shape: CampaignListShape,
    limit: int,
    page: int,
) -> list[dict[str, Any]] | dict[str, Any]:
    """One page of GET /campaigns, as a bare array or with lemlist's pagination block."""
    limit = min(max(limit, 1), MAX_PAGE_SIZE)
    page = max(page, 1)
    selected = campaigns[(page - 1) * limit : page * limit]
    items = [campaign(item, clock) for item in selected]
    if shape == "array":
        return items
    total_pages = math.ceil(len(campaigns) / limit)
    return {
        "campaigns": items,
        "pagination": {
            "totalRecords": len(campaigns),
            "currentPage": page,
            "nextPage": page + 1 if page < total_pages else None,
            "totalPage": total_pages,
        },
    }


def _export_common(export: SimExport, clock: SimClock) -> dict[str, Any]:
    return {
        "id": export.id,
        "teamId": export.team_id,
        "campaignId": export.campaign_id,
        "campaignName": export.campaign_name,
        "status": export.status,
        "startedAt": clock.iso(export.started_at),
    }
