"""The docs, run as written: every shell transcript of the README and the guides is executed
in a fresh shell against `make serve` / `make run`, and what each command prints is compared
with what the doc shows. A doc that drifts from the code fails `make test`.

How the docs are written for it (tests/docs/markdown_blocks.py has the details):

- ```` ```console ```` blocks are transcripts (`$ command`, `> continuation`, then output). In
  shown output, `...` stands for anything (doctest's ELLIPSIS, across lines too); example
  timestamps (`2026-11-29T19:24:14.973Z`), dates in S3 keys and ids written with `XXXX`
  (`axp_XXXX`) match any value. Whitespace runs compare equal. A command that fails must show
  its exit code as a last line `[N]`.
- `make serve` is started in the background, as in a second terminal, and the lines shown under
  it are its banner. Port 8787 in a doc is replaced by a free port for the run.
- ```` ```text server ```` blocks are lines the server's terminal must show (each matched
  against some printed line, waiting up to 30 s).
- Other shell blocks carry `<!-- not run: reason -->` (AWS deploys, Slack's UI): listed by
  `test_every_shell_block_runs_or_says_why_not`.
"""

from __future__ import annotations

import doctest
import re
import socket
import subprocess
import time
from pathlib import Path

import pytest

from tests.docs.markdown_blocks import SHELL_LANGUAGES, Block, blocks, steps
from tests.docs.shell_session import ROOT, Server, ShellSession

pytestmark = pytest.mark.e2e

DOCS = [
    ROOT / "README.md",
    ROOT / "docs" / "zapier.md",
    ROOT / "docs" / "slack.md",
    ROOT / "docs" / "schedules.md",
    ROOT / "docs" / "security.md",
    ROOT / "docs" / "reliability.md",
    ROOT / "docs" / "analytics.md",
]
DOC_PORT = "8787"
_CHECKER = doctest.OutputChecker()
_FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
# Example values a doc shows that can never come out the same: matched as `...`.
_VARYING = [
    re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z"),  # timestamps
    re.compile(r"(?<=date=)\d{4}-\d\d-\d\d"),  # the date partition of an S3 key
    re.compile(r"X{4,}\w*"),  # ids written as axp_XXXX
]
_SERVER_READY = "Then try:"


def free_port() -> str:
    """A free port outside the range the OS hands out on its own (32768 and up), so that no
    server the doc starts can take it first."""
    for port in range(20_000 + int(time.time()) % 5000, 30_000):
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return str(port)
    raise RuntimeError("no free port between 20000 and 30000")


def expected_text(lines: list[str], port: str) -> str:
    text = "\n".join(lines).replace(DOC_PORT, port)
    for pattern in _VARYING:
        text = pattern.sub("...", text)
    return text + "\n" if text.strip() else ""


def matches(want: str, got: str) -> bool:
    if not want:
        return got.strip() == ""
    return _CHECKER.check_output(want, got if got.endswith("\n") else got + "\n", _FLAGS)


def failure(block: Block, command: str, want: str, got: str, note: str = "") -> str:
    return (
        f"{block.where}: the doc's command printed something else{note}\n"
        f"$ {command}\n--- the doc shows\n{want}--- it printed\n{got}"
    )


def run_console_block(block: Block, session: ShellSession, port: str) -> None:
    for step in steps(block):
        command = step.command.replace(DOC_PORT, port)
        want_lines = list(step.expected)
        code = 0
        if want_lines and re.fullmatch(r"\[\d+\]", want_lines[-1].strip()):
            code = int(want_lines.pop().strip()[1:-1])
        want = expected_text(want_lines, port)
        if re.search(r"\bmake serve\b", command):
            start_server(block, session, with_port(command, port), want)
            continue
        got, status = session.run(command)
        assert matches(want, got), failure(block, command, want, got)
        assert status == code, failure(block, command, want, got, f" (exit code {status})")


def with_port(command: str, port: str) -> str:
    """`make serve` on the run's port: the doc's 8787 was replaced already; the default is
    8787 too, so a command without --port gets one."""
    if "--port" in command:
        return command
    if 'ARGS="' in command:
        return command.replace('ARGS="', f'ARGS="--port {port} ', 1)
    return f'{command} ARGS="--port {port}"'


def start_server(block: Block, session: ShellSession, command: str, want: str) -> None:
    """Start it as in a second terminal, check its banner, then do what the banner says:
    paste its `export` lines into the doc's terminal."""
    server = session.start_server(command)
    printed = server.wait_for(_SERVER_READY)
    banner = printed.split("\n\n" + _SERVER_READY)[0] + "\n"
    assert matches(want, banner), failure(block, command, want, printed)
    for line in banner.splitlines():
        if line.strip().startswith("export "):
            output, code = session.run(line.strip())
            assert (output, code) == ("", 0), f"{block.where}: pasting {line!r} failed: {output}"


def check_server_block(block: Block, session: ShellSession, port: str) -> None:
    assert session.servers, f"{block.where}: no server was started before this block"
    server: Server = session.servers[-1]
    wanted = [expected_text([line], port) for line in block.lines if line.strip()]
    deadline = time.monotonic() + 30
    missing = wanted
    while missing and time.monotonic() < deadline:
        printed = server.printed().splitlines()
        missing = [w for w in wanted if not any(matches(w, line) for line in printed)]
        if missing:
            time.sleep(0.5)
    assert not missing, (
        f"{block.where}: the server never printed\n{''.join(missing)}"
        f"--- it printed\n{server.printed()}"
    )


@pytest.mark.parametrize("doc", DOCS, ids=lambda path: path.name)
def test_the_doc_runs_as_written(doc: Path) -> None:
    port = free_port()
    with ShellSession() as session:
        for block in blocks(doc):
            if block.not_run is not None:
                continue
            if block.language == "console":
                run_console_block(block, session, port)
            elif block.language == "text" and "server" in block.tags:
                check_server_block(block, session, port)


def test_every_shell_block_runs_or_says_why_not() -> None:
    unmarked = [
        block.where
        for doc in DOCS
        for block in blocks(doc)
        if block.language in SHELL_LANGUAGES - {"console"} and block.not_run is None
    ]
    assert unmarked == [], (
        "write these as ```console transcripts, or mark them <!-- not run: reason -->"
    )


def test_not_runnable_blocks_are_few_and_say_why() -> None:
    marked = [(b.where, b.not_run) for doc in DOCS for b in blocks(doc) if b.not_run]
    ran = [b for doc in DOCS for b in blocks(doc) if b.language == "console" and not b.not_run]
    assert all(reason and len(reason) > 10 for _, reason in marked), marked
    assert len(marked) < len(ran), (marked, len(ran))


def test_no_tracked_file_names_a_machine_specific_path() -> None:
    tracked = subprocess.run(
        ["git", "ls-files"],  # noqa: S607
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    pattern = re.compile(r"/work/|/home/\w|/root/|/Users/\w|/tmp/doc-session")
    found = []
    for name in tracked:
        path = ROOT / name
        if path.suffix in {".png", ".gz", ".zip"} or not path.is_file():
            continue
        for number, line in enumerate(path.read_text(errors="ignore").splitlines(), 1):
            if pattern.search(line) and "pattern = re.compile" not in line:
                found.append(f"{name}:{number}: {line.strip()}")
    assert found == []
