"""DynamoRateGate on two DynamoDB engines (moto, and Amazon's DynamoDB Local), and with the
real client.

The gate's table is a CoordinationTable as template.yaml defines it. Each test counts under
its own key id in one table, so tests do not share a budget. A fake clock decides windows
where the test is about arithmetic; the concurrency and end-to-end tests use the real clock,
as Lambdas would: on DynamoDB Local, concurrent conditional writes are the engine's own, with
none of the serialisation local_stack adds to moto.
"""

from __future__ import annotations

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


def slices_of(dynamodb: Any, table: str, key_id: str) -> dict[int, int]:
    """Admissions per time slice (a quarter of the window), as the item holds them."""
    stored = item_of(dynamodb, table, key_id).get("slices", {}).get("M", {})
    return {int(index): int(count["N"]) for index, count in stored.items()}


# -- the key id ----------------------------------------------------------------------------


def test_key_id_is_short_stable_and_not_the_key() -> None:
    key_id = key_id_for(API_KEY)

    assert key_id == key_id_for(API_KEY)
    assert len(key_id) == 16
    assert all(c in "0123456789abcdef" for c in key_id)
    assert key_id != key_id_for(API_KEY + "x")
    assert API_KEY not in key_id and key_id not in API_KEY


# -- windows, with a fake clock ------------------------------------------------------------


def test_admits_the_limit_then_refuses_until_those_requests_leave_the_window(
    dynamodb: Any, table: str
) -> None:
    clock = FakeClock(1000.3)  # slice 2000: [1000.0, 1000.5)
    key_id = fresh_key_id()
    gate = DynamoRateGate(
        dynamodb, table, key_id, limit=10, reserve=0, slices_per_window=4, clock=clock
    )

    for _ in range(10):
        gate.acquire()
    with pytest.raises(RateLimitedError) as refused:
        gate.acquire()

    # Slice 2000 counts until slice 2005 begins (a window of 4 slices, plus the current one).
    assert 2.2 - 1e-9 <= refused.value.retry_after <= 2.2 + MAX_JITTER_SECONDS + 1e-9
    assert refused.value.status == 429
    assert "10 requests per 2 s" in str(refused.value)
    clock.now = 1002.499
    with pytest.raises(RateLimitedError) as still:
        gate.acquire()
    assert 0.001 - 1e-9 <= still.value.retry_after <= 0.001 + MAX_JITTER_SECONDS + 1e-9

    clock.now = 1002.5  # slice 2005: the first ten have left the window
    for _ in range(10):
        gate.acquire()
    with pytest.raises(RateLimitedError):
        gate.acquire()

    # Refusals do not count; a slice is dropped a window after it stopped counting.
    assert slices_of(dynamodb, table, key_id) == {2000: 10, 2005: 10}
    clock.now = 1005.0  # slice 2010
    gate.acquire()
    assert slices_of(dynamodb, table, key_id) == {2005: 10, 2010: 1}


def test_the_window_slides_the_oldest_slice_frees_first(dynamodb: Any, table: str) -> None:
    clock = FakeClock(1000.0)
    key_id = fresh_key_id()
    gate = DynamoRateGate(
        dynamodb, table, key_id, limit=4, reserve=0, slices_per_window=4, clock=clock
    )
    for now in (1000.0, 1000.6, 1001.2, 1001.8):  # one per slice
        clock.now = now
        gate.acquire()
    clock.now = 1001.9
    with pytest.raises(RateLimitedError) as refused:
        gate.acquire()
    # The first slice, [1000.0, 1000.5), stops counting at 1002.5.
    assert 0.6 - 1e-9 <= refused.value.retry_after <= 0.6 + MAX_JITTER_SECONDS + 1e-9

    clock.now = 1002.5
    gate.acquire()  # one place freed, one taken
    with pytest.raises(RateLimitedError):
        gate.acquire()
    assert slices_of(dynamodb, table, key_id) == {2000: 1, 2001: 1, 2002: 1, 2003: 1, 2005: 1}


def test_status_checks_leave_the_reserve_to_starts_and_downloads(dynamodb: Any, table: str) -> None:
    gate = DynamoRateGate(
        dynamodb, table, fresh_key_id(), limit=6, reserve=2, clock=FakeClock(1000.0)
    )
    for _ in range(4):
        gate.acquire(Priority.ROUTINE)
    with pytest.raises(RateLimitedError) as refused:
        gate.acquire(Priority.ROUTINE)
    assert "4 requests per 2 s" in str(refused.value)

    gate.acquire(Priority.URGENT)
    gate.acquire()  # urgent by default
    with pytest.raises(RateLimitedError):
        gate.acquire(Priority.URGENT)


def test_the_default_slices_count_at_most_a_tenth_of_a_second_past_the_window(
    dynamodb: Any, table: str
) -> None:
    clock = FakeClock(1000.0)
    gate = DynamoRateGate(dynamodb, table, fresh_key_id(), limit=2, reserve=0, clock=clock)
    gate.acquire()
    clock.now = 1000.05
    gate.acquire()
    with pytest.raises(RateLimitedError) as refused:
        gate.acquire()
    # Slice [1000.0, 1000.1) stops counting at 1002.1: the budget is limit per 2.1 s at worst.
    assert 2.05 - 1e-9 <= refused.value.retry_after <= 2.05 + MAX_JITTER_SECONDS + 1e-9
    clock.now = 1002.1
    gate.acquire()


def test_status_checks_step_aside_for_a_window_when_a_start_is_refused(
    dynamodb: Any, table: str
) -> None:
    clock = FakeClock(1000.0)
    gate = DynamoRateGate(dynamodb, table, fresh_key_id(), limit=4, reserve=1, clock=clock)
    for _ in range(4):
        gate.acquire(Priority.URGENT)
    clock.now = 1001.0
    with pytest.raises(RateLimitedError) as start_refused:
        gate.acquire(Priority.URGENT)
    assert start_refused.value.held_back

    clock.now = 1002.2  # the window has room again, but a start is waiting for it
    with pytest.raises(RateLimitedError) as check_refused:
        gate.acquire(Priority.ROUTINE)
    assert check_refused.value.held_back
    assert 0.8 - 1e-9 <= check_refused.value.retry_after <= 0.8 + MAX_JITTER_SECONDS + 1e-9
    gate.acquire(Priority.URGENT)  # the start gets it

    clock.now = 1003.0  # the window since the refusal has passed: checks go again
    gate.acquire(Priority.ROUTINE)


def test_refusals_spread_their_waiters(dynamodb: Any, table: str) -> None:
    clock = FakeClock(2000.0)
    gate = DynamoRateGate(
        dynamodb, table, fresh_key_id(), limit=1, reserve=0, slices_per_window=4, clock=clock
    )
    gate.acquire()

    waits = set()
    for _ in range(12):
        with pytest.raises(RateLimitedError) as refused:
            gate.acquire()
        waits.add(refused.value.retry_after)

    assert all(2.5 <= wait <= 2.5 + MAX_JITTER_SECONDS for wait in waits)
    assert len(waits) > 1


def test_the_item_expires_a_minute_after_its_last_admission(dynamodb: Any, table: str) -> None:
    clock = FakeClock(1000.3)
    key_id = fresh_key_id()
    DynamoRateGate(dynamodb, table, key_id, clock=clock).acquire()
    assert item_of(dynamodb, table, key_id)["expiration"] == {"N": "1061"}
    clock.now = 1003.5
    DynamoRateGate(dynamodb, table, key_id, clock=clock).acquire()

    item = item_of(dynamodb, table, key_id)

    assert item["expiration"] == {"N": "1064"}
    assert item["id"] == {"S": f"lemlist-rate#{key_id}"}
    assert item["version"] == {"N": "2"}


def test_keys_do_not_share_a_budget(dynamodb: Any, table: str) -> None:
    clock = FakeClock(1000.0)
    first = DynamoRateGate(dynamodb, table, fresh_key_id(), limit=3, reserve=0, clock=clock)
    second = DynamoRateGate(dynamodb, table, fresh_key_id(), limit=3, reserve=0, clock=clock)

    for _ in range(3):
        first.acquire()
    with pytest.raises(RateLimitedError):
        first.acquire()
    for _ in range(3):
        second.acquire()
    with pytest.raises(RateLimitedError):
        second.acquire()


def test_gates_on_one_key_share_its_budget(dynamodb: Any, table: str) -> None:
    clock = FakeClock(1000.0)
    key_id = fresh_key_id()
    workers = [
        DynamoRateGate(dynamodb, table, key_id, limit=4, reserve=0, clock=clock) for _ in range(4)
    ]

    for worker in workers:
        worker.acquire()
    for worker in workers:
        with pytest.raises(RateLimitedError):
            worker.acquire()


def test_the_key_is_never_stored(dynamodb: Any, table: str) -> None:
    gate = DynamoRateGate(
        dynamodb, table, key_id_for(API_KEY), limit=2, reserve=0, clock=FakeClock(500.0)
    )
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
    admissions: list[float] = []  # the gate's clock reading of each admission
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
            shared, table, key_id, limit=limit, reserve=0, window_seconds=window, clock=clock
        )
        try:
            done = 0
            while done < each:
                try:
                    gate.acquire()
                except RateLimitedError as exc:
                    with lock:
                        refusals += 1
                    time.sleep(exc.retry_after or 0)
                    continue
                with lock:
                    admissions.append(last_reading)
                done += 1
        except BaseException as exc:  # surfaced by the assertion below
            failures.append(exc)

    started = [threading.Thread(target=worker) for _ in range(threads)]
    for thread in started:
        thread.start()
    for thread in started:
        thread.join(timeout=30)

    assert not failures
    assert len(admissions) == threads * each
    # Whatever 0.5 s one looks at, it holds at most `limit` admissions.
    ordered = sorted(admissions)
    busiest = max(sum(1 for other in ordered if t - window < other <= t) for t in ordered)
    assert busiest <= limit
    assert ordered[-1] - ordered[0] >= window * (threads * each // limit - 1)
    assert refusals > 0
    # Every admission was one write of the key's item.
    assert item_of(dynamodb, table, key_id)["version"] == {"N": str(threads * each)}


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
    stubber.add_client_error("get_item", service_error_code=code, http_status_code=status)
    gate = DynamoRateGate(client, "any-table", fresh_key_id(), clock=FakeClock(1000.0))

    with pytest.raises(AwsTransientError, match=code):
        gate.acquire()
    stubber.assert_no_pending_responses()


def test_other_dynamodb_errors_propagate(stubbed_dynamodb: tuple[Any, Stubber]) -> None:
    client, stubber = stubbed_dynamodb
    stubber.add_client_error(
        "get_item", service_error_code="ResourceNotFoundException", http_status_code=400
    )
    gate = DynamoRateGate(client, "missing-table", fresh_key_id(), clock=FakeClock(1000.0))

    with pytest.raises(ClientError) as raised:
        gate.acquire()
    assert raised.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_nonsense_settings_are_refused() -> None:
    dynamodb = boto3.client("dynamodb", region_name=REGION)
    with pytest.raises(ValueError, match="limit"):
        DynamoRateGate(dynamodb, "t", "k", limit=0)
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
