"""The lemlist API origin: routing, rate limit, auth, faults, then the documented answers.

Order per request: rate limit (429), auth (401), queued fault, normal answer. The download
route is the exception for auth: whether it needs credentials depends on the export's plan.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from urllib.parse import unquote

from . import documents
from .auth import basic_auth_ok
from .faults import FaultQueue, answer_with_faults
from .http_io import Handled, Incoming, Response
from .rate_limit import SlidingWindowLimiter
from .state import Campaign, Lookup, SimExport, SimulatorState

_ROUTES: tuple[tuple[frozenset[str], re.Pattern[str], str], ...] = (
    (frozenset({"GET"}), re.compile(r"/api/campaigns/([^/]+)/export/start"), "start"),
    (frozenset({"GET"}), re.compile(r"/api/campaigns/([^/]+)/export/([^/]+)/status"), "status"),
    (
        frozenset({"PUT"}),
        re.compile(r"/api/campaigns/([^/]+)/export/([^/]+)/email/([^/]+)"),
        "email",
    ),
    # The first group tells a file URL from the blob path redirect_same_origin sends to.
    (frozenset({"GET", "HEAD"}), re.compile(r"/api/files/(exports)/([^/]+\.csv)"), "download"),
    (frozenset({"GET", "HEAD"}), re.compile(r"/api/files/(blobs)/([^/]+)\.csv"), "download"),
    (frozenset({"GET"}), re.compile(r"/api/team"), "team"),
    (frozenset({"GET"}), re.compile(r"/api/campaigns"), "campaigns"),
)
UNKNOWN_ROUTE = "unknown"


@dataclass
class Origins:
    """Where the two servers listen; filled in by start(), read when building URLs."""

    api_base: str = ""
    storage_origin: str = ""


def match_route(method: str, path: str) -> tuple[str, tuple[str, ...]]:
    for methods, pattern, route in _ROUTES:
        found = pattern.fullmatch(path)
        if found and method in methods:
            return route, tuple(unquote(group) for group in found.groups())
    return UNKNOWN_ROUTE, ()


class ApiApp:
    """Answers requests to the API origin (`{base_url}/...`)."""

    def __init__(
        self,
        state: SimulatorState,
        faults: FaultQueue,
        limiter: SlidingWindowLimiter,
        api_key: str,
        origins: Origins,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._state = state
        self._faults = faults
        self._limiter = limiter
        self._api_key = api_key
        self._origins = origins
        self._sleep = sleep

    def handle(self, request: Incoming) -> Handled:
        route, params = match_route(request.method, request.path)
        auth_ok = basic_auth_ok(request.authorization, self._api_key)
        decision = self._limiter.hit(request.authorization)
        rate_headers = decision.headers()
        if not decision.allowed:
            refused = Response.text(429, "Too many requests")
            refused = refused.with_headers({"Retry-After": str(decision.retry_after)})
            return Handled(refused.with_headers(rate_headers), route, auth_ok)
        if route != "download" and not auth_ok:
            return Handled(Response.empty(401, rate_headers), route, auth_ok)
        if route == UNKNOWN_ROUTE:
            not_found = Response.text(404, "Not found").with_headers(rate_headers)
            return Handled(not_found, route, auth_ok)
        response, faults = answer_with_faults(
            self._faults,
            route,
            lambda: self._answer(route, params, request.query, auth_ok),
            self._sleep,
            sends_body=request.method != "HEAD",
        )
        kinds = tuple(str(fault.kind) for fault in faults)
        return Handled(response.with_headers(rate_headers), route, auth_ok, kinds)

    def _answer(
        self, route: str, params: tuple[str, ...], query: Mapping[str, str], auth_ok: bool
    ) -> Response:
        match route:
            case "start":
                return self._start(params[0])
            case "status":
                return self._status(params[0], params[1])
            case "email":
                return self._email(params[0], params[1], params[2])
            case "download":
                return self._download(params[0], params[1], auth_ok)
            case "team":
                return Response.json(200, documents.team())
            case "campaigns":
                return self._campaigns(query)
        raise AssertionError(f"no handler for route {route}")

    def _start(self, campaign_id: str) -> Response:
        export = self._state.start_export(campaign_id)
        if export is None:
            return Response.text(404, "Campaign not found")
        return Response.json(200, documents.export_started(export, self._state.clock))

    def _status(self, campaign_id: str, export_id: str) -> Response:
        found = self._state.poll(campaign_id, export_id)
        if found is Lookup.NO_CAMPAIGN:
            return Response.text(404, "Campaign not found")
        if isinstance(found, Lookup):
            message = f"Export with id {export_id} not found"
            return Response.json(404, {"ok": False, "message": message})
        return Response.json(200, {"ok": True, "status": self._status_document(found)})

    def _email(self, campaign_id: str, export_id: str, email: str) -> Response:
        found = self._state.add_email(campaign_id, export_id, email)
        # This path's documented 404s are both text/plain, unlike /status.
        if found is Lookup.NO_CAMPAIGN:
            return Response.text(404, "Campaign not found")
        if isinstance(found, Lookup):
            return Response.text(404, "Export not found")
        document = {**self._status_document(found), "email": email}
        return Response.json(200, {"ok": True, "status": document})

    def _download(self, kind: str, name: str, auth_ok: bool) -> Response:
        if kind == "exports":
            export = self._state.downloadable(file_name=name)
        else:
            export = self._state.downloadable(token=name)
            if export is not None and export.plan.download != "redirect_same_origin":
                export = None
        if export is None:
            return Response.text(404, "File not found")
        if export.plan.download_requires_auth and not auth_ok:
            return Response.empty(401)
        if kind == "blobs" or export.plan.download == "direct":
            return Response.csv(export.csv)
        if export.plan.redirect_location is not None:
            target = self._crafted(export.plan.redirect_location, export)
        elif export.plan.download == "redirect":
            target = f"{self._origins.storage_origin}/exports/{export.storage_token}.csv"
        else:
            target = f"{self._origins.api_base}/files/blobs/{export.storage_token}.csv"
        return Response.empty(302, {"Location": target})

    def _campaigns(self, query: Mapping[str, str]) -> Response:
        try:
            limit = int(query.get("limit", documents.MAX_PAGE_SIZE))
            page = int(query.get("page", 1))
        except ValueError:
            return Response.text(400, "Bad params: limit and page must be integers")
        status = query.get("status")
        campaigns = [c for c in self._state.campaigns() if _has_status(c, status)]
        shape = self._state.campaign_list_shape
        body = documents.campaign_page(campaigns, self._state.clock, shape, limit, page)
        return Response.json(200, body)

    def _status_document(self, export: SimExport) -> dict[str, object]:
        document = documents.export_status(export, self._state.clock, self._origins.api_base)
        if export.status != "pending" and export.plan.download_url is not None:
            # A look-alike may put its link in an error status too.
            document["url"] = self._crafted(export.plan.download_url, export)
        if not export.plan.announce_size:
            document.pop("fileSize", None)
        return document

    def _crafted(self, template: str, export: SimExport) -> str:
        """A URL a look-alike lemlist would send (ExportPlan.download_url, redirect_location)."""
        api, storage = self._origins.api_base, self._origins.storage_origin
        return template.format(
            api=api,
            api_authority=api.split("/")[2],
            storage=storage,
            storage_authority=storage.split("/")[2],
            file=export.file_name,
        )


def _has_status(campaign: Campaign, status: str | None) -> bool:
    # lemlist: a campaign can be in several statuses at once, e.g. paused with errors.
    if status is None or campaign.status == status:
        return True
    return status == "errors" and bool(campaign.errors)
