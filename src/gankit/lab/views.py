"""What one frame of the lab shows, computed from the networks as they are now.

- D's surface: sigmoid of D's logit on a grid over a square view of the data
  (P(real) for the cross-entropy objectives), as bytes 0..255 for a canvas;
- generated points from fixed noise, and the pull -d loss_G / d x on each
  (`gankit.viz.ganlab.generator_pull`), drawn on a scale fixed for the whole run:
  the legend's arrow is one `Geometry.pull_unit` of pull, whatever D does later,
  so a weak pull looks weak;
- the manifold: G's image of a grid in the first two latent dimensions (GAN Lab's view);
- how far G's Gaussian is from the truth (`gankit.metrics.gaussian`).

Every function here reads the networks without changing them or any random stream.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

from gankit import streams
from gankit.metrics.gaussian import exact_gaussian, frechet_distance, gaussian_fit, kl_gaussians
from gankit.engines.objectives import get_objective
from gankit.viz.ganlab import generator_pull

GRID = 64  # D's surface is GRID x GRID values
N_FAKE = 256  # generated points shown, from fixed noise
N_REAL = 600  # real points shown (the first of the training set)
MANIFOLD = 11  # the latent grid is MANIFOLD x MANIFOLD nodes ...
MANIFOLD_SPAN = 2.0  # ... over [-2, 2] in z1 and z2 (95% of N(0, 1) per axis)
N_FIT = 4096  # samples behind the Gaussian fit of a generator that is not affine


@dataclass
class Geometry:
    """The fixed geometry of a problem's views.

    Attributes:
        extent: (x1_min, x1_max, x2_min, x2_max), a square holding the data and the origin
            (where G's samples start).
        grid: (GRID * GRID, 2) points where D is evaluated, rows from x2_min up, each left to right.
        pull_unit: the pull (loss per unit of x) that the legend's arrow stands for.
        arrow: the legend arrow's length in data units; a pull p is drawn p / pull_unit times it.
    """

    extent: tuple[float, float, float, float]
    grid: Tensor
    pull_unit: float
    arrow: float


def geometry(real: Tensor, margin: float = 0.15) -> Geometry:
    """The square view of (N, 2) points (and the origin) with a margin, its grid and the pull's scale.

    The scale: a discriminator whose logit changes by 4 across the view pulls
    with about 4 / width, drawn as an eighth of the width; the unit is that
    rounded to 1, 2 or 5 times a power of ten.
    """
    lo = torch.minimum(real.min(0).values, torch.zeros(2)).double()
    hi = torch.maximum(real.max(0).values, torch.zeros(2)).double()
    centre, side = (lo + hi) / 2, float((hi - lo).max()) * (1 + 2 * margin) or 1.0
    x0, y0 = float(centre[0]) - side / 2, float(centre[1]) - side / 2
    extent = (x0, x0 + side, y0, y0 + side)
    steps = (torch.arange(GRID, dtype=torch.float64) + 0.5) / GRID * side  # cell centres
    gy, gx = torch.meshgrid(y0 + steps, x0 + steps, indexing="ij")
    grid = torch.stack([gx.flatten(), gy.flatten()], 1).float()  # (GRID*GRID, 2)
    return Geometry(extent, grid, nice(4.0 / side), side / 8)


def nice(x: float) -> float:
    """``x`` rounded to 1, 2 or 5 times a power of ten."""
    power = 10.0 ** math.floor(math.log10(x))
    return min((1.0, 2.0, 5.0, 10.0), key=lambda m: abs(math.log(m * power / x))) * power


@torch.no_grad()
def surface(D: nn.Module, geo: Geometry) -> bytes:
    """sigmoid(D(x)) on ``geo.grid`` as GRID * GRID bytes (0..255), rows from the bottom."""
    prob = torch.nan_to_num(torch.sigmoid(D(geo.grid)).reshape(-1), nan=0.5)  # (GRID*GRID,)
    return (prob.clamp(0, 1) * 255).round().to(torch.uint8).numpy().tobytes()


def pull(D: nn.Module, fake: Tensor, loss: str) -> Tensor:
    """-d loss_G / d x on each generated point (N, 2), for the objective named ``loss``."""
    return generator_pull(D, fake, get_objective(loss).g_loss)


def latent_grid(latent_dim: int) -> Tensor:
    """(MANIFOLD^2, latent_dim): a grid over z1, z2 (z1 fastest), other coordinates 0."""
    axis = torch.linspace(-MANIFOLD_SPAN, MANIFOLD_SPAN, MANIFOLD)
    z2, z1 = torch.meshgrid(axis, axis, indexing="ij")
    z = torch.zeros(MANIFOLD * MANIFOLD, latent_dim)
    z[:, 0] = z1.flatten()
    if latent_dim > 1:
        z[:, 1] = z2.flatten()
    return z


def fixed_noise(seed: int, latent_dim: int) -> Tensor:
    """(N_FAKE, latent_dim) noise from the run's ``figures`` stream: the first are the snapshots' own."""
    return torch.randn(N_FAKE, latent_dim, generator=streams.generator(seed, "figures"))


class GaussianGap:
    """FD and KL(truth || fit) of G's Gaussian to the truth, or FD to the data's fit where none is known.

    G's Gaussian is exact for an affine generator, else fitted to `N_FIT`
    samples of fixed noise (the ``summary.fit`` stream).
    """

    def __init__(self, target, train: Tensor, seed: int, latent_dim: int):
        if target is not None and hasattr(target, "cov"):
            self.reference, self.known = (target.mean, target.cov), True  # the curves' moments: quadrature, once
        else:
            self.reference, self.known = gaussian_fit(train), False
        self.z = torch.randn(N_FIT, latent_dim, generator=streams.generator(seed, "summary.fit"))

    @torch.no_grad()
    def __call__(self, G: nn.Module) -> dict[str, float | None]:
        fit = exact_gaussian(G) or gaussian_fit(G(self.z))
        if not all(torch.isfinite(t).all() for t in fit):  # a diverged G
            return {"fd": None, "kl": None, "truth_known": self.known}
        fd = frechet_distance(*fit, *self.reference)
        kl = kl_gaussians(*self.reference, *fit) if self.known else math.nan
        return {"fd": _finite(fd), "kl": _finite(kl), "truth_known": self.known}


def rounded(x: Tensor | np.ndarray, digits: int = 4) -> list:
    """A tensor as nested lists of numbers rounded for the wire (NaN and infinities become None)."""
    array = np.round(np.asarray(x, dtype=np.float64), digits)
    if np.isfinite(array).all():
        return array.tolist()
    return np.where(np.isfinite(array), array, None).tolist()


def _finite(x: float) -> float | None:
    return x if math.isfinite(x) else None


__all__ = ["GRID", "GaussianGap", "Geometry", "MANIFOLD", "N_FAKE", "N_REAL", "fixed_noise", "geometry",
           "latent_grid", "nice", "pull", "rounded", "surface"]
