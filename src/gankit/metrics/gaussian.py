"""Closed-form comparisons of Gaussians, in float64.

- Fréchet distance (the squared 2-Wasserstein distance between Gaussians):
  FD = |m1 - m2|^2 + tr(S1 + S2 - 2 (S1^1/2 S2 S1^1/2)^1/2)
- KL(N0 || N1) = 1/2 [tr(S1^-1 S0) + (m1 - m0)^T S1^-1 (m1 - m0) - d + ln(det S1 / det S0)]

Portable in low dimension: for points of up to `EXACT_DIM` coordinates (the
chapter's 2-D Gaussian, the toy targets) the fits sum with ``math.fsum``
(exactly rounded, so independent of summation order) and FD and KL are
written out for d <= 2 in scalar float64 operations, each correctly rounded;
so the summary's MLE row is the same bits on every CPU (only KL's ``log``
comes from the C library). BLAS and LAPACK, which torch's matrix products
and eigendecompositions call, sum in orders and with fused multiply-adds
that depend on the CPU; they serve higher dimensions (image features).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from gankit.data.targets import exact_gram
from gankit.models import device_of


EXACT_DIM = 4  # up to this many coordinates, fits are exactly rounded sums (the same bits everywhere)


def gaussian_fit(x: Tensor) -> tuple[Tensor, Tensor]:
    """Maximum-likelihood mean (d,) and covariance (d, d) of (N, d) samples, float64.

    The covariance divides by N (the MLE), not N - 1. For d <= `EXACT_DIM`
    every entry is an exactly rounded sum (``math.fsum``) of float64 terms,
    so the result does not depend on the CPU or on the order of the rows'
    summation; above it, torch's matrix product.

    Examples:
        >>> import torch
        >>> mean, cov = gaussian_fit(torch.tensor([[0.0, 0.0], [2.0, 0.0], [0.0, 2.0], [2.0, 2.0]]))
        >>> mean.tolist(), cov.tolist()
        ([1.0, 1.0], [[1.0, 0.0], [0.0, 1.0]])
    """
    x = x.detach().to(torch.float64)
    n, d = x.shape
    if d > EXACT_DIM:
        mean = x.mean(0)
        centred = x - mean
        return mean, centred.T @ centred / n
    cols = x.cpu().numpy().T  # (d, N)
    mean = [math.fsum(c.tolist()) / n for c in cols]
    centred = [c - m for c, m in zip(cols, mean)]  # elementwise: each difference rounded once
    cov = [[0.0] * d for _ in range(d)]
    for i in range(d):
        for j in range(i, d):
            cov[i][j] = cov[j][i] = math.fsum((centred[i] * centred[j]).tolist()) / n
    return torch.tensor(mean, dtype=torch.float64), torch.tensor(cov, dtype=torch.float64)


def _psd_sqrt(s: Tensor) -> Tensor:
    vals, vecs = torch.linalg.eigh(s)
    return (vecs * vals.clamp_min(0).sqrt()) @ vecs.T


def frechet_distance(m1: Tensor, s1: Tensor, m2: Tensor, s2: Tensor) -> float:
    """Fréchet distance between N(m1, s1) and N(m2, s2); symmetric, zero iff equal.

    Args:
        m1: (d,) mean of the first Gaussian.
        s1: (d, d) its positive semi-definite covariance.
        m2: (d,) mean of the second.
        s2: (d, d) its covariance.

    Returns:
        |m1 - m2|² + tr(s1 + s2 - 2 (s1^½ s2 s1^½)^½), the squared 2-Wasserstein distance.

    Examples:
        >>> import torch
        >>> frechet_distance(torch.zeros(2), torch.eye(2), torch.ones(2), torch.eye(2))  # |m1 - m2|^2
        2.0
        >>> frechet_distance(torch.zeros(2), torch.eye(2), torch.zeros(2), 4 * torch.eye(2))  # (2 - 1)^2 per axis
        2.0
    """
    m1, s1, m2, s2 = (t.detach().cpu().to(torch.float64) for t in (m1, s1, m2, s2))
    if m1.numel() <= 2:
        return _frechet_small(m1.tolist(), s1.tolist(), m2.tolist(), s2.tolist())
    root = _psd_sqrt(s1)
    cross = torch.linalg.eigvalsh(root @ s2 @ root).clamp_min(0).sqrt().sum()
    value = (m1 - m2).pow(2).sum() + torch.trace(s1) + torch.trace(s2) - 2 * cross
    return max(float(value), 0.0)


def kl_gaussians(m0: Tensor, s0: Tensor, m1: Tensor, s1: Tensor) -> float:
    """KL(N(m0, s0) || N(m1, s1)); ``inf`` when s1 is singular (or s0 is).

    Examples:
        >>> import torch
        >>> round(kl_gaussians(torch.zeros(2), torch.eye(2), torch.zeros(2), 2 * torch.eye(2)), 6)  # ln 2 - 1/2
        0.193147
    """
    m0, s0, m1, s1 = (t.detach().cpu().to(torch.float64) for t in (m0, s0, m1, s1))
    d = m0.numel()
    if d <= 2:
        return _kl_small(m0.tolist(), s0.tolist(), m1.tolist(), s1.tolist())
    sign0, logdet0 = torch.linalg.slogdet(s0)
    sign1, logdet1 = torch.linalg.slogdet(s1)
    if sign0 <= 0 or sign1 <= 0:
        return math.inf
    diff = (m1 - m0).unsqueeze(1)  # (d, 1)
    inv_s0 = torch.linalg.solve(s1, s0)
    mahal = torch.linalg.solve(s1, diff)
    value = 0.5 * (torch.trace(inv_s0) + (diff * mahal).sum() - d + logdet1 - logdet0)
    return max(float(value), 0.0)


def _frechet_small(m1: list, s1: list, m2: list, s2: list) -> float:
    """FD for d <= 2 in scalar float64 operations (the same bits on every CPU).

    For 2 x 2 positive semi-definite S1, S2 the eigenvalues l1, l2 of
    S1^1/2 S2 S1^1/2 are those of S1 S2, so
    tr (S1^1/2 S2 S1^1/2)^1/2 = sqrt(l1) + sqrt(l2) = sqrt(tr(S1 S2) + 2 sqrt(det S1 det S2)).
    """
    if len(m1) == 1:
        cross = math.sqrt(max(s1[0][0] * s2[0][0], 0.0))
        return max(math.fsum([(m1[0] - m2[0]) ** 2, s1[0][0], s2[0][0], -2.0 * cross]), 0.0)
    (a1, b1), (_, c1) = s1
    (a2, b2), (_, c2) = s2
    det = max((a1 * c1 - b1 * b1) * (a2 * c2 - b2 * b2), 0.0)
    tr_prod = math.fsum([a1 * a2, 2.0 * b1 * b2, c1 * c2])
    cross = math.sqrt(max(tr_prod + 2.0 * math.sqrt(det), 0.0))
    value = math.fsum([(m1[0] - m2[0]) ** 2, (m1[1] - m2[1]) ** 2, a1, c1, a2, c2, -2.0 * cross])
    return max(value, 0.0)


def _kl_small(m0: list, s0: list, m1: list, s1: list) -> float:
    """KL(N(m0, s0) || N(m1, s1)) for d <= 2 in scalar float64 operations; ``inf`` if either is singular."""
    if len(m0) == 1:
        v0, v1, diff = s0[0][0], s1[0][0], m1[0] - m0[0]
        if v0 <= 0 or v1 <= 0:
            return math.inf
        return max(0.5 * (v0 / v1 + diff * diff / v1 - 1.0 + math.log(v1) - math.log(v0)), 0.0)
    (a0, b0), (_, c0) = s0
    (a1, b1), (_, c1) = s1
    det0, det1 = a0 * c0 - b0 * b0, a1 * c1 - b1 * b1
    if a0 <= 0 or a1 <= 0 or det0 <= 0 or det1 <= 0:
        return math.inf
    dx, dy = m1[0] - m0[0], m1[1] - m0[1]
    # S1^-1 = [[c1, -b1], [-b1, a1]] / det1
    trace = math.fsum([c1 * a0, -2.0 * b1 * b0, a1 * c0]) / det1
    mahal = math.fsum([c1 * dx * dx, -2.0 * b1 * dx * dy, a1 * dy * dy]) / det1
    return max(0.5 * math.fsum([trace, mahal, -2.0, math.log(det1), -math.log(det0)]), 0.0)


def exact_gaussian(G: nn.Module) -> tuple[Tensor, Tensor] | None:
    """N(bias, W W^T) in float64 for a generator that is one affine layer (y = z W^T + bias), else None.

    An `MLP` with an ``out_scale`` s and no hidden layer gives N(s bias, s^2 W W^T).
    """
    layers = [m for m in G.modules() if not list(m.children())]
    if len(layers) == 1 and isinstance(layers[0], nn.Linear) and getattr(G, "in_scale", 1.0) == 1.0:
        s = float(getattr(G, "out_scale", 1.0))
        W = layers[0].weight.detach().cpu().to(torch.float64)  # (d, latent)
        # exactly rounded sums (the same bits everywhere) in low dimension, BLAS above
        cov = exact_gram(W.tolist()) if max(W.shape) <= EXACT_DIM else W @ W.T
        return s * layers[0].bias.detach().cpu().to(torch.float64), (s * s) * cov
    return None


def generator_gaussian(
    G: nn.Module, latent_dim: int, n: int = 200_000, seed: int = 0
) -> tuple[Tensor, Tensor, bool]:
    """The mean and covariance of G(z), z ~ N(0, I).

    Exact for a single affine layer (y = z W^T + bias gives N(bias, W W^T));
    otherwise estimated from ``n`` samples drawn with ``seed``.

    Returns:
        (mean (d,), cov (d, d), exact) in float64.
    """
    exact = exact_gaussian(G)
    if exact is not None:
        return *exact, True
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        z = torch.randn(n, latent_dim, generator=gen)
        mean, cov = gaussian_fit(G(z.to(device_of(G))).cpu())
    return mean, cov, False
