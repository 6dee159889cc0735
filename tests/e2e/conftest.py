"""Every end-to-end test also proves IAM: each AWS call a Lambda worker made during the test
was allowed by that function's policy in template.yaml (local_stack/aws_calls.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from local_stack.stack import embedded


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
