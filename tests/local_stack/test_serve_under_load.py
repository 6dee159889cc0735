"""`make serve` keeps answering while other invocations are stuck (issue 9).

Requests are parked inside the lemlist simulator on a gate: a slow fault's sleep (the
simulator's injectable `sleep`) waits for the test to open the gate instead of sleeping. With
every parked request known to have arrived, other requests must be answered before the gate
opens: a lock or a single thread anywhere between the HTTP server and the workers would leave
them waiting for a gate that only opens after they return (the test would then fail on the
gate's arrival count or hang until pytest's timeout, never pass). No wall-clock budget: the
proof is the order of events, not a duration.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import pytest
import urllib3

from local_stack.lemlist_simulator import (
    DEFAULT_CAMPAIGN_ID,
    ExportPlan,
    Fault,
    LemlistSimulator,
)
from local_stack.serve import LocalApiServer
from local_stack.stack import LocalStack

pytestmark = pytest.mark.e2e

HELD = 5
OTHER_CAMPAIGN = "cam_UnderLoadOther01"
# Only so that a broken stack fails the test instead of hanging it: no test waits this long.
SAFETY_SECONDS = 60.0
# A connection for each request the test has in flight at once.
HTTP = urllib3.PoolManager(maxsize=HELD + 2, timeout=SAFETY_SECONDS, retries=False)


class Gate:
    """The simulator's `sleep`: a slow fault parks its request here until `open()`."""

    def __init__(self) -> None:
        self._arrivals = 0
        self._changed = threading.Condition()
        self._opened = threading.Event()

    def __call__(self, seconds: float) -> None:
        with self._changed:
            self._arrivals += 1
            self._changed.notify_all()
        self._opened.wait(SAFETY_SECONDS)

    @property
    def arrivals(self) -> int:
        with self._changed:
            return self._arrivals

    @property
    def is_open(self) -> bool:
        return self._opened.is_set()

    def wait_for_arrivals(self, count: int) -> None:
        with self._changed:
            arrived = self._changed.wait_for(lambda: self._arrivals >= count, SAFETY_SECONDS)
        assert arrived, f"{self._arrivals} of {count} requests reached lemlist at once"

    def open(self) -> None:
        self._opened.set()


@pytest.fixture
def gate() -> Iterator[Gate]:
    gate = Gate()
    yield gate
    gate.open()  # a failed test must not leave requests parked


@pytest.fixture
def simulator(api_key: str, gate: Gate) -> Iterator[LemlistSimulator]:
    """conftest's simulator, with the gate as its sleep and a second campaign; exports are done
    at their first status check (fewer steps to wait for once the gate opens)."""
    with LemlistSimulator(api_key=api_key, sleep=gate) as sim:
        sim.set_plan(DEFAULT_CAMPAIGN_ID, ExportPlan(pending_polls=0))
        sim.add_campaign(OTHER_CAMPAIGN, "Another campaign", plan=ExportPlan(pending_polls=0))
        yield sim


@pytest.fixture
def api(stack: LocalStack) -> Iterator[str]:
    """The stack served as `make serve` serves it (same server class, in this process)."""
    server = LocalApiServer(stack, port=0).start()
    yield server.url
    server.stop()


def call(method: str, url: str, stack: LocalStack, body: Any = None) -> urllib3.BaseHTTPResponse:
    encoded = None if body is None else json.dumps(body)
    return HTTP.request(method, url, body=encoded, headers=stack.api_headers())


def start(api: str, stack: LocalStack, campaign_id: str) -> str:
    answer = call("POST", f"{api}/exports", stack, {"campaignId": campaign_id})
    assert answer.status == 202, answer.data
    return str(answer.json()["exportId"])


def warm_up(api: str, stack: LocalStack, export_id: str) -> None:
    """Enough warm API workers for every request the test has in flight at once, so that no
    cold start runs while requests are parked (lemlist's client gives up after 10 s)."""
    count = HELD + 2
    assert count <= stack.lambdas.concurrency, "the test needs that many API workers at once"
    barrier = threading.Barrier(count)

    def look() -> int:
        barrier.wait(SAFETY_SECONDS)
        return call("GET", f"{api}/exports/{export_id}", stack).status

    with ThreadPoolExecutor(count) as pool:
        assert set(pool.map(lambda _: look(), range(count))) == {200}


def answered_meanwhile(api: str, stack: LocalStack, export_id: str) -> dict[str, int]:
    """The requests that must not wait for the parked ones: each one's status."""
    other = call("POST", f"{api}/exports", stack, {"campaignId": OTHER_CAMPAIGN})
    return {
        "GET /openapi.json": HTTP.request("GET", f"{api}/openapi.json").status,
        "GET /exports/{id}": call("GET", f"{api}/exports/{export_id}", stack).status,
        "GET /exports?campaignId": call(
            "GET", f"{api}/exports?campaignId={DEFAULT_CAMPAIGN_ID}", stack
        ).status,
        "POST /exports (another campaign)": other.status,
    }


def assert_delivered(stack: LocalStack, export_ids: list[str]) -> None:
    for export_id in export_ids:
        record = stack.wait_for_end(export_id, timeout=SAFETY_SECONDS)
        assert record.status == "delivered", (export_id, record.status, record.failure_reason)


def test_requests_are_answered_while_api_starts_are_held_in_lemlist(
    api: str, stack: LocalStack, simulator: LemlistSimulator, gate: Gate
) -> None:
    earlier = start(api, stack, DEFAULT_CAMPAIGN_ID)
    warm_up(api, stack, earlier)
    simulator.inject("start", *[Fault.slow(SAFETY_SECONDS)] * HELD)

    with ThreadPoolExecutor(HELD) as pool:
        held: list[Future[str]] = [
            pool.submit(start, api, stack, DEFAULT_CAMPAIGN_ID) for _ in range(HELD)
        ]
        try:
            gate.wait_for_arrivals(HELD)
            meanwhile = answered_meanwhile(api, stack, earlier)
            # Each answer came back with the gate shut and every held start still parked.
            parked = [not future.done() for future in held]
            arrivals, was_open = gate.arrivals, gate.is_open
        finally:
            gate.open()
        started = [future.result() for future in held]

    assert meanwhile == {
        "GET /openapi.json": 200,
        "GET /exports/{id}": 200,
        "GET /exports?campaignId": 200,
        "POST /exports (another campaign)": 202,
    }
    assert all(parked) and arrivals == HELD and not was_open
    assert len(set(started)) == HELD
    other = stack.store().list_by_campaign(OTHER_CAMPAIGN, limit=5)[0]
    assert len(other) == 1
    assert_delivered(stack, [earlier, *started, other[0].export_id])
    starts = [r for r in simulator.requests if r.route == "start"]
    assert len(starts) == HELD + 2 == len(simulator.exports)  # lemlist asked once per export
    assert sum("slow" in r.faults for r in starts) == HELD


def test_requests_are_answered_while_executions_are_held_in_status_checks(
    api: str, stack: LocalStack, simulator: LemlistSimulator, gate: Gate
) -> None:
    """The held invocations here are the state machine's: Step Functions executions whose
    Check step (a CheckExport worker) waits on lemlist's status answer."""
    earlier = start(api, stack, DEFAULT_CAMPAIGN_ID)
    warm_up(api, stack, earlier)
    assert_delivered(stack, [earlier])
    simulator.inject("status", *[Fault.slow(SAFETY_SECONDS)] * HELD)

    try:
        checking = [start(api, stack, DEFAULT_CAMPAIGN_ID) for _ in range(HELD)]
        gate.wait_for_arrivals(HELD)
        meanwhile = answered_meanwhile(api, stack, checking[0])
        check_function = stack.stack.functions["CheckExportFunction"].name
        busy_checks = len(stack.lambdas.busy_pids(check_function))
        arrivals, was_open = gate.arrivals, gate.is_open
    finally:
        gate.open()

    assert meanwhile == {
        "GET /openapi.json": 200,
        "GET /exports/{id}": 200,
        "GET /exports?campaignId": 200,
        "POST /exports (another campaign)": 202,
    }
    assert arrivals == HELD and not was_open
    assert busy_checks >= HELD  # each held check is its own worker, none queued behind another
    other = stack.store().list_by_campaign(OTHER_CAMPAIGN, limit=5)[0]
    assert len(other) == 1
    assert_delivered(stack, [*checking, other[0].export_id])
