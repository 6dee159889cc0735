"""The local IAM check: which calls a function's policy allows, and which of its grants no
call needed (the e2e suite's least-privilege judgement, tests/iam_coverage.py)."""

from __future__ import annotations

from typing import Any

import pytest

from local_stack.aws_calls import AwsCall, Grant, Policy, grants_of, unused_grants
from tests.iam_coverage import NEVER_CALLED_IN_THE_SUITE, STACK, judge

FN = "lemlist-local-CopyExportFunction"
TABLE = "arn:aws:dynamodb:us-east-1:123456789012:table/lemlist-local-ExportsTable"
BUCKET = "arn:aws:s3:::exports"
STATEMENTS: list[dict[str, Any]] = [
    {"Effect": "Allow", "Action": ["dynamodb:GetItem", "dynamodb:UpdateItem"], "Resource": TABLE},
    {"Effect": "Allow", "Action": "s3:PutObject", "Resource": f"{BUCKET}/lemlist/*"},
    {
        "Effect": "Allow",
        "Action": "s3:ListBucket",
        "Resource": BUCKET,
        "Condition": {"StringLike": {"s3:prefix": ["lemlist/*"]}},
    },
]


def call(action: str, *resources: str, context: dict[str, str] | None = None) -> AwsCall:
    service, operation = action.split(":")
    return AwsCall(FN, service, operation, action, resources, tuple((context or {}).items()))


def test_one_grant_per_action_and_resource_of_each_statement() -> None:
    grants = list(grants_of(FN, STATEMENTS))
    assert sorted((g.action, g.resource) for g in grants) == [
        ("dynamodb:GetItem", TABLE),
        ("dynamodb:UpdateItem", TABLE),
        ("s3:ListBucket", BUCKET),
        ("s3:PutObject", f"{BUCKET}/lemlist/*"),
    ]
    listing = next(g for g in grants if g.action == "s3:ListBucket")
    assert listing.condition == '{"StringLike": {"s3:prefix": ["lemlist/*"]}}'


def test_a_deny_statement_grants_nothing() -> None:
    deny = [{"Effect": "Deny", "Action": "s3:*", "Resource": "*"}]
    assert grants_of(FN, deny) == {}


def test_a_grant_on_a_deployments_own_secret_name_is_the_templates_grant() -> None:
    secret = "arn:aws:secretsmanager:us-east-1:123456789012:secret:tests/broken-??????"
    statements = [
        {"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": secret}
    ]
    grants = grants_of(FN, statements, {"tests/broken": "${NotificationsSecretName}"})
    ((resolved, meant),) = grants.items()
    assert resolved.resource == secret
    assert meant.resource == (
        "arn:aws:secretsmanager:us-east-1:123456789012:secret:${NotificationsSecretName}-??????"
    )


@pytest.mark.parametrize(
    ("the_call", "covered"),
    [
        (call("dynamodb:GetItem", TABLE), {("dynamodb:GetItem", TABLE)}),
        (
            call("s3:PutObject", f"{BUCKET}/lemlist/a.csv"),
            {("s3:PutObject", f"{BUCKET}/lemlist/*")},
        ),
        (
            call("s3:ListBucket", BUCKET, context={"s3:prefix": "lemlist/x"}),
            {("s3:ListBucket", BUCKET)},
        ),
        # The condition does not hold: the grant did not allow it.
        (call("s3:ListBucket", BUCKET, context={"s3:prefix": "other/"}), set()),
        (call("dynamodb:GetItem", TABLE + "-other"), set()),
    ],
)
def test_a_call_uses_the_grants_that_allow_it(
    the_call: AwsCall, covered: set[tuple[str, str]]
) -> None:
    used = {(g.action, g.resource) for g in grants_of(FN, STATEMENTS) if g.covers(the_call)}
    assert used == covered
    assert Policy(STATEMENTS).allows(the_call) == bool(used)


def test_another_functions_call_uses_none_of_these_grants() -> None:
    other = AwsCall("lemlist-local-Other", "dynamodb", "GetItem", "dynamodb:GetItem", (TABLE,))
    assert not any(g.covers(other) for g in grants_of(FN, STATEMENTS))


def test_unused_grants_are_those_no_call_needed() -> None:
    grants = set(grants_of(FN, STATEMENTS))
    calls = [call("dynamodb:GetItem", TABLE), call("s3:PutObject", f"{BUCKET}/lemlist/a")]
    used = {g for g in grants for c in calls if g.covers(c)}
    assert [(g.action, g.resource) for g in unused_grants(grants, used)] == [
        ("dynamodb:UpdateItem", TABLE),
        ("s3:ListBucket", BUCKET),
    ]


def test_the_judgement_names_each_unexplained_grant_and_each_stale_reason(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    grants = {Grant(FN, "dynamodb:GetItem", TABLE), Grant(FN, "dynamodb:UpdateItem", TABLE)}
    used = {Grant(FN, "dynamodb:GetItem", TABLE)}
    monkeypatch.setattr("tests.iam_coverage.NEVER_CALLED_IN_THE_SUITE", {})
    problems = judge(grants, used)
    assert problems[0].startswith("IAM: the policy allows what no call in the e2e suite needed")
    assert problems[1:] == [f"  CopyExportFunction: dynamodb:UpdateItem on {TABLE}"]

    reasons = {
        ("CopyExportFunction", "dynamodb:UpdateItem", TABLE): "a path no test reaches",
        ("CopyExportFunction", "dynamodb:GetItem", TABLE): "stale: the suite uses it",
    }
    monkeypatch.setattr("tests.iam_coverage.NEVER_CALLED_IN_THE_SUITE", reasons)
    assert judge(grants, used) == [
        "IAM: reasons in tests/iam_coverage.py for grants the suite does use:",
        f"  CopyExportFunction: dynamodb:GetItem on {TABLE}",
    ]


def test_every_reason_is_a_sentence() -> None:
    for (function, action, _), reason in NEVER_CALLED_IN_THE_SUITE.items():
        assert not function.startswith(STACK) and ":" in action
        assert len(reason.split()) >= 5, reason
