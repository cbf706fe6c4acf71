"""Power of gankit's classifier two-sample test against a plain k-NN C2ST from scikit-learn.

Both tests follow one protocol: each sample is halved at random (stratified),
coordinates are standardised with the pooled mean and standard deviation, the
classifier is fitted on the first halves and judged on the other halves, and
the p-value is (1 + #{T_perm >= T_obs}) / (1 + B) over B random relabellings
of the held-out points (exact under H0 for any sizes). The plain C2ST is
scikit-learn's ``KNeighborsClassifier(k)``: its statistic is the held-out
accuracy of ``predict`` (with the relabelling null, accuracy and balanced
accuracy give the same test: both rise with the held-out x called x). It runs
for k = 5, s, 2s, 4s with s = round(sqrt(n_train)): one column per k.
gankit's test (`classifier_test`) averages class-balanced k-NN scores over
k = s, 2s, 4s and uses the held-out AUC, cross-fitted over five folds (each
fold scored by the other four; its labels relabelled within folds): column
``gankit``; ``gankit 1 split`` is the same score on the halves protocol above
(``folds=1``), so the gain of cross-fitting is seen apart from the score's.

The p-value's swing: on one fixed pair of samples (500 vs 500 in 2-D, the
second's mean shifted by 0.25 sd), the p-value over ``--deals`` random splits
(folds) of that one pair, for one split in halves and for the cross-fitted
test: the smallest, median and largest.

Scenarios (alpha = 0.05): a mean shift, a change of scale, a two-component
mixture against the Gaussian with its mean and covariance, unequal sizes
(50 vs 400) with a mean shift, a shift in one of 10 dimensions, and the null
at 50 vs 400 (both columns should be near 0.05 or below).

    python benchmarks/c2st_power.py [--trials 400] [--permutations 199] [--deals 50] [--json FILE]

Runs on one thread (many small tests are faster that way on a shared machine).
"""

from __future__ import annotations

import argparse
import json
import math
import time

import torch
from sklearn.neighbors import KNeighborsClassifier

from gankit.metrics.twosample import classifier_test, random_splits

ALPHA = 0.05


def _normal(g: torch.Generator, n: int, d: int) -> torch.Tensor:
    return torch.randn(n, d, generator=g, dtype=torch.float64)


def _shift(n: int, m: int, d: int, shift: float):
    def sample(g):
        x, y = _normal(g, n, d), _normal(g, m, d)
        y[:, 0] += shift
        return x, y
    return sample


def _scale(g):
    return _normal(g, 100, 2), 1.5 * _normal(g, 100, 2)


def _mixture(g):
    # x: 1/2 N((-1.2, 0), 0.36 I) + 1/2 N((1.2, 0), 0.36 I); y: the Gaussian with x's mean and covariance
    side = torch.where(torch.rand(150, generator=g) < 0.5, -1.2, 1.2).double()
    x = 0.6 * _normal(g, 150, 2)
    x[:, 0] += side
    y = 0.6 * _normal(g, 150, 2)
    y[:, 0] = math.sqrt(0.36 + 1.44) * _normal(g, 150, 1)[:, 0]
    return x, y


SCENARIOS = {
    "mean shift 0.5 sd, 100 vs 100, 2-D": _shift(100, 100, 2, 0.5),
    "scale x1.5, 100 vs 100, 2-D": _scale,
    "mixture vs Gaussian, 150 vs 150, 2-D": _mixture,
    "mean shift 0.6 sd, 50 vs 400, 2-D": _shift(50, 400, 2, 0.6),
    "mean shift 0.6 sd, 150 vs 150, 10-D": _shift(150, 150, 10, 0.6),
    "null, 50 vs 400, 2-D": _shift(50, 400, 2, 0.0),
}


def knn_c2st(x: torch.Tensor, y: torch.Tensor, ks: list[int], permutations: int,
             generator: torch.Generator) -> dict[int, float]:
    """The plain k-NN C2ST under gankit's protocol: {k: p-value}, one split and one set of relabellings for all k."""
    n, m = x.shape[0], y.shape[0]
    z = torch.cat([x, y])
    z = (z - z.mean(0)) / z.std(0)
    labels = torch.arange(n + m) < n
    order_x, order_y = torch.randperm(n, generator=generator), n + torch.randperm(m, generator=generator)
    train = torch.cat([order_x[: n // 2], order_y[: m // 2]])
    test = torch.cat([order_x[n // 2:], order_y[m // 2:]])  # held-out x first
    n1 = n - n // 2
    S = random_splits(permutations, test.numel(), n1, generator).double()  # (B, n_test) relabelled x's
    p_values = {}
    for k in ks:
        called_x = KNeighborsClassifier(n_neighbors=min(k, train.numel())).fit(
            z[train].numpy(), labels[train].numpy()).predict(z[test].numpy())
        called_x = torch.from_numpy(called_x).double()  # (n_test,)
        # accuracy = (#x called x + #y called y) / n_test rises with #x called x alone
        # (the number called x is fixed), so that count is the statistic
        observed = float(called_x[:n1].sum())
        p_values[k] = (1 + int((S @ called_x >= observed).sum())) / (1 + permutations)
    return p_values


def power(name: str, trials: int = 400, permutations: int = 199) -> dict[str, float]:
    """Rejection rates at alpha over ``trials`` draws of scenario ``name``: gankit and the k-NN C2ST per k."""
    rejected: dict[str, int] = {}
    for trial in range(trials):
        x, y = SCENARIOS[name](torch.Generator().manual_seed(20_000 + trial))
        ours = classifier_test(x, y, permutations=permutations, generator=torch.Generator().manual_seed(trial))
        halves = classifier_test(x, y, permutations=permutations, generator=torch.Generator().manual_seed(trial),
                                 folds=1)
        s = max(1, round(halves.details["n_train"] ** 0.5))
        ks = [5, s, 2 * s, 4 * s]
        p = {"gankit": ours.p_value, "gankit 1 split": halves.p_value}
        p.update({f"kNN k={k}": v for k, v in
                  knn_c2st(x, y, ks, permutations, torch.Generator().manual_seed(trial)).items()})
        for key, value in p.items():
            rejected[key] = rejected.get(key, 0) + (value <= ALPHA)
    return {key: count / trials for key, count in rejected.items()}


def swing(deals: int = 50, permutations: int = 199) -> dict[str, list[float]]:
    """{"1 split" | "cross-fitted": [min, median, max]} of the p-value over ``deals`` splits of one fixed pair."""
    x, y = _shift(500, 500, 2, 0.25)(torch.Generator().manual_seed(123))
    out = {}
    for label, folds in (("1 split", 1), ("cross-fitted", 5)):
        ps = sorted(classifier_test(x, y, permutations=permutations, folds=folds,
                                    generator=torch.Generator().manual_seed(d)).p_value for d in range(deals))
        out[label] = [ps[0], ps[len(ps) // 2], ps[-1]]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=400, help="draws per scenario (400)")
    parser.add_argument("--permutations", type=int, default=199, help="B for both tests (199)")
    parser.add_argument("--deals", type=int, default=50, help="splits of the one fixed pair (50)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    results = {}
    for name in SCENARIOS:
        started = time.perf_counter()
        rates = power(name, args.trials, args.permutations)
        results[name] = rates
        best = max(v for k, v in rates.items() if k.startswith("kNN"))
        ks = "  ".join(f"{k} {v:.3f}" for k, v in rates.items() if k != "gankit")
        print(f"{name:40s} gankit {rates['gankit']:.3f}   {ks}   (best k-NN {best:.3f}; "
              f"{time.perf_counter() - started:.0f} s)", flush=True)
    se = 0.5 / math.sqrt(args.trials)
    print(f"{args.trials} trials per scenario (standard error of a rate at most {se:.3f}), "
          f"B = {args.permutations}, alpha = {ALPHA}; k-NN k = 5, s, 2s, 4s with s = round(sqrt(n_train))")
    spread = swing(args.deals, args.permutations)
    for label, (low, mid, high) in spread.items():
        print(f"p-value over {args.deals} splits of one pair (500 vs 500, shift 0.25 sd), {label:12s}: "
              f"min {low:.3f}  median {mid:.3f}  max {high:.3f}", flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"settings": vars(args), "results": results, "swing": spread}, f, indent=2)


if __name__ == "__main__":
    main()
