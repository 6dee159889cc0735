"""The fenced code blocks of a Markdown document, and what the doc tests make of them.

Conventions the docs follow (docs/README of the suite: tests/docs/test_docs_run.py):

- ```` ```console ```` is a shell transcript: `$ ` starts a command, `> ` continues it, every
  other line is the output the command must print. It is run.
- ```` ```text server ```` lists lines the local server (`make serve`) prints in its terminal;
  they are looked for in its output.
- Any other shell block (`sh`, `bash`, `shell`) must be preceded by a
  `<!-- not run: <reason> -->` comment (an AWS deploy, Slack's own UI): few, each with a reason.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

SHELL_LANGUAGES = frozenset({"console", "sh", "bash", "shell", "zsh"})
_FENCE = re.compile(r"^(?P<indent> *)(?P<fence>```+)(?P<info>.*)$")
_NOT_RUN = re.compile(r"<!--\s*not run:\s*(?P<reason>.+?)\s*-->")


@dataclass(frozen=True)
class Block:
    path: Path
    line: int  # 1-based line of the opening fence
    language: str
    tags: tuple[str, ...]
    lines: tuple[str, ...]
    not_run: str | None = None  # the reason given in a `<!-- not run: ... -->` mark

    @property
    def where(self) -> str:
        return f"{self.path.name}:{self.line}"


@dataclass
class Step:
    """One command of a console block and the output the doc shows for it."""

    command: str
    expected: list[str] = field(default_factory=list)


def blocks(path: Path) -> list[Block]:
    """Every fenced block of `path`, in order."""
    found: list[Block] = []
    lines = path.read_text().splitlines()
    index = 0
    while index < len(lines):
        opening = _FENCE.match(lines[index])
        if not opening:
            index += 1
            continue
        indent, fence = len(opening["indent"]), opening["fence"]
        words = opening["info"].split()
        body: list[str] = []
        close = index + 1
        while close < len(lines) and lines[close].strip() != fence:
            body.append(lines[close][indent:] if lines[close][:indent].isspace() else lines[close])
            close += 1
        found.append(
            Block(
                path=path,
                line=index + 1,
                language=words[0].lower() if words else "",
                tags=tuple(words[1:]),
                lines=tuple(body),
                not_run=_mark_before(lines, index),
            )
        )
        index = close + 1
    return found


def steps(block: Block) -> list[Step]:
    """The commands of a console block, each with the output shown after it."""
    found: list[Step] = []
    for line in block.lines:
        if line.startswith("$ "):
            found.append(Step(line[2:]))
        elif line.startswith("> ") and found and not found[-1].expected:
            found[-1].command += "\n" + line[2:]
        elif found:
            found[-1].expected.append(line)
        elif line.strip():
            raise ValueError(f"{block.where}: output before any `$ ` command: {line!r}")
    return found


def _mark_before(lines: list[str], fence_index: int) -> str | None:
    """The reason of a `<!-- not run: ... -->` comment right above a fence (blank lines
    between them allowed)."""
    index = fence_index - 1
    while index >= 0 and not lines[index].strip():
        index -= 1
    if index < 0:
        return None
    found = _NOT_RUN.search(lines[index])
    return found["reason"] if found else None
