import math
from types import SimpleNamespace

import torch

from gankit.config import Config
from gankit.runs.health import HealthMonitor, diversity


def _state(history, loss="nonsaturating"):
    from gankit.engines.training import build_state

    config = Config()
    config.data.n = 8
    real = build_state(config)  # the chapter's networks and optimisers
    config.train.loss = loss
    return SimpleNamespace(history=history, epoch=len(history), config=config, G=real.G, D=real.D,
                           opt_G=real.opt_G, opt_D=real.opt_D)


def _rows(pairs):
    return [{"epoch": i + 1, "loss_d": d, "loss_g": g} for i, (d, g) in enumerate(pairs)]


def test_non_finite_losses_warn_once():
    h = HealthMonitor(echo=False)
    h.images = False
    for rows in (_rows([(0.7, 0.7), (math.nan, 0.7)]), _rows([(0.7, 0.7), (math.nan, 0.7), (0.7, math.inf)])):
        h.on_epoch_end(_state(rows))
    assert [w["kind"] for w in h.warnings] == ["non_finite"] and h.warnings[0]["epoch"] == 2
    assert "learning rates" in h.warnings[0]["fix"]


def test_d_dominating_needs_both_signs():
    rising = _rows([(0.3, 1.0), (0.1, 1.5), (0.04, 2.0), (0.02, 2.5)])
    h = HealthMonitor(echo=False)
    h.images = False
    h.on_epoch_end(_state(rising))
    assert [w["kind"] for w in h.warnings] == ["d_dominates"]
    calm = HealthMonitor(echo=False)
    calm.images = False
    calm.on_epoch_end(_state(_rows([(0.3, 1.0), (0.1, 1.5), (0.04, 2.0), (0.02, 1.9)])))  # G not climbing
    calm.on_epoch_end(_state(_rows([(0.6, 1.0), (0.6, 1.5), (0.6, 2.0), (0.6, 2.5)])))  # D not winning
    calm.on_epoch_end(_state(rising, loss="wgan"))  # a critic's loss has no floor at 0
    assert calm.warnings == []


def test_collapse_and_class_coverage():
    assert diversity(torch.zeros(5, 3)) == 0.0
    assert diversity(torch.tensor([[0.0, 0.0], [3.0, 4.0]])) == 5.0
    h = HealthMonitor(echo=False)
    h.check_quality({"class_fractions": [0.5, 0.43, 0.07, 0.0]}, epoch=9)
    assert h.warnings[0]["kind"] == "class_coverage" and "[3]" in h.warnings[0]["message"]
    fine = HealthMonitor(echo=False)
    fine.check_quality({"class_fractions": [0.3, 0.3, 0.3, 0.1]}, epoch=9)
    assert fine.warnings == []


def test_a_collapsed_generator_is_flagged_in_training(tmp_path, monkeypatch):
    """A G whose output ignores z has zero diversity: flagged once past the first epochs."""
    from gankit.engines.training import train
    from imagefixtures import write_idx_folder
    from test_training_images import tiny_image_config

    monkeypatch.setenv("GANKIT_CACHE", str(tmp_path / "cache"))
    config = tiny_image_config(f"idx:{write_idx_folder(tmp_path / 'm', n=16)}")
    config.train.epochs = 5
    config.train.lr_g = 1e-12  # G stays at its near-constant initial output
    config.train.ema = 0.0
    h = HealthMonitor(echo=False)
    train(config, [h])
    kinds = [w["kind"] for w in h.warnings]
    assert kinds == ["collapse"] and h.warnings[0]["epoch"] == 4
