"""Delivery at size: peak memory and throughput of the Copy step's path, against upload_file.

For each size (default 256 MiB and 2 GiB), a CSV file of that size is written to disk once
and served over loopback HTTP by the lemlist simulator (read from disk 1 MiB at a time) in
one child process; moto's S3 runs in another, so neither server's memory or CPU is counted
as ours (both still share the machine's cores with it: see the end). Each measurement runs
in a fresh process of its own, whose peak RSS (VmHWM) is then that measurement's alone:

- ours: the product's path, `LemlistClient.open_download` + `stream_to_s3` with the Copy
  function's part size (`settings.part_size()`), the S3 client the Lambda builds
  (`runtime.s3()`), timed from opening the download to the object being complete;
- reference, in the same run: `boto3.client("s3").upload_file` of the same file to the same
  endpoint with its default TransferConfig (8 MiB parts, 10 threads), only the upload timed.
  Both send the same requests: 8 MiB parts, each with its CRC32 and, the endpoint being plain
  http, the SHA-256 of its payload in the signature. Ours keeps at most 4 parts in flight (the
  memory bound) where upload_file has 10 threads: no handicap here, upload_file itself with 4
  threads runs as fast as with 10;
- with `--bound`, also upload_file while a thread reads the same file and takes its SHA-256,
  as the Copy step must (it verifies the file against what lemlist served): what upload_file
  would cost with the same duty, the same CPU on the same cores.

Reports peak RSS (MiB), throughput (MiB/s) of both and ours / reference; records them under
`delivery` in benchmarks/results.json. Fails if ours peaks above 100 MiB or its throughput
is below 0.95 times the reference's. Ours and the reference run in turn, `--repeat` times
each (default 3, 2 above 512 MiB), and the fastest of each is kept: other work on the
machine slows single runs down, never speeds them up.

The CPU seconds of each process are printed (ours or upload_file, moto, the simulator). On a
2-core machine the parts' phase is CPU-bound, moto taking most: throughput then follows the
CPU all three spend per byte, and ours has more to spend than upload_file (the file's
SHA-256, receiving it, the simulator serving it). `--bound` shows what the SHA-256 alone
costs upload_file.

    .venv/bin/python -m benchmarks.delivery_size [--sizes 256,2048] [--repeat N] [--bound]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks._servers import ROOT, ChildServers

MIB = 1024 * 1024
BUCKET = "bench-bucket"
API_KEY = "bench-key-0123456789"
MAX_PEAK_RSS_MIB = 100
MIN_THROUGHPUT_RATIO = 0.95


# -- the measured processes --------------------------------------------------------------


def _peak_rss_mib() -> float:
    """This process's high-water mark of resident memory (VmHWM)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _cpu_seconds() -> float:
    times = os.times()
    return times.user + times.system


def run_ours(
    s3_url: str, lemlist_url: str, download_url: str, key: str, query_copy: str = ""
) -> dict[str, Any]:
    """The Copy step's own path (see the module doc), in this fresh process; with
    `query_copy`, then the query-ready copy the Copy step writes from the stored CSV (its
    peak is reported apart: the CSV's throughput is timed without it)."""
    os.environ["AWS_ENDPOINT_URL"] = s3_url
    sys.path.insert(0, str(ROOT / "layers" / "shared"))
    from lemlist_export.core.url_judge import LOCAL_URLS
    from lemlist_export.lemlist.client import ClientSettings, LemlistClient
    from lemlist_export.storage.s3_upload import ObjectSpec, stream_to_s3
    from lemlist_export.wiring import runtime, settings

    s3 = runtime.s3()
    client = LemlistClient(API_KEY, ClientSettings(base_url=lemlist_url, urls=LOCAL_URLS))
    part_size = settings.part_size()
    before = _rss_mib()
    started = time.perf_counter()
    with client.open_download(download_url) as download:
        stored = stream_to_s3(
            s3,
            download,
            ObjectSpec(BUCKET, key),
            expected_size=download.verifiable_size(),
            part_size=part_size,
        )
    seconds = time.perf_counter() - started
    peak = _peak_rss_mib()
    copied: dict[str, Any] = {}
    if query_copy:
        from datetime import UTC, datetime

        from lemlist_export.analytics.query_copy import ExportFacts, write_query_copy

        facts = ExportFacts("axp_Bench0000000000001", "cam_Bench", "Bench", datetime.now(UTC))
        copy_started = time.perf_counter()
        copy = write_query_copy(s3, BUCKET, key, "analytics", facts, part_size=part_size)
        copied = {
            "query_copy_seconds": time.perf_counter() - copy_started,
            "query_copy_rows": copy.rows,
            "query_copy_bytes": copy.bytes,
            "query_copy_key": copy.key,
            "peak_rss_with_query_copy_mib": _peak_rss_mib(),
        }
    return {
        **copied,
        "seconds": seconds,
        "cpu_seconds": _cpu_seconds(),
        "bytes": stored.bytes,
        "sha256": stored.sha256,
        "parts": stored.parts,
        "part_size": part_size,
        "rss_before_mib": before,
        "peak_rss_mib": peak,
    }


def run_reference(s3_url: str, path: str, key: str, verify: str = "") -> dict[str, Any]:
    """boto3's upload_file of the file on disk, default TransferConfig; only it is timed.
    With `verify`, the file's SHA-256 is taken meanwhile on another thread (see --bound)."""
    import threading

    import boto3

    s3 = boto3.client("s3", endpoint_url=s3_url)
    digest = hashlib.sha256()

    def verification() -> None:
        buffer = bytearray(8 * MIB)
        with open(path, "rb", buffering=0) as file, memoryview(buffer) as view:
            while got := file.readinto(buffer):
                digest.update(view[:got])

    hashing = threading.Thread(target=verification)
    before = _rss_mib()
    started = time.perf_counter()
    if verify:
        hashing.start()
    s3.upload_file(path, BUCKET, key)
    if verify:
        hashing.join()
    seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
        "cpu_seconds": _cpu_seconds(),
        "bytes": os.path.getsize(path),
        "sha256": digest.hexdigest() if verify else None,
        "rss_before_mib": before,
        "peak_rss_mib": _peak_rss_mib(),
    }


def _in_fresh_process(*args: str) -> dict[str, Any]:
    env = dict(os.environ)
    env.pop("UPLOAD_PART_SIZE_MIB", None)  # the Copy function's own part size
    answer = subprocess.run(  # noqa: S603
        [sys.executable, "-m", "benchmarks.delivery_size", "--worker", *args],
        cwd=ROOT,
        env=env,
        check=True,
        stdout=subprocess.PIPE,
        text=True,
    )
    result: dict[str, Any] = json.loads(answer.stdout.strip().splitlines()[-1])
    return result


# -- the run -----------------------------------------------------------------------------


def write_csv(path: Path, size: int) -> str:
    """A lemlist-like CSV of exactly `size` bytes (synthetic rows repeated; the last row may
    be cut: bytes are what is measured); its sha256."""
    from local_stack.lemlist_simulator import SyntheticCsv

    block = b"".join(SyntheticCsv(rows=20_000, seed=1).iter_chunks(MIB))
    newline = block.index(b"\n") + 1
    header, rows = block[:newline], block[newline:]
    digest = hashlib.sha256()
    written = 0
    with path.open("wb") as file:
        for piece in _pieces(header, rows, size):
            file.write(piece)
            digest.update(piece)
            written += len(piece)
    assert written == size
    return digest.hexdigest()


def _pieces(header: bytes, rows: bytes, size: int) -> Any:
    left = size
    for piece in [header, *([rows] * (size // len(rows) + 1))]:
        if left <= 0:
            return
        yield piece[:left]
        left -= min(left, len(piece))


def measure_size(size_mib: int, repeat: int, workdir: Path, bound: bool) -> dict[str, Any]:
    size = size_mib * MIB
    path = workdir / f"export-{size_mib}.csv"
    sha = write_csv(path, size)
    s3_child = ChildServers(services=("s3",))
    lemlist_child = ChildServers(csv_file=path, services=("lemlist",))
    try:
        import boto3

        from lemlist_export.core.url_judge import LOCAL_URLS
        from lemlist_export.lemlist.client import ClientSettings, LemlistClient

        s3_url, lemlist_url = s3_child.urls["s3"], lemlist_child.urls["lemlist"]
        s3 = boto3.client("s3", endpoint_url=s3_url)
        s3.create_bucket(Bucket=BUCKET)
        client = LemlistClient(API_KEY, ClientSettings(base_url=lemlist_url, urls=LOCAL_URLS))
        status = client.start_export("cam_Bench")
        while status.is_pending:
            time.sleep(0.05)
            status = client.get_export_status("cam_Bench", status.export_id)
        assert status.url and status.file_size == size, status

        ours: list[dict[str, Any]] = []
        reference: list[dict[str, Any]] = []
        verified: list[dict[str, Any]] = []
        for round_ in range(repeat):
            key = f"ours-{size_mib}-{round_}.csv"
            cpu = s3_child.cpu_seconds(), lemlist_child.cpu_seconds()
            # The first round at sizes up to 512 MiB also writes the query-ready copy.
            copy = "query-copy" if round_ == 0 and size_mib <= 512 else ""
            result = _in_fresh_process("ours", s3_url, lemlist_url, status.url, key, copy)
            if copy:
                s3.delete_object(Bucket=BUCKET, Key=result["query_copy_key"])
            result["s3_cpu_seconds"] = s3_child.cpu_seconds() - cpu[0]
            result["lemlist_cpu_seconds"] = lemlist_child.cpu_seconds() - cpu[1]
            assert result["sha256"] == sha and result["bytes"] == size, result
            assert s3.head_object(Bucket=BUCKET, Key=key)["ContentLength"] == size
            s3.delete_object(Bucket=BUCKET, Key=key)  # moto holds objects: free it
            ours.append(result)
            key = f"reference-{size_mib}-{round_}.csv"
            cpu = s3_child.cpu_seconds(), lemlist_child.cpu_seconds()
            result = _in_fresh_process("reference", s3_url, str(path), key)
            result["s3_cpu_seconds"] = s3_child.cpu_seconds() - cpu[0]
            assert s3.head_object(Bucket=BUCKET, Key=key)["ContentLength"] == size
            s3.delete_object(Bucket=BUCKET, Key=key)
            reference.append(result)
            if bound:
                key = f"verified-{size_mib}-{round_}.csv"
                cpu = s3_child.cpu_seconds(), lemlist_child.cpu_seconds()
                result = _in_fresh_process("reference", s3_url, str(path), key, "verify")
                result["s3_cpu_seconds"] = s3_child.cpu_seconds() - cpu[0]
                assert result["sha256"] == sha, result
                s3.delete_object(Bucket=BUCKET, Key=key)
                verified.append(result)
    finally:
        lemlist_child.close()
        s3_child.close()
        path.unlink(missing_ok=True)

    best_ours = min(ours, key=lambda r: r["seconds"])
    best_ref = min(reference, key=lambda r: r["seconds"])
    return {
        "size_mib": size_mib,
        "peak_rss_mib": max(r["peak_rss_mib"] for r in ours),
        "with_query_copy": next((r for r in ours if "query_copy_rows" in r), None),
        "rss_before_mib": best_ours["rss_before_mib"],
        "part_size_mib": best_ours["part_size"] / MIB,
        "parts": best_ours["parts"],
        "reference_peak_rss_mib": max(r["peak_rss_mib"] for r in reference),
        "ours_mib_s": size_mib / best_ours["seconds"],
        "reference_mib_s": size_mib / best_ref["seconds"],
        "ours_seconds": [round(r["seconds"], 2) for r in ours],
        "cpu": {
            "ours": [
                (
                    round(r["cpu_seconds"], 1),
                    round(r["s3_cpu_seconds"], 1),
                    round(r["lemlist_cpu_seconds"], 1),
                )
                for r in ours
            ],
            "reference": [
                (round(r["cpu_seconds"], 1), round(r["s3_cpu_seconds"], 1)) for r in reference
            ],
        },
        "reference_seconds": [round(r["seconds"], 2) for r in reference],
        "verified_mib_s": size_mib / min(r["seconds"] for r in verified) if verified else None,
        "verified_seconds": [round(r["seconds"], 2) for r in verified],
        "verified_cpu": [
            (round(r["cpu_seconds"], 1), round(r["s3_cpu_seconds"], 1)) for r in verified
        ],
    }


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="256,2048", help="file sizes in MiB, comma-separated")
    parser.add_argument("--repeat", type=int, default=0, help="runs of each, fastest kept")
    parser.add_argument("--no-record", action="store_true", help="leave results.json alone")
    parser.add_argument(
        "--bound",
        action="store_true",
        help="also time upload_file with the SHA-256 of the file taken meanwhile (printed only)",
    )
    parser.add_argument("--worker", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        kind, *rest = args.worker
        result = run_ours(*rest) if kind == "ours" else run_reference(*rest)
        print(json.dumps(result))
        return 0

    os.environ.update(
        AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench", AWS_DEFAULT_REGION="us-east-1"
    )
    import local_stack  # noqa: F401  (layer on sys.path)

    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    workdir = Path(tempfile.mkdtemp(prefix="delivery-size-"))
    needed = max(sizes) * MIB
    if shutil.disk_usage(workdir).free < 2 * needed:
        print(f"FAIL: not enough space in {workdir} for a {max(sizes)} MiB file", file=sys.stderr)
        return 1
    started = time.perf_counter()
    figures = []
    try:
        for size_mib in sizes:
            repeat = args.repeat or (3 if size_mib <= 512 else 2)
            figures.append(measure_size(size_mib, repeat, workdir, args.bound))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    failures = []
    values: dict[str, Any] = {}
    for f in figures:
        ratio = f["ours_mib_s"] / f["reference_mib_s"]
        n = f["size_mib"]
        print(
            f"{n:5d} MiB: ours peak RSS {f['peak_rss_mib']:5.1f} MiB "
            f"(after imports {f['rss_before_mib']:.1f}; {f['parts']} parts of "
            f"{f['part_size_mib']:.0f} MiB), {f['ours_mib_s']:6.1f} MiB/s {f['ours_seconds']} s; "
            f"upload_file {f['reference_mib_s']:6.1f} MiB/s {f['reference_seconds']} s "
            f"(peak RSS {f['reference_peak_rss_mib']:.1f} MiB); ratio {ratio:.3f}"
        )
        print(f"   cpu (process, moto, simulator): {f['cpu']}")
        if f["verified_mib_s"]:
            print(
                f"   upload_file + SHA-256 of the file {f['verified_mib_s']:6.1f} MiB/s "
                f"{f['verified_seconds']} s, cpu (process, moto) {f['verified_cpu']}: "
                f"{f['verified_mib_s'] / f['reference_mib_s']:.3f} x upload_file; "
                f"ours {f['ours_mib_s'] / f['verified_mib_s']:.3f} x it"
            )
        values[f"peak_rss_mib_{n}"] = round(f["peak_rss_mib"], 1)
        values[f"throughput_ratio_{n}"] = round(ratio, 3)
        values[f"ours_mib_s_{n}"] = round(f["ours_mib_s"], 1)
        values[f"upload_file_mib_s_{n}"] = round(f["reference_mib_s"], 1)
        values[f"upload_file_peak_rss_mib_{n}"] = round(f["reference_peak_rss_mib"], 1)
        if f["peak_rss_mib"] > MAX_PEAK_RSS_MIB:
            failures.append(f"{n} MiB: peak RSS above {MAX_PEAK_RSS_MIB} MiB")
        copied = f["with_query_copy"]
        if copied:
            # The Copy step then writes the query-ready copy: memory must stay flat.
            values[f"peak_rss_mib_{n}_with_query_copy"] = round(
                copied["peak_rss_with_query_copy_mib"], 1
            )
            values[f"query_copy_mib_s_{n}"] = round(n / copied["query_copy_seconds"], 1)
            values[f"query_copy_size_ratio_{n}"] = round(copied["query_copy_bytes"] / (n * MIB), 3)
            print(
                f"{n:5d} MiB: then its query-ready copy, {copied['query_copy_rows']} rows, "
                f"{copied['query_copy_bytes'] / MIB:.1f} MiB "
                f"in {copied['query_copy_seconds']:.1f} s; "
                f"peak RSS {copied['peak_rss_with_query_copy_mib']:.1f} MiB"
            )
            if copied["peak_rss_with_query_copy_mib"] > MAX_PEAK_RSS_MIB:
                failures.append(f"{n} MiB: peak RSS with the query copy above {MAX_PEAK_RSS_MIB}")
        if ratio < MIN_THROUGHPUT_RATIO:
            failures.append(f"{n} MiB: throughput below {MIN_THROUGHPUT_RATIO} x upload_file")
    print(f"wall time {time.perf_counter() - started:.0f} s")
    if not args.no_record:
        from benchmarks.results import record

        record("delivery", values)
    for failure in failures:
        print(f"FAIL: {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
