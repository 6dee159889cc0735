"""200 campaigns, one lemlist key: every export started at once, through the HTTP API and
through one schedule firing, on the embedded stack with its real (adaptive) waits.

The simulator plays lemlist: 20 requests per sliding 2 s per key (429 + Retry-After beyond),
and each export ready after a duration drawn uniformly from 20 to 60 s of wall time. The
reference, computed from the same run, is the lower bound no client of that key can beat:
the larger of (lemlist requests made / 10 per second) and (the longest export plus the time to
start them all at 10 per second). Targets: every export delivered, 429s under 1% of the lemlist
requests, and a wall time (first start to last delivery) of at most 1.25 times the bound.

    .venv/bin/python -m benchmarks.scale [--campaigns 200] [--path api|schedule|both]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import statistics
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import urllib3

import local_stack  # noqa: F401  (layer on sys.path)
from benchmarks.results import record
from lemlist_export.core.clock import parse_iso
from lemlist_export.records.record import ExportRecord
from local_stack.lemlist_simulator import (
    DEFAULT_CAMPAIGN_ID,
    ExportPlan,
    LemlistSimulator,
    RecordedRequest,
    SyntheticCsv,
    busiest_window,
)
from local_stack.scheduler import fire
from local_stack.serve import LocalApiServer
from local_stack.stack import LocalStack, StackOptions

TOKEN = "bench-token-0123456789abcdef"
LEMLIST_KEY = "bench-lemlist-key-0123"
# lemlist's limit, which the simulator enforces: 20 requests per sliding 2 s.
LEMLIST_PER_SECOND = 10.0
LEMLIST_LIMIT, LEMLIST_WINDOW = 20, 2.0
MAX_RATIO = 1.25
MAX_429_SHARE = 0.01
# Bounds each run: exports not delivered by then count as missed.
DEADLINE_SECONDS = 300.0


@dataclass
class Run:
    """One path's figures."""

    path: str
    campaigns: int
    longest_export: float
    began: float = 0.0  # wall clock (epoch seconds) just before the first start
    start_answers: Counter[str] = field(default_factory=Counter)
    records: list[ExportRecord] = field(default_factory=list)
    requests: list[RecordedRequest] = field(default_factory=list)
    invocations: Counter[str] = field(default_factory=Counter)
    invocation_seconds: dict[str, float] = field(default_factory=dict)
    cpu: dict[str, float] = field(default_factory=dict)

    @property
    def delivered(self) -> int:
        return sum(1 for r in self.records if r.status == "delivered")

    @property
    def api_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.origin == "api"]

    @property
    def rate_limited(self) -> int:
        return sum(1 for r in self.api_requests if r.status == 429)

    @property
    def wall(self) -> float:
        ends = [parse_iso(r.delivered_at).timestamp() for r in self.records if r.delivered_at]
        return (max(ends) - self.began) if ends else float("inf")

    @property
    def start_spread(self) -> float:
        """At 10/s, the time starting every export takes at best."""
        return self.campaigns / LEMLIST_PER_SECOND

    @property
    def bound(self) -> float:
        return max(
            len(self.api_requests) / LEMLIST_PER_SECOND, self.longest_export + self.start_spread
        )

    @property
    def ratio(self) -> float:
        return self.wall / self.bound

    def busiest_window(self) -> int:
        """Most lemlist API requests the simulator saw in any sliding 2 s."""
        return busiest_window(self.api_requests, LEMLIST_WINDOW)

    def figures(self) -> dict[str, Any]:
        routes = Counter(r.route for r in self.api_requests)
        return {
            "campaigns": self.campaigns,
            "delivered": self.delivered,
            "lemlist_requests": len(self.api_requests),
            "lemlist_requests_by_route": dict(sorted(routes.items())),
            "rate_limited": self.rate_limited,
            "busiest_2s_window": self.busiest_window(),
            "wall_seconds": round(self.wall, 1),
            "bound_seconds": round(self.bound, 1),
            "wall_ratio_vs_bound": round(self.ratio, 3),
            "longest_export_seconds": round(self.longest_export, 1),
            "lambda_invocations": dict(sorted(self.invocations.items())),
        }

    def failures(self) -> list[str]:
        missed = []
        if self.delivered < self.campaigns:
            states = Counter(r.status for r in self.records)
            missed.append(
                f"{self.path}: {self.delivered} of {self.campaigns} delivered ({dict(states)}; "
                f"starts answered {dict(self.start_answers)})"
            )
        if self.rate_limited > MAX_429_SHARE * max(1, len(self.api_requests)):
            missed.append(
                f"{self.path}: {self.rate_limited} 429s in {len(self.api_requests)} lemlist "
                f"requests (over {MAX_429_SHARE:.0%})"
            )
        if not self.ratio <= MAX_RATIO:
            missed.append(f"{self.path}: wall {self.ratio:.2f}x the bound (over {MAX_RATIO})")
        return missed

    def timeline(self, step: float = 10.0) -> str:
        """lemlist requests per `step` seconds since the first: starts/checks/downloads."""
        if not self.api_requests:
            return "no lemlist requests"
        first = self.api_requests[0].time
        buckets: dict[int, Counter[str]] = {}
        for r in self.api_requests:
            buckets.setdefault(int((r.time - first) // step), Counter())[r.route] += 1
        return " ".join(
            f"{int(i * step)}s:{c['start']}/{c['status']}/{c['download']}"
            for i, c in sorted(buckets.items())
        )

    def dominated(self) -> str:
        """Where the wall time went, as far as the simulator's log and the records tell."""
        starts = sorted(r.time for r in self.api_requests if r.route == "start")
        first = self.api_requests[0].time if self.api_requests else 0.0
        last_start = (starts[-1] - first) if starts else float("nan")
        lags = []
        for r in self.records:
            if r.delivered_at and r.lemlist_started_at:
                lags.append(
                    parse_iso(r.delivered_at).timestamp()
                    - parse_iso(r.lemlist_started_at).timestamp()
                )
        by_rate = len(self.api_requests) / LEMLIST_PER_SECOND
        by_time = self.longest_export + self.start_spread
        term = "lemlist requests / 10/s" if by_rate >= by_time else "longest export + starts"
        return (
            f"bound: {term} ({by_rate:.1f} s vs {by_time:.1f} s); last start "
            f"{last_start:.1f} s after the first (10/s: {self.start_spread:.1f} s); "
            f"started-to-delivered median {statistics.median(lags) if lags else 0:.1f} s, "
            f"max {max(lags, default=0):.1f} s (exports last 20-60 s)"
        )


def campaigns_for(sim: LemlistSimulator, count: int, seed: int) -> tuple[list[str], float]:
    """`count` running campaigns, each export ready after 20 to 60 s; the longest duration."""
    rng = random.Random(seed)
    # The simulator's own demo campaign is paused, so "every running campaign" is ours.
    sim.add_campaign(DEFAULT_CAMPAIGN_ID, "Demo", SyntheticCsv(rows=20), status="paused")
    ids, longest = [], 0.0
    for index in range(count):
        seconds = rng.uniform(20.0, 60.0)
        longest = max(longest, seconds)
        campaign_id = f"cam_Scale{index:04d}"
        plan = ExportPlan(ready_after_seconds=seconds)
        sim.add_campaign(campaign_id, f"Scale {index}", SyntheticCsv(rows=50, seed=index), plan)
        ids.append(campaign_id)
    return ids, longest


def new_stack(sim: LemlistSimulator, workers: int | None) -> LocalStack:
    stack = LocalStack(
        StackOptions(sim.base_url, LEMLIST_KEY, api_token=TOKEN)  # the template's own waits
    )
    if workers is not None:
        stack.lambdas.concurrency = workers
    return stack.start()


def running(stack: LocalStack) -> int:
    sfn = stack.client("stepfunctions")
    count, token = 0, None
    while True:
        page = sfn.list_executions(
            stateMachineArn=stack.stack.state_machine_arn,
            statusFilter="RUNNING",
            maxResults=1000,
            **({"nextToken": token} if token else {}),
        )
        count += len(page["executions"])
        token = page.get("nextToken")
        if not token:
            return count


def wait_for_executions(stack: LocalStack, expected: int, began: float) -> None:
    sfn = stack.client("stepfunctions")
    while time.monotonic() - began < DEADLINE_SECONDS:
        time.sleep(2)
        listed = sfn.list_executions(
            stateMachineArn=stack.stack.state_machine_arn, maxResults=1000
        )["executions"]
        if len(listed) >= expected and running(stack) == 0:
            return


def run_api(sim: LemlistSimulator, ids: list[str], longest: float, workers: int | None) -> Run:
    run = Run("api", len(ids), longest)
    stack = new_stack(sim, workers)
    server = LocalApiServer(stack, port=0).start()
    http = urllib3.PoolManager(maxsize=len(ids), timeout=60.0, retries=False)
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    export_ids: list[str] = []
    lock = threading.Lock()
    gate = threading.Barrier(len(ids) + 1)

    def post(campaign_id: str) -> None:
        gate.wait()
        try:
            answer = http.request(
                "POST",
                f"{server.url}/exports",
                body=json.dumps({"campaignId": campaign_id}),
                headers=headers,
            )
        except urllib3.exceptions.HTTPError as exc:
            with lock:
                run.start_answers[type(exc).__name__] += 1
            return
        with lock:
            run.start_answers[str(answer.status)] += 1
            if answer.status != 202 and run.start_answers[str(answer.status)] == 1:
                print(f"POST /exports answered {answer.status}: {answer.data[:300]!r}")
            if answer.status == 202:
                export_ids.append(answer.json()["exportId"])

    threads = [threading.Thread(target=post, args=(c,), daemon=True) for c in ids]
    for thread in threads:
        thread.start()
    sim.clear_requests()
    run.began, clock = time.time(), time.monotonic()
    gate.wait()
    for thread in threads:
        thread.join()
    wait_for_executions(stack, len(export_ids), clock)
    store = stack.store()
    run.records = [r for r in map(store.find, export_ids) if r is not None]
    finish(run, sim, stack)
    server.stop()
    return run


def run_schedule(sim: LemlistSimulator, ids: list[str], longest: float, workers: int | None) -> Run:
    run = Run("schedule", len(ids), longest)
    stack = new_stack(sim, workers)
    sim.clear_requests()
    run.began, clock = time.time(), time.monotonic()
    outcome = fire(stack, when=datetime.now(UTC))  # the template's: every running campaign
    if outcome.error is not None:
        run.start_answers[str(outcome.error.get("errorType"))] += 1
        finish(run, sim, stack)
        return run
    started = outcome.payload["started"]
    run.start_answers["started"] += len(started)
    wait_for_executions(stack, len(started), clock)
    store = stack.store()
    run.records = [r for c in started for r in store.list_by_campaign(c, limit=5)[0]]
    finish(run, sim, stack)
    return run


def finish(run: Run, sim: LemlistSimulator, stack: LocalStack) -> None:
    run.requests = sim.requests
    seconds: dict[str, list[float]] = {}
    for stats in stack.lambdas.stats:
        name = stats.function.removeprefix(f"{stack.options.stack_name}-")
        run.invocations[name] += 1
        seconds.setdefault(name, []).append(stats.seconds)
    run.invocation_seconds = {n: statistics.fmean(s) for n, s in seconds.items()}
    stack.lambdas.stats.clear()
    run.cpu = cpu_seconds(stack)
    stack.stop_executions(grace_seconds=0)


def cpu_seconds(stack: LocalStack) -> dict[str, float]:
    """CPU time so far of this process (moto, Step Functions, the simulator) and of the
    Lambda workers (Linux only)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    workers = 0.0
    tick = os.sysconf("SC_CLK_TCK")
    for function in {f.name for f in stack.stack.functions.values()}:
        for pid in stack.lambdas.worker_pids(function):
            try:
                stat = Path(f"/proc/{pid}/stat").read_text()
            except OSError:
                continue
            fields = stat.rsplit(")", 1)[1].split()
            workers += (int(fields[11]) + int(fields[12])) / tick
    return {"this_process": usage.ru_utime + usage.ru_stime, "lambda_workers": workers}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--campaigns", type=int, default=200)
    parser.add_argument("--path", choices=("api", "schedule", "both"), default="both")
    parser.add_argument("--seed", type=int, default=10)
    parser.add_argument(
        "--workers", type=int, default=None, help="Lambda workers per function (default: 10)"
    )
    args = parser.parse_args()
    paths = ("api", "schedule") if args.path == "both" else (args.path,)
    runs: list[Run] = []
    began = time.monotonic()
    with LemlistSimulator(api_key=LEMLIST_KEY) as sim, open(os.devnull, "w") as logs:
        ids, longest = campaigns_for(sim, args.campaigns, args.seed)
        for path in paths:
            runner = run_api if path == "api" else run_schedule
            from local_stack.stack import embedded

            embedded()[1].log_sink = logs
            runs.append(runner(sim, ids, longest, args.workers))
            print(f"{path}: done in {time.monotonic() - began:.0f} s", file=sys.stderr)
    return report(runs, time.monotonic() - began)


def report(runs: list[Run], seconds: float) -> int:
    print(
        f"{'path':9} {'campaigns':>9} {'delivered':>9} {'requests':>8} {'429s':>5} "
        f"{'max/2s':>6} {'wall s':>7} {'bound s':>7} {'ratio':>6}"
    )
    for run in runs:
        print(
            f"{run.path:9} {run.campaigns:9} {run.delivered:9} {len(run.api_requests):8} "
            f"{run.rate_limited:5} {run.busiest_window():6} {run.wall:7.1f} {run.bound:7.1f} "
            f"{run.ratio:6.2f}"
        )
    for run in runs:
        routes = Counter(r.route for r in run.api_requests)
        print(f"{run.path}: lemlist requests by route {dict(sorted(routes.items()))}")
        print(f"{run.path}: {run.dominated()}")
        print(f"{run.path}: per 10 s, starts/checks/downloads: {run.timeline()}")
        calls = {
            n: f"{c} x {run.invocation_seconds.get(n, 0.0):.2f} s"
            for n, c in sorted(run.invocations.items())
        }
        print(f"{run.path}: Lambda invocations {calls}")
        cpu = ", ".join(f"{n} {s:.0f} s" for n, s in run.cpu.items())
        print(f"{run.path}: CPU (cumulative, 2 cores) {cpu}")
    print(f"benchmark took {seconds:.0f} s")
    figures = {run.path: run.figures() for run in runs}
    worst = max(runs, key=lambda run: (run.campaigns - run.delivered, run.ratio))
    record(
        "scale",
        {
            "campaigns": max(run.campaigns for run in runs),
            "delivered": min(run.delivered for run in runs),
            "lemlist_requests": max(len(run.api_requests) for run in runs),
            "rate_limited": max(run.rate_limited for run in runs),
            "wall_ratio_vs_bound": round(worst.ratio, 3),
            "benchmark_seconds": round(seconds, 1),
            **figures,
        },
    )
    failures = [failure for run in runs for failure in run.failures()]
    for failure in failures:
        print(f"FAIL: {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
