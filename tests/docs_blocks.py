"""The code blocks of the documentation, read and run as a reader would run them.

Every fenced block in README.md and docs/ names its language. ``bash`` and ``python`` blocks are run,
in page order, in one scratch directory per page (so a later block can use an earlier block's run);
``text`` blocks are output and are not. A page changes how a block is run only through comments on the
lines just above it, which the rendered page does not show:

    <!-- docs-test: replace "--epochs 300" "--epochs 2" -->   run it smaller (the page says so in prose)
    <!-- docs-test: before "gankit train --out runs/mine" --> a step the block assumes was done
    <!-- docs-test: exit 2 -->                                the block is meant to fail, with this status
    <!-- docs-test: path tests/standins -->                   a folder of the repository put first on the
                                                              Python path (a stand-in for what cannot be
                                                              installed beside this torch, e.g. torchvision)
    <!-- docs-test: not run (KIND) why -->                    KIND is one of NOT_RUN's, nothing else

so what is skipped is named, counted and limited to what a test process cannot do.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RUN = {"bash", "python"}
SHOWN = {"text"}
NOT_RUN = {
    "set-up": "creates a virtual environment and installs: CI runs the README's set-up command on a fresh clone",
    "download": "downloads a named set from its publisher: tests/test_named_data.py serves the real formats locally",
    "server": "serves until stopped: tests/test_lab*.py start it and drive it in Chromium",
}
_FENCE = re.compile(r"^```(\S*)[^\n]*\n(.*?)^```[ \t]*$", re.M | re.S)
_DIRECTIVE = re.compile(r"^<!-- docs-test: (.*?) -->[ \t]*$")


@dataclass
class Block:
    page: str
    line: int
    language: str
    code: str
    replace: list[tuple[str, str]] = field(default_factory=list)
    before: list[str] = field(default_factory=list)
    exit: int = 0
    path: list[str] = field(default_factory=list)
    not_run: str | None = None  # a NOT_RUN kind

    @property
    def where(self) -> str:
        return f"{self.page}:{self.line}"

    def runnable(self) -> str:
        code = self.code
        for old, new in self.replace:
            if old not in code:
                raise ValueError(f"{self.where}: replace {old!r}: not in the block")
            code = code.replace(old, new)
        return code


def blocks(text: str, page: str = "<page>") -> list[Block]:
    """Every fenced block of a Markdown text with the directives just above it."""
    found = []
    for match in _FENCE.finditer(text):
        line = text.count("\n", 0, match.start()) + 1
        block = Block(page, line, match.group(1), match.group(2))
        above = text[:match.start()].splitlines()
        while above and (directive := _DIRECTIVE.match(above[-1])):
            words = directive.group(1)
            above.pop()
            if words.startswith("replace "):
                old, new = shlex.split(words[len("replace "):])
                block.replace.insert(0, (old, new))
            elif words.startswith("before "):
                block.before.insert(0, shlex.split(words[len("before "):])[0])
            elif words.startswith("path "):
                block.path.append(str(ROOT / words.split()[1]))
            elif words.startswith("exit "):
                block.exit = int(words.split()[1])
            elif m := re.match(r"not run \(([\w-]+)\) \S", words):
                if m.group(1) not in NOT_RUN:
                    raise ValueError(f"{block.where}: 'not run ({m.group(1)})' is not one of {sorted(NOT_RUN)}")
                block.not_run = m.group(1)
            else:
                raise ValueError(f"{block.where}: unknown directive {words!r}")
        found.append(block)
    return found


def pages() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def environment(scratch: Path) -> dict[str, str]:
    """`python` and `gankit` are this interpreter's (its bin folder first on PATH, as an activated
    environment has it); caches are the scratch directory's own."""
    scripts = Path(sys.executable).parent
    env = {**os.environ, "PATH": os.pathsep.join([str(scripts), os.environ.get("PATH", "")]),
           "GANKIT_DATA": str(scratch / ".data"), "GANKIT_CACHE": str(scratch / ".cache"),
           "MPLBACKEND": "Agg", "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT / "src"),
           "NO_MKDOCS_2_WARNING": "1", "VIRTUAL_ENV": str(scripts.parent)}
    env.pop("GANKIT_DATA_URL", None)
    return env


def prepare(scratch: Path) -> None:
    """The scratch directory sees the repository's scripts where the docs say they are."""
    for name in ("benchmarks", "docs", "examples", "constraints.txt"):
        if not (scratch / name).exists():
            (scratch / name).symlink_to(ROOT / name)


def run(block: Block, scratch: Path, timeout: float = 600) -> subprocess.CompletedProcess:
    """Run one block (after its `before` steps) in ``scratch``; raise AssertionError if it ends otherwise
    than the page says."""
    env = environment(scratch)
    env["PYTHONPATH"] = os.pathsep.join([*block.path, env["PYTHONPATH"]])
    for step in block.before:
        done = subprocess.run(["bash", "-euo", "pipefail", "-c", step], cwd=scratch, env=env,
                              capture_output=True, text=True, timeout=timeout)
        assert done.returncode == 0, f"{block.where}: before {step!r} failed:\n{done.stdout}{done.stderr}"
    code = block.runnable()
    command = ["bash", "-euo", "pipefail", "-c", code] if block.language == "bash" else [sys.executable, "-c", code]
    done = subprocess.run(command, cwd=scratch, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == block.exit, (
        f"{block.where}: exit {done.returncode}, the page expects {block.exit}\n--- code\n{code}\n"
        f"--- stdout\n{done.stdout[-3000:]}\n--- stderr\n{done.stderr[-3000:]}")
    return done
