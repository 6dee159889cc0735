"""A CSV download being read: a file-like stream that fails loudly, never silently short."""

from __future__ import annotations

from types import TracebackType

import urllib3
from urllib3.exceptions import HTTPError as Urllib3HTTPError

from .errors import DownloadIncompleteError, LemlistTransientError


class DownloadStream:
    """Reads an open HTTP response. A broken or short body raises DownloadIncompleteError.

    urllib3 enforces Content-Length, so a connection that closes early surfaces here as an
    error rather than as a shorter file.
    """

    def __init__(self, response: urllib3.BaseHTTPResponse, where: str) -> None:
        self._response = response
        self._where = where
        self.bytes_read = 0
        length = response.headers.get("Content-Length")
        self.content_length: int | None = int(length) if length and length.isdigit() else None

    def read(self, size: int = -1) -> bytes:
        try:
            chunk = self._response.read(None if size < 0 else size, decode_content=True)
        except urllib3.exceptions.ReadTimeoutError:
            raise LemlistTransientError(
                f"The download from {self._where} stalled after {self.bytes_read} bytes"
            ) from None
        except (Urllib3HTTPError, OSError):
            # urllib3 may hold bytes it received but had not handed over yet: count those too.
            received = max(self.bytes_read, self._response.tell())
            raise DownloadIncompleteError(
                f"The download from {self._where} broke off after {received} bytes"
                + (f" of {self.content_length}" if self.content_length is not None else "")
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
