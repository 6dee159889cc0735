"""template.yaml's security settings: CSV retention, download limit, API access logs, and
the promises behind the checkov checks it skips (see .checkov.yaml)."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from local_stack.sam_template import Resolver, Template
from tests.conftest import ROOT, StackFactory

SECURITY = ROOT / ".security-venv" / "bin"
ACCESS_LOG_VARIABLES = {
    # What an access log line may say: who, when, which route, how it ended. Never a header,
    # query string, body or authorizer value: the bearer token and Slack's signature are there.
    "$context.requestId",
    "$context.identity.sourceIp",
    "$context.requestTime",
    "$context.httpMethod",
    "$context.routeKey",
    "$context.status",
    "$context.protocol",
    "$context.responseLength",
    "$context.responseLatency",
    "$context.integration.status",
    "$context.integration.latency",
    "$context.integrationErrorMessage",
    "$context.error.message",
}
# Events whose service invokes the function asynchronously; HttpApi waits for the answer.
SYNCHRONOUS_EVENTS = {"HttpApi"}


@pytest.fixture(scope="module")
def template() -> Template:
    return Template.load(ROOT / "template.yaml")


def resolved(resource: str, **parameters: str) -> dict[str, Any]:
    """A resource's properties as CloudFormation would see them with these parameters."""
    loaded = Template.load(ROOT / "template.yaml", parameters)
    return Resolver(loaded, {}, {}, {}).resolve(loaded.body["Resources"][resource]["Properties"])


def environments(template: Template) -> dict[str, dict[str, Any]]:
    """Globals' environment and each function's own, by where they are set."""
    found = {"Globals": (template.function_globals().get("Environment") or {}).get("Variables")}
    for function in template.resources("AWS::Serverless::Function"):
        found[function.logical_id] = (function.properties.get("Environment") or {}).get("Variables")
    return {where: variables or {} for where, variables in found.items()}


# ---------------------------------------------------------------- CSV retention


def test_csv_retention_is_a_number_of_days_and_keeps_csvs_by_default(
    template: Template,
) -> None:
    spec = template.body["Parameters"]["CsvRetentionDays"]
    assert spec["Type"] == "Number"
    assert spec["Default"] == 0 and spec["MinValue"] == 0


def test_csvs_are_kept_when_csv_retention_days_is_0() -> None:
    rules = resolved("ExportsBucket", CsvRetentionDays="0")["LifecycleConfiguration"]["Rules"]
    assert [rule["Id"] for rule in rules] == ["AbortIncompleteUploads", "ExpireAthenaResults"]
    # Only Athena's query results expire: neither a CSV nor its query-ready copy.
    assert [rule["Prefix"] for rule in rules if "ExpirationInDays" in rule] == ["athena-results/"]


@pytest.mark.parametrize("days", ["1", "30", "365"])
def test_csvs_expire_after_csv_retention_days_under_the_prefix_only(days: str) -> None:
    rules = resolved("ExportsBucket", CsvRetentionDays=days, ExportsPrefix="lemlist/stats")[
        "LifecycleConfiguration"
    ]["Rules"]
    expiring = {rule["Id"]: rule for rule in rules if "ExpirationInDays" in rule}
    assert set(expiring) == {"ExpireCsvs", "ExpireQueryCopies", "ExpireAthenaResults"}
    assert expiring["ExpireCsvs"] == {
        "Id": "ExpireCsvs",
        "Status": "Enabled",
        "Prefix": "lemlist/stats/",
        "ExpirationInDays": days,
    }
    # The query-ready copy is the same personal data: it expires with its CSV.
    assert expiring["ExpireQueryCopies"] == {
        "Id": "ExpireQueryCopies",
        "Status": "Enabled",
        "Prefix": "analytics/export_rows/",
        "ExpirationInDays": days,
    }
    # The sweep of abandoned uploads stays, whatever the retention.
    assert "AbortIncompleteUploads" in [rule["Id"] for rule in rules]


def test_the_local_stack_gives_the_bucket_the_expiration_rule(make_stack: StackFactory) -> None:
    stack = make_stack(parameters={"CsvRetentionDays": "30"})
    s3 = stack.client("s3")
    rules = s3.get_bucket_lifecycle_configuration(Bucket=stack.stack.bucket)["Rules"]
    by_id = {rule["ID"]: rule for rule in rules}
    assert set(by_id) == {
        "AbortIncompleteUploads",
        "ExpireCsvs",
        "ExpireQueryCopies",
        "ExpireAthenaResults",
    }
    assert by_id["ExpireQueryCopies"]["Filter"] == {"Prefix": "analytics/export_rows/"}
    assert by_id["ExpireAthenaResults"]["Expiration"] == {"Days": 7}
    assert by_id["ExpireCsvs"]["Expiration"] == {"Days": 30}
    assert by_id["ExpireCsvs"]["Filter"] == {"Prefix": "exports/"}
    assert by_id["ExpireCsvs"]["Status"] == "Enabled"
    assert by_id["AbortIncompleteUploads"]["AbortIncompleteMultipartUpload"] == {
        "DaysAfterInitiation": 1
    }


def test_the_local_stack_expires_no_csv_by_default(make_stack: StackFactory) -> None:
    stack = make_stack()
    rules = stack.client("s3").get_bucket_lifecycle_configuration(Bucket=stack.stack.bucket)[
        "Rules"
    ]
    assert [rule["ID"] for rule in rules] == ["AbortIncompleteUploads", "ExpireAthenaResults"]
    # Only Athena's query results expire, never a CSV or its query-ready copy.
    assert [rule["Filter"] for rule in rules if "Expiration" in rule] == [
        {"Prefix": "athena-results/"}
    ]


# ---------------------------------------------------------------- download limit


def test_max_download_mib_reaches_every_function_as_one_value(template: Template) -> None:
    spec = template.body["Parameters"]["MaxDownloadMiB"]
    assert spec["Type"] == "Number"
    assert spec["Default"] == 5120 and spec["MinValue"] == 1
    envs = environments(template)
    assert envs["Globals"]["MAX_DOWNLOAD_MIB"] == {"Ref": "MaxDownloadMiB"}
    overriding = [
        where for where, env in envs.items() if where != "Globals" and "MAX_DOWNLOAD_MIB" in env
    ]
    assert overriding == []


def test_the_local_stack_passes_max_download_mib_on(make_stack: StackFactory) -> None:
    stack = make_stack(parameters={"MaxDownloadMiB": "64"})
    assert stack.stack.environment["MAX_DOWNLOAD_MIB"] == "64"


# ---------------------------------------------------------------- local-only settings


def test_nothing_in_the_template_allows_local_urls(template: Template) -> None:
    # ALLOW_LOCAL_URLS (plain http, loopback hosts) is the local stack's alone.
    for where, env in environments(template).items():
        assert "ALLOW_LOCAL_URLS" not in json.dumps(env), where
    assert "ALLOW_LOCAL_URLS" not in (ROOT / "template.yaml").read_text()


# ---------------------------------------------------------------- HTTP API access logs


def test_the_http_api_writes_access_logs_to_a_log_group_with_retention(
    template: Template,
) -> None:
    settings = template.body["Resources"]["ExportsHttpApi"]["Properties"]["AccessLogSettings"]
    logical_id, attribute = settings["DestinationArn"]["Fn::GetAtt"]
    assert attribute == "Arn"
    group = template.body["Resources"][logical_id]
    assert group["Type"] == "AWS::Logs::LogGroup"
    assert group["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}
    name = group["Properties"]["LogGroupName"]["Fn::Sub"]
    assert name.startswith("/aws/vendedlogs/") and "${AWS::StackName}" in name


def test_access_log_lines_are_json_of_request_facts_never_headers_or_queries(
    template: Template,
) -> None:
    settings = template.body["Resources"]["ExportsHttpApi"]["Properties"]["AccessLogSettings"]
    line = json.loads(settings["Format"])
    assert isinstance(line, dict)
    assert "\n" not in settings["Format"]  # one log line per request
    used = set(line.values())
    assert "$context.requestId" in used  # API Gateway requires it
    assert used <= ACCESS_LOG_VARIABLES, used - ACCESS_LOG_VARIABLES
    for variable in re.findall(r"\$context\.[\w.]+", settings["Format"]):
        lowered = variable.lower()
        for forbidden in ("header", "querystring", "body", "authorizer", "authorization"):
            assert forbidden not in lowered, variable


# ---------------------------------------------------------------- promises behind checkov skips


def test_every_asynchronously_invoked_function_keeps_its_failed_events(
    template: Template,
) -> None:
    """CKV_AWS_116 (a DLQ per function) is skipped: this is what makes that safe."""
    machine = template.body["Resources"]["ExportStateMachine"]["Properties"]
    invoked_by_machine = {
        value["Fn::GetAtt"][0] for value in machine["DefinitionSubstitutions"].values()
    }
    for function in template.resources("AWS::Serverless::Function"):
        events = {event["Type"] for event in (function.properties.get("Events") or {}).values()}
        if not events:
            assert function.logical_id in invoked_by_machine, function.logical_id
            continue
        if events <= SYNCHRONOUS_EVENTS:
            continue
        on_failure = function.properties["EventInvokeConfig"]["DestinationConfig"]["OnFailure"]
        assert on_failure == {
            "Type": "SQS",
            "Destination": {"Fn::GetAtt": ["FailedInvocationsQueue", "Arn"]},
        }, function.logical_id


def test_environment_variables_name_secrets_never_hold_them(template: Template) -> None:
    """CKV_AWS_173 (a KMS key for environment variables) is skipped: this is why."""
    for where, env in environments(template).items():
        for name, value in env.items():
            if re.search(r"SECRET|TOKEN|PASSWORD|KEY", name):
                assert isinstance(value, dict) and value.get("Ref", "").endswith("SecretName"), (
                    where,
                    name,
                )


def test_every_checkov_skip_gives_its_reason(template: Template) -> None:
    for logical_id, spec in template.body["Resources"].items():
        for skip in ((spec.get("Metadata") or {}).get("checkov") or {}).get("skip", []):
            assert re.fullmatch(r"CKV_AWS_\d+", skip["id"]), logical_id
            assert len(skip.get("comment", "")) > 40, (logical_id, skip["id"])
    lines = (ROOT / ".checkov.yaml").read_text().splitlines()
    skips = [i for i, line in enumerate(lines) if re.fullmatch(r"\s*- CKV_AWS_\d+", line)]
    assert skips
    for index in skips:
        assert lines[index - 1].strip().startswith("#"), lines[index]


# ---------------------------------------------------------------- the scanners themselves


def _security_tool(name: str) -> Path:
    path = SECURITY / name
    assert path.exists(), f"{path} is missing: run `make setup` (make test does it first)"
    return path


@pytest.mark.tooling
def test_checkov_finds_nothing_unexplained(tmp_path: Path) -> None:
    result = subprocess.run(  # noqa: S603
        [
            str(_security_tool("checkov")),
            "--config-file",
            ".checkov.yaml",
            "-f",
            "template.yaml",
            "--framework",
            "cloudformation",
            "--skip-download",
            "--quiet",
            "-o",
            "json",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    summary = json.loads(result.stdout)["summary"]
    # checkov exits 0 on a template it cannot parse: make sure it read every resource.
    assert summary["parsing_errors"] == 0
    assert summary["resource_count"] == len(Template.load(ROOT / "template.yaml").resources())
    assert summary["failed"] == 0


@pytest.mark.tooling
def test_bandit_finds_no_medium_or_high_issue() -> None:
    result = subprocess.run(  # noqa: S603
        [str(_security_tool("bandit")), "-r", "functions", "layers", "-ll", "-f", "json", "-q"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    assert report["results"] == []
    assert report["errors"] == []  # a file bandit could not parse was not scanned
