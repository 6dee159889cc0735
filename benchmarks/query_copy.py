"""The query-ready copy: how fast a CSV becomes gzip JSON Lines, how large the copy is, and
that its memory stays at a few MiB.

Over the simulator's lemlist-like stats export (`SyntheticCsv`, 15 columns, default 100,000
rows, about 22 MiB):

- throughput: `JsonLinesGzip` drained 1 MiB at a time as `stream_to_s3` reads it, in CPU
  seconds of this process (the conversion runs on one thread, so this is MiB/s per core, and
  other work on the machine does not count against it); the fastest of `--repeat` runs. In
  the same run, as the reference: `csv.reader` alone over the same bytes (parsing only);
- size: the copy's bytes against the CSV's;
- memory: peak traced memory (tracemalloc) of one conversion, the CSV's bytes excluded;
- end to end: `write_query_copy` from the CSV in moto's S3 (another process, so its work is
  not counted) to the stored copy, whose rows are checked.

Target: the largest CSV the stack accepts (MaxDownloadMiB, 5 GiB) converts within a Lambda's
900 s on one core at the measured rate (Lambda's cores may be slower than this machine's), and
peak traced memory stays under 8 MiB. Figures go to benchmarks/results.json ("query_copy").

    .venv/bin/python -m benchmarks.query_copy [--rows 100000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import csv
import gzip
import io
import os
import sys
import time
import tracemalloc
from collections.abc import Callable
from datetime import UTC, datetime

import local_stack  # noqa: F401  (layer on sys.path)
from benchmarks._servers import ChildServers
from benchmarks.results import record
from lemlist_export.analytics.query_copy import ExportFacts, JsonLinesGzip, write_query_copy
from local_stack.lemlist_simulator.csv_data import SyntheticCsv

MIB = 1024 * 1024
LARGEST_CSV_MIB = 5 * 1024  # MaxDownloadMiB's default
LAMBDA_SECONDS = 900
MAX_PEAK_TRACED_MIB = 8
BUCKET = "bench-bucket"


def convert(data: bytes, facts: ExportFacts) -> tuple[int, int]:
    converter = JsonLinesGzip(io.BytesIO(data), facts)
    size = 0
    while chunk := converter.read(MIB):
        size += len(chunk)
    return size, converter.rows


def parse_only(data: bytes) -> int:
    text = io.TextIOWrapper(io.BytesIO(data), encoding="utf-8-sig", newline="")
    return sum(1 for _ in csv.reader(text))


def fastest_cpu(run: Callable[[], object], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.process_time()
        run()
        best = min(best, time.process_time() - started)
    return best


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000, help="CSV rows (~230 B each)")
    parser.add_argument("--repeat", type=int, default=3, help="runs; the fastest is kept")
    args = parser.parse_args()

    synthetic = SyntheticCsv(rows=args.rows, seed=1)
    data = synthetic.to_bytes()
    facts = ExportFacts(
        export_id="axp_Bench0000000000001",
        campaign_id="cam_Bench",
        campaign_name=synthetic.campaign_name,
        exported_at=datetime(2026, 11, 30, 9, 0, tzinfo=UTC),
    )
    csv_mib = len(data) / MIB

    copy_bytes, rows = convert(data, facts)
    convert_cpu = fastest_cpu(lambda: convert(data, facts), args.repeat)
    parse_cpu = fastest_cpu(lambda: parse_only(data), args.repeat)

    tracemalloc.start()
    try:
        convert(data, facts)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    servers = ChildServers(services=("s3",))
    try:
        os.environ.update(
            AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench", AWS_DEFAULT_REGION="us-east-1"
        )
        import boto3

        s3 = boto3.client("s3", endpoint_url=servers.urls["s3"])
        s3.create_bucket(Bucket=BUCKET)
        csv_key = f"exports/campaign_id=cam_Bench/date=2026-11-30/{facts.export_id}.csv"
        s3.put_object(Bucket=BUCKET, Key=csv_key, Body=data, ContentType="text/csv")
        wall, cpu = time.perf_counter(), time.process_time()
        stored = write_query_copy(s3, BUCKET, csv_key, "analytics/export_rows", facts)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        body = s3.get_object(Bucket=BUCKET, Key=stored.key)["Body"].read()
        stored_lines = gzip.decompress(body).count(b"\n")
    finally:
        servers.close()

    mib_per_s = csv_mib / convert_cpu
    figures = {
        "rows": rows,
        "csv_mib": round(csv_mib, 2),
        "copy_mib": round(copy_bytes / MIB, 2),
        "size_ratio": round(copy_bytes / len(data), 3),
        "mib_per_s": round(mib_per_s, 1),
        "csv_reader_mib_per_s": round(csv_mib / parse_cpu, 1),
        "conversion_over_parsing": round(convert_cpu / parse_cpu, 2),
        "largest_csv_gib_in_900_s": round(mib_per_s * LAMBDA_SECONDS / 1024, 1),
        "peak_traced_mib": round(peak / MIB, 2),
        "end_to_end_wall_mib_per_s": round(csv_mib / wall, 1),
        "end_to_end_cpu_mib_per_s": round(csv_mib / cpu, 1),
    }
    print(f"CSV: {csv_mib:.1f} MiB, {rows} rows (SyntheticCsv, {len(synthetic.header)} columns)")
    print(
        f"copy: {copy_bytes / MIB:.2f} MiB of gzip JSON Lines "
        f"({figures['size_ratio']:.3f} of the CSV)"
    )
    print(
        f"conversion: {mib_per_s:.1f} MiB/s of CSV per core (CPU time, best of {args.repeat}); "
        f"csv.reader alone {figures['csv_reader_mib_per_s']} MiB/s, "
        f"{figures['conversion_over_parsing']}x its time"
    )
    print(
        f"at that rate, {LAMBDA_SECONDS} s convert {figures['largest_csv_gib_in_900_s']} GiB "
        f"(target: {LARGEST_CSV_MIB // 1024} GiB)"
    )
    print(f"peak traced memory of a conversion: {peak / MIB:.2f} MiB")
    print(
        f"write_query_copy through moto S3: {wall:.2f} s wall "
        f"({figures['end_to_end_wall_mib_per_s']} MiB/s), {cpu:.2f} s CPU "
        f"({figures['end_to_end_cpu_mib_per_s']} MiB/s), {stored.rows} rows stored"
    )
    record("query_copy", figures)

    failures = []
    if not stored.rows == stored_lines == rows == args.rows:
        failures.append(f"rows differ: {rows} converted, {stored.rows} written, {stored_lines}")
    if mib_per_s * LAMBDA_SECONDS < LARGEST_CSV_MIB:
        failures.append("the largest CSV would not convert within 900 s on one core")
    if peak > MAX_PEAK_TRACED_MIB * MIB:
        failures.append(f"peak traced memory above {MAX_PEAK_TRACED_MIB} MiB")
    for failure in failures:
        print(f"FAIL: {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
