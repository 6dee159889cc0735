"""API Gateway HTTP API (payload format 2.0), played locally: request in, handler's answer out.

Builds the event exactly as API Gateway sends it (lower-cased headers, rawPath,
requestContext.http, a base64 body for non-text content such as Slack's form posts) and
hands it to the function the template routes it to.
"""

from __future__ import annotations

import base64
import json
import re
import time
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from .deploy import Route
from .embedded_aws import ACCOUNT_ID
from .lambdas import LambdaWorkers

API_ID = "localapi"
_TEXT_TYPES = ("application/json", "text/", "application/xml")


@dataclass(frozen=True)
class HttpResponse:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def http_api_event(
    method: str,
    path: str,
    *,
    route_key: str,
    headers: dict[str, str] | None = None,
    body: bytes | None = None,
    query: str = "",
    path_parameters: dict[str, str] | None = None,
    source_ip: str = "127.0.0.1",
) -> dict[str, Any]:
    """An HTTP API v2 event for one request, as API Gateway would build it."""
    lowered = {k.lower(): v for k, v in (headers or {}).items()}
    content_type = lowered.get("content-type", "")
    now = time.time()
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": path,
        "rawQueryString": query,
        "headers": lowered,
        "requestContext": {
            "accountId": ACCOUNT_ID,
            "apiId": API_ID,
            "domainName": f"{API_ID}.execute-api.localhost",
            "domainPrefix": API_ID,
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": source_ip,
                "userAgent": lowered.get("user-agent", ""),
            },
            "requestId": uuid.uuid4().hex[:16],
            "routeKey": route_key,
            "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "timeEpoch": int(now * 1000),
        },
        "isBase64Encoded": False,
    }
    if query:
        params: dict[str, str] = {}
        for key, value in parse_qsl(query, keep_blank_values=True):
            # API Gateway joins repeated parameters with commas.
            params[key] = f"{params[key]},{value}" if key in params else value
        event["queryStringParameters"] = params
    if path_parameters:
        event["pathParameters"] = path_parameters
    if body:
        if content_type.startswith(_TEXT_TYPES):
            event["body"] = body.decode("utf-8", errors="replace")
        else:
            event["body"] = base64.b64encode(body).decode("ascii")
            event["isBase64Encoded"] = True
    return event


class HttpApi:
    def __init__(self, routes: list[Route], lambdas: LambdaWorkers) -> None:
        self._routes = [(route, _pattern(route.path)) for route in routes]
        self._lambdas = lambdas

    def request(
        self,
        method: str,
        path: str,
        *,
        headers: dict[str, str] | None = None,
        body: bytes | str | None = None,
        query: str = "",
    ) -> HttpResponse:
        raw = body.encode() if isinstance(body, str) else body
        for route, pattern in self._routes:
            match = pattern.fullmatch(path)
            if route.method == method.upper() and match:
                event = http_api_event(
                    method.upper(),
                    path,
                    route_key=f"{route.method} {route.path}",
                    headers=headers,
                    body=raw,
                    query=query,
                    path_parameters=match.groupdict() or None,
                )
                outcome = self._lambdas.invoke(route.function_name, event)
                if outcome.errored:
                    return HttpResponse(
                        500,
                        {"content-type": "application/json"},
                        b'{"message":"Internal Server Error"}',
                    )
                return _response(outcome.payload)
        return HttpResponse(404, {"content-type": "application/json"}, b'{"message":"Not Found"}')


def _pattern(path: str) -> re.Pattern[str]:
    regex = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(path))
    return re.compile(regex)


def _response(payload: Any) -> HttpResponse:
    """Normalise a handler's answer the way API Gateway does for payload format 2.0."""
    if not isinstance(payload, dict) or "statusCode" not in payload:
        body = payload if isinstance(payload, str) else json.dumps(payload)
        return HttpResponse(200, {"content-type": "application/json"}, body.encode())
    body = payload.get("body") or ""
    raw = base64.b64decode(body) if payload.get("isBase64Encoded") else body.encode()
    headers = {k.lower(): str(v) for k, v in (payload.get("headers") or {}).items()}
    for name, values in (payload.get("multiValueHeaders") or {}).items():
        headers[name.lower()] = ", ".join(str(v) for v in values)
    return HttpResponse(int(payload["statusCode"]), headers, raw)
