"""statemachine/export.asl.json held to the typed contract of workflow/contract.py.

Every path the ASL reads exists in the typed state, every task is given exactly its typed
input and writes only its own slot, every error name it matches is an exception class the
code raises, and the Fail errors are the ones the Announce step knows it handled.
"""

from __future__ import annotations

import json
import typing
from pathlib import Path
from typing import Any, Literal, NotRequired, get_args, get_origin, get_type_hints

import pytest

from lemlist_export.core import errors
from lemlist_export.workflow import contract
from tests.conftest import ROOT

ASL = json.loads((ROOT / "statemachine" / "export.asl.json").read_text())
STATES: dict[str, dict[str, Any]] = ASL["States"]
# Which typed input and slot each task's Lambda has (by the ARN placeholder it invokes).
TASKS = {
    "${StartExportFunctionArn}": (contract.StartTaskInput, "$.start", contract.StartSlot),
    "${CheckExportFunctionArn}": (contract.CheckTaskInput, "$.check", contract.CheckSlot),
    "${CopyExportFunctionArn}": (contract.CopyTaskInput, "$.copy", contract.CopySlot),
    "${AnnounceExportFunctionArn}": (
        contract.AnnounceTaskInput,
        "$.announce",
        contract.AnnounceSlot,
    ),
}


def _unwrap(hint: Any) -> Any:
    while get_origin(hint) in (NotRequired, typing.Required):
        hint = get_args(hint)[0]
    return hint


def resolve(path: str, root: Any = contract.ExecutionState) -> Any:
    """The type at a JSONPath like `$.check.fileSize`, or KeyError if the contract has none."""
    hint = root
    for part in path.removeprefix("$.").split(".") if path != "$" else []:
        hints = get_type_hints(_unwrap(hint))
        if part not in hints:
            raise KeyError(f"{path}: no `{part}` in {_unwrap(hint).__name__}")
        hint = _unwrap(hints[part])
    return hint


def read_paths() -> list[tuple[str, str]]:
    """(state, path) for every path of the state the ASL reads."""
    found = []
    for name, state in STATES.items():
        for key, value in (state.get("Parameters") or {}).items():
            if key.endswith(".$") and value.startswith("$.") and not value.startswith("$$"):
                found.append((name, value))
        for key in ("SecondsPath", "InputPath", "TimestampPath"):
            if key in state:
                found.append((name, state[key]))
        found.extend((name, choice["Variable"]) for choice in state.get("Choices", []))
    return found


@pytest.mark.parametrize(("state", "path"), read_paths())
def test_every_path_the_asl_reads_is_in_the_typed_state(state: str, path: str) -> None:
    resolve(path)


def test_every_result_lands_in_a_typed_slot() -> None:
    for name, state in STATES.items():
        if "ResultPath" in state:
            assert state["ResultPath"] != "$", f"{name} replaces the whole state"
            resolve(state["ResultPath"])


@pytest.mark.parametrize(
    "name", [n for n, s in STATES.items() if s["Type"] == "Task" and s["Resource"] in TASKS]
)
def test_each_task_gets_its_typed_input_and_writes_its_own_slot(name: str) -> None:
    state = STATES[name]
    task_input, slot_path, slot = TASKS[state["Resource"]]
    given = {key.removesuffix(".$") for key in state["Parameters"]}
    declared = get_type_hints(task_input)
    required = {k for k in task_input.__required_keys__}

    assert given <= set(declared), f"{name} passes keys the contract does not type"
    assert required <= given, f"{name} leaves out required keys"
    assert state["ResultPath"] == slot_path
    assert _unwrap(resolve(slot_path)) is slot
    for key, value in state["Parameters"].items():
        if key.endswith(".$") and value.startswith("$.") and key != "previous.$":
            # The value the ASL passes has the type the task expects (by its field).
            expected = _unwrap(declared[key.removesuffix(".$")])
            assert resolve(value) == expected or get_origin(expected) is not None, (name, key)


def _error_names() -> set[str]:
    names = set()
    for state in STATES.values():
        for clause in [*state.get("Retry", []), *state.get("Catch", [])]:
            names.update(clause["ErrorEquals"])
    return names


@pytest.mark.parametrize("name", sorted(_error_names()))
def test_every_error_the_asl_matches_is_aws_or_a_real_exception(name: str) -> None:
    if name.startswith(("States.", "Lambda.", "Sandbox.", "Runtime.")):
        # Step Functions' own, the Lambda service's, and Lambda's runtime errors (a timeout,
        # a process that died): spelled as AWS spells them.
        assert name in AWS_ERROR_NAMES, f"{name} is not an error name AWS uses"
        return
    assert isinstance(getattr(errors, name, None), type), f"no exception class {name}"
    assert issubclass(getattr(errors, name), Exception)


AWS_ERROR_NAMES = {
    "States.ALL",
    "States.Timeout",
    "States.TaskFailed",
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
    "Lambda.ClientExecutionTimeoutException",
    "Lambda.Unknown",
    "Sandbox.Timedout",
    "Runtime.ExitError",
}


def test_the_fail_errors_are_the_ones_the_announce_step_handled() -> None:
    fails = {s["Error"] for s in STATES.values() if s["Type"] == "Fail"}

    assert fails == contract.FAIL_ERRORS
    source = (ROOT / "functions" / "announce_export" / "app.py").read_text()
    assert "HANDLED_FAILURES = FAIL_ERRORS" in source


def test_the_pass_states_name_only_the_contracts_errors() -> None:
    named = {
        s["Parameters"]["Error"]
        for s in STATES.values()
        if s["Type"] == "Pass" and s.get("ResultPath") == "$.failure"
    }

    assert named == contract.PASS_STATE_ERRORS


def test_every_status_a_choice_compares_is_one_the_slot_can_hold() -> None:
    for name, state in STATES.items():
        for choice in state.get("Choices", []):
            if "StringEquals" not in choice:
                continue
            hint = resolve(choice["Variable"])
            if get_origin(hint) is Literal:
                assert choice["StringEquals"] in get_args(hint), (name, choice)


def test_the_contract_builds_inputs_the_asl_can_read() -> None:
    from lemlist_export.workflow.wait_policy import WaitPolicy

    state = contract.input_to_start("cam_A1B2C3", "slack", WaitPolicy(), delay=3)

    assert state["start"]["nextAttemptInSeconds"] == 3
    assert state["check"]["nextCheckInSeconds"] == WaitPolicy().first_wait_seconds
    assert set(state) == set(contract.ExecutionState.__required_keys__)
    assert contract.started_export_id(dict(state)) is None
    assert contract.started_export_id({"exportId": "axp_old"}) == "axp_old"  # older inputs


def test_the_contract_module_is_where_task_shapes_live() -> None:
    """No step module reads an event: they take and give typed requests and outcomes."""
    for step in ("start", "check", "copy"):
        source = (ROOT / "layers/shared/lemlist_export/workflow" / f"{step}.py").read_text()
        assert "from_input" not in source.replace("WaitPolicy.from_input", "")
        assert '"previous"' not in source
    assert Path(contract.__file__).name == "contract.py"
