"""Tuning throughput: trials per minute of `gankit tune` against an ordinary Optuna loop.

Both search the same space (lr_d, lr_g on a log scale, beta1) of the chapter's
problem (the default experiment, 20 epochs) with TPE, in this one process:

- **Optuna loop**: ``study.optimize`` on an in-memory study, each trial one call of
  ``gankit.train(config)`` returning its ``fd_to_truth``: the glue a practitioner writes.
  No files, no pruning: the cheapest a one-at-a-time loop gets.
- **gankit tune**: `gankit.tune.tune` on an embedded journal study in a temporary
  directory, asking ``--batch`` trials at a time and training them as one vectorised
  ensemble, writing every trial's run directory, trials.csv, best.json (the figures off),
  with the median pruner on.

Reported: trials per minute of each (wall clock of the whole search, study set-up
included) and their ratio; the issue's goal is 20x. torch runs with ``--threads``
intra-op threads (1 by default: on a busy 2-core machine one is faster for these
networks; the line says which).

    python benchmarks/tune_throughput.py [--trials 256] [--loop-trials 48] [--batch 32] [--threads 1]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import machine_line  # noqa: E402

SPACE = ["lr_d=0.005:0.2:log", "lr_g=0.0005:0.05:log", "beta1=0,0.5"]


def optuna_loop(trials: int) -> float:
    """Seconds for ``trials`` trials of the plain loop."""
    import optuna

    from gankit import Config, train

    optuna.logging.set_verbosity(optuna.logging.WARNING)

    def objective(trial):
        config = Config()
        config.train.lr_d = trial.suggest_float("lr_d", 0.005, 0.2, log=True)
        config.train.lr_g = trial.suggest_float("lr_g", 0.0005, 0.05, log=True)
        config.train.beta1 = trial.suggest_categorical("beta1", [0.0, 0.5])
        fd = train(config).summary["fd_to_truth"]
        return fd if fd is not None else float("inf")

    started = time.perf_counter()
    study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=0))
    study.optimize(objective, n_trials=trials)
    return time.perf_counter() - started


def gankit_tune(trials: int, batch: int) -> tuple[float, dict]:
    """Seconds for ``trials`` trials of `gankit.tune.tune`, and its counts by state."""
    from gankit import Config
    from gankit.tune import TuneSettings, tune

    with tempfile.TemporaryDirectory() as tmp:
        settings = TuneSettings(space=[], metric="", trials=trials, batch=batch, sampler_seed=0, progress=False)
        started = time.perf_counter()
        outcome = tune(Config(), SPACE, Path(tmp) / "study", settings, plots=False, say=lambda line: None)
        return time.perf_counter() - started, outcome.info["trials"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=256, help="trials of gankit tune (256)")
    parser.add_argument("--loop-trials", type=int, default=48, help="trials of the Optuna loop (48)")
    parser.add_argument("--batch", type=int, default=32, help="gankit tune's --batch (32)")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads (1)")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    print(machine_line())
    print(f"torch threads: {args.threads}")
    loop = optuna_loop(args.loop_trials)
    ours, counts = gankit_tune(args.trials, args.batch)
    loop_rate, our_rate = 60 * args.loop_trials / loop, 60 * args.trials / ours
    print(f"Optuna loop, gankit.train per trial: {args.loop_trials} trials in {loop:.1f} s = {loop_rate:.0f} trials/min")
    print(f"gankit tune, batches of {args.batch}:  {args.trials} trials in {ours:.1f} s = {our_rate:.0f} trials/min "
          f"({', '.join(f'{v} {k}' for k, v in sorted(counts.items()))})")
    print(f"ratio: {our_rate / loop_rate:.1f}x (goal: 20x)")


if __name__ == "__main__":
    main()
