"""Run the template's Lambda handlers in this process, as moto's Lambda backend.

moto runs Lambda code in Docker, which this machine lacks; `moto_hooks.run_lambdas_with`
replaces its internal seam with a call to the real handler here; an exception
becomes Lambda's `{"errorType", "errorMessage"}` answer, whose errorType the state machine's
Retry and Catch match, as in AWS.

One invocation runs at a time, across all functions: in AWS each invocation has a process
to itself, and the handlers rely on it (Powertools' Logger and Metrics are module-level
singletons, an event resolver holds the current event). Sharing one process, concurrent
invocations would mix their log keys and flush each other's metrics. None of our handlers
waits for another Lambda, so the lock cannot deadlock (Step Functions runs executions in
their own threads).
"""

from __future__ import annotations

import importlib.util
import json
import sys
import threading
import time
import traceback
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any


@dataclass(frozen=True)
class LocalFunction:
    logical_id: str
    name: str
    arn: str
    code_dir: Path
    handler: str
    timeout: int
    memory_mb: int


@dataclass
class FakeContext:
    """What handlers (and Powertools) read from a Lambda context."""

    function_name: str
    invoked_function_arn: str
    memory_limit_in_mb: int
    timeout_seconds: int
    function_version: str = "$LATEST"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    log_group_name: str = ""
    log_stream_name: str = "local"
    _deadline: float = field(default=0.0, repr=False)

    def __post_init__(self) -> None:
        self.log_group_name = f"/aws/lambda/{self.function_name}"
        self._deadline = time.monotonic() + self.timeout_seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


@dataclass(frozen=True)
class Invocation:
    payload: Any
    error: dict[str, Any] | None

    @property
    def errored(self) -> bool:
        return self.error is not None


class InProcessLambdas:
    def __init__(self, layer_dirs: list[Path]) -> None:
        for layer in layer_dirs:  # what Lambda mounts at /opt/python
            if str(layer) not in sys.path:
                sys.path.insert(0, str(layer))
        self._functions: dict[str, LocalFunction] = {}
        self._handlers: dict[str, Any] = {}
        self._running = threading.Lock()
        self._guard = threading.Lock()

    def register(self, function: LocalFunction) -> None:
        with self._guard:
            self._functions[function.name] = function

    def function(self, name: str) -> LocalFunction:
        return self._functions[name]

    def invoke(self, name: str, event: Any) -> Invocation:
        function = self._functions[name]
        handler = self._handler(function)
        context = FakeContext(function.name, function.arn, function.memory_mb, function.timeout)
        with self._running:
            try:
                result = handler(event, context)
            except Exception as exc:
                return Invocation(None, _lambda_error(exc))
        # A real Lambda answer is JSON: make sure this one is too.
        return Invocation(json.loads(json.dumps(result)), None)

    def install_into_moto(self) -> None:
        """Make moto's Lambda backend call `invoke` instead of Docker."""
        from .moto_hooks import run_lambdas_with

        def run(name: str, event: Any) -> tuple[str, bool]:
            outcome = self.invoke(name, event)
            if outcome.error is not None:
                return json.dumps(outcome.error), True
            return json.dumps(outcome.payload), False

        run_lambdas_with(run)

    def _handler(self, function: LocalFunction) -> Any:
        with self._guard:
            if function.name not in self._handlers:
                module_name, attribute = function.handler.rsplit(".", 1)
                module = load_module(function, module_name)
                self._handlers[function.name] = getattr(module, attribute)
            return self._handlers[function.name]


def load_module(function: LocalFunction, module_name: str) -> ModuleType:
    # Every function's module is called `app`: give each its own name in sys.modules.
    unique = f"local_lambda_{function.logical_id}_{module_name}"
    if unique in sys.modules:
        return sys.modules[unique]
    path = function.code_dir / f"{module_name.replace('.', '/')}.py"
    spec = importlib.util.spec_from_file_location(unique, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"Cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[unique] = module
    spec.loader.exec_module(module)
    return module


def _lambda_error(exc: Exception) -> dict[str, Any]:
    return {
        "errorType": type(exc).__name__,
        "errorMessage": str(exc),
        "stackTrace": traceback.format_tb(exc.__traceback__),
    }
