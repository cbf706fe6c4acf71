"""Toy targets beyond the chapter's Gaussian, each with its truth known exactly.

Standard definitions from the GAN literature:

- ``ring8``: 8 Gaussians, std 0.02, means on the circle of radius 2 at angles
  2 pi k / 8, k = 0..7 (Metz et al. 2017, Unrolled GANs; Srivastava et al. 2017,
  VEEGAN). Eight distinct modes: a widely copied helper builds the angles
  from a linspace that includes both 0 and 2 pi, putting two of the "8"
  modes on the same point; `ring8` is tested against that.
- ``grid25``: 25 Gaussians, std 0.05, means (-4 + 2i, -4 + 2j), i, j = 0..4
  (VEEGAN; Lin et al. 2018, PacGAN).
- ``moons``: two interleaving half circles, scikit-learn's ``make_moons``
  as a distribution: t ~ U(0, pi), each moon with probability 1/2, outer
  (cos t, sin t), inner (1 - cos t, 1/2 - sin t), plus N(0, 0.1^2 I) noise.
- ``swissroll``: scikit-learn's ``make_swiss_roll`` seen from above, scaled
  as in the WGAN-GP toy experiments: t = 1.5 pi (1 + 2u), u ~ U(0, 1),
  (t cos t, t sin t) / 7.5, plus N(0, (0.25 / 7.5)^2 I) noise.

Every target has ``sample(n, rng)``, ``dim`` and its exact first two
moments ``mean`` (d,) and ``cov`` (d, d) (closed form for the mixtures, by
quadrature for the curves), so the Gaussian diagnostics (FD, KL) apply to its
moment-matched Gaussian. Mixtures also expose ``means``, ``covs`` and
``weights`` so that mode metrics apply.

Portable draws: ``sample`` takes a NumPy ``Generator`` and computes in float64
with elementwise operations only (each one correctly rounded, in a fixed
order: no BLAS, whose kernels sum in an order of their own, and no NumPy or
torch vectorised ``cos``, whose SIMD versions differ between CPUs; `portable`
applies Python's ``math`` functions), then rounds once to float32. So the
points of a seed are the same bits on every machine with the same NumPy.
The one dependency left is the C library: the ziggurat normal sampler calls
its ``exp`` and ``log`` for a few draws in a hundred, and the curves its
``cos`` and ``sin``.
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np
import torch
from torch import Tensor


class GaussianMixture:
    """sum_k w_k N(means[k], covs[k]).

    Args:
        name: the target's name.
        means: (K, d) component means.
        covs: (K, d, d) component covariances (positive definite).
        weights: (K,) mixture weights (default: equal).
    """

    def __init__(self, name: str, means, covs, weights=None):
        self.name = name
        self.means = torch.as_tensor(means, dtype=torch.float64)  # (K, d)
        self.covs = torch.as_tensor(covs, dtype=torch.float64)  # (K, d, d)
        k = self.means.shape[0]
        w = [1.0] * k if weights is None else [float(v) for v in weights]
        total = math.fsum(w)  # exactly rounded, so the weights are the same bits everywhere
        self.weights = torch.tensor([v / total for v in w], dtype=torch.float64)
        self.dim = self.means.shape[1]
        self._chol = torch.linalg.cholesky(self.covs)  # (K, d, d)

    @property
    def mean(self) -> Tensor:
        """(d,) float64: sum_k w_k mu_k."""
        return self.weights @ self.means

    @property
    def cov(self) -> Tensor:
        """(d, d) float64: sum_k w_k (S_k + mu_k mu_k^T) - mu mu^T."""
        second = (self.weights[:, None, None] * (self.covs + self.means[:, :, None] * self.means[:, None, :])).sum(0)
        mu = self.mean
        return second - torch.outer(mu, mu)

    def sample(self, n: int, rng: np.random.Generator) -> Tensor:
        """(n, d) float32: a component per point, then its Gaussian (portable: see the module's notes)."""
        weights = self.weights.numpy()
        component = rng.choice(len(weights), size=n, p=weights)  # (n,)
        eps = rng.standard_normal((n, self.dim))  # (n, d)
        x = affine(eps[:, None, :], self._chol.numpy()[component].transpose(0, 2, 1), self.means.numpy()[component])
        return torch.from_numpy(x[:, 0].astype(np.float32))


class CurveTarget:
    """Points on parametric curves plus isotropic Gaussian noise.

    A branch is chosen uniformly, then t ~ U(low, high) and the point is
    curve(t) + N(0, noise^2 I).

    Args:
        name: the target's name.
        branches: functions t (array) -> (len(t), d) float64 arrays.
        low, high: the parameter interval.
        noise: standard deviation of the added noise.
    """

    def __init__(self, name: str, branches: list[Callable], low: float, high: float, noise: float):
        self.name = name
        self.branches = branches
        self.low, self.high = low, high
        self.noise = noise
        self.dim = branches[0](np.zeros(1)).shape[1]
        self._moments = None

    def sample(self, n: int, rng: np.random.Generator) -> Tensor:
        """(n, d) float32 (portable: see the module's notes)."""
        branch = rng.integers(len(self.branches), size=n)  # (n,)
        t = self.low + (self.high - self.low) * rng.random(n)  # (n,)
        eps = rng.standard_normal((n, self.dim))  # (n, d)
        points = np.zeros((n, self.dim))
        for b, curve in enumerate(self.branches):
            mask = branch == b
            if mask.any():
                points[mask] = curve(t[mask])
        return torch.from_numpy((points + self.noise * eps).astype(np.float32))

    @property
    def mean(self) -> Tensor:
        """(d,) float64, exact (by quadrature)."""
        return self._exact_moments()[0].clone()

    @property
    def cov(self) -> Tensor:
        """(d, d) float64, exact (by quadrature), noise included."""
        return self._exact_moments()[1].clone()

    def _exact_moments(self) -> tuple[Tensor, Tensor]:
        if self._moments is None:
            from scipy.integrate import quad  # here, not at import: it costs a third of a second

            d, width = self.dim, self.high - self.low

            def expect(f):  # E over branch and t of f(curve(t)), a scalar
                total = 0.0
                for curve in self.branches:
                    value, _ = quad(lambda t: f(curve(np.array([t]))[0]), self.low, self.high,
                                    limit=200, epsabs=1e-13, epsrel=1e-12)
                    total += value / width
                return total / len(self.branches)

            mean = np.array([expect(lambda p, i=i: p[i]) for i in range(d)])
            second = np.array([[expect(lambda p, i=i, j=j: p[i] * p[j]) for j in range(d)] for i in range(d)])
            cov = second - np.outer(mean, mean) + self.noise**2 * np.eye(d)
            self._moments = (torch.from_numpy(mean), torch.from_numpy(cov))
        return self._moments


def affine(x: np.ndarray, A: np.ndarray, b: np.ndarray) -> np.ndarray:
    """x A + b in float64, summed term by term in a fixed order: the same bits on every CPU.

    Args:
        x: (..., n, k) points; A: (..., k, d) (broadcast against x); b: (..., d).

    Returns:
        (..., n, d) float64: (((x_0 A_0 + x_1 A_1) + ...) + b), each product and sum rounded once.
    """
    x, A = np.asarray(x, np.float64), np.asarray(A, np.float64)
    out = x[..., 0:1] * A[..., 0:1, :]
    for k in range(1, x.shape[-1]):
        out = out + x[..., k:k + 1] * A[..., k:k + 1, :]
    return out + np.asarray(b, np.float64)[..., None, :]


def exact_gram(vectors: list[list[float]]) -> Tensor:
    """(k, k) float64 of every pair's dot product, each an exactly rounded sum (``math.fsum``) of the
    rounded products: the same bits on every CPU, where a BLAS product may fuse and reorder them.

    Args:
        vectors: k vectors of equal length (the rows of W give W W^T; the columns of A give A^T A).
    """
    return torch.tensor([[math.fsum(a * b for a, b in zip(u, v)) for v in vectors] for u in vectors],
                        dtype=torch.float64)


def portable(func: Callable[[float], float], t: np.ndarray) -> np.ndarray:
    """``func`` (a ``math`` function) applied to each element of float64 ``t``, through the C library.

    NumPy's and torch's own ``cos`` and ``sin`` have SIMD versions chosen by the
    CPU, which can differ in the last bit; Python's ``math`` calls the C library's.
    """
    flat = np.asarray(t, np.float64).ravel()
    return np.fromiter(map(func, flat.tolist()), np.float64, count=flat.size).reshape(np.shape(t))


def ring8(radius: float = 2.0, std: float = 0.02) -> GaussianMixture:
    """Eight Gaussians on a circle, at angles 2 pi k / 8 (eight distinct modes)."""
    angles = [2 * math.pi * k / 8 for k in range(8)]
    means = [[radius * math.cos(a), radius * math.sin(a)] for a in angles]  # (8, 2)
    return GaussianMixture("ring8", means, _isotropic(8, 2, std))


def grid25(spacing: float = 2.0, std: float = 0.05) -> GaussianMixture:
    """A 5x5 grid of Gaussians, centred on the origin."""
    axis = spacing * (torch.arange(5, dtype=torch.float64) - 2)
    means = torch.cartesian_prod(axis, axis)  # (25, 2)
    return GaussianMixture("grid25", means, _isotropic(25, 2, std))


def moons(noise: float = 0.1) -> CurveTarget:
    """Two interleaving half circles (scikit-learn's make_moons as a distribution)."""
    outer = lambda t: np.stack([portable(math.cos, t), portable(math.sin, t)], axis=1)  # noqa: E731
    inner = lambda t: np.stack([1 - portable(math.cos, t), 0.5 - portable(math.sin, t)], axis=1)  # noqa: E731
    return CurveTarget("moons", [outer, inner], 0.0, math.pi, noise)


def swissroll(noise: float = 0.25, scale: float = 7.5) -> CurveTarget:
    """The 2-D swiss roll (make_swiss_roll's x and z columns, divided by ``scale``)."""
    roll = lambda t: np.stack([t * portable(math.cos, t), t * portable(math.sin, t)], axis=1) / scale  # noqa: E731
    return CurveTarget("swissroll", [roll], 1.5 * math.pi, 4.5 * math.pi, noise / scale)


def _isotropic(k: int, d: int, std: float) -> Tensor:
    return (std**2) * torch.eye(d, dtype=torch.float64).expand(k, d, d).clone()


# name -> factory(DataConfig) -> target; merged into gankit.data.points.TARGETS.
NAMED_TARGETS: dict[str, Callable] = {
    "ring8": lambda cfg: ring8(),
    "grid25": lambda cfg: grid25(),
    "moons": lambda cfg: moons(),
    "swissroll": lambda cfg: swissroll(),
}

__all__ = ["GaussianMixture", "CurveTarget", "affine", "exact_gram", "portable", "ring8", "grid25", "moons", "swissroll", "NAMED_TARGETS"]
