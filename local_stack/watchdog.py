"""EventBridge's part, played locally: execution status changes delivered to matching rules.

moto emits no EventBridge events for Step Functions, so the template's EventBridgeRule
events (the watchdog that finishes exports whose execution died) would never fire. This
builds the "Step Functions Execution Status Change" event AWS would send when an execution
ends and invokes every function whose rule pattern matches it.
"""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime
from typing import Any

from .deploy import EventRule
from .embedded_aws import ACCOUNT_ID, REGION
from .lambdas import LambdaWorkers

DETAIL_TYPE = "Step Functions Execution Status Change"


def matches(pattern: Any, event: Any) -> bool:
    """EventBridge matching for the pattern forms the template uses (value lists, nesting)."""
    if isinstance(pattern, dict):
        if not isinstance(event, dict):
            return False
        return all(key in event and matches(value, event[key]) for key, value in pattern.items())
    if isinstance(pattern, list):
        return event in pattern
    return bool(pattern == event)


def status_change_event(execution: dict[str, Any]) -> dict[str, Any]:
    """The event AWS publishes for a finished execution (`describe_execution` answer in)."""
    detail: dict[str, Any] = {
        "executionArn": execution["executionArn"],
        "stateMachineArn": execution["stateMachineArn"],
        "name": execution["name"],
        "status": execution["status"],
        "startDate": _millis(execution.get("startDate")),
        "stopDate": _millis(execution.get("stopDate")),
        "input": execution.get("input"),
        "output": execution.get("output"),
        "inputDetails": {"included": True},
        "outputDetails": {"included": True},
    }
    if execution.get("error"):
        detail["error"] = execution["error"]
    if execution.get("cause"):
        detail["cause"] = execution["cause"]
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": DETAIL_TYPE,
        "source": "aws.states",
        "account": ACCOUNT_ID,
        "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": REGION,
        "resources": [execution["executionArn"]],
        "detail": detail,
    }


class ExecutionWatchdog:
    """Delivers each ended execution's event once to the matching rules' functions."""

    def __init__(self, rules: list[EventRule], stepfunctions: Any, lambdas: LambdaWorkers):
        self._rules = rules
        self._sfn = stepfunctions
        self._lambdas = lambdas
        self._delivered: set[str] = set()
        self._lock = threading.Lock()

    def notice(self, execution_arn: str) -> bool:
        """True once the execution has ended and its event was delivered."""
        execution = self._sfn.describe_execution(executionArn=execution_arn)
        if execution["status"] == "RUNNING":
            return False
        with self._lock:
            if execution_arn in self._delivered:
                return True
            self._delivered.add(execution_arn)
        event = status_change_event(execution)
        for rule in self._rules:
            if matches(rule.pattern, event):
                self._lambdas.invoke(rule.function_name, event)
        return True


def _millis(moment: datetime | None) -> int | None:
    return int(moment.timestamp() * 1000) if moment else None
