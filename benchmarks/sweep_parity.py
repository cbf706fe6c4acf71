"""Is a run in a sweep the run trained alone? Two checks, in one process.

1. Draws: a sweep of ``--runs`` seeds for one epoch, then every seed trained
   alone (``train``, which takes the fast path) and the first ``--general``
   seeds trained alone with the general eager loop: the largest difference of
   any generator parameter (the issue asks < 1e-4).
2. Statistics: a sweep of ``--runs`` seeds for 20 epochs against
   ``--individual`` runs trained one by one with the general loop, on seeds
   the sweep does not use (so the two samples are independent). We judge
   "within sampling error" by a bootstrap (10,000 resamples of each sample)
   95% interval of the difference of the medians and of the 90th percentiles:
   the sweep matches if 0 lies inside both; a two-sample Kolmogorov-Smirnov
   test on the whole distributions is printed beside.

    python benchmarks/sweep_parity.py [--runs 1024] [--individual 100] [--general 64]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch
from scipy import stats

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import machine_line  # noqa: E402

from gankit import Config, train  # noqa: E402
from gankit.engines.sweep import run_sweep  # noqa: E402


def g_params(net) -> torch.Tensor:
    return torch.cat([p.detach().flatten() for p in net.parameters()])


def alone(seed: int, epochs: int, engine: str = "auto"):
    config = Config()
    config.train.seed, config.train.epochs, config.train.engine = seed, epochs, engine
    return train(config)


def check_draws(runs: int, general: int) -> None:
    config = Config()
    config.train.epochs = 1
    sweep = run_sweep(config, [], seeds=runs, progress=False)
    diffs = np.array([float((g_params(s.G) - g_params(alone(s.config.train.seed, 1).G)).abs().max())
                      for s in sweep.states])
    gen = np.array([float((g_params(s.G) - g_params(alone(s.config.train.seed, 1, "general").G)).abs().max())
                    for s in sweep.states[:general]])
    print("1. after one epoch, max |generator param difference|, sweep run vs the same seed alone:")
    print(f"   vs fast path alone, all {runs} seeds:    max {diffs.max():.2e}, median {np.median(diffs):.2e}, "
          f"{int((diffs >= 1e-4).sum())} runs >= 1e-4")
    print(f"   vs general loop alone, {general} seeds:   max {gen.max():.2e}, median {np.median(gen):.2e}, "
          f"{int((gen >= 1e-4).sum())} runs >= 1e-4")


def bootstrap_diff(a: np.ndarray, b: np.ndarray, q: float, rng: np.random.Generator, reps: int = 10_000):
    """95% bootstrap interval of quantile_q(a) - quantile_q(b)."""
    qa = np.quantile(a[rng.integers(0, len(a), (reps, len(a)))], q, axis=1)
    qb = np.quantile(b[rng.integers(0, len(b), (reps, len(b)))], q, axis=1)
    return np.quantile(qa - qb, [0.025, 0.975])


def check_statistics(runs: int, individual: int) -> None:
    started = time.perf_counter()
    sweep = run_sweep(Config(), [], seeds=runs, progress=False)
    swept = np.array([row["fd_to_truth"] for row in sweep.rows])
    sweep_seconds = time.perf_counter() - started
    started = time.perf_counter()
    one_by_one = np.array([alone(runs + i, 20, "general").summary["fd_to_truth"] for i in range(individual)])
    print(f"2. fd_to_truth after 20 epochs: sweep of {runs} (seeds 0..{runs - 1}, {sweep_seconds:.0f} s) vs "
          f"{individual} general-loop runs one by one (seeds {runs}..{runs + individual - 1}, "
          f"{time.perf_counter() - started:.0f} s)")
    rng = np.random.default_rng(0)
    verdicts = []
    for name, q in (("median", 0.5), ("p90", 0.9)):
        lo, hi = bootstrap_diff(swept, one_by_one, q, rng)
        inside = lo <= 0 <= hi
        verdicts.append(inside)
        print(f"   {name:6s} sweep {np.quantile(swept, q):.4f}  one by one {np.quantile(one_by_one, q):.4f}  "
              f"difference 95% CI [{lo:+.4f}, {hi:+.4f}]  {'contains 0' if inside else 'EXCLUDES 0'}")
    ks = stats.ks_2samp(swept, one_by_one)
    print(f"   two-sample Kolmogorov-Smirnov: D = {ks.statistic:.3f}, p = {ks.pvalue:.3f}")
    print(f"   within sampling error: {'yes' if all(verdicts) else 'NO'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1024)
    parser.add_argument("--individual", type=int, default=100)
    parser.add_argument("--general", type=int, default=64)
    parser.add_argument("--skip-draws", action="store_true")
    parser.add_argument("--skip-statistics", action="store_true")
    args = parser.parse_args()
    # Thousands of tiny torch calls: one intra-op thread avoids spinning workers on a
    # busy machine. Results do not depend on it (no op here is large enough to split).
    torch.set_num_threads(1)
    print(machine_line())
    if not args.skip_draws:
        check_draws(args.runs, args.general)
    if not args.skip_statistics:
        check_statistics(args.runs, args.individual)
    print(machine_line())


if __name__ == "__main__":
    main()
