"""What the engines share: one divergence rule, one fast loop for a run and a sweep, unchanged numbers."""

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from gankit import Config, train
from gankit.cli import main
from gankit.engines.ensemble import G_LOSSES
from gankit.engines.fast import why_not_fast
from gankit.engines.guard import Diverged, first_divergent_step
from gankit.engines.sweep import run_sweep
from gankit.engines.training import build_state
from gankit.engines.objectives import OBJECTIVES
from platform_records import recorded

STORED = Path(__file__).parent / "data" / "default_summaries.json"
TIMING = {"examples_per_sec", "train_seconds", "seconds"}
WHERE = {"device", "precision", "compile", "platform"}  # where it ran, not numbers


def _default_summaries(tmp_path) -> dict[str, dict]:
    from gankit.runs.experiment import run_experiment

    out = {}
    for seed in range(10):
        config = Config()
        config.train.seed = seed
        run_experiment(config, out=tmp_path / str(seed), plots=False, progress=False)
        summary = json.loads((tmp_path / str(seed) / "summary.json").read_text())
        assert (summary["device"], summary["precision"], summary["compile"]) == ("cpu", "32", False)
        out[str(seed)] = {k: v for k, v in summary.items() if k not in TIMING | WHERE}
    return out


@pytest.mark.repro
def test_the_default_run_is_bitwise_unchanged_for_seeds_0_to_9_on_a_recorded_platform(tmp_path):
    """summary.json (timing and platform aside) against this platform's record (tests/platform_records.py).

    Float32 training is the same bits only on the platform that recorded it; the portable parts
    (the data and the MLE row) are checked on every machine in tests/test_portable.py."""
    stored, fresh = recorded(STORED, lambda: _default_summaries(tmp_path))
    assert sorted(stored, key=int) == [str(s) for s in range(10)]
    for seed, expected in stored.items():
        assert fresh[seed] == expected, f"seed {seed}"
    # Negative control: the comparison sees a change in the last bit of one number.
    nudged = dict(expected, fd_to_truth=np.nextafter(expected["fd_to_truth"], 1.0))
    assert nudged != expected


def _diverge(engine: str, lr: float, n: int = 1000) -> tuple[int, int] | None:
    """(epoch, step) where a run stops, or None when it finishes."""
    config = Config()
    config.data.n, config.train.epochs = n, 3
    config.train.lr_d = config.train.lr_g = lr
    config.train.engine = engine
    try:
        train(config)
    except Diverged as err:
        return err.epoch, err.step
    return None


def test_both_engines_stop_at_the_same_step_or_both_finish():
    # Must stop: the chapter's run at lr 1e37, whose float32 loss sums overflow at step 4 (not before).
    # Portable: Adam's first steps move every weight by ~lr whatever the rounding, and the per-step losses
    # (~1e37 to 1e38) cross float32's 3.4e38 a whole step apart, far beyond any last-bit difference.
    assert _diverge("general", 1e37) == (1, 4)
    assert _diverge("auto", 1e37) == (1, 4)
    assert _diverge("general", 1e37, n=64) == _diverge("auto", 1e37, n=64) == (1, 8)
    # Must not stop: losses explode to ~1e5 but stay finite, on both engines alike.
    assert _diverge("general", 1e6, n=64) is None
    assert _diverge("auto", 1e6, n=64) is None
    # ... to the size docs/how-to/resume.md gives them (1e5 to 1e6), far from a sane run's ~1.4.
    config = Config()
    config.data.n, config.train.epochs = 64, 3
    config.train.lr_d = config.train.lr_g = 1e6
    top = max(max(abs(h["loss_d"]), abs(h["loss_g"])) for h in train(config).history)
    assert 1e4 < top < 1e7 and math.isfinite(top)


def test_the_cli_exits_3_on_both_engines(tmp_path, capsys):
    for engine in ("general", "fast"):
        code = main(["train", "--lr-d", "1e37", "--lr-g", "1e37", "--engine", engine,
                     "--out", str(tmp_path / engine), "--no-plots", "--quiet"])
        assert code == 3
        assert "diverged at epoch 1, step 4 " in capsys.readouterr().err


def test_first_divergent_step_is_the_rule_over_float32_sums():
    big = np.float32(2e38)
    step_d = np.array([[1.0, 2.0, 3.0], [1.0, big, big], [1.0, np.nan, 1.0]], np.float32)
    step_g = np.array([[1.0, 1.0, 1.0], [1.0, 1.0, 1.0], [1.0, 1.0, 1.0]], np.float32)
    # Run 1: each loss is finite, but their float32 sum overflows at the third step (index 2).
    assert first_divergent_step(step_d, step_g).tolist() == [-1, 2, 1]
    # The same losses summed in float64 would stay finite: the rule is float32's.
    assert np.isfinite(step_d[1].astype(np.float64).cumsum()).all()


def test_a_sweep_keeps_a_diverged_run_as_a_row_and_never_writes_nan(tmp_path, capsys):
    out = tmp_path / "sweep"
    assert main(["sweep", "--n", "64", "--epochs", "20", "--seeds", "2", "--grid", "lr_g=0.005,2e37",
                 "--out", str(out), "--no-plots", "--no-progress"]) == 0
    text = (out / "runs.json").read_text()
    assert "NaN" not in text and "Infinity" not in text
    rows = json.loads(text)
    fine = [r for r in rows if r["train.lr_g"] == 0.005]
    broken = [r for r in rows if r["train.lr_g"] == 2e37]
    assert len(fine) == len(broken) == 2
    assert all(r["diverged_at_epoch"] is None and r["fd_to_truth"] > 0 for r in fine)
    assert all(r["diverged_at_epoch"] >= 1 and r["fd_to_truth"] is None and r["loss_d"] is None for r in broken)
    csv_rows = (out / "runs.csv").read_text().splitlines()
    assert csv_rows[0].split(",")[4:7] == ["status", "diverged_at_epoch", "diverged_at_step"] and len(csv_rows) == 5


def test_a_run_diverges_at_the_same_step_in_a_sweep_as_alone():
    base = Config()
    base.data.n, base.train.epochs = 64, 20
    result = run_sweep(base, [("train.lr_g", [2e37])], seeds=1, progress=False)
    (row,) = result.rows
    config = Config()
    config.data.n, config.train.epochs, config.train.lr_g = 64, 20, 2e37
    with pytest.raises(Diverged) as err:
        train(config)
    assert (row["diverged_at_epoch"], row["diverged_at_step"]) == (err.value.epoch, err.value.step)


@pytest.mark.parametrize("name", sorted(G_LOSSES))
def test_the_hand_derived_objectives_are_the_torch_ones(name):
    """The fast path's objectives come from one table; each matches gankit.engines.objectives in value and gradient."""
    logits = torch.tensor([-30.0, -2.0, -0.1, 0.0, 0.7, 3.0, 25.0], requires_grad=True)
    loss = OBJECTIVES[name].g_loss(logits)
    (grad,) = torch.autograd.grad(loss, logits)
    loss = loss.detach()
    value, d_logit = G_LOSSES[name]
    o = logits.detach().numpy()
    assert np.isclose(value(o).sum(), float(loss), rtol=1e-6)
    assert np.allclose(d_logit(1 / (1 + np.exp(-o.astype(np.float64)))), grad.numpy(), atol=1e-6)
    other = next(n for n in G_LOSSES if n != name)  # negative control: the other loss's gradient differs
    assert not np.allclose(G_LOSSES[other][1](1 / (1 + np.exp(-o.astype(np.float64)))), grad.numpy(), atol=1e-3)


def test_the_fast_path_takes_every_objective_it_derives_and_no_other():
    config = Config()
    config.data.n = 16
    for name in OBJECTIVES:
        config.train.loss = name
        reason = why_not_fast(config, build_state(config))
        assert (reason is None) == (name in G_LOSSES), name


def test_a_leaky_relu_of_another_slope_is_not_the_fast_paths():
    config = Config()
    config.data.n = 16
    config.model.generator, config.model.activation = "mlp", "leaky_relu"
    state = build_state(config)
    assert why_not_fast(config, state) is None
    state.G[1].negative_slope = 0.1
    assert "not a plain MLP" in why_not_fast(config, state)


def test_history_rows_have_one_shape_on_every_engine():
    config = Config()
    config.data.n, config.train.epochs = 16, 2
    rows = {}
    for engine in ("general", "fast"):
        config.train.engine = engine
        rows[engine] = train(config).history
    assert [list(r) for r in rows["general"]] == [list(r) for r in rows["fast"]] == \
        [["epoch", "step", "loss_d", "loss_g", "seconds"]] * 2
    assert all(math.isclose(a["loss_d"], b["loss_d"], rel_tol=1e-5) for a, b in zip(rows["general"], rows["fast"]))
