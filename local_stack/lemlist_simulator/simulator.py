"""LemlistSimulator: the facade tests and `make run` use to stand up a fake lemlist."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from types import TracebackType

from .api import ApiApp, Origins
from .clock import SimClock
from .csv_data import CsvSource, SyntheticCsv, as_csv_source
from .faults import Fault, FaultQueue
from .rate_limit import SlidingWindowLimiter
from .recording import RecordedRequest, RequestLog
from .server import RunningServer, serve
from .state import (
    Campaign,
    CampaignListShape,
    ExportPlan,
    SimExport,
    SimulatorState,
    random_id,
)
from .storage import StorageApp

DEFAULT_CAMPAIGN_ID = "cam_DemoCampaign01"
# Non-ASCII on purpose: file names, slugs and logs must cope with it.
DEFAULT_CAMPAIGN_NAME = "Q4 Outreach — Démo"
_WARM_SIZE_ROWS = 50_000


class LemlistSimulator:
    """A lemlist API origin plus a separate storage origin, on loopback, with fault injection.

    `clock` drives expiry and the dates in answers (default: time.monotonic).
    """

    def __init__(
        self,
        api_key: str = "sim-key",
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        storage_port: int = 0,
        clock: Callable[[], float] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._host = host
        self._port = port
        self._storage_port = storage_port
        self._clock = SimClock(clock)
        self._state = SimulatorState(self._clock)
        self._faults = FaultQueue()
        self._log = RequestLog()
        self._origins = Origins()
        limiter = SlidingWindowLimiter(self._clock.now, self._clock.wall)
        self._api = ApiApp(self._state, self._faults, limiter, api_key, self._origins, sleep)
        self._storage = StorageApp(self._state, self._faults, api_key, sleep)
        self._servers: list[RunningServer] = []
        self.add_campaign(DEFAULT_CAMPAIGN_ID, DEFAULT_CAMPAIGN_NAME, SyntheticCsv(rows=200))

    def __repr__(self) -> str:
        # Deliberately without the API key.
        where = self._origins.api_base or "not started"
        return f"LemlistSimulator({where})"

    # Lifecycle

    def start(self) -> LemlistSimulator:
        if self._servers:
            raise RuntimeError("simulator already started")
        api = serve(self._api, self._host, self._port, self._log, self._clock, "api")
        storage = serve(
            self._storage, self._host, self._storage_port, self._log, self._clock, "storage"
        )
        self._servers = [api, storage]
        url_host = "127.0.0.1" if self._host in ("", "0.0.0.0") else self._host
        self._origins.api_base = f"http://{url_host}:{api.port}/api"
        self._origins.storage_origin = f"http://{url_host}:{storage.port}"
        return self

    def stop(self) -> None:
        for running in self._servers:
            running.stop()
        self._servers = []

    def __enter__(self) -> LemlistSimulator:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        """The API base, like https://api.lemlist.com/api."""
        return self._require_started().api_base

    @property
    def storage_origin(self) -> str:
        return self._require_started().storage_origin

    # Scenario set-up

    def add_campaign(
        self,
        campaign_id: str | None = None,
        name: str | None = None,
        csv: bytes | CsvSource | None = None,
        plan: ExportPlan | None = None,
        *,
        status: str = "running",
        labels: tuple[str, ...] = (),
        errors: tuple[str, ...] = (),
    ) -> str:
        """Register (or replace) a campaign; returns its id, generated when not given."""
        campaign_id = campaign_id or random_id("cam_")
        source = as_csv_source(csv)
        if isinstance(source, SyntheticCsv) and source.rows >= _WARM_SIZE_ROWS:
            # The done status reports fileSize; without this, the first one would spend a
            # whole generating pass (seconds for millions of rows) inside one request.
            threading.Thread(target=lambda: source.size, name="csv-size", daemon=True).start()
        self._state.add_campaign(
            Campaign(
                id=campaign_id,
                name=name if name is not None else f"Campaign {campaign_id}",
                csv=source,
                plan=plan or ExportPlan(),
                status=status,
                created_at=self._clock.now(),
                labels=labels,
                errors=errors,
            )
        )
        return campaign_id

    def set_plan(self, campaign_id: str, plan: ExportPlan) -> None:
        """Change how exports started from now on behave (running ones keep their plan)."""
        self._state.set_plan(campaign_id, plan)

    def inject(self, route: str, *faults: Fault) -> None:
        """Queue one-shot faults, FIFO, for the next requests on `route` ("any" = every route)."""
        self._faults.push(route, faults)

    def clear_faults(self) -> None:
        self._faults.clear()

    @property
    def pending_faults(self) -> list[tuple[str, Fault]]:
        return self._faults.pending()

    @property
    def campaign_list_shape(self) -> CampaignListShape:
        return self._state.campaign_list_shape

    @campaign_list_shape.setter
    def campaign_list_shape(self, shape: CampaignListShape) -> None:
        if shape not in ("array", "paginated"):
            raise ValueError(f"unknown campaign list shape {shape!r}")
        self._state.campaign_list_shape = shape

    # Observation

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request on both origins, in arrival order (a snapshot)."""
        return self._log.snapshot()

    def clear_requests(self) -> None:
        self._log.clear()

    @property
    def exports(self) -> dict[str, SimExport]:
        """Created exports by id (snapshots)."""
        return self._state.exports()

    def _require_started(self) -> Origins:
        if not self._servers:
            raise RuntimeError("simulator not started: call start() or use it as a context")
        return self._origins
