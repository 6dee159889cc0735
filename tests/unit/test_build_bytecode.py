"""`make build` ships bytecode that Lambda uses as it is (benchmarks/cold_start.py's default
figure assumes it): sam build leaves out __pycache__, Lambda's /opt and /var/task are
read-only, and sam deploy's zip dates every file 1980, so only .pyc files compiled after sam
build and checked against nothing but themselves save a cold start its compiling.

No sam build here (it needs python3.13 and the network): what make would run, and what that
compile step writes, with this interpreter.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BUILD_OUTPUT = ".aws-sam/build"


def build_recipe() -> list[list[str]]:
    """The commands `make build` would run, as words (`make -n`: printed, never run)."""
    if shutil.which("make") is None:
        pytest.skip("no make on PATH")
    # Without the outer make's variables (make test runs pytest), which would change the output.
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS")}
    run = subprocess.run(
        ["make", "--no-print-directory", "-n", "build"],  # noqa: S607 (make from PATH)
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return [shlex.split(line) for line in run.stdout.splitlines() if line.strip()]


def _index(recipe: list[list[str]], found: str) -> int:
    matches = [i for i, words in enumerate(recipe) if found in " ".join(words)]
    assert matches, f"make build runs no {found!r}: {recipe}"
    return matches[-1]


def compile_step(recipe: list[list[str]]) -> list[str]:
    return recipe[_index(recipe, "-m compileall")]


def test_make_build_compiles_what_sam_build_wrote_with_unchecked_hashes() -> None:
    recipe = build_recipe()
    step = compile_step(recipe)

    assert _index(recipe, "sam build") < _index(recipe, "-m compileall")
    # The runtime's interpreter, so the files get its cpython-313 names.
    assert step[0] == "python3.13"
    assert step[-1] == BUILD_OUTPUT
    assert step[step.index("--invalidation-mode") + 1] == "unchecked-hash"


def test_the_compiled_bytecode_is_used_whatever_the_sources_dates(tmp_path: Path) -> None:
    """The compile step's .pyc files are run without a look at their sources: a source dated
    1980 (as the deployment zip dates it) and since changed still runs the compiled code."""
    module = tmp_path / BUILD_OUTPUT / "Function" / "shipped.py"
    module.parent.mkdir(parents=True)
    module.write_text('WHAT_RAN = "the compiled bytecode"\n')
    step = compile_step(build_recipe())
    subprocess.run(  # noqa: S603 (this interpreter, the Makefile's arguments)
        [sys.executable, *step[1:]], cwd=tmp_path, check=True, capture_output=True
    )

    [compiled] = (module.parent / "__pycache__").glob("shipped.*.pyc")
    assert int.from_bytes(compiled.read_bytes()[4:8], "little") == 0b01  # hash-based, unchecked
    module.write_text('WHAT_RAN = "the source"\n')
    os.utime(module, (315532800, 315532800))  # 1980-01-01, as sam deploy's zip has it
    run = subprocess.run(
        [sys.executable, "-B", "-c", "import shipped; print(shipped.WHAT_RAN)"],
        cwd=module.parent,
        env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
        capture_output=True,
        text=True,
        check=True,
    )
    assert run.stdout.strip() == "the compiled bytecode"
