"""The Lambda runtime of one local worker process: load a handler, run its invocations.

`local_stack.lambdas` starts this file as a script, one process per warm "container", with the
function's environment. It imports the handler the way Lambda does (the function's code first
on sys.path, then the layers), then answers invocations one at a time over two pipes (file
descriptors given as arguments): a request is a 4-byte big-endian length and a JSON object,
and so is each answer. Standard output and error (the handlers' JSON logs and metrics) are the
process's own, read by the parent; after each invocation a marker line tells the parent that
the invocation's output is complete.

This file imports nothing from local_stack: it is the runtime, not the tooling around it.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import struct
import sys
import threading
import time
import traceback
import uuid
from typing import Any, BinaryIO

PRECONFIGURED = "init"  # Powertools' mark on a stdlib logger it configured
END_OF_INVOCATION = "\x1elocal-lambda-end "  # + request id; never in a handler's JSON log line


class Context:
    """What handlers (and Powertools) read from a Lambda context."""

    def __init__(self, request_id: str, timeout_seconds: float) -> None:
        self.function_name = os.environ["AWS_LAMBDA_FUNCTION_NAME"]
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        self.invoked_function_arn = os.environ["LOCAL_LAMBDA_FUNCTION_ARN"]
        self.memory_limit_in_mb = int(os.environ["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"])
        self.aws_request_id = request_id
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME", "")
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME", "local")
        self._deadline = time.monotonic() + timeout_seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def read_message(stream: BinaryIO) -> Any:
    """The next message, or None at end of stream."""
    header = stream.read(4)
    if len(header) < 4:
        return None
    (size,) = struct.unpack(">I", header)
    body = stream.read(size)
    if len(body) < size:
        return None
    return json.loads(body)


def write_message(stream: BinaryIO, message: Any) -> None:
    body = json.dumps(message).encode()
    stream.write(struct.pack(">I", len(body)) + body)
    stream.flush()


def error_answer(exc: BaseException) -> dict[str, Any]:
    """Lambda's answer for an exception a handler raised."""
    return {
        "errorType": type(exc).__name__,
        "errorMessage": str(exc),
        "stackTrace": traceback.format_tb(exc.__traceback__),
    }


def init_error(exc: Exception) -> dict[str, Any]:
    """Lambda's answer when the handler's module cannot be loaded."""
    if isinstance(exc, ImportError):
        module = os.environ.get("_HANDLER", "app").rsplit(".", 1)[0]
        return {
            "errorType": "Runtime.ImportModuleError",
            "errorMessage": f"Unable to import module '{module}': {exc}",
        }
    return error_answer(exc)


def forget_warm_state() -> None:
    """Forget what a warm container has cached (secrets, clients, the lemlist key), as if
    it were new: used when the local stack is deployed afresh with other secrets."""
    from aws_lambda_powertools.utilities import parameters

    parameters.clear_caches()
    runtime = sys.modules.get("lemlist_export.wiring.runtime")
    for cached in vars(runtime).values() if runtime is not None else ():
        if callable(getattr(cached, "cache_clear", None)):
            cached.cache_clear()


def reset_peak_memory() -> None:
    """Start measuring this invocation's peak resident memory (Linux's VmHWM)."""
    try:
        with open("/proc/self/clear_refs", "w") as refs:
            refs.write("5")
    except OSError:
        pass  # not Linux: the peak is the process's since it started


def peak_memory_mib() -> float | None:
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def die_with_parent() -> None:
    """A worker outlives no local stack: it exits when its parent process is gone (even in
    the middle of an invocation). PR_SET_PDEATHSIG would fire when the parent *thread* that
    started the worker ends, and moto starts workers from short-lived request threads."""
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1)
        os._exit(1)

    threading.Thread(target=watch, daemon=True).start()


def load_handler() -> Any:
    module_name, attribute = os.environ["_HANDLER"].rsplit(".", 1)
    code_dir = os.environ["LAMBDA_TASK_ROOT"]
    layers = [p for p in os.environ.get("LOCAL_LAMBDA_LAYERS", "").split(os.pathsep) if p]
    sys.path[:0] = [p for p in (code_dir, *layers) if p not in sys.path]
    return getattr(importlib.import_module(module_name), attribute)


def redeploy(environment: dict[str, str]) -> Any:
    """The function deployed again with another environment, in this warm process: the new
    environment, and the function's and layers' modules imported afresh (so what they read
    at import, and every cache, is as in a new container); third-party imports stay."""
    for name in set(os.environ) - set(environment):
        del os.environ[name]
    os.environ.update(environment)
    # Powertools configures a stdlib logger once per process and a re-imported Logger would
    # reuse that configuration (its formatter bound to the old modules: the new ones' secret
    # redaction would not apply). A new container has no such logger: forget it.
    for logger in list(logging.Logger.manager.loggerDict.values()):
        if isinstance(logger, logging.Logger) and getattr(logger, PRECONFIGURED, False):
            logger.handlers.clear()
            for mark in [
                a for a in vars(logger) if a == PRECONFIGURED or a.startswith("powertools_")
            ]:
                delattr(logger, mark)
    roots = [os.environ["LAMBDA_TASK_ROOT"]]
    roots += [p for p in os.environ.get("LOCAL_LAMBDA_LAYERS", "").split(os.pathsep) if p]
    for name, module in list(sys.modules.items()):
        where = getattr(module, "__file__", None) or ""
        if any(where.startswith(root + os.sep) for root in roots):
            del sys.modules[name]
    forget_warm_state()
    return load_handler()


def main(argv: list[str]) -> int:
    die_with_parent()
    requests = os.fdopen(int(argv[1]), "rb")
    answers = os.fdopen(int(argv[2]), "wb")
    started = time.monotonic()
    try:
        handler = load_handler()
    except Exception as exc:  # Lambda answers every invocation of a broken init with it
        traceback.print_exc()
        write_message(answers, {"ready": False, "error": init_error(exc)})
        return 1
    write_message(answers, {"ready": True, "initSeconds": time.monotonic() - started})
    while (request := read_message(requests)) is not None:
        if request["op"] == "forget":
            forget_warm_state()
            write_message(answers, {"ok": True})
            continue
        if request["op"] == "redeploy":
            try:
                handler = redeploy(request["environment"])
            except Exception as exc:
                traceback.print_exc()
                write_message(answers, {"ok": False, "error": error_answer(exc)})
                return 1
            write_message(answers, {"ok": True})
            continue
        request_id = request.get("requestId") or str(uuid.uuid4())
        reset_peak_memory()
        began = time.monotonic()
        answer: dict[str, Any]
        try:
            result = handler(request["event"], Context(request_id, request["timeoutSeconds"]))
        except Exception as exc:
            answer = {"error": error_answer(exc)}
        else:
            try:  # Lambda's answer is JSON
                answer = {"payload": json.loads(json.dumps(result))}
            except (TypeError, ValueError) as exc:
                answer = {"error": {**error_answer(exc), "errorType": "Runtime.MarshalError"}}
        answer["seconds"] = time.monotonic() - began
        answer["peakMiB"] = peak_memory_mib()
        sys.stdout.flush()
        sys.stderr.flush()
        print(f"{END_OF_INVOCATION}{request_id}", flush=True)
        write_message(answers, answer)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
