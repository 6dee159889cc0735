"""What `make run` and `make serve` share: the flags about lemlist, the stack they stand up
(with the simulator or a real lemlist, local webhook targets, handler logs in a file)."""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from lemlist_export.core.errors import ExportError
from lemlist_export.core.url_judge import LOCAL_URLS

from .deploy import PROJECT_ROOT
from .lemlist_simulator import LemlistSimulator
from .stack import LocalStack, StackOptions
from .webhook_receiver import LocalNotificationTargets

LOG_DIR = PROJECT_ROOT / ".local" / "logs"
# The test-suite gives its own runs another directory (pytest-xdist workers run make run and
# make serve side by side; the docs' sessions read the newest log in LOG_DIR, as a user would).
LOG_DIR_VARIABLE = "LOCAL_STACK_LOG_DIR"


def log_dir() -> Path:
    return Path(os.environ.get(LOG_DIR_VARIABLE) or LOG_DIR)


class UsageError(Exception):
    """A flag or its value is wrong: say which and how to fix it."""


def check_lemlist_arguments(args: argparse.Namespace) -> str:
    """The lemlist API key to use; UsageError for flags that do not go together."""
    api_key = args.api_key or os.environ.get("LEMLIST_API_KEY", "")
    if args.lemlist_url:
        try:
            LOCAL_URLS.judge(args.lemlist_url, "The lemlist URL")
        except ExportError as exc:
            raise UsageError(f"--lemlist-url: {exc}") from None
        if not api_key:
            raise UsageError("--lemlist-url needs --api-key KEY (or LEMLIST_API_KEY)")
    if args.poll_seconds is not None and args.poll_seconds < 0:
        raise UsageError("--poll-seconds must be 0 or more")
    return api_key


def poll_parameters(seconds: int | None, *, simulated: bool) -> dict[str, str]:
    # The simulator finishes in a few checks: look every second. Real lemlist: its advice.
    if seconds is None and simulated:
        seconds = 1
    if seconds is None:
        return {}
    return {
        "PollFirstWaitSeconds": str(seconds),
        "PollIntervalSeconds": str(seconds),
        "PollMaxIntervalSeconds": str(seconds),
    }


@contextlib.contextmanager
def running_stack(
    args: argparse.Namespace, api_key: str, purpose: str, **options: Any
) -> Iterator[tuple[LocalStack, LocalServices, Path]]:
    """The stack deployed against the chosen lemlist, its handlers logging to a file."""
    directory = log_dir()
    directory.mkdir(parents=True, exist_ok=True)
    log_path = directory / f"{purpose}-{time.strftime('%Y%m%d-%H%M%S')}.log"
    with log_path.open("w") as log, stdout_to(log), local_services(args, api_key) as services:
        stack = LocalStack(
            StackOptions(
                lemlist_api_url=services.lemlist_url,
                lemlist_api_key=services.api_key,
                notifications=services.targets.notifications(),
                parameters=poll_parameters(args.poll_seconds, simulated=services.simulated),
                **options,
            )
        ).start()
        yield stack, services, log_path


@contextlib.contextmanager
def stdout_to(log: TextIO) -> Iterator[None]:
    """Handlers print JSON logs and metrics to stdout, as in Lambda; here they go to a file."""
    with contextlib.redirect_stdout(log):
        yield


@dataclass(frozen=True)
class LocalServices:
    lemlist_url: str
    api_key: str
    simulated: bool
    targets: LocalNotificationTargets


@contextlib.contextmanager
def local_services(args: argparse.Namespace, api_key: str) -> Iterator[LocalServices]:
    """The lemlist to talk to (the simulator unless --lemlist-url) and local webhook targets."""
    targets = LocalNotificationTargets().start()
    simulator = None
    try:
        if args.lemlist_url:
            yield LocalServices(args.lemlist_url, api_key, False, targets)
        else:
            key = api_key or f"sim_{secrets.token_urlsafe(16)}"
            simulator = LemlistSimulator(api_key=key).start()
            yield LocalServices(simulator.base_url, key, True, targets)
    finally:
        if simulator is not None:
            simulator.stop()
        targets.stop()


def shown_path(path: Path) -> str:
    """A path as the user can type it: relative to the working directory when under it."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)
