"""benchmarks/results.json: each benchmark records its figures under its own section, merged
with the other benchmarks' (so `make bench` leaves one file with every section), stamped with
the machine and the date of the run that wrote it last.

    from benchmarks.results import record
    record("polling", {"calls_ratio_vs_lemlist_advice": 0.41, ...})
"""

from __future__ import annotations

import json
import os
import platform
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results.json"


def machine() -> str:
    """What the figures were measured on: cores, memory, CPU model, Python."""
    model = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    memory = ""
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():
        kib = int(meminfo.read_text().split()[1])
        memory = f", {kib / 1024 / 1024:.0f} GiB"
    return f"{os.cpu_count()} cores{memory}, {model}, Python {platform.python_version()}"


def record(section: str, values: dict[str, Any], path: Path = RESULTS) -> dict[str, Any]:
    """Merge `values` into `section` of the results file; returns the whole file's content."""
    results: dict[str, Any] = {}
    if path.exists():
        try:
            results = json.loads(path.read_text())
        except ValueError:
            results = {}
    results.setdefault(section, {}).update(values)
    results["machine"] = machine()
    results["date"] = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    path.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    return results
