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
    assert h.warnings[0]["kind"] == "class_coverage" and "class 3 gets under" in h.warnings[0]["message"]
    named = HealthMonitor(echo=False)
    named.check_quality({"class_fractions": [0.5, 0.5, 0.0, 0.0], "classes": ["cat", "dog", "eel", "fox"]}, 9)
    assert "classes 'eel', 'fox' get under 6.2%" in named.warnings[0]["message"]
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
    assert kinds == ["tiny_data", "collapse"] and h.warnings[1]["epoch"] == 4  # 16 images: tiny too


def test_fixes_never_suggest_what_is_on():
    from gankit.runs.health import SUGGESTIONS, fix_for

    config = Config()
    assert "model.conditional=true" in fix_for("class_coverage", config)
    assert "train.ema" in fix_for("collapse", config) and "diffaug" in fix_for("collapse", config)
    config.model.conditional, config.train.ema, config.train.augment = True, 0.99, "diffaug"
    config.model.spectral_norm, config.train.penalty = True, "r1"
    assert "conditional" not in fix_for("class_coverage", config) and "diffaug" not in fix_for("class_coverage", config)
    assert "train.ema" not in fix_for("collapse", config)
    for kind in ("exploding", "non_finite", "d_dominates"):
        fix = fix_for(kind, config)
        assert "spectral_norm" not in fix and "penalty=r1" not in fix and "learning" in fix or "lr_d" in fix
    assert "diffaug" not in fix_for("d_dominates", Config(), images=False)  # points are never augmented
    policy = Config()
    policy.train.augment = "translation"  # a policy is augmentation too: no second one is suggested
    assert "diffaug" not in fix_for("collapse", policy) and "diffaug" in fix_for("collapse", Config())
    for kind in SUGGESTIONS:  # something is always left to try
        assert fix_for(kind, config)


def test_a_conditional_label_that_changes_little_is_warned_by_class_name():
    h = HealthMonitor(echo=False)
    h.config = Config()
    h.config.model.conditional = True
    base = {"classifier_accuracy": 0.98, "classes": ["circle", "square"]}
    h.check_quality({**base, "label_accuracy": 0.55, "label_accuracy_by_class": [0.9, 0.2]}, epoch=5)
    (w,) = h.warnings
    assert w["kind"] == "label_ignored" and "55%" in w["message"] and "'square' 20%" in w["message"]
    assert "model.conditional" not in w["fix"] and "--model resnet" in w["fix"]
    fine = HealthMonitor(echo=False)
    fine.check_quality({**base, "label_accuracy": 0.8, "label_accuracy_by_class": [0.8, 0.8]}, epoch=5)
    assert fine.warnings == []  # above halfway between chance (50%) and the classifier (98%)


def test_one_class_the_label_fails_for_is_warned_though_the_overall_check_holds():
    """Issue 22 item 12: 40% right for one class against the classifier's 61% on its real images fired nothing."""
    h = HealthMonitor(echo=False)
    h.config = Config()
    h.config.model.conditional = True
    quality = {"classes": ["circle", "square", "star"], "classifier_accuracy": 0.61, "n_reference": 150,
               "reference_class_fractions": [1 / 3] * 3, "classifier_accuracy_by_class": [0.61, 0.61, 0.61],
               "n_label_accuracy": 2250, "label_accuracy": 0.54, "label_accuracy_by_class": [0.61, 0.61, 0.40]}
    h.check_quality(quality, epoch=5)  # overall 54% is above halfway between chance (33%) and 61%
    (w,) = h.warnings
    assert w["kind"] == "label_weak_class" and "'star' 40% against 61% (z = 2.9)" in w["message"], w["message"]
    assert "train longer" in w["fix"]
    for by_class in ([0.61, 0.61, 0.52], [0.61, 0.61, 0.61]):  # 9 points below, or none: no warning
        fine = HealthMonitor(echo=False)
        fine.check_quality({**quality, "label_accuracy_by_class": by_class}, epoch=5)
        assert fine.warnings == [], by_class
    few = HealthMonitor(echo=False)  # 40% against 61% of only 5 real images each is not evidence
    few.check_quality({**quality, "n_reference": 15}, epoch=5)
    assert few.warnings == []


def _kinds(quality: dict) -> list[str]:
    h = HealthMonitor(echo=False)
    h.config = Config()
    h.check_quality(quality, epoch=3)
    return [w["kind"] for w in h.warnings]


def test_recall_far_below_real_against_real_warns():
    """Issue 23 item 5: recall 0.09 on the shapes ended with warnings: []."""
    assert _kinds({"recall": 0.09, "recall_real_halves": 0.91}) == ["low_recall"]
    assert _kinds({"recall": 0.60, "recall_real_halves": 0.91}) == []  # the digits' 0.6 against 0.91: fine
    assert _kinds({"recall": 0.09}) == []  # no real halves: nothing to compare with


def test_class_shares_far_from_the_real_ones_warn_by_name():
    real = [0.25, 0.25, 0.25, 0.25]
    h = HealthMonitor(echo=False)
    h.config = Config()
    h.check_quality({"classes": ["a", "b", "c", "d"], "class_fractions": [0.55, 0.15, 0.15, 0.15],
                     "reference_class_fractions": real}, epoch=3)
    (w,) = h.warnings
    assert w["kind"] == "class_shares_far" and "30% away" in w["message"] and "'a' 55% against 25%" in w["message"]
    assert _kinds({"class_fractions": [0.30, 0.22, 0.24, 0.24], "reference_class_fractions": real}) == []


def test_a_weak_feature_space_is_named_with_its_accuracy():
    """The shapes run's classifier was right on 61% of real held-out images, and nothing said so."""
    h = HealthMonitor(echo=False)
    h.config = Config()
    h.check_quality({"classifier_accuracy": 0.61, "class_fractions": [0.3, 0.3, 0.4]}, epoch=3)
    (w,) = h.warnings
    assert w["kind"] == "weak_features" and "61% of real held-out images (chance 33%)" in w["message"]
    assert _kinds({"classifier_accuracy": 0.94, "class_fractions": [0.3, 0.3, 0.4]}) == []
