"""schemathesis against `make serve`, from docs/openapi.json: a few hundred generated requests
(every route, every method including ones the document does not list, bad and good tokens,
odd bodies and ids), and every answer must be a non-5xx that the document describes."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from local_stack.openapi import DOCUMENT
from tests.conftest import ROOT
from tests.local_stack.test_serve import TOKEN, server  # noqa: F401 (the fixture)

pytestmark = [pytest.mark.e2e, pytest.mark.tooling]

SCHEMATHESIS = ROOT / ".fuzz-venv" / "bin" / "schemathesis"
# Not `unsupported_method`: it wants a 405 for a method the document does not list, where
# API Gateway (HTTP API) answers a JSON 404 {"message": "Not Found"}, as make serve does.
CHECKS = ",".join(
    [
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_schema_conformance",
    ]
)


def test_generated_requests_get_documented_answers_and_never_a_5xx(
    server: str,  # noqa: F811
    tmp_path: Path,
) -> None:
    assert SCHEMATHESIS.exists(), "make setup installs schemathesis into .fuzz-venv"
    run = subprocess.run(  # noqa: S603 - our venv's schemathesis, our arguments
        [
            str(SCHEMATHESIS),
            "run",
            str(DOCUMENT),
            "--url",
            server,
            "--header",
            f"Authorization: Bearer {TOKEN}",
            "--checks",
            CHECKS,
            "--max-examples",
            "60",
            "--seed",
            "20261201",
            "--request-timeout",
            "30",
            "--no-color",
            "--report",
            "junit",
            "--report-dir",
            str(tmp_path),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=540,
        check=False,
    )
    output = run.stdout + run.stderr
    assert run.returncode == 0, output[-6000:]
    generated = re.search(r"(\d+) generated", output)
    assert generated and int(generated.group(1)) >= 200, output[-3000:]
