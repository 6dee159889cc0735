"""An embedded AWS: a moto server in this process, executing state machines for real.

boto3 everywhere in the process (handlers included) reaches it through AWS_ENDPOINT_URL;
moto's Step Functions engine calls Lambda on the same server, where `LambdaWorkers`
runs the real handlers. No Docker, no account, no network beyond loopback.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from typing import Any

import boto3
import urllib3

from .aws_calls import AwsCallLog
from .aws_faults import AwsFaults

REGION = "us-east-1"
ACCOUNT_ID = "123456789012"  # moto's default account


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class EmbeddedAws:
    """Start once per process; `reset()` empties every service between runs."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self._server: Any = None
        # One-shot AWS errors for fault tests, played in front of moto (see aws_faults).
        self.faults = AwsFaults()
        # Every call a Lambda worker makes, judged against its function's policy (aws_calls).
        self.calls = AwsCallLog()
        self._clients: dict[str, Any] = {}
        self._lock = threading.Lock()

    def start(self) -> EmbeddedAws:
        # Before moto is imported: it reads some settings at import time.
        os.environ.update(
            {
                "MOTO_PORT": str(self.port),
                "AWS_ENDPOINT_URL": self.endpoint,
                "AWS_ACCESS_KEY_ID": "local",
                "AWS_SECRET_ACCESS_KEY": "local",
                "AWS_SESSION_TOKEN": "local",
                "AWS_REGION": REGION,
                "AWS_DEFAULT_REGION": REGION,
            }
        )
        for noisy in ("werkzeug", "moto", "botocore.credentials"):
            logging.getLogger(noisy).setLevel(logging.ERROR)
        # moto's ASL engine logs every Fail state it runs as an error: that is our normal
        # failure path, not a fault of the local stack.
        logging.getLogger("moto.stepfunctions.parser").setLevel(logging.CRITICAL)

        from .moto_hooks import start_server

        self._server = start_server(
            self.port, wrap=lambda app: self.calls.wrap(self.faults.wrap(app))
        )
        return self

    def client(self, service: str) -> Any:
        with self._lock:
            if service not in self._clients:
                self._clients[service] = boto3.client(  # type: ignore[call-overload]
                    service, region_name=REGION, endpoint_url=self.endpoint
                )
            return self._clients[service]

    def reset(self) -> None:
        """Forget every resource (moto's reset API) and queued faults; the server stays."""
        self.faults.clear()
        urllib3.request("POST", f"{self.endpoint}/moto-api/reset", timeout=10)

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None

    def __enter__(self) -> EmbeddedAws:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
