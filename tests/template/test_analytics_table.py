"""template.yaml's analytics side (docs/analytics.md) matches the copy the stack writes.

The Glue table is checked against the objects lemlist_export.analytics.query_copy writes
(names and JSON types of a real line), the partition projection against copy_key's layout, the
workgroup's limits and results location, and the query policy's reach. Glue accepts any
projection settings; Athena refuses bad ones only when a query runs, so they are checked here.
"""

from __future__ import annotations

import gzip
import io
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from lemlist_export.analytics.query_copy import ExportFacts, JsonLinesGzip, copy_key
from local_stack.resources import check_analytics_prefix
from local_stack.sam_template import Resolver, Template
from tests.conftest import ROOT, StackFactory

BUCKET = "stack-exportsbucket"
STACK = "lemlist-stats-export"
NAMES = {
    "ExportsBucket": BUCKET,
    "AnalyticsDatabase": "lemlist_stats",
    "ExportRowsTable": "export_rows",
    "AnalyticsWorkGroup": f"{STACK}-analytics",
}
PSEUDO = {
    "AWS::Region": "us-east-1",
    "AWS::AccountId": "123456789012",
    "AWS::Partition": "aws",
    "AWS::StackName": STACK,
}
# The copy's schema as docs/analytics.md states it; the test below also derives it from a line
# the writer produced, so neither the template nor this literal can drift from the writer.
COPY_SCHEMA = [
    ("export_id", "string"),
    ("campaign_id", "string"),
    ("campaign_name", "string"),
    ("exported_at", "string"),
    ("row_number", "bigint"),
    ("fields", "map<string,string>"),
]
FACTS = ExportFacts(
    "axp_A1B2C3D4E5F6G7H8I9",
    "cam_A1B2C3D4E5F6G7H8I9",
    "Q4 Outreach — Démo",
    datetime(2026, 11, 30, 23, 59, 59, tzinfo=UTC),
)


def resolved(logical_id: str, **parameters: str) -> dict[str, Any]:
    """A resource's properties as CloudFormation would resolve them (physical names: NAMES)."""
    template = Template.load(ROOT / "template.yaml", parameters)
    attributes = {("ExportsBucket", "Arn"): f"arn:aws:s3:::{BUCKET}"}
    resolver = Resolver(template, NAMES, attributes, PSEUDO)
    return resolver.resolve(template.body["Resources"][logical_id]["Properties"])


def table_input(**parameters: str) -> dict[str, Any]:
    return resolved("ExportRowsTable", **parameters)["TableInput"]


def written_line() -> dict[str, Any]:
    """The first object of a copy the writer made from a small CSV."""
    csv = "leadEmail,leadFirstName,emailsReplied,Email\r\na@example.com,Zoë,1,A@x.fr\r\n".encode()
    data = JsonLinesGzip(io.BytesIO(csv), FACTS).read()
    line = gzip.decompress(data).decode().splitlines()[0]
    return json.loads(line)


def glue_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "bigint"
    if isinstance(value, str):
        return "string"
    if isinstance(value, dict) and all(isinstance(v, str) for v in value.values()):
        return "map<string,string>"
    raise AssertionError(f"no Glue type for {value!r}")


# ---------------------------------------------------------------- the table and the copy


def test_the_columns_are_the_copys_keys_with_their_types_in_order() -> None:
    columns = [(c["Name"], c["Type"]) for c in table_input()["StorageDescriptor"]["Columns"]]
    line = written_line()

    assert [(key, glue_type(value)) for key, value in line.items()] == COPY_SCHEMA
    assert columns == COPY_SCHEMA
    # Header names as written, case included; every cell a string.
    assert line["fields"] == {
        "leadEmail": "a@example.com",
        "leadFirstName": "Zoë",
        "emailsReplied": "1",
        "Email": "A@x.fr",
    }


def test_the_partition_is_a_string_day_that_no_line_carries() -> None:
    (key,) = table_input()["PartitionKeys"]
    assert (key["Name"], key["Type"]) == ("export_date", "string")
    # A data column named like the partition fails every Athena query (duplicate columns).
    assert key["Name"] not in written_line()
    assert key["Name"] not in dict(COPY_SCHEMA)


def test_the_table_reads_gzip_json_lines_with_the_hive_serde() -> None:
    table = table_input()
    storage = table["StorageDescriptor"]
    assert table["TableType"] == "EXTERNAL_TABLE"
    assert table["Name"] == "export_rows"
    # Hive's SerDe keeps map keys as written; OpenX's lowercases them.
    assert storage["SerdeInfo"] == {
        "SerializationLibrary": "org.apache.hive.hcatalog.data.JsonSerDe"
    }
    assert storage["InputFormat"] == "org.apache.hadoop.mapred.TextInputFormat"
    assert storage["Compressed"] is True
    assert table["Parameters"]["classification"] == "json"
    assert copy_key("p", FACTS).endswith(".jsonl.gz")  # Athena decides gzip by the extension


@pytest.mark.parametrize("first", ["2025-01-01", "2023-06-15"])
def test_the_projection_makes_one_partition_a_day_from_the_first_date_to_now(first: str) -> None:
    parameters = table_input(AnalyticsFirstDate=first)["Parameters"]
    projection = {k: v for k, v in parameters.items() if k.startswith("projection.")}

    assert projection == {
        "projection.enabled": "true",
        "projection.export_date.type": "date",
        "projection.export_date.format": "yyyy-MM-dd",
        "projection.export_date.range": f"{first},NOW",
        "projection.export_date.interval": "1",
        "projection.export_date.interval.unit": "DAYS",
    }
    # Every value a Glue parameter holds is a string (Athena reads them as such).
    assert all(isinstance(value, str) for value in parameters.values())
    # yyyy-MM-dd is what ExportFacts writes into the key.
    assert datetime.strptime(FACTS.export_date, "%Y-%m-%d").date() == FACTS.exported_at.date()


@pytest.mark.parametrize("prefix", ["analytics/export_rows", "rows"])
def test_the_location_template_is_the_folder_copy_key_writes_into(prefix: str) -> None:
    table = table_input(AnalyticsPrefix=prefix)
    location = table["StorageDescriptor"]["Location"]
    template = table["Parameters"]["storage.location.template"]

    assert location == f"s3://{BUCKET}/{prefix}/"
    assert template == f"{location}export_date=${{export_date}}/"
    folder = template.replace("${export_date}", FACTS.export_date)
    key = copy_key(prefix, FACTS)
    # Flat inside the day: the object is a direct child of the partition's folder.
    assert f"s3://{BUCKET}/{key}".startswith(folder)
    assert "/" not in f"s3://{BUCKET}/{key}".removeprefix(folder)


def test_the_first_date_parameter_is_a_day() -> None:
    spec = Template.load(ROOT / "template.yaml").body["Parameters"]["AnalyticsFirstDate"]
    assert spec["AllowedPattern"] == "^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
    datetime.strptime(spec["Default"], "%Y-%m-%d")


# ---------------------------------------------------------------- the workgroup


def test_the_workgroup_enforces_engine_3_encrypted_results_and_a_scan_limit() -> None:
    group = resolved("AnalyticsWorkGroup", AthenaBytesScannedCutoffPerQuery="20000000")
    config = group["WorkGroupConfiguration"]

    assert group["Name"] == f"{STACK}-analytics"
    assert config["EnforceWorkGroupConfiguration"] is True
    assert config["EngineVersion"] == {"SelectedEngineVersion": "Athena engine version 3"}
    assert config["BytesScannedCutoffPerQuery"] == "20000000"
    assert config["ResultConfiguration"]["EncryptionConfiguration"] == {
        "EncryptionOption": "SSE_S3"
    }
    assert config["ResultConfiguration"]["ExpectedBucketOwner"] == PSEUDO["AWS::AccountId"]


def test_the_scan_limit_cannot_go_below_athenas_minimum() -> None:
    spec = Template.load(ROOT / "template.yaml").body["Parameters"][
        "AthenaBytesScannedCutoffPerQuery"
    ]
    assert spec["Type"] == "Number"
    assert spec["MinValue"] >= 10_000_000
    assert spec["Default"] >= spec["MinValue"]


@pytest.mark.parametrize("prefix", ["analytics/export_rows", "athena", "athena-results-copy"])
def test_results_are_written_outside_the_table_location(prefix: str) -> None:
    output = resolved("AnalyticsWorkGroup")["WorkGroupConfiguration"]["ResultConfiguration"][
        "OutputLocation"
    ]
    location = table_input(AnalyticsPrefix=prefix)["StorageDescriptor"]["Location"]

    assert output == f"s3://{BUCKET}/athena-results/"
    assert not output.startswith(location) and not location.startswith(output)


def test_results_and_copies_have_their_lifecycle_rules() -> None:
    rules = resolved("ExportsBucket", CsvRetentionDays="30", AthenaResultsRetentionDays="3")[
        "LifecycleConfiguration"
    ]["Rules"]
    by_id = {rule["Id"]: rule for rule in rules}
    assert by_id["ExpireAthenaResults"]["Prefix"] == "athena-results/"
    assert by_id["ExpireAthenaResults"]["ExpirationInDays"] == "3"
    assert by_id["ExpireQueryCopies"]["Prefix"] == "analytics/export_rows/"
    # The copy follows the CSVs' rule: the same condition, the same days.
    raw = Template.load(ROOT / "template.yaml").body["Resources"]["ExportsBucket"]["Properties"]
    conditioned = {
        item["Fn::If"][1]["Id"]: item["Fn::If"]
        for item in raw["LifecycleConfiguration"]["Rules"]
        if "Fn::If" in item
    }
    csvs, copies = conditioned["ExpireCsvs"], conditioned["ExpireQueryCopies"]
    assert copies[0] == csvs[0] and copies[2] == csvs[2]
    assert copies[1]["ExpirationInDays"] == csvs[1]["ExpirationInDays"]


# ---------------------------------------------------------------- who may query


def policy_statements() -> list[dict[str, Any]]:
    return resolved("AnalyticsQueryPolicy")["PolicyDocument"]["Statement"]


def test_the_query_policy_reaches_this_workgroup_table_copy_and_results_only() -> None:
    arn = "arn:aws:{}:us-east-1:123456789012:{}"
    reach: dict[str, set[str]] = {}
    for statement in policy_statements():
        assert statement["Effect"] == "Allow"
        resources = statement["Resource"]
        for action in (
            [statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"]
        ):
            assert "*" not in action
            reach.setdefault(action, set()).update(
                [resources] if isinstance(resources, str) else resources
            )
    workgroup = {arn.format("athena", f"workgroup/{STACK}-analytics")}
    glue = {
        arn.format("glue", "catalog"),
        arn.format("glue", "database/lemlist_stats"),
        arn.format("glue", "table/lemlist_stats/export_rows"),
    }
    bucket = f"arn:aws:s3:::{BUCKET}"
    results = f"{bucket}/athena-results/*"
    assert reach == {
        "athena:StartQueryExecution": workgroup,
        "athena:GetQueryExecution": workgroup,
        "athena:GetQueryResults": workgroup,
        "athena:StopQueryExecution": workgroup,
        "athena:GetWorkGroup": workgroup,
        "glue:GetDatabase": glue,
        "glue:GetTable": glue,
        "s3:GetBucketLocation": {bucket},
        "s3:ListBucket": {bucket},
        "s3:GetObject": {f"{bucket}/analytics/export_rows/*", results},
        "s3:PutObject": {results},
        "s3:AbortMultipartUpload": {results},
        "s3:ListMultipartUploadParts": {results},
    }


def test_the_query_policy_lists_only_the_copy_and_the_results() -> None:
    (listing,) = [s for s in policy_statements() if s["Action"] == "s3:ListBucket"]
    assert listing["Condition"] == {
        "StringLike": {"s3:prefix": ["analytics/export_rows/*", "athena-results/*"]}
    }


def test_the_query_policy_never_reaches_the_csvs() -> None:
    text = json.dumps(resolved("AnalyticsQueryPolicy", ExportsPrefix="exports"))
    assert "exports/" not in text.replace("exportsbucket", "")


# ---------------------------------------------------------------- names and the prefix rule


def test_the_outputs_name_the_database_table_workgroup_and_policy() -> None:
    outputs = Template.load(ROOT / "template.yaml").body["Outputs"]
    assert outputs["AnalyticsDatabase"]["Value"] == {"Ref": "AnalyticsDatabase"}
    assert outputs["AnalyticsTable"]["Value"] == {"Ref": "ExportRowsTable"}
    assert outputs["AthenaWorkGroup"]["Value"] == {"Ref": "AnalyticsWorkGroup"}
    assert outputs["AnalyticsQueryPolicyArn"]["Value"] == {"Ref": "AnalyticsQueryPolicy"}


def rule_holds(**parameters: str) -> bool:
    template = Template.load(ROOT / "template.yaml", parameters)
    resolver = Resolver(template, NAMES, {}, PSEUDO)
    (assertion,) = template.body["Rules"]["AnalyticsCopyBesideTheCsvs"]["Assertions"]
    return bool(resolver.resolve(assertion["Assert"]))


def test_cloudformation_refuses_the_copy_at_the_csvs_prefix() -> None:
    assert rule_holds()
    assert not rule_holds(AnalyticsPrefix="exports")
    assert not rule_holds(AnalyticsPrefix="lemlist/csv", ExportsPrefix="lemlist/csv")


@pytest.mark.parametrize(
    ("copy", "csvs"),
    [("exports/rows", "exports"), ("analytics", "analytics/csv"), ("exports", "exports/")],
)
def test_the_local_stack_refuses_a_copy_nested_with_the_csvs(copy: str, csvs: str) -> None:
    with pytest.raises(ValueError, match="overlap"):
        check_analytics_prefix({"AnalyticsPrefix": copy, "ExportsPrefix": csvs})


@pytest.mark.parametrize(
    ("copy", "csvs"),
    [("analytics/export_rows", "exports"), ("exports-rows", "exports"), ("a/b", "a/c")],
)
def test_siblings_are_accepted(copy: str, csvs: str) -> None:
    check_analytics_prefix({"AnalyticsPrefix": copy, "ExportsPrefix": csvs})


def test_the_default_prefixes_are_siblings() -> None:
    check_analytics_prefix(Template.load(ROOT / "template.yaml").parameters)


def test_the_local_stack_deploys_the_table_as_written(make_stack: StackFactory) -> None:
    stack = make_stack(parameters={"AnalyticsFirstDate": "2026-01-01"})
    glue = stack.client("glue")

    table = glue.get_table(DatabaseName="lemlist_stats", Name="export_rows")["Table"]
    bucket = stack.stack.bucket
    assert [(c["Name"], c["Type"]) for c in table["StorageDescriptor"]["Columns"]] == COPY_SCHEMA
    assert table["Parameters"]["projection.export_date.range"] == "2026-01-01,NOW"
    assert table["Parameters"]["storage.location.template"] == (
        f"s3://{bucket}/analytics/export_rows/export_date=${{export_date}}/"
    )
    group = stack.client("athena").get_work_group(WorkGroup="lemlist-local-analytics")
    config = group["WorkGroup"]["Configuration"]
    assert config["BytesScannedCutoffPerQuery"] == 1073741824
    assert config["ResultConfiguration"]["OutputLocation"] == f"s3://{bucket}/athena-results/"
    assert stack.stack.name("AnalyticsQueryPolicy").startswith("arn:aws:iam::123456789012:policy/")


def test_the_local_stack_refuses_overlapping_prefixes(make_stack: StackFactory) -> None:
    with pytest.raises(ValueError, match="overlap"):
        make_stack(parameters={"AnalyticsPrefix": "exports/rows"})
    with pytest.raises(ValueError, match="AnalyticsPrefix must differ"):
        make_stack(parameters={"AnalyticsPrefix": "exports"})
