"""The template's Lambda functions, run like Lambda runs them: in worker processes.

moto runs Lambda code in Docker, which this machine lacks; `moto_hooks.run_lambdas_with`
replaces its internal seam with `LambdaWorkers.invoke`. Each function has a pool of warm
worker processes (`lambda_runtime.py`, one per "container", with the function's own
environment), up to a concurrency limit: invocations of one function run side by side, and
never share a process, as in AWS (Powertools' Logger and Metrics are per-process singletons).
Like Lambda:

- the function's `Timeout` is enforced: the worker is killed and the answer is Lambda's
  `Sandbox.Timedout` error;
- a worker that dies mid-invocation answers `Runtime.ExitError`; a handler's exception answers
  `{"errorType", "errorMessage"}`, whose errorType the state machine's Retry and Catch match;
- peak memory is measured per invocation (Linux's VmHWM, reset before each) and an invocation
  that went over the function's `MemorySize` answers `Runtime.OutOfMemory`, its worker retired;
- a worker is reused while warm; `forget_warm_state()` makes every worker drop its caches
  (secrets, clients) before its next invocation, as a new container would start without them.

Workers stay warm across deployments of the same function code (see `register`), so a
test-suite that deploys afresh for every test does not start a process per function per test.
The handlers' standard output and error (JSON logs, metrics) are copied line by line to
`log_sink` (default: this process's current sys.stdout, so `make run`'s log file gets them).
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import select
import signal
import struct
import subprocess
import sys
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from .aws_calls import principal_for
from .lambda_runtime import END_OF_INVOCATION

RUNTIME = Path(__file__).with_name("lambda_runtime.py")
DEFAULT_CONCURRENCY = 10  # Lambda allows 1,000 by default; this machine has 2 cores
# What a worker inherits from this process; everything else comes from the function.
INHERITED = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "TZ", "SYSTEMROOT")
# The embedded AWS's endpoint and fake credentials (set by EmbeddedAws.start).
AWS_ACCESS = (
    "AWS_ENDPOINT_URL",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
)
_SIGNAL_WORDS = {9: "killed", 15: "terminated", 6: "aborted", 11: "segmentation fault"}
INIT_TIMEOUT_SECONDS = 60.0  # Lambda allows 10 s of init; imports on a loaded machine vary


@dataclass(frozen=True)
class LocalFunction:
    logical_id: str
    name: str
    arn: str
    code_dir: Path
    handler: str
    timeout: int
    memory_mb: int
    environment: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Invocation:
    payload: Any
    error: dict[str, Any] | None
    seconds: float = 0.0
    peak_mib: float | None = None

    @property
    def errored(self) -> bool:
        return self.error is not None


@dataclass(frozen=True)
class InvocationStats:
    """One invocation as the pool saw it (for tests and the benchmarks)."""

    function: str
    seconds: float
    peak_mib: float | None
    memory_mb: int
    error_type: str | None


class WorkerDied(Exception):
    """The worker process ended (or closed its pipe) before answering."""


class _Worker:
    """One worker process: its pipes, and the threads that copy its output to the sink."""

    def __init__(self, function: LocalFunction, env: dict[str, str], sink: Callable[[str], None]):
        self.function = function
        self.env = env
        self.generation = 0
        self._closing = threading.Lock()
        request_read, self._requests = os.pipe()
        self._answers, answer_write = os.pipe()
        try:
            self.process = self._start(env, request_read, answer_write)
        except BaseException:
            for fd in (request_read, answer_write, self._requests, self._answers):
                os.close(fd)
            raise
        os.close(request_read)
        os.close(answer_write)
        self._ended: set[str] = set()
        self._output_seen = threading.Condition()
        self._sink = sink
        for stream in (self.process.stdout, self.process.stderr):
            assert stream is not None
            threading.Thread(target=self._copy_output, args=(stream,), daemon=True).start()

    @staticmethod
    def _start(
        env: dict[str, str], request_read: int, answer_write: int
    ) -> subprocess.Popen[bytes]:
        return subprocess.Popen(  # noqa: S603 - this interpreter, our runtime file
            [sys.executable, str(RUNTIME), str(request_read), str(answer_write)],
            env=env,
            pass_fds=(request_read, answer_write),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            close_fds=True,
        )

    @property
    def pid(self) -> int:
        return self.process.pid

    def wait_ready(self) -> dict[str, Any] | None:
        """None when the handler loaded; else the error Lambda answers for a failed init."""
        hello = self._read(time.monotonic() + INIT_TIMEOUT_SECONDS)
        if hello is None:
            self.kill()
            return _exit_error(self, "init")
        if not hello.get("ready"):
            self.kill()
            return dict(hello["error"])
        return None

    def invoke(self, event: Any, timeout: float, request_id: str) -> dict[str, Any] | None:
        """The worker's answer, or None when the timeout passed first (the worker is killed)."""
        self._write(
            {"op": "invoke", "event": event, "timeoutSeconds": timeout, "requestId": request_id}
        )
        answer = self._read(time.monotonic() + timeout)
        if answer is None:
            return None
        with self._output_seen:  # the invocation's log lines have reached the sink
            self._output_seen.wait_for(lambda: request_id in self._ended, timeout=5)
            self._ended.discard(request_id)
        return answer

    def redeploy(self, env: dict[str, str]) -> None:
        self._write({"op": "redeploy", "environment": env})
        answer = self._read(time.monotonic() + INIT_TIMEOUT_SECONDS)
        if not answer or not answer.get("ok"):
            raise WorkerDied(f"{self.function.name} could not load its new deployment")
        self.env = env

    def forget(self) -> None:
        self._write({"op": "forget"})
        if self._read(time.monotonic() + 30) is None:
            raise WorkerDied(f"{self.function.name} did not answer a request to forget its state")

    def kill(self) -> None:
        """Stop the process and close its pipes, once (a second call does nothing, so a pipe
        number another thread reuses meanwhile is never closed by mistake)."""
        with self._closing:
            if self.process.poll() is None:
                self.process.send_signal(signal.SIGKILL)
            self.process.wait()
            fds, self._requests, self._answers = (self._requests, self._answers), -1, -1
        for fd in fds:
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)

    def _write(self, message: Any) -> None:
        body = json.dumps(message).encode()
        try:
            os.write(self._requests, struct.pack(">I", len(body)))
            view = memoryview(body)
            while view:
                view = view[os.write(self._requests, view) :]
        except OSError as exc:  # a broken pipe: the worker is gone
            raise WorkerDied(str(exc)) from None

    def _read(self, deadline: float) -> Any:
        """The next answer; None when the deadline passed; WorkerDied at end of stream."""
        header = self._read_exactly(4, deadline)
        if header is None:
            return None
        (size,) = struct.unpack(">I", header)
        body = self._read_exactly(size, deadline)
        return None if body is None else json.loads(body)

    def _read_exactly(self, size: int, deadline: float) -> bytes | None:
        chunks = bytearray()
        while len(chunks) < size:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            ready, _, _ = select.select([self._answers], [], [], remaining)
            if not ready:
                return None
            chunk = os.read(self._answers, size - len(chunks))
            if not chunk:
                raise WorkerDied(f"{self.function.name}'s worker ended")
            chunks += chunk
        return bytes(chunks)

    def _copy_output(self, stream: IO[bytes]) -> None:
        for raw in iter(stream.readline, b""):
            line = raw.decode("utf-8", "replace")
            before, marker, request_id = line.partition(END_OF_INVOCATION)
            if before:  # a handler's last output without a newline ends up before the marker
                self._sink(before if not marker else before + "\n")
            if marker:
                with self._output_seen:
                    self._ended.add(request_id.strip())
                    self._output_seen.notify_all()


class _FunctionPool:
    """The warm workers of one function (one configuration of it)."""

    def __init__(self, function: LocalFunction, env: dict[str, str], limit: int) -> None:
        self.function = function
        self.env = env
        self.limit = limit
        self.idle: list[_Worker] = []
        self.busy: set[_Worker] = set()
        self.starting = 0
        self.retired = False
        self._changed = threading.Condition()

    def acquire(self, sink: Callable[[str], None]) -> tuple[_Worker | None, dict[str, Any] | None]:
        """A warm worker, or a new one (waiting while the concurrency limit is reached); or
        no worker and the error Lambda answers when a new one cannot start."""
        with self._changed:
            self._changed.wait_for(
                lambda: bool(self.idle) or len(self.busy) + self.starting < self.limit
            )
            while self.idle:
                worker = self.idle.pop()
                if worker.process.poll() is not None:  # died while idle: a fresh one instead
                    worker.kill()
                    continue
                self.busy.add(worker)
                return worker, None
            self.starting += 1
        failure: dict[str, Any] | None = None
        worker: _Worker | None = None
        try:
            worker = _Worker(self.function, self.env, sink)
            try:
                failure = worker.wait_ready()
            except WorkerDied:
                failure = _exit_error(worker, "init")
        finally:
            with self._changed:
                self.starting -= 1
                if worker is not None and failure is None:
                    self.busy.add(worker)
                self._changed.notify_all()
        if failure is not None:
            worker.kill()
            return None, failure
        return worker, None

    def release(self, worker: _Worker, *, keep: bool) -> None:
        with self._changed:
            self.busy.discard(worker)
            keep = keep and not self.retired
            if keep:
                self.idle.append(worker)
            self._changed.notify_all()
        if not keep:
            worker.kill()

    def retire(self) -> None:
        """No new invocations; idle workers stop now, busy ones when they answer."""
        with self._changed:
            self.retired = True
            idle, self.idle = self.idle, []
        for worker in idle:
            worker.kill()

    def workers(self) -> list[_Worker]:
        with self._changed:
            return [*self.idle, *self.busy]


class LambdaWorkers:
    def __init__(self, layer_dirs: list[Path], concurrency: int = DEFAULT_CONCURRENCY) -> None:
        self.layer_dirs = layer_dirs
        self.concurrency = concurrency
        self.log_sink: IO[str] | None = None
        self.stats: deque[InvocationStats] = deque(maxlen=100_000)
        self._functions: dict[str, LocalFunction] = {}
        self._pools: dict[str, _FunctionPool] = {}
        self._generation = 0
        self._guard = threading.Lock()
        atexit.register(self.shutdown)

    def register(self, function: LocalFunction) -> None:
        """(Re)deploy a function. Warm workers of the same code, handler, Timeout and
        MemorySize stay warm: with another environment, each loads the new deployment (the
        environment, the function's and layers' modules imported afresh) before its next
        invocation; a test-suite that deploys for every test pays no process per test."""
        env = self._environment(function)
        with self._guard:
            self._functions[function.name] = function
            pool = self._pools.get(function.name)
            if pool is not None and _same_code(pool.function, function):
                pool.function, pool.env = function, env
                return
            self._pools[function.name] = _FunctionPool(function, env, self.concurrency)
        if pool is not None:
            pool.retire()

    def function(self, name: str) -> LocalFunction:
        return self._functions[name]

    def forget_warm_state(self) -> None:
        """Every worker drops its caches before its next invocation, like a new container."""
        with self._guard:
            self._generation += 1

    def worker_pids(self, name: str) -> list[int]:
        """The function's worker processes (tests kill one to play a crash)."""
        pool = self._pools.get(name)
        return [] if pool is None else [w.pid for w in pool.workers()]

    def busy_pids(self, name: str) -> list[int]:
        pool = self._pools.get(name)
        return [] if pool is None else [w.pid for w in list(pool.busy)]

    def invoke(self, name: str, event: Any) -> Invocation:
        with self._guard:
            pool = self._pools[name]
            generation = self._generation
        function = pool.function
        worker, failure = pool.acquire(self._write_log)
        if worker is None:
            return self._record(function, Invocation(None, failure))
        request_id = str(uuid.uuid4())
        keep = False
        try:
            if worker.env != pool.env:
                worker.redeploy(pool.env)  # drops every cache too
                worker.generation = generation
            elif worker.generation != generation:
                worker.forget()
                worker.generation = generation
            answer = worker.invoke(event, function.timeout, request_id)
            if answer is None:
                message = f"Task timed out after {function.timeout:.2f} seconds"
                error = {
                    "errorType": "Sandbox.Timedout",
                    "errorMessage": f"RequestId: {request_id} Error: {message}",
                }
                return self._record(function, Invocation(None, error, float(function.timeout)))
            seconds, peak = float(answer["seconds"]), answer.get("peakMiB")
            if peak is not None and peak > function.memory_mb:
                error = {
                    "errorType": "Runtime.OutOfMemory",
                    "errorMessage": f"RequestId: {request_id} Error: Runtime exited with "
                    f"error: memory {peak:.0f} MiB over the function's {function.memory_mb} MB",
                }
                return self._record(function, Invocation(None, error, seconds, peak))
            keep = True
            outcome = Invocation(answer.get("payload"), answer.get("error"), seconds, peak)
            return self._record(function, outcome)
        except WorkerDied:
            return self._record(function, Invocation(None, _exit_error(worker, request_id)))
        finally:
            pool.release(worker, keep=keep)

    def install_into_moto(self) -> None:
        """Make moto's Lambda backend call `invoke` instead of Docker."""
        from .moto_hooks import run_lambdas_with

        def run(name: str, event: Any) -> tuple[str, bool]:
            outcome = self.invoke(name, event)
            if outcome.error is not None:
                return json.dumps(outcome.error), True
            return json.dumps(outcome.payload), False

        run_lambdas_with(run)

    def shutdown(self) -> None:
        with self._guard:
            pools = list(self._pools.values())
        for pool in pools:
            pool.retire()
            for worker in pool.workers():
                worker.kill()

    def _environment(self, function: LocalFunction) -> dict[str, str]:
        """What Lambda gives a function: its environment and the runtime's variables."""
        env = {k: os.environ[k] for k in (*INHERITED, *AWS_ACCESS) if k in os.environ}
        env.update(function.environment)
        env.update(
            {
                # Signs its AWS calls as the function: the local IAM check knows who called.
                "AWS_ACCESS_KEY_ID": principal_for(function.name),
                "AWS_LAMBDA_FUNCTION_NAME": function.name,
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(function.memory_mb),
                "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
                "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{function.name}",
                "AWS_LAMBDA_LOG_STREAM_NAME": "local",
                "LAMBDA_TASK_ROOT": str(function.code_dir),
                "_HANDLER": function.handler,
                "LOCAL_LAMBDA_FUNCTION_ARN": function.arn,
                "LOCAL_LAMBDA_LAYERS": os.pathsep.join(str(p) for p in self.layer_dirs),
                "PYTHONUNBUFFERED": "1",
                "PYTHONDONTWRITEBYTECODE": "1",
            }
        )
        return env

    def _write_log(self, line: str) -> None:
        sink = self.log_sink or sys.stdout
        try:
            sink.write(line)
            sink.flush()
        except (ValueError, OSError):
            pass  # the sink was closed (a finished run): the line has nowhere to go

    def _record(self, function: LocalFunction, outcome: Invocation) -> Invocation:
        error_type = None if outcome.error is None else str(outcome.error.get("errorType"))
        stats = InvocationStats(
            function.name, outcome.seconds, outcome.peak_mib, function.memory_mb, error_type
        )
        with self._guard:
            self.stats.append(stats)
        return outcome


def _same_code(old: LocalFunction, new: LocalFunction) -> bool:
    keys = ("code_dir", "handler", "timeout", "memory_mb", "arn")
    return all(getattr(old, key) == getattr(new, key) for key in keys)


def _exit_error(worker: _Worker, request_id: str) -> dict[str, Any]:
    """Lambda's answer when the runtime process ended mid-invocation."""
    if worker.process.poll() is None:  # alive but silent (a stuck redeploy): Lambda kills it
        worker.process.kill()
    code = worker.process.wait()
    # As Go (Lambda's runtime manager) words it: "signal: killed", "exit status 1".
    how = f"signal: {_SIGNAL_WORDS.get(-code, str(-code))}" if code < 0 else f"exit status {code}"
    return {
        "errorType": "Runtime.ExitError",
        "errorMessage": f"RequestId: {request_id} Error: Runtime exited with error: {how}",
    }
