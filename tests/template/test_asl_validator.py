"""The state machine's ASL, checked by asl-validator (npm), as CloudFormation would receive it.

cfn-lint does not look inside DefinitionUri; asl-validator checks the definition against the
ASL schema, its transitions (every Next, Default and StartAt names a state; every state is
reachable), its paths and its Resource ARNs. The `${Placeholders}` are first replaced with
the ARNs the template's DefinitionSubstitutions resolve to.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from local_stack.embedded_aws import ACCOUNT_ID, REGION
from local_stack.sam_template import Resolver, Template

ROOT = Path(__file__).resolve().parents[2]
VALIDATOR = ROOT / "node_modules" / ".bin" / "asl-validator"
STACK = "lemlist-stats-export"
PSEUDO = {
    "AWS::Region": REGION,
    "AWS::AccountId": ACCOUNT_ID,
    "AWS::Partition": "aws",
    "AWS::StackName": STACK,
}


def deployed_definitions() -> dict[str, str]:
    """Each state machine's definition with its substitutions made, by logical id."""
    template = Template.load(ROOT / "template.yaml")
    attributes = {
        (function.logical_id, "Arn"): (
            f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{STACK}-{function.logical_id}"
        )
        for function in template.resources("AWS::Serverless::Function")
    }
    resolver = Resolver(template, {}, attributes, PSEUDO)
    definitions = {}
    for machine in template.resources("AWS::Serverless::StateMachine"):
        text = (ROOT / machine.properties["DefinitionUri"]).read_text()
        substitutions = resolver.resolve(machine.properties.get("DefinitionSubstitutions") or {})
        missing = set(re.findall(r"\$\{(\w+)\}", text)) - set(substitutions)
        assert not missing, f"{machine.logical_id} has no substitution for {sorted(missing)}"
        for name, value in substitutions.items():
            text = text.replace("${" + name + "}", str(value))
        definitions[machine.logical_id] = text
    return definitions


def validate(definition: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    if shutil.which("node") is None:
        pytest.fail(
            "asl-validator runs on Node.js, and `node` is not on PATH: install Node.js 18 or "
            "later with npm (Debian: apt-get install nodejs npm), then `make setup`.",
            pytrace=False,
        )
    if not VALIDATOR.exists():
        pytest.fail(
            f"{VALIDATOR} is missing: run `make setup` (it runs `npm ci`, which installs "
            "asl-validator from package-lock.json).",
            pytrace=False,
        )
    path = tmp_path / "definition.asl.json"
    path.write_text(definition)
    return subprocess.run(  # noqa: S603 (the locked validator, on our own file)
        [str(VALIDATOR), "--json-path", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture(scope="module")
def definitions() -> dict[str, str]:
    return deployed_definitions()


def test_every_state_machine_is_a_valid_asl_definition(
    definitions: dict[str, str], tmp_path: Path
) -> None:
    assert definitions, "template.yaml has no AWS::Serverless::StateMachine"
    for logical_id, definition in definitions.items():
        assert "${" not in definition
        result = validate(definition, tmp_path)
        output = result.stdout + result.stderr
        assert result.returncode == 0, f"{logical_id}:\n{output}"
        assert "is valid" in output


def _next_to_nowhere(asl: dict[str, Any]) -> str:
    name, state = next((n, s) for n, s in asl["States"].items() if s["Type"] == "Task")
    state["Next"] = "A state nobody wrote"
    return name


def _a_type_asl_lacks(asl: dict[str, Any]) -> str:
    name = next(n for n, s in asl["States"].items() if s["Type"] == "Wait")
    asl["States"][name]["Type"] = "Sleep"
    return name


@pytest.mark.parametrize(
    ("break_it", "reason"),
    [
        (_next_to_nowhere, r"MISSING_TRANSITION_TARGET: .*A state nobody wrote"),
        (_a_type_asl_lacks, r"SCHEMA_VALIDATION_FAILED: /States/{state}/Type is invalid"),
    ],
    ids=["a Next that names no state", "a Type ASL does not have"],
)
def test_the_validator_rejects_a_broken_definition_and_says_why(
    definitions: dict[str, str], tmp_path: Path, break_it: Any, reason: str
) -> None:
    asl = json.loads(definitions["ExportStateMachine"])
    state = break_it(asl)

    result = validate(json.dumps(asl), tmp_path)

    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "is invalid" in output
    assert re.search(reason.format(state=re.escape(state)), output), output
