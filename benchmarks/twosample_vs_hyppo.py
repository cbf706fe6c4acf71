"""gankit's MMD and energy tests against hyppo's, on the same data, in one process.

hyppo (https://hyppo.neurodata.io) is an established implementation of the
same permutation tests; it is installed for this benchmark only:

    pip install -c constraints.txt -e '.[bench]'
    python benchmarks/twosample_vs_hyppo.py [--datasets 30] [--n 100] [--time-n 2000] [--reps 1000]

1. Decisions: on ``--datasets`` pairs of 2-D samples (half from the same
   N(0, I), half with the second mean shifted by ``--shift`` sd), both libraries
   test at alpha = 0.05 with real permutations (hyppo ``auto=False``) and the
   same Gaussian kernel width (gankit's median heuristic, passed to hyppo as
   gamma = 1 / (2 s^2)). With equal sample sizes, gankit's unbiased MMD^2 and
   hyppo's HSIC-based MMD (and both energy statistics) are increasing
   functions of the same cross-sample sum, so the two p-values estimate the
   same exact permutation p-value and differ only by Monte Carlo error
   (standard error sqrt(p (1 - p) / B)). We print how many decisions agree,
   and how many disagree although both p-values are more than 3 standard
   errors from alpha (there should be none).
2. Time: one test of n = ``--time-n`` per side with ``--reps`` permutations,
   each library, same data. hyppo recomputes a 2n x 2n statistic per
   permutation on one core, several seconds each at n = 2000, so 1000 of
   them take hours: by default it is timed on ``--hyppo-reps`` permutations
   and its time for ``--reps`` is extrapolated as
   t(statistic) + reps * (t(test) - t(statistic)) / hyppo_reps, and printed
   as such. ``--hyppo-reps 1000`` measures it in full.
"""

from __future__ import annotations

import argparse
import math
import time
import warnings

import numpy as np
import torch

from gankit.metrics.twosample import energy_test, median_bandwidth, mmd_test, squared_distances

ALPHA = 0.05


def hyppo_tests():
    try:
        from hyppo.ksample import MMD, Energy
    except ImportError:
        raise SystemExit("hyppo is not installed: pip install -c constraints.txt -e '.[bench]'") from None
    return MMD, Energy


def run_pair(x: np.ndarray, y: np.ndarray, reps: int, seed: int, hyppo_reps: int | None = None):
    """p-values and seconds for both libraries and both tests on one pair of samples.

    Returns:
        {test: (p_gankit, p_hyppo, seconds_gankit, seconds_hyppo, seconds_hyppo_statistic)}
    """
    hyppo_reps = hyppo_reps or reps
    MMD, Energy = hyppo_tests()
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    width = median_bandwidth(squared_distances(torch.cat([xt, yt])))
    out = {}
    for name in ("mmd", "energy"):
        started = time.perf_counter()
        if name == "mmd":
            ours = mmd_test(xt, yt, bandwidths=[width], permutations=reps, generator=torch.Generator().manual_seed(seed))
        else:
            ours = energy_test(xt, yt, permutations=reps, generator=torch.Generator().manual_seed(seed))
        ours_s = time.perf_counter() - started
        hyppo_test = MMD(gamma=1.0 / (2 * width * width)) if name == "mmd" else Energy()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            started = time.perf_counter()
            hyppo_test.statistic(x, y)
            stat_s = time.perf_counter() - started
            started = time.perf_counter()
            theirs = hyppo_test.test(x, y, reps=hyppo_reps, auto=False, random_state=seed)
            theirs_s = time.perf_counter() - started
        out[name] = (ours.p_value, float(theirs[1]), ours_s, theirs_s, stat_s)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", type=int, default=30)
    parser.add_argument("--n", type=int, default=100, help="points per side for the decisions (100)")
    parser.add_argument("--shift", type=float, default=0.5, help="mean shift of the shifted half, in sd (0.5)")
    parser.add_argument("--time-n", type=int, default=2000, help="points per side for the timing (2000)")
    parser.add_argument("--reps", type=int, default=1000, help="permutations (1000)")
    parser.add_argument("--hyppo-reps", type=int, default=10,
                        help="permutations hyppo is timed on at --time-n, extrapolated to --reps (10)")
    args = parser.parse_args()

    import hyppo

    rng = np.random.default_rng(0)
    run_pair(rng.normal(size=(20, 2)), rng.normal(size=(20, 2)), 10, 0)  # warm-up: numba compiles
    agree = {"mmd": 0, "energy": 0}
    clear_disagree = {"mmd": 0, "energy": 0}
    max_gap = {"mmd": 0.0, "energy": 0.0}
    for i in range(args.datasets):
        x = rng.normal(size=(args.n, 2))
        y = rng.normal(size=(args.n, 2)) + [args.shift if i % 2 else 0.0, 0.0]
        for name, (p_ours, p_theirs, *_) in run_pair(x, y, args.reps, i).items():
            same = (p_ours <= ALPHA) == (p_theirs <= ALPHA)
            agree[name] += same
            se = math.sqrt(ALPHA * (1 - ALPHA) / args.reps)
            clear = abs(p_ours - ALPHA) > 3 * se and abs(p_theirs - ALPHA) > 3 * se
            clear_disagree[name] += (not same) and clear
            max_gap[name] = max(max_gap[name], abs(p_ours - p_theirs))
    print(f"hyppo {hyppo.__version__}, torch {torch.__version__} ({torch.get_num_threads()} threads); "
          f"alpha = {ALPHA}, B = {args.reps} permutations")
    print(f"decisions on {args.datasets} pairs of n = {args.n} per side (half null, half shifted {args.shift} sd):")
    for name in agree:
        print(f"  {name:6s}: same decision on {agree[name]}/{args.datasets}; "
              f"disagreements with both p-values > 3 SE from alpha: {clear_disagree[name]}; "
              f"largest |p_gankit - p_hyppo| = {max_gap[name]:.3f}")

    x = rng.normal(size=(args.time_n, 2))
    y = rng.normal(size=(args.time_n, 2)) + [0.25, 0.0]
    print(f"time for one test, n = {args.time_n} per side, {args.reps} permutations:")
    result = run_pair(x, y, args.reps, 12345, hyppo_reps=args.hyppo_reps)
    for name, (p_ours, p_theirs, ours_s, theirs_s, stat_s) in result.items():
        if args.hyppo_reps == args.reps:
            hyppo_s, how = theirs_s, "measured"
        else:
            per_perm = (theirs_s - stat_s) / args.hyppo_reps
            hyppo_s, how = stat_s + args.reps * per_perm, (
                f"extrapolated from {args.hyppo_reps} permutations: {per_perm:.2f} s each")
        print(f"  {name:6s}: gankit {ours_s:7.2f} s measured (p = {p_ours:.4f});  "
              f"hyppo {hyppo_s:8.1f} s {how};  hyppo / gankit = {hyppo_s / ours_s:.0f}x")

if __name__ == "__main__":
    main()
