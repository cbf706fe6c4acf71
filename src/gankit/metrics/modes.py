"""Mode metrics for mixture targets (Metz et al. 2017; Srivastava et al. 2017, VEEGAN).

Each sample is assigned to its nearest mode by Mahalanobis distance
r_k(x) = sqrt((x - mu_k)^T S_k^-1 (x - mu_k)). A sample is *high quality*
when r <= 3 (within three standard deviations of that mode). A mode is
*captured* when at least ``min_count`` high-quality samples are assigned to
it (VEEGAN's definition is ``min_count = 1``). The KL divergence between
the high-quality samples' mode frequencies and the true mixture weights
tells how evenly the captured modes are covered.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor


def mahalanobis(x: Tensor, means: Tensor, covs: Tensor) -> Tensor:
    """(n, K) Mahalanobis distances of (n, d) points to K Gaussians (means (K, d), covs (K, d, d))."""
    x = x.to(torch.float64)
    chol = torch.linalg.cholesky(covs.to(torch.float64))  # (K, d, d)
    diff = x[None, :, :] - means.to(torch.float64)[:, None, :]  # (K, n, d)
    # Solve L w = diff^T per mode: |w|^2 = diff^T S^-1 diff.
    w = torch.linalg.solve_triangular(chol, diff.transpose(1, 2), upper=False)  # (K, d, n)
    return w.pow(2).sum(1).sqrt().T  # (n, K)


def mode_metrics(x: Tensor, means: Tensor, covs: Tensor, weights: Tensor | None = None,
                 threshold: float = 3.0, min_count: int = 1) -> dict[str, Any]:
    """The standard mode metrics of samples from a generator.

    Args:
        x: (n, d) samples.
        means: (K, d) and covs: (K, d, d) of the target's components.
        weights: (K,) true mixture weights (default: equal).
        threshold: Mahalanobis radius of a high-quality sample (3 standard deviations).
        min_count: high-quality samples a mode needs to count as captured.

    Returns:
        ``modes`` (K), ``modes_captured``, ``high_quality_fraction``,
        ``counts`` (high-quality samples per mode), ``kl_modes``
        (KL(high-quality frequencies || weights); null with no high-quality sample).
    """
    k = means.shape[0]
    weights = torch.full((k,), 1.0 / k, dtype=torch.float64) if weights is None else weights.to(torch.float64)
    r = mahalanobis(x, means, covs)  # (n, K)
    nearest_r, nearest = r.min(dim=1)  # (n,), (n,)
    good = nearest_r <= threshold
    counts = torch.bincount(nearest[good], minlength=k)  # (K,)
    n_good = int(good.sum())
    kl = None
    if n_good > 0:
        freq = counts.to(torch.float64) / n_good
        seen = freq > 0
        kl = float((freq[seen] * (freq[seen] / weights[seen]).log()).sum())
    return {
        "modes": k,
        "modes_captured": int((counts >= min_count).sum()),
        "high_quality_fraction": n_good / x.shape[0] if x.shape[0] else math.nan,
        "counts": counts.tolist(),
        "kl_modes": kl,
    }


__all__ = ["mahalanobis", "mode_metrics"]
