"""A lemlist simulator and a moto S3 in a child process, so that the parent's memory
measurements see only the code under test."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

_CHILD = r"""
import json, sys, threading
sys.path.insert(0, sys.argv[1])
import local_stack
from local_stack.embedded_aws import EmbeddedAws
from local_stack.lemlist_simulator import LemlistSimulator, SyntheticCsv
rows = int(sys.argv[2])
aws = EmbeddedAws().start()
sim = LemlistSimulator(api_key="bench-key-0123456789").start()
sim.add_campaign("cam_Bench", "Benchmark", SyntheticCsv(rows=rows, seed=1))
print(json.dumps({"s3": aws.endpoint, "lemlist": sim.base_url}), flush=True)
sys.stdin.read()
"""


class ChildServers:
    def __init__(self, rows: int) -> None:
        self._process = subprocess.Popen(  # noqa: S603
            [sys.executable, "-c", _CHILD, str(ROOT), str(rows)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self._process.stdout is not None
        self.urls = json.loads(self._process.stdout.readline())

    def close(self) -> None:
        assert self._process.stdin is not None
        self._process.stdin.close()
        self._process.wait(timeout=30)
