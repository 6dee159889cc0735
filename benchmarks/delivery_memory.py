"""Delivery memory stays flat whatever the file size.

Streams a large synthetic lemlist CSV from the simulator into S3 with `stream_to_s3`, and,
as the reference in the same run, the naive way (read the whole body, then PutObject).
Reports Python's peak traced memory for each; fails if ours is not far below the file size.

    .venv/bin/python -m benchmarks.delivery_memory [--rows 1000000]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

from benchmarks._servers import ChildServers

MIB = 1024 * 1024


def measure(run: Callable[[], Any]) -> tuple[Any, int, float]:
    tracemalloc.start()
    started = time.perf_counter()
    try:
        result = run()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return result, peak, time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000, help="CSV rows (~230 B each)")
    args = parser.parse_args()

    servers = ChildServers(args.rows)
    try:
        os.environ.update(
            AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench", AWS_DEFAULT_REGION="us-east-1"
        )
        import boto3

        import local_stack  # noqa: F401  (layer on sys.path)
        from lemlist_export.core.url_judge import LOCAL_URLS
        from lemlist_export.lemlist.client import ClientSettings, LemlistClient
        from lemlist_export.storage.s3_upload import ObjectSpec, stream_to_s3

        s3 = boto3.client("s3", endpoint_url=servers.urls["s3"])
        s3.create_bucket(Bucket="bench-bucket")
        client = LemlistClient(
            "bench-key-0123456789",
            ClientSettings(base_url=servers.urls["lemlist"], urls=LOCAL_URLS),
        )
        status = client.start_export("cam_Bench")
        while status.is_pending:
            status = client.get_export_status("cam_Bench", status.export_id)
        assert status.url and status.file_size
        size = status.file_size

        def ours() -> str:
            with client.open_download(status.url) as download:
                stored = stream_to_s3(
                    s3, download, ObjectSpec("bench-bucket", "ours.csv"), expected_size=size
                )
            return stored.sha256

        def reference() -> str:
            with client.open_download(status.url) as download:
                body = download.read()
            s3.put_object(Bucket="bench-bucket", Key="reference.csv", Body=body)
            return hashlib.sha256(body).hexdigest()

        ours_sha, ours_peak, ours_time = measure(ours)
        ref_sha, ref_peak, ref_time = measure(reference)
    finally:
        servers.close()

    print(f"file: {size / MIB:.1f} MiB ({args.rows} rows)")
    print(f"stream_to_s3 (ours): peak {ours_peak / MIB:7.1f} MiB  {ours_time:6.1f} s")
    print(f"read-all reference : peak {ref_peak / MIB:7.1f} MiB  {ref_time:6.1f} s")
    print(f"ours / file size   : {ours_peak / size:.3f}")
    print(f"ours / reference   : {ours_peak / ref_peak:.3f}")
    failures = []
    if ours_sha != ref_sha:
        failures.append("the two copies differ")
    if ours_peak > 64 * MIB:
        failures.append("peak memory above 64 MiB")
    if size > 128 * MIB and ours_peak > size / 4:
        failures.append("peak memory not far below the file size")
    for failure in failures:
        print(f"FAIL: {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
