import math

import numpy as np

import pytest
import torch

from gankit.data.targets import grid25, ring8
from gankit.metrics.modes import mahalanobis, mode_metrics


def test_mahalanobis_matches_the_closed_form():
    means = torch.tensor([[0.0, 0.0], [3.0, 1.0]], dtype=torch.float64)
    covs = torch.stack([torch.diag(torch.tensor([4.0, 1.0])), torch.tensor([[2.0, 0.5], [0.5, 1.0]])]).double()
    x = torch.tensor([[2.0, 1.0], [-1.0, 3.0]], dtype=torch.float64)
    r = mahalanobis(x, means, covs)
    for i in range(2):
        for k in range(2):
            diff = x[i] - means[k]
            assert float(r[i, k]) == pytest.approx(math.sqrt(float(diff @ torch.linalg.solve(covs[k], diff))), rel=1e-10)


def test_modes_at_the_means_are_all_captured():
    ring = ring8()
    m = mode_metrics(ring.means.repeat(3, 1), ring.means, ring.covs)
    assert m["modes"] == 8 and m["modes_captured"] == 8
    assert m["high_quality_fraction"] == 1.0 and m["counts"] == [3] * 8
    assert m["kl_modes"] == pytest.approx(0.0, abs=1e-12)


def test_three_standard_deviations_is_the_line():
    ring = ring8()  # std 0.02
    inside = ring.means[:4] + torch.tensor([0.0, 2.9 * 0.02], dtype=torch.float64)
    outside = ring.means[4:] + torch.tensor([3.1 * 0.02, 0.0], dtype=torch.float64)
    m = mode_metrics(torch.cat([inside, outside]), ring.means, ring.covs)
    assert m["modes_captured"] == 4 and m["high_quality_fraction"] == 0.5
    assert m["counts"] == [1, 1, 1, 1, 0, 0, 0, 0]
    assert m["kl_modes"] == pytest.approx(math.log(2))  # half the modes, evenly: KL = ln(8/4)


def test_collapsed_and_empty_generators():
    grid = grid25()
    collapsed = grid.means[7].repeat(100, 1)  # every sample on one mode
    m = mode_metrics(collapsed, grid.means, grid.covs)
    assert m["modes_captured"] == 1 and m["high_quality_fraction"] == 1.0
    assert m["kl_modes"] == pytest.approx(math.log(25))
    nowhere = torch.full((10, 2), 1.0, dtype=torch.float64)  # between the grid's modes
    m = mode_metrics(nowhere, grid.means, grid.covs)
    assert m["modes_captured"] == 0 and m["high_quality_fraction"] == 0.0 and m["kl_modes"] is None
    m = mode_metrics(collapsed, grid.means, grid.covs, min_count=101)
    assert m["modes_captured"] == 0


def test_true_samples_are_high_quality_at_the_chi2_rate():
    grid = grid25()
    x = grid.sample(20_000, np.random.default_rng(0))
    m = mode_metrics(x, grid.means, grid.covs)
    assert m["modes_captured"] == 25
    # P(chi2 with 2 dof <= 9) = 1 - exp(-4.5) = 0.98889
    assert abs(m["high_quality_fraction"] - (1 - math.exp(-4.5))) < 0.003
    assert m["kl_modes"] < 0.005
