"""The ASL in statemachine/: loads into the engine, and its shape keeps its promises.

cfn-lint does not look inside DefinitionUri, so these tests are the ASL's linter.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from local_stack.sam_template import Template
from local_stack.stack import embedded
from tests.conftest import ROOT

ASL_PATH = ROOT / "statemachine" / "export.asl.json"
LAMBDA_SERVICE_ERRORS = {
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
    "Lambda.ClientExecutionTimeoutException",
}


@pytest.fixture(scope="module")
def asl() -> dict[str, Any]:
    return json.loads(ASL_PATH.read_text())


def targets_of(state: dict[str, Any]) -> set[str]:
    found = {state[k] for k in ("Next", "Default") if k in state}
    found |= {choice["Next"] for choice in state.get("Choices", [])}
    found |= {catch["Next"] for catch in state.get("Catch", [])}
    return found


def test_the_definition_loads_into_the_step_functions_engine(asl: dict[str, Any]) -> None:
    aws, _ = embedded()
    definition = ASL_PATH.read_text()
    for name in re.findall(r"\$\{(\w+)\}", definition):
        definition = definition.replace(
            "${" + name + "}", f"arn:aws:lambda:us-east-1:123456789012:function:{name}"
        )
    sfn = aws.client("stepfunctions")
    arn = sfn.create_state_machine(
        name="definition-check",
        definition=definition,
        roleArn="arn:aws:iam::123456789012:role/local-stack-role",
    )["stateMachineArn"]
    described = sfn.describe_state_machine(stateMachineArn=arn)
    assert json.loads(described["definition"])["StartAt"] == "Is the export started?"
    sfn.delete_state_machine(stateMachineArn=arn)


def test_every_transition_names_a_state_and_every_state_is_reachable(
    asl: dict[str, Any],
) -> None:
    states = asl["States"]
    reachable, frontier = set(), [asl["StartAt"]]
    while frontier:
        name = frontier.pop()
        if name in reachable:
            continue
        assert name in states, f"transition to missing state {name!r}"
        reachable.add(name)
        frontier.extend(targets_of(states[name]))
    assert reachable == set(states)


def test_placeholders_match_the_templates_substitutions(asl: dict[str, Any]) -> None:
    template = Template.load(ROOT / "template.yaml")
    machine = template.body["Resources"]["ExportStateMachine"]["Properties"]
    placeholders = set(re.findall(r"\$\{(\w+)\}", ASL_PATH.read_text()))
    assert placeholders == set(machine["DefinitionSubstitutions"])
    assert machine["DefinitionUri"] == "statemachine/export.asl.json"


def test_it_is_jsonpath_with_a_timeout_and_no_jsonata(asl: dict[str, Any]) -> None:
    # moto's engine cannot evaluate JSONata; AWS can, but then local runs would differ.
    assert asl.get("QueryLanguage", "JSONPath") == "JSONPath"
    assert all("QueryLanguage" not in state for state in asl["States"].values())
    assert 0 < asl["TimeoutSeconds"] <= 6 * 3600


def test_waits_come_from_the_state_never_a_constant(asl: dict[str, Any]) -> None:
    waits = [s for s in asl["States"].values() if s["Type"] == "Wait"]
    assert waits
    for state in waits:
        assert "SecondsPath" in state and "Seconds" not in state


def test_every_choice_has_a_default(asl: dict[str, Any]) -> None:
    for name, state in asl["States"].items():
        if state["Type"] == "Choice":
            assert "Default" in state, name


def test_every_task_retries_lambda_service_errors(asl: dict[str, Any]) -> None:
    for name, state in asl["States"].items():
        if state["Type"] != "Task":
            continue
        retried = {e for rule in state.get("Retry", []) for e in rule["ErrorEquals"]}
        assert retried >= LAMBDA_SERVICE_ERRORS or "States.ALL" in retried, name
        assert "TimeoutSeconds" in state, name


def test_lemlist_facing_tasks_catch_everything_into_a_failure_path(
    asl: dict[str, Any],
) -> None:
    paths = {
        "Start export in lemlist": "Announce the refused start",
        "Check export status": "Record and announce failure",
        "Copy CSV to S3": "Record and announce failure",
    }
    for name, failure_path in paths.items():
        (catch,) = asl["States"][name]["Catch"]
        assert catch["ErrorEquals"] == ["States.ALL"]
        assert catch["Next"] == failure_path
        assert catch["ResultPath"] == "$.failure"


def test_exports_started_by_the_api_skip_the_start(asl: dict[str, Any]) -> None:
    choice = asl["States"][asl["StartAt"]]
    ready, started = choice["Choices"]
    assert started == {
        "Variable": "$.start.status",
        "StringEquals": "started",
        "Next": "Wait before checking",
    }
    assert choice["Default"] == "Wait before starting"
    # A re-driven export whose file lemlist still holds goes straight to the copy (its
    # input says started too: workflow.contract.input_to_copy_again).
    assert ready == {
        "Variable": "$.check.status",
        "StringEquals": "done",
        "Next": "Copy CSV to S3",
    }


def test_the_status_choice_covers_lemlists_three_statuses(asl: dict[str, Any]) -> None:
    choice = asl["States"]["Is the export ready?"]
    routes = {c["StringEquals"]: c["Next"] for c in choice["Choices"]}
    assert routes["pending"] == "Wait before checking"
    assert routes["done"] == "Copy CSV to S3"
    assert routes["error"] == "lemlist reported an error"
