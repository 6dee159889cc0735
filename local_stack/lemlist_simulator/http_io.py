"""Requests and answers as values: apps build them, the server writes them to sockets."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from .csv_data import DEFAULT_CHUNK_SIZE, CsvSource

TEXT = "text/plain; charset=utf-8"
JSON = "application/json; charset=utf-8"
CSV = "text/csv; charset=utf-8"


@dataclass(frozen=True)
class Response:
    """Status, headers and a body that is either small bytes or a streamed CSV source."""

    status: int
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""
    stream: CsvSource | None = None
    # Fault.truncate: Content-Length stays the full length, the body stops here.
    cut_after: int | None = None
    # Fault.oversize: bytes served after the body (counted in Content-Length), so the file is
    # larger than the fileSize lemlist announced.
    extra: bytes = b""
    # Fault.reset: no answer at all, the connection reset (TCP RST) instead.
    hang_up: bool = False

    @classmethod
    def text(cls, status: int, text: str) -> Response:
        return cls(status, {"Content-Type": TEXT}, text.encode("utf-8"))

    @classmethod
    def json(cls, status: int, document: Any) -> Response:
        body = json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        return cls(status, {"Content-Type": JSON}, body)

    @classmethod
    def empty(cls, status: int, headers: Mapping[str, str] | None = None) -> Response:
        return cls(status, dict(headers or {}))

    @classmethod
    def csv(cls, source: CsvSource) -> Response:
        return cls(200, {"Content-Type": CSV}, stream=source)

    @property
    def content_length(self) -> int:
        size = self.stream.size if self.stream is not None else len(self.body)
        return size + len(self.extra)

    def with_headers(self, headers: Mapping[str, str]) -> Response:
        """Add headers, keeping those already set (a fault's own values win)."""
        merged = dict(headers)
        merged.update(self.headers)
        return replace(self, headers=merged)

    def truncated(self, after_bytes: int) -> Response:
        return replace(self, cut_after=max(0, after_bytes))

    def oversized(self, extra_bytes: int) -> Response:
        return replace(self, extra=b"9" * max(0, extra_bytes))

    @classmethod
    def reset(cls) -> Response:
        return cls(0, hang_up=True)

    def chunks(self, chunk_size: int = DEFAULT_CHUNK_SIZE) -> Iterator[bytes]:
        """The body as written on the wire, stopping at cut_after."""
        source = self.stream.iter_chunks(chunk_size) if self.stream is not None else [self.body]
        if self.extra:
            source = itertools.chain(source, [self.extra])
        budget = self.content_length if self.cut_after is None else self.cut_after
        for chunk in source:
            if budget <= 0:
                return
            piece = chunk[:budget]
            budget -= len(piece)
            if piece:
                yield piece


@dataclass(frozen=True)
class Incoming:
    """A parsed request; `authorization` is only read by auth checks, never stored."""

    method: str
    path: str
    query: Mapping[str, str]
    authorization: str | None


@dataclass(frozen=True)
class Handled:
    """An app's answer plus what the request log needs to know about it."""

    response: Response
    route: str
    auth_ok: bool
    faults: tuple[str, ...] = ()
