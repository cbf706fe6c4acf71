import math

import pytest
import torch

from gankit.metrics.gaussian import frechet_distance, gaussian_fit, generator_gaussian, kl_gaussians
from gankit.models import MLP

M = torch.tensor([1.0, 2.0], dtype=torch.float64)
S = torch.tensor([[1.01, 1.95], [1.95, 4.25]], dtype=torch.float64)


def test_distances_of_a_gaussian_to_itself_are_zero():
    assert frechet_distance(M, S, M, S) == pytest.approx(0.0, abs=1e-9)
    assert kl_gaussians(M, S, M, S) == pytest.approx(0.0, abs=1e-9)


def test_closed_forms_in_1d_and_diagonal():
    # 1-D: FD = (m1-m2)^2 + (s1-s2)^2; KL = ln(s1/s0) + (s0^2 + d^2) / (2 s1^2) - 1/2
    m0, s0, m1, s1 = 0.5, 1.5, -1.0, 0.8
    fd = frechet_distance(torch.tensor([m0]), torch.tensor([[s0**2]]), torch.tensor([m1]), torch.tensor([[s1**2]]))
    assert fd == pytest.approx((m0 - m1) ** 2 + (s0 - s1) ** 2, rel=1e-6)
    kl = kl_gaussians(torch.tensor([m0]), torch.tensor([[s0**2]]), torch.tensor([m1]), torch.tensor([[s1**2]]))
    expected = math.log(s1 / s0) + (s0**2 + (m0 - m1) ** 2) / (2 * s1**2) - 0.5
    assert kl == pytest.approx(expected, rel=1e-6)
    assert kl != pytest.approx(expected * 1.01, rel=1e-3)


def test_frechet_is_symmetric_and_kl_is_not():
    S2 = torch.eye(2, dtype=torch.float64)
    m2 = torch.zeros(2, dtype=torch.float64)
    assert frechet_distance(M, S, m2, S2) == pytest.approx(frechet_distance(m2, S2, M, S), rel=1e-9)
    assert kl_gaussians(M, S, m2, S2) != pytest.approx(kl_gaussians(m2, S2, M, S), rel=1e-3)


def test_singular_fit_has_infinite_kl():
    singular = torch.tensor([[1.0, 1.0], [1.0, 1.0]], dtype=torch.float64)
    assert math.isinf(kl_gaussians(M, S, M, singular))
    assert math.isfinite(frechet_distance(M, S, M, singular))


def test_gaussian_fit_is_the_mle():
    x = torch.tensor([[0.0, 0.0], [2.0, 0.0], [0.0, 2.0], [2.0, 2.0]])
    mean, cov = gaussian_fit(x)
    assert torch.allclose(mean, torch.tensor([1.0, 1.0], dtype=torch.float64))
    assert torch.allclose(cov, torch.eye(2, dtype=torch.float64))  # divides by N, not N - 1


def test_affine_generator_is_exact_and_mlp_is_sampled():
    G = MLP(2, [], 2)
    with torch.no_grad():
        G[0].weight.copy_(torch.tensor([[1.0, 0.0], [2.0, 0.5]]))
        G[0].bias.copy_(torch.tensor([1.0, 2.0]))
    mean, cov, exact = generator_gaussian(G, 2)
    assert exact
    assert torch.allclose(cov, torch.tensor([[1.0, 2.0], [2.0, 4.25]], dtype=torch.float64))
    sampled = torch.nn.Sequential(G, torch.nn.Identity())
    mean2, cov2, exact2 = generator_gaussian(sampled, 2, n=100_000)
    assert not exact2
    assert torch.allclose(cov2, cov, atol=0.08) and torch.allclose(mean2, mean, atol=0.03)


def test_known_2d_pair():
    # N(0, I) vs N(m, 4 I) in 2-D: FD = |m|^2 + 2 (2 - 1)^2; KL(N0 || N1) = (tr(I/4) + |m|^2/4 - 2 + 2 ln 4) / 2
    m = torch.tensor([1.0, -2.0], dtype=torch.float64)
    zero, eye = torch.zeros(2, dtype=torch.float64), torch.eye(2, dtype=torch.float64)
    assert frechet_distance(zero, eye, m, 4 * eye) == pytest.approx(5.0 + 2.0, rel=1e-9)
    assert kl_gaussians(zero, eye, m, 4 * eye) == pytest.approx((0.5 + 5.0 / 4 - 2 + 2 * math.log(4)) / 2, rel=1e-9)
