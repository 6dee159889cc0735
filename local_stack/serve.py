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
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from .http_api import HttpResponse
from .openapi import openapi_document
from .scheduler import UnknownScheduleError, fire
from .stack import LocalStack

SCHEDULE_ROUTE = "/_local/schedules/"


class LocalApiServer:
    def __init__(self, stack: LocalStack, host: str = "127.0.0.1", port: int = 8787) -> None:
        self.stack = stack
        self._stop = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                server._serve(self)

            def do_POST(self) -> None:
                server._serve(self)

            def do_PUT(self) -> None:
                server._serve(self)

            def do_DELETE(self) -> None:
                server._serve(self)

            def log_message(self, format: str, *args: Any) -> None:
                return None

        self.httpd = ThreadingHTTPServer((host, port), Handler)
        self.httpd.daemon_threads = True

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> LocalApiServer:
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        threading.Thread(target=self._watch_executions, daemon=True).start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self.httpd.shutdown()
        self.httpd.server_close()

    def fire_schedule(self, name: str) -> HttpResponse:
        """Invoke a schedule's target with its input, as EventBridge Scheduler would."""
        try:
            outcome = fire(self.stack, name)
        except UnknownScheduleError as exc:
            return _json(404, {"message": exc.args[0]})
        if outcome.error is not None:
            return _json(500, {"message": outcome.error["errorMessage"], **outcome.error})
        return _json(200, outcome.payload)

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
            response = self.fire_schedule(name)
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
        """EventBridge's part: every ended execution reaches the watchdog rule's function."""
        sfn = self.stack.client("stepfunctions")
        assert self.stack.watchdog is not None
        while not self._stop.wait(0.5):
            try:
                answer = sfn.list_executions(stateMachineArn=self.stack.stack.state_machine_arn)
                for execution in answer["executions"]:
                    if execution["status"] != "RUNNING":
                        self.stack.watchdog.notice(execution["executionArn"])
            except Exception:  # noqa: S112 (a local dev loop: keep watching)
                continue


def _json(status: int, body: Any) -> HttpResponse:
    return HttpResponse(status, {"content-type": "application/json"}, json.dumps(body).encode())


def run_until_interrupted(server: LocalApiServer, on_tick: Callable[[], None]) -> None:
    try:
        while True:
            time.sleep(0.5)
            on_tick()
    except KeyboardInterrupt:
        server.stop()
