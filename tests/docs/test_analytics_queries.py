"""docs/analytics.md's queries, run as written over known CSVs, answer what the CSVs say.

Each CSV is stored as the stack stores it, its copy written by the stack's writer, and each
```sql block of the doc is run by `make query`'s engine (DuckDB over the table of
template.yaml). Every answer is compared with one computed here from Python's csv reading of
the same CSVs, with the header rule the doc states. (The doc's `make query` transcripts are run
by test_docs_run.py.)
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest

from lemlist_export.analytics.query_copy import ExportFacts
from local_stack.athena_local import LocalTable
from local_stack.lemlist_simulator.csv_data import SyntheticCsv
from local_stack.query import documented_queries
from local_stack.stack import embedded
from tests.analytics_support import put_export, scratch_table
from tests.conftest import SCRATCH_BUCKET

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
SINCE = "2026-11-01"  # the doc's date filter
DEMO, WEBINAR, ODD, TIED = (
    "cam_DemoCampaign01",
    "cam_DemoCampaign02",
    "cam_OddHeaders03",
    "cam_Tied04",
)
OWNERS = {DEMO: "Alice", WEBINAR: "Bob"}  # the doc's inline table
ODD_CSV = (
    '\ufeff"leadEmail",emailsReplied,leadEmail,,Email\r\n'
    "c1@example.com,2,dup@example.com,x,UPPER@x.fr\r\n"
    ",n/a,,,\r\n"  # no email, a reply count that is not a number
    '"multi\nline@example.com",3,,,\r\n'  # a quoted newline
    "\r\n"  # a blank line: no row
    "short@example.com\r\n"  # a short row: no emailsReplied at all
    "c5@example.com,1,,,,extra\r\n"  # a long row
).encode()


@dataclass(frozen=True)
class Export:
    facts: ExportFacts
    csv: bytes

    @property
    def day(self) -> str:
        return self.facts.export_date

    @property
    def at(self) -> str:
        return self.facts.exported_at_text

    def rows(self) -> list[dict[str, str]]:
        """The CSV's data rows as the doc describes the copy: header -> cell."""
        records = [
            r for r in csv.reader(io.StringIO(self.csv.decode("utf-8-sig"), newline="")) if r
        ]
        header, body = records[0], records[1:]
        return [
            dict(zip(keys(header + [""] * (len(r) - len(header))), r, strict=False)) for r in body
        ]


def keys(header: list[str]) -> list[str]:
    """The doc's header rule, written from its text."""
    taken, seen, names = {h for h in header if h}, set(), []
    for position, name in enumerate(header, 1):
        if name and name not in seen:
            seen.add(name)
            names.append(name)
            continue
        base = f"{name}_{position}" if name else f"column_{position}"
        candidate, suffix = base, 2
        while candidate in taken:
            candidate, suffix = f"{base}_{suffix}", suffix + 1
        taken.add(candidate)
        names.append(candidate)
    return names


def export(export_id: str, campaign: str, name: str, at: str, data: bytes) -> Export:
    when = datetime.fromisoformat(at.replace("Z", "+00:00"))
    return Export(ExportFacts(export_id, campaign, name, when), data)


def synthetic(rows: int, seed: int, columns: int | None = None) -> bytes:
    return SyntheticCsv(rows=rows, seed=seed, columns=columns).to_bytes()


EXPORTS = [
    export("axp_Old", DEMO, "Q4 Outreach — Démo", "2026-10-15T08:00:00Z", synthetic(5, 9)),
    export("axp_A1", DEMO, "Q4 Outreach — Démo", "2026-11-29T08:00:00Z", synthetic(30, 1)),
    export("axp_A2", DEMO, "Q4 Outreach — Démo", "2026-11-30T08:00:00Z", synthetic(40, 2)),
    export("axp_A3", DEMO, "Q4 Outreach — Démo", "2026-11-30T17:30:00Z", synthetic(35, 3)),
    export("axp_B1", WEBINAR, "Webinar follow-up", "2026-11-29T09:00:00Z", synthetic(20, 4, 12)),
    export("axp_B2", WEBINAR, "Webinar follow-up", "2026-11-30T09:00:00Z", synthetic(25, 5, 12)),
    # Header only: an empty copy, no rows, so B2 stays the latest export with rows.
    export(
        "axp_B3", WEBINAR, "Webinar follow-up", "2026-11-30T20:00:00Z", b"leadEmail,emailsReplied\n"
    ),
    export("axp_C1", ODD, "Odd — headers", "2026-11-30T10:00:00Z", ODD_CSV),
    # Two exports at the same second: the larger export id wins.
    export("axp_T1", TIED, "Tied", "2026-11-30T11:00:00Z", synthetic(3, 6)),
    export("axp_T2", TIED, "Tied", "2026-11-30T11:00:00Z", synthetic(4, 7)),
]


def recent() -> list[Export]:
    return [e for e in EXPORTS if e.day >= SINCE]


def newest(exports: list[Export]) -> Export:
    return max(exports, key=lambda e: (e.at, e.facts.export_id))


def with_rows(exports: list[Export]) -> list[Export]:
    return [e for e in exports if e.rows()]


def number(cell: str | None) -> int | None:
    return int(cell) if cell is not None and re.fullmatch(r"[0-9]+", cell) else None


# ---------------------------------------------------------------- each query's answer


def latest_export_per_campaign() -> list[tuple[Any, ...]]:
    campaigns = sorted({e.facts.campaign_id for e in with_rows(recent())})
    answer = []
    for campaign in campaigns:
        last = newest([e for e in with_rows(recent()) if e.facts.campaign_id == campaign])
        f = last.facts
        answer.append((campaign, f.campaign_name, f.export_id, last.at, len(last.rows())))
    return answer


def one_column_across_campaigns() -> list[tuple[Any, ...]]:
    answer = [
        (e.facts.campaign_id, e.facts.export_id, number_, row["leadEmail"])
        for e in recent()
        for number_, row in enumerate(e.rows(), 1)
        if row.get("leadEmail")
    ]
    return sorted(answer)


def replies_per_campaign_per_day() -> list[tuple[Any, ...]]:
    answer: list[tuple[Any, ...]] = []
    for campaign in sorted({e.facts.campaign_id for e in with_rows(recent())}):
        previous = None
        days = sorted({e.day for e in with_rows(recent()) if e.facts.campaign_id == campaign})
        for index, day in enumerate(days):
            same = [
                e for e in with_rows(recent()) if (e.facts.campaign_id, e.day) == (campaign, day)
            ]
            counts = [number(row.get("emailsReplied")) for row in newest(same).rows()]
            known = [c for c in counts if c is not None]
            replies = sum(known) if known else None
            change = (
                None if index == 0 or replies is None or previous is None else replies - previous
            )
            answer.append((campaign, day, replies, change))
            previous = replies
    return answer


def join_with_another_table() -> list[tuple[Any, ...]]:
    answer = []
    for owner in sorted(set(OWNERS.values())):
        mine = [e for e in with_rows(recent()) if OWNERS.get(e.facts.campaign_id) == owner]
        campaigns = len({e.facts.campaign_id for e in mine})
        answer.append((owner, campaigns, len(mine), sum(len(e.rows()) for e in mine)))
    return answer


def columns_each_campaign_has() -> list[tuple[Any, ...]]:
    counts: dict[tuple[str, str], int] = {}
    for e in recent():
        for row in e.rows():
            for key in row:
                counts[(e.facts.campaign_id, key)] = counts.get((e.facts.campaign_id, key), 0) + 1
    return [(campaign, key, n) for (campaign, key), n in sorted(counts.items())]


EXPECTED: dict[str, Callable[[], list[tuple[Any, ...]]]] = {
    "Latest export per campaign": latest_export_per_campaign,
    "One column across all campaigns: the lead's email": one_column_across_campaigns,
    "Replies per campaign per day": replies_per_campaign_per_day,
    "Join with another table: campaign owners": join_with_another_table,
    "The columns each campaign's CSV has": columns_each_campaign_has,
}


@pytest.fixture(scope="module")
def table() -> Iterator[LocalTable]:
    aws, _ = embedded()
    s3, glue = aws.client("s3"), aws.client("glue")
    s3.create_bucket(Bucket=SCRATCH_BUCKET)
    try:
        with scratch_table(glue, SCRATCH_BUCKET) as projected:
            for item in EXPORTS:
                put_export(s3, SCRATCH_BUCKET, item.csv, item.facts)
            with LocalTable(s3, projected, now=NOW) as local:
                yield local
    finally:
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=SCRATCH_BUCKET):
            for item in page.get("Contents", []):
                s3.delete_object(Bucket=SCRATCH_BUCKET, Key=item["Key"])
        s3.delete_bucket(Bucket=SCRATCH_BUCKET)


def test_every_query_of_the_doc_has_its_check() -> None:
    assert [query.title for query in documented_queries()] == list(EXPECTED)


@pytest.mark.parametrize("title", list(EXPECTED))
def test_the_documented_query_answers_what_the_csvs_say(table: LocalTable, title: str) -> None:
    (query,) = [q for q in documented_queries() if q.title == title]
    expected = EXPECTED[title]()

    result = table.query(query.sql)

    assert expected, "the fixtures must give this query something to answer"
    assert [tuple(row) for row in result.rows] == expected


def test_the_fixtures_exercise_what_the_queries_must_handle() -> None:
    """The cases the doc promises to handle are present in the data the queries run on."""
    assert any(e.day < SINCE for e in EXPORTS)  # the date filter leaves something out
    assert any(not e.rows() for e in EXPORTS)  # an export without rows
    assert len({e.at for e in EXPORTS if e.facts.campaign_id == TIED}) == 1  # a tie
    odd = next(e for e in EXPORTS if e.facts.campaign_id == ODD).rows()
    assert odd[0] == {
        "leadEmail": "c1@example.com",
        "emailsReplied": "2",
        "leadEmail_3": "dup@example.com",
        "column_4": "x",
        "Email": "UPPER@x.fr",
    }
    assert "emailsReplied" not in odd[3]  # the short row
    assert odd[4]["column_6"] == "extra"  # the long row
    replies = replies_per_campaign_per_day()
    assert any(row[3] is not None for row in replies)  # a day-to-day change is computed
