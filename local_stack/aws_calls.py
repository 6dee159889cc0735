"""Every AWS call the local Lambda workers make, and whether their IAM policy allows it.

Each worker signs its requests with an access key id naming its function (the local stack
sets AWS_ACCESS_KEY_ID per function), so a WSGI layer in front of moto can tell who called
what: the service, the operation, the IAM action it needs and the resource it names (an
ARN built from the request, as IAM would evaluate it). At deployment the local stack hands
over each function's policy statements, resolved from template.yaml; `denied()` lists the
calls no statement allows, `grants` and `used` what the policies allowed (one Grant per
action and resource of a statement, over every deployment) and which of those a call needed:
`unused_grants` tells the grants no call needed.

IAM is evaluated here for what the template uses: Allow statements, Action lists with
wildcards, Resource ARNs with `*` and `?`, and StringLike conditions on `s3:prefix`. Any
other condition makes `allows` raise, so a policy this module cannot judge is noticed.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import json
import re
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote

from .aws_faults import operation_of, read_body

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
_AKID = re.compile(r"Credential=([^/]+)/")
REGION = "us-east-1"
ACCOUNT_ID = "123456789012"
PRINCIPAL_PREFIX = "LOCALFN"

# S3 operations and the IAM action each needs (multipart parts are s3:PutObject).
_S3_ACTIONS = {
    "PutObject": "s3:PutObject",
    "CreateMultipartUpload": "s3:PutObject",
    "UploadPart": "s3:PutObject",
    "CompleteMultipartUpload": "s3:PutObject",
    "AbortMultipartUpload": "s3:AbortMultipartUpload",
    "ListParts": "s3:ListMultipartUploadParts",
    "ListMultipartUploads": "s3:ListBucketMultipartUploads",
    "GetObject": "s3:GetObject",
    "HeadObject": "s3:GetObject",
    "DeleteObject": "s3:DeleteObject",
    "ListObjectsV2": "s3:ListBucket",
    "HeadBucket": "s3:ListBucket",
}
_SERVICE_PREFIX = {"states": "states", "dynamodb": "dynamodb", "secretsmanager": "secretsmanager"}


def principal_for(function_name: str) -> str:
    """The access key id a function's worker signs with."""
    return f"{PRINCIPAL_PREFIX}{function_name}"


@dataclass(frozen=True)
class AwsCall:
    principal: str  # the function's name ("" for calls from outside a worker)
    service: str
    operation: str
    action: str  # the IAM action, e.g. dynamodb:UpdateItem
    resources: tuple[str, ...]
    context: tuple[tuple[str, str], ...] = ()  # condition keys, e.g. (("s3:prefix", "x/"),)
    allowed: bool = True  # by the function's policy when the call was made


@dataclass(frozen=True, order=True)
class Grant:
    """One action on one resource a function's policy allows (under its statement's condition)."""

    function: str
    action: str  # as the policy writes it (may hold wildcards)
    resource: str  # resolved, may hold wildcards
    condition: str = ""  # the statement's Condition as JSON ("" for none)

    def covers(self, call: AwsCall) -> bool:
        statement = {"Effect": "Allow", "Action": self.action, "Resource": self.resource}
        if self.condition:
            statement["Condition"] = json.loads(self.condition)
        context = dict(call.context)
        return call.principal == self.function and any(
            _statement_allows(statement, call.action, resource, context)
            for resource in call.resources or ("*",)
        )


@dataclass
class Policy:
    statements: list[dict[str, Any]] = field(default_factory=list)
    grants: dict[Grant, Grant] = field(default_factory=dict)  # grants_of(...)

    def allows(self, call: AwsCall) -> bool:
        context = dict(call.context)
        # A call that names no resource (ListTables, ...) needs a statement on "*".
        return all(
            any(_statement_allows(s, call.action, resource, context) for s in self.statements)
            for resource in call.resources or ("*",)
        )


def grants_of(
    function_name: str, statements: list[dict[str, Any]], aliases: dict[str, str] | None = None
) -> dict[Grant, Grant]:
    """Each action on each resource of the Allow statements: the grant as resolved (what a
    call is judged against) -> the grant as the template means it, `aliases` naming values
    a deployment chose (a test's own secret name -> ${NotificationsSecretName}), so a grant
    counts as used whichever name a deployment gave it."""
    named = sorted((aliases or {}).items(), key=lambda item: -len(item[0]))

    def meant(resource: str) -> str:
        for value, name in named:
            resource = resource.replace(value, name)
        return resource

    grants: dict[Grant, Grant] = {}
    for statement in statements:
        if statement.get("Effect") != "Allow":
            continue
        condition = statement.get("Condition")
        written = json.dumps(condition, sort_keys=True) if condition else ""
        for action in _as_list(statement.get("Action")):
            for resource in _as_list(statement.get("Resource")):
                grant = Grant(function_name, action, resource, written)
                grants[grant] = dataclasses.replace(grant, resource=meant(resource))
    return grants


def unused_grants(grants: Iterable[Grant], used: Iterable[Grant]) -> list[Grant]:
    """The grants no recorded call needed, in order."""
    return sorted(set(grants) - set(used))


class AwsCallLog:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.calls: list[AwsCall] = []
        self.policies: dict[str, Policy] = {}
        self.grants: set[Grant] = set()  # every deployment's, so a test's own policy counts
        self.used: set[Grant] = set()  # the grants an allowed call needed

    def set_policy(
        self,
        function_name: str,
        statements: list[dict[str, Any]],
        aliases: dict[str, str] | None = None,
    ) -> None:
        """A function's resolved statements; `aliases` maps values a deployment chose for
        parameters to the parameters' names (see grants_of)."""
        grants = grants_of(function_name, statements, aliases)
        with self._lock:
            self.policies[function_name] = Policy(statements, grants)
            self.grants |= set(grants.values())

    def clear(self) -> None:
        with self._lock:
            self.calls.clear()

    def since(self, index: int) -> list[AwsCall]:
        with self._lock:
            return self.calls[index:]

    def denied(self, since: int = 0) -> list[AwsCall]:
        """Calls a function made that its policy (at the time) did not allow."""
        return [call for call in self.since(since) if not call.allowed]

    def wrap(self, app: WsgiApp) -> WsgiApp:
        def recording(
            environ: dict[str, Any], start_response: Callable[..., Any]
        ) -> Iterable[bytes]:
            call = self._describe(environ)
            if call is not None:
                with self._lock:
                    policy = self.policies.get(call.principal, Policy())
                    allowed = policy.allows(call)
                    self.calls.append(dataclasses.replace(call, allowed=allowed))
                    if allowed:
                        self.used |= {m for g, m in policy.grants.items() if g.covers(call)}
            return app(environ, start_response)

        return recording

    def _describe(self, environ: dict[str, Any]) -> AwsCall | None:
        found = _AKID.search(environ.get("HTTP_AUTHORIZATION", ""))
        if found is not None:
            akid = found.group(1)
        else:  # a presigned URL: the signer's key is in the query (X-Amz-Credential)
            credential = parse_qs(environ.get("QUERY_STRING", "")).get("X-Amz-Credential")
            if not credential:
                return None
            akid = credential[0].split("/", 1)[0]
        if not akid.startswith(PRINCIPAL_PREFIX):
            return None  # the tests' and the local tools' own calls
        principal = akid[len(PRINCIPAL_PREFIX) :]
        service, operation = operation_of(environ)
        if service == "s3":
            return _s3_call(principal, operation, environ)
        body = _json_body(environ)
        action = f"{_SERVICE_PREFIX.get(service, service)}:{operation}"
        return AwsCall(principal, service, operation, action, _resources(service, body))


def _s3_call(principal: str, operation: str, environ: dict[str, Any]) -> AwsCall:
    path = unquote(environ.get("PATH_INFO", "/")).lstrip("/")
    bucket, _, key = path.partition("/")
    query = parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
    action = _S3_ACTIONS.get(operation, f"s3:{operation}")
    if key:
        return AwsCall(principal, "s3", operation, action, (f"arn:aws:s3:::{bucket}/{key}",))
    # IAM has the s3:prefix key for s3:ListBucket only (ListMultipartUploads takes a prefix
    # parameter, but a condition on s3:prefix never matches it: parliament says so too).
    listing = action == "s3:ListBucket" and "prefix" in query
    context = (("s3:prefix", query["prefix"][0]),) if listing else ()
    return AwsCall(principal, "s3", operation, action, (f"arn:aws:s3:::{bucket}",), context)


def _json_body(environ: dict[str, Any]) -> dict[str, Any]:
    raw = read_body(environ)
    try:
        body = json.loads(raw or b"{}")
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _resources(service: str, body: dict[str, Any]) -> tuple[str, ...]:
    if service == "dynamodb":
        tables = [body["TableName"]] if "TableName" in body else list(body.get("RequestItems", {}))
        for item in body.get("TransactItems", []):  # {"Put": {"TableName": ...}, ...}
            tables += [op["TableName"] for op in item.values() if "TableName" in op]
        base = f"arn:aws:dynamodb:{REGION}:{ACCOUNT_ID}:table/"
        index = f"/index/{body['IndexName']}" if "IndexName" in body else ""
        return tuple(f"{base}{table}{index}" for table in tables)
    if service == "states":
        return tuple(body[k] for k in ("stateMachineArn", "executionArn") if k in body)
    if service == "secretsmanager":
        secret = str(body.get("SecretId", ""))
        if secret.startswith("arn:"):
            return (secret,)
        # IAM sees the full ARN, whose name ends in "-" and six random characters.
        return (f"arn:aws:secretsmanager:{REGION}:{ACCOUNT_ID}:secret:{secret}-AbCdEf",)
    return ("*",)


def _statement_allows(
    statement: dict[str, Any], action: str, resource: str, context: dict[str, str]
) -> bool:
    if statement.get("Effect") != "Allow":
        return False
    actions = _as_list(statement.get("Action"))
    if not any(fnmatch.fnmatchcase(action.lower(), a.lower()) for a in actions):
        return False
    if not any(fnmatch.fnmatchcase(resource, r) for r in _as_list(statement.get("Resource"))):
        return False
    for operator, tests in (statement.get("Condition") or {}).items():
        if operator != "StringLike":
            raise ValueError(f"the local IAM check does not evaluate {operator} conditions")
        for key, patterns in tests.items():
            value = context.get(key)
            if value is None or not any(fnmatch.fnmatchcase(value, p) for p in _as_list(patterns)):
                return False
    return True


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


def statements_of(resolved_policies: Any) -> list[dict[str, Any]]:
    """The statements of a function's resolved `Policies` (inline documents only)."""
    statements: list[dict[str, Any]] = []
    for policy in _as_list_of_dicts(resolved_policies):
        statements.extend(_as_list_of_dicts(policy.get("Statement")))
    return statements


def _as_list_of_dicts(value: Any) -> list[dict[str, Any]]:
    if isinstance(value, dict):
        return [value]
    return [v for v in value or [] if isinstance(v, dict)]
