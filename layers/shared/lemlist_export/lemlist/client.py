"""lemlist API client: the export calls this product depends on, and nothing else.

Every call has a timeout, maps each failure to a typed error (see `core.errors`), honours
`Retry-After`, and keeps the API key out of messages. Every URL is judged by `url_judge`
and fetched in the form that was judged; Basic auth (empty user, key as password) goes to
URLs whose origin is the configured API origin, and nowhere else: a download on another
origin, or a redirect to one (and every hop after it), is fetched without it.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, NoReturn, Protocol, TypeVar
from urllib.parse import quote

import urllib3
from urllib3.exceptions import HTTPError as Urllib3HTTPError

from lemlist_export.core.errors import (
    DownloadUnavailableError,
    LemlistAuthError,
    LemlistBadTeamError,
    LemlistError,
    LemlistProtocolError,
    LemlistRequestError,
    LemlistTransientError,
    RateLimitedError,
    UnsafeUrlError,
)
from lemlist_export.core.identifiers import require_lemlist_id
from lemlist_export.core.redaction import register_secret
from lemlist_export.core.url_judge import JudgedUrl, UrlJudge
from lemlist_export.lemlist.answers import (
    campaign_not_found,
    campaign_page,
    download_not_found,
    error_text,
    generic_not_found,
    parse_retry_after,
    status_not_found,
)
from lemlist_export.lemlist.download import DownloadStream
from lemlist_export.lemlist.rate_gate import Priority
from lemlist_export.lemlist.status import ExportStatus

T = TypeVar("T")

DEFAULT_API_URL = "https://api.lemlist.com/api"
USER_AGENT = "lemlist-stats-export/0.1 (+urllib3)"
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_MAX_REDIRECTS = 5
# What a gate refusal costs the wait budget at least, so that refusals cannot loop forever.
_LEAST_GATE_WAIT = 0.05


@dataclass
class _WaitBudget:
    """The seconds one call may still spend waiting: for the gate, and for lemlist's 429s."""

    seconds: float

    @property
    def left(self) -> float:
        return max(0.0, self.seconds)

    def take(self, seconds: float) -> None:
        self.seconds -= seconds


class RateGate(Protocol):
    """Admits one request to lemlist; blocks or raises when the key's budget is spent.

    lemlist allows 20 requests per 2 s per API key across all routes. A gate shared by every
    worker using one key keeps them under it; the default admits everything and relies on
    lemlist's 429 + Retry-After. Status checks ask as ROUTINE, everything else as URGENT.
    """

    def acquire(self, priority: Priority = Priority.URGENT, max_wait: float = 0.0) -> float:
        """Wait for the request's turn (up to about `max_wait`) and return the seconds
        waited, or raise RateLimitedError (held_back) when its turn is further off."""
        ...


class _OpenGate:
    def acquire(self, priority: Priority = Priority.URGENT, max_wait: float = 0.0) -> float:
        return 0.0


@dataclass(frozen=True)
class ClientSettings:
    """How patient the client is. Defaults suit a Lambda answering within a few seconds."""

    base_url: str = DEFAULT_API_URL
    connect_timeout: float = 3.05
    read_timeout: float = 10.0
    # Longest Retry-After the client waits out by itself before raising RateLimitedError;
    # 0 hands every 429 to the caller (the state machine waits instead of a Lambda).
    max_rate_limit_wait: float = 0.0
    # At most this many of lemlist's 429s waited out per call, whatever their Retry-After: a
    # server that keeps answering "Retry-After: 0" (or a date in the past) cannot hold a
    # Lambda forever. The stack's own gate refusals count against max_rate_limit_wait only.
    max_rate_limit_retries: int = 3
    # Extra attempts for idempotent reads after a 5xx, a timeout or a broken connection.
    transient_retries: int = 0
    transient_backoff: float = 0.5
    # Which URLs may be called: deployed, https to public hosts only.
    urls: UrlJudge = field(default_factory=UrlJudge)


class LemlistClient:
    """Talks to one lemlist API base URL with one API key."""

    def __init__(
        self,
        api_key: str,
        settings: ClientSettings | None = None,
        *,
        http: urllib3.PoolManager | None = None,
        gate: RateGate | None = None,
        sleep: Callable[[float], None] = time.sleep,
        on_rate_limited: Callable[[RateLimitedError], None] | None = None,
    ) -> None:
        """`on_rate_limited` hears of every 429 lemlist (or a file server a download led to)
        answers, waited out or not, never of the stack's own gate holding a request back: the
        Lambdas count them (the LemlistRateLimited metric)."""
        if not api_key:
            raise LemlistAuthError("No lemlist API key is configured")
        register_secret(api_key)
        self._settings = settings or ClientSettings()
        self._base_url = self._settings.base_url.rstrip("/")
        self._urls = self._settings.urls
        self._origin = self._urls.judge(self._base_url, "The lemlist API URL").origin
        token = base64.b64encode(f":{api_key}".encode()).decode("ascii")
        register_secret(token)  # the key as it travels is as secret as the key
        self._auth_header = {"Authorization": f"Basic {token}"}
        self._http = http or urllib3.PoolManager(retries=False)
        self._gate = gate or _OpenGate()
        self._sleep = sleep
        self._on_rate_limited = on_rate_limited
        self._timeout = urllib3.Timeout(
            connect=self._settings.connect_timeout, read=self._settings.read_timeout
        )

    def __repr__(self) -> str:
        return f"LemlistClient(base_url={self._base_url!r})"

    # -- export calls ------------------------------------------------------------------

    def start_export(self, campaign_id: str) -> ExportStatus:
        """Start a new export. Not idempotent: every successful call is a new export."""
        path = f"/campaigns/{_segment(campaign_id)}/export/start"
        # Only a 429 is retried: lemlist refused it before doing anything. A 5xx or a
        # timeout may have created an export, so it is reported, never blindly repeated.
        body = self._get_json(path, not_found=campaign_not_found, idempotent=False)
        return ExportStatus.from_answer(body, campaign_id=campaign_id)

    def get_export_status(self, campaign_id: str, export_id: str) -> ExportStatus:
        path = f"/campaigns/{_segment(campaign_id)}/export/{_segment(export_id)}/status"
        body = self._get_json(
            path,
            not_found=status_not_found(export_id),
            idempotent=True,
            priority=Priority.ROUTINE,
        )
        return ExportStatus.from_answer(body, campaign_id=campaign_id)

    def list_campaigns(
        self, status: str | None = None, page_size: int = 100
    ) -> Iterator[dict[str, Any]]:
        """Every campaign (optionally in one status), across pages, in either answer shape."""
        page = 1
        while True:
            query = f"?version=v2&limit={page_size}&page={page}"
            if status:
                query += f"&status={quote(status, safe='')}"
            body = self._get_json(
                "/campaigns" + query, not_found=generic_not_found, idempotent=True
            )
            campaigns, has_next = campaign_page(body, page_size)
            yield from campaigns
            if not has_next:
                return
            page += 1

    def open_download(self, url: str) -> DownloadStream:
        """Open the CSV at `url` for streaming; the caller closes it (it is a context manager).

        Redirects are followed here, one hop at a time, each hop judged. The credentials go
        along only while every hop so far was on the API origin: once the chain has left it,
        a hop back (`Location: https://api.lemlist.com/api/team` from someone else's server)
        is fetched without them, so no other server can choose what lemlist is asked.
        """
        first = self._urls.judge(url, "lemlist's download URL")
        return self._patiently(lambda budget: self._open_download(first, budget), idempotent=True)

    def _open_download(self, first: JudgedUrl, budget: _WaitBudget) -> DownloadStream:
        current = first
        trusted = True  # every hop so far was on the API origin
        for _ in range(_MAX_REDIRECTS + 1):
            trusted = trusted and current.origin == self._origin
            headers = {"Accept-Encoding": "identity", "User-Agent": USER_AGENT}
            if trusted:
                headers.update(self._auth_header)
                budget.take(self._gate.acquire(max_wait=budget.left))
            response = self._send("GET", current, headers, stream=True)
            if response.status in _REDIRECTS:
                location = response.headers.get("Location")
                _discard(response)
                if not location:
                    raise LemlistProtocolError("The download redirected without a Location")
                current = self._urls.follow(current, location, "The download's redirect")
                continue
            if response.status == 200:
                return DownloadStream(response, current.shown)
            if not trusted:
                try:
                    _raise_for_file_server(response, current.shown)
                except RateLimitedError as exc:
                    self._heard_429(exc)
                    raise
            text = _read_error_text(response)
            self._raise_for(response.status, text, response, not_found=download_not_found)
        raise UnsafeUrlError(f"The download redirected more than {_MAX_REDIRECTS} times")

    # -- plumbing ----------------------------------------------------------------------

    def _get_json(
        self,
        path: str,
        *,
        not_found: Callable[[str], LemlistError],
        idempotent: bool,
        priority: Priority = Priority.URGENT,
    ) -> Any:
        url = self._urls.judge(self._base_url + path, "A lemlist API URL")
        if url.origin != self._origin:
            raise UnsafeUrlError("A lemlist API path left the API origin")
        headers = {"Accept": "application/json", "User-Agent": USER_AGENT, **self._auth_header}

        def once(budget: _WaitBudget) -> Any:
            budget.take(self._gate.acquire(priority, max_wait=budget.left))
            response = self._send("GET", url, headers, stream=False)
            if response.status == 200:
                return _json_body(response.data, path)
            self._raise_for(
                response.status, error_text(response.data), response, not_found=not_found
            )

        return self._patiently(once, idempotent=idempotent)

    def _patiently(self, call: Callable[[_WaitBudget], T], *, idempotent: bool) -> T:
        """`call`, again after a 429 whose Retry-After fits the wait budget (lemlist refused
        it, so it never happened), and after transient failures if the call is idempotent.
        Waiting for the stack's gate spends the same budget."""
        budget = _WaitBudget(self._settings.max_rate_limit_wait)
        rate_limits_left = self._settings.max_rate_limit_retries
        transient_left = self._settings.transient_retries if idempotent else 0
        attempt = 0
        while True:
            attempt += 1
            try:
                return call(budget)
            except RateLimitedError as exc:
                # The stack's gate holding a request back is bounded by the wait budget
                # alone: nothing reached lemlist.
                wait = exc.retry_after
                out_of_retries = rate_limits_left <= 0 and not exc.held_back
                if wait is None or wait > budget.seconds or out_of_retries:
                    raise
                if exc.held_back:
                    budget.take(max(wait, _LEAST_GATE_WAIT))
                else:
                    budget.take(wait)
                    rate_limits_left -= 1
                self._sleep(wait)
            except LemlistTransientError:
                if transient_left <= 0:
                    raise
                transient_left -= 1
                self._sleep(self._settings.transient_backoff * 2 ** (attempt - 1))

    def _send(
        self, method: str, url: JudgedUrl, headers: dict[str, str], *, stream: bool
    ) -> urllib3.BaseHTTPResponse:
        """The one place a request leaves: only ever for a judged URL, in its judged form."""
        try:
            return self._http.request(
                method,
                url.url,
                headers=headers,
                timeout=self._timeout,
                retries=False,
                redirect=False,
                preload_content=not stream,
            )
        except Urllib3HTTPError as exc:
            raise LemlistTransientError(
                f"{url.shown} did not answer {method}: {_reason(exc)}"
            ) from None

    def _heard_429(self, exc: RateLimitedError) -> None:
        if self._on_rate_limited is not None:
            self._on_rate_limited(exc)

    def _raise_for(
        self,
        status: int,
        text: str,
        response: urllib3.BaseHTTPResponse,
        *,
        not_found: Callable[[str], LemlistError],
    ) -> NoReturn:
        said = f": {text}" if text else ""
        if status == 401:
            raise LemlistAuthError("lemlist rejected the API key (401 Unauthorized)", status=401)
        if status == 400 and "bad team" in text.lower():
            raise LemlistBadTeamError(
                "lemlist answered 400 Bad team: the API key's team cannot use this campaign",
                status=400,
            )
        if status == 404:
            raise not_found(text)
        if status == 429:
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            when = f"retry after {retry_after:g} s" if retry_after is not None else "no Retry-After"
            limited = RateLimitedError(
                f"lemlist rate limit reached ({when})", retry_after=retry_after
            )
            self._heard_429(limited)
            raise limited
        if status >= 500:
            raise LemlistTransientError(f"lemlist answered {status}{said}", status=status)
        raise LemlistRequestError(f"lemlist answered {status}{said}", status=status)


def _raise_for_file_server(response: urllib3.BaseHTTPResponse, shown: str) -> NoReturn:
    """An error from a server that is not lemlist's API (signed storage a redirect led to):
    its status only. Its body is not lemlist's words and may quote the signed link; a 401
    there says nothing about the lemlist key."""
    status = response.status
    retry_after = parse_retry_after(response.headers.get("Retry-After"))
    _discard(response)
    if status in (404, 410):
        raise DownloadUnavailableError(
            f"The export file is gone: {shown} answered {status}", status=status
        )
    if status == 429:
        raise RateLimitedError(f"{shown} is rate limiting the download", retry_after=retry_after)
    if status >= 500:
        raise LemlistTransientError(f"{shown} answered {status}", status=status)
    raise LemlistRequestError(f"{shown} refused the download ({status})", status=status)


def _segment(identifier: str) -> str:
    return quote(require_lemlist_id(identifier), safe="")


def _json_body(data: bytes, path: str) -> Any:
    try:
        return json.loads(data)
    except (ValueError, RecursionError):
        # ValueError: not JSON, not UTF-8/16/32, or a number over Python's int digit limit;
        # RecursionError: nesting deeper than the recursion limit.
        route = path.split("?")[0]
        raise LemlistProtocolError(
            f"lemlist answered {route} with a body that is not JSON"
        ) from None


def _read_error_text(response: urllib3.BaseHTTPResponse) -> str:
    try:
        return error_text(response.read(4096))
    except (Urllib3HTTPError, OSError):
        return ""
    finally:
        _discard(response)


def _discard(response: urllib3.BaseHTTPResponse) -> None:
    response.drain_conn()
    response.release_conn()


def _reason(exc: Exception) -> str:
    """What went wrong on the wire, without urllib3's message (it can quote the URL)."""
    # NewConnectionError first: urllib3 makes it a subclass of its TimeoutError.
    if isinstance(exc, urllib3.exceptions.NewConnectionError):
        return "could not connect"
    if isinstance(exc, urllib3.exceptions.TimeoutError):
        return "timed out"
    if isinstance(exc, urllib3.exceptions.SSLError):
        return "TLS failed"
    return "the connection broke"
