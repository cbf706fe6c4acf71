"""Two-sample tests: can a finite sample tell P (real) from Q (generated)?

Each test is a pure function of two point clouds x (n, d) and y (m, d) and a
``torch.Generator`` (the same generator state gives the same numbers), and
returns a `TestResult`: statistic, p-value and sample sizes.

- `mmd_test`: unbiased MMD^2 with a Gaussian kernel (median-heuristic
  bandwidth, or a list of bandwidths whose kernels are averaged); permutation
  p-value.
- `energy_test`: energy distance (V-statistic); permutation p-value.
- `classifier_test`: the classifier two-sample test of Lopez-Paz and Oquab
  (ICLR 2017): a k-nearest-neighbour classifier trained on half of each
  sample, its AUC on the other halves, p-value from relabelling the held-out
  points (exact for any sample sizes).
- `discriminator_test`: a trained GAN discriminator's own accuracy on fresh
  real and generated points, with an exact conditional p-value.
- `blocked`: MMD or energy on independent blocks of a large sample, p-values
  combined by Fisher's method (bounded memory, every point used once).

Permutation p-values are p = (1 + #{T_perm >= T_obs}) / (1 + B). All B
permutations are evaluated at once: each is a 0/1 row of an index matrix S
(B, N) marking which pooled points play x, and the three block sums of the
pooled matrix M (kernel or distance) follow from one product S @ M.
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass, field
from typing import Any, Sequence

import torch
from scipy import stats
from torch import Tensor, nn

from gankit.errors import UserError

# Rows of the (B, N) split matrix evaluated per chunk: bounds memory at
# about this many float64 entries for S and S @ M together.
_CHUNK_ENTRIES = 2**22
# Entries of the classifier test's sparse vote matrix (about 24 bytes each) it keeps deals under.
_MAX_VOTES = 2**24
# The fewest points per sample (and per block of `blocked`) a test accepts.
MIN_ROWS = 4


@dataclass
class TestResult:
    """What every two-sample test returns.

    Attributes:
        name: the test's short name (``mmd``, ``energy``, ``classifier``, ``discriminator``).
        statistic: the observed test statistic (larger means "more different").
        p_value: probability under H0 (same distribution) of a statistic at least as large.
        n_x, n_y: the two sample sizes.
        details: test-specific extras (bandwidths, permutations, accuracy, ...).
    """

    name: str
    statistic: float
    p_value: float
    n_x: int
    n_y: int
    details: dict[str, Any] = field(default_factory=dict)

    def rejects(self, alpha: float) -> bool:
        """True when H0 (same distribution) is rejected at level ``alpha``."""
        return self.p_value <= alpha

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def check_samples(x: Tensor, y: Tensor, min_rows: int = MIN_ROWS) -> tuple[Tensor, Tensor]:
    """Validate two point clouds; return them as float64 (n, d) and (m, d) tensors.

    Raises:
        UserError: not 2-D, different dimensions, fewer than ``min_rows``
            rows, or NaN / infinite values.
    """
    x = torch.as_tensor(x).detach().to(torch.float64)
    y = torch.as_tensor(y).detach().to(torch.float64)
    for name, t in (("first", x), ("second", y)):
        if t.ndim != 2:
            raise UserError(f"the {name} sample must be a 2-D array (N, d), got shape {tuple(t.shape)}")
        if t.shape[0] < min_rows:
            raise UserError(f"the {name} sample has {t.shape[0]} points; a two-sample test needs at least {min_rows}")
        if not torch.isfinite(t).all():
            raise UserError(f"the {name} sample has NaN or infinite values")
    if x.shape[1] != y.shape[1]:
        raise UserError(f"the samples have different dimensions: {x.shape[1]} and {y.shape[1]}")
    return x, y


def squared_distances(z: Tensor) -> Tensor:
    """(N, N) squared Euclidean distances of (N, d) points, zero diagonal, float64.

    Invariant to a common offset and equivariant to a common scale: the points
    are centred first, and identical points are at distance exactly 0.
    """
    z = z.to(torch.float64)
    # |a - b|^2 = |a|^2 + |b|^2 - 2 a.b loses everything to cancellation when
    # |a| is far above |a - b| (data around 1e8): centre, so |a| is the spread.
    z = z - z.mean(0)
    sq = (z * z).sum(1)  # (N,)
    norms = sq[:, None] + sq[None, :]  # (N, N)
    d2 = norms - 2.0 * z @ z.T
    # What is left of identical points is rounding, below 1e-12 of |a|^2 + |b|^2:
    # make it exactly 0, so ties stay ties whatever the units.
    d2.masked_fill_(d2 <= 1e-12 * norms, 0.0)
    d2.fill_diagonal_(0.0)
    return d2


def median_bandwidth(d2: Tensor) -> float:
    """The median heuristic: the (lower) median of the pooled pairwise distances.

    When most pairs coincide (zero-inflated or heavily tied data) that median
    is 0; the width is then the median of the nonzero distances, so it keeps
    the data's units (scaling the points scales the width). Only when all
    points are equal, and any width gives the same kernel, is it 1.

    Args:
        d2: (N, N) squared distances.
    """
    n = d2.shape[0]
    pairs = d2[torch.triu(torch.ones(n, n, dtype=torch.bool), diagonal=1)]  # (N (N - 1) / 2,)
    median = float(pairs.median())
    if median == 0.0:
        nonzero = pairs[pairs > 0]
        median = float(nonzero.median()) if nonzero.numel() else 1.0
    return median ** 0.5


def gaussian_kernel(d2: Tensor, bandwidths: Sequence[float]) -> Tensor:
    """Average of exp(-d^2 / (2 s^2)) over the bandwidths s; (N, N)."""
    kernel = torch.zeros_like(d2)
    for s in bandwidths:
        kernel += torch.exp(d2 / (-2.0 * s * s))
    return kernel / len(bandwidths)


def random_splits(b: int, n_total: int, n_x: int, generator: torch.Generator) -> Tensor:
    """(b, n_total) bool: each row marks a uniformly random subset of ``n_x`` points as x."""
    # The ranks of i.i.d. uniforms are a uniform permutation; the points
    # ranked below n_x form a uniform random subset of size n_x.
    return torch.rand(b, n_total, generator=generator).argsort(dim=1) < n_x


def block_sums(M: Tensor, S: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Sums of a symmetric (N, N) matrix over the x-x, y-y and x-y blocks of each split.

    Args:
        M: (N, N) symmetric, zero diagonal (kernel with the diagonal removed, or distances).
        S: (B, N) 0/1 rows, 1 where the pooled point is in x.

    Returns:
        (s_xx, s_yy, s_xy), each (B,): sum over ordered pairs i != j in x, in y,
        and i in x, j in y.
    """
    S = S.to(M.dtype)
    SM = S @ M  # (B, N): row b holds, for every point j, the sum of M[i, j] over x
    s_xx = (SM * S).sum(1)
    s_x_all = SM.sum(1)
    s_xy = s_x_all - s_xx
    s_yy = M.sum() - 2.0 * s_x_all + s_xx
    return s_xx, s_yy, s_xy


def mmd2_from_sums(s_xx: Tensor, s_yy: Tensor, s_xy: Tensor, n: int, m: int) -> Tensor:
    """Unbiased MMD^2 (Gretton et al. 2012, eq. 3) from kernel block sums without the diagonal."""
    return s_xx / (n * (n - 1)) + s_yy / (m * (m - 1)) - 2.0 * s_xy / (n * m)


def energy_from_sums(s_xx: Tensor, s_yy: Tensor, s_xy: Tensor, n: int, m: int) -> Tensor:
    """Energy distance 2 E|x - y| - E|x - x'| - E|y - y'| (V-statistic) from distance block sums."""
    return 2.0 * s_xy / (n * m) - s_xx / (n * n) - s_yy / (m * m)


def permutation_test(
    M: Tensor, n: int, statistic, permutations: int, generator: torch.Generator
) -> tuple[float, float]:
    """Observed statistic and permutation p-value for a pooled matrix.

    Args:
        M: (N, N) symmetric matrix with zero diagonal; the first ``n`` pooled points are x.
        n: size of x; y has N - n points.
        statistic: ``f(s_xx, s_yy, s_xy, n, m) -> (B,)``.
        permutations: B, the number of random relabellings.
        generator: source of the relabellings.

    Returns:
        (T_obs, p) with p = (1 + #{T_perm >= T_obs}) / (1 + B).
    """
    _check_permutations(permutations)
    n_total = M.shape[0]
    m = n_total - n
    observed = torch.zeros(1, n_total, dtype=torch.bool)
    observed[0, :n] = True
    t_obs = float(statistic(*block_sums(M, observed), n, m)[0])
    # Equal statistics computed along different float paths may differ in the
    # last bits; count them as ties (scipy.stats.permutation_test does the same).
    threshold = t_obs - 100 * torch.finfo(M.dtype).eps * abs(t_obs)
    exceed = count_at_least(lambda S: statistic(*block_sums(M, S), n, m), threshold, n_total, n,
                            permutations, generator)
    return t_obs, (1 + exceed) / (1 + permutations)


def count_at_least(statistic, threshold: float, n_total: int, n_x: int, permutations: int,
                   generator: torch.Generator, rows: int | None = None) -> int:
    """#{b : statistic(S_b) >= threshold} over random splits S_b, drawn and evaluated in chunks.

    Args:
        statistic: ``f(S) -> (b,)`` for a (b, n_total) bool split matrix (see `random_splits`).
        threshold: the observed statistic (less any tolerance for rounding).
        n_total, n_x: pooled size and how many points each split marks as x.
        permutations: how many splits in all.
        generator: source of the splits.
        rows: splits per chunk (default: about _CHUNK_ENTRIES / (2 n_total)).
    """
    chunk = rows or max(1, _CHUNK_ENTRIES // (2 * n_total))
    exceed = done = 0
    while done < permutations:
        b = min(chunk, permutations - done)
        exceed += int((statistic(random_splits(b, n_total, n_x, generator)) >= threshold).sum())
        done += b
    return exceed


def mmd_test(
    x: Tensor,
    y: Tensor,
    bandwidths: Sequence[float] | None = None,
    permutations: int = 999,
    generator: torch.Generator | None = None,
) -> TestResult:
    """Kernel MMD two-sample test.

    Args:
        x: (n, d) and y: (m, d) samples.
        bandwidths: Gaussian kernel widths s in k(a, b) = exp(-|a - b|^2 / (2 s^2));
            several are averaged. Default: the median heuristic on the pooled sample.
        permutations: B for the permutation p-value.
        generator: randomness of the permutations (default: seed 0).

    Returns:
        `TestResult` whose statistic is the unbiased MMD^2 (may be slightly
        negative when the samples agree).

    Examples:
        >>> import torch
        >>> g = torch.Generator().manual_seed(0)
        >>> x, y = torch.randn(100, 2, generator=g), torch.randn(100, 2, generator=g) + 3
        >>> result = mmd_test(x, y, permutations=199)
        >>> result.p_value, result.n_x, result.n_y   # no permutation reaches it: 1 / (1 + 199)
        (0.005, 100, 100)
    """
    x, y = check_samples(x, y)
    generator = _generator(generator)
    d2 = squared_distances(torch.cat([x, y]))  # (N, N)
    widths = [median_bandwidth(d2)] if bandwidths is None else [float(s) for s in bandwidths]
    if not widths or any(not s > 0 for s in widths):
        raise UserError(f"MMD bandwidths must be positive numbers, got {list(bandwidths or [])}")
    K = gaussian_kernel(d2, widths)
    K.fill_diagonal_(0.0)  # the unbiased estimate leaves out i == j
    t_obs, p = permutation_test(K, x.shape[0], mmd2_from_sums, permutations, generator)
    return TestResult("mmd", t_obs, p, x.shape[0], y.shape[0],
                      {"bandwidths": widths, "permutations": permutations,
                       "median_heuristic": bandwidths is None})


def energy_test(
    x: Tensor, y: Tensor, permutations: int = 999, generator: torch.Generator | None = None
) -> TestResult:
    """Energy-distance two-sample test (Székely and Rizzo).

    Args:
        x: (n, d) and y: (m, d) samples.
        permutations: B for the permutation p-value.
        generator: randomness of the permutations (default: seed 0).

    Returns:
        `TestResult` whose statistic is the energy distance
        2 E|x - y| - E|x - x'| - E|y - y'| (V-statistic, >= 0).

    Examples:
        >>> import torch
        >>> g = torch.Generator().manual_seed(0)
        >>> x, y = torch.randn(100, 2, generator=g), torch.randn(100, 2, generator=g) + 3
        >>> energy_test(x, y, permutations=199).p_value
        0.005
    """
    x, y = check_samples(x, y)
    generator = _generator(generator)
    D = squared_distances(torch.cat([x, y])).sqrt_()  # (N, N)
    t_obs, p = permutation_test(D, x.shape[0], energy_from_sums, permutations, generator)
    return TestResult("energy", t_obs, p, x.shape[0], y.shape[0], {"permutations": permutations})


def classifier_test(
    x: Tensor,
    y: Tensor,
    neighbours: Sequence[int] | None = None,
    permutations: int = 999,
    generator: torch.Generator | None = None,
    folds: int = 5,
    splits: int = 5,
    max_points: int = 20_000,
) -> TestResult:
    """Classifier two-sample test (Lopez-Paz and Oquab, ICLR 2017) with k-NN classifiers, cross-fitted.

    The pooled points are dealt at random into ``folds`` folds, ``splits``
    times over. In each deal every fold in turn is held out and scored by a
    classifier "trained" on the other folds: a point's score (`knn_scores`)
    is its class-balanced share of x among its k nearest points of the other
    folds, averaged over k in ``neighbours`` (1/2 where the two samples are
    equally dense, whatever their sizes). A deal's AUC is P(score of an x >
    score of a y) over all its held-out points, ties counting 1/2: 1/2 under
    H0, 1 for a perfect separation. The statistic is the mean AUC over the
    deals. Every point is tested in every deal and each classifier sees
    (folds - 1) / folds of the data, so the p-value moves far less with the
    random deal than with one split in halves (which gave 0.001 to 0.112 on
    one pair of samples), and power is higher (`benchmarks/c2st_power.py`).

    The p-value is exact for any n and m: the deals do not look at the
    labels, and under H0 the labels are exchangeable, so they are permuted at
    random over all points; neighbours do not depend on labels, so each
    relabelling only recounts the votes (of the training points' permuted
    labels) and the AUCs: p = (1 + #{T_perm >= T_obs}) / (1 + B). (A pooled
    split scored against Binomial(n_test, 1/2) is not exact: with unequal
    sizes the classifier learns which sample is bigger.)

    Args:
        x: (n, d) and y: (m, d) samples.
        neighbours: the k's whose scores are averaged. Default s, 2s, 4s with
            s = round(sqrt(n_train)), n_train the smallest training set:
            small k for local differences, large k for smooth ones. Capped at n_train.
        permutations: B, the number of random relabellings.
        generator: randomness of the deals and the relabellings (default: seed 0).
        folds: K >= 2 folds per deal (fewer when there are under 2 K points); 1 is
            the paper's single split: train on one half, test the other.
        max_points: above this many pooled points, a random subset of that many
            (each sample in its share) is tested: the votes grow as N^1.5.
        splits: deals averaged over (ignored with ``folds=1``); fewer for very
            large samples, where the deals' votes would pass about 400 MB
            (``details["splits"]`` says how many).

    Returns:
        `TestResult` whose statistic is the mean held-out AUC; details hold
        each deal's AUC and the balanced accuracy of the rule "x when the
        score is above 1/2" over the held-out points of every deal.

    Examples:
        >>> import torch
        >>> g = torch.Generator().manual_seed(0)
        >>> x, y = torch.randn(100, 2, generator=g), torch.randn(100, 2, generator=g) + 3
        >>> result = classifier_test(x, y, permutations=199)
        >>> result.p_value, result.statistic > 0.95   # the AUC: 1/2 when they agree, 1 when apart
        (0.005, True)
    """
    x, y = check_samples(x, y)
    _check_permutations(permutations)
    for name, value in (("folds", folds), ("splits", splits)):
        if isinstance(value, bool) or int(value) != value or value < 1:
            raise UserError(f"{name} must be a positive whole number, got {value}")
    generator = _generator(generator)
    n_given, m_given = x.shape[0], y.shape[0]
    if n_given + m_given > max_points:  # a random subset, each sample in proportion (at least MIN_ROWS)
        keep_x = max(MIN_ROWS, round(max_points * n_given / (n_given + m_given)))
        keep_y = max(MIN_ROWS, max_points - keep_x)
        x = x[torch.randperm(n_given, generator=generator)[:keep_x]]
        y = y[torch.randperm(m_given, generator=generator)[:keep_y]]
    n, m = x.shape[0], y.shape[0]
    total = n + m
    z = torch.cat([x, y])  # (N, d) float64
    std = z.std(0)
    z = (z - z.mean(0)) / torch.where(std > 0, std, 1.0)  # a constant column stays 0
    parts = 2 if folds == 1 else min(int(folds), total // 2)  # two points a fold at least
    n_deals = 1 if folds == 1 else int(splits)
    # The vote matrix holds about N * (sum of k) entries per deal: fewer deals where that would pass _MAX_VOTES.
    s_guess = max(1, round((total - total // parts) ** 0.5))
    n_deals = max(1, min(n_deals, _MAX_VOTES // (total * 7 * s_guess)))
    # Each deal gives every point a fold; fold f is scored by the points of the other folds.
    fold_of = torch.stack([torch.randperm(total, generator=generator) * parts // total for _ in range(n_deals)])
    tested = fold_of == 1 if folds == 1 else torch.ones_like(fold_of, dtype=torch.bool)  # (deals, N)
    fold_size = torch.stack([torch.bincount(f, minlength=parts) for f in fold_of])  # (deals, parts)
    n_train = int((total - fold_size).min()) if folds > 1 else int(fold_size[0, 0])
    ks = _neighbour_counts(neighbours, n_train)
    # One sparse (deals * len(ks) * N, N) matrix of votes: row (deal, k, i) spreads point i's k votes
    # over its nearest training points of that deal; a relabelling is then one product.
    blocks = []
    for r in range(n_deals):
        for f in range(parts):
            held = ((fold_of[r] == f) & tested[r]).nonzero()[:, 0]
            if held.numel():
                train = (fold_of[r] != f).nonzero()[:, 0] if folds > 1 else (fold_of[r] == 0).nonzero()[:, 0]
                for j, (rows, cols, vals) in enumerate(_vote_weights(z[held], z[train], ks)):
                    blocks.append(((r * len(ks) + j) * total + held[rows], train[cols], vals))
    index = torch.stack([torch.cat([b[0] for b in blocks]), torch.cat([b[1] for b in blocks])])
    votes = torch.sparse_coo_tensor(index, torch.cat([b[2] for b in blocks]), (n_deals * len(ks) * total, total),
                                    check_invariants=False).coalesce()
    with warnings.catch_warnings():  # CSR is "beta" in torch, and twice as fast as COO at this product
        warnings.simplefilter("ignore", UserWarning)
        votes = votes.to(torch.float32).to_sparse_csr()
    if folds == 1:  # train on fold 0 only: its size and its x count are what each held point sees
        train_fold = torch.zeros_like(fold_of)
    else:
        train_fold = fold_of
    k_col = torch.tensor(ks, dtype=torch.float32)[None, :, None, None]  # (1, len(ks), 1, 1)

    def score_of(labels: Tensor) -> Tensor:
        """(deals, N, b) class-balanced k-NN scores (see `knn_scores`) for (N, b) 0/1 labels (1 = x).

        In float32, which halves the time of the relabellings: any fixed function of the labels gives an
        exact permutation test, so rounding costs no exactness, only (at worst) a tie broken.
        """
        b = labels.shape[1]
        votes_x = (votes @ labels).reshape(n_deals, len(ks), total, b)
        in_fold = torch.stack([torch.zeros(parts, b, dtype=labels.dtype).index_add_(0, f, labels) for f in fold_of])
        x_in_fold = in_fold.gather(1, train_fold[:, :, None].expand(-1, -1, b))  # (deals, N, b) x in held fold
        size = fold_size.gather(1, train_fold).to(labels.dtype)[:, :, None]  # (deals, N, 1)
        if folds == 1:  # the training set is fold 0
            n_x, n_tr = x_in_fold, size
        else:  # the training set is every other fold
            n_x, n_tr = labels.sum(0) - x_in_fold, total - size
        # No x among the training points (a tiny x, a fold holding all of it): every score 0; no y: 1.
        n_x, n_y = n_x.clamp(min=1)[:, None], (n_tr - n_x).clamp(min=1)[:, None]
        # (v / n_x) / (v / n_x + (k - v) / n_y), with one division
        weighted = votes_x * n_y
        return (weighted / (weighted + (k_col - votes_x) * n_x)).mean(1)

    def statistic(labels: Tensor) -> tuple[Tensor, Tensor]:
        """(b,) mean AUC over deals and (deals, b) AUCs, for each column of (N, b) 0/1 labels (1 = x)."""
        score = score_of(labels)
        auc = torch.stack([_auc(score[r][tested[r]], labels[tested[r]]) for r in range(n_deals)])
        return auc.mean(0), auc

    observed = (torch.arange(total) < n).to(torch.float32)[:, None]  # (N, 1)
    t_obs, deal_auc = statistic(observed)
    auc = float(t_obs[0])
    # Equal statistics along different float paths may differ in the last bits: count them as ties.
    threshold = auc - 1e-12 * abs(auc)
    exceed = count_at_least(lambda S: statistic(S.T.to(torch.float32))[0], threshold, total, n,
                            permutations, generator, rows=max(1, _CHUNK_ENTRIES // (2 * n_deals * len(ks) * total)))
    called, truth = score_of(observed)[tested], observed[:, 0].expand(n_deals, -1)[tested] > 0
    called_x = (called > 0.5).double() + 0.5 * (called == 0.5).double()  # a tie: half right
    balanced = 0.5 * (float(called_x[truth].mean()) + float(1.0 - called_x[~truth].mean()))
    return TestResult("classifier", auc, (1 + exceed) / (1 + permutations), n_given, m_given,
                      {"auc": auc, "balanced_accuracy": balanced, "neighbours": ks,
                       "folds": folds if folds == 1 else parts,
                       "splits": n_deals, "split_auc": [float(a) for a in deal_auc[:, 0]],
                       "n_train": n_train, "n_test": int(tested[0].sum()), "n_tested": [n, m],
                       "permutations": permutations})


def _vote_weights(query: Tensor, train: Tensor, ks: Sequence[int]) -> list[tuple[Tensor, Tensor, Tensor]]:
    """For each k, (rows, cols, weights): how much of its k votes each training point gives each query point.

    The k nearest get one vote each; training points tied with the k-th
    nearest share what is left (the expected vote of a random tie-break), so
    the order of the points never matters. Votes do not depend on labels.
    """
    found: list[list[tuple[Tensor, Tensor, Tensor]]] = [[] for _ in ks]
    step = max(1, _CHUNK_ENTRIES // train.shape[0])
    for start in range(0, query.shape[0], step):
        # exact differences, not the Gram trick: duplicates are at distance 0
        d = torch.cdist(query[start:start + step], train, compute_mode="donot_use_mm_for_euclid_dist")  # (c, t)
        nearest = d.topk(max(ks), dim=1, largest=False).values  # (c, max k), ascending
        for j, k in enumerate(ks):
            r = nearest[:, k - 1:k]  # (c, 1): distance to the k-th nearest
            slack = 1e-9 * r  # distances equal but for rounding are ties
            closer = d < r - slack
            at = ~closer & (d <= r + slack)  # tied with the k-th nearest
            left = (k - closer.sum(1, keepdim=True)) / at.sum(1, keepdim=True)  # (c, 1): each tie's share
            w = closer.double() + at.double() * left
            i, c = w.nonzero(as_tuple=True)
            found[j].append((i + start, c, w[i, c]))
    return [tuple(torch.cat([part[e] for part in parts]) for e in range(3)) for parts in found]


def _auc(score: Tensor, labels: Tensor) -> Tensor:
    """(b,) AUC of each column of (q, b) scores for its (q, b) 0/1 labels (1 = x), ties counting 1/2.

    The Mann-Whitney U from average ranks: rank sums are multiples of 1/2, exact in float64. Each row is
    sorted once; a run of equal scores gets the mean of its first and last positions.
    """
    values, order = score.T.sort(dim=1)  # (b, q) ascending
    b, q = values.shape
    position = torch.arange(q).expand(b, q)
    new_run = torch.ones(b, q, dtype=torch.bool)
    new_run[:, 1:] = values[:, 1:] != values[:, :-1]
    last_of_run = torch.ones(b, q, dtype=torch.bool)
    last_of_run[:, :-1] = new_run[:, 1:]
    first = torch.where(new_run, position, 0).cummax(1).values
    last = torch.where(last_of_run, position, q).flip(1).cummin(1).values.flip(1)
    ranks = (first + last).double() / 2 + 1  # (b, q), sorted order
    lab = labels.T.gather(1, order).double()  # (b, q) labels in the same order
    n1 = lab.sum(1)
    n0 = q - n1
    return ((ranks * lab).sum(1) - n1 * (n1 + 1) / 2) / (n1 * n0)


def knn_scores(query: Tensor, train: Tensor, train_is_x: Tensor, ks: Sequence[int]) -> Tensor:
    """Class-balanced k-NN scores: how x-like is each query point, in [0, 1]?

    With v_x of its k nearest training points in x and k - v_x in y, a point's
    score for one k is (v_x / n_x) / (v_x / n_x + (k - v_x) / n_y), where n_x
    and n_y count the training points of each sample: 1/2 where the two
    samples are equally dense, whatever their sizes. Training points tied with
    the k-th nearest share its remaining votes (the expected vote of a random
    tie-break), so the order of the points never matters.

    Args:
        query: (q, d) and train: (t, d) points, float64.
        train_is_x: (t,) bool, True for training points from x.
        ks: neighbour counts, each in [1, t]; the scores are averaged over them.

    Returns:
        (q,) float64 scores.
    """
    n_x = float(train_is_x.sum())
    n_y = train.shape[0] - n_x
    labels = train_is_x.to(torch.float64)
    scores = torch.zeros(query.shape[0], dtype=torch.float64)
    for k, (rows, cols, w) in zip(ks, _vote_weights(query, train, ks)):
        votes_x = torch.zeros(query.shape[0], dtype=torch.float64).index_add_(0, rows, w * labels[cols])
        share_x, share_y = votes_x / n_x, (k - votes_x) / n_y
        scores += share_x / (share_x + share_y) / len(ks)
    return scores


@torch.no_grad()
def discriminator_test(D: nn.Module, real: Tensor, fake: Tensor) -> TestResult:
    """How well does the trained discriminator tell fresh real points from fresh fakes?

    D calls a point real when its logit is positive. Its accuracy over both
    samples is the statistic. D never saw these points, so under H0 (fakes
    distributed as the real data) its scores are exchangeable between the two
    samples: given how many points it calls real, the count of real points
    among them is hypergeometric. The p-value is that exact conditional tail
    (one-sided Fisher's exact test on the 2x2 table of truth vs decision).

    Args:
        D: maps (n, d) points to (n, 1) logits.
        real: (n, d) and fake: (m, d) fresh samples.

    Returns:
        `TestResult` with statistic = accuracy; details hold the mean D(x)
        (probability "real") on each sample.
    """
    real, fake = check_samples(real, fake)
    p_real = torch.sigmoid(D(real.float()).reshape(-1).double())  # (n,)
    p_fake = torch.sigmoid(D(fake.float()).reshape(-1).double())  # (m,)
    n, m = real.shape[0], fake.shape[0]
    real_called_real = int((p_real > 0.5).sum())
    fake_called_real = int((p_fake > 0.5).sum())
    accuracy = (real_called_real + (m - fake_called_real)) / (n + m)
    called_real = real_called_real + fake_called_real
    # P(X >= real_called_real), X ~ Hypergeometric(N = n + m, K = called_real, draws = n)
    p = float(stats.hypergeom.sf(real_called_real - 1, n + m, called_real, n))
    return TestResult("discriminator", accuracy, p, n, m,
                      {"accuracy": accuracy, "mean_d_real": float(p_real.mean()),
                       "mean_d_fake": float(p_fake.mean())})


def blocked(test, x: Tensor, y: Tensor, block_size: int = 2000, **kwargs) -> TestResult:
    """A quadratic-time test on independent blocks, for samples too big for one (N, N) matrix.

    x and y are each cut into k blocks whose sizes differ by at most one, with
    k = ceil(max(n, m) / block_size) but no more than min(n, m) // 4, so every
    block of the smaller sample still has the 4 points a test needs (when one
    sample is tiny, blocks of the other can then exceed ``block_size``). Each
    block pair is tested and the k independent p-values are combined by
    Fisher's method (-2 sum ln p ~ chi^2 with 2k degrees of freedom under H0;
    permutation p-values are never too small, so the combination stays
    valid). Every point is used exactly once. With k = 1 this is just
    ``test(x, y, **kwargs)``.

    Args:
        test: `mmd_test` or `energy_test`.
        x: (n, d) and y: (m, d) samples.
        block_size: the most points per side in one block.
        **kwargs: passed to ``test`` (``permutations``, ``generator``, ...).

    Returns:
        `TestResult` with the mean block statistic and the combined p-value;
        details list the blocks' p-values.
    """
    x, y = torch.as_tensor(x), torch.as_tensor(y)
    n, m = x.shape[0], y.shape[0]
    k = min(-(-max(n, m) // block_size), min(n, m) // MIN_ROWS)
    if k <= 1:
        return test(x, y, **kwargs)
    # k parts each, sizes within one (chunk can return fewer than k parts, and zip then drops points)
    parts = [test(xb, yb, **kwargs) for xb, yb in zip(x.tensor_split(k), y.tensor_split(k))]
    p = float(stats.combine_pvalues([r.p_value for r in parts], method="fisher").pvalue)
    details = {**parts[0].details, "blocks": k, "block_p_values": [r.p_value for r in parts]}
    return TestResult(parts[0].name, sum(r.statistic for r in parts) / k, p, n, m, details)


def all_tests(
    x: Tensor, y: Tensor, permutations: int = 999, generator: torch.Generator | None = None,
    block_size: int = 2000,
) -> list[TestResult]:
    """MMD, energy and classifier tests of x against y, drawing from one generator in that order.

    MMD and energy run on blocks of at most ``block_size`` points per side
    (see `blocked`), so memory stays bounded (about 4 (2 block_size)^2 float64).
    """
    generator = _generator(generator)
    return [
        blocked(mmd_test, x, y, block_size, permutations=permutations, generator=generator),
        blocked(energy_test, x, y, block_size, permutations=permutations, generator=generator),
        classifier_test(x, y, permutations=permutations, generator=generator),
    ]


def _neighbour_counts(neighbours: Sequence[int] | None, n_train: int) -> list[int]:
    """The k's of `classifier_test`: s, 2s, 4s with s = round(sqrt(n_train)) by default, capped at n_train."""
    if neighbours is None:
        s = max(1, round(n_train ** 0.5))
        neighbours = [s, 2 * s, 4 * s]
    ks = list(neighbours)
    if not ks or any(isinstance(k, bool) or int(k) != k or k < 1 for k in ks):
        raise UserError(f"neighbours must be positive whole numbers, got {ks}")
    return sorted({min(int(k), n_train) for k in ks})


def _check_permutations(permutations: int) -> None:
    if permutations < 1:
        raise UserError(f"permutations must be at least 1, got {permutations}")


def _generator(generator: torch.Generator | None) -> torch.Generator:
    return generator if generator is not None else torch.Generator().manual_seed(0)


__all__ = ["TestResult", "check_samples", "squared_distances", "median_bandwidth", "gaussian_kernel",
           "random_splits", "block_sums", "mmd2_from_sums", "energy_from_sums", "permutation_test", "count_at_least",
           "mmd_test", "energy_test", "classifier_test", "knn_scores", "discriminator_test", "blocked",
           "all_tests", "MIN_ROWS"]
