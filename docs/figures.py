"""Regenerate the documentation's figures: every file in docs/figures/ is made by one step below.

    python docs/figures.py --list                 # each figure, the step that makes it, about how long
    python docs/figures.py                        # all of them (about an hour on 2 cores)
    python docs/figures.py losses.png report.png  # only the steps that make these

Each step runs the script that also writes the numbers its page quotes, so a figure and its numbers
come from the same run (tests/test_docs_figures.py checks that every figure a page shows, and every
file in docs/figures/, belongs to a step here).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent


@dataclass(frozen=True)
class Step:
    name: str
    makes: tuple[str, ...]
    about: str
    commands: tuple[tuple[str, ...], ...]  # "{python}" and "{tmp}" are filled in


STEPS = [
    Step("guide", ("losses.png", "samples.png", "ganlab.png", "ganlab.gif", "report.png"), "15 s",
         (("{python}", "docs/build.py"),)),
    Step("chapter-plus", tuple(f"chapter-plus-stage{k}.png" for k in range(1, 6)), "20-40 min",
         (("{python}", "docs/chapter_plus.py"),)),
    Step("lab", ("lab-laptop.png", "lab-phone.png"), "1 min",
         (("{python}", "docs/lab_screenshots.py"),)),
    Step("shapes", ("shapes-conditional-translation.png",), "25 min",
         (("{python}", "benchmarks/shapes.py", "{tmp}/shapes"),
          ("{gankit}", "train", "--data", "folder:{tmp}/shapes", "--model", "dcgan", "--augment", "translation",
           "--set", "model.conditional=true", "--set", "model.g_width=32", "--set", "model.d_width=32",
           "--epochs", "300", "--seed", "0", "--out", "{tmp}/run", "--no-plots"),
          ("{python}", "benchmarks/shapes.py", "--score", "{tmp}/run",
           "--grid", "docs/figures/shapes-conditional-translation.png"))),
]


def owner(figure: str) -> Step | None:
    return next((step for step in STEPS if figure in step.makes), None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("figures", nargs="*", help="file names in docs/figures/ (default: all)")
    parser.add_argument("--list", action="store_true", help="print each figure and its step, then stop")
    args = parser.parse_args()
    if args.list:
        for step in STEPS:
            print(f"{step.name:13s} {step.about:>10s}  {' '.join(step.makes)}")
        return
    unknown = [f for f in args.figures if owner(f) is None]
    if unknown:
        print(f"docs/figures.py: no step makes {', '.join(unknown)} (see --list)", file=sys.stderr)
        sys.exit(2)
    steps = [s for s in STEPS if not args.figures or any(f in s.makes for f in args.figures)]
    gankit = str(Path(sys.executable).with_name("gankit"))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    for step in steps:
        print(f"== {step.name} (about {step.about}): {' '.join(step.makes)}", flush=True)
        with tempfile.TemporaryDirectory() as tmp:
            for command in step.commands:
                argv = [a.format(python=sys.executable, gankit=gankit, tmp=tmp) for a in command]
                subprocess.run(argv, cwd=ROOT, env=env, check=True)


if __name__ == "__main__":
    main()
