"""Every end-to-end test also proves IAM: each AWS call a Lambda worker made during the test
was allowed by that function's policy in template.yaml (local_stack/aws_calls.py). At the end
of the session the calls checked are summed up per function in .local/iam-calls.json."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator

import pytest

from local_stack.deploy import PROJECT_ROOT
from local_stack.stack import embedded

SUMMARY = PROJECT_ROOT / ".local" / "iam-calls.json"


@pytest.fixture(autouse=True)
def every_aws_call_is_allowed_by_its_functions_policy() -> Iterator[None]:
    aws, _ = embedded()
    first = len(aws.calls.since(0))
    yield
    denied = aws.calls.denied(since=first)
    assert not denied, "calls the template's policies do not allow:\n" + "\n".join(
        f"  {c.principal}: {c.action} on {', '.join(c.resources)} {dict(c.context) or ''}"
        for c in denied
    )


@pytest.fixture(autouse=True, scope="session")
def iam_calls_summary() -> Iterator[None]:
    yield
    aws, _ = embedded()
    calls = aws.calls.since(0)
    by_function: dict[str, Counter[str]] = {}
    for call in calls:
        by_function.setdefault(call.principal, Counter())[call.action] += 1
    SUMMARY.parent.mkdir(parents=True, exist_ok=True)
    SUMMARY.write_text(
        json.dumps(
            {
                "calls": len(calls),
                "functions": {
                    name: {"calls": sum(actions.values()), "actions": dict(sorted(actions.items()))}
                    for name, actions in sorted(by_function.items())
                },
            },
            indent=2,
        )
        + "\n"
    )
