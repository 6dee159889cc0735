"""Campaigns and exports, and the lifecycle rules lemlist documents for exports.

All mutation goes through SimulatorState under one lock; readers get snapshots.
"""

from __future__ import annotations

import copy
import re
import secrets
import string
import threading
import unicodedata
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal

from .clock import SimClock
from .csv_data import CsvSource

Outcome = Literal["done", "error", "never"]
DownloadMode = Literal["direct", "redirect", "redirect_same_origin"]
CampaignListShape = Literal["array", "paginated"]

TEAM_ID = "tea_SimulatorTeam0001"
USER_ID = "usr_SimulatorUser0001"
_ID_ALPHABET = string.ascii_letters + string.digits


@dataclass(frozen=True)
class ExportPlan:
    """How exports of a campaign behave; read once when an export starts."""

    pending_polls: int = 2
    # Time-based instead: the export stays pending until it is this many seconds old (of the
    # simulator's clock), however often it is polled; pending_polls is then ignored.
    ready_after_seconds: float | None = None
    outcome: Outcome = "done"
    # lemlist: a status lives 2 hours; then it answers 404 "Export ... not found".
    expire_after_seconds: float = 7200.0
    download: DownloadMode = "direct"
    download_requires_auth: bool = False
    # lemlist: the file must be downloaded within 24 hours of being done.
    file_available_for_seconds: float = 86400.0
    # Whether the done status gives fileSize (lemlist documents it; a client must cope
    # without it all the same).
    announce_size: bool = True
    # A look-alike lemlist: the done status's `url`, or the download's redirect `Location`,
    # crafted from a template with {api} (the API base URL), {api_authority} (its host:port),
    # {storage} (the storage origin), {storage_authority} and {file} (the file name).
    download_url: str | None = None
    redirect_location: str | None = None

    def __post_init__(self) -> None:
        if self.pending_polls < 0:
            raise ValueError("pending_polls must be >= 0")
        if self.ready_after_seconds is not None and not self.ready_after_seconds >= 0:
            raise ValueError("ready_after_seconds must be >= 0")
        if self.outcome not in ("done", "error", "never"):
            raise ValueError(f"unknown outcome {self.outcome!r}")
        if self.download not in ("direct", "redirect", "redirect_same_origin"):
            raise ValueError(f"unknown download mode {self.download!r}")


@dataclass
class Campaign:
    id: str
    name: str
    csv: CsvSource
    plan: ExportPlan
    status: str
    created_at: float
    labels: tuple[str, ...] = ()
    errors: tuple[str, ...] = ()


@dataclass
class SimExport:
    """One export, keyed by its id as lemlist does; `csv` and `plan` are fixed at start."""

    id: str
    campaign_id: str
    campaign_name: str
    team_id: str
    plan: ExportPlan
    csv: CsvSource
    started_at: float
    file_name: str
    storage_token: str
    status: Literal["pending", "done", "error"] = "pending"
    polls: int = 0
    progress_index: int = 0
    progress_at: float = 0.0
    last_step_ms: int = 0
    ended_at: float | None = None
    emails: list[str] = field(default_factory=list)

    @property
    def progress(self) -> int:
        """Grows with polls but never reaches 100: lemlist's numbers are not a percentage."""
        if self.status != "pending" or self.polls == 0:
            return 0
        open_ended = self.plan.outcome == "never" or self.plan.ready_after_seconds is not None
        steps = self.polls + 1 if open_ended else self.plan.pending_polls + 1
        return min(99, self.polls * 100 // steps)

    @property
    def total(self) -> int:
        return 100 if self.status == "pending" and self.polls else 0


class Lookup(StrEnum):
    """Why an export could not be returned; the two map to different 404 bodies."""

    NO_CAMPAIGN = "no_campaign"
    NO_EXPORT = "no_export"


class SimulatorState:
    """The simulated lemlist account: one team, its campaigns, their exports."""

    def __init__(self, clock: SimClock) -> None:
        self.clock = clock
        self.campaign_list_shape: CampaignListShape = "array"
        self._lock = threading.RLock()
        self._campaigns: dict[str, Campaign] = {}
        self._exports: dict[str, SimExport] = {}

    def add_campaign(self, campaign: Campaign) -> None:
        with self._lock:
            self._campaigns[campaign.id] = campaign

    def set_plan(self, campaign_id: str, plan: ExportPlan) -> None:
        with self._lock:
            if campaign_id not in self._campaigns:
                raise KeyError(f"no campaign {campaign_id!r}; add_campaign() it first")
            self._campaigns[campaign_id].plan = plan

    def campaigns(self) -> list[Campaign]:
        with self._lock:
            return [copy.copy(campaign) for campaign in self._campaigns.values()]

    def exports(self) -> dict[str, SimExport]:
        with self._lock:
            return {export_id: _snapshot(export) for export_id, export in self._exports.items()}

    def start_export(self, campaign_id: str) -> SimExport | None:
        """A new export on every call: lemlist exports are keyed by export id."""
        with self._lock:
            campaign = self._campaigns.get(campaign_id)
            if campaign is None:
                return None
            now = self.clock.now()
            export_id = random_id("axp_")
            export = SimExport(
                id=export_id,
                campaign_id=campaign.id,
                campaign_name=campaign.name,
                team_id=TEAM_ID,
                plan=campaign.plan,
                csv=campaign.csv,
                started_at=now,
                progress_at=now,
                file_name=f"fil_{export_id}_{slugify(campaign.name)}.csv",
                storage_token=secrets.token_hex(16),
            )
            self._exports[export_id] = export
            return _snapshot(export)

    def poll(self, campaign_id: str, export_id: str) -> SimExport | Lookup:
        """A status call: counts one poll and moves the export on when its plan says so."""
        with self._lock:
            found = self._find_live(campaign_id, export_id)
            if isinstance(found, Lookup):
                return found
            now = self.clock.now()
            if found.status == "pending":
                found.progress_index += 1
                found.last_step_ms = int((now - found.progress_at) * 1000)
                found.progress_at = now
                if _still_pending(found, now):
                    found.polls += 1
                else:
                    found.status = "done" if found.plan.outcome == "done" else "error"
                    found.ended_at = now
            return _snapshot(found)

    def add_email(self, campaign_id: str, export_id: str, email: str) -> SimExport | Lookup:
        with self._lock:
            found = self._find_live(campaign_id, export_id)
            if isinstance(found, Lookup):
                return found
            found.emails.append(email)
            return _snapshot(found)

    def downloadable(self, *, file_name: str = "", token: str = "") -> SimExport | None:
        """The done export whose file is named so (or has that storage token), if not deleted."""
        with self._lock:
            now = self.clock.now()
            for export in self._exports.values():
                if (file_name and export.file_name == file_name) or (
                    token and export.storage_token == token
                ):
                    if export.status != "done" or export.ended_at is None:
                        return None
                    if now - export.ended_at >= export.plan.file_available_for_seconds:
                        return None
                    return _snapshot(export)
            return None

    def _find_live(self, campaign_id: str, export_id: str) -> SimExport | Lookup:
        if campaign_id not in self._campaigns:
            return Lookup.NO_CAMPAIGN
        export = self._exports.get(export_id)
        if export is None or export.campaign_id != campaign_id:
            return Lookup.NO_EXPORT
        if self.clock.now() - export.started_at >= export.plan.expire_after_seconds:
            return Lookup.NO_EXPORT  # lemlist forgets a status after 2 hours
        return export


def _still_pending(export: SimExport, now: float) -> bool:
    """Whether this poll still finds the export pending (its plan's polls or time not up)."""
    plan = export.plan
    if plan.outcome == "never":
        return True
    if plan.ready_after_seconds is not None:
        return now - export.started_at < plan.ready_after_seconds
    return export.polls < plan.pending_polls


def random_id(prefix: str) -> str:
    """lemlist-style id: a prefix and 17 random alphanumerics."""
    return prefix + "".join(secrets.choice(_ID_ALPHABET) for _ in range(17))


def slugify(name: str) -> str:
    """The campaign-name part of lemlist's file names: ASCII, lower case, underscores."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    return re.sub(r"[^a-z0-9]+", "_", ascii_name.lower()).strip("_") or "export"


def _snapshot(export: SimExport) -> SimExport:
    clone = copy.copy(export)
    clone.emails = list(export.emails)
    return clone
