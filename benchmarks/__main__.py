"""`make bench`: every benchmark, one after another, each in its own process; the figures land
in benchmarks/results.json. A benchmark that misses its target does not stop the others: the
run goes on, says which missed, and exits 1.

    .venv/bin/python -m benchmarks [NAME ...]
"""

from __future__ import annotations

import subprocess
import sys
import time

# (module, arguments): cheap and deterministic first, the scale run last.
BENCHMARKS: list[tuple[str, tuple[str, ...]]] = [
    ("status_polls", ()),
    ("delivery_memory", ()),
    ("query_copy", ()),
    ("ack_latency", ()),
    ("serve_under_load", ()),
    ("cold_start", ()),
    ("delivery_size", ()),
    ("scale", ()),
]


def main(argv: list[str]) -> int:
    chosen = [b for b in BENCHMARKS if not argv or b[0] in argv]
    unknown = set(argv) - {name for name, _ in BENCHMARKS}
    if unknown:
        print(f"unknown benchmark(s): {', '.join(sorted(unknown))}", file=sys.stderr)
        return 2
    missed: list[str] = []
    started = time.monotonic()
    for name, args in chosen:
        label = " ".join((name, *args))
        print(f"\n== {label}", flush=True)
        began = time.monotonic()
        code = subprocess.call([sys.executable, "-m", f"benchmarks.{name}", *args])  # noqa: S603
        print(f"== {label}: {'ok' if code == 0 else 'MISSED'} in {time.monotonic() - began:.0f} s")
        if code != 0:
            missed.append(label)
    print(
        f"\nall benchmarks: {time.monotonic() - started:.0f} s; figures in benchmarks/results.json"
    )
    if missed:
        print(f"missed their targets: {', '.join(missed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
