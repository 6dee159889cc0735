"""The analytics table of template.yaml on the embedded AWS, over a scratch bucket, and copies
written into it by the stack's own writer (lemlist_export.analytics.query_copy).

Faster than deploying the whole stack, and the same table: its TableInput is resolved from
template.yaml, with the bucket's name in place of the stack's.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from lemlist_export.analytics.query_copy import ExportFacts, write_query_copy
from local_stack.athena_local import ProjectedTable, read_table
from local_stack.embedded_aws import ACCOUNT_ID
from local_stack.sam_template import Resolver, Template
from tests.conftest import ROOT

DATABASE = "lemlist_stats"
TABLE = "export_rows"
PREFIX = "analytics/export_rows"


def table_input(bucket: str, **parameters: str) -> dict[str, Any]:
    """template.yaml's ExportRowsTable TableInput, as CloudFormation would resolve it."""
    template = Template.load(ROOT / "template.yaml", parameters)
    names = {"ExportsBucket": bucket, "AnalyticsDatabase": DATABASE}
    resolver = Resolver(template, names, {}, {"AWS::AccountId": ACCOUNT_ID})
    table = template.body["Resources"]["ExportRowsTable"]["Properties"]["TableInput"]
    resolved: dict[str, Any] = resolver.resolve(table)
    return resolved


@contextlib.contextmanager
def scratch_table(
    glue: Any, bucket: str, table: dict[str, Any] | None = None
) -> Iterator[ProjectedTable]:
    """lemlist_stats.export_rows over `bucket` (template.yaml's, or `table`), dropped after."""
    _drop(glue)
    glue.create_database(DatabaseInput={"Name": DATABASE})
    try:
        glue.create_table(DatabaseName=DATABASE, TableInput=table or table_input(bucket))
        yield read_table(glue, DATABASE, (table or {}).get("Name", TABLE))
    finally:
        _drop(glue)


def _drop(glue: Any) -> None:
    with contextlib.suppress(glue.exceptions.EntityNotFoundException):
        glue.delete_database(Name=DATABASE)


def put_export(s3: Any, bucket: str, csv: bytes, facts: ExportFacts) -> str:
    """Store `csv` as the stack stores a delivered CSV, then write its copy; the copy's key."""
    csv_key = (
        f"exports/campaign_id={facts.campaign_id}/date={facts.export_date}/{facts.export_id}.csv"
    )
    s3.put_object(Bucket=bucket, Key=csv_key, Body=csv)
    return write_query_copy(s3, bucket, csv_key, PREFIX, facts).key
