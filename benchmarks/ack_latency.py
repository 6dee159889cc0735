"""How fast the local API answers Slack and Zapier, against a plain HTTP round trip.

Serves the stack as `make serve` does, then times over real HTTP: the reference (GET
/openapi.json, which runs no Lambda), a Slack `help` and a Slack export acknowledgement
(Slack gives up after 3 s), and POST /exports (Zapier gives up after 30 s). Local figures:
they show the code's own cost, not AWS's cold starts.

    .venv/bin/python -m benchmarks.ack_latency [--requests 15]
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import statistics
import sys
import time
from collections.abc import Callable
from urllib.parse import urlencode

import urllib3

import local_stack  # noqa: F401  (layer on sys.path)
from local_stack.lemlist_simulator import DEFAULT_CAMPAIGN_ID, LemlistSimulator
from local_stack.serve import LocalApiServer
from local_stack.stack import LocalStack, StackOptions
from local_stack.webhook_receiver import LocalNotificationTargets

TOKEN = "bench-token-0123456789abcdef"
SLACK_SECRET = "bench-slack-secret-0123"


def timed(call: Callable[[], int], count: int) -> tuple[float, float, set[int]]:
    samples, statuses = [], set()
    for _ in range(count):
        started = time.perf_counter()
        statuses.add(call())
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples), max(samples), statuses


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=15)
    args = parser.parse_args()
    with LemlistSimulator(api_key="bench-lemlist-key-0123") as sim:
        targets = LocalNotificationTargets().start()
        stack = LocalStack(
            StackOptions(
                sim.base_url,
                "bench-lemlist-key-0123",
                notifications=targets.notifications(),
                # Started exports then wait a minute before their first status check, so
                # the figures are the handlers' own, not shared with status checks running
                # beside them on this machine's cores.
                parameters={"PollFirstWaitSeconds": "60"},
                api_token=TOKEN,
                slack_signing_secret=SLACK_SECRET,
            )
        ).start()
        server = LocalApiServer(stack, port=0).start()
        url, reply_to = server.url, targets.receiver.url(targets.SLACK_RESPONSE_PATH)
        counter = iter(range(10**6))

        def reference() -> int:
            return urllib3.request("GET", f"{url}/openapi.json").status

        def slack(text: str) -> Callable[[], int]:
            def call() -> int:
                form = {"command": "/lemlist-export", "text": text, "user_id": "U1",
                        "channel_id": "C1", "team_id": "T1", "response_url": reply_to,
                        "trigger_id": f"bench.{next(counter)}"}  # fmt: skip
                body = urlencode(form).encode()
                stamp = str(int(time.time()))
                base = f"v0:{stamp}:".encode() + body
                signature = (
                    "v0=" + hmac.new(SLACK_SECRET.encode(), base, hashlib.sha256).hexdigest()
                )
                headers = {"X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": signature}
                return urllib3.request(
                    "POST", f"{url}/slack/commands", body=body, headers=headers
                ).status

            return call

        def start() -> int:
            body = json.dumps({"campaignId": DEFAULT_CAMPAIGN_ID})
            headers = {"Authorization": f"Bearer {TOKEN}"}
            return urllib3.request("POST", f"{url}/exports", body=body, headers=headers).status

        rows = [
            ("reference: GET /openapi.json", timed(reference, args.requests)),
            ("Slack help ack", timed(slack("help"), args.requests)),
            ("POST /exports (one at a time)", timed(start, args.requests)),
            ("Slack export ack", timed(slack(DEFAULT_CAMPAIGN_ID), args.requests)),
        ]
        server.stop()
        stack.stop_executions(grace_seconds=0)
        targets.stop()
    failures = []
    for name, (median, worst, statuses) in rows:
        print(f"{name:32} median {median:7.1f} ms   max {worst:7.1f} ms   status {statuses}")
    slack_median = rows[3][1][0]
    if slack_median > 1000:
        failures.append("a Slack acknowledgement takes over a second (Slack allows 3)")
    for failure in failures:
        print(f"FAIL: {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
