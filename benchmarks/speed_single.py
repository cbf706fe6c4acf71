"""Single-run speed: gankit's fast path vs the chapter's plain loop (and gankit's general loop).

The baseline runs twice per repetition, with torch's default threads and with
one (see _common.baseline_speeds); ratios use the faster of the two.

The default experiment (1000 points, batches of 8, 20 epochs), trained in this
one process, alternating the contenders so machine load hits them alike;
examples/sec counts the training steps only, as every side reports it. Prints
the median over ``--reps`` and the ratios. The issue asks fast/baseline >= 5.

    python benchmarks/speed_single.py [--reps 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import baseline_speeds, machine_line  # noqa: E402

from gankit import Config, train  # noqa: E402


def gankit_speed(engine: str, seed: int) -> float:
    config = Config()
    config.train.engine, config.train.seed = engine, seed
    result = train(config)
    assert result.summary["engine"] == engine
    return result.examples_per_sec


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=5)
    args = parser.parse_args()
    print(machine_line(), file=sys.stderr)
    speeds: dict[str, list[float]] = {"gankit fast": [], "gankit general": [], "baseline": [],
                                      "baseline 1 thread": []}
    for rep in range(args.reps):
        speeds["gankit fast"].append(gankit_speed("fast", rep))
        for name, value in baseline_speeds(rep).items():
            speeds[name].append(value)
        speeds["gankit general"].append(gankit_speed("general", rep))
        print(f"rep {rep}: " + ", ".join(f"{k} {v[-1]:.0f}" for k, v in speeds.items()), file=sys.stderr)
    median = {k: statistics.median(v) for k, v in speeds.items()}
    print(f"examples/sec, default experiment, median of {args.reps}:")
    for name, value in median.items():
        print(f"  {name:16s} {value:10.0f}")
    best = max(median["baseline"], median["baseline 1 thread"])
    print(f"fast / baseline (the faster of its two thread settings):    {median['gankit fast'] / best:.1f}x "
          "(issue: >= 5)")
    print(f"general / baseline (the faster of its two thread settings): {median['gankit general'] / best:.2f}x")
    print(f"fast / general:     {median['gankit fast'] / median['gankit general']:.1f}x")
    print(machine_line())


if __name__ == "__main__":
    main()
