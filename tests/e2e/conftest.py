"""Every end-to-end test also proves IAM: each AWS call a Lambda worker made during the test
was allowed by that function's policy in template.yaml (local_stack/aws_calls.py). At the end
of the session every grant must have been needed by some call (tests/iam_coverage.py)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import pytest

from local_stack.stack import embedded
from tests.iam_coverage import record_calls


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
def iam_calls_summary(request: pytest.FixtureRequest) -> Iterator[None]:
    """Hands the session's calls to tests/iam_coverage.py, which judges the grants and sums
    the calls up per function in .local/iam-calls.json."""
    yield
    aws, _ = embedded()
    counts: dict[str, Counter[str]] = {}
    for call in aws.calls.since(0):
        counts.setdefault(call.principal, Counter())[call.action] += 1
    record_calls(request.config, aws.calls.grants, aws.calls.used, counts)
