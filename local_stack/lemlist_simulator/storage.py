"""The storage origin a `redirect` download points to: another host, like signed cloud storage.

It takes no credentials and refuses any it is sent, so a client leaking the lemlist key across
a redirect fails loudly instead of silently passing. It is not rate-limited.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable

from .auth import basic_auth_ok
from .faults import FaultQueue, answer_with_faults
from .http_io import Handled, Incoming, Response
from .state import SimulatorState

_FILE_PATH = re.compile(r"/exports/([A-Za-z0-9]+)\.csv")


class StorageApp:
    """Answers requests to `storage_origin`."""

    def __init__(
        self,
        state: SimulatorState,
        faults: FaultQueue,
        api_key: str,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._state = state
        self._faults = faults
        self._api_key = api_key
        self._sleep = sleep

    def handle(self, request: Incoming) -> Handled:
        found = _FILE_PATH.fullmatch(request.path)
        route = "download" if found and request.method in ("GET", "HEAD") else "unknown"
        # auth_ok is recorded so a test can tell the real key leaked from any other header.
        auth_ok = basic_auth_ok(request.authorization, self._api_key)
        if request.authorization is not None:
            return Handled(Response.text(400, "Credentials sent to storage"), route, auth_ok)
        if found is None or route == "unknown":
            return Handled(Response.text(404, "Not found"), route, auth_ok)
        token = found.group(1)
        response, faults = answer_with_faults(
            self._faults,
            route,
            lambda: self._file(token),
            self._sleep,
            sends_body=request.method != "HEAD",
        )
        return Handled(response, route, auth_ok, tuple(str(fault.kind) for fault in faults))

    def _file(self, token: str) -> Response:
        export = self._state.downloadable(token=token)
        if export is None or export.plan.download != "redirect":
            return Response.text(404, "File not found")
        return Response.csv(export.csv)
