"""An attacker's server for the URL-leak regressions: it serves a CSV to anyone and records
every request, with the Authorization header it carried (the lemlist key, if it leaked)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ATTACKER_CSV = b"email,firstName\nvictim@example.com,Mallory\n"


@dataclass(frozen=True)
class Seen:
    path: str
    authorization: str | None


class LookalikeServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.seen: list[Seen] = []
        self._lock = threading.Lock()
        # Instead of the CSV: a redirect to this URL, or this (status, body).
        self.redirect_to: str | None = None
        self.answer: tuple[int, bytes] | None = None

    @property
    def authority(self) -> str:
        return f"127.0.0.1:{self.server_address[1]}"

    def record(self, path: str, authorization: str | None) -> None:
        with self._lock:
            self.seen.append(Seen(path, authorization))


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: LookalikeServer

    def do_GET(self) -> None:
        self.server.record(self.path, self.headers.get("Authorization"))
        status, body = self.server.answer or (200, ATTACKER_CSV)
        self.send_response(302 if self.server.redirect_to else status)
        if self.server.redirect_to:
            self.send_header("Location", self.server.redirect_to)
            body = b""
        self.send_header("Content-Type", "text/csv")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        return None


@contextmanager
def running_lookalike() -> Iterator[LookalikeServer]:
    server = LookalikeServer()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02})
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


# URLs whose host two parsers read differently: the standard library sees the lemlist API's
# host, urllib3 connects to the look-alike. Templates for ExportPlan.download_url and
# redirect_location ({api_authority}: the simulator's API host:port).
def crafted_urls(evil: str) -> list[str]:
    return [
        f"http://{evil}\\@{{api_authority}}/api/files/exports/{{file}}",
        f"http://{evil}\\\\@{{api_authority}}/api/files/exports/{{file}}",
    ]
