"""Many campaigns on one lemlist key, started together (benchmarks/scale.py in small): the
shape of the outcome, not its timing. Every export is delivered, lemlist never (or almost
never) answers 429, and the simulator never sees more than its 20 requests in any sliding
2 s: every lemlist request went through the stack's rate gate."""

from __future__ import annotations

import json
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from local_stack.lemlist_simulator import (
    DEFAULT_CAMPAIGN_ID,
    ExportPlan,
    LemlistSimulator,
    SyntheticCsv,
    busiest_window,
)
from local_stack.scheduler import fire
from local_stack.stack import LocalStack
from tests.conftest import StackFactory

pytestmark = pytest.mark.e2e

CAMPAIGNS = 20
# Real waits, short: a status check a second, so 20 exports want twice lemlist's rate.
ONE_SECOND_POLLS = {
    "PollFirstWaitSeconds": "1",
    "PollIntervalSeconds": "1",
    "PollMaxIntervalSeconds": "5",
}


def add_campaigns(simulator: LemlistSimulator) -> list[str]:
    rng = random.Random(20)
    simulator.add_campaign(DEFAULT_CAMPAIGN_ID, "Demo", SyntheticCsv(rows=5), status="paused")
    ids = [f"cam_Scale{index:02d}" for index in range(CAMPAIGNS)]
    for index, campaign_id in enumerate(ids):
        plan = ExportPlan(ready_after_seconds=rng.uniform(1.0, 3.0))
        simulator.add_campaign(campaign_id, f"Scale {index}", SyntheticCsv(rows=20), plan)
    return ids


def wait_for_all(stack: LocalStack, expected: int) -> None:
    sfn = stack.client("stepfunctions")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        runs = sfn.list_executions(stateMachineArn=stack.stack.state_machine_arn)["executions"]
        if len(runs) >= expected and all(run["status"] != "RUNNING" for run in runs):
            return
        time.sleep(0.5)
    raise AssertionError("executions still running")


@pytest.mark.parametrize("path", ["api", "schedule"])
def test_many_exports_started_together_are_all_delivered_within_lemlists_limit(
    make_stack: StackFactory, simulator: LemlistSimulator, path: str
) -> None:
    ids = add_campaigns(simulator)
    stack = make_stack(parameters=ONE_SECOND_POLLS, notifications=False)
    simulator.clear_requests()

    if path == "api":
        assert stack.http_api is not None
        api, together = stack.http_api, threading.Barrier(CAMPAIGNS)

        def post(campaign_id: str) -> int:
            together.wait()
            body = json.dumps({"campaignId": campaign_id})
            return api.request("POST", "/exports", headers=stack.api_headers(), body=body).status

        with ThreadPoolExecutor(CAMPAIGNS) as pool:
            assert list(pool.map(post, ids)) == [202] * CAMPAIGNS
    else:
        outcome = fire(stack)
        assert outcome.error is None
        assert sorted(outcome.payload["started"]) == ids
    wait_for_all(stack, CAMPAIGNS)

    records = [r for c in ids for r in stack.store().list_by_campaign(c, limit=5)[0]]
    assert [r.status for r in records] == ["delivered"] * CAMPAIGNS
    lemlist = [r for r in simulator.requests if r.origin == "api"]
    assert sum(r.route == "start" for r in lemlist) == CAMPAIGNS
    assert sum(r.route == "download" for r in lemlist) == CAMPAIGNS
    refused = [r for r in lemlist if r.status == 429]
    assert len(refused) <= 0.01 * len(lemlist)
    assert busiest_window(lemlist) <= 20
