"""Backfill: write the query-ready copy of every CSV already in the bucket that has none.

For CSVs delivered before the stack wrote copies (or whose copy was deleted). Each CSV's facts
come from its key (`<ExportsPrefix>/campaign_id=<id>/date=<day>/<exportId>.csv`) and its
metadata (the campaign's name; the moment lemlist started the export, which CSVs delivered
before it was stored lack: the day's midnight, UTC, stands in). A copy is the same bytes
whoever writes it, so running it twice, or beside the stack, writes nothing twice.

    PYTHONPATH=layers/shared python -m lemlist_export.analytics.backfill --bucket BUCKET \\
        [--exports-prefix exports] [--analytics-prefix analytics/export_rows] [--dry-run]

`make backfill ARGS="--bucket BUCKET"` runs it with the AWS credentials of your shell. It prints
one line per CSV on stderr and a JSON summary on stdout; it exits 1 if a copy could not be
written (the line says why), 0 otherwise.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, TextIO
from urllib.parse import unquote

from botocore.exceptions import BotoCoreError, ClientError

from lemlist_export.analytics.query_copy import (
    COPY_SUFFIX,
    ExportFacts,
    copy_key,
    write_query_copy,
)
from lemlist_export.core.clock import parse_iso
from lemlist_export.core.errors import ExportError

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

_CSV_KEY = re.compile(
    r"campaign_id=(?P<campaign>[^/]+)/date=(?P<day>\d{4}-\d{2}-\d{2})/(?P<export>[^/]+)\.csv$"
)


@dataclass
class Backfill:
    """What a run found and did."""

    written: list[str] = field(default_factory=list)  # copy keys
    present: int = 0  # CSVs whose copy was already there
    failed: dict[str, str] = field(default_factory=dict)  # CSV key -> why
    skipped: list[str] = field(default_factory=list)  # keys that are not an export's CSV

    def summary(self) -> dict[str, object]:
        return {
            "written": len(self.written),
            "present": self.present,
            "failed": len(self.failed),
            "skipped": len(self.skipped),
        }


def facts_of(s3: S3Client, bucket: str, key: str) -> ExportFacts | None:
    """An export's facts from its CSV's key and metadata; None for a key that is not one."""
    match = _CSV_KEY.search(key)
    if match is None:
        return None
    metadata = s3.head_object(Bucket=bucket, Key=key).get("Metadata", {})
    started = metadata.get("exported-at")
    exported_at = (
        parse_iso(started)
        if started
        else datetime.strptime(match["day"], "%Y-%m-%d").replace(tzinfo=UTC)
    )
    return ExportFacts(
        export_id=metadata.get("export-id") or match["export"],
        campaign_id=metadata.get("campaign-id") or match["campaign"],
        campaign_name=unquote(metadata.get("campaign-name", "")),
        exported_at=exported_at,
    )


def csv_keys(s3: S3Client, bucket: str, exports_prefix: str) -> Iterator[str]:
    prefix = exports_prefix.strip("/")
    for page in s3.get_paginator("list_objects_v2").paginate(
        Bucket=bucket, Prefix=f"{prefix}/" if prefix else ""
    ):
        for item in page.get("Contents", []):
            if item["Key"].endswith(".csv"):
                yield item["Key"]


def copied_exports(s3: S3Client, bucket: str, analytics_prefix: str) -> set[str]:
    """Export ids that have a copy, whatever its day (never two copies of one export)."""
    found = set()
    for page in s3.get_paginator("list_objects_v2").paginate(
        Bucket=bucket, Prefix=f"{analytics_prefix.strip('/')}/"
    ):
        for item in page.get("Contents", []):
            name = item["Key"].rsplit("/", 1)[-1]
            if name.endswith(COPY_SUFFIX):
                found.add(name.removesuffix(COPY_SUFFIX))
    return found


def backfill(
    s3: S3Client,
    bucket: str,
    *,
    exports_prefix: str,
    analytics_prefix: str,
    dry_run: bool = False,
    progress: TextIO | None = None,
) -> Backfill:
    """Write every missing copy; one CSV failing never stops the others."""
    done = Backfill()
    have = copied_exports(s3, bucket, analytics_prefix)

    def say(line: str) -> None:
        if progress is not None:
            progress.write(line + "\n")
            progress.flush()

    for key in csv_keys(s3, bucket, exports_prefix):
        try:
            facts = facts_of(s3, bucket, key)
            if facts is None:
                done.skipped.append(key)
                say(f"skipped  {key}: not an export's CSV key")
                continue
            if facts.export_id in have:
                done.present += 1
                continue
            if dry_run:
                done.written.append(copy_key(analytics_prefix, facts))
                say(f"would write s3://{bucket}/{done.written[-1]} from {key}")
                continue
            copy = write_query_copy(s3, bucket, key, analytics_prefix, facts)
        except (ExportError, ClientError, BotoCoreError) as exc:
            done.failed[key] = str(exc)
            say(f"failed   {key}: {exc}")
            continue
        done.written.append(copy.key)
        say(f"written  s3://{bucket}/{copy.key} ({copy.rows} rows) from {key}")
    return done


def main(argv: list[str] | None = None, s3: S3Client | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="backfill", description="Write the query-ready copy of every CSV that has none."
    )
    parser.add_argument("--bucket", required=True, help="the stack's ExportsBucket")
    parser.add_argument("--exports-prefix", default="exports", help="ExportsPrefix")
    parser.add_argument(
        "--analytics-prefix", default="analytics/export_rows", help="AnalyticsPrefix"
    )
    parser.add_argument("--dry-run", action="store_true", help="say what would be written")
    args = parser.parse_args(argv)
    if s3 is None:
        import boto3

        s3 = boto3.client("s3")
    done = backfill(
        s3,
        args.bucket,
        exports_prefix=args.exports_prefix,
        analytics_prefix=args.analytics_prefix,
        dry_run=args.dry_run,
        progress=sys.stderr,
    )
    print(json.dumps(done.summary()))
    return 1 if done.failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
