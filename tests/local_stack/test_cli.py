"""`make run`'s CLI as a user runs it: a subprocess, its exit code, its stdout, its file."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from local_stack.lemlist_simulator import DEFAULT_CAMPAIGN_ID, LemlistSimulator
from tests.conftest import ROOT

pytestmark = pytest.mark.e2e


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    environment.pop("LEMLIST_API_KEY", None)
    environment.update(env or {})
    return subprocess.run(  # noqa: S603
        [sys.executable, "-m", "local_stack", "run", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=environment,
        timeout=240,
    )


def last_json(stdout: str) -> dict:
    return json.loads(stdout.strip().splitlines()[-1])


def test_the_default_run_delivers_one_export_and_keeps_a_local_copy(tmp_path: Path) -> None:
    result = run_cli("--json", "--out", str(tmp_path))

    assert result.returncode == 0, result.stderr
    summary = last_json(result.stdout)
    assert summary["status"] == "delivered" and summary["error"] is None
    assert summary["campaignId"] == DEFAULT_CAMPAIGN_ID
    assert summary["s3Uri"].startswith("s3://") and summary["exportId"] in summary["s3Uri"]
    local = Path(summary["localPath"])
    assert local.is_relative_to(tmp_path) and "campaign_id=" in str(local)
    data = local.read_bytes()
    assert len(data) == summary["bytes"]
    assert hashlib.sha256(data).hexdigest() == summary["sha256"]
    assert data.startswith(b"campaignName,")  # the CSV lemlist (here, the simulator) served
    # Progress went to stderr while lemlist was pending.
    assert "lemlist is preparing export" in result.stderr


def test_the_human_summary_names_the_file_and_the_notifications(tmp_path: Path) -> None:
    result = run_cli("--out", str(tmp_path))

    assert result.returncode == 0, result.stderr
    for expected in ("delivered", "S3 ", "sha256", "local copy", "slack", "webhook"):
        assert expected in result.stdout
    assert "signature valid" in result.stdout


def test_a_look_alike_lemlist_with_a_wrong_key_fails_clearly(tmp_path: Path) -> None:
    with LemlistSimulator(api_key="the-right-key-123") as sim:
        result = run_cli(
            "--lemlist-url", sim.base_url,
            "--api-key", "the-wrong-key-456",
            "--campaign", DEFAULT_CAMPAIGN_ID,
            "--out", str(tmp_path),
            "--json",
        )  # fmt: skip

    assert result.returncode == 1
    summary = last_json(result.stdout)
    assert summary["status"] == "failed" and summary["exportId"] is None
    assert "rejected the API key" in summary["error"]
    assert "the-wrong-key-456" not in result.stdout + result.stderr


def test_a_look_alike_lemlist_delivers_with_the_key_from_the_environment(
    tmp_path: Path,
) -> None:
    with LemlistSimulator(api_key="look-alike-key-789") as sim:
        result = run_cli(
            "--lemlist-url", sim.base_url,
            "--campaign", DEFAULT_CAMPAIGN_ID,
            "--poll-seconds", "0",
            "--out", str(tmp_path),
            "--json",
            env={"LEMLIST_API_KEY": "look-alike-key-789"},
        )  # fmt: skip
        served = next(iter(sim.exports.values())).csv.to_bytes()

    assert result.returncode == 0, result.stderr
    summary = last_json(result.stdout)
    assert Path(summary["localPath"]).read_bytes() == served
    assert "look-alike-key-789" not in result.stdout + result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--lemlist-url", "https://api.lemlist.com/api"], "needs --api-key"),
        (["--lemlist-url", "http://example.com/api", "--api-key", "k"], "only https"),
        (["--campaign", "cam bad"], "letters, digits or underscores"),
        (["--poll-seconds", "-1"], "0 or more"),
    ],
)
def test_bad_flags_exit_2_with_a_reason(args: list[str], message: str) -> None:
    result = run_cli(*args)

    assert result.returncode == 2
    assert message in result.stderr
