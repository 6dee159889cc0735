"""template.yaml keeps its security and cost promises: what cfn-lint cannot judge."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from local_stack.sam_template import Template
from tests.conftest import ROOT

TOOLS = ROOT / ".tools-venv" / "bin"


@pytest.fixture(scope="module")
def template() -> Template:
    return Template.load(ROOT / "template.yaml")


def resource(template: Template, logical_id: str) -> dict[str, Any]:
    return template.body["Resources"][logical_id]


def statements(template: Template, function: str) -> list[dict[str, Any]]:
    found = []
    for policy in resource(template, function)["Properties"]["Policies"]:
        for statement in policy.get("Statement", []):
            if isinstance(statement, dict) and "Fn::If" in statement:
                statement = statement["Fn::If"][1]
            found.append(statement)
    return found


def actions(template: Template, function: str) -> set[str]:
    found: set[str] = set()
    for statement in statements(template, function):
        value = statement["Action"]
        found |= {value} if isinstance(value, str) else set(value)
    return found


def test_the_bucket_is_encrypted_private_and_sweeps_abandoned_uploads(
    template: Template,
) -> None:
    bucket = resource(template, "ExportsBucket")
    props = bucket["Properties"]
    (rule,) = props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] in {"AES256", "aws:kms"}
    assert all(props["PublicAccessBlockConfiguration"].values())
    assert len(props["PublicAccessBlockConfiguration"]) == 4
    (lifecycle,) = [
        rule
        for rule in props["LifecycleConfiguration"]["Rules"]
        if "AbortIncompleteMultipartUpload" in rule
    ]
    assert lifecycle["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"] == 1
    assert "Prefix" not in lifecycle  # every abandoned upload, whatever its key
    assert bucket["DeletionPolicy"] == "Retain"  # the data outlives the stack


def test_the_bucket_refuses_anything_but_tls(template: Template) -> None:
    policy = resource(template, "ExportsBucketPolicy")["Properties"]["PolicyDocument"]
    (deny,) = [s for s in policy["Statement"] if s["Effect"] == "Deny"]
    assert deny["Action"] == "s3:*" and deny["Principal"] == "*"
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert len(deny["Resource"]) == 2  # the bucket and its objects


def test_the_table_expires_records_and_is_encrypted(template: Template) -> None:
    props = resource(template, "ExportsTable")["Properties"]
    assert props["TimeToLiveSpecification"] == {"AttributeName": "expiresAt", "Enabled": True}
    assert props["SSESpecification"]["SSEEnabled"] is True
    assert props["BillingMode"] == "PAY_PER_REQUEST"


EXPORTS = "ExportsTable"
COORDINATION = "CoordinationTable"
LEMLIST_KEY = "secretsmanager:GetSecretValue"


@pytest.mark.parametrize(
    ("function", "allowed"),
    [
        (
            "ExportsApiFunction",
            {
                "dynamodb:PutItem",
                "dynamodb:GetItem",
                "dynamodb:UpdateItem",
                "dynamodb:DeleteItem",
                "dynamodb:Query",
                "states:StartExecution",
                "s3:GetObject",
                LEMLIST_KEY,
            },
        ),
        (
            "SlackCommandFunction",
            {
                "dynamodb:GetItem",
                "dynamodb:PutItem",
                "dynamodb:UpdateItem",
                "states:StartExecution",
                LEMLIST_KEY,
            },
        ),
        (
            "ScheduledExportsFunction",
            {
                "dynamodb:PutItem",
                "dynamodb:GetItem",
                "dynamodb:UpdateItem",
                "states:StartExecution",
                "states:DescribeExecution",
                LEMLIST_KEY,
            },
        ),
        (
            "StartExportFunction",
            {"dynamodb:PutItem", "dynamodb:GetItem", "dynamodb:UpdateItem", LEMLIST_KEY},
        ),
        ("CheckExportFunction", {"dynamodb:GetItem", "dynamodb:UpdateItem", LEMLIST_KEY}),
        (
            "CopyExportFunction",
            {
                "dynamodb:GetItem",
                "dynamodb:UpdateItem",
                "s3:PutObject",
                "s3:AbortMultipartUpload",
                "s3:ListBucketMultipartUploads",
                "s3:GetObject",  # the stored CSV, read back for its query-ready copy
                LEMLIST_KEY,
            },
        ),
        (
            "AnnounceExportFunction",
            {"dynamodb:PutItem", "dynamodb:GetItem", "dynamodb:UpdateItem", LEMLIST_KEY},
        ),
    ],
)
def test_each_function_gets_only_what_it_uses(
    template: Template, function: str, allowed: set[str]
) -> None:
    assert actions(template, function) == allowed
    for statement in statements(template, function):
        assert statement["Effect"] == "Allow"
        assert statement["Resource"] != "*"
        assert "*" not in str(statement["Action"])


def test_a_failed_firing_can_be_recorded_and_announced(template: Template) -> None:
    """A firing that fails writes its record in ExportsTable and reads the notification
    targets (only when the stack has them), like the finish step."""
    policies = resource(template, "ScheduledExportsFunction")["Properties"]["Policies"]
    (found,) = policies
    exports = [
        s
        for s in found["Statement"]
        if isinstance(s, dict) and s.get("Resource") == {"Fn::GetAtt": ["ExportsTable", "Arn"]}
    ]
    assert [set(s["Action"]) for s in exports] == [
        {"dynamodb:PutItem", "dynamodb:GetItem", "dynamodb:UpdateItem"}
    ]
    (conditional,) = [s["Fn::If"] for s in found["Statement"] if "Fn::If" in s]
    condition, statement, otherwise = conditional
    assert condition == "HasNotificationsSecret" and otherwise == {"Ref": "AWS::NoValue"}
    assert statement["Action"] == "secretsmanager:GetSecretValue"
    assert "${NotificationsSecretName}-??????" in statement["Resource"]["Fn::Sub"]
    assert resource(template, "ScheduledExportsFunction")["Properties"]["EventInvokeConfig"][
        "DestinationConfig"
    ]["OnFailure"]["Destination"] == {"Fn::GetAtt": ["FailedInvocationsQueue", "Arn"]}


def test_only_the_delivery_writes_to_s3_and_only_under_the_prefixes(template: Template) -> None:
    writers = [
        f
        for f in template.resources("AWS::Serverless::Function")
        if "s3:PutObject" in actions(template, f.logical_id)
    ]
    assert [f.logical_id for f in writers] == ["CopyExportFunction"]
    (s3,) = [s for s in statements(template, "CopyExportFunction") if "s3:PutObject" in s["Action"]]
    assert s3["Resource"] == [
        {"Fn::Sub": "${ExportsBucket.Arn}/${ExportsPrefix}/*"},  # the CSVs
        {"Fn::Sub": "${ExportsBucket.Arn}/${AnalyticsPrefix}/*"},  # their query-ready copies
    ]
    (read,) = [
        s for s in statements(template, "CopyExportFunction") if "s3:GetObject" in s["Action"]
    ]
    assert read["Resource"] == {"Fn::Sub": "${ExportsBucket.Arn}/${ExportsPrefix}/*"}


def test_secrets_are_read_by_name_never_by_wildcard_account(template: Template) -> None:
    for function in template.resources("AWS::Serverless::Function"):
        for statement in statements(template, function.logical_id):
            if statement["Action"] != "secretsmanager:GetSecretValue":
                continue
            resources = statement["Resource"]
            resources = resources if isinstance(resources, list) else [resources]
            for arn in resources:
                if isinstance(arn, dict) and "Fn::If" in arn:
                    arn = arn["Fn::If"][1]
                assert arn["Fn::Sub"].endswith("SecretName}-??????"), function.logical_id


def test_the_watchdog_rule_listens_to_this_state_machine_only(template: Template) -> None:
    events = resource(template, "AnnounceExportFunction")["Properties"]["Events"]
    pattern = events["ExecutionEnded"]["Properties"]["Pattern"]
    assert pattern["detail"]["status"] == ["FAILED", "TIMED_OUT", "ABORTED"]
    assert pattern["detail"]["stateMachineArn"] == [{"Ref": "ExportStateMachine"}]


def _tool(name: str) -> Path:
    path = TOOLS / name
    assert path.exists(), f"{path} is missing: run `make setup` (make test does it first)"
    return path


@pytest.mark.tooling
def test_cfn_lint_passes() -> None:
    result = subprocess.run(  # noqa: S603
        [str(_tool("cfn-lint")), "template.yaml"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "AWS_DEFAULT_REGION": "us-east-1"},
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.tooling
def test_sam_validate_lint_passes() -> None:
    env = {
        **os.environ,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
        "SAM_CLI_TELEMETRY": "0",
    }
    env.pop("AWS_ENDPOINT_URL", None)
    result = subprocess.run(  # noqa: S603
        [str(_tool("sam")), "validate", "--lint", "--template", "template.yaml"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "is a valid SAM Template" in result.stdout + result.stderr


def test_the_committed_openapi_document_matches_the_routes() -> None:
    from local_stack.openapi import DOCUMENT, openapi_document

    assert DOCUMENT.read_text() == openapi_document(), "run `make openapi` and commit the result"


def test_every_variable_the_code_reads_is_set_by_the_template_or_listed() -> None:
    from lemlist_export.wiring.settings import NOT_FROM_THE_TEMPLATE

    call = re.compile(
        r"(?:required|optional|integer|environ\.get|getenv|environ\[)\(?\s*[\"']([A-Z][A-Z0-9_]+)[\"']"
    )
    read = {
        found.group(1)
        for path in [*ROOT.glob("functions/*/app.py"), *ROOT.glob("layers/shared/**/*.py")]
        for found in call.finditer(path.read_text())
    }
    template_text = (ROOT / "template.yaml").read_text()
    from_template = {name for name in read if re.search(rf"^\s+{name}:", template_text, re.M)}
    powertools = {name for name in read if name.startswith("POWERTOOLS_")}

    assert read - from_template - powertools - set(NOT_FROM_THE_TEMPLATE) == set()
    assert set(NOT_FROM_THE_TEMPLATE) - read == set()  # no stale entry
