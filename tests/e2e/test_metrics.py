"""The metrics the dashboard and alarms read are the ones the functions emit.

Runs exports on the embedded stack and reads the Lambdas' standard output, where Powertools
writes its metrics as CloudWatch Embedded Metric Format (EMF) lines, as CloudWatch would:
every metric of the stack's namespace that the template's dashboard or alarms name is
emitted in that namespace, with the one dimension (`service`) they name, and with values
that match the records.
"""

from __future__ import annotations

import io
import json
import re
from collections import defaultdict
from typing import Any

import pytest

from local_stack.lemlist_simulator import Fault, LemlistSimulator
from local_stack.sam_template import Template
from tests.conftest import ROOT, StackFactory
from tests.e2e.test_pipeline import requests_on, start
from tests.e2e.test_retry import TWO_ATTEMPTS, failed_copy, retry

pytestmark = pytest.mark.e2e

TEMPLATE = Template.load(ROOT / "template.yaml")
GLOBALS = TEMPLATE.function_globals()["Environment"]["Variables"]
NAMESPACE = GLOBALS["POWERTOOLS_METRICS_NAMESPACE"]
SERVICE = GLOBALS["POWERTOOLS_SERVICE_NAME"]
# Published by the sweeper (another part of the stack), not by these exports.
NOT_FROM_AN_EXPORT = {"OverdueExports"}


def dashboard_metrics() -> set[tuple[str, str, tuple[str, ...]]]:
    """(namespace, metric, dimension names) of every metric the dashboard shows."""
    body = TEMPLATE.body["Resources"]["ExportsDashboard"]["Properties"]["DashboardBody"]
    text = re.sub(r"\$\{[^}]+\}", "x", body["Fn::Sub"])
    found = set()
    for widget in json.loads(text)["widgets"]:
        for line in widget["properties"].get("metrics", []):
            names = [item for item in line if isinstance(item, str)]
            found.add((names[0], names[1], tuple(names[2::2])))
    return found


def alarm_metrics() -> set[tuple[str, str, tuple[str, ...]]]:
    found = set()
    for alarm in TEMPLATE.resources("AWS::CloudWatch::Alarm"):
        props = alarm.properties
        if "MetricName" in props:
            dimensions = tuple(d["Name"] for d in props.get("Dimensions", []))
            found.add((props["Namespace"], props["MetricName"], dimensions))
    return found


def emitted(logs: io.StringIO) -> dict[str, dict[str, Any]]:
    """Every EMF metric in the logs: its namespace, dimension sets, service and values."""
    metrics: dict[str, dict[str, Any]] = defaultdict(
        lambda: {"namespaces": set(), "dimensions": set(), "services": set(), "values": []}
    )
    for line in logs.getvalue().splitlines():
        if not line.startswith("{") or '"_aws"' not in line:
            continue
        document = json.loads(line)
        for directive in document["_aws"]["CloudWatchMetrics"]:
            for metric in directive["Metrics"]:
                name = metric["Name"]
                values = document[name]
                seen = metrics[name]
                seen["namespaces"].add(directive["Namespace"])
                seen["dimensions"].add(tuple(tuple(d) for d in directive["Dimensions"]))
                seen["services"].add(document.get("service"))
                seen["values"].extend(values if isinstance(values, list) else [values])
    return metrics


def test_the_dashboards_and_alarms_metrics_are_emitted_as_they_read_them(
    make_stack: StackFactory, simulator: LemlistSimulator, handler_logs: io.StringIO
) -> None:
    stack = make_stack(environment=TWO_ATTEMPTS)
    # One export delivered after a 429 on a status check; one failed in the copy, retried.
    simulator.inject("status", Fault.rate_limited(1))
    _, body = start(stack)
    plain = stack.wait_for_end(body["exportId"], timeout=60)
    failed = failed_copy(stack, simulator)
    status, _ = retry(stack, failed.export_id)
    assert status == 202
    retried = stack.wait_for_end(failed.export_id, timeout=60)
    assert plain.status == retried.status == "delivered"

    metrics = emitted(handler_logs)

    ours = {
        (namespace, name, dimensions)
        for namespace, name, dimensions in dashboard_metrics() | alarm_metrics()
        if namespace == NAMESPACE and name not in NOT_FROM_AN_EXPORT
    }
    assert {name for _, name, _ in ours} >= {
        "ExportsStarted",
        "ExportsDelivered",
        "ExportsFailed",
        "ExportsRetried",
        "BytesDelivered",
        "CheckAttempts",
        "LemlistRateLimited",
        "ExportDuration",
    }
    for _, name, dimensions in ours:
        assert name in metrics, f"{name} is on the dashboard but never emitted"
        assert metrics[name]["namespaces"] == {NAMESPACE}, name
        assert metrics[name]["dimensions"] == {(dimensions,)}, name
        assert metrics[name]["services"] == {SERVICE}, name

    def total(name: str) -> float:
        return float(sum(metrics[name]["values"]))

    assert total("ExportsStarted") == 2
    assert total("ExportsFailed") == 1
    assert total("ExportsRetried") == 1
    assert total("ExportsDelivered") == 2
    # Every 429 lemlist answered, the injected one among them.
    answered_429 = [r for r in simulator.requests if r.status == 429]
    assert len(answered_429) >= 1
    assert total("LemlistRateLimited") == len(answered_429)
    assert total("BytesDelivered") == (plain.bytes or 0) + (retried.bytes or 0)
    assert total("CheckAttempts") == len(requests_on(simulator, "status"))
    # Export age: from the start to the delivery, as the records say.
    ages = sorted(metrics["ExportDuration"]["values"])
    expected = sorted([plain.duration_seconds(), retried.duration_seconds()])
    assert ages == pytest.approx(expected, abs=0.001)


def test_the_overdue_alarm_reads_the_namespace_and_dimension_powertools_writes() -> None:
    """The sweeper publishes OverdueExports with the stack's Powertools Metrics: what the
    alarm reads must be what Powertools writes under the template's settings."""
    from aws_lambda_powertools import Metrics
    from aws_lambda_powertools.metrics import MetricUnit

    writer = Metrics(namespace=NAMESPACE, service=SERVICE)
    writer.add_metric(name="OverdueExports", unit=MetricUnit.Count, value=2)
    document = writer.serialize_metric_set()
    writer.clear_metrics()

    (directive,) = document["_aws"]["CloudWatchMetrics"]
    alarm = TEMPLATE.body["Resources"]["OverdueExportsAlarm"]["Properties"]
    assert alarm["Namespace"] == directive["Namespace"] == "LemlistStatsExport"
    assert [[d["Name"] for d in alarm["Dimensions"]]] == directive["Dimensions"] == [["service"]]
    assert alarm["Dimensions"][0]["Value"] == document["service"] == "lemlist-stats-export"
    assert alarm["MetricName"] == "OverdueExports"
    assert (alarm["Statistic"], alarm["ComparisonOperator"], alarm["Threshold"]) == (
        "Maximum",
        "GreaterThanThreshold",
        0,
    )
