"""gankit sweep: grids, rows, files, and each run equal to the same seed trained alone."""

import csv
import json
import math

import pytest
import torch

from gankit import Config, train
from gankit.cli import main
from gankit.errors import UserError
from gankit.engines.sweep import ROW_METRICS, parse_grid, run_sweep
from gankit.runs.sweep import csv_columns, run_sweep_dir


def tiny() -> Config:
    config = Config()
    config.data.n, config.train.epochs = 20, 1  # batches 8, 8, 4
    return config


def test_parse_grid_bare_and_dotted_keys():
    grid = parse_grid(["lr_d=0.005,0.05", "train.batch_size=4,8", "model.init_std=1e-2"], Config())
    assert grid == [("train.lr_d", [0.005, 0.05]), ("train.batch_size", [4, 8]), ("model.init_std", [0.01])]
    assert isinstance(grid[1][1][0], int)


@pytest.mark.parametrize("item, message", [
    ("bogus=1,2", "unknown config key 'bogus'"),
    ("train.nope=1", "unknown config key 'train.nope'"),
    ("lr_d=", "empty list"),
    ("lr_d=,", "empty list"),
    ("lr_d=0.1,,0.2", "empty value"),
    ("lr_d=0.1,fast", "'fast' is not a number"),
    ("lr_d=nan", "not a finite number"),
    ("loss=nonsaturating,hinged", "unknown loss 'hinged'"),
    ("lr_d=0.1,-1", "train.lr_d must be a positive number"),
    ("batch_size=0.5", "must be int"),
    ("seed=1,2", "use --seeds"),
    ("lr_d", "must look like KEY=V1,V2"),
])
def test_bad_grids_are_clear_errors(item, message):
    with pytest.raises(UserError, match=message):
        parse_grid([item], Config())


def test_repeated_grid_key():
    with pytest.raises(UserError, match="given twice"):
        parse_grid(["lr_d=0.1", "train.lr_d=0.2"], Config())


def test_invalid_grid_value_is_caught_before_training(tmp_path):
    with pytest.raises(UserError, match="train.lr_d must be a positive number"):
        run_sweep_dir(tiny(), parse_grid(["lr_d=0.1,-1"], Config()), 2, out=tmp_path / "s")
    assert not (tmp_path / "s").exists()


def test_rows_complete_and_well_formed():
    base = tiny()
    grid = parse_grid(["lr_d=0.01,0.1", "lr_g=0.005,0.05"], base)
    result = run_sweep(base, grid, seeds=3, progress=False)
    assert len(result.rows) == 12 and result.engines == {"fast": 12}
    assert [row["run"] for row in result.rows] == list(range(12))
    seen = {(row["train.lr_d"], row["train.lr_g"], row["seed"]) for row in result.rows}
    assert seen == {(a, b, s) for a in (0.01, 0.1) for b in (0.005, 0.05) for s in (0, 1, 2)}
    for row in result.rows:
        assert set(csv_columns(result)) <= set(row)
        assert all(isinstance(row[k], float) and math.isfinite(row[k]) for k in ROW_METRICS)
        assert row["fd_to_truth"] > 0 and row["mle_fd_to_truth"] > 0
        assert len(row["generated_mean"]) == 2 and len(row["generated_cov"]) == 2
    # Runs of one seed share their data (so the MLE), runs of other seeds do not.
    mle = {row["seed"]: row["mle_fd_to_truth"] for row in result.rows}
    assert all(row["mle_fd_to_truth"] == mle[row["seed"]] for row in result.rows)
    assert len(set(mle.values())) == 3
    assert result.examples == 12 * 20 and result.examples_per_sec > 0


@pytest.mark.repro
@pytest.mark.parametrize("loss", ["nonsaturating", "minimax"])
def test_a_sweep_run_equals_the_same_seed_trained_alone(loss):
    """Bit for bit: a run alone is an ensemble of one, so every per-run matrix product has the same shape."""
    base = tiny()
    base.train.loss = loss
    grid = parse_grid(["lr_d=0.02,0.05"], base)
    result = run_sweep(base, grid, seeds=3, progress=False)
    for index in (1, 5):  # lr_d 0.02 seed 1, lr_d 0.05 seed 2
        row, state = result.rows[index], result.states[index]
        alone = tiny()
        alone.train.loss, alone.train.lr_d, alone.train.seed = loss, row["train.lr_d"], row["seed"]
        single = train(alone)
        for net in ("G", "D"):
            a = torch.cat([p.detach().flatten() for p in getattr(single, net).parameters()])
            b = torch.cat([p.detach().flatten() for p in getattr(state, net).parameters()])
            assert torch.equal(a, b), net
        assert row["loss_d"] == single.summary["loss_d"]
        assert row["fd_to_truth"] == single.summary["fd_to_truth"]
    # ...and a run of another seed is clearly a different run.
    assert abs(result.rows[0]["fd_to_truth"] - result.rows[1]["fd_to_truth"]) > 1e-3


def test_shape_changing_keys_and_unsupported_models_still_sweep():
    base = tiny()
    result = run_sweep(base, parse_grid(["batch_size=4,8"], base), seeds=2, progress=False)
    assert result.engines == {"fast": 4}
    alone = tiny()
    alone.train.batch_size, alone.train.seed = 4, 1
    assert result.rows[1]["loss_g"] == pytest.approx(train(alone).summary["loss_g"], rel=1e-6)

    base.model.generator, base.model.activation = "mlp", "elu"  # no fast path: run by run
    result = run_sweep(base, [], seeds=2, progress=False)
    assert result.engines == {"general": 2}
    assert [row["engine"] for row in result.rows] == ["general", "general"]


def test_sweep_directory(tmp_path):
    base = tiny()
    grid = parse_grid(["lr_d=0.01,0.1", "lr_g=0.005,0.05"], base)
    out = tmp_path / "sweep"
    run_dir, result = run_sweep_dir(base, grid, 2, out=out)
    assert run_dir == out
    names = {p.name for p in out.iterdir()}
    assert names == {"config.json", "sweep.json", "runs.csv", "runs.json", "heatmap.png", "samples.png"}
    with open(out / "runs.csv", newline="") as f:
        table = list(csv.DictReader(f))
    assert len(table) == 8 and list(table[0]) == csv_columns(result)
    assert float(table[3]["fd_to_truth"]) == pytest.approx(result.rows[3]["fd_to_truth"])
    rows = json.loads((out / "runs.json").read_text())
    assert rows[5]["train.lr_g"] == result.rows[5]["train.lr_g"] and len(rows) == 8
    meta = json.loads((out / "sweep.json").read_text())
    assert meta["runs"] == 8 and meta["grid"] == {"train.lr_d": [0.01, 0.1], "train.lr_g": [0.005, 0.05]}
    with pytest.raises(UserError, match="already exists"):
        run_sweep_dir(base, grid, 2, out=out)


def test_cli_sweep_and_its_errors(tmp_path, capsys):
    out = tmp_path / "s"
    assert main(["sweep", "--seeds", "2", "--n", "20", "--epochs", "1", "--grid", "lr_d=0.01,0.1",
                 "--out", str(out), "--no-plots"]) == 0
    assert "4 runs (fast 4)" in capsys.readouterr().out
    assert (out / "runs.csv").is_file() and not (out / "heatmap.png").exists()
    for grid, message in [("nope=1", "unknown config key 'nope'"), ("lr_g=", "empty list"),
                          ("lr_g=a,b", "'a' is not a number")]:
        assert main(["sweep", "--grid", grid, "--out", str(tmp_path / "t")]) == 2
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
        assert not (tmp_path / "t").exists()
    assert main(["sweep", "--seeds", "0", "--out", str(tmp_path / "t")]) == 2
    assert "--seeds must be at least 1" in capsys.readouterr().err


def test_a_sweep_over_names_with_averaging_and_n_critic_on_the_fast_path():
    base = tiny()
    base.train.ema = 0.9
    grid = parse_grid(["loss=nonsaturating,minimax", "n_critic=1,2", "lr_schedule=constant,cosine"], base)
    result = run_sweep(base, grid, 2, progress=False)
    assert result.engines == {"fast": 16}
    assert {r["train.loss"] for r in result.rows} == {"nonsaturating", "minimax"}
    assert all(r["status"] == "done" and r["fd_to_truth"] > 0 for r in result.rows)
    # Each cell is its own runs: the two schedules end apart.
    by = {(r["train.loss"], r["train.n_critic"], r["train.lr_schedule"], r["seed"]): r["fd_to_truth"] for r in result.rows}
    assert by[("nonsaturating", 1, "constant", 0)] != by[("nonsaturating", 1, "cosine", 0)]


def test_a_spent_budget_skips_the_groups_left(tmp_path, capsys):
    from gankit.cli import main

    out = tmp_path / "s"
    assert main(["sweep", "--n", "16", "--epochs", "1", "--seeds", "2", "--grid", "batch_size=4,8",
                 "--budget", "1e-9", "--out", str(out), "--no-progress"]) == 0
    rows = json.loads((out / "runs.json").read_text())
    assert [r["status"] for r in rows] == ["skipped"] * 4 and all(r["fd_to_truth"] is None for r in rows)
    assert "4 runs skipped" in capsys.readouterr().out
    assert main(["sweep", "--budget", "-1", "--out", str(tmp_path / "t")]) == 2
    assert main(["sweep", "--n", "16", "--epochs", "1", "--seeds", "2", "--grid", "batch_size=4,8", "--budget", "60",
                 "--out", str(tmp_path / "u"), "--no-progress", "--no-plots"]) == 0
    assert {r["status"] for r in json.loads((tmp_path / "u" / "runs.json").read_text())} == {"done"}


def _one_key_rows():
    fds = {0.005: [0.01, 0.02, 0.03, 0.04, 0.05], 0.05: [0.1, 0.2, 0.3, 0.4, 0.5], 0.5: [1.0, 2.0, None]}
    return [{"train.lr_d": lr, "seed": i, "fd_to_truth": fd, "status": "done" if fd is not None else "diverged"}
            for lr, values in fds.items() for i, fd in enumerate(values)]


def test_one_key_sweep_draws_a_readable_chart_not_a_one_row_heatmap():
    import numpy as np

    from gankit.viz.sweep_plots import plot_heatmap

    fig = plot_heatmap(_one_key_rows(), ["train.lr_d"])
    width, height = fig.get_size_inches() * fig.dpi
    assert width >= 450 and height >= 300  # was 270 x 200 pixels
    (ax,) = fig.axes
    assert ax.get_xlabel() == "train.lr_d" and ax.get_ylabel() == "fd_to_truth"  # was "" and a "-" tick
    assert [t.get_text() for t in ax.get_xticklabels()] == ["0.005", "0.05", "0.5\n(1 diverged)"]
    fig.canvas.draw()
    assert fig.bbox.contains(*ax.title.get_window_extent().p0) and fig.bbox.contains(*ax.title.get_window_extent().p1)
    # Median bars and p10-p90 whiskers per value, from the runs that have a value.
    medians = sorted(float(line.get_ydata()[0]) for line in ax.lines if line.get_color() == "#d62728")
    assert medians == pytest.approx([0.03, 0.3, 1.5])
    whiskers = sorted(tuple(line.get_ydata()) for line in ax.lines if line.get_color() == "black")
    assert whiskers[0] == pytest.approx(tuple(np.percentile([0.01, 0.02, 0.03, 0.04, 0.05], [10, 90])))
    assert not whiskers[0] == pytest.approx((0.01, 0.05))  # p10/p90, not min/max
    assert ax.get_yscale() == "log"  # 0.01 to 2 spans more than a factor of ten


def test_two_key_heatmap_is_large_enough_for_its_title():
    from gankit.viz.sweep_plots import plot_heatmap

    rows = [{**r, "train.lr_g": g} for r in _one_key_rows() for g in (0.001,)]
    fig = plot_heatmap(rows, ["train.lr_d", "train.lr_g"])
    fig.canvas.draw()
    ax = fig.axes[0]
    title = ax.title.get_window_extent()
    assert fig.bbox.contains(*title.p0) and fig.bbox.contains(*title.p1)
    assert ax.get_xlabel() == "train.lr_g" and ax.images[0].get_array().shape == (3, 1)


def test_rows_of_a_mixture_target_count_its_modes_as_eval_would(tmp_path, capsys):
    from gankit.metrics.evaluate import evaluate_run

    base = tiny()
    base.data.source, base.data.n = "ring8", 40
    result = run_sweep(base, [], seeds=1, progress=False)
    (row,) = result.rows
    assert 0 <= row["modes_captured"] <= 8 and 0 <= row["high_quality_fraction"] <= 1
    # The very run trained alone and evaluated by gankit eval (its default seed) counts the same.
    from gankit.runs.experiment import run_experiment

    run_experiment(base, out=tmp_path / "run", plots=False, progress=False)
    report = evaluate_run(tmp_path / "run", permutations=19)
    assert report["modes"]["generated"]["modes_captured"] == row["modes_captured"]
    assert report["modes"]["generated"]["high_quality_fraction"] == pytest.approx(row["high_quality_fraction"])
    # The Gaussian has no modes to count: nulls, not zeros.
    (plain,) = run_sweep(tiny(), [], seeds=1, progress=False).rows
    assert plain["modes_captured"] is None and plain["high_quality_fraction"] is None


def test_a_sweep_whose_first_run_diverges_ends_and_keeps_the_others_exact(tmp_path):
    """The lockstep loop follows the live runs' epoch: a diverged first run used to hang the sweep forever."""
    import subprocess
    import sys

    rows = {}
    for order in ("1e37,0.05", "0.05,1e37"):
        out = tmp_path / order.replace(",", "_")
        # a subprocess with a limit, so that a regression fails instead of holding the suite
        subprocess.run([sys.executable, "-m", "gankit", "sweep", "--grid", f"lr_d={order}", "--seeds", "1",
                        "--n", "64", "--epochs", "3", "--no-plots", "--no-progress", "--out", str(out)],
                       check=True, timeout=120, capture_output=True)
        rows[order] = {r["train.lr_d"]: r for r in json.loads((out / "runs.json").read_text())}
    for got in rows.values():
        assert got[1e37]["diverged_at_epoch"] == 1 and got[1e37]["fd_to_truth"] is None
        assert got[0.05]["diverged_at_epoch"] is None and got[0.05]["fd_to_truth"] > 0
    # the finished run is the same run whichever place the diverged one took
    assert rows["1e37,0.05"][0.05]["fd_to_truth"] == rows["0.05,1e37"][0.05]["fd_to_truth"]
