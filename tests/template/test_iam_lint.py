"""Every IAM policy the stack deploys, linted by parliament.

SAM first turns template.yaml into the CloudFormation it deploys (samtranslator from the tools
venv, offline, as `sam validate` does), so the policies linted are the deployed ones: each
function's and the state machine's role with its inline policies (the template's `Policies`,
the LambdaInvokePolicy templates expanded, and those SAM adds for an EventInvokeConfig's
queue and for the schedule), the managed policy for people who query (AnalyticsQueryPolicy),
the bucket policy and the queue policies (resource policies: parliament checks their
Principal and Condition too). local_stack's resolver then resolves
the intrinsics to the ARNs CloudFormation would give (account 123456789012, us-east-1),
once with every optional parameter empty and once with each set, so that both branches of
every !If are linted.

Not linted: trust policies (parliament requires a Resource in every statement, and a trust
policy has none), AWS managed policies (AWS's, attached by ARN), and Lambda permissions
(properties, not policy documents).

A finding fails the test unless ALLOWED lists it with the reason it stands.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import warnings
from pathlib import Path
from typing import Any

import pytest

from local_stack.embedded_aws import ACCOUNT_ID, REGION
from local_stack.sam_template import Resolver, Template

with warnings.catch_warnings():
    # parliament 1.6.4 reads its data through pkg_resources, which says it is deprecated.
    warnings.filterwarnings("ignore", "pkg_resources is deprecated", DeprecationWarning)
    from parliament import analyze_policy_string

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
TOOLS_PYTHON = ROOT / ".tools-venv" / "bin" / "python"
STACK = "lemlist-stats-export"
SUFFIX = "1A2B3C4D5E6F"  # CloudFormation names resources stack-LogicalId-RANDOM
PSEUDO = {
    "AWS::Region": REGION,
    "AWS::AccountId": ACCOUNT_ID,
    "AWS::Partition": "aws",
    "AWS::URLSuffix": "amazonaws.com",
    "AWS::StackName": STACK,
}
# The defaults leave every optional feature off; these turn each on (a test checks that
# together they flip every condition of the template).
PARAMETER_SETS = {
    "defaults": {},
    "every option set": {
        "NotificationsSecretName": f"{STACK}/notifications",
        "SlackSigningSecretName": f"{STACK}/slack-signing-secret",
        "ScheduleCampaignIds": "cam_A1B2C3D4E5F6G7H8I9",
        "CsvRetentionDays": "30",
        "AlarmEmail": "exports-oncall@example.com",
    },
}
# The functions with a `Policies` document of their own in template.yaml.
FUNCTIONS = [
    function.logical_id
    for function in Template.load(TEMPLATE).resources("AWS::Serverless::Function")
    if function.properties.get("Policies")
]

TRANSFORM = """
import json, sys
from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse

template = yaml_parse(sys.stdin.read())
# As `sam validate` does: local code locations become S3 URIs (SAM checks only their form).
for resource in (template.get("Resources") or {}).values():
    properties = resource.get("Properties") or {}
    for key in ("CodeUri", "ContentUri", "DefinitionUri"):
        if isinstance(properties.get(key), str):
            properties[key] = "s3://bucket/key"


class NoManagedPolicyNames:
    # The template attaches managed policies by ARN only: nothing to look up in IAM.
    def load(self):
        return {}


json.dump(transform(template, {}, NoManagedPolicyNames()), sys.stdout)
"""

# (policy, parliament's issue, its detail) -> why it stands. ANY as the detail: any detail.
Finding = tuple[str, str, str]
ANY = "*"

SAMS_WITHOUT_VERSION = (
    "SAM writes this document without a Version (not ours to change). Its statements name "
    "fixed ARNs and no policy variable, so the 2008-10-17 grammar grants exactly what "
    "2012-10-17 would."
)
ALLOWED: dict[Finding, str] = {
    **{
        (policy, "NO_VERSION", ""): SAMS_WITHOUT_VERSION
        for policy in [
            # The LambdaInvokePolicy templates of ExportStateMachine, one per function.
            *(f"ExportStateMachineRole/ExportStateMachineRolePolicy{i}" for i in range(4)),
            # EventInvokeConfig's OnFailure destination (FailedInvocationsQueue).
            "ScheduledExportsFunctionRole/"
            "ScheduledExportsFunctionEventInvokeConfigOnFailureSQSPolicy",
            "AnnounceExportFunctionRole/AnnounceExportFunctionEventInvokeConfigOnFailureSQSPolicy",
            # The ScheduleV2 event's role: invoke the function, dead letters to its queue.
            "ScheduledExportsFunctionScheduleRole/ScheduledExportsFunctionScheduleLambdaPolicy",
            "ScheduledExportsFunctionScheduleRole/ScheduledExportsFunctionScheduleSQSPolicy",
            "SweepExportsFunctionRole/SweepExportsFunctionEventInvokeConfigOnFailureSQSPolicy",
            "SweepExportsFunctionSweepRole/SweepExportsFunctionSweepLambdaPolicy",
        ]
    },
    **{
        (
            f"{function}Role/{function}RolePolicy0",
            "RESOURCE_MISMATCH",
            "states:DescribeExecution on arn:*:states:*:*:express:*:*:*",
        ): (
            "parliament's IAM data lists two resource types for DescribeExecution, execution* "
            "and express*, and it demands a match for each; IAM needs one. The statement grants "
            "the standard executions of ExportStateMachine (a STANDARD workflow has no express "
            "executions), which is what the function looks up."
        )
        for function in ("ScheduledExportsFunction", "SweepExportsFunction")
    },
    ("AlarmTopicKey", "RESOURCE_STAR", ANY): (
        'In a key policy, "Resource": "*" means this key and nothing else: it is the only '
        "form KMS accepts there."
    ),
    ("AlarmTopicKey", "PERMISSIONS_MANAGEMENT_ACTIONS", ""): (
        "kms:* for the account's root is KMS's default key policy statement: it lets the "
        "account's IAM policies administer the key. Without it no one could manage (or delete) "
        "the key once created."
    ),
}


def physical_ids(resources: dict[str, Any]) -> tuple[dict[str, str], dict[tuple[str, str], str]]:
    """Ref values and GetAtt attributes as CloudFormation would give them, by logical id."""
    refs: dict[str, str] = {}
    attributes: dict[tuple[str, str], str] = {}
    region_account = f"{REGION}:{ACCOUNT_ID}"
    for logical_id, resource in resources.items():
        name = f"{STACK}-{logical_id}-{SUFFIX}"
        kind = resource["Type"]
        arn = None
        if kind == "AWS::Lambda::Function":
            arn = f"arn:aws:lambda:{region_account}:function:{name}"
        elif kind == "AWS::StepFunctions::StateMachine":
            arn = f"arn:aws:states:{region_account}:stateMachine:{name}"
            attributes[(logical_id, "Name")] = name
            refs[logical_id] = arn
        elif kind == "AWS::DynamoDB::Table":
            arn = f"arn:aws:dynamodb:{region_account}:table/{name}"
        elif kind == "AWS::S3::Bucket":
            name = name.lower()
            arn = f"arn:aws:s3:::{name}"
        elif kind == "AWS::SQS::Queue":
            arn = f"arn:aws:sqs:{region_account}:{name}"
            refs[logical_id] = f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT_ID}/{name}"
        elif kind == "AWS::Events::Rule":
            arn = f"arn:aws:events:{region_account}:rule/{name}"
        elif kind == "AWS::IAM::Role":
            arn = f"arn:aws:iam::{ACCOUNT_ID}:role/{name}"
        elif kind == "AWS::Logs::LogGroup":
            arn = f"arn:aws:logs:{region_account}:log-group:{name}:*"
        refs.setdefault(logical_id, name)
        if arn is not None:
            attributes[(logical_id, "Arn")] = arn
    return refs, attributes


def deployed_template() -> dict[str, Any]:
    """template.yaml after the SAM transform: the CloudFormation that gets deployed."""
    if not TOOLS_PYTHON.exists():
        pytest.fail(
            f"{TOOLS_PYTHON} is missing (SAM's translator lives there): run `make setup`.",
            pytrace=False,
        )
    result = subprocess.run(  # noqa: S603 (the tools venv's python, our script)
        [str(TOOLS_PYTHON), "-c", TRANSFORM],
        input=TEMPLATE.read_text(),
        capture_output=True,
        text=True,
        env={"PATH": os.environ.get("PATH", ""), "AWS_DEFAULT_REGION": REGION},
        timeout=300,
    )
    assert result.returncode == 0, f"SAM could not transform template.yaml:\n{result.stderr}"
    transformed: dict[str, Any] = json.loads(result.stdout)
    return transformed


def resolver_for(deployed: dict[str, Any], parameters: dict[str, str]) -> Resolver:
    refs, attributes = physical_ids(deployed["Resources"])
    known = Template.load(TEMPLATE).parameters
    # A parameter that is gone took its condition with it: nothing left to flip.
    values = Template.load(TEMPLATE, {k: v for k, v in parameters.items() if k in known}).parameters
    return Resolver(Template(TEMPLATE, deployed, values), refs, attributes, PSEUDO)


def policy_documents(deployed: dict[str, Any], resolver: Resolver) -> dict[str, Any]:
    """Every policy document of the deployed stack, resolved, by role/policy or resource."""
    found: dict[str, Any] = {}
    for logical_id, resource in deployed["Resources"].items():
        properties = resource.get("Properties") or {}
        if resource["Type"] == "AWS::IAM::Role":
            for policy in resolver.resolve(properties.get("Policies") or []):
                found[f"{logical_id}/{policy['PolicyName']}"] = policy["PolicyDocument"]
        else:
            # Resource policies: a bucket's, a queue's, a topic's (PolicyDocument), a key's.
            for key in ("PolicyDocument", "KeyPolicy"):
                if key in properties:
                    found[logical_id] = resolver.resolve(properties[key])
    return found


def lint(documents: dict[str, Any]) -> set[Finding]:
    findings: set[Finding] = set()
    for name, document in documents.items():
        policy = analyze_policy_string(json.dumps(document), include_community_auditors=True)
        for finding in policy.findings:
            findings.add((name, finding.issue, _detail(finding.detail)))
    return findings


def _detail(detail: Any) -> str:
    """parliament's detail, stable and readable: a text, or a list of texts or of
    {"action", "required_format"} (RESOURCE_MISMATCH: the ARNs an action needs)."""
    if isinstance(detail, list):
        return "; ".join(
            sorted(
                f"{item['action']} on {item['required_format']}"
                if isinstance(item, dict)
                else str(item)
                for item in detail
            )
        )
    return str(detail)


def explained(finding: Finding) -> bool:
    policy, issue, _ = finding
    return finding in ALLOWED or (policy, issue, ANY) in ALLOWED


def unexplained(findings: set[Finding]) -> list[str]:
    return [" | ".join(finding) for finding in sorted(findings) if not explained(finding)]


@pytest.fixture(scope="module")
def deployed() -> dict[str, Any]:
    return deployed_template()


@pytest.fixture(scope="module")
def documents(deployed: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """By parameter set: each policy document, resolved."""
    return {
        name: policy_documents(deployed, resolver_for(deployed, parameters))
        for name, parameters in PARAMETER_SETS.items()
    }


@pytest.fixture(scope="module")
def findings(documents: dict[str, dict[str, Any]]) -> dict[str, set[Finding]]:
    return {name: lint(found) for name, found in documents.items()}


# ---------------------------------------------------------------- what is linted


@pytest.mark.tooling
def test_every_role_and_resource_policy_is_linted(
    documents: dict[str, dict[str, Any]],
) -> None:
    template = Template.load(TEMPLATE)
    functions = template.resources("AWS::Serverless::Function")
    assert FUNCTIONS and len(FUNCTIONS) == len(functions), "every function has its Policies"
    for found in documents.values():
        for function in FUNCTIONS:
            assert f"{function}Role/{function}RolePolicy0" in found
        for machine in template.resources("AWS::Serverless::StateMachine"):
            linted = [name for name in found if name.startswith(f"{machine.logical_id}Role/")]
            assert len(linted) == len(machine.properties["Policies"])
        assert "ExportsBucketPolicy" in found
        assert "AnalyticsQueryPolicy" in found  # the managed policy for people who query
        assert "AnnounceExportFunctionExecutionEndedQueuePolicy" in found


@pytest.mark.tooling
def test_both_branches_of_every_condition_are_linted(deployed: dict[str, Any]) -> None:
    outcomes: dict[str, set[bool]] = {}
    for parameters in PARAMETER_SETS.values():
        resolver = resolver_for(deployed, parameters)
        for condition in deployed.get("Conditions") or {}:
            outcomes.setdefault(condition, set()).add(resolver.condition(condition))
    assert outcomes, "the template has no conditions: PARAMETER_SETS can be one set"
    one_sided = sorted(name for name, seen in outcomes.items() if seen != {True, False})
    assert not one_sided, f"give PARAMETER_SETS values that flip {one_sided}"


@pytest.mark.tooling
def test_intrinsics_are_resolved_to_arns(documents: dict[str, dict[str, Any]]) -> None:
    for found in documents.values():
        text = json.dumps(found)
        assert "Fn::" not in text and '"Ref"' not in text and "${" not in text
        for name, document in found.items():
            for statement in document["Statement"]:
                resources = statement["Resource"]
                for resource in [resources] if isinstance(resources, str) else resources:
                    if resource == "*" and "Principal" in statement:
                        continue  # a key policy's "this key"
                    assert resource.startswith("arn:aws:"), (name, resource)
                    assert ACCOUNT_ID in resource or resource.startswith("arn:aws:s3:::")


# ---------------------------------------------------------------- what parliament says


@pytest.mark.tooling
@pytest.mark.parametrize("parameters", list(PARAMETER_SETS))
def test_parliament_finds_nothing_unexplained(
    findings: dict[str, set[Finding]], parameters: str
) -> None:
    left = unexplained(findings[parameters])
    assert not left, "parliament findings without a reason in ALLOWED:\n" + "\n".join(left)


@pytest.mark.tooling
def test_every_allowed_finding_still_occurs(findings: dict[str, set[Finding]]) -> None:
    seen = set().union(*findings.values())
    seen |= {(policy, issue, ANY) for policy, issue, _ in seen}
    stale = [" | ".join(finding) for finding in sorted(set(ALLOWED) - seen)]
    assert not stale, "no longer found (fixed?): remove from ALLOWED:\n" + "\n".join(stale)


def _unknown_action(documents: dict[str, Any]) -> str:
    policy = "CopyExportFunctionRole/CopyExportFunctionRolePolicy0"
    documents[policy]["Statement"][0]["Action"] = ["dynamodb:GetItems"]
    return policy


def _object_action_on_the_bucket(documents: dict[str, Any]) -> str:
    policy = "ExportsApiFunctionRole/ExportsApiFunctionRolePolicy0"
    (statement,) = [s for s in documents[policy]["Statement"] if s["Action"] == "s3:GetObject"]
    statement["Resource"] = statement["Resource"].split("/", 1)[0]  # the bucket, not its objects
    return policy


def _misspelt_condition_in_the_bucket_policy(documents: dict[str, Any]) -> str:
    (statement,) = documents["ExportsBucketPolicy"]["Statement"]
    statement["Condition"] = {"Bool": {"aws:SecureTransprt": "false"}}
    return "ExportsBucketPolicy"


@pytest.mark.tooling
@pytest.mark.parametrize(
    ("plant", "issue"),
    [
        (_unknown_action, "UNKNOWN_ACTION"),
        (_object_action_on_the_bucket, "RESOURCE_MISMATCH"),
        (_misspelt_condition_in_the_bucket_policy, "UNKNOWN_CONDITION_FOR_ACTION"),
    ],
    ids=["a misspelt action", "an object action on the bucket ARN", "a misspelt condition key"],
)
def test_a_planted_mistake_is_an_unexplained_finding(
    documents: dict[str, dict[str, Any]], plant: Any, issue: str
) -> None:
    planted = copy.deepcopy(documents["defaults"])
    policy = plant(planted)

    left = unexplained(lint(planted))

    assert any(line.startswith(f"{policy} | {issue} |") for line in left), left
