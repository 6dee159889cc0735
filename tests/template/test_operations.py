"""The operations side of template.yaml: the alarm topic, the alarms and the dashboard.

Each alarm must watch the resource it names (its dimension resolves to this stack's state
machine, queue or function, also after the SAM transform for the queues SAM creates), fire on
the first occurrence, publish to the alarm topic, and say what to do; the topic must be
encrypted with a key CloudWatch may use; the dashboard must be valid JSON once substituted.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from local_stack.sam_template import Resolver, Template
from tests.conftest import ROOT

TOOLS = ROOT / ".tools-venv" / "bin"
ALARMS = {
    "ExecutionsFailedAlarm",
    "ExecutionsTimedOutOrAbortedAlarm",
    "FailedInvocationsAlarm",
    "WatchdogDeadLetterAlarm",
    "ScheduleDeadLetterAlarm",
    "WatchdogErrorsAlarm",
    "OverdueExportsAlarm",
}


@pytest.fixture(scope="module")
def template() -> Template:
    return Template.load(ROOT / "template.yaml")


def props(template: Template, logical_id: str) -> dict[str, Any]:
    resource: dict[str, Any] = template.body["Resources"][logical_id]["Properties"]
    return resource


def resolver(**parameters: str) -> Resolver:
    """The template's intrinsics resolved as a deployment with these parameters would."""
    template = Template.load(ROOT / "template.yaml", parameters)
    names = {r.logical_id: f"stack-{r.logical_id}" for r in template.resources()}
    return Resolver(template, names, {}, {"AWS::AccountId": "123456789012"})


def test_the_stack_has_exactly_these_alarms(template: Template) -> None:
    assert {r.logical_id for r in template.resources("AWS::CloudWatch::Alarm")} == ALARMS


@pytest.mark.parametrize("alarm", sorted(ALARMS))
def test_every_alarm_fires_on_the_first_occurrence_and_tells_the_topic(
    template: Template, alarm: str
) -> None:
    found = props(template, alarm)
    assert found["AlarmActions"] == [{"Ref": "AlarmTopic"}]
    assert found["OKActions"] == [{"Ref": "AlarmTopic"}]
    assert (found["Threshold"], found["ComparisonOperator"]) == (0, "GreaterThanThreshold")
    assert found["EvaluationPeriods"] == 1
    # No data is the normal state of every one of these: nothing failed.
    assert found["TreatMissingData"] == "notBreaching"
    # What it means and what to do, for whoever the topic wakes up.
    description = found["AlarmDescription"]
    assert 200 <= len(description) <= 1024  # CloudWatch's limit
    assert re.search(r"\b(retry|read|fix|check|look|open)\b", description, re.I), alarm


def metric(found: dict[str, Any]) -> tuple[str, str, str, dict[str, Any], str]:
    ((dimension,),) = [found["Dimensions"]]
    return (
        found["Namespace"],
        found["MetricName"],
        dimension["Name"],
        dimension["Value"],
        found["Statistic"],
    )


def test_failed_executions_are_watched_on_this_state_machine(template: Template) -> None:
    assert metric(props(template, "ExecutionsFailedAlarm")) == (
        "AWS/States",
        "ExecutionsFailed",
        "StateMachineArn",
        {"Ref": "ExportStateMachine"},
        "Sum",
    )
    math = props(template, "ExecutionsTimedOutOrAbortedAlarm")["Metrics"]
    (expression,) = [m for m in math if m.get("ReturnData")]
    assert expression["Expression"] == "timedOut + aborted"
    watched = {
        m["Id"]: (
            m["MetricStat"]["Metric"]["Namespace"],
            m["MetricStat"]["Metric"]["MetricName"],
            m["MetricStat"]["Metric"]["Dimensions"],
            m["MetricStat"]["Stat"],
        )
        for m in math
        if "MetricStat" in m
    }
    dimensions = [{"Name": "StateMachineArn", "Value": {"Ref": "ExportStateMachine"}}]
    assert watched == {
        "timedOut": ("AWS/States", "ExecutionsTimedOut", dimensions, "Sum"),
        "aborted": ("AWS/States", "ExecutionsAborted", dimensions, "Sum"),
    }


@pytest.mark.parametrize(
    ("alarm", "queue"),
    [
        ("FailedInvocationsAlarm", "FailedInvocationsQueue"),
        ("WatchdogDeadLetterAlarm", "AnnounceExportFunctionExecutionEndedQueue"),
        ("ScheduleDeadLetterAlarm", "ScheduledExportsFunctionScheduleQueue"),
    ],
)
def test_a_message_in_a_parking_queue_raises_its_alarm(
    template: Template, alarm: str, queue: str
) -> None:
    assert metric(props(template, alarm)) == (
        "AWS/SQS",
        "ApproximateNumberOfMessagesVisible",
        "QueueName",
        {"Fn::GetAtt": [queue, "QueueName"]},
        "Maximum",
    )


def test_the_dead_letter_queues_sam_creates_have_the_names_the_alarms_use(
    template: Template,
) -> None:
    announce = props(template, "AnnounceExportFunction")["Events"]["ExecutionEnded"]
    schedule = props(template, "ScheduledExportsFunction")["Events"]["Schedule"]
    # Written out as SAM's own default names: renaming one would replace the queue (and drop
    # what it holds), so a change here must be deliberate.
    assert announce["Properties"]["DeadLetterConfig"] == {
        "Type": "SQS",
        "QueueLogicalId": "AnnounceExportFunctionExecutionEndedQueue",
    }
    assert schedule["Properties"]["DeadLetterConfig"] == {
        "Type": "SQS",
        "QueueLogicalId": "ScheduledExportsFunctionScheduleQueue",
    }


def test_the_watchdog_failing_raises_an_alarm(template: Template) -> None:
    assert metric(props(template, "WatchdogErrorsAlarm")) == (
        "AWS/Lambda",
        "Errors",
        "FunctionName",
        {"Ref": "AnnounceExportFunction"},
        "Sum",
    )


def test_overdue_exports_are_read_where_powertools_writes_them(template: Template) -> None:
    variables = template.function_globals()["Environment"]["Variables"]
    found = props(template, "OverdueExportsAlarm")
    assert metric(found) == (
        variables["POWERTOOLS_METRICS_NAMESPACE"],
        "OverdueExports",
        "service",
        variables["POWERTOOLS_SERVICE_NAME"],
        "Maximum",
    )
    assert found["Period"] == 900


def test_the_topic_is_encrypted_with_a_key_cloudwatch_may_use(template: Template) -> None:
    assert props(template, "AlarmTopic")["KmsMasterKeyId"] == {"Ref": "AlarmTopicKey"}
    key = props(template, "AlarmTopicKey")
    assert key["EnableKeyRotation"] is True
    grants = {
        json.dumps(s["Principal"], sort_keys=True): (s["Effect"], s["Action"])
        for s in key["KeyPolicy"]["Statement"]
    }
    # aws/sns would not do: its policy cannot let CloudWatch publish (the alarms would be
    # silent). This key's policy lets it, and nothing else outside the account.
    assert grants['{"Service": "cloudwatch.amazonaws.com"}'] == (
        "Allow",
        ["kms:Decrypt", "kms:GenerateDataKey*"],
    )
    assert set(grants) == {
        '{"Service": "cloudwatch.amazonaws.com"}',
        json.dumps({"AWS": {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:root"}}),
    }


def test_the_email_subscription_exists_only_with_an_address(template: Template) -> None:
    subscription = template.body["Resources"]["AlarmEmailSubscription"]
    assert subscription["Condition"] == "HasAlarmEmail"
    assert subscription["Properties"] == {
        "TopicArn": {"Ref": "AlarmTopic"},
        "Protocol": "email",
        "Endpoint": {"Ref": "AlarmEmail"},
    }
    assert resolver().condition("HasAlarmEmail") is False
    assert resolver(AlarmEmail="ops@example.com").condition("HasAlarmEmail") is True
    pattern = re.compile(template.body["Parameters"]["AlarmEmail"]["AllowedPattern"])
    assert pattern.fullmatch("") and pattern.fullmatch("ops+alarms@example.co.uk")
    assert not pattern.fullmatch("not an address") and not pattern.fullmatch("a@b")


def dashboard(template: Template) -> tuple[str, dict[str, Any]]:
    """The dashboard body's !Sub text, and the JSON it becomes with every name filled in."""
    text = props(template, "ExportsDashboard")["DashboardBody"]["Fn::Sub"]
    filled = re.sub(r"\$\{([^}]+)\}", lambda m: f"<{m.group(1)}>", text)
    return text, json.loads(filled)


def test_the_dashboard_shows_the_exports_and_every_alarm(template: Template) -> None:
    text, body = dashboard(template)
    shown = {
        (line[0], line[1])
        for widget in body["widgets"]
        for line in widget["properties"].get("metrics", [])
    }
    namespace = template.function_globals()["Environment"]["Variables"][
        "POWERTOOLS_METRICS_NAMESPACE"
    ]
    assert {
        (namespace, name)
        for name in (
            "ExportsStarted",
            "ExportsDelivered",
            "ExportsFailed",
            "BytesDelivered",
            "CheckAttempts",
            "LemlistRateLimited",
            "ExportDuration",
            "OverdueExports",
        )
    } <= shown
    (alarms,) = [w for w in body["widgets"] if w["type"] == "alarm"]
    assert sorted(alarms["properties"]["alarms"]) == sorted(f"<{a}.Arn>" for a in ALARMS)
    # Every name the !Sub fills in is a pseudo parameter, a resource of the template, or a
    # dead-letter queue SAM creates for an event (the transformed template is checked below).
    sam_queues = {
        event["Properties"]["DeadLetterConfig"]["QueueLogicalId"]
        for function in template.resources("AWS::Serverless::Function")
        for event in (function.properties.get("Events") or {}).values()
        if "QueueLogicalId" in (event["Properties"].get("DeadLetterConfig") or {})
    }
    for name in re.findall(r"\$\{([^}.]+)", text):
        assert name == "AWS::Region" or name in {*template.body["Resources"], *sam_queues}, name
    # The widgets tile without overlapping.
    cells = set()
    for widget in body["widgets"]:
        for x in range(widget["x"], widget["x"] + widget["width"]):
            for y in range(widget["y"], widget["y"] + widget["height"]):
                assert (x, y) not in cells and x < 24
                cells.add((x, y))


def test_the_outputs_name_the_topic_and_the_dashboard(template: Template) -> None:
    outputs = template.body["Outputs"]
    assert outputs["AlarmTopicArn"]["Value"] == {"Ref": "AlarmTopic"}
    assert outputs["DashboardName"]["Value"] == {"Ref": "ExportsDashboard"}


def test_the_retry_route_is_deployed_for_every_route_the_api_documents(
    template: Template,
) -> None:
    events = props(template, "ExportsApiFunction")["Events"].values()
    deployed = {(e["Properties"]["Method"], e["Properties"]["Path"]) for e in events}
    document = json.loads((ROOT / "docs" / "openapi.json").read_text())
    documented = {
        (method.upper(), path) for path, item in document["paths"].items() for method in item
    }
    assert ("POST", "/exports/{exportId}/retry") in deployed
    assert deployed == documented


# -- after the SAM transform ---------------------------------------------------------------

_TRANSFORM = """
import json, sys
from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse

class NoManagedPolicies:
    def load(self):
        return {}

template = yaml_parse(open(sys.argv[1]).read())
for resource in template["Resources"].values():
    found = resource.get("Properties") or {}
    for key in ("CodeUri", "ContentUri", "DefinitionUri"):
        if isinstance(found.get(key), str):  # sam package would upload these
            found[key] = "s3://bucket/" + found[key]
json.dump(transform(template, {}, NoManagedPolicies()), sys.stdout)
"""


@pytest.fixture(scope="module")
def transformed() -> dict[str, Any]:
    """template.yaml after the SAM transform, as CloudFormation will deploy it."""
    python = TOOLS / "python"
    assert python.exists(), f"{python} is missing: run `make setup` (make test does it first)"
    result = subprocess.run(  # noqa: S603
        [str(python), "-c", _TRANSFORM, "template.yaml"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "AWS_DEFAULT_REGION": "us-east-1"},
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    document: dict[str, Any] = json.loads(result.stdout)
    return document


EXPECTED_TYPES = {
    "StateMachineArn": "AWS::StepFunctions::StateMachine",
    "QueueName": "AWS::SQS::Queue",
    "FunctionName": "AWS::Lambda::Function",
}


@pytest.mark.tooling
def test_every_alarm_dimension_resolves_to_a_resource_of_the_right_type(
    transformed: dict[str, Any],
) -> None:
    resources = transformed["Resources"]
    checked = 0
    for logical_id, resource in resources.items():
        if resource["Type"] != "AWS::CloudWatch::Alarm":
            continue
        found = resource["Properties"]
        metrics = [found] + [
            m["MetricStat"]["Metric"] for m in found.get("Metrics", []) if "MetricStat" in m
        ]
        for watched in metrics:
            for dimension in watched.get("Dimensions", []):
                value = dimension["Value"]
                if isinstance(value, str):
                    continue  # a literal: the service of the stack's own metrics
                target = value.get("Ref") or value["Fn::GetAtt"][0]
                assert target in resources, f"{logical_id} watches a missing {target}"
                expected = EXPECTED_TYPES[dimension["Name"]]
                assert resources[target]["Type"] == expected, (logical_id, target)
                checked += 1
    assert checked == 7  # 2 state machine metrics + 1, 3 queues, 1 function


@pytest.mark.tooling
def test_the_dashboard_names_only_resources_that_exist_after_the_transform(
    transformed: dict[str, Any],
) -> None:
    body = transformed["Resources"]["ExportsDashboard"]["Properties"]["DashboardBody"]
    names = re.findall(r"\$\{([^}.]+)", body["Fn::Sub"])
    assert names
    for name in names:
        assert name == "AWS::Region" or name in transformed["Resources"], name


@pytest.mark.tooling
def test_the_retry_route_reaches_the_api_function(transformed: dict[str, Any]) -> None:
    resources = transformed["Resources"]
    permissions = [
        r["Properties"]
        for r in resources.values()
        if r["Type"] == "AWS::Lambda::Permission"
        and "retry" in json.dumps(r["Properties"].get("SourceArn", ""))
    ]
    (permission,) = permissions
    assert permission["FunctionName"] == {"Ref": "ExportsApiFunction"}
    body = json.dumps(resources["ExportsHttpApi"]["Properties"]["Body"])
    assert "/exports/{exportId}/retry" in body


def test_the_local_stack_creates_none_of_the_operations_resources() -> None:
    """They watch what only AWS produces: the local stack leaves them out, and still
    deploys (tests/e2e deploy it on every test)."""
    source = Path(ROOT / "local_stack" / "deploy.py").read_text()
    for kind in ("AWS::CloudWatch", "AWS::SNS", "AWS::KMS"):
        assert kind not in source
