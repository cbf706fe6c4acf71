"""Peak memory: each contender in its own subprocess, its peak resident set size (ru_maxrss).

Contenders: the interpreter with torch imported (the floor), the chapter's
plain loop, gankit's fast path and general loop on the default experiment, and
a 1024-run sweep (20 epochs). Prints each peak and its ratio to the baseline's.

    python benchmarks/memory.py [--runs 1024]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
PEAK = "import resource; print('PEAK_KB', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)"

CODE = {
    "import torch only": "import torch",
    "baseline (chapter's loop)": f"import sys; sys.path.insert(0, {str(HERE)!r}); "
                                 "from baseline import train_baseline; train_baseline(0)",
    "gankit fast path": "from gankit import Config, train; c = Config(); c.train.engine = 'fast'; train(c)",
    "gankit general loop": "from gankit import Config, train; c = Config(); c.train.engine = 'general'; train(c)",
    "gankit sweep, {runs} runs": "from gankit import Config; from gankit.engines.sweep import run_sweep; "
                                 "run_sweep(Config(), [], seeds={runs}, progress=False)",
}


def peak_kb(code: str) -> int:
    out = subprocess.run([sys.executable, "-c", f"{code}\n{PEAK}"], check=True, capture_output=True, text=True)
    return int(out.stdout.split("PEAK_KB")[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1024)
    args = parser.parse_args()
    peaks = {name.format(runs=args.runs): peak_kb(code.format(runs=args.runs)) for name, code in CODE.items()}
    base = peaks["baseline (chapter's loop)"]
    print("peak resident memory (ru_maxrss of each subprocess)")
    for name, kb in peaks.items():
        print(f"  {name:28s} {kb / 1024:8.1f} MiB   {kb / base:5.2f}x baseline")
    floor = peaks["import torch only"]
    print(f"above the torch-import floor: baseline {(base - floor) / 1024:.1f} MiB, "
          f"fast path {(peaks['gankit fast path'] - floor) / 1024:.1f} MiB")


if __name__ == "__main__":
    main()
