"""IAM least privilege, judged over the whole end-to-end suite: every action on every resource
a function's policy in template.yaml allows was needed by at least one call that function
made, or has a written reason below.

Each e2e test already fails on a call its function's policy does not allow (tests/e2e/
conftest.py). This is the other direction, and it can only be judged on the calls of every
e2e test together: so it runs when a session selected every test of tests/e2e and they all
passed, and fails the session (exit status 1, a report at the end) otherwise unchanged.
Under pytest-xdist each worker hands its grants and uses to the controller, which judges.
"""

from __future__ import annotations

import dataclasses
import json
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from local_stack.aws_calls import Grant, unused_grants

E2E = Path(__file__).resolve().parent / "e2e"
SUMMARY = E2E.parents[1] / ".local" / "iam-calls.json"
STACK = "lemlist-local-"  # the local stack's physical names: <stack>-<logical id>

# Grants the suite never needs, each with why it stays in the policy. (function logical id,
# action, resource) -> reason. A reason for a grant the suite does use fails too (stale).
NEVER_CALLED_IN_THE_SUITE: dict[tuple[str, str, str], str] = {
    (
        "CheckExportFunction",
        "dynamodb:GetItem",
        "arn:aws:dynamodb:us-east-1:123456789012:table/lemlist-local-ExportsTable",
    ): "A status check whose conditional write finds the export no longer pending reads the "
    "record back, to tell an export another execution finished from a missing one "
    "(ExportStore.record_poll, strict=False). No execution of the suite polls an export "
    "that has already left pending: executions of one export never overlap.",
}

_KEY = pytest.StashKey[dict[str, Any]]()


def _state(config: pytest.Config) -> dict[str, Any]:
    if _KEY not in config.stash:
        config.stash[_KEY] = {
            "deselected": False,
            "files": set(),
            "grants": set(),
            "used": set(),
            "report": [],
            "counts": {},
        }
    return config.stash[_KEY]


def _is_e2e(nodeid: str) -> bool:
    return nodeid.startswith("tests/e2e/")


def pytest_deselected(items: list[pytest.Item]) -> None:
    for item in items:
        if _is_e2e(item.nodeid):
            _state(item.config)["deselected"] = True


def pytest_collection_finish(session: pytest.Session) -> None:
    _state(session.config)["files"] = {
        item.nodeid.split("::", 1)[0] for item in session.items if _is_e2e(item.nodeid)
    }


_failed_anywhere: list[str] = []  # this hook has no config; the controller sees every report


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if _is_e2e(report.nodeid) and report.failed:
        _failed_anywhere.append(report.nodeid)


def _every_e2e_file() -> set[str]:
    return {f"tests/e2e/{path.name}" for path in E2E.glob("test_*.py")}


def record_calls(
    config: pytest.Config,
    grants: set[Grant],
    used: set[Grant],
    counts: Mapping[str, Mapping[str, int]],
) -> None:
    """Called by the e2e session fixture with what the embedded AWS recorded: the grants,
    those a call needed, and the calls per function and action."""
    state = _state(config)
    state["grants"] |= grants
    state["used"] |= used
    _add_counts(state["counts"], counts)
    complete = not state["deselected"] and state["files"] == _every_e2e_file()
    if hasattr(config, "workerinput"):  # an xdist worker: the controller judges
        config.workeroutput["iam"] = {  # type: ignore[attr-defined]
            "complete": complete,
            "grants": [dataclasses.astuple(g) for g in grants],
            "used": [dataclasses.astuple(g) for g in used],
            "counts": {fn: dict(actions) for fn, actions in counts.items()},
        }
    else:
        state["complete"] = complete


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: Any) -> None:
    """xdist's controller: a worker ended; keep its grants and uses."""
    found = getattr(node, "workeroutput", {}).get("iam")
    if not found:
        return
    state = _state(node.config)
    state["grants"] |= {Grant(*g) for g in found["grants"]}
    state["used"] |= {Grant(*g) for g in found["used"]}
    _add_counts(state["counts"], found["counts"])
    # Every worker collects every test: each tells whether the selection was whole.
    state["complete"] = state.get("complete", True) and found["complete"]


def _add_counts(into: dict[str, Counter[str]], counts: Mapping[str, Mapping[str, int]]) -> None:
    for function, actions in counts.items():
        into.setdefault(function, Counter()).update(actions)


def write_summary(counts: Mapping[str, Counter[str]], path: Path = SUMMARY) -> None:
    """The calls checked, per function and action (the figures the closing notes quote)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    summary = {
        "calls": sum(sum(actions.values()) for actions in counts.values()),
        "functions": {
            name.removeprefix(STACK): {
                "calls": sum(actions.values()),
                "actions": dict(sorted(actions.items())),
            }
            for name, actions in sorted(counts.items())
        },
    }
    path.write_text(json.dumps(summary, indent=2) + "\n")


def _logical(grant: Grant) -> tuple[str, str, str]:
    return (grant.function.removeprefix(STACK), grant.action, grant.resource)


def judge(grants: set[Grant], used: set[Grant]) -> list[str]:
    """The problems: grants never used without a reason, and reasons for used grants."""
    unused = {_logical(g): g for g in unused_grants(grants, used)}
    problems = [
        f"  {fn}: {action} on {resource}" + (f" (condition {g.condition})" if g.condition else "")
        for (fn, action, resource), g in unused.items()
        if (fn, action, resource) not in NEVER_CALLED_IN_THE_SUITE
    ]
    if problems:
        problems.insert(
            0,
            "IAM: the policy allows what no call in the e2e suite needed (remove it from "
            "template.yaml, make a test need it, or give a reason in tests/iam_coverage.py):",
        )
    granted = {_logical(g) for g in grants}
    stale = [k for k in NEVER_CALLED_IN_THE_SUITE if k not in unused]
    if stale:
        problems.append("IAM: reasons in tests/iam_coverage.py for grants the suite does use:")
        problems += [
            f"  {fn}: {action} on {resource}"
            + ("" if (fn, action, resource) in granted else " (not even granted)")
            for fn, action, resource in stale
        ]
    return problems


@pytest.hookimpl(trylast=True)  # after the session fixtures' teardown has recorded the calls
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    config = session.config
    if hasattr(config, "workerinput"):
        return
    state = _state(config)
    if state["counts"]:
        write_summary(state["counts"])
    if not state.get("complete") or not state["grants"]:
        return  # a partial run cannot tell what is never needed
    if _failed_anywhere:
        state["report"] = ["IAM: grants not judged (an e2e test failed)"]
        return
    state["report"] = judge(state["grants"], state["used"])
    if state["report"] and session.exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
    elif not state["report"]:
        used = len(state["used"])
        state["report"] = [
            f"IAM: every grant of the template's function policies was needed by a call "
            f"({used} grants used, {len(NEVER_CALLED_IN_THE_SUITE)} never called, with reasons)"
        ]


def pytest_terminal_summary(terminalreporter: Any) -> None:
    for line in _state(terminalreporter.config).get("report", []):
        terminalreporter.write_line(line)
