"""A CSV download being read: a file-like stream that fails loudly, never silently short."""

from __future__ import annotations

from types import TracebackType

import urllib3
from urllib3.exceptions import HTTPError as Urllib3HTTPError

from lemlist_export.core.errors import DownloadIncompleteError, LemlistTransientError


class DownloadStream:
    """Reads an open HTTP response. A broken or short body raises DownloadIncompleteError.

    urllib3 enforces Content-Length, so a connection that closes early surfaces here as an
    error rather than as a shorter file.
    """

    def __init__(self, response: urllib3.BaseHTTPResponse, where: str) -> None:
        self._response = response
        self.where = where
        self.bytes_read = 0
        length = response.headers.get("Content-Length")
        self.content_length: int | None = None
        if length is not None and length.isascii() and length.isdigit() and len(length) < 19:
            self.content_length = int(length)
        encoding = response.headers.get("Content-Encoding", "identity").strip().lower()
        self.encoded = encoding not in ("", "identity")
        self.chunked = "chunked" in response.headers.get("Transfer-Encoding", "").lower()

    def verifiable_size(self) -> int | None:
        """The size the body must have, when the response says (and it is not compressed)."""
        return None if self.encoded else self.content_length

    @property
    def self_delimiting(self) -> bool:
        """Whether a cut body is detected by the transport itself (length or chunked)."""
        return self.content_length is not None or self.chunked

    def read(self, size: int = -1) -> bytes:
        try:
            chunk = self._response.read(None if size < 0 else size, decode_content=True)
        except urllib3.exceptions.ReadTimeoutError:
            raise LemlistTransientError(
                f"The download from {self.where} stalled after {self.bytes_read} bytes"
            ) from None
        except (Urllib3HTTPError, OSError):
            # urllib3 may hold bytes it received but had not handed over yet: count those too.
            received = max(self.bytes_read, self._response.tell())
            raise DownloadIncompleteError(
                f"The download from {self.where} broke off after {received} bytes"
                + (f" of {self.content_length}" if self.content_length is not None else ""),
                received=received,
                expected=self.content_length,
            ) from None
        self.bytes_read += len(chunk)
        return chunk

    def close(self) -> None:
        self._response.release_conn()
        self._response.close()

    def __enter__(self) -> DownloadStream:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
