import pytest
import torch
from scipy import stats

from gankit.errors import UserError
from gankit.metrics.twosample import (
    block_sums,
    classifier_test,
    discriminator_test,
    energy_test,
    mmd_test,
    random_splits,
    squared_distances,
)


@pytest.fixture(autouse=True)
def _one_thread():
    # Hundreds of tiny permutation tests: one thread avoids synchronisation
    # costs that dominate on a busy 2-core machine.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _gen(seed):
    return torch.Generator().manual_seed(seed)


def _normal(n, d=2, shift=0.0, seed=0):
    x = torch.randn(n, d, generator=_gen(seed), dtype=torch.float64)
    x[:, 0] += shift
    return x


def _naive_mmd2(x, y, s):
    k = lambda a, b: torch.exp(-((a[:, None] - b[None]) ** 2).sum(-1) / (2 * s * s))  # noqa: E731
    n, m = len(x), len(y)
    kxx, kyy = k(x, x), k(y, y)
    return ((kxx.sum() - kxx.trace()) / (n * (n - 1)) + (kyy.sum() - kyy.trace()) / (m * (m - 1))
            - 2 * k(x, y).mean())


def test_mmd_statistic_matches_the_unbiased_formula():
    x, y = _normal(30, seed=1), _normal(25, shift=0.7, seed=2)
    assert mmd_test(x, y, bandwidths=[0.8], permutations=9).statistic == pytest.approx(float(_naive_mmd2(x, y, 0.8)), rel=1e-10)
    # several bandwidths: the kernels are averaged
    both = (_naive_mmd2(x, y, 0.5) + _naive_mmd2(x, y, 2.0)) / 2
    assert mmd_test(x, y, bandwidths=[0.5, 2.0], permutations=9).statistic == pytest.approx(float(both), rel=1e-10)
    assert mmd_test(x, y, bandwidths=[0.5], permutations=9).statistic != pytest.approx(float(both), rel=1e-3)


def test_median_heuristic_is_the_median_pooled_distance():
    x, y = _normal(20, seed=3), _normal(21, seed=4)
    result = mmd_test(x, y, permutations=9)
    d = squared_distances(torch.cat([x, y])).sqrt()
    upper = d[torch.triu(torch.ones(41, 41, dtype=torch.bool), 1)]
    assert result.details["bandwidths"][0] == pytest.approx(float(upper.median()))
    assert result.statistic == pytest.approx(float(_naive_mmd2(x, y, float(upper.median()))), rel=1e-10)


def test_energy_matches_scipy_in_1d_and_the_formula_in_2d():
    x, y = _normal(40, d=1, seed=5), _normal(33, d=1, shift=0.5, seed=6)
    assert energy_test(x, y, permutations=9).statistic == pytest.approx(
        stats.energy_distance(x[:, 0].numpy(), y[:, 0].numpy()) ** 2, rel=1e-10)
    x, y = _normal(20, seed=7), _normal(15, seed=8)
    dist = lambda a, b: ((a[:, None] - b[None]) ** 2).sum(-1).sqrt().mean()  # noqa: E731
    expected = 2 * dist(x, y) - dist(x, x) - dist(y, y)
    assert energy_test(x, y, permutations=9).statistic == pytest.approx(float(expected), rel=1e-10)


def test_batched_block_sums_match_each_split():
    z = _normal(12, seed=9)
    M = squared_distances(z).sqrt()
    S = random_splits(5, 12, 7, _gen(0))
    assert (S.sum(1) == 7).all()
    s_xx, s_yy, s_xy = block_sums(M, S)
    for b in range(5):
        ix, iy = S[b].nonzero().squeeze(1), (~S[b]).nonzero().squeeze(1)
        assert float(s_xx[b]) == pytest.approx(float(M[ix][:, ix].sum()))
        assert float(s_yy[b]) == pytest.approx(float(M[iy][:, iy].sum()))
        assert float(s_xy[b]) == pytest.approx(float(M[ix][:, iy].sum()))


def test_p_values_follow_the_permutation_formula():
    far_x, far_y = _normal(30, seed=10), _normal(30, shift=5.0, seed=11)
    for test in (mmd_test, energy_test):
        assert test(far_x, far_y, permutations=99).p_value == pytest.approx(1 / 100)  # (1 + 0) / (1 + B)
        same = test(far_x, far_x.clone(), permutations=99).p_value
        assert same > 0.5 and (same * 100) == pytest.approx(round(same * 100))


def test_deterministic_given_the_generator():
    x, y = _normal(40, seed=12), _normal(40, shift=0.3, seed=13)
    for test in (mmd_test, energy_test, classifier_test):
        a, b = test(x, y, generator=_gen(5)), test(x, y, generator=_gen(5))
        assert a == b
    y = _normal(40, seed=14)  # same distribution: p-values away from 1/(B+1), so seeds show
    assert mmd_test(x, y, generator=_gen(5)).p_value != mmd_test(x, y, generator=_gen(6)).p_value


def _rejection_rate(test, trials, n, shift, **kwargs):
    rejected, p_sum = 0, 0.0
    for t in range(trials):
        x, y = _normal(n, seed=2 * t + 100), _normal(n, shift=shift, seed=2 * t + 101)
        p = test(x, y, generator=_gen(t), **kwargs).p_value
        rejected += p <= 0.05
        p_sum += p
    return rejected / trials, p_sum / trials


@pytest.mark.parametrize("test", [mmd_test, energy_test])
def test_permutation_tests_are_calibrated_and_powerful(test):
    # A cheap, real check (the 400+ trial measurement is benchmarks/twosample_calibration.py).
    size, mean_p = _rejection_rate(test, 200, 30, 0.0, permutations=99)
    assert 0.01 <= size <= 0.10 and 0.4 <= mean_p <= 0.6
    power, _ = _rejection_rate(test, 30, 150, 0.6, permutations=99)
    assert power >= 0.9


def test_classifier_test_is_calibrated_and_powerful():
    size, mean_p = _rejection_rate(classifier_test, 300, 60, 0.0, permutations=99, splits=1)
    assert 0.02 <= size <= 0.09 and 0.42 <= mean_p <= 0.58
    power, _ = _rejection_rate(classifier_test, 30, 200, 0.6, permutations=99)
    assert power >= 0.9


def test_discriminator_accuracy_and_exact_p_value():
    D = torch.nn.Linear(2, 1)
    with torch.no_grad():
        D.weight.copy_(torch.tensor([[1.0, 0.0]]))
        D.bias.zero_()  # calls x real when its first coordinate is positive
    real, fake = _normal(200, shift=1.0, seed=14), _normal(200, shift=-1.0, seed=15)
    result = discriminator_test(D, real, fake)
    tp, fp = int((real[:, 0] > 0).sum()), int((fake[:, 0] > 0).sum())
    assert result.statistic == pytest.approx((tp + 200 - fp) / 400)
    assert 0.78 < result.statistic < 0.9
    _, fisher_p = stats.fisher_exact([[tp, 200 - tp], [fp, 200 - fp]], alternative="greater")
    assert result.p_value == pytest.approx(fisher_p, rel=1e-9)
    assert result.p_value < 1e-20
    same = discriminator_test(D, _normal(200, seed=16), _normal(200, seed=17))
    assert 0.4 < same.statistic < 0.6 and same.p_value > 0.05


@pytest.mark.parametrize("x,y,message", [
    (torch.zeros(10, 2), torch.zeros(10, 3), "different dimensions: 2 and 3"),
    (torch.zeros(3, 2), torch.zeros(10, 2), "has 3 points; a two-sample test needs at least 4"),
    (torch.tensor([[0.0, 1.0]] * 5 + [[float("nan"), 0.0]]), torch.zeros(10, 2), "NaN or infinite"),
    (torch.zeros(10), torch.zeros(10, 2), "must be a 2-D array"),
])
def test_bad_samples(x, y, message):
    with pytest.raises(UserError, match=message):
        energy_test(x, y, permutations=9)


def test_bad_bandwidth():
    with pytest.raises(UserError, match="bandwidths must be positive"):
        mmd_test(torch.randn(10, 2), torch.randn(10, 2), bandwidths=[0.0])


@pytest.mark.slow
@pytest.mark.parametrize("test", [mmd_test, energy_test])
def test_full_calibration_and_power(test):
    """The issue's figures: size in [0.03, 0.07] over 1000 null trials; power >= 0.9 at n = 500, shift 0.25 sd."""
    size, _ = _rejection_rate(test, 1000, 100, 0.0, permutations=199)
    assert 0.03 <= size <= 0.07
    power, _ = _rejection_rate(test, 100, 500, 0.25, permutations=199)
    assert power >= 0.9


def test_blocked_tests_combine_independent_blocks():
    from gankit.metrics.twosample import blocked

    x, y = _normal(50, seed=20), _normal(50, shift=0.3, seed=21)
    whole = blocked(energy_test, x, y, 50, permutations=99, generator=_gen(1))
    assert whole == energy_test(x, y, permutations=99, generator=_gen(1))
    split = blocked(energy_test, x, y, 25, permutations=99, generator=_gen(1))
    g = _gen(1)
    parts = [energy_test(x[:25], y[:25], permutations=99, generator=g),
             energy_test(x[25:], y[25:], permutations=99, generator=g)]
    assert split.details["blocks"] == 2
    assert split.details["block_p_values"] == [r.p_value for r in parts]
    assert split.p_value == pytest.approx(stats.combine_pvalues([r.p_value for r in parts]).pvalue)
    assert split.statistic == pytest.approx((parts[0].statistic + parts[1].statistic) / 2)
    assert (split.n_x, split.n_y) == (50, 50)


@pytest.mark.slow
def test_full_classifier_calibration():
    size, _ = _rejection_rate(classifier_test, 1000, 250, 0.0, permutations=199)
    assert 0.03 <= size <= 0.07
