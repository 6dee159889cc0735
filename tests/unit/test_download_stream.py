"""The download stream read straight into a buffer (`readinto`, what the Copy step uses) keeps
every check `read` has: the bytes are lemlist's whatever the framing (length, chunked,
compressed), and a body cut short, broken or stalled raises the same typed errors."""

from __future__ import annotations

import gzip
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from lemlist_export.core.errors import DownloadIncompleteError, LemlistTransientError
from lemlist_export.core.url_judge import LOCAL_URLS
from lemlist_export.lemlist.client import ClientSettings, LemlistClient
from lemlist_export.lemlist.download import DownloadStream

BODY = bytes(range(256)) * 12_000  # 3 MB: more than one slice of a read into a buffer
CUT_AT = 1_000_000


class _FileServer(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        name = self.path.rsplit("/", 1)[-1]
        if name == "plain.csv":
            self._headers({"Content-Length": str(len(BODY))})
            self.wfile.write(BODY)
        elif name == "chunked.csv":
            self._headers({"Transfer-Encoding": "chunked"})
            for start in range(0, len(BODY), 700_001):
                piece = BODY[start : start + 700_001]
                self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            self.wfile.write(b"0\r\n\r\n")
        elif name == "gzip.csv":
            packed = gzip.compress(BODY)
            self._headers({"Content-Length": str(len(packed)), "Content-Encoding": "gzip"})
            self.wfile.write(packed)
        elif name == "short.csv":
            self._headers({"Content-Length": str(len(BODY)), "Connection": "close"})
            self.wfile.write(BODY[:CUT_AT])
            self.close_connection = True
        elif name == "chunked-short.csv":
            self._headers({"Transfer-Encoding": "chunked", "Connection": "close"})
            self.wfile.write(b"%x\r\n%s" % (len(BODY), BODY[:CUT_AT]))
            self.close_connection = True
        elif name == "stall.csv":
            self._headers({"Content-Length": str(len(BODY))})
            self.wfile.write(BODY[:CUT_AT])
            self.wfile.flush()
            time.sleep(1.5)  # past the client's read timeout
            self.close_connection = True
        else:
            self.send_error(404)

    def _headers(self, headers: dict[str, str]) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/csv")
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        return None


class _Server(ThreadingHTTPServer):
    daemon_threads = True


class _Files:
    """A client of the file server, and the URL of each of its files."""

    def __init__(self, origin: str) -> None:
        self.origin = origin
        settings = ClientSettings(base_url=origin + "/api", urls=LOCAL_URLS, read_timeout=0.5)
        self.client = LemlistClient("k-123456789", settings)

    def open(self, name: str) -> DownloadStream:
        return self.client.open_download(f"{self.origin}/files/{name}")


@pytest.fixture(scope="module")
def files() -> Iterator[_Files]:
    server = _Server(("127.0.0.1", 0), _FileServer)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02})
    thread.start()
    yield _Files(f"http://127.0.0.1:{server.server_address[1]}")
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def by_readinto(stream: DownloadStream) -> bytes:
    """As stream_to_s3 reads: into one buffer, a part (here 2 MiB) at a time."""
    buffer = bytearray(2 * 1024 * 1024)
    parts = []
    with memoryview(buffer) as view:
        while got := stream.readinto(view):
            parts.append(bytes(view[:got]))
    return b"".join(parts)


def by_read(stream: DownloadStream) -> bytes:
    parts = []
    while chunk := stream.read(64 * 1024):
        parts.append(chunk)
    return b"".join(parts)


READERS = pytest.mark.parametrize("read_all", [by_readinto, by_read], ids=["readinto", "read"])


@READERS
@pytest.mark.parametrize("name", ["plain.csv", "chunked.csv", "gzip.csv"])
def test_the_body_arrives_byte_for_byte_whatever_its_framing(
    files: _Files, name: str, read_all: Callable[[DownloadStream], bytes]
) -> None:
    with files.open(name) as stream:
        assert read_all(stream) == BODY
        assert stream.bytes_read == len(BODY)


def test_readinto_fills_the_whole_buffer_in_one_call(files: _Files) -> None:
    buffer = bytearray(len(BODY) + 10)
    with files.open("plain.csv") as stream, memoryview(buffer) as view:
        assert stream.readinto(view) == len(BODY)
        assert stream.readinto(view) == 0
    assert buffer[: len(BODY)] == BODY


@READERS
@pytest.mark.parametrize("name", ["short.csv", "chunked-short.csv"])
def test_a_body_cut_short_raises_incomplete(
    files: _Files, name: str, read_all: Callable[[DownloadStream], bytes]
) -> None:
    with (
        files.open(name) as stream,
        pytest.raises(DownloadIncompleteError, match="broke off after") as raised,
    ):
        read_all(stream)
    if name == "short.csv":
        # What arrived is told, and what was announced.
        assert raised.value.received == CUT_AT
        assert raised.value.expected == len(BODY)
        assert f"after {CUT_AT} bytes of {len(BODY)}" in str(raised.value)


@READERS
def test_a_body_that_stalls_is_a_transient_error(
    files: _Files, read_all: Callable[[DownloadStream], bytes]
) -> None:
    with files.open("stall.csv") as stream, pytest.raises(LemlistTransientError, match="stalled"):
        read_all(stream)


@pytest.mark.parametrize("broken", ["short.csv", "stall.csv"])
def test_a_broken_body_leaves_no_broken_connection_behind(files: _Files, broken: str) -> None:
    with (
        files.open(broken) as stream,
        pytest.raises((DownloadIncompleteError, LemlistTransientError)),
    ):
        by_readinto(stream)
    for _ in range(3):  # the pool's connections, reused: each answers whole
        with files.open("plain.csv") as stream:
            assert by_readinto(stream) == BODY
