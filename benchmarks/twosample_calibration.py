"""Calibration and power of gankit's two-sample tests, measured.

Calibration: both samples from the same distribution; each test's rejection
rate at alpha = 0.05 over many trials should lie in [0.03, 0.07] (a little
below 0.05 is the most a discrete statistic allows on heavily tied data).
It is measured at several sizes, each a known trap:

- ``500v500``: n = m = 500, 2-D (the reference setting);
- ``50v400`` and ``200v300``: unequal sizes, 2-D (a pooled split scored
  against Binomial(n_test, 1/2) rejected 100% and 18.5% of these);
- ``20v20ties``: n = m = 20, 1-D, rounded to multiples of 0.5, so many
  points coincide (an unstratified split made the old classifier test
  reject only 0.5-2%).

Power: n = 500 per side in 2-D, the second sample's mean shifted by 0.25
standard deviations; MMD and energy should reject at least 90% of the time.

The samples are N(0, I) for the MMD, energy and classifier tests. The
discriminator test needs a discriminator: the chapter's default experiment is
trained once (seed 0) and its D judges fresh points of the chapter's true
N(b, A^T A) on both sides (calibration; in 2-D at every size, as D needs, and
rounded to multiples of 0.5 for ``20v20ties``) and, for power, the same points
with the second side's mean shifted by 0.25 sd of the first coordinate.

    python benchmarks/twosample_calibration.py [--trials 1000] [--power-trials 400]
        [--settings 500v500 50v400 200v300 20v20ties] [--tests mmd energy classifier discriminator]

Runs on one thread by default: hundreds of small tests are faster that way
on a shared 2-core machine (see --threads).
"""

from __future__ import annotations

import argparse
import json
import math
import time

import numpy as np
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
    return max(0.0, centre - half), min(1.0, centre + half)


# name: (n, m, dimension of the N(0, I) samples, rounding step or None)
SETTINGS = {
    "500v500": (500, 500, 2, None),
    "50v400": (50, 400, 2, None),
    "200v300": (200, 300, 2, None),
    "20v20ties": (20, 20, 1, 0.5),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=1000, help="null trials per test and setting (1000)")
    parser.add_argument("--power-trials", type=int, default=400, help="shifted trials per test (400)")
    parser.add_argument("--n", type=int, default=500, help="points per side for the power (500)")
    parser.add_argument("--shift", type=float, default=0.25, help="mean shift in standard deviations (0.25)")
    parser.add_argument("--permutations", type=int, default=199,
                        help="B for MMD, energy and the classifier test "
                             "(199: alpha (B + 1) is a whole number, so the size is exact)")
    parser.add_argument("--settings", nargs="+", default=list(SETTINGS), choices=list(SETTINGS),
                        help="null settings to measure (all)")
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

    def samples(trial: int, setting: str, shift: float, kind: str):
        n, m, d, step = SETTINGS[setting] if setting != "power" else (args.n, args.n, 2, None)
        g = torch.Generator().manual_seed(10_000 * (1 + (shift > 0)) + trial)
        if kind == "discriminator":
            rng = np.random.default_rng(10_000 * (1 + (shift > 0)) + trial)
            x, y = truth.sample(n, rng), truth.sample(m, rng)
            y[:, 0] += shift * sd0
        else:
            x, y = torch.randn(n, d, generator=g), torch.randn(m, d, generator=g)
            y[:, 0] += shift
        if step is not None:
            x, y = (x / step).round() * step, (y / step).round() * step
        return x, y

    B = args.permutations
    tests = {
        "mmd": lambda x, y, g: mmd_test(x, y, permutations=B, generator=g),
        "energy": lambda x, y, g: energy_test(x, y, permutations=B, generator=g),
        "classifier": lambda x, y, g: classifier_test(x, y, permutations=B, generator=g),
        "discriminator": lambda x, y, g: discriminator_test(D, x, y),
    }

    def rate(test, name, setting, shift, trials):
        started = time.perf_counter()
        rejected = 0
        for trial in range(trials):
            x, y = samples(trial, setting, shift, name)
            rejected += test(x, y, torch.Generator().manual_seed(trial)).p_value <= ALPHA
        rate, ci = (rejected / trials, list(wilson(rejected, trials))) if trials else (math.nan, [math.nan] * 2)
        return {"rate": rate, "trials": trials, "ci95": ci, "seconds": time.perf_counter() - started}

    results = {}
    for name, test in tests.items():
        if name not in args.tests:
            continue
        row = {"null": {s: rate(test, name, s, 0.0, args.trials) for s in args.settings},
               "power": rate(test, name, "power", args.shift, args.power_trials)}
        row["calibrated"] = all(0.03 <= r["rate"] <= 0.07 for r in row["null"].values())
        results[name] = row
        nulls = "  ".join(f"{s} {r['rate']:.3f} [{r['ci95'][0]:.3f}, {r['ci95'][1]:.3f}]"
                          for s, r in row["null"].items())
        seconds = sum(r["seconds"] for r in row["null"].values()) + row["power"]["seconds"]
        print(f"{name:13s}  null rejection: {nulls}  ({'all in' if row['calibrated'] else 'NOT all in'} "
              f"[0.03, 0.07])   power at n = {args.n}, shift {args.shift} sd: {row['power']['rate']:.3f}   "
              f"({seconds:.0f} s)", flush=True)
    print(f"{args.trials} null trials per test and setting, {args.power_trials} power trials; "
          f"alpha = {ALPHA}, B = {B} permutations")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"settings": vars(args), "results": results}, f, indent=2)


if __name__ == "__main__":
    main()
