"""Sweep speed: 1024 runs of the default experiment (20 epochs each) trained together.

Measures, in this one process: the baseline's single-run examples/sec (the
chapter's plain loop, median of ``--baseline-reps`` runs), then a sweep of
``--runs`` seeds through `gankit.engines.sweep.run_sweep` (no files), timing the whole
call (building every run, training, every run's diagnostics) and the training
alone. The issue asks: wall time < 60 s, aggregate >= 150x the baseline.

    python benchmarks/sweep_speed.py [--runs 1024] [--epochs 20]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import baseline_speeds, machine_line  # noqa: E402

from gankit import Config  # noqa: E402
from gankit.engines.sweep import run_sweep  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1024)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--baseline-reps", type=int, default=3)
    args = parser.parse_args()
    print(machine_line())

    before = [max(baseline_speeds(seed).values()) for seed in range(args.baseline_reps)]
    config = Config()
    config.train.epochs = args.epochs
    started = time.perf_counter()
    result = run_sweep(config, [], seeds=args.runs, progress=False)
    wall = time.perf_counter() - started
    after = [max(baseline_speeds(seed).values()) for seed in range(args.baseline_reps)]
    baseline = statistics.median(before + after)  # load may change while the sweep runs

    examples = result.examples
    print(f"sweep of {len(result.rows)} runs x {args.epochs} epochs ({examples} examples), engines {result.engines}")
    print(f"  wall time of run_sweep (build, train, diagnostics): {wall:.1f} s (issue: < 60 s)")
    print(f"  training alone: {result.seconds:.1f} s")
    print(f"  aggregate examples/sec, training alone:  {result.examples_per_sec:12.0f}")
    print(f"  aggregate examples/sec, whole wall time: {examples / wall:12.0f}")
    print(f"baseline single run: {baseline:.0f} examples/sec (median of runs before and after the sweep, "
          "each the faster of default threads and one thread)")
    print(f"ratio sweep/baseline, training alone:  {result.examples_per_sec / baseline:.0f}x (issue: >= 150)")
    print(f"ratio sweep/baseline, whole wall time: {examples / wall / baseline:.0f}x")
    print(machine_line())


if __name__ == "__main__":
    main()
