"""`make query` (local_stack.query) and the Athena read it plays (local_stack.athena_local):
which objects are read, what an empty table answers, Athena's functions, what is refused."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from lemlist_export.analytics.query_copy import ExportFacts
from local_stack import query
from local_stack.athena_local import LocalTable, QueryResult, TableError, duckdb_type
from local_stack.stack import embedded
from tests.analytics_support import PREFIX, put_export, scratch_table, table_input
from tests.conftest import SCRATCH_BUCKET

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
CSV = b"leadEmail,emailsReplied,Email\na@example.com,1,A@x.fr\nb@example.com,,\n"


def facts(export_id: str, when: datetime) -> ExportFacts:
    return ExportFacts(export_id, "cam_A1B2C3D4E5F6G7H8I9", "Démo", when)


@pytest.fixture
def glue() -> Any:
    aws, _ = embedded()
    return aws.client("glue")


@pytest.fixture
def table(scratch_s3: Any, glue: Any) -> Iterator[Any]:
    with scratch_table(glue, SCRATCH_BUCKET) as projected:
        yield projected


def test_only_the_objects_athena_would_read_are_read(scratch_s3: Any, table: Any) -> None:
    read = put_export(scratch_s3, SCRATCH_BUCKET, CSV, facts("axp_Read", NOW))
    copied = scratch_s3.get_object(Bucket=SCRATCH_BUCKET, Key=read)["Body"].read()
    ignored = [
        f"{PREFIX}/export_date=2026-11-30/_SUCCESS",  # Athena hides _ and . names
        f"{PREFIX}/export_date=2026-11-30/.axp_Hidden.jsonl.gz",
        f"{PREFIX}/export_date=2026-11-30/deeper/axp_Deeper.jsonl.gz",  # not a direct child
        f"{PREFIX}/export_date=2024-12-31/axp_Early.jsonl.gz",  # before AnalyticsFirstDate
        f"{PREFIX}/export_date=2026-12-02/axp_Future.jsonl.gz",  # after NOW
        f"{PREFIX}/export_date=2026-1-5/axp_NotTheFormat.jsonl.gz",
        f"{PREFIX}/axp_NoPartition.jsonl.gz",
        f"{PREFIX}_old/export_date=2026-11-30/axp_Sibling.jsonl.gz",
    ]
    for key in ignored:
        scratch_s3.put_object(Bucket=SCRATCH_BUCKET, Key=key, Body=copied)

    with LocalTable(scratch_s3, table, now=NOW) as local:
        assert [o.key for o in local.objects] == [read]
        result = local.query(
            "SELECT export_id, export_date, row_number, exported_at FROM lemlist_stats.export_rows "
            "ORDER BY row_number"
        )

    assert result.rows == (
        ("axp_Read", "2026-12-01", 1, "2026-12-01T12:00:00Z"),
        ("axp_Read", "2026-12-01", 2, "2026-12-01T12:00:00Z"),
    )


def test_an_empty_table_answers_no_rows_with_its_columns(scratch_s3: Any, table: Any) -> None:
    with LocalTable(scratch_s3, table, now=NOW) as local:
        count = local.query("SELECT count(*) AS n FROM lemlist_stats.export_rows")
        everything = local.query("SELECT * FROM lemlist_stats.export_rows")
        described = local.query("DESCRIBE lemlist_stats.export_rows")

    assert count == QueryResult(("n",), ((0,),))
    assert everything.rows == ()
    assert [(row[0], row[1]) for row in described.rows] == [
        ("export_id", "VARCHAR"),
        ("campaign_id", "VARCHAR"),
        ("campaign_name", "VARCHAR"),
        ("exported_at", "VARCHAR"),
        ("row_number", "BIGINT"),
        ("fields", "MAP(VARCHAR, VARCHAR)"),
        ("export_date", "VARCHAR"),
    ]


def test_an_empty_export_reads_as_no_rows(scratch_s3: Any, table: Any) -> None:
    put_export(scratch_s3, SCRATCH_BUCKET, b"leadEmail,emailsReplied\n", facts("axp_Empty", NOW))

    with LocalTable(scratch_s3, table, now=NOW) as local:
        assert len(local.objects) == 1
        assert local.query("SELECT count(*) FROM lemlist_stats.export_rows").rows == ((0,),)


def test_map_lookups_and_timestamps_behave_as_on_athena(scratch_s3: Any, table: Any) -> None:
    put_export(scratch_s3, SCRATCH_BUCKET, CSV, facts("axp_Read", NOW))

    with LocalTable(scratch_s3, table, now=NOW) as local:
        result = local.query(
            "SELECT element_at(fields, 'leadEmail') AS email, element_at(fields, 'Email') AS upper,"
            " element_at(fields, 'leademail') AS folded, element_at(fields, 'nope') AS missing,"
            " element_at(fields, 'emailsReplied') AS replied,"
            " CAST(from_iso8601_timestamp(exported_at) AS VARCHAR) AS at"
            " FROM lemlist_stats.export_rows ORDER BY row_number"
        )

    assert result.records() == [
        {
            "email": "a@example.com",
            "upper": "A@x.fr",
            "folded": None,  # keys keep their case
            "missing": None,  # not a failure, not an empty list: NULL
            "replied": "1",
            "at": "2026-12-01 12:00:00+00",
        },
        {
            "email": "b@example.com",
            "upper": "",
            "folded": None,
            "missing": None,
            "replied": "",
            "at": "2026-12-01 12:00:00+00",
        },
    ]


def _refused(change: Any) -> dict[str, Any]:
    table = copy.deepcopy(table_input(SCRATCH_BUCKET))
    change(table)
    return table


REFUSED = {
    "a range not in the format": (
        lambda t: t["Parameters"].update({"projection.export_date.range": "2025/01/01,NOW"}),
        "does not match the format",
    ),
    "a template without the key": (
        lambda t: t["Parameters"].update(
            {"storage.location.template": f"s3://{SCRATCH_BUCKET}/{PREFIX}/day/"}
        ),
        r"must hold \$\{export_date\}",
    ),
    "no projection": (
        lambda t: t["Parameters"].update({"projection.enabled": "false"}),
        "needs partition projection",
    ),
    "the OpenX SerDe": (
        lambda t: t["StorageDescriptor"]["SerdeInfo"].update(
            {"SerializationLibrary": "org.openx.data.jsonserde.JsonSerDe"}
        ),
        "reads org.apache.hive.hcatalog.data.JsonSerDe only",
    ),
    "a column named like the partition": (
        lambda t: t["StorageDescriptor"]["Columns"].append(
            {"Name": "export_date", "Type": "string"}
        ),
        "both a column and a partition",
    ),
    "a missing format": (
        lambda t: t["Parameters"].pop("projection.export_date.format"),
        "projection.export_date.format is missing",
    ),
}


@pytest.mark.parametrize("case", list(REFUSED))
def test_a_table_athena_would_refuse_is_refused(scratch_s3: Any, glue: Any, case: str) -> None:
    change, message = REFUSED[case]
    with (
        pytest.raises(TableError, match=message),
        scratch_table(glue, SCRATCH_BUCKET, _refused(change)),
    ):
        pass


@pytest.mark.parametrize(
    ("glue_type", "expected"),
    [
        ("string", "VARCHAR"),
        ("bigint", "BIGINT"),
        ("map<string,string>", "MAP(VARCHAR, VARCHAR)"),
        ("map<string,array<bigint>>", "MAP(VARCHAR, BIGINT[])"),
        ("decimal(10,2)", "DECIMAL(10,2)"),
    ],
)
def test_glue_types_become_duckdb_types(glue_type: str, expected: str) -> None:
    assert duckdb_type(glue_type) == expected


def test_an_unknown_glue_type_is_refused() -> None:
    with pytest.raises(TableError, match="struct"):
        duckdb_type("struct<a:string>")


def test_results_read_as_a_table_and_as_json() -> None:
    result = QueryResult(
        ("campaign_id", "replies", "note", "fields"),
        (
            ("cam_A", 12, "two\nlines", {"leadEmail": "a@example.com"}),
            ("cam_LongerName", Decimal(3), None, {}),
        ),
    )

    assert query.render(result) == "\n".join(
        [
            "campaign_id    | replies | note       | fields",
            "---------------+---------+------------+-------------------------------",
            'cam_A          |      12 | two\\nlines | {"leadEmail": "a@example.com"}',
            "cam_LongerName |       3 | NULL       | {}",
            "(2 rows)",
        ]
    )
    assert query.as_json(query.NamedQuery("", "SELECT"), result) == {
        "columns": ["campaign_id", "replies", "note", "fields"],
        "rows": [
            {
                "campaign_id": "cam_A",
                "replies": 12,
                "note": "two\nlines",
                "fields": {"leadEmail": "a@example.com"},
            },
            {"campaign_id": "cam_LongerName", "replies": 3, "note": None, "fields": {}},
        ],
    }


def test_long_results_are_cut_in_the_table_only() -> None:
    result = QueryResult(("n", "text"), tuple((i, "x" * 80) for i in range(150)))

    text = query.render(result).splitlines()

    assert len(text) == 2 + query.MAX_SHOWN_ROWS + 1
    assert text[2].endswith("x" * 59 + "…")
    assert text[-1] == "(150 rows, the first 100 shown (--json: all))"


def test_the_doc_queries_are_its_sql_blocks_and_athena_only_ones_are_left_out() -> None:
    titles = [q.title for q in query.documented_queries()]

    assert titles == [
        "Latest export per campaign",
        "One column across all campaigns: the lead's email",
        "Replies per campaign per day",
        "Join with another table: campaign owners",
        "The columns each campaign's CSV has",
    ]
    assert all("CREATE" not in q.sql for q in query.documented_queries())


def test_make_query_answers_on_the_empty_table(capsys: pytest.CaptureFixture[str]) -> None:
    code = query.main(
        ["--no-export", "--json", "SELECT count(*) AS lead_rows FROM lemlist_stats.export_rows"]
    )
    out, err = capsys.readouterr()

    assert code == 0, err
    assert json.loads(out) == {"columns": ["lead_rows"], "rows": [{"lead_rows": 0}]}
    assert "0 object(s)" in err


def test_make_query_exports_the_demo_campaigns_and_queries_their_copies(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = query.main(
        [
            "SELECT campaign_id, count(*) AS lead_rows, count(DISTINCT export_id) AS exports,"
            " count(element_at(fields, 'jobTitle')) AS with_job_title"
            " FROM lemlist_stats.export_rows GROUP BY campaign_id ORDER BY campaign_id",
            "--json",
        ]
    )
    out, err = capsys.readouterr()

    assert code == 0, err
    assert json.loads(out)["rows"] == [
        {
            "campaign_id": "cam_DemoCampaign01",
            "lead_rows": 200,
            "exports": 1,
            "with_job_title": 200,
        },
        # The second campaign's CSV has no jobTitle column: NULL, not counted.
        {"campaign_id": "cam_DemoCampaign02", "lead_rows": 60, "exports": 1, "with_job_title": 0},
    ]
    assert "2 object(s)" in err


def test_sql_errors_are_reported_and_fail_the_command(capsys: pytest.CaptureFixture[str]) -> None:
    code = query.main(["--no-export", "SELECT nope FROM lemlist_stats.export_rows"])
    out, err = capsys.readouterr()

    assert code == 1
    assert out == ""
    assert "error: BinderException" in err and "nope" in err
