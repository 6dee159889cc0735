"""DynamoRateGate on two DynamoDB engines (moto, and Amazon's DynamoDB Local), and with the
real client.

The gate's table is a CoordinationTable as template.yaml defines it. Each test counts under
its own key id in one table, so tests do not share a budget. A fake clock decides windows
where the test is about arithmetic; the concurrency and end-to-end tests use the real clock,
as Lambdas would: on DynamoDB Local, concurrent conditional writes are the engine's own, with
none of the serialisation local_stack adds to moto.
"""

from __future__ import annotations

import itertools
import json
import secrets
import threading
import time
from collections import Counter
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from lemlist_export.core.errors import AwsTransientError, RateLimitedError
from lemlist_export.core.url_judge import LOCAL_URLS
from lemlist_export.lemlist.client import ClientSettings, LemlistClient
from lemlist_export.lemlist.rate_gate import (
    MAX_JITTER_SECONDS,
    MAX_QUEUE_SECONDS,
    DynamoRateGate,
    Priority,
    key_id_for,
)
from local_stack.embedded_aws import REGION
from local_stack.lemlist_simulator import LemlistSimulator

if TYPE_CHECKING:
    from tests.dynamodb_local import DynamoEngine

pytest_plugins = ["tests.dynamodb_local"]  # the dynamodb_engine fixture

API_KEY = "key-RateGate-0123456789abcdef"


class FakeClock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def dynamodb(dynamodb_engine: DynamoEngine) -> Any:
    return dynamodb_engine.client()


@pytest.fixture(scope="module")
def table(dynamodb_engine: DynamoEngine) -> Iterator[str]:
    """The gate's table in the stack: a CoordinationTable as template.yaml defines it."""
    name = dynamodb_engine.create_table("CoordinationTable")
    yield name
    dynamodb_engine.client().delete_table(TableName=name)


def fresh_key_id() -> str:
    return key_id_for(f"key-{secrets.token_hex(8)}")


def item_of(dynamodb: Any, table: str, key_id: str) -> dict[str, Any]:
    """The gate's item for one key."""
    return dynamodb.get_item(
        TableName=table, Key={"id": {"S": f"lemlist-rate#{key_id}"}}, ConsistentRead=True
    ).get("Item", {})


# -- the key id ----------------------------------------------------------------------------


def test_key_id_is_short_stable_and_not_the_key() -> None:
    key_id = key_id_for(API_KEY)

    assert key_id == key_id_for(API_KEY)
    assert len(key_id) == 16
    assert all(c in "0123456789abcdef" for c in key_id)
    assert key_id != key_id_for(API_KEY + "x")
    assert API_KEY not in key_id and key_id not in API_KEY


# -- places, with a fake clock ---------------------------------------------------------------


class FakeTime:
    """A clock that the gate's own waits move on (unless `frozen`), and the waits it made."""

    def __init__(self, now: float, *, frozen: bool = False) -> None:
        self.now = now
        self.frozen = frozen
        self.waits: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        if not self.frozen:
            self.now += seconds


def gate_on(dynamodb: Any, table: str, key_id: str, at: FakeTime, **kwargs: Any) -> DynamoRateGate:
    """A gate on the fake time; status checks book 0.5 s ahead, starts 2 s (the tests'
    arithmetic), unless told otherwise."""
    kwargs = {"routine_wait": 0.5, "urgent_wait": 2.0, **kwargs}
    return DynamoRateGate(dynamodb, table, key_id, clock=at.clock, sleep=at.sleep, **kwargs)


def busiest(times: list[float], window: float) -> int:
    """Most of `times` in any closed window of `window` seconds."""
    ordered = sorted(times)
    return max(sum(1 for t in ordered if start <= t <= start + window + 1e-9) for start in ordered)


def test_requests_are_spaced_so_that_no_window_holds_more_than_the_limit(
    dynamodb: Any, table: str
) -> None:
    at = FakeTime(1000.0)
    gate = gate_on(dynamodb, table, fresh_key_id(), at, limit=10)
    sent = []
    for _ in range(40):
        gate.acquire()
        sent.append(at.now)

    assert gate.spacing == pytest.approx(2 / 9)
    assert sent[0] == 1000.0  # an idle key: at once
    assert all(b - a == pytest.approx(2 / 9, abs=1e-5) for a, b in itertools.pairwise(sent))
    assert busiest(sent, 2.0) == 10
    assert at.waits == [pytest.approx(2 / 9, abs=1e-5)] * 39  # each waited for its place


def test_one_write_per_request_whatever_the_load(dynamodb: Any, table: str) -> None:
    """No read before the write, no version to race for: the item's place moves once per
    request, and nothing else is stored."""
    at = FakeTime(1500.0, frozen=True)
    key_id = fresh_key_id()
    gates = [gate_on(dynamodb, table, key_id, at, limit=18) for _ in range(5)]
    for gate in gates:
        gate.acquire()

    item = item_of(dynamodb, table, key_id)
    assert set(item) == {"id", "tat", "expiration"}
    assert float(item["tat"]["N"]) == pytest.approx(1500.0 + 5 * 2 / 17, abs=1e-5)


def test_a_start_waits_for_its_place_up_to_its_wait_then_is_refused_without_booking(
    dynamodb: Any, table: str
) -> None:
    at = FakeTime(2000.0, frozen=True)  # every request asks at the same instant
    key_id = fresh_key_id()
    gate = gate_on(dynamodb, table, key_id, at, limit=5)  # places 0.5 s apart
    waited = [gate.acquire(Priority.URGENT, max_wait=1.0) for _ in range(5)]
    # At least URGENT_WAIT_SECONDS ahead, whatever the caller's own wait.
    assert waited == [0.0, 0.5, 1.0, 1.5, 2.0]

    place = item_of(dynamodb, table, key_id)["tat"]
    with pytest.raises(RateLimitedError) as refused:
        gate.acquire(Priority.URGENT)
    assert refused.value.held_back
    assert refused.value.status == 429
    assert "5 requests per 2 s" in str(refused.value)
    assert 2.5 <= refused.value.retry_after <= 2.5 + MAX_JITTER_SECONDS + 1e-9
    assert item_of(dynamodb, table, key_id)["tat"] == place  # nothing booked

    assert gate.acquire(Priority.URGENT, max_wait=3.0) == 2.5  # a longer wait books it


def test_status_checks_book_only_just_ahead_so_starts_go_first(dynamodb: Any, table: str) -> None:
    at = FakeTime(3000.0, frozen=True)
    gate = gate_on(dynamodb, table, fresh_key_id(), at, limit=5)  # places 0.5 s apart
    assert gate.acquire(Priority.ROUTINE) == 0.0
    assert gate.acquire(Priority.ROUTINE) == 0.5  # ROUTINE_WAIT_SECONDS ahead at most
    with pytest.raises(RateLimitedError) as check_refused:
        gate.acquire(Priority.ROUTINE)
    assert check_refused.value.held_back

    assert gate.acquire(Priority.URGENT) == 1.0  # a start still books its place


def test_refused_status_checks_queue_a_place_apart_and_are_admitted_when_back(
    dynamodb: Any, table: str
) -> None:
    at = FakeTime(4000.0, frozen=True)
    key_id = fresh_key_id()
    gate = gate_on(dynamodb, table, key_id, at, limit=5)  # places 0.5 s apart
    for _ in range(5):  # starts book 2 s ahead
        gate.acquire(Priority.URGENT)

    waits = []
    for _ in range(6):
        with pytest.raises(RateLimitedError) as refused:
            gate.acquire(Priority.ROUTINE)
        assert refused.value.held_back
        waits.append(refused.value.retry_after)

    # The first comes back when the next place is free; each next one a place later.
    assert 2.5 <= waits[0] <= 2.5 + MAX_JITTER_SECONDS + 1e-9
    assert [round(b - a, 3) for a, b in itertools.pairwise(waits)] == [0.5] * 5
    # Each coming back at its queued time finds its place within reach: none refused twice.
    for wait in waits:
        at.now = 4000.0 + wait
        assert gate.acquire(Priority.ROUTINE) <= 0.5


def test_the_queue_of_refused_checks_reaches_at_most_a_minute_ahead(
    dynamodb: Any, table: str
) -> None:
    at = FakeTime(5000.0, frozen=True)
    gate = gate_on(dynamodb, table, fresh_key_id(), at, limit=2)  # places 2 s apart
    gate.acquire(Priority.URGENT)
    gate.acquire(Priority.URGENT)
    waits = []
    for _ in range(40):  # 2 s apart: 80 s of queue without the cap
        with pytest.raises(RateLimitedError) as refused:
            gate.acquire(Priority.ROUTINE)
        waits.append(refused.value.retry_after)

    assert waits == sorted(waits)
    assert waits[-1] == pytest.approx(MAX_QUEUE_SECONDS)
    assert waits.count(waits[-1]) > 1


def test_a_start_is_never_queued_behind_status_checks(dynamodb: Any, table: str) -> None:
    at = FakeTime(6000.0, frozen=True)
    gate = gate_on(dynamodb, table, fresh_key_id(), at, limit=5)
    gate.acquire(Priority.URGENT)
    gate.acquire(Priority.URGENT)  # the next place is 1 s ahead: checks are refused
    for _ in range(20):  # a long queue of refused checks
        with pytest.raises(RateLimitedError):
            gate.acquire(Priority.ROUTINE)

    assert gate.acquire(Priority.URGENT) == 1.0  # the next place, not the queue's end


def test_refusals_spread_their_waiters(dynamodb: Any, table: str) -> None:
    at = FakeTime(7000.0, frozen=True)
    gate = gate_on(dynamodb, table, fresh_key_id(), at, limit=2)  # places 2 s apart
    gate.acquire()
    gate.acquire()  # waits 2 s (URGENT_WAIT_SECONDS): the next place is 4 s ahead

    waits = set()
    for _ in range(12):
        with pytest.raises(RateLimitedError) as refused:
            gate.acquire()
        waits.add(refused.value.retry_after)

    assert all(4.0 <= wait <= 4.0 + MAX_JITTER_SECONDS for wait in waits)
    assert len(waits) > 1


def test_an_idle_key_admits_at_once_and_the_item_expires_a_minute_after_its_place(
    dynamodb: Any, table: str
) -> None:
    at = FakeTime(1000.3, frozen=True)
    key_id = fresh_key_id()
    assert gate_on(dynamodb, table, key_id, at).acquire() == 0.0
    assert item_of(dynamodb, table, key_id)["expiration"] == {"N": "1061"}
    at.now = 1003.5  # the place passed long ago
    assert gate_on(dynamodb, table, key_id, at).acquire() == 0.0

    item = item_of(dynamodb, table, key_id)

    assert item["expiration"] == {"N": "1064"}
    assert item["id"] == {"S": f"lemlist-rate#{key_id}"}


def test_keys_do_not_share_a_budget(dynamodb: Any, table: str) -> None:
    at = FakeTime(1000.0, frozen=True)
    first = gate_on(dynamodb, table, fresh_key_id(), at, limit=3)
    second = gate_on(dynamodb, table, fresh_key_id(), at, limit=3)

    assert [first.acquire() for _ in range(3)] == [0.0, 1.0, 2.0]
    assert [second.acquire() for _ in range(3)] == [0.0, 1.0, 2.0]


def test_gates_on_one_key_share_its_budget(dynamodb: Any, table: str) -> None:
    at = FakeTime(1000.0, frozen=True)
    key_id = fresh_key_id()
    workers = [gate_on(dynamodb, table, key_id, at, limit=5) for _ in range(4)]

    assert [worker.acquire() for worker in workers] == [0.0, 0.5, 1.0, 1.5]
    # A worker whose last look is stale still finds the place where the others left it.
    assert workers[0].acquire() == 2.0
    with pytest.raises(RateLimitedError):
        workers[1].acquire()


def test_the_key_is_never_stored(dynamodb: Any, table: str) -> None:
    at = FakeTime(500.0, frozen=True)
    gate = gate_on(dynamodb, table, key_id_for(API_KEY), at, limit=2)
    gate.acquire()
    gate.acquire()
    with pytest.raises(RateLimitedError) as refused:
        gate.acquire()

    stored = json.dumps(dynamodb.scan(TableName=table, ConsistentRead=True)["Items"])
    assert key_id_for(API_KEY) in stored
    assert API_KEY not in stored
    assert API_KEY not in str(refused.value) and API_KEY not in repr(gate)


# -- many workers at once, real clock --------------------------------------------------------


def test_concurrent_workers_never_exceed_the_limit_in_any_sliding_window(
    dynamodb: Any, table: str
) -> None:
    # A short window keeps the test quick; the arithmetic is the same as with 2 s.
    limit, window, threads, each = 10, 0.5, 8, 10
    key_id = fresh_key_id()
    # One client shared by every thread, as boto3 allows; each conditional write is atomic in
    # DynamoDB Local as in AWS (and in moto through local_stack's serialisation).
    shared = dynamodb
    places: list[float] = []  # when each request was told to go
    refusals = 0
    lock = threading.Lock()
    failures: list[BaseException] = []

    def worker() -> None:
        nonlocal refusals
        last_reading = 0.0

        def clock() -> float:
            nonlocal last_reading
            last_reading = time.time()
            return last_reading

        # One gate per thread, as one per Lambda invocation.
        gate = DynamoRateGate(
            shared, table, key_id, limit=limit, window_seconds=window, clock=clock
        )
        try:
            done = 0
            while done < each:
                try:
                    waited = gate.acquire(max_wait=0.2)
                except RateLimitedError as exc:
                    with lock:
                        refusals += 1
                    time.sleep(exc.retry_after or 0)
                    continue
                with lock:
                    places.append(last_reading + waited)
                done += 1
        except BaseException as exc:  # surfaced by the assertion below
            failures.append(exc)

    started = [threading.Thread(target=worker) for _ in range(threads)]
    for thread in started:
        thread.start()
    for thread in started:
        thread.join(timeout=30)

    assert not failures
    assert len(places) == threads * each
    # Whatever 0.5 s one looks at, it holds at most `limit` places.
    assert busiest(places, window) <= limit
    ordered = sorted(places)
    assert ordered[-1] - ordered[0] >= window / (limit - 1) * (threads * each - 1) - 1e-3
    # Every place was one write: the last booked is where the item's place stands, less one.
    stored = float(item_of(dynamodb, table, key_id)["tat"]["N"])
    assert stored == pytest.approx(ordered[-1] + window / (limit - 1), abs=1e-3)


# -- DynamoDB failing ------------------------------------------------------------------------


@pytest.fixture
def stubbed_dynamodb() -> Iterator[tuple[Any, Stubber]]:
    # The stubber answers before any request is sent: no engine is involved.
    client = boto3.client("dynamodb", region_name=REGION)
    with Stubber(client) as stubber:
        yield client, stubber


@pytest.mark.parametrize(
    ("code", "status"),
    [
        ("ProvisionedThroughputExceededException", 400),
        ("ThrottlingException", 400),
        ("InternalServerError", 500),
    ],
)
def test_dynamodb_throttling_or_failing_is_transient_never_an_admission(
    stubbed_dynamodb: tuple[Any, Stubber], code: str, status: int
) -> None:
    client, stubber = stubbed_dynamodb
    stubber.add_client_error("update_item", service_error_code=code, http_status_code=status)
    gate = DynamoRateGate(client, "any-table", fresh_key_id(), clock=FakeClock(1000.0))

    with pytest.raises(AwsTransientError, match=code):
        gate.acquire()
    stubber.assert_no_pending_responses()


def test_other_dynamodb_errors_propagate(stubbed_dynamodb: tuple[Any, Stubber]) -> None:
    client, stubber = stubbed_dynamodb
    stubber.add_client_error(
        "update_item", service_error_code="ResourceNotFoundException", http_status_code=400
    )
    gate = DynamoRateGate(client, "missing-table", fresh_key_id(), clock=FakeClock(1000.0))

    with pytest.raises(ClientError) as raised:
        gate.acquire()
    assert raised.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_nonsense_settings_are_refused() -> None:
    dynamodb = boto3.client("dynamodb", region_name=REGION)
    with pytest.raises(ValueError, match="limit"):
        DynamoRateGate(dynamodb, "t", "k", limit=1)
    with pytest.raises(ValueError, match="window"):
        DynamoRateGate(dynamodb, "t", "k", window_seconds=0)


# -- with the real client against the simulator --------------------------------------------


def test_the_gate_keeps_concurrent_clients_under_lemlists_limit(dynamodb: Any, table: str) -> None:
    calls, threads = 35, 3
    key = f"key-{secrets.token_hex(12)}"
    failures: list[BaseException] = []
    answered = Counter[int]()
    lock = threading.Lock()
    shared = dynamodb  # one client for every thread, as in the concurrent workers' test

    with LemlistSimulator(api_key=key) as sim:

        def worker(count: int) -> None:
            gate = DynamoRateGate(shared, table, key_id_for(key), limit=10)
            client = LemlistClient(
                key,
                ClientSettings(base_url=sim.base_url, urls=LOCAL_URLS, max_rate_limit_wait=10),
                gate=gate,
            )
            try:
                for _ in range(count):
                    list(client.list_campaigns())
                    with lock:
                        answered[200] += 1
            except BaseException as exc:  # surfaced by the assertion below
                failures.append(exc)

        shares = [calls // threads + (1 if i < calls % threads else 0) for i in range(threads)]
        started = [threading.Thread(target=worker, args=(share,)) for share in shares]
        for thread in started:
            thread.start()
        for thread in started:
            thread.join(timeout=30)
        seen = sim.requests

    assert not failures
    assert answered[200] == calls
    listed = [request for request in seen if request.route == "campaigns"]
    assert len(listed) == calls
    assert Counter(request.status for request in seen) == {200: calls}
    # The clients waited for the gate: 35 requests at 10 per 2 s window span four windows.
    assert max(r.time for r in listed) - min(r.time for r in listed) > 3.9
    stored = json.dumps(dynamodb.scan(TableName=table, ConsistentRead=True)["Items"])
    assert key not in stored
