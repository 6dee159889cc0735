"""The backfill (`make backfill`): copies rebuilt for CSVs already in the bucket are the very
bytes the Copy step wrote, nothing is written twice, and a CSV that cannot be converted is
reported without stopping the others."""

from __future__ import annotations

import io
import json
from contextlib import redirect_stdout

from lemlist_export.analytics.backfill import main
from local_stack.lemlist_simulator import LemlistSimulator
from local_stack.stack import LocalStack
from tests.e2e.test_pipeline import ODD_CSV, export_to_the_end

PREFIX = "analytics/export_rows/"


def copies(stack: LocalStack) -> dict[str, bytes]:
    s3 = stack.client("s3")
    listed = s3.list_objects_v2(Bucket=stack.stack.bucket, Prefix=PREFIX).get("Contents", [])
    return {
        item["Key"]: s3.get_object(Bucket=stack.stack.bucket, Key=item["Key"])["Body"].read()
        for item in listed
    }


def run(stack: LocalStack, *extra: str) -> tuple[int, dict[str, int]]:
    out = io.StringIO()
    with redirect_stdout(out):
        code = main(["--bucket", stack.stack.bucket, *extra], s3=stack.client("s3"))
    return code, json.loads(out.getvalue())


def test_the_backfill_rebuilds_the_same_copies_once_and_reports_what_it_cannot(
    stack: LocalStack, simulator: LemlistSimulator
) -> None:
    simulator.add_campaign("cam_OddCsv000000001", "Odd één", ODD_CSV)
    simulator.add_campaign("cam_Latin1Csv00000001", "Latin-1", "a,b\r\nZoë,1\r\n".encode("latin-1"))
    delivered = [export_to_the_end(stack), export_to_the_end(stack, "cam_OddCsv000000001")]
    refused = export_to_the_end(stack, "cam_Latin1Csv00000001")
    assert all(r.query_copy_uri for r in delivered) and refused.query_copy_error
    written_by_the_stack = copies(stack)
    assert len(written_by_the_stack) == 2
    s3 = stack.client("s3")
    for key in written_by_the_stack:
        s3.delete_object(Bucket=stack.stack.bucket, Key=key)

    # A dry run reads no CSV: it lists the three without a copy.
    assert run(stack, "--dry-run") == (0, {"written": 3, "present": 0, "failed": 0, "skipped": 0})
    assert copies(stack) == {}

    assert run(stack) == (1, {"written": 2, "present": 0, "failed": 1, "skipped": 0})
    assert copies(stack) == written_by_the_stack  # the same keys, the same bytes

    assert run(stack) == (1, {"written": 0, "present": 2, "failed": 1, "skipped": 0})
