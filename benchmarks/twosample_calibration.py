"""Calibration and power of gankit's two-sample tests, measured.

Calibration: both samples from the same distribution; each test's rejection
rate at alpha = 0.05 over many trials should lie in [0.03, 0.07].
Power: n = 500 per side in 2-D, the second sample's mean shifted by 0.25
standard deviations; MMD and energy should reject at least 90% of the time.

The samples are N(0, I_2) for the MMD, energy and classifier tests. The
discriminator test needs a discriminator: the chapter's default experiment is
trained once (seed 0) and its D judges fresh points of the chapter's true
N(b, A^T A) on both sides (calibration) and, for power, the same points with
the second side's mean shifted by 0.25 sd of the first coordinate.

    python benchmarks/twosample_calibration.py [--trials 1000] [--power-trials 400]

Runs on one thread by default: hundreds of small tests are faster that way
on a shared 2-core machine (see --threads).
"""

from __future__ import annotations

import argparse
import json
import math
import time

import torch

from gankit import Config, train
from gankit.data import TARGETS
from gankit.metrics.twosample import classifier_test, discriminator_test, energy_test, mmd_test

ALPHA = 0.05


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson interval of a rejection rate k / n."""
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return centre - half, centre + half


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=1000, help="null trials per test (1000)")
    parser.add_argument("--power-trials", type=int, default=400, help="shifted trials per test (400)")
    parser.add_argument("--n", type=int, default=500, help="points per side (500)")
    parser.add_argument("--shift", type=float, default=0.25, help="mean shift in standard deviations (0.25)")
    parser.add_argument("--permutations", type=int, default=199,
                        help="B for MMD and energy (199: alpha (B + 1) is a whole number, so the size is exact)")
    parser.add_argument("--tests", nargs="+", default=["mmd", "energy", "classifier", "discriminator"],
                        help="which tests to measure (all four)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    config = Config()
    D = train(config).D.eval() if "discriminator" in args.tests else None  # the chapter's default run, seed 0
    truth = TARGETS["gaussian"](config.data)
    sd0 = float(truth.cov[0, 0].sqrt())

    def samples(trial: int, shift: float, kind: str):
        g = torch.Generator().manual_seed(10_000 * (1 + (shift > 0)) + trial)
        if kind == "discriminator":
            x, y = truth.sample(args.n, g), truth.sample(args.n, g)
            y[:, 0] += shift * sd0
        else:
            x, y = torch.randn(args.n, 2, generator=g), torch.randn(args.n, 2, generator=g)
            y[:, 0] += shift
        return x, y

    tests = {
        "mmd": lambda x, y, g: mmd_test(x, y, permutations=args.permutations, generator=g),
        "energy": lambda x, y, g: energy_test(x, y, permutations=args.permutations, generator=g),
        "classifier": lambda x, y, g: classifier_test(x, y, generator=g),
        "discriminator": lambda x, y, g: discriminator_test(D, x, y),
    }
    results = {}
    for name, test in tests.items():
        if name not in args.tests:
            continue
        row = {}
        for label, shift, trials in (("null", 0.0, args.trials), ("power", args.shift, args.power_trials)):
            started = time.perf_counter()
            rejected = 0
            for trial in range(trials):
                x, y = samples(trial, shift, name)
                rejected += test(x, y, torch.Generator().manual_seed(trial)).p_value <= ALPHA
            rate, ci = (rejected / trials, list(wilson(rejected, trials))) if trials else (math.nan, [math.nan] * 2)
            row[label] = {"rate": rate, "trials": trials, "ci95": ci, "seconds": time.perf_counter() - started}
        row["calibrated"] = 0.03 <= row["null"]["rate"] <= 0.07
        results[name] = row
        print(f"{name:13s}  null rejection {row['null']['rate']:.3f} "
              f"[{row['null']['ci95'][0]:.3f}, {row['null']['ci95'][1]:.3f}] over {row['null']['trials']}"
              f" ({'in' if row['calibrated'] else 'OUTSIDE'} [0.03, 0.07])   "
              f"power at shift {args.shift} sd: {row['power']['rate']:.3f} over {row['power']['trials']}   "
              f"({row['null']['seconds'] + row['power']['seconds']:.0f} s)", flush=True)
    print(f"n = {args.n} per side, 2-D, alpha = {ALPHA}, B = {args.permutations} permutations")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"settings": vars(args), "results": results}, f, indent=2)


if __name__ == "__main__":
    main()
