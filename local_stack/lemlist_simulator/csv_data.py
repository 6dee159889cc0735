"""CSV bodies the simulator serves: deterministic synthetic exports, or caller-given bytes.

Synthetic files are generated row by row, so a multi-hundred-MB export never sits in memory.
"""

from __future__ import annotations

import csv
import hashlib
import io
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

DEFAULT_CHUNK_SIZE = 65536
_ROWS_PER_BATCH = 256
# to_bytes() is for small fixtures; anything larger should be streamed.
_TO_BYTES_LIMIT = 256 * 1024 * 1024

BASE_COLUMNS: tuple[str, ...] = (
    "campaignName",
    "leadEmail",
    "leadFirstName",
    "leadLastName",
    "leadCompanyName",
    "emailsSent",
    "emailsOpened",
    "emailsClicked",
    "emailsReplied",
    "emailsBounced",
    "status",
    "lastActivityAt",
    # Custom variables: lemlist adds one column per campaign variable.
    "jobTitle",
    "linkedinUrl",
    "icebreaker",
)

# (display, ascii) pairs: display names exercise UTF-8 and quotes, ascii ones build emails.
_FIRST_NAMES = (
    ("Zoë", "zoe"),
    ("José", "jose"),
    ("Ana-María", "ana-maria"),
    ("Łukasz", "lukasz"),
    ("Søren", "soren"),
    ("美咲", "misaki"),
    ("Emily", "emily"),
    ("Noah", "noah"),
)
_LAST_NAMES = (
    ("O'Brien", "obrien"),
    ("Müller", "muller"),
    ("García", "garcia"),
    ("Nguyễn", "nguyen"),
    ("Dupont", "dupont"),
    ("Smith", "smith"),
    ("van der Berg", "vanderberg"),
)
_COMPANIES = (
    "Acme, Inc.",
    'The "Best" Widgets',
    "Café Crème SARL",
    "Müller & Söhne GmbH",
    "株式会社サンプル",
    "Globex",
    "Initech; Ltd",
    "Umbrella Corp",
    "Hooli",
    "Stark Industries",
    "Wayne Enterprises",
)
_DOMAINS = ("example.com", "example.org", "example.net", "mail.example.fr")
_STATUSES = (
    "contacted",
    "opened",
    "clicked",
    "replied",
    "interested",
    "notInterested",
    "bounced",
    "unsubscribed",
)
_JOB_TITLES = ("Head of Sales", "CEO, Founder", "VP Marketing", "Directrice générale", "CTO")
_ICEBREAKERS = (
    'Loved your talk on "scaling outbound", truly',
    "Félicitations pour la levée de fonds !",
    "Saw your post about SDR hiring —\nkeen to compare notes",
    "",
    "Great to see 🚀 growth at your team",
)
_EPOCH_2024_10_01 = 1727740800


@runtime_checkable
class CsvSource(Protocol):
    """Anything the simulator can serve as an export file."""

    @property
    def size(self) -> int: ...

    def iter_chunks(self, chunk_size: int = DEFAULT_CHUNK_SIZE) -> Iterator[bytes]: ...


@dataclass
class SyntheticCsv:
    """A lemlist-like stats export of `rows` leads, identical bytes on every read.

    `columns` caps or extends the column count (extra columns are `customVarN`), to mimic
    campaigns with many custom variables.
    """

    rows: int
    seed: int = 0
    columns: int | None = None
    campaign_name: str = "Q4 Outreach — Démo"
    _size: int | None = field(default=None, init=False, repr=False, compare=False)
    _size_lock: threading.Lock = field(
        default_factory=threading.Lock, init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        if self.rows < 0:
            raise ValueError("rows must be >= 0")
        if self.columns is not None and self.columns < 1:
            raise ValueError("columns must be >= 1")

    @property
    def header(self) -> tuple[str, ...]:
        count = len(BASE_COLUMNS) if self.columns is None else self.columns
        extra = tuple(f"customVar{k}" for k in range(1, count - len(BASE_COLUMNS) + 1))
        return (BASE_COLUMNS + extra)[:count]

    @property
    def size(self) -> int:
        """Exact byte length, computed by one generating pass and then cached."""
        with self._size_lock:
            if self._size is None:
                self._size = sum(len(batch) for batch in self._batches())
            return self._size

    def iter_chunks(self, chunk_size: int = DEFAULT_CHUNK_SIZE) -> Iterator[bytes]:
        """The file as chunks of exactly `chunk_size` bytes (the last one may be shorter)."""
        return _rechunk(self._batches(), chunk_size)

    def sha256(self) -> str:
        return _sha256(self)

    def to_bytes(self) -> bytes:
        return _to_bytes(self)

    def _batches(self) -> Iterator[bytes]:
        width = len(self.header)
        extras = max(0, width - len(BASE_COLUMNS))
        campaign = _quote(self.campaign_name)
        yield (",".join(_quote(name) for name in self.header) + "\n").encode("utf-8")
        for start in range(0, self.rows, _ROWS_PER_BATCH):
            stop = min(start + _ROWS_PER_BATCH, self.rows)
            lines = [self._line(i, campaign, width, extras) for i in range(start, stop)]
            yield "".join(lines).encode("utf-8")

    def _line(self, i: int, campaign: str, width: int, extras: int) -> str:
        # A cheap integer hash keeps 2M-row files fast while looking irregular; table values
        # are quoted once at import, the generated ones (numbers, emails, URLs) need none.
        h = (i * 2654435761 + self.seed * 40503 + 12345) & 0xFFFFFFFF
        first, first_ascii = _FIRST_NAMES_Q[h % len(_FIRST_NAMES_Q)]
        last, last_ascii = _LAST_NAMES_Q[(h >> 4) % len(_LAST_NAMES_Q)]
        sent = 1 + (h >> 8) % 4
        opened = (h >> 10) % (sent + 1)
        clicked = (h >> 12) % (opened + 1)
        replied = (h >> 14) % 2 if opened else 0
        bounced = 1 if (h >> 16) % 23 == 0 else 0
        fields = [
            campaign,
            f"{first_ascii}.{last_ascii}{i}@{_DOMAINS[(h >> 7) % len(_DOMAINS)]}",
            first,
            last,
            _COMPANIES_Q[(h >> 9) % len(_COMPANIES_Q)],
            str(sent),
            str(opened),
            str(clicked),
            str(replied),
            str(bounced),
            _STATUSES[(h >> 18) % len(_STATUSES)],
            _ACTIVITY_DATES[(h >> 6) % len(_ACTIVITY_DATES)],
            _JOB_TITLES_Q[(h >> 20) % len(_JOB_TITLES_Q)],
            f"https://www.linkedin.com/in/{first_ascii}-{last_ascii}-{i}",
            _ICEBREAKERS_Q[(h >> 22) % len(_ICEBREAKERS_Q)],
        ]
        if extras:
            fields.extend(f"v{k}-{i % 97}" for k in range(1, extras + 1))
        return ",".join(fields[:width]) + "\n"


def _quote(value: str) -> str:
    """One CSV field as the csv module writes it (quoted only when needed)."""
    if not value:
        return ""  # alone on a row the writer would emit '""'; inside a row it is bare
    buffer = io.StringIO()
    # The terminator must be "\n" for embedded newlines to be quoted; then drop it.
    csv.writer(buffer, lineterminator="\n").writerow([value])
    return buffer.getvalue()[:-1]


_FIRST_NAMES_Q = tuple((_quote(display), ascii_) for display, ascii_ in _FIRST_NAMES)
_LAST_NAMES_Q = tuple((_quote(display), ascii_) for display, ascii_ in _LAST_NAMES)
_COMPANIES_Q = tuple(_quote(company) for company in _COMPANIES)
_JOB_TITLES_Q = tuple(_quote(title) for title in _JOB_TITLES)
_ICEBREAKERS_Q = tuple(_quote(text) for text in _ICEBREAKERS)
_ACTIVITY_DATES = tuple(
    time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(_EPOCH_2024_10_01 + k * 7589))
    for k in range(1024)
)


@dataclass(frozen=True)
class BytesCsv:
    """Caller-given CSV bytes, served as they are."""

    data: bytes

    @property
    def size(self) -> int:
        return len(self.data)

    def iter_chunks(self, chunk_size: int = DEFAULT_CHUNK_SIZE) -> Iterator[bytes]:
        view = memoryview(self.data)
        for start in range(0, len(view), chunk_size):
            yield bytes(view[start : start + chunk_size])

    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    def to_bytes(self) -> bytes:
        return self.data


def as_csv_source(csv_data: bytes | CsvSource | None, default_rows: int = 50) -> CsvSource:
    """Normalise what add_campaign accepts into something the server can stream."""
    if csv_data is None:
        return SyntheticCsv(rows=default_rows)
    if isinstance(csv_data, bytes | bytearray | memoryview):
        return BytesCsv(bytes(csv_data))
    return csv_data


def _rechunk(batches: Iterator[bytes], chunk_size: int) -> Iterator[bytes]:
    if chunk_size < 1:
        raise ValueError("chunk_size must be >= 1")
    pending = bytearray()
    for batch in batches:
        pending += batch
        while len(pending) >= chunk_size:
            yield bytes(pending[:chunk_size])
            del pending[:chunk_size]
    if pending:
        yield bytes(pending)


def _sha256(source: CsvSource) -> str:
    digest = hashlib.sha256()
    for chunk in source.iter_chunks():
        digest.update(chunk)
    return digest.hexdigest()


def _to_bytes(source: CsvSource) -> bytes:
    if source.size > _TO_BYTES_LIMIT:
        raise ValueError(f"{source.size} bytes is too large for to_bytes(); use iter_chunks()")
    return b"".join(source.iter_chunks())
