"""AWS misbehaving on purpose: one-shot errors the embedded AWS answers instead of a request.

The fault matrix needs DynamoDB throttling, S3 failing in the middle of a multipart upload and
the like. The handlers run in worker processes and reach the embedded AWS over HTTP, so faults
are played where every request passes: a WSGI layer in front of moto's server
(`moto_hooks.start_server` installs it). A test queues `AwsFault`s; the first request that
matches a queued fault gets the fault's error, in the service's own error format, and the
fault is used up. Requests are recognised by the signing scope (the service) and the
operation (the JSON protocol's X-Amz-Target, or S3's method and query).
"""

from __future__ import annotations

import io
import json
import re
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

_SCOPE = re.compile(r"Credential=[^/]+/\d{8}/[^/]+/([a-z0-9-]+)/aws4_request")
WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


@dataclass(frozen=True)
class AwsFault:
    """The next `times` requests for `service`'s `operation` (and, if given, whose path or
    body contains `matching`) are answered with `code` and `status`, after `delay` seconds;
    with no `code`, they are only late: answered normally after `delay` seconds (a request
    AWS is slow to answer still takes effect, even if its caller has given up)."""

    service: str  # as in the signing scope: dynamodb, s3, states, secretsmanager
    operation: str  # e.g. UpdateItem, UploadPart, CompleteMultipartUpload
    code: str
    status: int = 400
    times: int = 1
    matching: str = ""
    message: str = "injected by the local stack's fault matrix"
    delay: float = 0.0


def operation_of(environ: dict[str, Any]) -> tuple[str, str]:
    """(service, operation) of a signed AWS request, or ("", "") when it is not one."""
    found = _SCOPE.search(environ.get("HTTP_AUTHORIZATION", ""))
    if found is not None:
        service = found.group(1)
    else:  # a presigned URL carries its signing scope in the query
        credential = parse_qs(environ.get("QUERY_STRING", "")).get("X-Amz-Credential", [""])[0]
        parts = credential.split("/")
        if len(parts) != 5 or parts[4] != "aws4_request":
            return "", ""
        service = parts[3]
    target = environ.get("HTTP_X_AMZ_TARGET", "")
    if target:
        return service, target.rsplit(".", 1)[-1]
    if service != "s3":
        return service, ""
    return service, _s3_operation(environ)


def _s3_operation(environ: dict[str, Any]) -> str:
    method = environ.get("REQUEST_METHOD", "")
    query = parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
    path = environ.get("PATH_INFO", "/").strip("/")
    on_object = "/" in path
    if "uploadId" in query:
        return {
            "PUT": "UploadPart",
            "POST": "CompleteMultipartUpload",
            "DELETE": "AbortMultipartUpload",
            "GET": "ListParts",
        }.get(method, "")
    if "uploads" in query:
        return "CreateMultipartUpload" if on_object else "ListMultipartUploads"
    if not on_object:
        return {"GET": "ListObjectsV2", "HEAD": "HeadBucket"}.get(method, "")
    return {
        "PUT": "PutObject",
        "GET": "GetObject",
        "HEAD": "HeadObject",
        "DELETE": "DeleteObject",
    }.get(method, "")


class AwsFaults:
    """The queue of faults, and the WSGI layer that plays them in front of moto."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queued: list[list[Any]] = []  # [fault, times left]
        self.played: list[tuple[str, str, str]] = []  # (service, operation, code)

    def inject(self, *faults: AwsFault) -> None:
        with self._lock:
            self._queued.extend([fault, fault.times] for fault in faults)

    def clear(self) -> None:
        with self._lock:
            self._queued.clear()
            self.played.clear()

    def pending(self) -> list[AwsFault]:
        with self._lock:
            return [fault for fault, _ in self._queued]

    def wrap(self, app: WsgiApp) -> WsgiApp:
        def faulty(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
            if not self._queued:  # the usual case: no lock, no parsing
                return app(environ, start_response)
            service, operation = operation_of(environ)
            if not service:
                return app(environ, start_response)
            body = read_body(environ)
            fault = self._take(service, operation, environ.get("PATH_INFO", ""), body)
            if fault is None:
                return app(environ, start_response)
            if fault.delay:
                time.sleep(fault.delay)
            if not fault.code:
                return app(environ, start_response)
            return _answer(fault, service, start_response)

        return faulty

    def _take(self, service: str, operation: str, path: str, body: bytes) -> AwsFault | None:
        with self._lock:
            for entry in self._queued:
                fault: AwsFault = entry[0]
                if (fault.service, fault.operation) != (service, operation):
                    continue
                if (
                    fault.matching
                    and fault.matching not in path
                    and (fault.matching.encode() not in body)
                ):
                    continue
                entry[1] -= 1
                if entry[1] <= 0:
                    self._queued.remove(entry)
                self.played.append((service, operation, fault.code))
                return fault
        return None


def read_body(environ: dict[str, Any]) -> bytes:
    """Read the request's body and put it back for moto: by its Content-Length, or to the end
    of a chunked body (werkzeug has decoded it then and marks the stream as terminated)."""
    length = environ.get("CONTENT_LENGTH")
    stream = environ["wsgi.input"]
    if length:
        body = stream.read(int(length)) if int(length) > 0 else b""
    elif environ.get("wsgi.input_terminated"):
        body = stream.read()
    else:
        body = b""
    environ["wsgi.input"] = io.BytesIO(body)
    return body


def _answer(fault: AwsFault, service: str, start_response: Callable[..., Any]) -> list[bytes]:
    if service == "s3":
        body = (
            f"<?xml version='1.0' encoding='UTF-8'?><Error><Code>{fault.code}</Code>"
            f"<Message>{fault.message}</Message><RequestId>local</RequestId></Error>"
        ).encode()
        content_type = "application/xml"
    else:
        body = json.dumps({"__type": fault.code, "message": fault.message}).encode()
        content_type = "application/x-amz-json-1.0"
    start_response(
        f"{fault.status} Injected",
        [("Content-Type", content_type), ("Content-Length", str(len(body)))],
    )
    return [body]
