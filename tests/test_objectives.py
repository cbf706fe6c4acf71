import math

import pytest
import torch

from gankit.objectives import OBJECTIVES, d_loss_bce, g_loss_minimax, g_loss_nonsaturating


def sigmoid(x):
    return 1 / (1 + math.exp(-x))


@pytest.mark.parametrize("o_real,o_fake", [(0.0, 0.0), (2.0, -1.5), (-3.0, 4.0)])
def test_d_loss_matches_cross_entropy(o_real, o_fake):
    expected = (-math.log(sigmoid(o_real)) - math.log(1 - sigmoid(o_fake))) / 2
    got = float(d_loss_bce(torch.tensor([o_real]), torch.tensor([o_fake])))
    assert got == pytest.approx(expected, abs=1e-6)
    assert abs(got - (expected + 1e-3)) > 5e-4  # a shifted value would fail


def test_losses_sum_over_batch():
    logits = torch.tensor([0.0, 0.0, 0.0, 0.0])
    assert float(d_loss_bce(logits, logits)) == pytest.approx(4 * math.log(2), abs=1e-6)
    assert float(g_loss_nonsaturating(logits)) == pytest.approx(4 * math.log(2), abs=1e-6)


@pytest.mark.parametrize("o", [-5.0, -1.0, 0.0, 2.5])
def test_generator_losses_closed_form(o):
    t = torch.tensor([o])
    assert float(g_loss_nonsaturating(t)) == pytest.approx(-math.log(sigmoid(o)), abs=1e-6)
    assert float(g_loss_minimax(t)) == pytest.approx(math.log(1 - sigmoid(o)), abs=1e-6)
    assert float(g_loss_minimax(t)) != pytest.approx(-math.log(sigmoid(o)), abs=1e-3)


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
