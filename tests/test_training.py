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


def test_step_matches_the_chapter_by_hand(tiny_config):
    """One batch: D step then G step on the same z, written out independently."""
    tiny_config.data.n = 8
    tiny_config.train.epochs = 1
    state = build_state(tiny_config)
    G = torch.nn.Linear(2, 2)
    D = torch.nn.Sequential(torch.nn.Linear(2, 5), torch.nn.Tanh(), torch.nn.Linear(5, 3), torch.nn.Tanh(),
                            torch.nn.Linear(3, 1))
    G.load_state_dict({k.removeprefix("0."): v for k, v in state.G.state_dict().items()})
    D.load_state_dict(state.D.state_dict())
    rng = torch.Generator()
    rng.set_state(state.rng.get_state())
    order = torch.randperm(8, generator=rng)
    z = torch.randn(8, 2, generator=rng)
    x = state.dataset.train[order]
    opt_D = torch.optim.Adam(D.parameters(), lr=0.05)
    opt_G = torch.optim.Adam(G.parameters(), lr=0.005)
    loss = torch.nn.BCEWithLogitsLoss(reduction="sum")
    opt_D.zero_grad()
    l_d = (loss(D(x), torch.ones(8, 1)) + loss(D(G(z).detach()), torch.zeros(8, 1))) / 2
    l_d.backward()
    opt_D.step()
    opt_G.zero_grad()
    l_g = loss(D(G(z)), torch.ones(8, 1))
    l_g.backward()
    opt_G.step()

    result = train(tiny_config, state=state)
    for a, b in zip(list(G.parameters()) + list(D.parameters()), list(result.G.parameters()) + list(result.D.parameters())):
        assert torch.allclose(a, b, atol=1e-7)
    assert result.history[0]["loss_d"] == pytest.approx(float(l_d.detach()) / 8, rel=1e-6)
    assert result.history[0]["loss_g"] == pytest.approx(float(l_g.detach()) / 8, rel=1e-6)


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
