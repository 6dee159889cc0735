"""The query-ready copy: every CSV row, read as Python's csv module reads it, becomes one JSON
object in a gzip-compressed JSON Lines file beside the CSV, which stays as it was.

The reference is always `csv.reader` over the original bytes decoded as utf-8-sig; keys come
from `field_names` (a row longer than the header: its header padded with empty names, which
is how cells past the header are named). Memory is measured with tracemalloc on the
converter alone, in a fresh process (the upload's parts are stream_to_s3's, measured in
test_delivery_shape).
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ReadTimeoutError
from hypothesis import example, given, settings
from hypothesis import strategies as st

from lemlist_export.analytics.query_copy import (
    COPY_CONTENT_TYPE,
    COPY_SUFFIX,
    FIELD_LIMIT,
    LINE_LIMIT,
    READ_BUFFER,
    ExportFacts,
    JsonLinesGzip,
    QueryCopy,
    copy_key,
    field_names,
    write_query_copy,
)
from lemlist_export.core.errors import (
    InvalidRequestError,
    QueryCopyError,
    StorageError,
    StorageTransientError,
)
from lemlist_export.storage.s3_upload import MIB
from tests.conftest import SCRATCH_BUCKET, scratch_keys, scratch_uploads

ROOT = Path(__file__).resolve().parents[2]
PROPERTY = settings(max_examples=200, deadline=None, derandomize=True)
FACTS = ExportFacts(
    export_id="axp_Vv6lJOc8NlVVmDud5",
    campaign_id="cam_A1B2C3D4E5F6G7H8I9",
    campaign_name='Q4 Outreach — Démo "VIP", 東京 🚀',
    exported_at=datetime(2026, 11, 30, 9, 5, 7, 123456, tzinfo=UTC),
)
CSV_KEY = f"exports/campaign_id={FACTS.campaign_id}/date=2026-11-30/{FACTS.export_id}.csv"
PREFIX = "analytics/export_rows"
TOP_KEYS = ["export_id", "campaign_id", "campaign_name", "exported_at", "row_number", "fields"]

# Every oddity at once. Header: a BOM, a quoted comma, `email` three times while `email_3`
# is itself a header, empty names while `column_4` is one, non-ASCII names, a trailing
# empty name. Rows: quoted commas, doubled quotes, CRLF and LF inside quotes, accents, CJK,
# emoji, empty cells, a short row, a long one, a blank line, a lone-CR line end, a row of
# one empty quoted cell, controls (tab, NUL, U+2028), Excel's `"ab"c`, no final newline.
ODD_CSV = (
    "\ufeff"
    'email,"Full, Name",email,,"note",email,email_3,,column_4,Prénom,名前,\r\n'
    'a@example.com,"Doe, Jane",x,y,"She said ""hi""",e6,e3,,c4,Zoë,美咲,🎉\r\n'
    'b@example.com,"Line1\r\nLine2",,,"multi\nline\n",,,,,,,\r\n'
    "\r\n"
    "c@example.com,Short\r\n"
    "d@example.com,1,2,3,4,5,6,7,8,9,10,11,past 1,past 2\n"
    '""\r'
    'e@example.com,"tab\there",back\\slash,nul\x00cell,"sep\u2028x","ab"c,,,,,,\r\n'
    'f@example.com,"ends ""quoted""",,,,,,,,Ünïcödé,中文,😀'
).encode("utf-8")
ODD_NAMES = [
    "email",
    "Full, Name",
    "email_3_2",
    "column_4_2",
    "note",
    "email_6",
    "email_3",
    "column_8",
    "column_4",
    "Prénom",
    "名前",
    "column_12",
]


def reference_rows(data: bytes) -> tuple[list[str], list[list[str]]]:
    """Python's own reading: the header and the data rows, blank records left out."""
    records = [r for r in csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")) if r]
    return (records[0], records[1:]) if records else ([], [])


def expected_objects(data: bytes, facts: ExportFacts = FACTS) -> list[dict[str, Any]]:
    header, rows = reference_rows(data)
    objects = []
    for number, row in enumerate(rows, 1):
        names = field_names(header + [""] * (len(row) - len(header)))
        objects.append(
            {
                "export_id": facts.export_id,
                "campaign_id": facts.campaign_id,
                "campaign_name": facts.campaign_name,
                "exported_at": facts.exported_at_text,
                "row_number": number,
                "fields": dict(zip(names, row, strict=False)),
            }
        )
    return objects


def parse_copy(compressed: bytes) -> list[dict[str, Any]]:
    """The copy's objects, checking its shape on the way: one gzip member of UTF-8 lines,
    each one JSON object ending in LF, nothing else."""
    text = gzip.decompress(compressed)
    if not text:
        return []
    lines = text.split(b"\n")
    assert lines[-1] == b""  # every object ends its line, the last one too
    objects = [json.loads(line.decode("utf-8")) for line in lines[:-1]]
    assert all(list(obj) == TOP_KEYS for obj in objects)
    return objects


def convert(data: bytes, read_size: int = MIB, facts: ExportFacts = FACTS) -> tuple[bytes, int]:
    converter = JsonLinesGzip(io.BytesIO(data), facts)
    chunks = []
    while chunk := converter.read(read_size):
        assert len(chunk) <= read_size
        chunks.append(chunk)
    return b"".join(chunks), converter.rows


# -- the odd CSV, end to end through S3 -----------------------------------------------------


def test_every_oddity_gives_the_rows_python_reads_and_leaves_the_csv_as_it_was(
    scratch_s3: Any,
) -> None:
    scratch_s3.put_object(Bucket=SCRATCH_BUCKET, Key=CSV_KEY, Body=ODD_CSV, ContentType="text/csv")

    copy = write_query_copy(scratch_s3, SCRATCH_BUCKET, CSV_KEY, PREFIX, FACTS)

    key = f"{PREFIX}/export_date=2026-11-30/{FACTS.export_id}.jsonl.gz"
    stored = scratch_s3.get_object(Bucket=SCRATCH_BUCKET, Key=key)
    compressed = stored["Body"].read()
    assert copy == QueryCopy(key=key, rows=7, bytes=len(compressed))
    assert stored["ContentType"] == COPY_CONTENT_TYPE
    assert "ContentEncoding" not in stored  # else HTTP clients would inflate it on the way
    assert stored["Metadata"]["export-id"] == FACTS.export_id
    # The CSV is only read: byte for byte as it was.
    assert scratch_s3.get_object(Bucket=SCRATCH_BUCKET, Key=CSV_KEY)["Body"].read() == ODD_CSV
    assert sorted(scratch_keys(scratch_s3)) == sorted([CSV_KEY, key])

    objects = parse_copy(compressed)
    header, rows = reference_rows(ODD_CSV)
    assert field_names(header) == ODD_NAMES
    assert len(objects) == len(rows) == 7
    for number, (obj, row) in enumerate(zip(objects, rows, strict=True), 1):
        assert obj["row_number"] == number
        assert obj["export_id"] == FACTS.export_id
        assert obj["campaign_id"] == FACTS.campaign_id
        assert obj["campaign_name"] == FACTS.campaign_name
        assert obj["exported_at"] == "2026-11-30T09:05:07Z"
        # Same values, same order, under the header's keys.
        assert list(obj["fields"].values()) == row
        assert list(obj["fields"]) == [*ODD_NAMES, "column_13", "column_14"][: len(row)]
    assert objects == expected_objects(ODD_CSV)

    by_email = {obj["fields"]["email"]: obj["fields"] for obj in objects if obj["fields"]["email"]}
    assert by_email["a@example.com"]["note"] == 'She said "hi"'
    assert by_email["a@example.com"]["column_12"] == "🎉"
    assert by_email["b@example.com"]["Full, Name"] == "Line1\r\nLine2"
    assert by_email["b@example.com"]["note"] == "multi\nline\n"
    assert by_email["b@example.com"]["email_3_2"] == ""  # empty stays empty
    assert by_email["c@example.com"] == {"email": "c@example.com", "Full, Name": "Short"}
    assert by_email["d@example.com"]["column_13"] == "past 1"
    assert by_email["d@example.com"]["column_14"] == "past 2"
    assert by_email["e@example.com"]["email_3_2"] == "back\\slash"
    assert by_email["e@example.com"]["column_4_2"] == "nul\x00cell"
    assert by_email["e@example.com"]["email_6"] == "abc"
    assert objects[4]["fields"] == {"email": ""}  # the `""` line: one empty cell
    assert by_email["f@example.com"]["名前"] == "中文"
    # UTF-8 as it is (ensure_ascii=False), compact, and no raw control in any line.
    text = gzip.decompress(compressed)
    assert "美咲".encode() in text and b"\\u7f8e" not in text
    assert b'{"export_id":"axp_Vv6lJOc8NlVVmDud5","campaign_id":' in text
    assert b'"row_number":1,"fields":{"email":"a@example.com","Full, Name":"Doe, Jane"' in text
    assert not any(byte < 0x20 and byte != 0x0A for byte in text)


def test_the_copy_is_the_same_bytes_whatever_the_read_sizes_and_on_every_run() -> None:
    whole, rows = convert(ODD_CSV)
    assert rows == 7
    assert convert(ODD_CSV, read_size=1) == (whole, 7)
    assert convert(ODD_CSV, read_size=7) == (whole, 7)
    trickled = JsonLinesGzip(Trickle(ODD_CSV, 1), FACTS)  # every character split across reads
    assert trickled.read() == whole
    everything = JsonLinesGzip(io.BytesIO(ODD_CSV), FACTS)
    assert everything.read() == whole
    assert everything.read() == b""
    assert everything.read(10) == b""
    assert everything.rows == 7


def test_the_source_is_read_a_buffer_at_a_time_never_whole(scratch_s3: Any) -> None:
    data = b"h1,h2\r\n" + b"cell,another cell\r\n" * 100_000
    scratch_s3.put_object(Bucket=SCRATCH_BUCKET, Key=CSV_KEY, Body=data)
    sizes: list[int | None] = []

    class Watched:
        def __init__(self, body: Any) -> None:
            self._body = body

        def read(self, amt: int | None = None) -> bytes:
            sizes.append(amt)
            chunk: bytes = self._body.read(amt)
            return chunk

        def close(self) -> None:
            self._body.close()

    class Client:
        def __getattr__(self, name: str) -> Any:
            return getattr(scratch_s3, name)

        def get_object(self, **kwargs: Any) -> Any:
            answer = scratch_s3.get_object(**kwargs)
            return {**answer, "Body": Watched(answer["Body"])}

    copy = write_query_copy(Client(), SCRATCH_BUCKET, CSV_KEY, PREFIX, FACTS)

    assert copy.rows == 100_000
    assert None not in sizes
    assert max(s for s in sizes if s is not None) <= READ_BUFFER
    assert len(sizes) > len(data) // READ_BUFFER


# -- the header rule -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "names"),
    [
        ([], []),
        (["a", "b"], ["a", "b"]),
        (["a", "a"], ["a", "a_2"]),
        (["a", "a", "a"], ["a", "a_2", "a_3"]),
        (["", ""], ["column_1", "column_2"]),
        (["", "x", ""], ["column_1", "x", "column_3"]),
        # The design note's example: a rename that an original name already holds.
        (
            ["a", "a", "", "a_2", "", "A", "a"],
            ["a", "a_2_2", "column_3", "a_2", "column_5", "A", "a_7"],
        ),
        (["a", "a", "a_2", "a_2_2"], ["a", "a_2_3", "a_2", "a_2_2"]),
        (["column_2", ""], ["column_2", "column_2_2"]),
        (["", "column_1", "column_1_2"], ["column_1_3", "column_1", "column_1_2"]),
        (["a_3", "a", "a", "a"], ["a_3", "a", "a_3_2", "a_4"]),
        # Verbatim: case, spaces, dots, quotes and non-ASCII are kept; nothing is folded.
        (["Email", "email", "EMAIL"], ["Email", "email", "EMAIL"]),
        ([" a", "a", "a ", "a.b", 'q"uote'], [" a", "a", "a ", "a.b", 'q"uote']),
        (["名前", "名前", "Prénom"], ["名前", "名前_2", "Prénom"]),
        # A BOM left at the start of the first name is dropped, nowhere else.
        (["\ufeffemail", "x"], ["email", "x"]),
        (["\ufeff", "x"], ["column_1", "x"]),
        (["\ufeffa", "a"], ["a", "a_2"]),
        (["x", "\ufeffy"], ["x", "\ufeffy"]),
    ],
)
def test_field_names(header: list[str], names: list[str]) -> None:
    assert field_names(header) == names


@PROPERTY
@given(st.lists(st.sampled_from(["a", "A", "", "a_2", "a_2_2", "column_1", "column_3", "b"])))
def test_field_names_are_unique_never_empty_and_keep_every_first_original(
    header: list[str],
) -> None:
    names = field_names(header)

    assert len(names) == len(header)
    assert len(set(names)) == len(names)
    assert "" not in names
    for pos, name in enumerate(header):
        if name and name not in header[:pos]:
            assert names[pos] == name
    # Widening (cells past the header) is the header padded with empty names.
    assert field_names([*header, "", ""])[: len(header)] == names


# -- empty exports ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [b"", b"\xef\xbb\xbf", b"email,name\r\n", b"\xef\xbb\xbfemail,name", b"\r\n\r\n", b"a\n\n\n"],
    ids=["empty", "bom-only", "header-only", "bom-header-no-newline", "blank-lines", "blank-rows"],
)
def test_a_csv_without_data_rows_gives_a_valid_empty_gzip(scratch_s3: Any, data: bytes) -> None:
    scratch_s3.put_object(Bucket=SCRATCH_BUCKET, Key=CSV_KEY, Body=data)

    copy = write_query_copy(scratch_s3, SCRATCH_BUCKET, CSV_KEY, PREFIX, FACTS)

    compressed = scratch_s3.get_object(Bucket=SCRATCH_BUCKET, Key=copy.key)["Body"].read()
    assert (copy.rows, copy.bytes) == (0, len(compressed))
    assert compressed[:2] == b"\x1f\x8b"
    assert gzip.decompress(compressed) == b""


# -- facts and key ----------------------------------------------------------------------------


def test_exported_at_is_written_in_utc_and_the_partition_is_its_utc_day() -> None:
    paris = timezone(timedelta(hours=2))
    facts = ExportFacts("axp_1", "cam_1", "C", datetime(2026, 12, 1, 1, 30, 59, 999999, paris))

    assert facts.exported_at_text == "2026-11-30T23:30:59Z"
    assert facts.export_date == "2026-11-30"
    assert copy_key("analytics/export_rows", facts) == (
        "analytics/export_rows/export_date=2026-11-30/axp_1.jsonl.gz"
    )
    assert copy_key("/analytics/", facts) == "analytics/export_date=2026-11-30/axp_1.jsonl.gz"
    assert copy_key("", facts) == "export_date=2026-11-30/axp_1.jsonl.gz"
    assert copy_key("p", facts).endswith(COPY_SUFFIX)
    objects = parse_copy(convert(b"h\r\nv\r\n", facts=facts)[0])
    assert objects[0]["exported_at"] == "2026-11-30T23:30:59Z"
    with pytest.raises(ValueError, match="timezone-aware"):
        ExportFacts("axp_1", "cam_1", "C", datetime(2026, 12, 1))


@pytest.mark.parametrize("export_id", ["", "axp/1", "../x", "axp 1", "_axp1"])
def test_a_copy_key_is_refused_for_an_id_that_is_no_lemlist_id(export_id: str) -> None:
    facts = ExportFacts(export_id, "cam_1", "C", datetime(2026, 12, 1, tzinfo=UTC))
    with pytest.raises(InvalidRequestError):
        copy_key(PREFIX, facts)


# -- CSVs that cannot be converted, S3 failing ----------------------------------------------


class Generated:
    """A byte source made on the fly from `parts`, never held whole: read(size) returns at
    most `size` bytes, and `produced` counts what it gave."""

    def __init__(self, parts: Iterator[bytes]) -> None:
        self._parts = parts
        self._pending = b""
        self.produced = 0

    def read(self, size: int = -1) -> bytes:
        while len(self._pending) < max(size, 1):
            part = next(self._parts, None)
            if part is None:
                break
            self._pending += part
        size = len(self._pending) if size < 0 else size
        chunk, self._pending = self._pending[:size], self._pending[size:]
        self.produced += len(chunk)
        return chunk


def _chain(first: list[bytes], rest: Iterator[bytes]) -> Iterator[bytes]:
    yield from first
    yield from rest


def drain(converter: JsonLinesGzip) -> int:
    total = 0
    while chunk := converter.read(MIB):
        total += len(chunk)
    return total


def test_a_quote_never_closed_fails_typed_at_the_field_limit_not_at_the_end_of_the_file() -> None:
    line = b"x" * 1023 + b"\n"
    endless = (line for _ in range(10 * FIELD_LIMIT // len(line)))  # 160 MiB, never made
    start = [b"email,note\r\n", b"a@example.com,fine\r\n", b'b@example.com,"']
    source = Generated(_chain(start, endless))
    converter = JsonLinesGzip(source, FACTS)

    with pytest.raises(QueryCopyError, match="a field passes 16777216 characters") as caught:
        drain(converter)

    assert caught.value.line is not None and caught.value.line > FIELD_LIMIT // len(line)
    assert source.produced < FIELD_LIMIT + 2 * MIB  # it stopped there, not at the end
    assert converter.rows == 1
    assert csv.field_size_limit() == 131072  # the process-wide limit is left as it was


def test_a_file_without_line_breaks_fails_typed_at_the_line_limit() -> None:
    endless = (b"a," * 512 * 1024 for _ in range(4 * LINE_LIMIT // MIB))
    source = Generated(endless)

    with pytest.raises(QueryCopyError, match=f"line 1 passes {LINE_LIMIT} characters"):
        drain(JsonLinesGzip(source, FACTS))

    assert source.produced < LINE_LIMIT + 2 * MIB


@pytest.mark.parametrize(
    ("data", "says"),
    [
        (b"email,name\r\na@example.com,Zo\xeb\r\n", "byte 0xeb in data row 1"),
        (b"email,name\r\n" + b"a,b\r\n" * 3 + b'c,"\xff\r\n\xfe"\r\n', "byte 0xff in data row 4"),
        (b"email,name\r\n" + b"a,b\r\n" * 9999 + b"a,Zo\xc3", "byte 0xc3 in data row 10000"),
        (b"email,Pr\xe9nom\r\na,b\r\n", "byte 0xe9 in the header"),
    ],
    ids=["latin-1", "garbage", "truncated", "header"],
)
def test_bytes_that_are_not_utf8_fail_the_copy_typed(
    scratch_s3: Any, data: bytes, says: str
) -> None:
    scratch_s3.put_object(Bucket=SCRATCH_BUCKET, Key=CSV_KEY, Body=data)

    with pytest.raises(QueryCopyError, match=f"not UTF-8 \\({says}\\)"):
        write_query_copy(scratch_s3, SCRATCH_BUCKET, CSV_KEY, PREFIX, FACTS)

    assert scratch_keys(scratch_s3) == [CSV_KEY]  # no copy, and the CSV untouched
    assert scratch_uploads(scratch_s3) == []
    assert scratch_s3.get_object(Bucket=SCRATCH_BUCKET, Key=CSV_KEY)["Body"].read() == data


def test_a_missing_csv_is_a_storage_error_a_broken_read_a_transient_one(scratch_s3: Any) -> None:
    with pytest.raises(StorageError, match="S3 GetObject failed: NoSuchKey") as caught:
        write_query_copy(scratch_s3, SCRATCH_BUCKET, "exports/missing.csv", PREFIX, FACTS)
    assert not isinstance(caught.value, StorageTransientError)
    assert not isinstance(caught.value, QueryCopyError)

    class Breaking:
        closed = False

        def read(self, amt: int | None = None) -> bytes:
            raise ReadTimeoutError(endpoint_url="https://s3.example")

        def close(self) -> None:
            self.closed = True

    body = Breaking()

    class Client:
        def __getattr__(self, name: str) -> Any:
            return getattr(scratch_s3, name)

        def get_object(self, **kwargs: Any) -> Any:
            return {"Body": body}

    with pytest.raises(StorageTransientError, match="GetObject failed while reading"):
        write_query_copy(Client(), SCRATCH_BUCKET, CSV_KEY, PREFIX, FACTS)
    assert body.closed
    assert scratch_keys(scratch_s3) == []


# -- memory -----------------------------------------------------------------------------------


# A fresh process: tracemalloc counts every thread's allocations, and a test that used the
# embedded S3 before leaves its server threads and garbage behind (a 7 MiB blip was seen).
_MEMORY_CHILD = r'''
import json, random, sys, tracemalloc
from datetime import UTC, datetime
sys.path.insert(0, sys.argv[1])
from lemlist_export.analytics.query_copy import ExportFacts, JsonLinesGzip

MIB = 1 << 20
# About 370 KiB of lemlist-like rows with oddities, as compressible as a real export (a
# random token a row: the copy is several reads long), repeated to make a large CSV.
rng = random.Random(11)
HEADER = "\ufeffemail,name,n,note,jp,token,,emoji,url,icebreaker\r\n".encode()
BLOCK = "".join(
    f'lead{i}@example.com,"Müller, José {i}",{rng.randrange(7)},"line one\r\nline ""two""",'
    f"美咲{i},{rng.randbytes(192).hex()},,🎉,https://www.linkedin.com/in/lead-{i},"
    f'"{"Loved your talk on scaling outbound, truly. " * rng.randrange(1, 8)}"\r\n'
    for i in range(600)
).encode()

class Source:
    # The header, then `blocks` blocks, made on the fly: never the whole file at once.
    def __init__(self, blocks):
        self.parts = iter([HEADER] + [BLOCK] * blocks)
        self.pending = b""
    def read(self, size=-1):
        while len(self.pending) < size and (part := next(self.parts, None)) is not None:
            self.pending += part
        chunk, self.pending = self.pending[:size], self.pending[size:]
        return chunk

facts = ExportFacts("axp_1", "cam_1", "C", datetime(2026, 11, 30, tzinfo=UTC))
measured = []
for blocks in map(int, sys.argv[2:]):
    tracemalloc.start()
    converter = JsonLinesGzip(Source(blocks), facts)
    copy = 0
    while chunk := converter.read(MIB):  # as stream_to_s3 reads
        copy += len(chunk)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    measured.append({"csv": len(HEADER) + blocks * len(BLOCK), "rows": converter.rows,
                     "copy": copy, "peak": peak})
print(json.dumps(measured))
'''


def test_conversion_memory_is_flat_whatever_the_csv_size() -> None:
    answer = subprocess.run(  # noqa: S603
        [sys.executable, "-c", _MEMORY_CHILD, str(ROOT / "layers" / "shared"), "16", "64"],
        check=True,
        stdout=subprocess.PIPE,
        text=True,
        timeout=120,
    )
    small, large = json.loads(answer.stdout)

    assert (small["rows"], large["rows"]) == (16 * 600, 64 * 600)
    assert (small["csv"] // MIB, large["csv"] // MIB) == (6, 25)
    assert large["copy"] > 3 * small["copy"] > 6 * MIB  # both are several reads long
    # The caller's last chunk, the output up to a read, a batch of rows and its JSON, the
    # read buffers: a few MiB, whatever the size.
    assert small["peak"] < 5 * MIB and large["peak"] < 5 * MIB, (small, large)
    # 19 MiB more CSV, no more memory: only where the reads fall against the batches moves
    # the peak, by a fraction of a MiB (holding even 5% of the copy would add 1 MiB here).
    assert abs(large["peak"] - small["peak"]) < 1 * MIB, (small, large)


# -- any table --------------------------------------------------------------------------------

cells = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)
special = st.sampled_from(['"', ",", "\r", "\n", "\r\n", '""', "\ufeff", " ", "", "\x00", "é"])
cell = st.one_of(cells, special, st.lists(special, max_size=4).map("".join))
tables = st.lists(st.lists(cell, min_size=1, max_size=6), min_size=1, max_size=8)


class Trickle:
    """`data`, at most `most` bytes a read: multibyte characters and CRLF split across reads."""

    def __init__(self, data: bytes, most: int) -> None:
        self._data = memoryview(data)
        self._most = most
        self._at = 0

    def read(self, size: int = -1) -> bytes:
        size = self._most if size < 0 else min(size, self._most)
        chunk = bytes(self._data[self._at : self._at + size])
        self._at += len(chunk)
        return chunk


@PROPERTY
@given(tables, st.sampled_from([1, 5, 64, MIB]), st.booleans())
@example([["a", "a", ""], ["1"], ["1", "2", "3", "4"], [""]], 1, True)
@example([["\ufeffx", '"'], ["\r", "\n"]], 3, False)
def test_any_table_written_by_csv_writer_reads_back_row_for_row(
    table: list[list[str]], trickle: int, bom: bool
) -> None:
    text = io.StringIO()
    csv.writer(text).writerows(table)
    data = text.getvalue().encode("utf-8-sig" if bom else "utf-8")
    if not bom and table[0][0].startswith("\ufeff"):
        # Written without a BOM, a table whose first cell starts with U+FEFF reads as if it had
        # one (utf-8-sig drops it): the rows are then Python's reading, not the table.
        header, rows = reference_rows(data)
    else:
        header, rows = table[0], table[1:]

    converter = JsonLinesGzip(Trickle(data, trickle), FACTS)
    chunks = []
    while chunk := converter.read(trickle):
        chunks.append(chunk)
    objects = parse_copy(b"".join(chunks))

    assert converter.rows == len(rows) == len(objects)
    for number, (obj, row) in enumerate(zip(objects, rows, strict=True), 1):
        names = field_names(header + [""] * (len(row) - len(header)))
        assert obj["row_number"] == number
        assert obj["fields"] == dict(zip(names, row, strict=False))
        assert list(obj["fields"].values()) == row
