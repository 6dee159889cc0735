"""`make serve`: the stack's HTTP API on 127.0.0.1, backed by the embedded stack.

Each HTTP request becomes the API Gateway v2 event AWS would send and goes to the function
the template routes it to; executions run for real, and a watchdog thread plays EventBridge.
Extra local routes: `GET /openapi.json` (the API's document), and
`POST /_local/schedules/<name>/run` (fire a template schedule now, as Scheduler would).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from lemlist_export.core import errors
from lemlist_export.core.errors import ExportError

from .http_api import HttpResponse
from .openapi import openapi_document
from .scheduler import UnknownScheduleError, fire, firing_record_id
from .stack import LocalStack

SCHEDULE_ROUTE = "/_local/schedules/"


class LocalApiServer:
    def __init__(self, stack: LocalStack, host: str = "127.0.0.1", port: int = 8787) -> None:
        self.stack = stack
        self._stop = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body go out in separate writes; on a kept-alive connection Nagle
            # plus the client's delayed ACK would hold every body back ~40 ms.
            disable_nagle_algorithm = True

            def do_GET(self) -> None:
                server._serve(self)

            def do_POST(self) -> None:
                server._serve(self)

            def do_PUT(self) -> None:
                server._serve(self)

            def do_DELETE(self) -> None:
                server._serve(self)

            def __getattr__(self, name: str) -> Any:
                # Any other method (PATCH, TRACE, OPTIONS, ...) goes to the API too, which
                # answers what API Gateway answers a route it does not have: a JSON 404.
                if name.startswith("do_"):
                    return lambda: server._serve(self)
                raise AttributeError(name)

            def log_message(self, format: str, *args: Any) -> None:
                return None

        self.httpd = _ApiHttpServer((host, port), Handler)

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> LocalApiServer:
        threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()
        threading.Thread(target=self._watch_executions, daemon=True).start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self.httpd.shutdown()
        self.httpd.server_close()

    def fire_schedule(self, name: str, when: datetime | None = None) -> HttpResponse:
        """Invoke a schedule's target with its input, as EventBridge Scheduler would, for the
        firing scheduled at `when` (default: now; a repeated delivery repeats its time).

        A failed firing answers JSON (never the Lambda error's stack trace): the error's type,
        the reason the stack recorded and announced, and that record's id, with 502 when
        lemlist refused (503 when it failed or AWS was busy: worth trying again) and 500 for
        the stack's own failures (configuration, a bug).
        """
        when = when or datetime.now(UTC)
        try:
            outcome = fire(self.stack, name, when)
        except UnknownScheduleError as exc:
            return _json(404, {"message": exc.args[0]})
        if outcome.error is None:
            return _json(200, outcome.payload)
        return _json(*self._failed_firing(name, when, outcome.error))

    def _fire_from_request(self, name: str, query: str) -> HttpResponse:
        """`?scheduledTime=2026-11-29T06:00:00Z` gives the firing's scheduled time."""
        given = dict(parse_qsl(query)).get("scheduledTime")
        if not given:
            return self.fire_schedule(name)
        try:
            when = datetime.fromisoformat(given.strip().replace("Z", "+00:00"))
        except ValueError:
            return _json(
                400,
                {"message": "scheduledTime must be an ISO 8601 time like 2026-11-29T06:00:00Z"},
            )
        return self.fire_schedule(name, when if when.tzinfo else when.replace(tzinfo=UTC))

    def _failed_firing(
        self, name: str, when: datetime, error: dict[str, Any]
    ) -> tuple[int, dict[str, Any]]:
        error_type = str(error.get("errorType") or "Error")
        body: dict[str, Any] = {
            "message": str(error.get("errorMessage") or error_type),
            "errorType": error_type,
        }
        try:
            record = self.stack.store().find(firing_record_id(self.stack, name, when))
        except ExportError:  # the schedule's input itself is wrong: nothing was recorded
            record = None
        if record is not None:
            body["exportId"] = record.export_id
            body["message"] = record.failure_reason or body["message"]
        return _firing_status(error_type), body

    # -- plumbing ----------------------------------------------------------------------

    def _serve(self, request: BaseHTTPRequestHandler) -> None:
        length = int(request.headers.get("Content-Length") or 0)
        body = request.rfile.read(length) if length else b""
        parts = urlsplit(request.path)
        if request.command == "GET" and parts.path == "/openapi.json":
            response = HttpResponse(
                200, {"content-type": "application/json"}, openapi_document().encode()
            )
        elif request.command == "POST" and parts.path.startswith(SCHEDULE_ROUTE):
            name = parts.path[len(SCHEDULE_ROUTE) :].removesuffix("/run")
            response = self._fire_from_request(name, parts.query)
        else:
            assert self.stack.http_api is not None
            headers = dict(request.headers.items())
            headers.setdefault("X-Forwarded-Proto", "http")
            response = self.stack.http_api.request(
                request.command, parts.path, headers=headers, body=body, query=parts.query
            )
        request.send_response(response.status)
        for name, value in response.headers.items():
            if name.lower() not in ("content-length", "connection"):
                request.send_header(name, value)
        request.send_header("Content-Length", str(len(response.body)))
        request.end_headers()
        request.wfile.write(response.body)

    def _watch_executions(self) -> None:
        """EventBridge's part: every ended execution reaches the watchdog rule's function.

        An execution whose event was delivered is not looked at again: describing every ended
        execution twice a second made this loop's cost grow with the session's history (up
        to 100 DescribeExecution calls per tick, on the embedded AWS that serves requests).
        """
        sfn = self.stack.client("stepfunctions")
        assert self.stack.watchdog is not None
        delivered: set[str] = set()
        while not self._stop.wait(0.5):
            try:
                answer = sfn.list_executions(stateMachineArn=self.stack.stack.state_machine_arn)
                for execution in answer["executions"]:
                    arn = execution["executionArn"]
                    ended = execution["status"] != "RUNNING"
                    if ended and arn not in delivered and self.stack.watchdog.notice(arn):
                        delivered.add(arn)
            except Exception:  # noqa: S112 (a local dev loop: keep watching)
                continue


class _ApiHttpServer(ThreadingHTTPServer):
    daemon_threads = True
    # socketserver's default backlog of 5 resets connections when a client opens hundreds at
    # once (benchmarks/scale.py posts 200 exports together), as API Gateway never would.
    request_queue_size = 1024


def _firing_status(error_type: str) -> int:
    """As the HTTP API answers lemlist's and AWS's troubles: 503 worth retrying, 502 lemlist
    refused or answered nonsense, 500 anything else (the stack itself)."""
    error = getattr(errors, error_type, None)
    if not isinstance(error, type):
        return 500
    retryable = (errors.LemlistTransientError, errors.RateLimitedError, errors.AwsTransientError)
    if issubclass(error, retryable):
        return 503
    return 502 if issubclass(error, errors.LemlistError) else 500


def _json(status: int, body: Any) -> HttpResponse:
    return HttpResponse(status, {"content-type": "application/json"}, json.dumps(body).encode())


def run_until_interrupted(server: LocalApiServer, on_tick: Callable[[], None]) -> None:
    try:
        while True:
            time.sleep(0.5)
            on_tick()
    except KeyboardInterrupt:
        server.stop()
