"""`make query`: SQL over the query-ready copy of the exports, on this machine, before deploying.

    python -m local_stack.query [SQL] [--json] [--no-export] [--campaign ID ...]
                                [--lemlist-url URL] [--api-key KEY] [--poll-seconds N]

The embedded AWS lives as long as its process, so each run stands the stack up (template.yaml
deployed, with its Glue table and Athena workgroup), exports campaigns end to end (the
simulator's two demo campaigns, or yours with --lemlist-url), makes sure each delivered CSV has
its query-ready copy, then runs the SQL with DuckDB over the objects of the table's projected
partitions, under the table's Athena name (local_stack.athena_local). The copy is written by
the same function the stack uses (lemlist_export.analytics.query_copy) when the run has not
written it already.

The SQL: the argument, else $SQL (`make query SQL="..."`), else every ```sql block of
docs/analytics.md. stdout carries only the results (a table per query, or with --json one JSON
object per query and line); progress goes to stderr, the handlers' logs to .local/logs/.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import secrets
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, TextIO

import duckdb

from lemlist_export.analytics.backfill import backfill
from lemlist_export.analytics.query_copy import COPY_SUFFIX
from lemlist_export.core.errors import ExportError
from lemlist_export.core.identifiers import require_lemlist_id
from lemlist_export.records.record import DELIVERED, ExportRecord

from .athena_local import LocalTable, QueryResult, TableError, read_table
from .deploy import PROJECT_ROOT
from .lemlist_simulator import DEFAULT_CAMPAIGN_ID, LemlistSimulator
from .lemlist_simulator.csv_data import SyntheticCsv
from .session import (
    UsageError,
    check_lemlist_arguments,
    log_dir,
    poll_parameters,
    shown_path,
    stdout_to,
)
from .stack import LocalStack, StackOptions

DOC = PROJECT_ROOT / "docs" / "analytics.md"
# A second simulated campaign, with fewer columns than the first: rows of campaigns whose
# headers differ sit in one table (a key a campaign lacks reads NULL).
SECOND_CAMPAIGN_ID = "cam_DemoCampaign02"
SECOND_CAMPAIGN_NAME = "Webinar follow-up"
SECOND_CAMPAIGN_CSV = SyntheticCsv(rows=60, seed=2, columns=12, campaign_name=SECOND_CAMPAIGN_NAME)
MAX_SHOWN_ROWS = 100  # a table per query; the doc's queries, run together, show 20 each
MAX_CELL = 60


@dataclass(frozen=True)
class NamedQuery:
    title: str  # the block's first line when it is a `-- ` comment
    sql: str


def documented_queries(path: Path = DOC) -> list[NamedQuery]:
    """The ```sql blocks of the doc, in order (```sql athena blocks run on Athena only)."""
    found, body, inside = [], [], False
    for line in path.read_text().splitlines():
        if not inside and re.fullmatch(r"```sql\s*", line):
            inside, body = True, []
        elif inside and line.strip() == "```":
            inside = False
            first = body[0] if body else ""
            title = first[3:].strip() if first.startswith("-- ") else f"query {len(found) + 1}"
            found.append(NamedQuery(title, "\n".join(body)))
        elif inside:
            body.append(line)
    return found


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m local_stack.query",
        description="Export on the embedded stack, then query the copy with DuckDB as on Athena.",
    )
    parser.add_argument("sql", nargs="?", help="the SQL (default: $SQL, else the doc's queries)")
    parser.add_argument("--json", action="store_true", help="one JSON object per query and line")
    parser.add_argument(
        "--no-export", action="store_true", help="export nothing: query the empty table"
    )
    parser.add_argument(
        "--campaign",
        action="append",
        help="a campaign to export (repeatable; default: the simulator's demo campaigns)",
    )
    parser.add_argument("--lemlist-url", help="lemlist API base (default: embedded simulator)")
    parser.add_argument("--api-key", help="lemlist API key (default: $LEMLIST_API_KEY)")
    parser.add_argument("--poll-seconds", type=int, help="seconds between status checks")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    out, err = sys.stdout, sys.stderr
    try:
        sql = args.sql or os.environ.get("SQL", "").strip()
        queries = [NamedQuery("", sql)] if sql else documented_queries()
        api_key = check_lemlist_arguments(args)
        if args.lemlist_url and not args.campaign:
            raise UsageError("--lemlist-url needs --campaign ID (one or more)")
        for campaign in args.campaign or []:
            try:
                require_lemlist_id(campaign, "--campaign")
            except ExportError as exc:
                raise UsageError(str(exc)) from None
        results = run(args, api_key, queries, err)
    except UsageError as exc:
        err.write(f"error: {exc}\n")
        return 2
    except TableError as exc:
        err.write(f"error: the table cannot be read as Athena would: {exc}\n")
        return 1
    except KeyboardInterrupt:
        err.write("\nInterrupted; the embedded stack stops with this process.\n")
        return 130
    failed = False
    for query, result in results:
        if isinstance(result, str):
            failed = True
            err.write(f"{query.title + ': ' if query.title else ''}error: {result}\n")
        elif args.json:
            out.write(json.dumps(as_json(query, result), ensure_ascii=False) + "\n")
        else:
            shown = MAX_SHOWN_ROWS if len(results) == 1 else 20
            title = f"-- {query.title}\n" if query.title else ""
            separator = "\n" if query is not results[-1][0] else ""
            out.write(title + render(result, shown) + "\n" + separator)
    return 1 if failed else 0


def run(
    args: argparse.Namespace, api_key: str, queries: list[NamedQuery], err: TextIO
) -> list[tuple[NamedQuery, QueryResult | str]]:
    """Stand the stack up, export, copy, query; each query's result or its error message."""
    with query_stack(args, api_key) as (stack, campaigns):
        records = [] if args.no_export else export_all(stack, campaigns, err)
        ensure_copies(stack, records, err)
        names = stack.stack.names
        glue = stack.client("glue")
        table = read_table(glue, names["AnalyticsDatabase"], names["ExportRowsTable"])
        results: list[tuple[NamedQuery, QueryResult | str]] = []
        with LocalTable(stack.client("s3"), table) as local:
            err.write(
                f"table     {table.database}.{table.name}: {len(local.objects)} object(s) under "
                f"s3://{table.bucket}/{table.location}\n"
            )
            for query in queries:
                try:
                    results.append((query, local.query(query.sql)))
                except duckdb.Error as exc:  # the SQL's fault: said, and the next one runs
                    results.append((query, f"{type(exc).__name__}: {exc}"))
        return results


@contextlib.contextmanager
def query_stack(args: argparse.Namespace, api_key: str) -> Iterator[tuple[LocalStack, list[str]]]:
    """The stack deployed against the chosen lemlist, and the campaigns to export."""
    directory = log_dir()
    directory.mkdir(parents=True, exist_ok=True)
    log_path = directory / f"query-{time.strftime('%Y%m%d-%H%M%S')}.log"
    with contextlib.ExitStack() as cleanup:
        log = cleanup.enter_context(log_path.open("w"))
        cleanup.enter_context(stdout_to(log))
        url, key = args.lemlist_url, api_key
        campaigns = list(args.campaign or [])
        if not url:
            key = api_key or f"sim_{secrets.token_urlsafe(16)}"
            simulator = LemlistSimulator(api_key=key).start()
            cleanup.callback(simulator.stop)
            simulator.add_campaign(SECOND_CAMPAIGN_ID, SECOND_CAMPAIGN_NAME, SECOND_CAMPAIGN_CSV)
            url = simulator.base_url
            campaigns = campaigns or [DEFAULT_CAMPAIGN_ID, SECOND_CAMPAIGN_ID]
        options = StackOptions(
            lemlist_api_url=url,
            lemlist_api_key=key,
            parameters=poll_parameters(args.poll_seconds, simulated=not args.lemlist_url),
        )
        sys.stderr.write(f"logs      {shown_path(log_path)}\n")
        yield LocalStack(options).start(), campaigns


def export_all(stack: LocalStack, campaigns: list[str], err: TextIO) -> list[ExportRecord]:
    """Start an export of each campaign through the HTTP API, then wait for every one."""
    assert stack.http_api is not None
    started = []
    for campaign in campaigns:
        response = stack.http_api.request(
            "POST",
            "/exports",
            headers={**stack.api_headers(), "user-agent": "local-stack"},
            body=json.dumps({"campaignId": campaign}),
        )
        answer = json.loads(response.body or b"{}")
        if response.status != 202:
            err.write(f"export    {campaign} not started: {answer.get('message')}\n")
            continue
        started.append(answer["exportId"])
    return [stack.wait_for_end(export_id) for export_id in started]


def ensure_copies(stack: LocalStack, records: list[ExportRecord], err: TextIO) -> None:
    """Each delivered export's query-ready copy: the stack's own, or written here by the
    backfill (`make backfill` on a deployed bucket) when it has none."""
    s3 = stack.client("s3")
    parameters = stack.stack.template.parameters
    prefix = parameters["AnalyticsPrefix"].strip("/")
    written = backfill(
        s3,
        stack.stack.bucket,
        exports_prefix=parameters["ExportsPrefix"],
        analytics_prefix=prefix,
    ).written
    here = {key.rsplit("/", 1)[-1].removesuffix(COPY_SUFFIX): key for key in written}
    store = stack.store()
    for record in records:
        campaign = f"{record.campaign_name} ({record.campaign_id})"
        if record.status != DELIVERED or not record.bucket or not record.key:
            err.write(f"export    {campaign} {record.status}: {record.failure_reason}\n")
            continue
        if record.export_id in here:
            where, rows = f"s3://{record.bucket}/{here[record.export_id]}", "written here"
        else:
            current = store.find(record.export_id) or record
            where = current.query_copy_uri or "no copy"
            rows = (
                "written by the stack"
                if current.query_copy_uri
                else f"not written: {current.query_copy_error}"
            )
        err.write(f"export    {campaign} {record.export_id}: {where} ({rows})\n")


def as_json(query: NamedQuery, result: QueryResult) -> dict[str, Any]:
    found: dict[str, Any] = {"query": query.title} if query.title else {}
    rows = [{k: _plain(v) for k, v in row.items()} for row in result.records()]
    return {**found, "columns": list(result.columns), "rows": rows}


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def render(result: QueryResult, max_rows: int = MAX_SHOWN_ROWS) -> str:
    """A plain-text table: numbers to the right, long cells cut, at most `max_rows` rows."""
    if not result.columns:
        return "(no result set)"
    shown = result.rows[:max_rows]
    cells = [[_cell(value) for value in row] for row in shown]
    numeric = [_numeric([row[i] for row in shown]) for i in range(len(result.columns))]
    widths = [
        max([len(name), *(len(row[i]) for row in cells)]) for i, name in enumerate(result.columns)
    ]

    def line(values: list[str]) -> str:
        padded = [
            v.rjust(w) if right else v.ljust(w)
            for v, w, right in zip(values, widths, numeric, strict=True)
        ]
        return " | ".join(padded).rstrip()

    lines = [line(list(result.columns)), "-+-".join("-" * w for w in widths)]
    lines += [line(row) for row in cells]
    count = len(result.rows)
    more = f", the first {max_rows} shown (--json: all)" if count > len(shown) else ""
    lines.append(f"({count} row{'' if count == 1 else 's'}{more})")
    return "\n".join(lines)


def _numeric(values: list[Any]) -> bool:
    present = [v for v in values if v is not None]
    return bool(present) and all(
        isinstance(v, int | float | Decimal) and not isinstance(v, bool) for v in present
    )


def _cell(value: Any) -> str:
    if value is None:
        return "NULL"
    text = json.dumps(_plain(value), ensure_ascii=False) if isinstance(value, dict) else str(value)
    text = text.replace("\r", "\\r").replace("\n", "\\n")
    return text if len(text) <= MAX_CELL else text[: MAX_CELL - 1] + "…"


if __name__ == "__main__":
    raise SystemExit(main())
