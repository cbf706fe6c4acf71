"""Whole-process time: ``gankit train`` (defaults, chapter-plus, start-up included) vs ``benchmarks/baseline.py``.

Each command runs as a fresh subprocess (interpreter start, imports, training,
files and figures for gankit), ``--reps`` times, interleaved; prints the median
wall time of each and the ratios. gankit runs with its defaults (plots on) and
with ``--no-plots``, and so does ``--preset chapter-plus``, in a temporary working directory so its ``runs/`` goes there;
the baseline also with ``OMP_NUM_THREADS=1`` (faster on a busy machine), and
ratios are to the faster of the two baseline settings.

    python benchmarks/whole_process.py [--reps 5]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import machine_line  # noqa: E402

HERE = Path(__file__).resolve().parent


def gankit_command() -> list[str]:
    exe = shutil.which("gankit", path=str(Path(sys.executable).parent)) or shutil.which("gankit")
    return [exe] if exe else [sys.executable, "-m", "gankit"]


def timed(command: list[str], cwd: str, env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, check=True, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   env={**os.environ, **env})
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=5)
    args = parser.parse_args()
    print(machine_line())
    # name -> (command, extra environment). The baseline also runs with one torch thread:
    # on a busy 2-core machine that is much faster, and gankit is compared with the faster.
    baseline = [sys.executable, str(HERE / "baseline.py")]
    commands = {
        "python -c 'import torch'": ([sys.executable, "-c", "import torch"], {}),
        "python benchmarks/baseline.py": (baseline, {}),
        "OMP_NUM_THREADS=1 baseline.py": (baseline, {"OMP_NUM_THREADS": "1"}),
        "gankit train": (gankit_command() + ["train"], {}),
        "gankit train --no-plots": (gankit_command() + ["train", "--no-plots"], {}),
        "gankit train --preset chapter-plus": (gankit_command() + ["train", "--preset", "chapter-plus"], {}),
        "... chapter-plus --no-plots": (gankit_command() + ["train", "--preset", "chapter-plus", "--no-plots"], {}),
    }
    times: dict[str, list[float]] = {name: [] for name in commands}
    with tempfile.TemporaryDirectory() as cwd:
        for rep in range(args.reps):
            for name, (command, env) in commands.items():
                times[name].append(timed(command, cwd, env))
            print(f"rep {rep}: " + ", ".join(f"{k} {v[-1]:.2f} s" for k, v in times.items()), file=sys.stderr)
    median = {k: statistics.median(v) for k, v in times.items()}
    base = min(median["python benchmarks/baseline.py"], median["OMP_NUM_THREADS=1 baseline.py"])
    print(f"whole-process wall time, median of {args.reps} (ratios to the faster baseline and to `import torch`; issue 24 goals, to `import torch`: train "
          "<= 1.0x, --no-plots <= 0.5x, chapter-plus <= 2.0x):")
    torch_import = median["python -c 'import torch'"]
    print(f"  {'command':36s} {'median':>8s}   {'/baseline':>9s}   {'/import torch':>13s}")
    for name, value in median.items():
        print(f"  {name:36s} {value:6.2f} s   {value / base:8.2f}x   {value / torch_import:12.2f}x")
    print(machine_line())


if __name__ == "__main__":
    main()
