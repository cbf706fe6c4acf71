import json
import threading

import pytest
import torch

from gankit.errors import UserError
from gankit.runs.experiment import run_experiment
from gankit.files import create_run_dir, load_network, save_tensors
from gankit.runs.sample import sample_run, write_points


@pytest.fixture
def run(tmp_path, tiny_config):
    return run_experiment(tiny_config, out=tmp_path / "run", plots=False, progress=False)


def test_run_directory_is_complete(run):
    names = {p.name for p in run.run_dir.iterdir()}
    assert {"config.json", "metrics.jsonl", "metrics.csv", "summary.json", "generator.safetensors",
            "discriminator.safetensors", "snapshots.safetensors"} <= names
    assert not [n for n in names if n.startswith(".")]  # no temporary files left
    summary = json.loads((run.run_dir / "summary.json").read_text())
    for key in ("loss_d", "loss_g", "examples_per_sec", "seed", "epochs", "generated_mean", "generated_cov",
                "true_mean", "true_cov", "fd_to_truth", "kl_to_truth", "mle_fd_to_truth", "mle_kl_to_truth"):
        assert key in summary
    assert summary["epochs"] == 2
    rows = (run.run_dir / "metrics.csv").read_text().splitlines()
    assert rows[0].startswith("epoch,step,loss_d,loss_g") and len(rows) == 3


def test_save_load_identical_samples(run):
    config, G = load_network(run.run_dir, "generator")
    z = torch.randn(5, config.model.latent_dim)
    assert torch.equal(G(z), run.result.G(z))
    _, D = load_network(run.run_dir, "discriminator")
    assert torch.equal(D(z), run.result.D(z))
    a, b = sample_run(run.run_dir, 10, seed=3), sample_run(run.run_dir, 10, seed=3)
    assert torch.equal(a, b) and not torch.equal(a, sample_run(run.run_dir, 10, seed=4))


def test_write_points(tmp_path):
    points = torch.arange(6, dtype=torch.float32).reshape(3, 2)
    write_points(points, tmp_path / "p.csv")
    assert (tmp_path / "p.csv").read_text().splitlines() == ["x1,x2", "0,1", "2,3", "4,5"]
    write_points(points, tmp_path / "p.npy")
    import numpy as np

    assert np.array_equal(np.load(tmp_path / "p.npy"), points.numpy())
    with pytest.raises(UserError, match="must end in .csv or .npy"):
        write_points(points, tmp_path / "p.txt")


def test_existing_run_is_never_overwritten(run, tiny_config):
    before = (run.run_dir / "summary.json").read_text()
    with pytest.raises(UserError, match="already exists"):
        run_experiment(tiny_config, out=run.run_dir, plots=False, progress=False)
    assert (run.run_dir / "summary.json").read_text() == before


def test_generated_names_never_collide(tmp_path):
    made = []
    threads = [threading.Thread(target=lambda: made.append(create_run_dir(None, tmp_path, "same"))) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(made)) == 8


def test_bad_weights_are_refused(run, tmp_path):
    path = run.run_dir / "generator.safetensors"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(UserError, match="generator.safetensors: not a valid safetensors file"):
        load_network(run.run_dir, "generator")
    save_tensors(path, {"0.weight": torch.zeros(3, 3), "0.bias": torch.zeros(3)}, {"data_shape": "[2]"})
    with pytest.raises(UserError, match="weights do not match the run's generator"):
        load_network(run.run_dir, "generator")
    with pytest.raises(UserError, match="run directory not found"):
        load_network(tmp_path / "nothing", "generator")
