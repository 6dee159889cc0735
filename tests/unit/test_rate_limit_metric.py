"""Every 429 lemlist answers is counted (LemlistRateLimited), waited out or not.

The client tells a hook (`on_rate_limited`); the Lambdas' hook adds the metric, which
Powertools writes as an EMF line on standard output when the invocation's metrics flush.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from lemlist_export.core.errors import RateLimitedError
from lemlist_export.core.observability import metrics
from lemlist_export.core.url_judge import LOCAL_URLS
from lemlist_export.lemlist.client import ClientSettings, LemlistClient
from lemlist_export.lemlist.rate_gate import Priority
from lemlist_export.wiring.runtime import count_rate_limited
from local_stack.lemlist_simulator import DEFAULT_CAMPAIGN_ID, Fault, LemlistSimulator


def emf_values(output: str, name: str) -> list[float]:
    values: list[float] = []
    for line in output.splitlines():
        if line.startswith("{") and '"_aws"' in line:
            document: dict[str, Any] = json.loads(line)
            value = document.get(name, [])
            values.extend(value if isinstance(value, list) else [value])
    return values


def test_each_429_is_heard_once_whether_waited_out_or_raised(
    simulator: LemlistSimulator, api_key: str, capsys: pytest.CaptureFixture[str]
) -> None:
    heard: list[RateLimitedError] = []
    client = LemlistClient(
        api_key,
        ClientSettings(base_url=simulator.base_url, urls=LOCAL_URLS, max_rate_limit_wait=0.5),
        on_rate_limited=heard.append,
        sleep=lambda seconds: None,
    )
    simulator.inject("start", Fault.rate_limited(0.1))  # waited out by the client
    export = client.start_export(DEFAULT_CAMPAIGN_ID)
    simulator.inject("status", Fault.rate_limited(30))  # longer than the client waits
    with pytest.raises(RateLimitedError):
        client.get_export_status(DEFAULT_CAMPAIGN_ID, export.export_id)
    simulator.inject("status", Fault.rate_limited(None))  # a 429 without Retry-After
    with pytest.raises(RateLimitedError):
        client.get_export_status(DEFAULT_CAMPAIGN_ID, export.export_id)

    assert [e.retry_after for e in heard] == [0.1, 30, None]
    capsys.readouterr()


class RefusingOnce:
    """A rate gate (the stack's own pacing) that holds the first request back."""

    def __init__(self) -> None:
        self.refused = False

    def acquire(self, priority: Priority = Priority.URGENT, max_wait: float = 0.0) -> float:
        if not self.refused:
            self.refused = True
            raise RateLimitedError(
                "The shared lemlist rate limit is reached", retry_after=0.2, held_back=True
            )
        return 0.0


def test_the_stacks_own_pacing_is_not_a_429_from_lemlist(
    simulator: LemlistSimulator, api_key: str
) -> None:
    heard: list[RateLimitedError] = []
    client = LemlistClient(
        api_key,
        ClientSettings(base_url=simulator.base_url, urls=LOCAL_URLS, max_rate_limit_wait=1),
        gate=RefusingOnce(),
        on_rate_limited=heard.append,
        sleep=lambda seconds: None,
    )

    client.start_export(DEFAULT_CAMPAIGN_ID)  # held back once by the gate, then sent

    assert heard == []
    assert [r.status for r in simulator.requests if r.route == "start"] == [200]


def test_the_lambdas_hook_writes_lemlist_rate_limited_to_emf(
    simulator: LemlistSimulator, api_key: str, capsys: pytest.CaptureFixture[str]
) -> None:
    client = LemlistClient(
        api_key,
        ClientSettings(base_url=simulator.base_url, urls=LOCAL_URLS),
        on_rate_limited=count_rate_limited,
    )
    export = client.start_export(DEFAULT_CAMPAIGN_ID)
    metrics.clear_metrics()  # whatever an earlier test left in the process's metric set
    simulator.inject("status", Fault.rate_limited(1), Fault.rate_limited(2))
    for _ in range(2):
        with pytest.raises(RateLimitedError):
            client.get_export_status(DEFAULT_CAMPAIGN_ID, export.export_id)
    client.get_export_status(DEFAULT_CAMPAIGN_ID, export.export_id)

    metrics.flush_metrics()  # what @metrics.log_metrics does when a handler returns

    assert emf_values(capsys.readouterr().out, "LemlistRateLimited") == [1.0, 1.0]
