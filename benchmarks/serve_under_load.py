"""How fast `make serve` answers a cheap request while exports run, against the same request
on the idle server (the reference), both measured in this run.

Serves the stack as `make serve` does (its server class, the simulator with its one-second
polls), then times sequential requests: GET /exports/{id} (the API's Lambda, a DynamoDB read,
a presigned URL) and GET /openapi.json (no Lambda: the HTTP server alone). First on the idle
server, then while K exports run at once: K loaders each start an export over the API and,
once it has ended, the next one, so K stay in flight (each checks lemlist every second, then
copies its CSV into S3). Figures are p50 and p95 in milliseconds, and how many times the idle
figure they are under load. It fails when a request or an export fails, or when the cheap
request under load takes as long as a whole export (it would then be waiting behind them).

    .venv/bin/python -m benchmarks.serve_under_load [--exports 8] [--requests 200] [--rows 20000]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import urllib3

import local_stack  # noqa: F401  (layer on sys.path)
from local_stack.lemlist_simulator import ExportPlan, LemlistSimulator, SyntheticCsv
from local_stack.serve import LocalApiServer
from local_stack.session import poll_parameters
from local_stack.stack import LocalStack, StackOptions
from local_stack.webhook_receiver import LocalNotificationTargets

TOKEN = "bench-token-0123456789abcdef"
LEMLIST_KEY = "bench-lemlist-key-0123"
CAMPAIGN = "cam_BenchUnderLoad01"
# Between rounds of timed requests: the measuring client is one more user, not a flood.
PAUSE_SECONDS = 0.01
# Bounds the run: an export that takes longer than this is a failure, not a wait.
EXPORT_DEADLINE_SECONDS = 120.0


@dataclass(frozen=True)
class Figures:
    p50: float
    p95: float
    statuses: frozenset[int]

    @classmethod
    def of(cls, samples: list[float], statuses: set[int]) -> Figures:
        return cls(
            statistics.median(samples), statistics.quantiles(samples, n=20)[18], frozenset(statuses)
        )


def sample(
    calls: dict[str, Callable[[], int]],
    count: int,
    enough: Callable[[], bool] = lambda: True,
    during: Callable[[], None] = lambda: None,
) -> dict[str, Figures]:
    """Time the calls in turn, a pause between rounds, until each has `count` samples and
    `enough()` says the window was long enough."""
    samples: dict[str, list[float]] = {name: [] for name in calls}
    statuses: dict[str, set[int]] = {name: set() for name in calls}
    while min(map(len, samples.values())) < count or not enough():
        for name, call in calls.items():
            during()
            started = time.perf_counter()
            statuses[name].add(call())
            samples[name].append((time.perf_counter() - started) * 1000)
        time.sleep(PAUSE_SECONDS)
    return {name: Figures.of(samples[name], statuses[name]) for name in calls}


@dataclass
class Load:
    """K loaders, each keeping one export in flight until stopped."""

    url: str
    headers: dict[str, str]
    stack: LocalStack
    loaders: int
    stop: threading.Event = field(default_factory=threading.Event)
    http: urllib3.PoolManager = field(
        default_factory=lambda: urllib3.PoolManager(maxsize=64, timeout=EXPORT_DEADLINE_SECONDS)
    )
    in_flight: int = 0
    seconds: list[float] = field(default_factory=list)
    outcomes: dict[str, int] = field(default_factory=dict)
    _changed: threading.Condition = field(default_factory=threading.Condition)
    _threads: list[threading.Thread] = field(default_factory=list)

    def start(self) -> Load:
        for _ in range(self.loaders):
            thread = threading.Thread(target=self._run, daemon=True)
            thread.start()
            self._threads.append(thread)
        with self._changed:  # measure only once every loader has its export running
            self._changed.wait_for(lambda: self.in_flight == self.loaders, timeout=60)
        return self

    def wait_delivered(self, count: int) -> None:
        with self._changed:
            self._changed.wait_for(
                lambda: len(self.seconds) >= count or bool(set(self.outcomes) - {"delivered"}),
                timeout=EXPORT_DEADLINE_SECONDS,
            )
        if set(self.outcomes) != {"delivered"}:
            raise SystemExit(f"FAIL: exports to warm up with ended {self.outcomes}")

    def finish(self) -> None:
        self.stop.set()
        for thread in self._threads:
            thread.join(timeout=EXPORT_DEADLINE_SECONDS)

    def _run(self) -> None:
        body = json.dumps({"campaignId": CAMPAIGN})
        while not self.stop.is_set():
            began = time.monotonic()
            self._count(+1)
            try:
                try:
                    answer = self.http.request(
                        "POST", f"{self.url}/exports", body=body, headers=self.headers
                    )
                except urllib3.exceptions.HTTPError as exc:
                    answer = None
                    self._outcome(f"POST {type(exc).__name__}")
                if answer is None or answer.status != 202:
                    if answer is not None:
                        self._outcome(f"POST {answer.status}")
                    self.stop.wait(1)
                    continue
                outcome = self._until_ended(answer.json()["exportId"], began)
                if outcome == "delivered":
                    with self._changed:
                        self.seconds.append(time.monotonic() - began)
                self._outcome(outcome)
            finally:
                self._count(-1)

    def _until_ended(self, export_id: str, began: float) -> str:
        while time.monotonic() - began < EXPORT_DEADLINE_SECONDS:
            record = self.stack.record(export_id)
            if record is not None and record.is_final:
                return record.status
            if self.stop.wait(0.25):
                return "stopped"
        return "overdue"

    def _count(self, step: int) -> None:
        with self._changed:
            self.in_flight += step
            self._changed.notify_all()

    def _outcome(self, name: str) -> None:
        with self._changed:
            self.outcomes[name] = self.outcomes.get(name, 0) + 1
            self._changed.notify_all()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--exports", type=int, default=8, help="exports in flight under load")
    parser.add_argument("--requests", type=int, default=200, help="timed requests per figure")
    parser.add_argument("--rows", type=int, default=20_000, help="rows of each exported CSV")
    args = parser.parse_args()
    with LemlistSimulator(api_key=LEMLIST_KEY) as sim, open(os.devnull, "w") as logs:
        csv = SyntheticCsv(rows=args.rows, seed=1)
        sim.add_campaign(CAMPAIGN, "Under load", csv, ExportPlan(pending_polls=2))
        targets = LocalNotificationTargets().start()
        stack = LocalStack(
            StackOptions(
                sim.base_url,
                LEMLIST_KEY,
                notifications=targets.notifications(),
                parameters=poll_parameters(None, simulated=True),  # make serve's: 1 s
                api_token=TOKEN,
            )
        ).start()
        stack.lambdas.log_sink = logs  # make serve writes them to a file
        server = LocalApiServer(stack, port=0).start()
        url, headers = server.url, {"Authorization": f"Bearer {TOKEN}"}
        http = urllib3.PoolManager(maxsize=4, timeout=EXPORT_DEADLINE_SECONDS)

        # Warm workers for every function the load runs, and a delivered export to look at;
        # then every execution is left to end, so that the reference is an idle server.
        warm = Load(url, headers, stack, loaders=args.exports).start()
        warm.wait_delivered(args.exports)
        warm.finish()
        stack.stop_executions(grace_seconds=EXPORT_DEADLINE_SECONDS)
        export_id = stack.store().list_by_campaign(CAMPAIGN, limit=1)[0][0].export_id

        def view() -> int:
            return http.request("GET", f"{url}/exports/{export_id}", headers=headers).status

        def document() -> int:
            return http.request("GET", f"{url}/openapi.json").status

        calls = {"GET /exports/{id}": view, "GET /openapi.json": document}
        idle = sample(calls, args.requests)
        load = Load(url, headers, stack, loaders=args.exports).start()
        give_up = time.monotonic() + EXPORT_DEADLINE_SECONDS
        in_flight: list[int] = []
        # Long enough for every loader to see two of its exports through.
        busy = sample(
            calls,
            args.requests,
            enough=lambda: len(load.seconds) >= 2 * args.exports or time.monotonic() > give_up,
            during=lambda: in_flight.append(load.in_flight),
        )
        load.finish()
        server.stop()
        stack.stop_executions(grace_seconds=0)
        targets.stop()
    return report(args, idle, busy, load, in_flight)


def report(
    args: argparse.Namespace,
    idle: dict[str, Figures],
    busy: dict[str, Figures],
    load: Load,
    in_flight: list[int],
) -> int:
    export_seconds = statistics.median(load.seconds) if load.seconds else float("nan")
    mean_in_flight = statistics.fmean(in_flight)
    print(
        f"{args.exports} exports in flight (mean {mean_in_flight:.1f} while timed), "
        f"{args.rows} rows each; exports ended: {load.outcomes}; "
        f"one took {export_seconds:.1f} s (median)"
    )
    print(
        f"{'ms':20} {'idle p50':>9} {'p95':>7} {'load p50':>9} {'p95':>7} {'x p50':>6} {'x p95':>6}"
    )
    figures: dict[str, object] = {}
    for name, quiet in idle.items():
        loaded = busy[name]
        print(
            f"{name:20} {quiet.p50:9.1f} {quiet.p95:7.1f} {loaded.p50:9.1f} {loaded.p95:7.1f} "
            f"{loaded.p50 / quiet.p50:6.1f} {loaded.p95 / quiet.p95:6.1f}"
        )
        figures[name] = {
            "idle": {"p50": round(quiet.p50, 2), "p95": round(quiet.p95, 2)},
            "load": {"p50": round(loaded.p50, 2), "p95": round(loaded.p95, 2)},
        }
    summary = {
        "benchmark": "serve_under_load",
        "exports": args.exports,
        "requests": args.requests,
        "rows": args.rows,
        "inFlightMean": round(mean_in_flight, 2),
        "exportSecondsMedian": round(export_seconds, 2),
        "outcomes": load.outcomes,
        "milliseconds": figures,
    }
    print(json.dumps(summary))
    failures = []
    statuses = {s for timed in (*idle.values(), *busy.values()) for s in timed.statuses}
    if statuses != {200}:
        failures.append(f"requests answered {sorted(statuses)}, not only 200")
    if set(load.outcomes) - {"delivered", "stopped"} or len(load.seconds) < 2 * args.exports:
        failures.append(f"exports under load ended {load.outcomes}")
    if mean_in_flight < 0.75 * args.exports:
        failures.append(f"only {mean_in_flight:.1f} exports were in flight on average")
    # A request waiting behind the exports would take about as long as one of them.
    if not max(timed.p95 for timed in busy.values()) < export_seconds * 1000:
        failures.append("a request under load took as long as a whole export (p95)")
    for failure in failures:
        print(f"FAIL: {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
