"""The fast path against the general loop: same draws, same math, same state for callbacks."""

import pytest
import torch

from gankit import Config, build_state, train
from gankit.errors import UserError
from gankit.engines import fast as fast_path
from gankit.engines.state import Callback

TOL = 1e-5  # float32 round-off of two orderings of the same arithmetic over a few steps


def params(net) -> torch.Tensor:
    return torch.cat([p.detach().flatten() for p in net.parameters()])


def both_engines(config: Config):
    results = {}
    for engine in ("general", "fast"):
        config.train.engine = engine
        results[engine] = train(config)
        assert results[engine].summary["engine"] == engine
    return results["general"], results["fast"]


@pytest.mark.parametrize("loss", ["nonsaturating", "minimax"])
def test_fast_equals_general_after_a_few_steps_with_a_partial_batch(loss):
    config = Config()
    config.data.n, config.train.epochs, config.train.loss = 20, 2, loss  # batches 8, 8, 4: 6 steps
    general, fast = both_engines(config)
    start = build_state(config)
    for net in ("G", "D"):
        a, b = params(getattr(general, net)), params(getattr(fast, net))
        assert (a - b).abs().max() < TOL
        # The parameters moved far more than the tolerance, so agreement is not trivial.
        assert (a - params(getattr(start, net))).abs().max() > 100 * TOL
    for row_g, row_f in zip(general.history, fast.history):
        assert row_f["loss_d"] == pytest.approx(row_g["loss_d"], rel=1e-5)
        assert row_f["loss_g"] == pytest.approx(row_g["loss_g"], rel=1e-5)
        assert row_f["step"] == row_g["step"]
    assert fast.summary["fd_to_truth"] == pytest.approx(general.summary["fd_to_truth"], rel=1e-4)


def test_a_different_run_differs_beyond_the_tolerance():
    """The other side of the tolerance: one changed learning rate shows up."""
    config = Config()
    config.data.n, config.train.epochs = 20, 2
    config.train.engine = "fast"
    a = params(train(config).G)
    config.train.lr_g *= 1.01
    b = params(train(config).G)
    assert (a - b).abs().max() > 10 * TOL


@pytest.mark.parametrize("activation", ["relu", "leaky_relu", "tanh"])
def test_fast_equals_general_for_mlps(activation):
    config = Config()
    config.data.n, config.train.epochs, config.train.batch_size = 30, 1, 7
    config.model.generator = config.model.discriminator = "mlp"
    config.model.g_hidden, config.model.d_hidden = [6, 4], [5]
    config.model.activation, config.model.latent_dim = activation, 3
    config.model.init_std = 0.3  # large enough that relu units are active
    general, fast = both_engines(config)
    start = build_state(config)
    for net in ("G", "D"):
        assert (params(getattr(general, net)) - params(getattr(fast, net))).abs().max() < TOL
        # The parameters moved far more than the tolerance, so agreement is not trivial.
        assert (params(getattr(fast, net)) - params(getattr(start, net))).abs().max() > 100 * TOL


def test_auto_takes_the_fast_path_only_where_it_applies(monkeypatch):
    config = Config()
    config.data.n, config.train.epochs = 16, 1
    assert train(config).summary["engine"] == "fast"
    config.train.engine = "general"
    assert train(config).summary["engine"] == "general"

    config.train.engine = "auto"
    config.model.generator, config.model.activation = "mlp", "elu"  # no hand-derived elu
    assert train(config).summary["engine"] == "general"
    config.train.engine = "fast"
    with pytest.raises(UserError, match="engine=fast does not apply.*MLP"):
        train(config)

    # A config key the fast path does not know, changed from its default: general loop.
    config = Config()
    config.data.n, config.train.epochs = 16, 1
    monkeypatch.setitem(fast_path.FAST_KEYS, "train",
                        {"epochs", "batch_size", "lr_d", "lr_g", "beta2", "loss", "seed", "engine"})
    config.train.beta1 = 0.5
    assert train(config).summary["engine"] == "general"


def test_an_unknown_callback_hook_sends_training_to_the_general_loop():
    class PerStep(Callback):
        def on_step_end(self, state):  # a hook the fast path never calls
            pass

    config = Config()
    config.data.n, config.train.epochs = 16, 1
    assert train(config, [PerStep()]).summary["engine"] == "general"


def test_bad_engine_name():
    config = Config()
    config.train.engine = "turbo"
    with pytest.raises(UserError, match="unknown train.engine 'turbo'"):
        config.validate()


def test_callbacks_see_current_weights_and_optimiser_state():
    class Record(Callback):
        def __init__(self):
            self.G, self.exp_avg = [], []

        def on_epoch_end(self, state):
            self.G.append(params(state.G).clone())
            self.exp_avg.append(state.opt_D.state[next(state.D.parameters())]["exp_avg"].clone())

    config = Config()
    config.data.n, config.train.epochs = 24, 3
    records = {}
    for engine in ("general", "fast"):
        config.train.engine = engine
        records[engine] = Record()
        train(config, [records[engine]])
    g, f = records["general"], records["fast"]
    assert len(f.G) == 3
    assert all((a - b).abs().max() < TOL for a, b in zip(g.G, f.G))
    assert (f.G[0] - f.G[1]).abs().max() > 100 * TOL  # weights really change between epochs
    assert all((a - b).abs().max() < TOL for a, b in zip(g.exp_avg, f.exp_avg))


def test_fast_continues_a_general_run_from_its_state():
    """Adam's moments and step count are taken over from the optimisers in the state."""
    config = Config()
    config.data.n, config.train.epochs = 24, 2
    config.train.engine = "general"
    reference = train(config)

    config.train.epochs = 1
    state = build_state(config)
    train(config, state=state)
    config.train.epochs, config.train.engine = 2, "fast"
    resumed = train(config, state=state)
    assert resumed.summary["engine"] == "fast"
    assert (params(resumed.G) - params(reference.G)).abs().max() < TOL
    assert resumed.history[-1]["step"] == reference.history[-1]["step"]


def test_cli_engine_flag_and_summary(tmp_path):
    import json

    from gankit.cli import main

    for engine in ("general", "fast"):
        out = tmp_path / engine
        assert main(["train", "--n", "16", "--epochs", "1", "--engine", engine, "--out", str(out),
                     "--no-plots", "--quiet"]) == 0
        assert json.loads((out / "summary.json").read_text())["engine"] == engine
    assert main(["train", "--engine", "warp", "--out", str(tmp_path / "x")]) == 2
    assert not (tmp_path / "x").exists()


def test_a_callback_that_edits_the_state_between_epochs_is_honoured():
    class Nudge(Callback):
        def on_epoch_end(self, state):
            with torch.no_grad():
                next(state.G.parameters()).mul_(0.5)
            state.opt_D.param_groups[0]["lr"] = 0.01

    config = Config()
    config.data.n, config.train.epochs = 24, 3
    results = {}
    for engine in ("general", "fast"):
        config.train.engine = engine
        results[engine] = params(train(config, [Nudge()]).D)
    assert (results["general"] - results["fast"]).abs().max() < TOL


@pytest.mark.parametrize("schedule, ema, n_critic", [("cosine", 0.0, 1), ("linear", 0.9, 1), ("constant", 0.0, 3),
                                                     ("cosine", 0.99, 2)])
def test_fast_equals_general_with_schedules_averaging_and_n_critic(schedule, ema, n_critic):
    config = Config()
    config.data.n, config.train.epochs, config.train.batch_size = 40, 3, 8  # 15 steps
    config.train.lr_schedule, config.train.lr_floor, config.train.ema, config.train.n_critic = schedule, 0.1, ema, n_critic
    general, fast = both_engines(config)
    start = build_state(config)
    nets = ("G", "D", "G_ema") if ema else ("G", "D")
    for net in nets:
        a, b = params(getattr(general, net)), params(getattr(fast, net))
        assert (a - b).abs().max() < TOL, net
        assert (b - params(getattr(start, net))).abs().max() > 100 * TOL, net  # moved: agreement is not trivial
    for row_g, row_f in zip(general.history, fast.history):
        assert row_f["loss_g"] == pytest.approx(row_g["loss_g"], rel=1e-5)
    # Negative control: the schedule matters (a constant rate ends elsewhere).
    config.train.lr_schedule = "constant"
    config.train.engine = "fast"
    if schedule != "constant":
        assert (params(train(config).G) - params(fast.G)).abs().max() > 100 * TOL


def test_lr_factor_ends_at_the_floor():
    from gankit.engines.state import lr_factor

    assert lr_factor("constant", 0.1, 5, 10) == 1.0
    assert lr_factor("linear", 0.1, 0, 10) == 1.0 and lr_factor("linear", 0.1, 9, 10) == pytest.approx(0.1)
    assert lr_factor("cosine", 0.0, 9, 10) == pytest.approx(0.0, abs=1e-12)
    assert lr_factor("cosine", 0.2, 0, 10) == 1.0 and lr_factor("cosine", 0.2, 9, 10) == pytest.approx(0.2)
    assert lr_factor("cosine", 0.0, 5, 11) == pytest.approx(0.5)


def test_fast_equals_general_with_a_data_scale():
    config = Config()
    config.data.source, config.data.n, config.train.epochs, config.train.batch_size = "grid25", 30, 2, 7
    config.model.generator = config.model.discriminator = "mlp"
    config.model.g_hidden, config.model.d_hidden, config.model.activation = [6, 4], [5], "relu"
    config.model.init_std, config.model.data_scale = 0.3, 4.0
    general, fast = both_engines(config)
    for net in ("G", "D"):
        assert (params(getattr(general, net)) - params(getattr(fast, net))).abs().max() < TOL
    # The other side: the same run without the scale trains to other weights.
    config.model.data_scale = 1.0
    plain = train(config)
    assert (params(plain.G) - params(fast.G)).abs().max() > 100 * TOL


def test_the_fast_path_refuses_networks_in_two_units():
    config = Config()
    config.model.generator = config.model.discriminator = "mlp"
    state = build_state(config)
    assert fast_path.why_not_fast(config, state) is None
    state.D.in_scale = 2.0  # D would see x / 2 while G's samples are in x's unit
    assert "not in one unit" in fast_path.why_not_fast(config, state)
