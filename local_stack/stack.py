"""The whole product on one machine: the template deployed on the embedded AWS.

One embedded AWS and one set of Lambda workers serve the process (moto's server and the
Lambda seam are process-wide); each `LocalStack.start()` empties them and deploys afresh
(workers of an unchanged function stay warm, with their caches dropped).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from lemlist_export.records.record import ExportRecord
from lemlist_export.records.store import ExportStore
from lemlist_export.workflow.launch import execution_arn

from .deploy import PROJECT_ROOT, DeployedStack, deploy
from .embedded_aws import EmbeddedAws
from .http_api import HttpApi
from .lambdas import LambdaWorkers
from .watchdog import ExecutionWatchdog

LAYER_DIRS = [PROJECT_ROOT / "layers" / "shared"]
# Local-only settings the template never sets: Powertools' X-Ray tracing has no daemon here,
# and the simulator, webhook receivers and presigned URLs are plain http on loopback.
LOCAL_ENVIRONMENT = {"POWERTOOLS_TRACE_DISABLED": "true", "ALLOW_LOCAL_URLS": "true"}

_aws: EmbeddedAws | None = None
_lambdas: LambdaWorkers | None = None
_applied_environment: set[str] = set()


def embedded() -> tuple[EmbeddedAws, LambdaWorkers]:
    """The process's embedded AWS and Lambda runner, started on first use."""
    global _aws, _lambdas
    if _aws is None or _lambdas is None:
        _aws = EmbeddedAws().start()
        _lambdas = LambdaWorkers(LAYER_DIRS)
        _lambdas.install_into_moto()
    return _aws, _lambdas


@dataclass(frozen=True)
class StackOptions:
    lemlist_api_url: str
    lemlist_api_key: str
    # The notifications secret's JSON ({"slackWebhookUrl", "webhookUrl", ...}); None: none.
    notifications: dict[str, str] | None = None
    # Template parameter overrides, e.g. {"PollFirstWaitSeconds": "1"}.
    parameters: dict[str, str] = field(default_factory=dict)
    # Environment the template does not set (e.g. EXPORT_EXPIRES_AFTER_SECONDS for tests).
    environment: dict[str, str] = field(default_factory=dict)
    # The HTTP API's bearer token, and Slack's signing secret (None: no Slack command).
    api_token: str = "local-api-token-0123456789"
    slack_signing_secret: str | None = None
    stack_name: str = "lemlist-local"
    # Tests: a shorter Timeout for some functions (by logical id), to play Lambda timeouts.
    timeouts: dict[str, int] = field(default_factory=dict)


class LocalStack:
    def __init__(self, options: StackOptions) -> None:
        self.options = options
        self.aws, self.lambdas = embedded()
        self.deployed: DeployedStack | None = None
        self.http_api: HttpApi | None = None
        self.watchdog: ExecutionWatchdog | None = None

    def start(self) -> LocalStack:
        import json

        self.aws.reset()
        self.forget_warm_state()
        parameters = {
            "LemlistApiUrl": self.options.lemlist_api_url,
            # Local webhook targets listen on loopback.
            "CallbackHosts": "hooks.zapier.com,hooks.slack.com,127.0.0.1,localhost",
            **self.options.parameters,
        }
        secrets = {
            "LemlistApiKeySecretName": self.options.lemlist_api_key,
            "ApiTokenSecretName": self.options.api_token,
        }
        if self.options.slack_signing_secret is not None:
            parameters.setdefault("SlackSigningSecretName", "lemlist-stats-export/slack-signing")
            secrets["SlackSigningSecretName"] = self.options.slack_signing_secret
        if self.options.notifications is not None:
            parameters.setdefault("NotificationsSecretName", "lemlist-stats-export/notifications")
            secrets["NotificationsSecretName"] = json.dumps(self.options.notifications)
        self.deployed = deploy(
            self.aws,
            self.lambdas,
            stack_name=self.options.stack_name,
            parameters=parameters,
            secrets=secrets,
            extra_environment={**LOCAL_ENVIRONMENT, **self.options.environment},
            timeouts=self.options.timeouts,
        )
        _apply_environment(self.deployed.environment)
        self.http_api = HttpApi(self.deployed.routes, self.lambdas)
        self.watchdog = ExecutionWatchdog(
            self.deployed.rules, self.aws.client("stepfunctions"), self.lambdas
        )
        return self

    @property
    def stack(self) -> DeployedStack:
        assert self.deployed is not None, "start() first"
        return self.deployed

    def client(self, service: str) -> Any:
        return self.aws.client(service)

    def stop_executions(self, grace_seconds: float = 2.0) -> None:
        """Let running executions finish for a moment, then stop the rest (tests)."""
        sfn = self.client("stepfunctions")
        deadline = time.monotonic() + grace_seconds
        while True:
            running = sfn.list_executions(
                stateMachineArn=self.stack.state_machine_arn, statusFilter="RUNNING"
            )["executions"]
            if not running:
                return
            if time.monotonic() > deadline:
                for execution in running:
                    sfn.stop_execution(executionArn=execution["executionArn"])
                return
            time.sleep(0.1)

    def forget_warm_state(self) -> None:
        """As if every Lambda container were new: secrets and clients are read again."""
        _cold_start()
        self.lambdas.forget_warm_state()

    def api_headers(self) -> dict[str, str]:
        """What a caller of the HTTP API sends: JSON, and the stack's bearer token."""
        return {
            "content-type": "application/json",
            "authorization": f"Bearer {self.options.api_token}",
        }

    def execution_arn(self, export_id: str) -> str:
        arn = self.stack.state_machine_arn
        return execution_arn(arn, export_id)

    def store(self) -> ExportStore:
        return ExportStore(self.client("dynamodb"), self.stack.table)

    def record(self, export_id: str) -> ExportRecord | None:
        return self.store().find(export_id)

    def wait_for_end(
        self,
        export_id: str,
        *,
        on_change: Callable[[ExportRecord | None], None] | None = None,
        poll_seconds: float = 0.1,
        timeout: float | None = None,
    ) -> ExportRecord:
        """Block until the export's execution has ended and any watchdog rule has run."""
        assert self.watchdog is not None
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            record = self.record(export_id)
            if on_change is not None:
                on_change(record)
            name = (record.execution_name if record else None) or export_id
            if self.watchdog.notice(self.execution_arn(name)):
                final = self.record(export_id)
                assert final is not None, f"no record for {export_id}"
                return final
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"export {export_id} still running after {timeout} s")
            time.sleep(poll_seconds)


def _apply_environment(environment: dict[str, str]) -> None:
    """This process calls the layer too (tests, make run's summary): give it the functions'
    (agreeing) environment, and drop what an earlier deployment set that this one does not.
    The workers get each function's own environment."""
    for name in _applied_environment - set(environment):
        os.environ.pop(name, None)
    os.environ.update(environment)
    _applied_environment.clear()
    _applied_environment.update(environment)


def _cold_start() -> None:
    """Forget what this process cached like a warm container (tests call the layer directly)."""
    from .lambda_runtime import forget_warm_state

    forget_warm_state()
