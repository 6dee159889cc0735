"""Every place the local stack reaches into moto, in one module.

moto runs this project's AWS locally, but three things it does not do by itself: execute state
machine definitions (a setting with no environment variable), run Lambda code without Docker
(the internal `LambdaFunction._invoke_lambda`, replaced here), and apply a DynamoDB conditional
write atomically (its handler, serialised here); and, for speed at scale, two costs it pays
on every request are paid once (`cache_per_request_lookups`). Those are internal names that
any moto release may change, so moto is pinned exactly in requirements-dev.txt and this
module refuses, at import, any other version with a sentence saying what to do.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from importlib.metadata import PackageNotFoundError, version
from typing import Any

PINNED_MOTO = "5.2.5"

# A Lambda invocation as moto's engine sees it: (function name, event) -> (payload, errored).
LambdaRunner = Callable[[str, Any], tuple[str, bool]]


class MotoVersionError(RuntimeError):
    """The installed moto is not the one these hooks were written against."""


def check_moto_version(installed: str | None = None) -> None:
    """Raise MotoVersionError unless moto is exactly PINNED_MOTO."""
    if installed is None:
        try:
            installed = version("moto")
        except PackageNotFoundError:
            installed = "none"
    if installed != PINNED_MOTO:
        raise MotoVersionError(
            f"The local stack needs moto {PINNED_MOTO} (it patches moto's internals), but moto "
            f"{installed} is installed. Run `make clean setup` to rebuild .venv from "
            "requirements-dev.txt; to move to another moto, update PINNED_MOTO and the pin "
            "together and run `make test`."
        )


check_moto_version()


def execute_state_machines() -> None:
    """moto runs state machine definitions only when asked (there is no env variable)."""
    from moto.core.config import default_user_config

    default_user_config["stepfunctions"]["execute_state_machine"] = True


def serialize_dynamodb() -> None:
    """One DynamoDB request at a time, as each is atomic in AWS.

    moto evaluates a conditional write and applies it in separate steps, so concurrent
    requests can both pass a condition only one should (seen: 11 admissions through a rate
    gate of 10). Serialising requests restores DynamoDB's per-request atomicity.
    """
    from moto.dynamodb.responses import DynamoHandler

    if getattr(DynamoHandler.call_action, "_serialized", False):
        return
    original = DynamoHandler.call_action
    lock = threading.Lock()

    def call_action(self: Any) -> Any:
        with lock:
            return original(self)

    call_action._serialized = True  # type: ignore[attr-defined]
    DynamoHandler.call_action = call_action  # type: ignore[method-assign]


def cache_per_request_lookups() -> None:
    """Two costs moto pays again on every request, which hundreds of executions at once
    (benchmarks/scale.py) turn into the local stack's bottleneck:

    - the server finds the backend for a request's host under one lock for every request, by
      listing moto's package directory and matching hundreds of URL patterns: the answer per
      host never changes, so it is remembered;
    - the Step Functions engine builds a new boto3 client for every Lambda task it runs: one
      client (thread-safe, as boto3's are) serves them all, with a connection pool as large as
      the executions that call Lambda at once.
    """
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication
    from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils

    if getattr(DomainDispatcherApplication.get_backend_for_host, "_cached", False):
        return
    find_backend = DomainDispatcherApplication.get_backend_for_host
    backends: dict[str | None, Any] = {}

    def get_backend_for_host(self: Any, host: str | None) -> Any:
        if host not in backends:
            backends[host] = find_backend(self, host)
        return backends[host]

    get_backend_for_host._cached = True  # type: ignore[attr-defined]
    DomainDispatcherApplication.get_backend_for_host = get_backend_for_host  # type: ignore[method-assign]

    clients: dict[tuple[str, str], Any] = {}
    lock = threading.Lock()

    def boto_client_for(region: str, service: str, state_credentials: Any = None) -> Any:
        # moto's own ignores state_credentials too: every engine client signs as "ak".
        with lock:
            if (region, service) not in clients:
                clients[(region, service)] = _engine_client(region, service)
            return clients[(region, service)]

    lambda_eval_utils.boto_client_for = boto_client_for


def _engine_client(region: str, service: str) -> Any:
    """The client moto's boto_client_for builds, with a pool for many threads."""
    import boto3
    from botocore.config import Config
    from moto.settings import moto_server_port
    from moto.stepfunctions.parser.asl.component.common.timeouts.timeout import TimeoutSeconds

    return boto3.client(  # type: ignore[call-overload]
        aws_access_key_id="ak",
        aws_secret_access_key="sk",
        region_name=region,
        service_name=service,
        endpoint_url=f"http://localhost:{moto_server_port()}",
        config=Config(
            parameter_validation=False,
            retries={"max_attempts": 0, "total_max_attempts": 1},
            connect_timeout=TimeoutSeconds.DEFAULT_TIMEOUT_SECONDS,
            read_timeout=TimeoutSeconds.DEFAULT_TIMEOUT_SECONDS,
            max_pool_connections=1000,
        ),
    )


def run_lambdas_with(runner: LambdaRunner) -> None:
    """Make moto's Lambda backend call `runner` instead of starting a Docker container.

    The engine maps an errored answer's `errorType` to the error name that the state
    machine's Retry and Catch match, as in AWS.
    """
    from moto.awslambda.models import LambdaFunction

    def invoke_in_process(fn: Any, event: Any = None) -> tuple[str, bool, str]:
        payload, errored = runner(fn.function_name, {} if event is None else event)
        return payload, errored, ""

    LambdaFunction._invoke_lambda = invoke_in_process  # type: ignore[method-assign]


def start_server(port: int, wrap: Callable[[Any], Any] | None = None) -> Any:
    """moto's threaded server on 127.0.0.1:`port`, with the hooks above in place; `wrap`
    puts a WSGI layer in front of moto's application (the AWS fault injector)."""
    from moto.server import ThreadedMotoServer

    execute_state_machines()
    serialize_dynamodb()
    cache_per_request_lookups()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    if wrap is not None:
        wsgi_server = server._server  # werkzeug reads `.app` for every request
        wsgi_server.app = wrap(wsgi_server.app)
    return server
