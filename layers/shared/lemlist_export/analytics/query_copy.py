"""The query-ready copy of one export: its stored CSV as gzip-compressed JSON Lines.

One JSON object per CSV data row, on one line, keys in this order:

    {"export_id":"axp_…","campaign_id":"cam_…","campaign_name":"…",
     "exported_at":"YYYY-MM-DDTHH:MM:SSZ","row_number":1,"fields":{"<header>":"<cell>",…}}

UTF-8 (non-ASCII is written as is), compact separators. JSON escapes CR, LF and every other
C0 control, so a newline inside a cell never splits an object (Hadoop's line reader splits on
both CR and LF). The object lives at `<prefix>/export_date=YYYY-MM-DD/<exportId>.jsonl.gz`,
the day being exported_at's (UTC), for Athena's Hive JSON SerDe and for DuckDB.

The rows are what Python's csv.reader reads from the CSV, nothing more, nothing less:
- The bytes are decoded as UTF-8, a leading BOM dropped (utf-8-sig). A byte that is not
  UTF-8 fails the copy (QueryCopyError, naming the byte and the data row): lemlist serves
  UTF-8, so it means a broken file, and a copy with replaced characters would differ from
  the CSV without saying so.
- csv's default (Excel) dialect with strict=False: quoted fields may hold commas, doubled
  quotes and CR/LF; `"ab"c` reads `abc`, as Excel does; a quote left open near the end of
  the file takes the rest of it into one cell, as csv.reader does. Cells are kept exactly
  as read: no trimming, an empty cell stays "", a NUL stays a NUL.
- The header is the first non-blank record; its names become keys by `field_names`.
- Blank records (an empty line: csv.reader yields []) are skipped and take no row number,
  before the header too. A line holding only `""` is a row with one empty cell.
- row_number counts the data rows written, from 1, without gaps; a row spanning several
  physical lines (quoted newlines) is one row.
- A row shorter than the header leaves its missing keys out, so missing (NULL in SQL) stays
  distinct from empty (''); cells past the header are keyed `column_<pos>` (same rule).
- Limits, so that a stray quote (a quoted field never closed) or a file with no line breaks
  fails instead of being buffered whole: a field may hold FIELD_LIMIT characters and a
  physical line LINE_LIMIT. Past either, QueryCopyError. Memory then peaks at about 4 bytes a
  character of the longest field or line (the csv module's buffer), a few hundred MiB at worst.

Memory is otherwise constant whatever the file size: the CSV is read through a 256 KiB
buffer, converted about BATCH_CHARS of JSON at a time, and gzip output is produced only as
fast as the reader asks for it (`JsonLinesGzip.read`). The same CSV always gives the same
bytes (the gzip header carries no time or name), so a rebuilt copy is identical.
"""

from __future__ import annotations

import csv
import io
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from json.encoder import encode_basestring
from typing import TYPE_CHECKING
from urllib.parse import quote

from botocore.exceptions import BotoCoreError
from urllib3.exceptions import HTTPError as Urllib3Error

from lemlist_export.core.errors import (
    DownloadTooLargeError,
    InvalidRequestError,
    QueryCopyError,
    StorageTransientError,
)
from lemlist_export.core.humanize import format_bytes
from lemlist_export.core.identifiers import require_lemlist_id
from lemlist_export.storage.s3_upload import (
    DEFAULT_PART_SIZE,
    MIB,
    ByteSource,
    ObjectSpec,
    s3_errors,
    stream_to_s3,
)

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer
    from botocore.response import StreamingBody
    from mypy_boto3_s3 import S3Client

COPY_SUFFIX = ".jsonl.gz"
# The stored bytes are gzip; no Content-Encoding, or HTTP clients would inflate them on the
# way (Athena and DuckDB go by the .gz extension).
COPY_CONTENT_TYPE = "application/gzip"
# An unannounced stream needs a bound: the copy of the largest CSV the stack accepts
# (MaxDownloadMiB, 5 GiB by default) is a fraction of it.
MAX_COPY_BYTES = 20 * 1024 * MIB
# Characters. lemlist's cells are names, emails, URLs and short texts; these only stop a
# broken file (a quote never closed, no line breaks at all) from being read into memory.
FIELD_LIMIT = 16 * 1024 * 1024
LINE_LIMIT = 2 * FIELD_LIMIT
# JSON characters converted per step: a few hundred rows, compressed at once.
BATCH_CHARS = 64 * 1024
READ_BUFFER = 256 * 1024
GZIP_LEVEL = 6
_GZIP_CONTAINER = 31  # zlib wbits: a gzip header and trailer around the deflate stream
_BOM = "\ufeff"


@dataclass(frozen=True)
class ExportFacts:
    """What every row of an export's copy carries besides its cells."""

    export_id: str
    campaign_id: str
    campaign_name: str
    exported_at: datetime  # timezone-aware; the instant the CSV key's date comes from

    def __post_init__(self) -> None:
        if self.exported_at.utcoffset() is None:
            raise ValueError("exported_at must be timezone-aware")

    @property
    def export_date(self) -> str:
        """The partition: exported_at's day in UTC, YYYY-MM-DD."""
        return f"{self.exported_at.astimezone(UTC):%Y-%m-%d}"

    @property
    def exported_at_text(self) -> str:
        """exported_at as the copy writes it: ISO-8601 UTC, fixed width, YYYY-MM-DDTHH:MM:SSZ
        (so it sorts in time order as a string)."""
        return f"{self.exported_at.astimezone(UTC):%Y-%m-%dT%H:%M:%SZ}"


@dataclass(frozen=True)
class QueryCopy:
    key: str
    rows: int
    bytes: int  # size of the .jsonl.gz object


def field_names(header: Sequence[str]) -> list[str]:
    """The keys of a CSV's cells, from its header: unique, never empty, and every original
    name kept where it first appears.

    Names are taken verbatim and are case-sensitive (`Email` and `email` are two keys); only a
    BOM left at the start of the first name is dropped. The first occurrence of a non-empty
    name keeps it; a later duplicate becomes `<name>_<pos>` and an empty name `column_<pos>`
    (pos: the 1-based column). If that is taken, by any original name or an earlier renaming,
    `_2`, `_3`, … is added until it is free. `["a", "a", "", "a_2"]` gives
    `["a", "a_2_2", "column_3", "a_2"]`.
    """
    return _Names(header).names


def copy_key(prefix: str, facts: ExportFacts) -> str:
    """`<prefix>/export_date=YYYY-MM-DD/<exportId>.jsonl.gz`, flat inside the day."""
    export_id = require_lemlist_id(facts.export_id, "export id")
    if export_id.startswith("_"):
        # Athena skips files whose names start with _ or . (it takes them for markers).
        raise InvalidRequestError("An export id starting with _ would hide its copy from Athena")
    path = f"export_date={facts.export_date}/{export_id}{COPY_SUFFIX}"
    prefix = prefix.strip("/")
    return f"{prefix}/{path}" if prefix else path


class JsonLinesGzip:
    """A CSV byte stream as gzip-compressed JSON Lines (see the module doc), made as it is read.

    `read(size)` converts only what it needs for `size` bytes of output, so memory stays at a
    read buffer and a batch of rows whatever the file size (`read()` without a size returns
    the whole rest, and holds it). Failures to read the CSV as UTF-8 CSV raise QueryCopyError;
    whatever `csv_bytes.read` raises passes through unchanged.
    """

    def __init__(self, csv_bytes: ByteSource, facts: ExportFacts) -> None:
        self._text = io.TextIOWrapper(
            io.BufferedReader(_RawSource(csv_bytes), READ_BUFFER),
            encoding="utf-8-sig",
            # A byte that is not UTF-8 becomes a lone surrogate, which the batch's encoding
            # refuses: the copy fails naming the very row (a strict decoder fails a read
            # chunk ahead of the csv reader, nowhere near the row).
            errors="surrogateescape",
            newline="",  # quoted CR/LF reach the csv module as they are
        )
        self._reader = csv.reader(_Lines(self._text, LINE_LIMIT))
        self._prefix = (
            f'{{"export_id":{encode_basestring(facts.export_id)}'
            f',"campaign_id":{encode_basestring(facts.campaign_id)}'
            f',"campaign_name":{encode_basestring(facts.campaign_name)}'
            f',"exported_at":{encode_basestring(facts.exported_at_text)}'
            ',"row_number":'
        )
        self._names: _Names | None = None
        self._keys: list[str] = []  # each name as JSON, with its colon: '"name":'
        self._gzip = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, _GZIP_CONTAINER)
        self._out = bytearray()
        self._rows = 0
        self._done = False

    @property
    def rows(self) -> int:
        """Data rows converted so far: all of them once read() returned b""."""
        return self._rows

    def read(self, size: int = -1) -> bytes:
        if size < 0:
            while not self._done:
                self._convert_batch()
            size = len(self._out)
        while len(self._out) < size and not self._done:
            self._convert_batch()
        # One copy out of the buffer (a slice of a bytearray would make two).
        with memoryview(self._out) as view, view[:size] as head:
            chunk = head.tobytes()
        del self._out[:size]
        return chunk

    def _convert_batch(self) -> None:
        # The hot loop: names bound locally, one f-string a row (about 3 µs for 15 cells).
        lines: list[str] = []
        length = 0
        keys, prefix, rows, quoted = self._keys, self._prefix, self._rows, encode_basestring
        previous_limit = csv.field_size_limit(FIELD_LIMIT)  # process-wide: set while parsing
        try:
            for row in self._reader:
                if not row:
                    continue
                if len(row) > len(keys):
                    is_header = self._names is None
                    keys = self._widen(row)
                    if is_header:
                        continue
                rows += 1
                # zip stops at the shorter: a short row's missing keys are left out.
                cells = ",".join([k + quoted(v) for k, v in zip(keys, row, strict=False)])
                line = f'{prefix}{rows},"fields":{{{cells}}}}}\n'
                lines.append(line)
                length += len(line)
                if length >= BATCH_CHARS:
                    break
            else:
                self._done = True
        except csv.Error as exc:
            raise self._unreadable(exc) from None
        finally:
            self._rows = rows
            csv.field_size_limit(previous_limit)
        if lines:
            try:
                encoded = "".join(lines).encode("utf-8")
            except UnicodeEncodeError:
                raise _not_utf8(lines, first_row=rows - len(lines) + 1) from None
            self._out += self._gzip.compress(encoded)
        if self._done:
            self._out += self._gzip.flush()

    def _widen(self, row: list[str]) -> list[str]:
        """The keys for `row`: the header's, from the header itself (the first record) or
        widened with `column_<pos>` for a row longer than every row before it."""
        if self._names is None:
            if (byte := _escaped_byte("".join(row))) is not None:
                raise QueryCopyError(
                    f"The CSV cannot be converted: it is not UTF-8 (byte 0x{byte:02x} in the "
                    "header); the CSV itself is stored unchanged"
                )
            self._names = _Names(row)
        else:
            self._names.extend_to(len(row))
        names = self._names.names
        self._keys += [encode_basestring(name) + ":" for name in names[len(self._keys) :]]
        return self._keys

    def _unreadable(self, exc: csv.Error) -> QueryCopyError:
        line = self._reader.line_num
        if "field limit" in str(exc):
            return QueryCopyError(
                f"The CSV cannot be converted: a field passes {FIELD_LIMIT} characters by line "
                f"{line} (a quote never closed?); the CSV itself is stored unchanged",
                line=line,
            )
        return QueryCopyError(
            f"The CSV cannot be converted: {exc} (line {line}); the CSV itself is stored unchanged",
            line=line,
        )

    def _check_finished(self) -> None:
        if not self._done or self._out:
            raise QueryCopyError("The conversion stopped before the end of the CSV")


def _not_utf8(lines: list[str], first_row: int) -> QueryCopyError:
    """The error for a batch holding an undecodable byte: which byte, in which data row."""
    for row_number, line in enumerate(lines, first_row):
        if (byte := _escaped_byte(line)) is not None:
            return QueryCopyError(
                f"The CSV cannot be converted: it is not UTF-8 (byte 0x{byte:02x} in data row "
                f"{row_number}); the CSV itself is stored unchanged"
            )
    return QueryCopyError("The CSV cannot be converted: it is not UTF-8")


def _escaped_byte(text: str) -> int | None:
    """The first byte surrogateescape kept as a lone surrogate (U+DC80-U+DCFF) in `text`."""
    for char in text:
        if "\udc80" <= char <= "\udcff":
            return ord(char) - 0xDC00
    return None


def write_query_copy(
    s3: S3Client,
    bucket: str,
    csv_key: str,
    prefix: str,
    facts: ExportFacts,
    *,
    part_size: int = DEFAULT_PART_SIZE,
) -> QueryCopy:
    """Read the stored CSV `csv_key` back from `bucket` and write its query-ready copy at
    `copy_key(prefix, facts)` in the same bucket, streaming both ways (memory stays at the
    upload's parts in flight). The CSV is only read. Raises QueryCopyError when the CSV cannot
    be converted (retrying will not help), StorageError / StorageTransientError when S3 fails;
    on any failure no copy becomes visible (the upload is aborted).

    Leftover multipart uploads of an earlier attempt are not looked for here: the caller runs
    `abort_unfinished_uploads(s3, bucket, key)` first if it wants them gone now.
    """
    key = copy_key(prefix, facts)
    with s3_errors("GetObject"):
        body = s3.get_object(Bucket=bucket, Key=csv_key)["Body"]
    try:
        source = JsonLinesGzip(_S3Body(body), facts)
        target = ObjectSpec(bucket, key, COPY_CONTENT_TYPE, _metadata(facts, csv_key))
        try:
            stored = stream_to_s3(
                s3,
                source,
                target,
                expected_size=None,
                part_size=part_size,
                max_size=MAX_COPY_BYTES,
                before_commit=source._check_finished,
            )
        except DownloadTooLargeError:
            raise QueryCopyError(
                f"The copy passed {format_bytes(MAX_COPY_BYTES)}; nothing was stored"
            ) from None
    finally:
        body.close()
    return QueryCopy(key=key, rows=source.rows, bytes=stored.bytes)


class _Names:
    """A header's keys (see field_names), widened on demand for rows longer than it."""

    def __init__(self, header: Sequence[str]) -> None:
        names = list(header)
        if names and names[0].startswith(_BOM):
            names[0] = names[0][1:]
        self._taken = {name for name in names if name}
        self.names: list[str] = []
        first = set()
        for pos, name in enumerate(names, 1):
            if name and name not in first:
                first.add(name)
                self.names.append(name)
            else:
                self.names.append(self._free(f"{name}_{pos}" if name else f"column_{pos}"))

    def extend_to(self, width: int) -> None:
        for pos in range(len(self.names) + 1, width + 1):
            self.names.append(self._free(f"column_{pos}"))

    def _free(self, base: str) -> str:
        name, suffix = base, 2
        while name in self._taken:
            name, suffix = f"{base}_{suffix}", suffix + 1
        self._taken.add(name)
        return name


class _Lines:
    """The physical lines of a text stream for csv.reader, none longer than `limit`
    characters: past it the line is refused, not read on into memory."""

    def __init__(self, text: io.TextIOWrapper, limit: int) -> None:
        self._readline = text.readline
        self._limit = limit
        self.count = 0

    def __iter__(self) -> Iterator[str]:
        return self

    def __next__(self) -> str:
        line = self._readline(self._limit + 1)
        if not line:
            raise StopIteration
        self.count += 1
        if len(line) > self._limit:
            raise QueryCopyError(
                f"The CSV cannot be converted: line {self.count} passes {self._limit} "
                "characters (not a CSV?); the CSV itself is stored unchanged",
                line=self.count,
            )
        return line


class _RawSource(io.RawIOBase):
    """A ByteSource as a raw stream, for io.BufferedReader."""

    def __init__(self, source: ByteSource) -> None:
        self._source = source

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer, /) -> int:
        with memoryview(buffer) as view, view.cast("B") as target:
            data = self._source.read(len(target))
            target[: len(data)] = data
        return len(data)


class _S3Body:
    """A GetObject body as a ByteSource, its failures typed like the upload's: a read that
    breaks off (a reset, a timeout, a short body) is worth another attempt."""

    def __init__(self, body: StreamingBody) -> None:
        self._body = body

    def read(self, size: int = -1) -> bytes:
        try:
            return self._body.read(size if size >= 0 else None)
        except (BotoCoreError, OSError, Urllib3Error) as exc:
            code = type(exc).__name__
            raise StorageTransientError(
                f"S3 GetObject failed while reading: {code}", operation="GetObject", code=code
            ) from None


def _metadata(facts: ExportFacts, csv_key: str) -> dict[str, str]:
    # S3 user metadata is ASCII only; the campaign name is in every row instead.
    return {
        "export-id": facts.export_id,
        "campaign-id": facts.campaign_id,
        "exported-at": facts.exported_at_text,
        "source-key": quote(csv_key, safe="/=-_.~"),
    }
