"""One bash session a doc's commands run in, one after another, like a reader's terminal.

Variables a command exports stay for the next ones. `make serve` is started in the background
(its own process group, its terminal output kept in a file), as a reader starts it in a second
terminal; the session stops every server it started when it closes.
"""

from __future__ import annotations

import contextlib
import os
import queue
import secrets
import signal
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from types import TracebackType

ROOT = Path(__file__).resolve().parents[2]


class CommandTimeout(AssertionError):
    pass


class ShellSession:
    def __init__(self, timeout: float = 120.0) -> None:
        self.timeout = timeout
        self._work = Path(tempfile.mkdtemp(prefix="doc-session-"))
        self._marker = f"__DOC_STEP_DONE_{secrets.token_hex(8)}__"
        # A reader's terminal: none of this suite's AWS, token or make settings (a `make` run
        # inside `make test` would otherwise say which directory it enters), and the local
        # stack's logs in .local/logs, where the docs read them.
        environment = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("AWS_", "API_", "SLACK_", "MAKE", "MFLAGS", "LOCAL_STACK_"))
        }
        environment.update(LANG="C.UTF-8", LC_ALL="C.UTF-8", TERM="dumb", COLUMNS="200")
        self._process = subprocess.Popen(
            ["bash", "--noprofile", "--norc"],  # noqa: S607 (the reader's shell)
            cwd=ROOT,
            env=environment,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            encoding="utf-8",
            errors="replace",
            start_new_session=True,
        )
        self._lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        self.servers: list[Server] = []

    # -- commands ------------------------------------------------------------------------

    def run(self, command: str, timeout: float | None = None) -> tuple[str, int]:
        """The command's output (stdout and stderr, as a terminal shows them) and exit code."""
        assert self._process.stdin is not None
        self._process.stdin.write(f"{command}\nprintf '%s %d\\n' {self._marker} $?\n")
        self._process.stdin.flush()
        output: list[str] = []
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            try:
                line = self._lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise CommandTimeout(
                    f"still running after {timeout or self.timeout:g} s: {command}\n"
                    + "".join(output)
                ) from None
            if line is None:
                raise AssertionError(f"the shell exited during: {command}\n" + "".join(output))
            if self._marker in line:
                before, _, code = line.partition(self._marker)
                output.append(before)
                return "".join(output), int(code.split()[0])
            output.append(line)

    def start_server(self, command: str) -> Server:
        """Run `command` (a `make serve`) in the background, as in a second terminal."""
        index = len(self.servers)
        script = self._work / f"server-{index}.sh"
        script.write_text(command + "\n")
        log = self._work / f"server-{index}.log"
        output, code = self.run(f"setsid bash {script} > {log} 2>&1 < /dev/null & echo $!")
        assert code == 0, output
        server = Server(int(output.strip()), log)
        self.servers.append(server)
        return server

    # -- plumbing -------------------------------------------------------------------------

    def _read(self) -> None:
        assert self._process.stdout is not None
        for line in self._process.stdout:
            self._lines.put(line)
        self._lines.put(None)

    def close(self) -> None:
        for server in self.servers:
            server.stop()
        if self._process.poll() is None:
            os.killpg(self._process.pid, signal.SIGKILL)
            self._process.wait(timeout=10)

    def __enter__(self) -> ShellSession:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class Server:
    """A `make serve` the session started: its process group and what it printed."""

    def __init__(self, pid: int, log: Path) -> None:
        self.pid = pid
        self.log = log

    def printed(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def alive(self) -> bool:
        """Whether its process group still has a member (the group exists only once setsid
        ran, so the leader itself counts too)."""
        for check in (os.killpg, os.kill):
            try:
                check(self.pid, 0)
            except ProcessLookupError:
                continue
            return True
        return False

    def wait_for(self, ready: str, timeout: float = 90.0) -> str:
        """What the server printed once `ready` appears in it (or it exits, or time runs out)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.printed()
            if ready in text or not self.alive():
                return text
            time.sleep(0.1)
        return self.printed()

    def stop(self) -> None:
        """Ctrl-C, as a reader stops it; then make sure."""
        if not self.alive():
            return
        self._signal(signal.SIGINT)
        deadline = time.monotonic() + 15
        while self.alive() and time.monotonic() < deadline:
            time.sleep(0.1)
        if self.alive():
            self._signal(signal.SIGKILL)

    def _signal(self, number: int) -> None:
        try:
            os.killpg(self.pid, number)
        except ProcessLookupError:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, number)
