"""HTTP/1.1 plumbing: keep-alive, exact Content-Length, streamed bodies, clean shutdown.

The apps decide answers; this module only parses requests, records them and writes bytes.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import struct
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Protocol
from urllib.parse import parse_qsl, urlsplit

from .clock import SimClock
from .http_io import Handled, Incoming, Response
from .recording import Origin, RecordedRequest, RequestLog

logger = logging.getLogger(__name__)


class App(Protocol):
    def handle(self, request: Incoming) -> Handled: ...


class _SimHttpServer(ThreadingHTTPServer):
    # Idle keep-alive connections must not make stop() wait for their threads.
    daemon_threads = True
    block_on_close = False
    # Many Lambda workers connect at once; socketserver's backlog of 5 would reset some.
    request_queue_size = 1024

    def __init__(
        self, address: tuple[str, int], app: App, log: RequestLog, clock: SimClock, origin: Origin
    ) -> None:
        super().__init__(address, _Handler)
        self.app = app
        self.log = log
        self.clock = clock
        self.origin: Origin = origin
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()

    def track(self, connection: socket.socket, open_: bool) -> None:
        with self._connections_lock:
            if open_:
                self._connections.add(connection)
            else:
                self._connections.discard(connection)

    def close_connections(self) -> None:
        """Unblock handler threads parked on idle keep-alive sockets."""
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):  # already closed by the peer
                connection.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: object, client_address: object) -> None:
        # A client hanging up mid-answer is routine in fault tests, not worth a traceback.
        logger.debug("connection error from %s", client_address, exc_info=True)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "lemlist-simulator"
    sys_version = ""
    # Headers and body go out in separate writes; Nagle plus delayed ACK would add ~40 ms each.
    disable_nagle_algorithm = True
    # Bounds how long a silent client can hold a thread; longer than any slow fault in tests.
    timeout = 120
    server: _SimHttpServer

    def setup(self) -> None:
        super().setup()
        self.server.track(self.connection, open_=True)

    def finish(self) -> None:
        self.server.track(self.connection, open_=False)
        super().finish()

    def do_GET(self) -> None:
        self._serve()

    def do_HEAD(self) -> None:
        self._serve()

    def do_PUT(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_PATCH(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    def log_message(self, format: str, *args: object) -> None:
        # The request line has no credentials; headers are never logged.
        logger.debug("%s %s", self.server.origin, format % args)

    def _serve(self) -> None:
        ticket = self.server.log.ticket()
        arrived = self.server.clock.now()
        self._discard_request_body()
        url = urlsplit(self.path)
        incoming = Incoming(
            method=self.command,
            path=url.path,
            query=dict(parse_qsl(url.query, keep_blank_values=True)),
            authorization=self.headers.get("Authorization"),
        )
        try:
            handled = self.server.app.handle(incoming)
        except Exception:
            logger.exception("simulator failed on %s %s", self.command, url.path)
            handled = Handled(Response.text(500, "Internal simulator error"), "unknown", False)
        record = RecordedRequest(
            method=self.command,
            path=url.path,
            query=dict(incoming.query),
            origin=self.server.origin,
            time=arrived,
            status=handled.response.status,
            route=handled.route,
            has_auth=incoming.authorization is not None,
            auth_ok=handled.auth_ok,
            faults=handled.faults,
        )
        # Recorded before writing, so a client that has its answer also finds the record.
        self.server.log.append(ticket, record)
        self._write(handled.response)

    def _discard_request_body(self) -> None:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            self.close_connection = True  # not worth decoding: no lemlist route takes a body
            return
        length = int(self.headers.get("Content-Length") or 0)
        if length > 0:
            self.rfile.read(length)

    def _write(self, response: Response) -> None:
        if response.hang_up:  # Fault.reset: close with a TCP RST, no answer at all
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_connection = True
            return
        self.send_response(response.status)
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(response.content_length))
        self.end_headers()
        if self.command == "HEAD":
            return
        try:
            for chunk in response.chunks():
                self.wfile.write(chunk)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
            return
        if response.cut_after is not None and response.cut_after < response.content_length:
            # Fault.truncate: hang up with the body short of its announced Content-Length.
            self.close_connection = True


@dataclass
class RunningServer:
    """One listening origin and the thread serving it."""

    server: _SimHttpServer
    thread: threading.Thread

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    def stop(self) -> None:
        self.server.shutdown()
        self.server.close_connections()
        self.server.server_close()
        self.thread.join(timeout=5)


def serve(
    app: App, host: str, port: int, log: RequestLog, clock: SimClock, origin: Origin
) -> RunningServer:
    """Bind and start serving in a daemon thread; port 0 picks a free port."""
    server = _SimHttpServer((host, port), app, log, clock, origin)
    thread = threading.Thread(
        target=server.serve_forever,
        kwargs={"poll_interval": 0.02},  # bounds how long stop() waits
        name=f"lemlist-simulator-{origin}",
        daemon=True,
    )
    thread.start()
    return RunningServer(server, thread)
