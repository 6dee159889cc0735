"""A lemlist simulator and a moto S3 in child processes, so that the parent's memory
measurements see only the code under test."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

_CHILD = r"""
import json, os, sys
sys.path.insert(0, sys.argv[1])
import local_stack
from local_stack.embedded_aws import EmbeddedAws
from local_stack.lemlist_simulator import LemlistSimulator, SyntheticCsv

class FileCsv:
    # A CSV on disk, served as it is (1 MiB at a time, never held whole).
    def __init__(self, path):
        self.path = path
        self.size = os.path.getsize(path)

    def iter_chunks(self, chunk_size=65536):
        with open(self.path, "rb") as file:
            while chunk := file.read(max(chunk_size, 1 << 20)):
                yield chunk

rows, csv_file, services = int(sys.argv[2]), sys.argv[3], sys.argv[4].split(",")
urls = {}
if "s3" in services:
    urls["s3"] = EmbeddedAws().start().endpoint
if "lemlist" in services:
    sim = LemlistSimulator(api_key="bench-key-0123456789").start()
    csv = FileCsv(csv_file) if csv_file else SyntheticCsv(rows=rows, seed=1)
    sim.add_campaign("cam_Bench", "Benchmark", csv)
    urls["lemlist"] = sim.base_url
print(json.dumps(urls), flush=True)
sys.stdin.read()
"""


class ChildServers:
    """`services` picks what this child runs ("s3", "lemlist"): one child for each keeps
    moto's work and the simulator's from sharing one interpreter. The simulator serves
    `csv_file` as it is when given, else a synthetic export of `rows` rows."""

    def __init__(
        self,
        rows: int = 0,
        *,
        csv_file: Path | None = None,
        services: tuple[str, ...] = ("s3", "lemlist"),
    ) -> None:
        self._process = subprocess.Popen(  # noqa: S603
            [
                sys.executable,
                "-c",
                _CHILD,
                str(ROOT),
                str(rows),
                str(csv_file or ""),
                ",".join(services),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self._process.stdout is not None
        self.urls: dict[str, str] = json.loads(self._process.stdout.readline())

    def cpu_seconds(self) -> float:
        """CPU time (user + system) the child has used so far."""
        fields = Path(f"/proc/{self._process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks = os.sysconf("SC_CLK_TCK")
        return (int(fields[11]) + int(fields[12])) / ticks

    def close(self) -> None:
        assert self._process.stdin is not None
        self._process.stdin.close()
        self._process.wait(timeout=60)
