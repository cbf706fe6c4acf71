"""Closed-form comparisons of Gaussians, in float64.

- Fréchet distance (the squared 2-Wasserstein distance between Gaussians):
  FD = |m1 - m2|^2 + tr(S1 + S2 - 2 (S1^1/2 S2 S1^1/2)^1/2)
- KL(N0 || N1) = 1/2 [tr(S1^-1 S0) + (m1 - m0)^T S1^-1 (m1 - m0) - d + ln(det S1 / det S0)]
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from gankit.models import device_of


def gaussian_fit(x: Tensor) -> tuple[Tensor, Tensor]:
    """Maximum-likelihood mean (d,) and covariance (d, d) of (N, d) samples, float64.

    The covariance divides by N (the MLE), not N - 1.
    """
    x = x.detach().to(torch.float64)
    mean = x.mean(0)
    centred = x - mean
    return mean, centred.T @ centred / x.shape[0]


def _psd_sqrt(s: Tensor) -> Tensor:
    vals, vecs = torch.linalg.eigh(s)
    return (vecs * vals.clamp_min(0).sqrt()) @ vecs.T


def frechet_distance(m1: Tensor, s1: Tensor, m2: Tensor, s2: Tensor) -> float:
    """Fréchet distance between N(m1, s1) and N(m2, s2); symmetric, zero iff equal.

    Args:
        m1, m2: (d,) means.
        s1, s2: (d, d) positive semi-definite covariances.
    """
    m1, s1, m2, s2 = (t.to(torch.float64) for t in (m1, s1, m2, s2))
    root = _psd_sqrt(s1)
    cross = torch.linalg.eigvalsh(root @ s2 @ root).clamp_min(0).sqrt().sum()
    value = (m1 - m2).pow(2).sum() + torch.trace(s1) + torch.trace(s2) - 2 * cross
    return max(float(value), 0.0)


def kl_gaussians(m0: Tensor, s0: Tensor, m1: Tensor, s1: Tensor) -> float:
    """KL(N(m0, s0) || N(m1, s1)); ``inf`` when s1 is singular (or s0 is)."""
    m0, s0, m1, s1 = (t.to(torch.float64) for t in (m0, s0, m1, s1))
    d = m0.numel()
    sign0, logdet0 = torch.linalg.slogdet(s0)
    sign1, logdet1 = torch.linalg.slogdet(s1)
    if sign0 <= 0 or sign1 <= 0:
        return math.inf
    diff = (m1 - m0).unsqueeze(1)  # (d, 1)
    inv_s0 = torch.linalg.solve(s1, s0)
    mahal = torch.linalg.solve(s1, diff)
    value = 0.5 * (torch.trace(inv_s0) + (diff * mahal).sum() - d + logdet1 - logdet0)
    return max(float(value), 0.0)


def exact_gaussian(G: nn.Module) -> tuple[Tensor, Tensor] | None:
    """N(bias, W W^T) in float64 for a generator that is one affine layer (y = z W^T + bias), else None.

    An `MLP` with an ``out_scale`` s and no hidden layer gives N(s bias, s^2 W W^T).
    """
    layers = [m for m in G.modules() if not list(m.children())]
    if len(layers) == 1 and isinstance(layers[0], nn.Linear) and getattr(G, "in_scale", 1.0) == 1.0:
        s = float(getattr(G, "out_scale", 1.0))
        W = layers[0].weight.detach().cpu().to(torch.float64)  # (d, latent)
        return s * layers[0].bias.detach().cpu().to(torch.float64), (s * s) * (W @ W.T)
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
