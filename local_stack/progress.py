"""A progress line for a running export, on stderr (stdout is kept for the result).

On a terminal one line is redrawn in place; otherwise a line is printed whenever what it
says changes, so logs of CI runs stay short.
"""

from __future__ import annotations

import itertools
import sys
import time
from typing import TextIO

from lemlist_export.core.humanize import format_duration
from lemlist_export.records.record import DELIVERING, PENDING, ExportRecord

_SPINNER = "|/-\\"


class ProgressLine:
    def __init__(self, stream: TextIO = sys.stderr) -> None:
        self._stream = stream
        self._tty = stream.isatty()
        self._started = time.monotonic()
        self._last = ""
        self._spin = itertools.cycle(_SPINNER)

    def update(self, record: ExportRecord | None) -> None:
        text = describe(record)
        elapsed = format_duration(time.monotonic() - self._started)
        if self._tty:
            line = f"\r{next(self._spin)} {text} · {elapsed}"
            self._stream.write(line.ljust(len(self._last)))
            self._last = line
            self._stream.flush()
        elif text != self._last:
            self._stream.write(f"{text} ({elapsed})\n")
            self._last = text
            self._stream.flush()

    def close(self) -> None:
        if self._tty and self._last:
            self._stream.write("\r" + " " * len(self._last) + "\r")
            self._stream.flush()


def describe(record: ExportRecord | None) -> str:
    if record is None:
        return "Starting the export in lemlist"
    if record.status == PENDING:
        if not record.poll_count:
            return f"lemlist is preparing export {record.export_id}"
        return (
            f"lemlist is preparing export {record.export_id}: "
            f"{record.progress.describe()}, status check {record.poll_count}"
        )
    if record.status == DELIVERING:
        return f"Copying the CSV of {record.export_id} into S3"
    return f"Export {record.export_id} {record.status}; announcing it"
