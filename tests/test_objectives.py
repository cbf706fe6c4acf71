import math

import pytest
import torch

from gankit.engines.objectives import OBJECTIVES, d_loss_bce, g_loss_minimax, g_loss_nonsaturating


def sigmoid(x):
    return 1 / (1 + math.exp(-x))


def matches(loss, args, expected, tol=1e-6) -> bool:
    """The check each test applies, also to a wrong loss as a negative control."""
    return abs(float(loss(*args)) - expected) <= tol


@pytest.mark.parametrize("o_real,o_fake", [(0.0, 0.0), (2.0, -1.5), (-3.0, 4.0)])
def test_d_loss_matches_cross_entropy(o_real, o_fake):
    expected = (-math.log(sigmoid(o_real)) - math.log(1 - sigmoid(o_fake))) / 2
    args = (torch.tensor([o_real]), torch.tensor([o_fake]))
    assert matches(d_loss_bce, args, expected)
    # Negative controls: the same check rejects the sum without the halving, and the two terms' labels swapped.
    assert not matches(lambda r, f: 2 * d_loss_bce(r, f), args, expected)
    assert not matches(lambda r, f: d_loss_bce(-r, -f), args, expected) or o_real == o_fake == 0.0


def test_losses_sum_over_batch():
    logits = torch.tensor([0.0, 0.0, 0.0, 0.0])
    assert float(d_loss_bce(logits, logits)) == pytest.approx(4 * math.log(2), abs=1e-6)
    assert float(g_loss_nonsaturating(logits)) == pytest.approx(4 * math.log(2), abs=1e-6)


@pytest.mark.parametrize("o", [-5.0, -1.0, 0.0, 2.5])
def test_generator_losses_closed_form(o):
    t = torch.tensor([o])
    nonsaturating, minimax = -math.log(sigmoid(o)), math.log(1 - sigmoid(o))
    assert matches(g_loss_nonsaturating, (t,), nonsaturating)
    assert matches(g_loss_minimax, (t,), minimax)
    # Negative controls: each check rejects the other objective, and a sign flip.
    assert not matches(g_loss_minimax, (t,), nonsaturating)
    assert not matches(g_loss_nonsaturating, (t,), minimax)
    assert not matches(lambda x: -g_loss_minimax(x), (t,), minimax)


def test_minimax_saturates_nonsaturating_does_not():
    # D confidently rejects a fake (logit -8): minimax's gradient nearly vanishes.
    o = torch.tensor([-8.0], requires_grad=True)
    (g_mm,) = torch.autograd.grad(g_loss_minimax(o), o)
    o2 = torch.tensor([-8.0], requires_grad=True)
    (g_ns,) = torch.autograd.grad(g_loss_nonsaturating(o2), o2)
    assert abs(float(g_mm)) < 1e-3  # -sigmoid(-8) ~ -3.4e-4
    assert abs(float(g_ns)) > 0.99  # -(1 - sigmoid(-8)) ~ -1


def test_losses_finite_for_extreme_logits():
    big = torch.tensor([1e4, -1e4])
    for objective in OBJECTIVES.values():
        assert torch.isfinite(objective.d_loss(big, big))
        assert torch.isfinite(objective.g_loss(big))


# --- the image-era objectives and penalties ---------------------------------------------

from gankit.engines.objectives import (  # noqa: E402
    PENALTIES,
    d_loss_hinge,
    d_loss_least_squares,
    d_loss_wasserstein,
    g_loss_hinge,
    g_loss_least_squares,
    g_loss_wasserstein,
    gradient_penalty,
    r1_penalty,
)

REAL = torch.tensor([2.0, 0.5, -0.5])
FAKE = torch.tensor([-2.0, 0.25, 1.5])


def test_hinge_by_hand():
    # max(0, 1 - o_real): 0, 0.5, 1.5 ; max(0, 1 + o_fake): 0, 1.25, 2.5
    assert matches(d_loss_hinge, (REAL, FAKE), 0.5 + 1.5 + 1.25 + 2.5)
    # Negative control: the same check rejects the hinge without its max(0, .) (plain margins).
    assert not matches(lambda r, f: (1 - r).sum() + (1 + f).sum(), (REAL, FAKE), 0.5 + 1.5 + 1.25 + 2.5)
    assert float(g_loss_hinge(FAKE)) == pytest.approx(0.25, abs=1e-6)  # -(-2 + 0.25 + 1.5)


def test_least_squares_by_hand():
    expected_d = ((1 + 0.25 + 2.25) + (4 + 0.0625 + 2.25)) / 2  # (o_r - 1)^2 and o_f^2
    assert float(d_loss_least_squares(REAL, FAKE)) == pytest.approx(expected_d, abs=1e-6)
    assert float(g_loss_least_squares(FAKE)) == pytest.approx((9 + 0.5625 + 0.25) / 2, abs=1e-6)
    assert float(g_loss_least_squares(torch.ones(4))) == 0.0  # fakes at the real target


def test_wasserstein_by_hand():
    assert float(d_loss_wasserstein(REAL, FAKE)) == pytest.approx(-0.25 - 2.0, abs=1e-6)
    assert float(g_loss_wasserstein(FAKE)) == pytest.approx(0.25, abs=1e-6)
    assert float(d_loss_wasserstein(REAL, REAL)) == 0.0


class Quadratic(torch.nn.Module):
    """D(x) = sum_j a x_j^2 per sample, so grad D(x) = 2 a x: a different norm per sample."""

    def __init__(self, a: float):
        super().__init__()
        self.a = a

    def forward(self, x, labels=None):
        return (self.a * x.flatten(1).pow(2)).sum(1, keepdim=True)


def test_gradient_penalty_uses_per_sample_norms():
    real = torch.tensor([[1.0, 0.0], [0.0, 3.0], [2.0, 2.0]])
    fake = torch.tensor([[0.0, 0.0], [1.0, 1.0], [-1.0, 0.5]])
    got = gradient_penalty(Quadratic(0.5), real, fake, torch.Generator().manual_seed(4))
    eps = torch.rand((3, 1), generator=torch.Generator().manual_seed(4))
    x_hat = eps * real + (1 - eps) * fake
    expected = ((x_hat.norm(dim=1) - 1) ** 2).sum()  # grad = x_hat for a = 1/2
    assert float(got.detach()) == pytest.approx(float(expected), rel=1e-6)
    batch_norm = (x_hat.norm() - 1) ** 2 * 3  # one norm over the whole batch would differ
    assert abs(float(got.detach()) - float(batch_norm)) > 0.1


def test_gradient_penalty_zero_for_unit_gradients_and_trains_d():
    linear = torch.nn.Linear(4, 1)
    with torch.no_grad():
        linear.weight.copy_(torch.tensor([[0.6, 0.8, 0.0, 0.0]]))  # ||w|| = 1
    x, y = torch.randn(5, 4), torch.randn(5, 4)
    assert float(gradient_penalty(linear, x, y).detach()) == pytest.approx(0.0, abs=1e-10)
    with torch.no_grad():
        linear.weight.mul_(3.0)  # ||w|| = 3: (3 - 1)^2 per sample
    value = gradient_penalty(linear, x, y)
    assert float(value.detach()) == pytest.approx(5 * 4.0, rel=1e-5)
    value.backward()  # the penalty reaches D's weights (create_graph)
    assert linear.weight.grad is not None and float(linear.weight.grad.abs().sum()) > 0


def test_r1_by_hand():
    real = torch.tensor([[1.0, 2.0], [0.0, -1.0]])
    # grad = 2 a x with a = 1.5 -> ||3 x||^2 / 2 per sample
    expected = (9 * (1 + 4) + 9 * 1) / 2
    assert float(r1_penalty(Quadratic(1.5), real).detach()) == pytest.approx(expected, rel=1e-6)
    assert float(r1_penalty(Quadratic(0.0), real).detach()) == 0.0
    assert set(PENALTIES) == {"gp", "r1"}


@pytest.mark.parametrize("name", sorted(OBJECTIVES))
def test_d_prefers_separating_real_from_fake(name):
    """Every D loss is lower when D scores reals above fakes than the reverse."""
    objective = OBJECTIVES[name]
    good = float(objective.d_loss(torch.tensor([2.0]), torch.tensor([-2.0])))
    bad = float(objective.d_loss(torch.tensor([-2.0]), torch.tensor([2.0])))
    assert good < bad
    # and every G loss is lower when D scores the fake as real
    assert float(objective.g_loss(torch.tensor([2.0]))) < float(objective.g_loss(torch.tensor([-2.0])))


@pytest.mark.parametrize("name,eq_d,eq_g", [
    ("nonsaturating", math.log(2), math.log(2)),
    ("minimax", math.log(2), -math.log(2)),  # log(1 - 1/2): the saturating G loss settles below zero
    ("hinge", 2.0, 0.0),
    ("least_squares", 0.5, 0.5),
])
def test_equilibrium_is_each_objectives_loss_at_logit_zero(name, eq_d, eq_g):
    from gankit.engines.objectives import equilibrium

    d, g = equilibrium(name)
    assert d == pytest.approx(eq_d, abs=1e-6) and g == pytest.approx(eq_g, abs=1e-6)
    # Negative control: ln 2 is not everyone's G value.
    assert (abs(g - math.log(2)) < 1e-6) == (name == "nonsaturating")


def test_wgan_has_no_equilibrium_value():
    from gankit.engines.objectives import equilibrium

    assert equilibrium("wgan") is None
