"""LemlistClient against the lemlist simulator, over real loopback HTTP.

Assertions are on what came back (statuses, bytes, typed errors and their facts) and on what
the simulator recorded (auth, origins, timings), never on which functions were called.
"""

from __future__ import annotations

import hashlib
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from lemlist_export.core.errors import (
    CampaignNotFoundError,
    DownloadIncompleteError,
    DownloadUnavailableError,
    ExportExpiredError,
    InvalidRequestError,
    LemlistAuthError,
    LemlistBadTeamError,
    LemlistProtocolError,
    LemlistRequestError,
    LemlistTransientError,
    RateLimitedError,
    UnsafeUrlError,
)
from lemlist_export.core.url_judge import LOCAL_URLS
from lemlist_export.lemlist.client import ClientSettings, LemlistClient
from lemlist_export.lemlist.download import DownloadStream
from lemlist_export.lemlist.status import ExportStatus
from local_stack.lemlist_simulator import (
    DEFAULT_CAMPAIGN_ID,
    DEFAULT_CAMPAIGN_NAME,
    ExportPlan,
    Fault,
    LemlistSimulator,
    RecordedRequest,
    SyntheticCsv,
)

API_KEY = "k-123456789"
WRONG_KEY = "key-SECRET-1234567890"
CHUNK = 64 * 1024
RATE_LIMIT = 20
RATE_WINDOW_SECONDS = 2.0


# -- helpers -------------------------------------------------------------------------------


@pytest.fixture
def sim() -> Iterator[LemlistSimulator]:
    with LemlistSimulator(api_key=API_KEY) as simulator:
        yield simulator


class SimulatedTime:
    """One clock for the simulator and the client: the client's waits move it, at once, so a
    rate-limit test waits out lemlist's windows without sleeping them."""

    def __init__(self) -> None:
        self.value = 1_000.0
        self.calls: list[float] = []

    def now(self) -> float:
        return self.value

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)
        self.value += seconds


@pytest.fixture
def timed() -> Iterator[tuple[LemlistSimulator, SimulatedTime]]:
    """A simulator on simulated time, and the sleep that moves it."""
    clock = SimulatedTime()
    with LemlistSimulator(api_key=API_KEY, clock=clock.now) as simulator:
        yield simulator, clock


class RecordingSleep:
    """A real sleep that remembers how long it was asked to wait."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)
        time.sleep(seconds)


def client_for(
    sim: LemlistSimulator,
    *,
    api_key: str = API_KEY,
    sleep: RecordingSleep | None = None,
    **settings: Any,
) -> LemlistClient:
    options = ClientSettings(base_url=sim.base_url, urls=LOCAL_URLS, **settings)
    return LemlistClient(api_key, options, sleep=sleep or RecordingSleep())


def on_route(sim: LemlistSimulator, route: str) -> list[RecordedRequest]:
    return [request for request in sim.requests if request.route == route]


def poll_until_settled(client: LemlistClient, campaign_id: str, export_id: str) -> ExportStatus:
    for _ in range(10):
        status = client.get_export_status(campaign_id, export_id)
        if not status.is_pending:
            return status
    raise AssertionError(f"export {export_id} never finished")


def finished(client: LemlistClient, campaign_id: str) -> ExportStatus:
    """Start an export and poll it until lemlist stops saying pending."""
    started = client.start_export(campaign_id)
    return poll_until_settled(client, campaign_id, started.export_id)


def read_all(stream: DownloadStream) -> bytes:
    parts = []
    while chunk := stream.read(CHUNK):
        parts.append(chunk)
    return b"".join(parts)


def add_big_campaign(sim: LemlistSimulator, plan: ExportPlan) -> tuple[str, SyntheticCsv]:
    """A campaign whose CSV spans several 64 KiB chunks."""
    csv = SyntheticCsv(rows=3000, seed=7)
    assert csv.size > 3 * CHUNK
    return sim.add_campaign("cam_BigDownload0001", "Big download", csv, plan), csv


# -- start and status ----------------------------------------------------------------------


def test_start_export_returns_a_pending_status_with_the_ids_and_campaign_name(sim):
    status = client_for(sim).start_export(DEFAULT_CAMPAIGN_ID)

    assert status.status == "pending"
    assert status.is_pending
    assert status.export_id in sim.exports
    assert status.campaign_id == DEFAULT_CAMPAIGN_ID
    assert status.campaign_name == DEFAULT_CAMPAIGN_NAME
    assert status.url is None
    assert status.file_size is None


def test_every_start_creates_a_new_export(sim):
    client = client_for(sim)

    first = client.start_export(DEFAULT_CAMPAIGN_ID)
    second = client.start_export(DEFAULT_CAMPAIGN_ID)

    assert first.export_id != second.export_id
    assert set(sim.exports) == {first.export_id, second.export_id}


def test_status_is_pending_with_progress_and_no_url_then_done_with_url_and_size(sim):
    csv = b"campaignName,leadEmail\nDemo,zoe@example.com\n"
    campaign_id = sim.add_campaign("cam_StatusShapes001", "Status shapes", csv)
    client = client_for(sim)
    started = client.start_export(campaign_id)

    pending = client.get_export_status(campaign_id, started.export_id)
    assert pending.status == "pending"
    assert pending.export_id == started.export_id
    assert pending.progress is not None and pending.total is not None
    assert 0 <= pending.progress <= pending.total
    assert pending.url is None
    assert pending.file_size is None
    assert pending.ended_at is None

    done = poll_until_settled(client, campaign_id, started.export_id)
    assert done.status == "done"
    assert done.export_id == started.export_id
    assert done.url is not None and done.url.startswith(sim.base_url + "/files/exports/")
    assert done.file_size == len(csv)
    assert done.ended_at is not None
    # lemlist reports 0/0 once done: counts, not a percentage, and 0 is not "missing".
    assert done.progress == 0
    assert done.total == 0


def test_a_bare_status_object_is_parsed_like_the_wrapped_one():
    bare = {
        "id": "axp_Vv6lJOc8NlVVmDud5",
        "campaignId": "cam_A1B2C3D4E5F6G7H8I9",
        "campaignName": "Outreach",
        "status": "done",
        "fileSize": 23654,
        "url": "https://api.lemlist.com/api/files/exports/fil_axp_x.csv",
        "progress": 0,
        "total": 0,
    }

    from_bare = ExportStatus.from_answer(bare, campaign_id="cam_A1B2C3D4E5F6G7H8I9")
    wrapped = ExportStatus.from_answer(
        {"ok": True, "status": bare}, campaign_id="cam_A1B2C3D4E5F6G7H8I9"
    )

    assert from_bare == wrapped
    assert from_bare.export_id == "axp_Vv6lJOc8NlVVmDud5"
    assert from_bare.file_size == 23654
    assert from_bare.url == bare["url"]
    # The link is a credential of sorts: it never travels with the rest of the status.
    assert from_bare.raw == {k: v for k, v in bare.items() if k != "url"}


def test_a_status_with_only_underscore_id_and_loose_numbers_is_read():
    status = ExportStatus.from_answer(
        {"_id": "exp_123456", "status": "pending", "progress": "50", "total": 100.0},
        campaign_id="cam_Fallback",
    )

    assert status.export_id == "exp_123456"
    assert status.campaign_id == "cam_Fallback"
    assert status.progress == 50
    assert status.total == 100


def test_a_boolean_is_not_a_count():
    status = ExportStatus.from_answer(
        {"id": "axp_1", "status": "pending", "progress": True, "fileSize": False},
        campaign_id="cam_1",
    )

    assert status.progress is None
    assert status.file_size is None


@pytest.mark.parametrize(
    "body",
    [
        "<html>maintenance</html>",
        ["axp_1"],
        None,
        {"ok": True},
        {"status": "pending"},
        {"id": "axp_1"},
        {"id": "", "status": "done"},
        {"id": "axp_1", "status": ""},
        {"ok": True, "status": {"status": "done"}},
    ],
)
def test_an_answer_that_is_not_an_export_status_is_a_protocol_error(body):
    with pytest.raises(LemlistProtocolError):
        ExportStatus.from_answer(body, campaign_id="cam_1")


class _StaticAnswer(BaseHTTPRequestHandler):
    """Answers every GET with 200 and the server's `body`: what lemlist never should."""

    protocol_version = "HTTP/1.1"
    server: _StaticServer

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(self.server.body)))
        self.end_headers()
        self.wfile.write(self.server.body)

    def log_message(self, format: str, *args: object) -> None:
        return None


class _StaticServer(ThreadingHTTPServer):
    daemon_threads = True
    body = b""


@pytest.fixture
def static_server() -> Iterator[_StaticServer]:
    server = _StaticServer(("127.0.0.1", 0), _StaticAnswer)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02})
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


@pytest.mark.parametrize(
    ("body", "call"),
    [
        (b"<html>maintenance</html>", lambda c: list(c.list_campaigns())),
        (b"<html>maintenance</html>", lambda c: c.get_export_status("cam_1", "axp_1")),
        (b'["not", "a", "status"]', lambda c: c.get_export_status("cam_1", "axp_1")),
        (b'{"ok": true}', lambda c: c.start_export("cam_1")),
        (b'{"unexpected": "shape"}', lambda c: list(c.list_campaigns())),
    ],
)
def test_a_200_answer_we_cannot_read_is_a_protocol_error(static_server, body, call):
    static_server.body = body
    base_url = f"http://127.0.0.1:{static_server.server_address[1]}/api"
    client = LemlistClient(
        API_KEY, ClientSettings(base_url=base_url, urls=LOCAL_URLS, read_timeout=1)
    )

    with pytest.raises(LemlistProtocolError) as raised:
        call(client)

    assert API_KEY not in str(raised.value)


# -- auth ----------------------------------------------------------------------------------


def test_requests_carry_basic_auth_with_the_key_as_password(sim):
    client = client_for(sim)

    list(client.list_campaigns())
    finished(client, DEFAULT_CAMPAIGN_ID)

    assert sim.requests
    assert all(request.has_auth and request.auth_ok for request in sim.requests)


def test_a_wrong_key_is_an_auth_error_that_never_shows_the_key(sim):
    client = client_for(sim, api_key=WRONG_KEY)

    with pytest.raises(LemlistAuthError) as raised:
        client.start_export(DEFAULT_CAMPAIGN_ID)

    error = raised.value
    assert error.status == 401
    assert WRONG_KEY not in str(error)
    assert WRONG_KEY not in repr(error)
    assert WRONG_KEY not in repr(client)
    assert API_KEY not in repr(client_for(sim))
    [request] = sim.requests
    assert request.has_auth and not request.auth_ok
    assert sim.exports == {}


def test_an_empty_key_is_refused_before_any_request(sim):
    with pytest.raises(LemlistAuthError):
        LemlistClient("", ClientSettings(base_url=sim.base_url, urls=LOCAL_URLS))
    assert sim.requests == []


# -- lemlist's documented errors -----------------------------------------------------------


def test_bad_team_on_start_is_a_bad_team_error(sim):
    sim.inject("start", Fault.bad_team())

    with pytest.raises(LemlistBadTeamError) as raised:
        client_for(sim).start_export(DEFAULT_CAMPAIGN_ID)

    assert raised.value.status == 400
    assert sim.exports == {}


def test_an_unknown_campaign_on_start_is_campaign_not_found(sim):
    with pytest.raises(CampaignNotFoundError) as raised:
        client_for(sim).start_export("cam_NoSuchCampaign01")

    assert raised.value.status == 404
    assert "Campaign not found" in str(raised.value)


def test_an_unknown_export_on_status_is_expired_not_campaign_not_found(sim):
    with pytest.raises(ExportExpiredError) as raised:
        client_for(sim).get_export_status(DEFAULT_CAMPAIGN_ID, "axp_NeverStarted0001")

    assert raised.value.status == 404
    assert "axp_NeverStarted0001" in str(raised.value)


def test_an_unknown_campaign_on_status_is_campaign_not_found(sim):
    with pytest.raises(CampaignNotFoundError) as raised:
        client_for(sim).get_export_status("cam_NoSuchCampaign01", "axp_Whatever000001")

    assert raised.value.status == 404


def test_a_status_past_its_lifetime_is_expired(timed):
    sim, clock = timed
    client = client_for(sim)
    started = client.start_export(DEFAULT_CAMPAIGN_ID)
    assert client.get_export_status(DEFAULT_CAMPAIGN_ID, started.export_id).is_pending

    clock(2 * 3600)  # lemlist keeps a status 2 hours

    with pytest.raises(ExportExpiredError):
        client.get_export_status(DEFAULT_CAMPAIGN_ID, started.export_id)


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_a_server_error_is_transient_and_carries_the_status(sim, status):
    sim.inject("campaigns", Fault.server_error(status, "upstream trouble"))

    with pytest.raises(LemlistTransientError) as raised:
        list(client_for(sim).list_campaigns())

    assert raised.value.status == status
    assert str(status) in str(raised.value)
    assert "upstream trouble" in str(raised.value)


def test_an_answer_slower_than_the_read_timeout_is_a_transient_timeout(sim):
    sim.inject("status", Fault.slow(1.0))
    client = client_for(sim, read_timeout=0.5)
    started = client.start_export(DEFAULT_CAMPAIGN_ID)

    began = time.monotonic()
    with pytest.raises(LemlistTransientError) as raised:
        client.get_export_status(DEFAULT_CAMPAIGN_ID, started.export_id)

    assert "timed out" in str(raised.value)
    assert time.monotonic() - began < 0.95


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_a_refused_connection_is_transient_and_says_it_could_not_connect():
    base_url = f"http://127.0.0.1:{closed_port()}/api"
    client = LemlistClient(
        API_KEY, ClientSettings(base_url=base_url, urls=LOCAL_URLS, connect_timeout=0.5)
    )

    with pytest.raises(LemlistTransientError) as raised:
        list(client.list_campaigns())

    assert "could not connect" in str(raised.value)
    assert "timed out" not in str(raised.value)


@pytest.mark.parametrize(
    ("fault", "status", "text"),
    [
        (Fault.json_error(422, "limit must be at most 100"), 422, "limit must be at most 100"),
        (Fault.text_error(400, "Bad params"), 400, "Bad params"),
        (Fault.text_error(403, "Forbidden"), 403, "Forbidden"),
        (Fault.text_error(404, "Not found"), 404, "Not found"),
    ],
)
def test_another_client_error_is_a_request_error_with_lemlists_words(sim, fault, status, text):
    sim.inject("campaigns", fault)

    with pytest.raises(LemlistRequestError) as raised:
        list(client_for(sim).list_campaigns())

    assert not isinstance(raised.value, LemlistBadTeamError)
    assert raised.value.status == status
    assert text in str(raised.value)


@pytest.mark.parametrize("bad_id", ["cam_1/../x", "cam_1?x=1", "", "cam 1"])
def test_a_malformed_campaign_id_is_refused_before_any_request(sim, bad_id):
    with pytest.raises(InvalidRequestError):
        client_for(sim).start_export(bad_id)

    assert sim.requests == []


# -- rate limit ----------------------------------------------------------------------------


def test_a_429_is_handed_to_the_caller_with_retry_after_when_there_is_no_wait_budget(sim):
    sim.inject("status", Fault.rate_limited(3))
    sleep = RecordingSleep()
    client = client_for(sim, sleep=sleep, max_rate_limit_wait=0)

    with pytest.raises(RateLimitedError) as raised:
        client.get_export_status(DEFAULT_CAMPAIGN_ID, "axp_Whatever000001")

    assert raised.value.retry_after == 3
    assert raised.value.status == 429
    assert sleep.calls == []
    assert [r.status for r in on_route(sim, "status")] == [429]


def test_a_429_longer_than_the_wait_budget_is_handed_to_the_caller(sim):
    sim.inject("campaigns", Fault.rate_limited(10))
    sleep = RecordingSleep()

    with pytest.raises(RateLimitedError) as raised:
        list(client_for(sim, sleep=sleep, max_rate_limit_wait=5).list_campaigns())

    assert raised.value.retry_after == 10
    assert sleep.calls == []


def test_a_429_within_the_wait_budget_is_waited_out_then_retried(timed):
    sim, sleep = timed
    client = client_for(sim, sleep=sleep, max_rate_limit_wait=5)
    started = client.start_export(DEFAULT_CAMPAIGN_ID)
    sim.inject("status", Fault.rate_limited(1))

    status = client.get_export_status(DEFAULT_CAMPAIGN_ID, started.export_id)

    assert status.export_id == started.export_id
    assert sleep.calls == [1]
    refused, accepted = on_route(sim, "status")
    assert (refused.status, accepted.status) == (429, 200)
    assert accepted.time - refused.time >= 1.0


def test_429s_with_retry_after_zero_are_waited_out_a_bounded_number_of_times(sim):
    """A server that keeps answering "Retry-After: 0" (or a date in the past) fits any wait
    budget: the client hands the 429 over after max_rate_limit_retries, never loops."""
    sim.inject("status", *[Fault.rate_limited(0)] * 10)
    sleep = RecordingSleep()
    client = client_for(sim, sleep=sleep, max_rate_limit_wait=0, max_rate_limit_retries=3)

    with pytest.raises(RateLimitedError) as raised:
        client.get_export_status(DEFAULT_CAMPAIGN_ID, "axp_Whatever000001")

    assert raised.value.retry_after == 0
    assert sleep.calls == [0, 0, 0]
    assert [r.status for r in on_route(sim, "status")] == [429] * 4


class RefusingGate:
    """The stack's rate gate, refusing the first `refusals` requests as a busy one does."""

    def __init__(self, refusals: int, retry_after: float) -> None:
        self.left = refusals
        self.retry_after = retry_after

    def acquire(self, priority: Any = None, max_wait: float = 0.0) -> float:
        if self.left:
            self.left -= 1
            raise RateLimitedError("gate full", retry_after=self.retry_after, held_back=True)
        return 0.0


def test_the_gates_refusals_are_waited_out_within_the_budget_however_many(sim):
    """Under load the gate refuses often and briefly: only the wait budget bounds them (the
    retry count is for lemlist's own 429s), and a refusal never reaches lemlist."""
    sleep = RecordingSleep()
    options = ClientSettings(base_url=sim.base_url, urls=LOCAL_URLS, max_rate_limit_wait=5)
    client = LemlistClient(API_KEY, options, sleep=sleep, gate=RefusingGate(6, 0.5))

    client.start_export(DEFAULT_CAMPAIGN_ID)

    assert sleep.calls == [0.5] * 6
    assert [r.status for r in on_route(sim, "start")] == [200]
    endless = LemlistClient(API_KEY, options, sleep=sleep, gate=RefusingGate(10**6, 0.0))
    with pytest.raises(RateLimitedError):  # refusals without a wait still end
        endless.start_export(DEFAULT_CAMPAIGN_ID)


def test_a_429_without_retry_after_is_not_retried_even_with_a_budget(sim):
    sim.inject("status", Fault.rate_limited(None))
    sleep = RecordingSleep()
    client = client_for(sim, sleep=sleep, max_rate_limit_wait=5)

    with pytest.raises(RateLimitedError) as raised:
        client.get_export_status(DEFAULT_CAMPAIGN_ID, "axp_Whatever000001")

    assert raised.value.retry_after is None
    assert sleep.calls == []
    assert len(on_route(sim, "status")) == 1


def most_accepted_in_any_window(requests: list[RecordedRequest], window: float) -> int:
    times = sorted(r.time for r in requests if r.origin == "api" and r.status != 429)
    return max(sum(1 for t in times if start <= t < start + window) for start in times)


def test_a_burst_of_status_checks_waits_out_lemlists_rate_limit(timed):
    sim, sleep = timed
    client = client_for(sim, sleep=sleep, max_rate_limit_wait=5)
    started = client.start_export(DEFAULT_CAMPAIGN_ID)

    statuses = [client.get_export_status(DEFAULT_CAMPAIGN_ID, started.export_id) for _ in range(25)]

    assert len(statuses) == 25
    assert statuses[-1].status == "done"
    recorded = sim.requests
    assert any(r.status == 429 for r in recorded)
    assert sum(1 for r in recorded if r.route == "status" and r.status == 200) == 25
    assert most_accepted_in_any_window(recorded, RATE_WINDOW_SECONDS) <= RATE_LIMIT


# -- transient retries ---------------------------------------------------------------------


def test_status_checks_are_retried_after_server_errors(sim):
    client = client_for(sim, transient_retries=2, transient_backoff=0.01)
    started = client.start_export(DEFAULT_CAMPAIGN_ID)
    sim.inject("status", Fault.server_error(503), Fault.server_error(503))

    status = client.get_export_status(DEFAULT_CAMPAIGN_ID, started.export_id)

    assert status.export_id == started.export_id
    assert [r.status for r in on_route(sim, "status")] == [503, 503, 200]


def test_status_checks_give_up_once_the_retries_are_spent(sim):
    client = client_for(sim, transient_retries=1, transient_backoff=0.01)
    sim.inject("status", *[Fault.server_error(503)] * 3)

    with pytest.raises(LemlistTransientError) as raised:
        client.get_export_status(DEFAULT_CAMPAIGN_ID, "axp_Whatever000001")

    assert raised.value.status == 503
    assert len(on_route(sim, "status")) == 2


def test_a_status_check_that_timed_out_is_retried(sim):
    client = client_for(sim, read_timeout=0.3, transient_retries=1, transient_backoff=0.01)
    started = client.start_export(DEFAULT_CAMPAIGN_ID)
    sim.inject("status", Fault.slow(0.6))

    status = client.get_export_status(DEFAULT_CAMPAIGN_ID, started.export_id)

    assert status.export_id == started.export_id


def test_start_is_never_retried_after_a_server_error(sim):
    sim.inject("start", Fault.server_error(503))
    client = client_for(sim, transient_retries=2, transient_backoff=0.01)

    with pytest.raises(LemlistTransientError) as raised:
        client.start_export(DEFAULT_CAMPAIGN_ID)

    assert raised.value.status == 503
    assert len(on_route(sim, "start")) == 1
    assert sim.exports == {}


# -- downloads -----------------------------------------------------------------------------


def test_a_done_export_downloads_byte_for_byte(sim):
    campaign_id, csv = add_big_campaign(sim, ExportPlan(pending_polls=0))
    client = client_for(sim)
    done = finished(client, campaign_id)
    assert done.url is not None

    with client.open_download(done.url) as stream:
        assert stream.content_length == done.file_size == csv.size
        data = read_all(stream)

    assert hashlib.sha256(data).hexdigest() == csv.sha256()
    assert stream.bytes_read == csv.size


def test_a_redirect_to_storage_is_followed_without_credentials(sim):
    campaign_id, csv = add_big_campaign(sim, ExportPlan(pending_polls=0, download="redirect"))
    client = client_for(sim)
    done = finished(client, campaign_id)
    assert done.url is not None

    with client.open_download(done.url) as stream:
        data = read_all(stream)

    assert hashlib.sha256(data).hexdigest() == csv.sha256()
    hops = on_route(sim, "download")
    assert [(hop.origin, hop.status, hop.has_auth) for hop in hops] == [
        ("api", 302, True),
        ("storage", 200, False),
    ]


def test_a_same_origin_redirect_keeps_the_credentials(sim):
    plan = ExportPlan(pending_polls=0, download="redirect_same_origin", download_requires_auth=True)
    campaign_id, csv = add_big_campaign(sim, plan)
    client = client_for(sim)
    done = finished(client, campaign_id)
    assert done.url is not None

    with client.open_download(done.url) as stream:
        data = read_all(stream)

    assert hashlib.sha256(data).hexdigest() == csv.sha256()
    hops = on_route(sim, "download")
    assert [(hop.origin, hop.status, hop.auth_ok) for hop in hops] == [
        ("api", 302, True),
        ("api", 200, True),
    ]
    assert "/files/blobs/" in hops[1].path


def test_a_download_cut_short_raises_incomplete_with_the_bytes_received(sim):
    campaign_id, csv = add_big_campaign(sim, ExportPlan(pending_polls=0))
    client = client_for(sim)
    done = finished(client, campaign_id)
    assert done.url is not None
    sim.inject("download", Fault.truncate(after_bytes=1000))

    with client.open_download(done.url) as stream, pytest.raises(DownloadIncompleteError) as raised:
        read_all(stream)

    # 1000 bytes arrived before the hang-up; the message must say so, not "0 bytes".
    assert "after 1000 bytes" in str(raised.value)
    assert str(csv.size) in str(raised.value)


def test_an_unknown_file_is_unavailable(sim):
    with pytest.raises(DownloadUnavailableError) as raised:
        client_for(sim).open_download(sim.base_url + "/files/exports/fil_axp_gone_export.csv")

    assert raised.value.status == 404


def test_a_file_past_its_availability_is_unavailable(timed):
    sim, clock = timed
    sim.set_plan(DEFAULT_CAMPAIGN_ID, ExportPlan(pending_polls=0))
    client = client_for(sim)
    done = finished(client, DEFAULT_CAMPAIGN_ID)
    assert done.url is not None

    clock(24 * 3600)  # lemlist deletes the file 24 hours after it is ready

    with pytest.raises(DownloadUnavailableError):
        client.open_download(done.url)


def test_plain_http_to_another_host_is_refused_before_any_request(sim):
    with pytest.raises(UnsafeUrlError):
        client_for(sim).open_download("http://example.com/x.csv")

    assert sim.requests == []


def test_a_plain_http_api_base_is_refused_at_construction():
    with pytest.raises(UnsafeUrlError):
        LemlistClient(API_KEY, ClientSettings(base_url="http://api.lemlist.com/api"))


# -- campaigns and team --------------------------------------------------------------------


@pytest.mark.parametrize("shape", ["array", "paginated"])
@pytest.mark.parametrize("added", [7, 8])
def test_list_campaigns_returns_every_campaign_once_across_pages(sim, shape, added):
    sim.campaign_list_shape = shape
    expected = {DEFAULT_CAMPAIGN_ID}
    expected |= {sim.add_campaign(f"cam_Listed{n:010d}") for n in range(added)}

    listed = Counter(c["_id"] for c in client_for(sim).list_campaigns(page_size=3))

    assert set(listed) == expected
    assert set(listed.values()) == {1}
    pages = on_route(sim, "campaigns")
    assert all(p.query["limit"] == "3" and p.query["version"] == "v2" for p in pages)
    assert [p.query["page"] for p in pages][:3] == ["1", "2", "3"]


@pytest.mark.parametrize("shape", ["array", "paginated"])
def test_list_campaigns_filters_by_status(sim, shape):
    sim.campaign_list_shape = shape
    paused = {sim.add_campaign(f"cam_Paused{n:010d}", status="paused") for n in range(4)}
    for n in range(3):
        sim.add_campaign(f"cam_Running{n:09d}", status="running")

    listed = [c["_id"] for c in client_for(sim).list_campaigns(status="paused", page_size=3)]

    assert sorted(listed) == sorted(paused)
    assert all(p.query["status"] == "paused" for p in on_route(sim, "campaigns"))
