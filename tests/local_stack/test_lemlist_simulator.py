"""The lemlist simulator over real loopback HTTP: what lemlist documents, plus the faults."""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
import re
import threading
import time
import tracemalloc
from collections.abc import Iterator
from typing import Any

import pytest
import urllib3
from urllib3.exceptions import ProtocolError, ReadTimeoutError

from local_stack.lemlist_simulator import (
    DEFAULT_CAMPAIGN_ID,
    ExportPlan,
    Fault,
    LemlistSimulator,
    SyntheticCsv,
)

API_KEY = "sk-simulated-9f3c2a71-never-log-me"
AUTH = urllib3.make_headers(basic_auth=f":{API_KEY}")
CAMPAIGN = "cam_TestCampaign00000001"
RESET_DATE = re.compile(
    r"^(Mon|Tue|Wed|Thu|Fri|Sat|Sun) [A-Z][a-z]{2} \d{2} \d{4} \d{2}:\d{2}:\d{2} "
    r"GMT\+0000 \(Coordinated Universal Time\)$"
)


@pytest.fixture
def sim() -> Iterator[LemlistSimulator]:
    with LemlistSimulator(api_key=API_KEY) as simulator:
        yield simulator


@pytest.fixture
def http() -> Iterator[urllib3.PoolManager]:
    manager = urllib3.PoolManager(retries=False, timeout=urllib3.Timeout(connect=2, read=5))
    yield manager
    manager.clear()


def call(
    http: urllib3.PoolManager,
    sim: LemlistSimulator,
    path: str,
    *,
    method: str = "GET",
    auth: bool = True,
    **kwargs: Any,
) -> urllib3.BaseHTTPResponse:
    headers = dict(AUTH) if auth else {}
    return http.request(method, f"{sim.base_url}{path}", headers=headers, redirect=False, **kwargs)


def start(http: urllib3.PoolManager, sim: LemlistSimulator, campaign: str = CAMPAIGN) -> str:
    response = call(http, sim, f"/campaigns/{campaign}/export/start")
    assert response.status == 200, response.data
    return str(response.json()["id"])


def status(
    http: urllib3.PoolManager, sim: LemlistSimulator, export_id: str, campaign: str = CAMPAIGN
) -> urllib3.BaseHTTPResponse:
    return call(http, sim, f"/campaigns/{campaign}/export/{export_id}/status")


def finished_export(
    http: urllib3.PoolManager, sim: LemlistSimulator, plan: ExportPlan, csv_data: Any = None
) -> dict[str, Any]:
    """Add a campaign with `plan` (pending_polls=0) and poll it to done; the status object."""
    sim.add_campaign(CAMPAIGN, "Test campaign", csv_data, plan)
    done = status(http, sim, start(http, sim)).json()["status"]
    assert done["status"] == "done"
    return dict(done)


# Auth


@pytest.mark.parametrize(
    "headers",
    [
        {},
        urllib3.make_headers(basic_auth=":wrong-key"),
        urllib3.make_headers(basic_auth=f"user:{API_KEY}"),  # lemlist wants an empty user
        urllib3.make_headers(basic_auth=API_KEY),  # no colon at all
        {"Authorization": f"Bearer {API_KEY}"},
    ],
    ids=["missing", "wrong-key", "non-empty-user", "no-colon", "bearer"],
)
def test_bad_credentials_get_401_without_body(
    sim: LemlistSimulator, http: urllib3.PoolManager, headers: dict[str, str]
) -> None:
    for path in ("/team", f"/campaigns/{DEFAULT_CAMPAIGN_ID}/export/start", "/campaigns"):
        response = http.request("GET", f"{sim.base_url}{path}", headers=headers)
        assert response.status == 401
        assert response.data == b""
        assert response.headers["Content-Length"] == "0"
    assert sim.exports == {}


def test_empty_user_and_key_as_password_is_accepted(
    sim: LemlistSimulator, http: urllib3.PoolManager
) -> None:
    response = call(http, sim, "/team")
    assert response.status == 200
    assert response.headers["Content-Type"] == "application/json; charset=utf-8"
    assert API_KEY not in response.data.decode()


# Rate limit


def test_21st_request_within_2_seconds_is_rate_limited_then_recovers(
    sim: LemlistSimulator, http: urllib3.PoolManager
) -> None:
    sim.add_campaign(CAMPAIGN, "Redirected", plan=ExportPlan(pending_polls=0, download="redirect"))
    url = status(http, sim, start(http, sim)).json()["status"]["url"]
    storage_url = call(http, sim, url.removeprefix(sim.base_url)).headers["Location"]
    remaining = [int(call(http, sim, "/team").headers["X-RateLimit-Remaining"]) for _ in range(17)]
    assert remaining == list(range(16, -1, -1))  # 3 requests above already counted

    refused = call(http, sim, "/team")
    assert refused.status == 429
    assert refused.data == b"Too many requests"
    assert refused.headers["X-RateLimit-Limit"] == "20"
    assert refused.headers["X-RateLimit-Remaining"] == "0"
    assert RESET_DATE.match(refused.headers["X-RateLimit-Reset"])
    retry_after = int(refused.headers["Retry-After"])
    assert 1 <= retry_after <= 2

    # The storage origin is another host: no rate limit there, and no rate-limit headers.
    for _ in range(25):
        stored = http.request("GET", storage_url)
        assert stored.status == 200
        assert "X-RateLimit-Limit" not in stored.headers

    time.sleep(retry_after)
    assert call(http, sim, "/team").status == 200


def test_every_api_answer_carries_rate_limit_headers(
    sim: LemlistSimulator, http: urllib3.PoolManager
) -> None:
    for response in (
        call(http, sim, "/team"),
        call(http, sim, "/team", auth=False),
        call(http, sim, "/nothing-here"),
        call(http, sim, "/campaigns/cam_Unknown/export/start"),
    ):
        assert response.headers["X-RateLimit-Limit"] == "20"
        assert int(response.headers["X-RateLimit-Remaining"]) >= 0
        assert RESET_DATE.match(response.headers["X-RateLimit-Reset"])


def test_faulted_requests_still_count_for_the_rate_limit(
    sim: LemlistSimulator, http: urllib3.PoolManager
) -> None:
    sim.inject("team", *[Fault.server_error()] * 20)
    assert {call(http, sim, "/team").status for _ in range(20)} == {503}
    assert call(http, sim, "/team").status == 429


# Export lifecycle


def test_full_export_lifecycle(sim: LemlistSimulator, http: urllib3.PoolManager) -> None:
    data = SyntheticCsv(rows=300, seed=7)
    sim.add_campaign(CAMPAIGN, "Lifecycle — été", data, ExportPlan(pending_polls=3))
    export_id = start(http, sim)
    assert re.fullmatch(r"axp_[A-Za-z0-9]{17}", export_id)

    progress = []
    for _ in range(3):
        pending = status(http, sim, export_id).json()
        assert pending["ok"] is True
        body = pending["status"]
        assert body["status"] == "pending"
        assert body["progressType"] == "processing"
        assert {"_id", "url", "fileSize", "endedAt"}.isdisjoint(body)
        progress.append(body["progress"])
    assert progress == sorted(progress) and progress[0] < progress[-1] < 100

    done = status(http, sim, export_id).json()["status"]
    assert done["status"] == done["progressType"] == "done"
    assert done["_id"] == done["id"] == export_id
    assert done["fileSize"] == data.size
    assert done["url"] == f"{sim.base_url}/files/exports/fil_{export_id}_lifecycle_ete.csv"

    download = http.request("GET", done["url"])  # no auth needed by default
    assert download.status == 200
    assert download.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert int(download.headers["Content-Length"]) == len(download.data) == done["fileSize"]
    assert download.data == data.to_bytes()
    assert hashlib.sha256(download.data).hexdigest() == data.sha256()
    assert status(http, sim, export_id).json()["status"] == done  # done stays done


def test_every_start_creates_a_new_export(sim: LemlistSimulator, http: urllib3.PoolManager) -> None:
    first, second = start(http, sim, DEFAULT_CAMPAIGN_ID), start(http, sim, DEFAULT_CAMPAIGN_ID)
    assert first != second
    assert set(sim.exports) == {first, second}
    assert sim.exports[first].campaign_name == "Q4 Outreach — Démo"


def test_outcome_error_has_no_url_and_no_reason(
    sim: LemlistSimulator, http: urllib3.PoolManager
) -> None:
    sim.add_campaign(CAMPAIGN, "Broken", plan=ExportPlan(pending_polls=1, outcome="error"))
    export_id = start(http, sim)
    assert status(http, sim, export_id).json()["status"]["status"] == "pending"
    failed = status(http, sim, export_id).json()["status"]
    assert failed["status"] == "error"
    assert {"url", "fileSize", "reason", "error", "message"}.isdisjoint(failed)


def test_set_plan_changes_future_exports_only(
    sim: LemlistSimulator, http: urllib3.PoolManager
) -> None:
    sim.add_campaign(CAMPAIGN, "Plans", plan=ExportPlan(pending_polls=0))
    before = start(http, sim)
    sim.set_plan(CAMPAIGN, ExportPlan(pending_polls=0, outcome="error"))
    after = start(http, sim)
    assert status(http, sim, before).json()["status"]["status"] == "done"
    assert status(http, sim, after).json()["status"]["status"] == "error"


def test_a_time_based_export_is_ready_after_its_seconds_however_often_polled(
    http: urllib3.PoolManager,
) -> None:
    now = [1000.0]
    with LemlistSimulator(api_key=API_KEY, clock=lambda: now[0]) as sim:
        sim.add_campaign(CAMPAIGN, "Timed", plan=ExportPlan(ready_after_seconds=30))
        export_id = start(http, sim)
        for _ in range(5):  # more polls than any pending_polls default
            assert status(http, sim, export_id).json()["status"]["status"] == "pending"
        now[0] += 29.9
        assert status(http, sim, export_id).json()["status"]["status"] == "pending"
        now[0] += 0.1
        done = status(http, sim, export_id).json()["status"]
        assert done["status"] == "done" and done["url"]
        assert sim.exports[export_id].ended_at == now[0]
    with pytest.raises(ValueError, match="ready_after_seconds"):
        ExportPlan(ready_after_seconds=-1)


def test_expiry_of_status_and_file(sim: LemlistSimulator, http: urllib3.PoolManager) -> None:
    sim.add_campaign("cam_Never", "Never", plan=ExportPlan(outcome="never", expire_after_seconds=1))
    never = start(http, sim, "cam_Never")
    short = ExportPlan(pending_polls=0, expire_after_seconds=1, file_available_for_seconds=1)
    short_file = finished_export(http, sim, short)["url"]
    sim.add_campaign("cam_Kept", "Kept", plan=ExportPlan(pending_polls=0, expire_after_seconds=1))
    kept = start(http, sim, "cam_Kept")
    kept_file = status(http, sim, kept, "cam_Kept").json()["status"]["url"]
    assert status(http, sim, never, "cam_Never").json()["status"]["status"] == "pending"

    time.sleep(1.05)
    expired = status(http, sim, never, "cam_Never")
    assert expired.status == 404
    assert expired.headers["Content-Type"] == "application/json; charset=utf-8"
    assert expired.json() == {"ok": False, "message": f"Export with id {never} not found"}
    assert status(http, sim, kept, "cam_Kept").status == 404  # a done status expires too
    deleted = http.request("GET", short_file)
    assert (deleted.status, deleted.data) == (404, b"File not found")
    assert http.request("GET", kept_file).status == 200  # the file outlives its status


def test_injected_clock_drives_expiry(http: urllib3.PoolManager) -> None:
    now = [1000.0]
    with LemlistSimulator(api_key=API_KEY, clock=lambda: now[0]) as sim:
        export_id = start(http, sim, DEFAULT_CAMPAIGN_ID)
        now[0] += 7199.0
        assert status(http, sim, export_id, DEFAULT_CAMPAIGN_ID).status == 200
        now[0] += 1.0  # lemlist's 2 hours
        assert status(http, sim, export_id, DEFAULT_CAMPAIGN_ID).status == 404


def test_not_found_answers(sim: LemlistSimulator, http: urllib3.PoolManager) -> None:
    sim.add_campaign(CAMPAIGN, "Other")
    export_id = start(http, sim, DEFAULT_CAMPAIGN_ID)
    for response in (
        call(http, sim, "/campaigns/cam_Unknown/export/start"),
        status(http, sim, export_id, "cam_Unknown"),
    ):
        assert (response.status, response.data) == (404, b"Campaign not found")
        assert response.headers["Content-Type"] == "text/plain; charset=utf-8"
    for unknown_export in ("axp_DoesNotExist00000", export_id):  # export_id is another campaign's
        response = status(http, sim, unknown_export, CAMPAIGN)
        assert response.status == 404
        assert response.json() == {
            "ok": False,
            "message": f"Export with id {unknown_export} not found",
        }
    for path, method in (("/nothing", "GET"), ("/team", "POST"), ("/files/exports/x.csv", "PUT")):
        response = call(http, sim, path, method=method)
        assert (response.status, response.data) == (404, b"Not found")
    missing_file = call(http, sim, "/files/exports/fil_axp_nope_x.csv")
    assert (missing_file.status, missing_file.data) == (404, b"File not found")
    assert sim.requests[-1].route == "download"


def test_email_is_recorded_on_the_export(sim: LemlistSimulator, http: urllib3.PoolManager) -> None:
    export_id = start(http, sim, DEFAULT_CAMPAIGN_ID)
    path = f"/campaigns/{DEFAULT_CAMPAIGN_ID}/export/{export_id}/email/ops%40example.com"
    answer = call(http, sim, path, method="PUT")
    assert answer.status == 200
    assert answer.json()["ok"] is True
    assert answer.json()["status"]["email"] == "ops@example.com"
    assert answer.json()["status"]["id"] == export_id
    assert sim.exports[export_id].emails == ["ops@example.com"]
    missing = call(http, sim, path.replace(export_id, "axp_Missing"), method="PUT")
    assert (missing.status, missing.data) == (404, b"Export not found")
    # Setting an email is not a poll: the export is still at its first pending step.
    assert sim.exports[export_id].polls == 0


# Downloads: auth, redirects, storage origin


def test_download_can_require_auth(sim: LemlistSimulator, http: urllib3.PoolManager) -> None:
    url = finished_export(http, sim, ExportPlan(pending_polls=0, download_requires_auth=True))[
        "url"
    ]
    assert http.request("GET", url).status == 401
    assert http.request("GET", url, headers=AUTH).status == 200


def test_redirect_to_storage_origin_serves_the_file(
    sim: LemlistSimulator, http: urllib3.PoolManager
) -> None:
    data = SyntheticCsv(rows=120, seed=3)
    url = finished_export(http, sim, ExportPlan(pending_polls=0, download="redirect"), data)["url"]
    hop = http.request("GET", url, headers=AUTH, redirect=False)
    assert hop.status == 302
    location = hop.headers["Location"]
    assert location.startswith(f"{sim.storage_origin}/exports/")
    assert http.request("GET", location).data == data.to_bytes()

    # urllib3 drops Authorization when a redirect changes host: the storage sees no key.
    followed = http.request("GET", url, headers=AUTH, retries=urllib3.Retry(total=1, redirect=1))
    assert followed.data == data.to_bytes()
    storage_hits = [r for r in sim.requests if r.origin == "storage"]
    assert [r.has_auth for r in storage_hits] == [False, False]


def test_storage_origin_refuses_credentials(
    sim: LemlistSimulator, http: urllib3.PoolManager
) -> None:
    url = finished_export(http, sim, ExportPlan(pending_polls=0, download="redirect"))["url"]
    location = http.request("GET", url, redirect=False).headers["Location"]
    leaked = http.request("GET", location, headers=AUTH)
    assert (leaked.status, leaked.data) == (400, b"Credentials sent to storage")
    assert leaked.headers["Content-Type"] == "text/plain; charset=utf-8"
    record = sim.requests[-1]
    assert (record.origin, record.has_auth, record.auth_ok) == ("storage", True, True)


def test_redirect_same_origin_keeps_auth_requirement(
    sim: LemlistSimulator, http: urllib3.PoolManager
) -> None:
    plan = ExportPlan(pending_polls=0, download="redirect_same_origin", download_requires_auth=True)
    url = finished_export(http, sim, plan, b"a,b\n1,2\n")["url"]
    hop = http.request("GET", url, headers=AUTH, redirect=False)
    assert hop.status == 302
    location = hop.headers["Location"]
    assert location.startswith(f"{sim.base_url}/files/blobs/")
    assert http.request("GET", location).status == 401
    assert http.request("GET", location, headers=AUTH).data == b"a,b\n1,2\n"


def test_head_on_download_gives_length_without_body(
    sim: LemlistSimulator, http: urllib3.PoolManager
) -> None:
    done = finished_export(http, sim, ExportPlan(pending_polls=0))
    head = http.request("HEAD", done["url"])
    assert head.status == 200
    assert int(head.headers["Content-Length"]) == done["fileSize"]
    assert head.data == b""


# Faults


@pytest.mark.parametrize(
    ("fault", "expected_status", "content_type", "body"),
    [
        (Fault.server_error(), 503, "text/plain; charset=utf-8", b"Service Unavailable"),
        (Fault.server_error(502, "Bad Gateway"), 502, "text/plain; charset=utf-8", b"Bad Gateway"),
        (Fault.json_error(500, "boom"), 500, "application/json; charset=utf-8", None),
        (Fault.text_error(400, "Bad params"), 400, "text/plain; charset=utf-8", b"Bad params"),
        (Fault.bad_team(), 400, "text/plain; charset=utf-8", b"Bad team"),
        (Fault.unauthorized(), 401, None, b""),
    ],
    ids=["503", "502", "json", "text", "bad-team", "401"],
)
def test_replacing_faults(
    sim: LemlistSimulator,
    http: urllib3.PoolManager,
    fault: Fault,
    expected_status: int,
    content_type: str | None,
    body: bytes | None,
) -> None:
    sim.inject("start", fault)
    faulted = call(http, sim, f"/campaigns/{DEFAULT_CAMPAIGN_ID}/export/start")
    assert faulted.status == expected_status
    assert faulted.headers.get("Content-Type") == content_type
    if body is None:
        assert faulted.json() == {"ok": False, "message": "boom"}
    else:
        assert faulted.data == body
    assert faulted.headers["X-RateLimit-Limit"] == "20"
    assert sim.exports == {}  # the fault replaced the start: no export was created
    assert sim.requests[-1].faults == (fault.kind,)
    assert call(http, sim, f"/campaigns/{DEFAULT_CAMPAIGN_ID}/export/start").status == 200


def test_rate_limited_fault(sim: LemlistSimulator, http: urllib3.PoolManager) -> None:
    sim.inject("team", Fault.rate_limited(), Fault.rate_limited(retry_after=None))
    first, second = call(http, sim, "/team"), call(http, sim, "/team")
    assert (first.status, first.data, first.headers["Retry-After"]) == (
        429,
        b"Too many requests",
        "2",
    )
    assert first.headers["X-RateLimit-Remaining"] == "0"
    assert RESET_DATE.match(first.headers["X-RateLimit-Reset"])
    assert second.status == 429
    assert "Retry-After" not in second.headers  # like lemlist's quota 429s
    assert call(http, sim, "/team").status == 200


def test_faults_are_fifo_per_route_and_do_not_advance_polls(
    sim: LemlistSimulator, http: urllib3.PoolManager
) -> None:
    sim.add_campaign(CAMPAIGN, "FIFO", plan=ExportPlan(pending_polls=1))
    export_id = start(http, sim)
    sim.inject("status", Fault.server_error(500, "first"), Fault.server_error(502, "second"))
    sim.inject("team", Fault.bad_team())
    assert call(http, sim, "/team").data == b"Bad team"
    assert status(http, sim, export_id).data == b"first"
    assert status(http, sim, export_id).data == b"second"
    assert status(http, sim, export_id).json()["status"]["status"] == "pending"
    assert status(http, sim, export_id).json()["status"]["status"] == "done"
    assert sim.pending_faults == []


def test_any_route_fault_hits_the_next_request(
    sim: LemlistSimulator, http: urllib3.PoolManager
) -> None:
    sim.inject("any", Fault.json_error(500, "anywhere"))
    assert call(http, sim, "/campaigns").json() == {"ok": False, "message": "anywhere"}
    assert call(http, sim, "/campaigns").status == 200


def test_inject_rejects_unknown_route(sim: LemlistSimulator) -> None:
    with pytest.raises(ValueError, match="unknown route"):
        sim.inject("stauts", Fault.server_error())


def test_slow_fault_triggers_read_timeout_then_answers_normally(
    sim: LemlistSimulator, http: urllib3.PoolManager
) -> None:
    sim.inject("team", Fault.slow(0.6), Fault.slow(0.2))
    with pytest.raises(ReadTimeoutError):
        http.request("GET", f"{sim.base_url}/team", headers=AUTH, timeout=urllib3.Timeout(read=0.2))
    began = time.monotonic()
    slow = call(http, sim, "/team")
    assert slow.status == 200
    assert time.monotonic() - began >= 0.2


def test_truncate_fault_cuts_the_body_short_of_content_length(
    sim: LemlistSimulator, http: urllib3.PoolManager
) -> None:
    data = SyntheticCsv(rows=1000)
    url = finished_export(http, sim, ExportPlan(pending_polls=0), data)["url"]
    sim.inject("download", Fault.truncate(100_000))
    response = http.request("GET", url, preload_content=False, enforce_content_length=True)
    assert int(response.headers["Content-Length"]) == data.size > 100_000
    received = bytearray()
    with pytest.raises(ProtocolError):
        for chunk in response.stream(1000):  # 100 whole reads, then the short one raises
            received += chunk
    assert len(received) == 100_000
    assert received == data.to_bytes()[:100_000]
    assert http.request("GET", url).data == data.to_bytes()  # one-shot; reconnects fine


def test_truncate_skips_the_redirect_hop_and_hits_the_storage_answer(
    sim: LemlistSimulator, http: urllib3.PoolManager
) -> None:
    url = finished_export(http, sim, ExportPlan(pending_polls=0, download="redirect"))["url"]
    sim.inject("download", Fault.truncate(10))
    hop = http.request("GET", url, redirect=False)
    assert hop.status == 302
    assert len(sim.pending_faults) == 1
    storage = http.request("GET", hop.headers["Location"], preload_content=False)
    with pytest.raises(ProtocolError):
        storage.read()
    assert sim.requests[-1].faults == ("truncate",)


# Campaign listing


@pytest.fixture
def listed(sim: LemlistSimulator) -> LemlistSimulator:
    for index in range(1, 6):
        state = "paused" if index % 2 == 0 else "running"
        sim.add_campaign(f"cam_Listed{index:02d}", f"Listed {index}", status=state)
    sim.add_campaign("cam_Broken", "Broken", status="paused", errors=("No sender.",))
    return sim  # 7 campaigns with the default one: 4 running, 3 paused


def test_campaign_list_as_bare_array(listed: LemlistSimulator, http: urllib3.PoolManager) -> None:
    pages = [
        call(http, listed, f"/campaigns?version=v2&limit=3&page={page}").json()
        for page in (1, 2, 3, 4)
    ]
    assert [len(page) for page in pages] == [3, 3, 1, 0]
    ids = [item["_id"] for page in pages for item in page]
    assert ids[0] == DEFAULT_CAMPAIGN_ID and len(set(ids)) == 7
    first = pages[0][0]
    assert set(first) == {
        "_id",
        "name",
        "labels",
        "createdAt",
        "createdBy",
        "status",
        "hasError",
        "errors",
    }
    assert len(call(http, listed, "/campaigns?version=v2&limit=500").json()) == 7  # max 100


def test_campaign_list_paginated_with_status_filter(
    listed: LemlistSimulator, http: urllib3.PoolManager
) -> None:
    listed.campaign_list_shape = "paginated"
    first = call(http, listed, "/campaigns?version=v2&limit=2&page=1&status=running").json()
    assert [c["status"] for c in first["campaigns"]] == ["running", "running"]
    assert first["pagination"] == {
        "totalRecords": 4,
        "currentPage": 1,
        "nextPage": 2,
        "totalPage": 2,
    }
    last = call(http, listed, "/campaigns?version=v2&limit=2&page=2&status=running").json()
    assert last["pagination"]["nextPage"] is None
    errors = call(http, listed, "/campaigns?version=v2&status=errors").json()["campaigns"]
    assert [(c["_id"], c["hasError"]) for c in errors] == [("cam_Broken", True)]
    with pytest.raises(ValueError):
        listed.campaign_list_shape = "table"  # type: ignore[assignment]


# Synthetic CSV


def test_synthetic_csv_is_deterministic_and_consistent() -> None:
    data = SyntheticCsv(rows=3000, seed=5)
    raw = data.to_bytes()
    assert raw == SyntheticCsv(rows=3000, seed=5).to_bytes() == b"".join(data.iter_chunks())
    assert raw != SyntheticCsv(rows=3000, seed=6).to_bytes()
    assert data.size == len(raw)
    assert data.sha256() == hashlib.sha256(raw).hexdigest()
    sizes = [len(chunk) for chunk in data.iter_chunks(65536)]
    assert all(size == 65536 for size in sizes[:-1]) and 0 < sizes[-1] <= 65536
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8"), newline="")))
    assert rows[0][:3] == ["campaignName", "leadEmail", "leadFirstName"]
    assert len(rows) == 3001 and {len(row) for row in rows} == {len(rows[0])}
    text = raw.decode("utf-8")
    assert '""' in text and "é" in text  # quotes escaped, UTF-8 kept


def test_synthetic_csv_columns_and_plain_bytes(
    sim: LemlistSimulator, http: urllib3.PoolManager
) -> None:
    header = SyntheticCsv(rows=1, columns=20).to_bytes().split(b"\n")[0].decode().split(",")
    assert len(header) == 20 and header[-1] == "customVar5"
    assert SyntheticCsv(rows=0, columns=2).to_bytes() == b"campaignName,leadEmail\n"
    done = finished_export(http, sim, ExportPlan(pending_polls=0), b"id,name\n1,Zo\xc3\xab\n")
    assert done["fileSize"] == 15
    assert http.request("GET", done["url"]).data == b"id,name\n1,Zo\xc3\xab\n"


def test_synthetic_csv_streams_in_constant_memory() -> None:
    def streamed_peak(rows: int) -> tuple[int, int]:
        data = SyntheticCsv(rows=rows)
        tracemalloc.start()
        try:
            total = sum(len(chunk) for chunk in data.iter_chunks())
            return total, tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    small_total, small_peak = streamed_peak(3_000)
    large_total, large_peak = streamed_peak(12_000)
    assert large_total > 4 * small_total - 1024
    assert large_peak < small_peak * 1.2 < large_total / 2  # a batch of rows, not the file


# Recording, connections, lifecycle


def test_recorded_requests_never_hold_the_key(
    sim: LemlistSimulator, http: urllib3.PoolManager
) -> None:
    url = finished_export(http, sim, ExportPlan(pending_polls=0, download="redirect"))["url"]
    location = http.request("GET", url, headers=AUTH, redirect=False).headers["Location"]
    http.request("GET", location, headers=AUTH)
    call(http, sim, "/team", auth=False)
    encoded = base64.b64encode(f":{API_KEY}".encode()).decode()
    dump = repr(sim.requests) + repr(sim) + json.dumps([vars(r) for r in sim.requests])
    assert API_KEY not in dump and encoded not in dump
    assert "Authorization" not in dump
    first = sim.requests[0]
    assert (first.method, first.route, first.origin, first.status) == ("GET", "start", "api", 200)
    assert (first.has_auth, first.auth_ok) == (True, True)
    assert sim.requests[-1].has_auth is False and sim.requests[-1].auth_ok is False
    assert [r.origin for r in sim.requests].count("storage") == 1


def test_requests_are_recorded_with_query_and_time(
    sim: LemlistSimulator, http: urllib3.PoolManager
) -> None:
    began = time.monotonic()
    call(http, sim, "/campaigns?version=v2&limit=5&page=2&status=paused")
    record = sim.requests[-1]
    assert record.path == "/api/campaigns"
    assert record.query == {"version": "v2", "limit": "5", "page": "2", "status": "paused"}
    assert began <= record.time <= time.monotonic()


def test_concurrent_requests_are_all_recorded(sim: LemlistSimulator) -> None:
    def worker() -> None:
        pool = urllib3.PoolManager(retries=False)
        for _ in range(3):
            assert pool.request("GET", f"{sim.base_url}/team", headers=AUTH).status == 200

    threads = [threading.Thread(target=worker) for _ in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(sim.requests) == 15


def test_keep_alive_reuses_one_connection(sim: LemlistSimulator) -> None:
    pool = urllib3.connection_from_url(sim.base_url, maxsize=1)
    for _ in range(5):
        assert pool.request("GET", "/api/team", headers=AUTH).status == 200
    assert pool.num_connections == 1


def test_stop_does_not_wait_for_idle_keep_alive_connections(http: urllib3.PoolManager) -> None:
    sim = LemlistSimulator(api_key=API_KEY).start()
    assert call(http, sim, "/team").status == 200  # leaves an idle pooled connection open
    team_url = f"{sim.base_url}/team"
    began = time.monotonic()
    sim.stop()
    assert time.monotonic() - began < 1.0
    with pytest.raises(urllib3.exceptions.HTTPError):
        http.request("GET", team_url, headers=AUTH, retries=False)
    with pytest.raises(RuntimeError):
        _ = sim.base_url


def test_busiest_window_counts_requests_in_any_sliding_two_seconds() -> None:
    from local_stack.lemlist_simulator import RecordedRequest, busiest_window

    def at(t: float) -> RecordedRequest:
        return RecordedRequest("GET", "/api/campaigns", {}, "api", t, 200, "campaigns", True, True)

    # 0.0, 0.5 and 1.9 share one 2-s span; 2.0 starts a new one with 0.5 and 1.9.
    assert busiest_window([at(t) for t in (0.0, 0.5, 1.9, 2.0, 5.0)]) == 3
    assert busiest_window([at(t) for t in (0.0, 2.0, 4.0)]) == 1
    assert busiest_window([]) == 0
