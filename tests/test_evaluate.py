import json

import numpy as np
import pytest
import torch

from gankit.cli import main
from gankit.config import Config
from gankit.data import make_dataset
from gankit import streams
from gankit.metrics.evaluate import evaluate_run

TINY = ["--n", "64", "--epochs", "2", "--no-plots", "--quiet"]
FAST = ["--n", "120", "--permutations", "99"]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("eval") / "run"
    assert main(["train", *TINY, "--out", str(out)]) == 0
    return out


def test_eval_prints_a_verdict_and_writes_eval_json(run_dir, capsys):
    assert main(["eval", str(run_dir), *FAST, "--seed", "3"]) == 0
    out = capsys.readouterr().out
    assert "MMD^2" in out and "trained D's accuracy" in out and "verdict" in out
    report = json.loads((run_dir / "eval.json").read_text())
    assert [t["name"] for t in report["tests"]] == ["mmd", "energy", "classifier", "discriminator"]
    assert report["n_generated"] == report["n_real"] == 120
    # Two epochs on 64 points: the generator is still near its N(0, tiny) start, far from N(b, A^T A).
    assert report["distinguishable"] and report["verdict"].startswith("DIFFERENT")
    assert report["gaussian"]["fd"] > 1.0 > 0.2 > report["gaussian"]["reference_fd"]
    assert report["modes"] is None  # the Gaussian target is not a mixture
    assert main(["eval", str(run_dir), *FAST, "--seed", "3", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == report  # same seed, same numbers


def test_fresh_real_points_are_not_the_training_points(run_dir):
    config = Config()
    config.data.n = 64
    train_points = make_dataset(config.data, torch.Generator(), 0).train
    target = make_dataset(config.data, torch.Generator(), 0).target
    fresh = target.sample(64, streams.numpy_generator(0, "eval.real"))
    assert not torch.allclose(train_points, fresh)


def test_eval_on_a_mixture_reports_modes(tmp_path):
    out = tmp_path / "ring"
    assert main(["train", *TINY, "--data", "ring8", "--out", str(out)]) == 0
    report = evaluate_run(out, n=200, permutations=99)
    assert report["modes"]["real"]["modes_captured"] == 8
    assert report["modes"]["real"]["high_quality_fraction"] > 0.95
    assert report["modes"]["generated"]["modes"] == 8
    assert report["gaussian"]["against"] == "truth"


def test_eval_of_a_data_file_uses_the_held_out_split(tmp_path, capsys):
    points = np.random.default_rng(0).normal(size=(200, 3))
    np.save(tmp_path / "p.npy", points)
    out = tmp_path / "run"
    assert main(["train", *TINY, "--data", str(tmp_path / "p.npy"), "--set", "data.holdout=0.25", "--out", str(out)]) == 0
    report = evaluate_run(out, n=1000, permutations=99)
    assert report["n_real"] == report["n_generated"] == 50  # all 50 held-out points
    assert "held-out" in report["real_source"] and report["gaussian"]["against"] == "held-out fit"

    all_in = tmp_path / "all"
    assert main(["train", *TINY, "--data", str(tmp_path / "p.npy"), "--out", str(all_in)]) == 0
    capsys.readouterr()
    assert main(["eval", str(all_in)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "data.holdout = 0" in err and "Traceback" not in err
    assert not (all_in / "eval.json").exists()


def test_run_without_a_generator(run_dir, tmp_path, capsys):
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text((run_dir / "config.json").read_text())
    for args, message in [
        ([str(broken)], "no generator.safetensors"),
        ([str(tmp_path / "nowhere")], "run directory not found"),
        ([str(run_dir), "--n", "2"], "--n must be at least 4"),
        ([str(run_dir), "--alpha", "1.5"], "--alpha must be in (0, 1)"),
    ]:
        assert main(["eval", *args]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and message in err and err.startswith("gankit: error: "), err


def test_twosample_command(tmp_path, capsys):
    rng = np.random.default_rng(1)
    np.savetxt(tmp_path / "a.csv", rng.normal(size=(80, 2)), delimiter=",", header="x,y", comments="")
    np.save(tmp_path / "b.npy", rng.normal(size=(90, 2)) + [2.0, 0.0])
    assert main(["twosample", str(tmp_path / "a.csv"), str(tmp_path / "b.npy"), "--json", "--permutations", "99"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["different"] and all(t["rejects"] for t in result["tests"])
    assert result["tests"][0]["n_x"] == 80 and result["tests"][0]["n_y"] == 90
    assert main(["twosample", str(tmp_path / "a.csv"), str(tmp_path / "a.csv"), "--permutations", "99"]) == 0
    assert "NOT DISTINGUISHED" in capsys.readouterr().out


def test_twosample_bad_input_is_one_line_exit_2(tmp_path, capsys):
    (tmp_path / "ok.csv").write_text("\n".join(f"{i},{i % 3}" for i in range(10)))
    (tmp_path / "wide.csv").write_text("\n".join(f"{i},{i},{i}" for i in range(10)))
    (tmp_path / "short.csv").write_text("1,2\n3,4\n5,6\n")
    (tmp_path / "nan.csv").write_text("1,2\n3,nan\n5,6\n7,8\n")
    (tmp_path / "text.csv").write_text("1,2\n3,four\n5,6\n7,8\n")
    ok = str(tmp_path / "ok.csv")
    for other, message in [
        ("wide.csv", "has 2 columns but"),
        ("short.csv", "3 points; a two-sample test needs at least 4"),
        ("nan.csv", "non-finite value nan at row 2, column 2"),
        ("text.csv", "non-numeric value 'four' at row 2, column 2"),
        ("missing.csv", "data file not found"),
    ]:
        assert main(["twosample", ok, str(tmp_path / other)]) == 2, other
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and message in err and "Traceback" not in err, err
