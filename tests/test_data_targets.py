import math

import numpy as np

import pytest
import torch

from gankit.config import DataConfig
from gankit.data import TARGETS, make_dataset
from gankit.data.targets import grid25, moons, ring8, swissroll


def test_ring8_has_eight_distinct_modes_on_the_circle():
    means = ring8().means
    assert means.shape == (8, 2)
    assert torch.allclose(means.norm(dim=1), torch.full((8,), 2.0, dtype=torch.float64))
    gaps = torch.cdist(means, means) + 10 * torch.eye(8, dtype=torch.float64)
    # neighbours are 2 r sin(pi / 8) apart; the copied bug puts two modes at distance 0
    assert float(gaps.min()) == pytest.approx(2 * 2 * math.sin(math.pi / 8))
    angles = torch.atan2(means[:, 1], means[:, 0]) % (2 * math.pi)
    assert torch.allclose(angles.sort().values, 2 * math.pi * torch.arange(8, dtype=torch.float64) / 8)


def test_grid25_means_and_spread():
    grid = grid25()
    assert grid.means.shape == (25, 2)
    assert sorted(set(grid.means[:, 0].tolist())) == [-4.0, -2.0, 0.0, 2.0, 4.0]
    assert torch.allclose(grid.covs[0], 0.05**2 * torch.eye(2, dtype=torch.float64))


def test_moons_moments_in_closed_form():
    # outer: E[x] = 0, E[y] = 2/pi; inner: E[x] = 1, E[y] = 1/2 - 2/pi; each with probability 1/2.
    target = moons()
    assert torch.allclose(target.mean, torch.tensor([0.5, 0.25], dtype=torch.float64), atol=1e-10)
    var_x = 0.5 * (0.5 + 1.5) - 0.25 + 0.01
    cov_xy = 0.5 * (0.0 + (0.5 - 2 / math.pi)) - 0.5 * 0.25
    assert float(target.cov[0, 0]) == pytest.approx(var_x, abs=1e-10)
    assert float(target.cov[0, 1]) == pytest.approx(cov_xy, abs=1e-10)


@pytest.mark.parametrize("name", ["ring8", "grid25", "moons", "swissroll"])
def test_exact_moments_match_a_large_sample(name):
    target = TARGETS[name](DataConfig(source=name))
    x = target.sample(100_000, np.random.default_rng(1)).double()
    scale = float(target.cov.diagonal().sum().sqrt())
    assert torch.allclose(x.mean(0), target.mean, atol=0.02 * scale)
    assert torch.allclose(torch.cov(x.T), target.cov, atol=0.03 * scale**2)
    assert not torch.allclose(target.cov, target.cov * 1.2, atol=0.03 * scale**2)  # the tolerance can fail


def test_selectable_and_seeded():
    a = make_dataset(DataConfig(source="swissroll", n=50), torch.Generator(), 3)
    b = make_dataset(DataConfig(source="swissroll", n=50), torch.Generator(), 3)
    assert a.train.shape == (50, 2) and a.target.name == "swissroll" and torch.equal(a.train, b.train)
    assert swissroll().noise == pytest.approx(0.25 / 7.5)
