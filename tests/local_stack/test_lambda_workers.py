"""The local Lambda workers behave as Lambda does: a process per warm container, the
template's Timeout and MemorySize enforced, a crash answered as Lambda answers it."""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from local_stack.lambdas import LambdaWorkers, LocalFunction

HANDLER = """
import os, time

CACHE = {}

def handler(event, context):
    action = event.get("do")
    if action == "sleep":
        began = time.time()
        time.sleep(event["seconds"])
        return {"pid": os.getpid(), "began": began, "ended": time.time()}
    if action == "crash":
        os._exit(3)
    if action == "kill":
        os.kill(os.getpid(), 9)
    if action == "raise":
        raise ValueError("the handler refused: " + event.get("why", ""))
    if action == "allocate":
        block = bytearray(event["mib"] * 1024 * 1024)
        for i in range(0, len(block), 4096):
            block[i] = 1
        return {"allocated": len(block)}
    if action == "print":
        print('{"message": "a log line", "n": %d}' % event["n"])
        return {"printed": True}
    if action == "env":
        return {k: os.environ.get(k) for k in event["names"]}
    if action == "remember":
        CACHE.setdefault("first", event["value"])
        return {"first": CACHE["first"], "remaining": context.get_remaining_time_in_millis()}
    return {"echo": event}
"""


@pytest.fixture(scope="module")
def code_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("function")
    (directory / "app.py").write_text(HANDLER)
    return directory


@pytest.fixture
def workers() -> Iterator[LambdaWorkers]:
    pool = LambdaWorkers([], concurrency=3)
    yield pool
    pool.shutdown()


def function(
    code_dir: Path, *, timeout: int = 5, memory_mb: int = 256, **env: str
) -> LocalFunction:
    return LocalFunction(
        logical_id="TestFunction",
        name="local-TestFunction",
        arn="arn:aws:lambda:us-east-1:123456789012:function:local-TestFunction",
        code_dir=code_dir,
        handler="app.handler",
        timeout=timeout,
        memory_mb=memory_mb,
        environment=dict(env),
    )


def test_an_answer_is_the_handlers_json(workers: LambdaWorkers, code_dir: Path) -> None:
    workers.register(function(code_dir))
    outcome = workers.invoke("local-TestFunction", {"hello": ["world", 1]})
    assert outcome.error is None
    assert outcome.payload == {"echo": {"hello": ["world", 1]}}


def test_an_exception_is_lambdas_error_answer(workers: LambdaWorkers, code_dir: Path) -> None:
    workers.register(function(code_dir))
    outcome = workers.invoke("local-TestFunction", {"do": "raise", "why": "no"})
    assert outcome.error is not None
    assert outcome.error["errorType"] == "ValueError"
    assert outcome.error["errorMessage"] == "the handler refused: no"


def test_the_timeout_kills_the_worker_and_answers_sandbox_timedout(
    workers: LambdaWorkers, code_dir: Path
) -> None:
    workers.register(function(code_dir, timeout=1))
    first = workers.invoke("local-TestFunction", {"do": "sleep", "seconds": 30})
    assert first.error is not None
    assert first.error["errorType"] == "Sandbox.Timedout"
    assert "Task timed out after 1.00 seconds" in first.error["errorMessage"]
    assert workers.worker_pids("local-TestFunction") == []  # killed, not left running
    # The next invocation gets a new worker and works.
    assert workers.invoke("local-TestFunction", {"x": 1}).payload == {"echo": {"x": 1}}


@pytest.mark.parametrize(
    ("action", "how"), [("crash", "exit status 3"), ("kill", "signal: killed")]
)
def test_a_worker_that_dies_answers_runtime_exit_error(
    workers: LambdaWorkers, code_dir: Path, action: str, how: str
) -> None:
    workers.register(function(code_dir))
    outcome = workers.invoke("local-TestFunction", {"do": action})
    assert outcome.error is not None
    assert outcome.error["errorType"] == "Runtime.ExitError"
    assert outcome.error["errorMessage"].endswith(f"Runtime exited with error: {how}")
    assert workers.invoke("local-TestFunction", {"x": 2}).payload == {"echo": {"x": 2}}


def test_memory_over_memory_size_is_out_of_memory(workers: LambdaWorkers, code_dir: Path) -> None:
    workers.register(function(code_dir, memory_mb=128))
    small = workers.invoke("local-TestFunction", {"do": "allocate", "mib": 1})
    assert small.error is None and small.peak_mib is not None and small.peak_mib < 128
    big = workers.invoke("local-TestFunction", {"do": "allocate", "mib": 200})
    assert big.error is not None and big.error["errorType"] == "Runtime.OutOfMemory"
    assert big.peak_mib is not None and big.peak_mib > 200
    # The peak is per invocation: the next small one is measured small again.
    again = workers.invoke("local-TestFunction", {"do": "allocate", "mib": 1})
    assert again.error is None and again.peak_mib is not None and again.peak_mib < 128


def test_invocations_run_side_by_side_in_separate_processes(
    workers: LambdaWorkers, code_dir: Path
) -> None:
    workers.register(function(code_dir))
    answers: list[dict[str, float]] = []

    def invoke() -> None:
        answers.append(workers.invoke("local-TestFunction", {"do": "sleep", "seconds": 1}).payload)

    threads = [threading.Thread(target=invoke) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len({a["pid"] for a in answers}) == 3
    # Each ran while the others were running: every start came before every end.
    assert max(a["began"] for a in answers) < min(a["ended"] for a in answers)


def test_a_warm_worker_keeps_its_module_state_between_invocations(
    workers: LambdaWorkers, code_dir: Path
) -> None:
    workers.register(function(code_dir))
    first = workers.invoke("local-TestFunction", {"do": "remember", "value": "a"}).payload
    second = workers.invoke("local-TestFunction", {"do": "remember", "value": "b"}).payload
    assert (first["first"], second["first"]) == ("a", "a")  # a warm container
    assert 0 < second["remaining"] <= 5000


def test_the_function_gets_its_own_environment_and_lambdas_variables(
    workers: LambdaWorkers, code_dir: Path
) -> None:
    workers.register(function(code_dir, memory_mb=192, TABLE="exports"))
    names = [
        "TABLE",
        "AWS_LAMBDA_FUNCTION_NAME",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
        "PYTEST_CURRENT_TEST",
    ]
    answer = workers.invoke("local-TestFunction", {"do": "env", "names": names}).payload
    assert answer == {
        "TABLE": "exports",
        "AWS_LAMBDA_FUNCTION_NAME": "local-TestFunction",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "192",
        "PYTEST_CURRENT_TEST": None,  # nothing of this process leaks in
    }


def test_the_handlers_output_reaches_the_log_sink_before_the_answer(
    workers: LambdaWorkers, code_dir: Path
) -> None:
    workers.register(function(code_dir))
    workers.log_sink = io.StringIO()
    for n in range(20):
        workers.invoke("local-TestFunction", {"do": "print", "n": n})
        assert f'"n": {n}}}' in workers.log_sink.getvalue()


def test_a_redeployed_function_with_another_environment_gets_new_workers(
    workers: LambdaWorkers, code_dir: Path
) -> None:
    workers.register(function(code_dir, TABLE="one"))
    before = workers.invoke("local-TestFunction", {"do": "env", "names": ["TABLE"]}).payload
    workers.register(function(code_dir, TABLE="two"))
    after = workers.invoke("local-TestFunction", {"do": "env", "names": ["TABLE"]}).payload
    assert (before, after) == ({"TABLE": "one"}, {"TABLE": "two"})


def test_a_redeployed_environment_reloads_the_functions_modules_in_the_warm_worker(
    workers: LambdaWorkers, code_dir: Path
) -> None:
    workers.register(function(code_dir, TABLE="one"))
    first = workers.invoke("local-TestFunction", {"do": "remember", "value": "a"}).payload
    workers.register(function(code_dir, TABLE="two"))
    after = workers.invoke("local-TestFunction", {"do": "remember", "value": "b"}).payload
    assert (first["first"], after["first"]) == ("a", "b")  # the module was imported afresh
    assert workers.invoke("local-TestFunction", {"do": "env", "names": ["TABLE"]}).payload == {
        "TABLE": "two"
    }


LOGGING_HANDLER = """
from aws_lambda_powertools import Logger

logger = Logger()

def handler(event, context):
    logger.info("hello")
    return {}
"""


def test_a_redeploy_configures_the_functions_logger_afresh(
    workers: LambdaWorkers, tmp_path: Path
) -> None:
    # A re-imported Powertools Logger would reuse the first deployment's configuration (its
    # formatter, so its redaction, and its service name) unless the worker forgets it.
    (tmp_path / "app.py").write_text(LOGGING_HANDLER)
    sink = io.StringIO()
    workers.log_sink = sink
    workers.register(function(tmp_path, POWERTOOLS_SERVICE_NAME="first"))
    assert workers.invoke("local-TestFunction", {}).error is None
    workers.register(function(tmp_path, POWERTOOLS_SERVICE_NAME="second"))
    assert workers.invoke("local-TestFunction", {}).error is None

    services = [json.loads(line)["service"] for line in sink.getvalue().splitlines() if line]
    assert services == ["first", "second"]
