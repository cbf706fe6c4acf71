import math

import pytest
import torch

from gankit import Config, build_state, train


def test_one_epoch_smoke(tiny_config):
    tiny_config.train.epochs = 1
    before = build_state(tiny_config)
    start = [p.clone() for p in list(before.G.parameters()) + list(before.D.parameters())]
    result = train(tiny_config)
    after = list(result.G.parameters()) + list(result.D.parameters())
    assert all(not torch.equal(a, b) for a, b in zip(start, after))
    row = result.history[-1]
    assert math.isfinite(row["loss_d"]) and math.isfinite(row["loss_g"])
    assert row["step"] == 8  # 64 points / batch 8
    assert result.summary["fd_to_truth"] > 0


def _by_hand(state, float_type, g_against_old_d=False):
    """One batch of the chapter, written out independently in ``float_type``: (G, D) after it, and the grads."""
    G = torch.nn.Linear(2, 2).to(float_type)
    D = torch.nn.Sequential(torch.nn.Linear(2, 5), torch.nn.Tanh(), torch.nn.Linear(5, 3), torch.nn.Tanh(),
                            torch.nn.Linear(3, 1)).to(float_type)
    G.load_state_dict({k.removeprefix("0."): v.to(float_type) for k, v in state.G.state_dict().items()})
    D.load_state_dict({k: v.to(float_type) for k, v in state.D.state_dict().items()})
    rng = torch.Generator()
    rng.set_state(state.rng.get_state())
    order = torch.randperm(8, generator=rng)
    z = torch.randn(8, 2, generator=rng).to(float_type)
    x = state.dataset.train[order].to(float_type)
    opt_D = torch.optim.Adam(D.parameters(), lr=0.05)
    opt_G = torch.optim.Adam(G.parameters(), lr=0.005)
    loss = torch.nn.BCEWithLogitsLoss(reduction="sum")
    ones, zeros = torch.ones(8, 1, dtype=float_type), torch.zeros(8, 1, dtype=float_type)
    old_D = [p.detach().clone() for p in D.parameters()]
    l_d = (loss(D(x), ones) + loss(D(G(z).detach()), zeros)) / 2
    l_d.backward()
    grads = [p.grad.clone() for p in D.parameters()]
    opt_D.step()
    if g_against_old_d:  # a mistake the comparison must catch: G trained against D before its step
        new_D = [p.detach().clone() for p in D.parameters()]
        with torch.no_grad():
            for p, old in zip(D.parameters(), old_D):
                p.copy_(old)
    l_g = loss(D(G(z)), ones)
    l_g.backward()
    grads = [p.grad.clone() for p in G.parameters()] + grads
    opt_G.step()
    if g_against_old_d:
        with torch.no_grad():
            for p, new in zip(D.parameters(), new_D):
                p.copy_(new)
    return list(G.parameters()) + list(D.parameters()), grads, float(l_d), float(l_g)


def test_step_matches_the_chapter_by_hand(tiny_config):
    """One batch: D step then G step on the same z, against the same step written out in float64.

    The tolerance comes from float32 rounding, not from one machine's bits: Adam's first step moves a
    weight by lr * g / (|g| + eps), so a gradient off by dg (float32 round-off, bounded here by 1e-5 of
    the largest gradient) moves it by at most lr * eps * dg / (|g| + eps)^2, plus the float32 rounding
    of the weight and of its step (4 units of float32's 6e-8 relative rounding, of |weight| + lr). Weights with a gradient far above eps are pinned to a few float32 ulps; one whose
    gradient is near eps may move by up to lr.
    """
    tiny_config.data.n = 8
    tiny_config.train.epochs = 1
    state = build_state(tiny_config)
    exact, grads, l_d, l_g = _by_hand(state, torch.float64)
    wrong = _by_hand(state, torch.float64, g_against_old_d=True)[0]
    result = train(tiny_config, state=state)
    got = list(result.G.parameters()) + list(result.D.parameters())
    lrs = [0.005] * 2 + [0.05] * 6
    dg = 1e-5 * max(float(g.abs().max()) for g in grads)
    eps = 1e-8
    worst, wrong_worst = 0.0, 0.0
    for a, b, w, g, lr in zip(got, exact, wrong, grads, lrs):
        tol = torch.clamp(lr * eps * dg / (g.abs() + eps) ** 2, max=2 * lr) + 4 * 6e-8 * (b.abs().detach() + lr)
        worst = max(worst, float(((a.detach().double() - b.detach()).abs() / tol).max()))
        wrong_worst = max(wrong_worst, float(((w.detach() - b.detach()).abs() / tol).max()))
    assert worst <= 1.0 < wrong_worst  # negative control: G stepped against the old D is caught
    assert result.history[0]["loss_d"] == pytest.approx(l_d / 8, rel=1e-6)
    assert result.history[0]["loss_g"] == pytest.approx(l_g / 8, rel=1e-6)


def test_same_seed_same_run_other_seed_differs(tiny_config):
    a, b = train(tiny_config), train(tiny_config)
    tiny_config.train.seed = 1
    c = train(tiny_config)
    keys = ["loss_d", "loss_g", "fd_to_truth", "kl_to_truth", "generated_cov"]
    assert all(a.summary[k] == b.summary[k] for k in keys)
    assert all(a.summary[k] != c.summary[k] for k in keys)


def test_minimax_trains_differently(tiny_config):
    ns = train(tiny_config)
    tiny_config.train.loss = "minimax"
    mm = train(tiny_config)
    assert ns.summary["loss_g"] != mm.summary["loss_g"]
    assert mm.summary["loss_g"] < 0  # log(1 - D) is negative


def test_mlp_on_5d_data(tmp_path, tiny_config):
    import numpy as np

    np.save(tmp_path / "p.npy", np.random.default_rng(0).normal(size=(40, 5)))
    tiny_config.data.source = str(tmp_path / "p.npy")
    tiny_config.model.generator = tiny_config.model.discriminator = "mlp"
    tiny_config.model.latent_dim = 3
    result = train(tiny_config)
    assert result.summary["fd_to_truth"] is None
    assert result.summary["generated_exact"] is False
    assert len(result.summary["generated_mean"]) == 5
    assert result.summary["fd_to_data_fit"] > 0


@pytest.mark.slow
def test_default_experiment_reaches_equilibrium():
    result = train(Config())
    assert abs(result.summary["loss_d"] - math.log(2)) < 0.05
    assert abs(result.summary["loss_g"] - math.log(2)) < 0.05
