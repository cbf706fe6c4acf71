"""What is the same bits on every CPU: the data, the fits and closed forms, the MLE row.

These values are stored once (tests/data/portable.json) and checked on every
machine, under every ATEN_CPU_CAPABILITY: the points of each target are drawn
by NumPy in float64 and transformed with elementwise operations
(gankit.data.targets), files and image sets are split by integer
permutations, and the Gaussian fits and FD / KL of 2-D points are exactly
rounded sums and scalar float64 operations (gankit.metrics.gaussian). Only
training, in float32, depends on the CPU (tests/platform_records.py).

``python tests/test_portable.py`` rewrites the file; a change to it is a
change to every seed's data, and should be rare and deliberate.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from gankit import Config
from gankit.config import DataConfig
from gankit.data import TARGETS, make_dataset
from gankit.metrics.gaussian import frechet_distance, gaussian_fit, kl_gaussians
from gankit.metrics.summary import format_table

STORED = Path(__file__).parent / "data" / "portable.json"
pytestmark = pytest.mark.repro


def _sha(array) -> str:
    array = array.numpy() if isinstance(array, torch.Tensor) else np.asarray(array)
    return hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()


def _mle(seed: int) -> dict:
    data = make_dataset(Config().data, torch.Generator(), seed)
    mean, cov = gaussian_fit(data.train)
    truth = data.target.mean, data.target.cov
    return {"data_sha256": _sha(data.train), "mle_mean": mean.tolist(), "mle_cov": cov.tolist(),
            "mle_fd_to_truth": frechet_distance(mean, cov, *truth), "mle_kl_to_truth": kl_gaussians(*truth, mean, cov)}


def portable_values() -> dict:
    """Everything this file checks, computed afresh."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    from shapes import draw_shape

    targets = {name: _sha(make_dataset(DataConfig(source=name), torch.Generator(), 0).train)
               for name in sorted(TARGETS)}
    digits = make_dataset(DataConfig(source="digits", holdout=0.5), torch.Generator().manual_seed(0), 0)
    rng = np.random.default_rng(0)
    shapes = [_sha(np.asarray(draw_shape(kind, 32, rng))) for kind in ("circle", "square", "circle")]
    cfg = Config().data
    truth = TARGETS["gaussian"](cfg)
    return {
        "gaussian": {str(seed): _mle(seed) for seed in range(10)},
        "targets_seed0_sha256": targets,
        "truth": {"mean": truth.mean.tolist(), "cov": truth.cov.tolist()},
        "digits_seed0": {"train_sha256": _sha(digits.train), "heldout_sha256": _sha(digits.heldout),
                         "labels_sha256": _sha(digits.labels)},
        "shapes_seed0_sha256": shapes,
    }


@pytest.fixture(scope="module")
def stored():
    return json.loads(STORED.read_text())


@pytest.fixture(scope="module")
def fresh():
    return portable_values()


def test_the_default_data_and_its_mle_are_the_stored_bits(stored, fresh):
    assert fresh["gaussian"] == stored["gaussian"]
    assert len({v["data_sha256"] for v in stored["gaussian"].values()}) == 10  # seeds give other data
    # Negative control: one point moved by one float32 ulp changes the hash.
    data = make_dataset(Config().data, torch.Generator(), 0).train.clone()
    data[0, 0] = torch.nextafter(data[0, 0], torch.tensor(10.0))
    assert _sha(data) != stored["gaussian"]["0"]["data_sha256"]


def test_every_target_the_truth_digits_and_shapes_are_the_stored_bits(stored, fresh):
    assert fresh["targets_seed0_sha256"] == stored["targets_seed0_sha256"]
    assert set(stored["targets_seed0_sha256"]) == {"gaussian", "grid25", "moons", "ring8", "swissroll"}
    assert fresh["truth"] == stored["truth"] == {"mean": [1.0, 2.0], "cov": stored["truth"]["cov"]}
    assert fresh["digits_seed0"] == stored["digits_seed0"]
    assert fresh["shapes_seed0_sha256"] == stored["shapes_seed0_sha256"]


def test_the_mle_row_gankit_train_prints_is_the_same_everywhere(stored, tmp_path):
    """The row of the default run's table that depends on no training, from a real run."""
    from gankit.runs.experiment import run_experiment

    config = Config()
    config.data.n, config.train.epochs = 1000, 1
    run_experiment(config, out=tmp_path / "run", plots=False, progress=False)
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    expected = stored["gaussian"]["0"]
    for key in ("mle_mean", "mle_cov", "mle_fd_to_truth", "mle_kl_to_truth"):
        assert summary[key] == expected[key], key
    (row,) = [line for line in format_table(summary).splitlines() if line.startswith("MLE of data")]
    assert row == mle_row(expected)


def mle_row(values: dict) -> str:
    """The MLE row as `gankit train` prints it, from stored values (the docs quote it)."""
    summary = {"generated_mean": [0.0, 0.0], "generated_cov": [[0.0, 0.0], [0.0, 0.0]], "generated_exact": True,
               "fd_to_truth": 0.0, "kl_to_truth": 0.0, "true_mean": [1.0, 2.0], "true_cov": [[1, 0], [0, 1]],
               **values}
    return next(line for line in format_table(summary).splitlines() if line.startswith("MLE of data"))


def test_closed_forms_in_2d_equal_the_general_eigendecomposition():
    """The scalar 2-D FD and KL (portable) against the d-dimensional path, on 2-D Gaussians padded to 3-D."""
    rng = np.random.default_rng(5)
    worst_fd = worst_kl = 0.0
    for _ in range(200):
        m1, m2 = rng.normal(size=2), rng.normal(size=2)
        a, b = rng.normal(size=(2, 2)), rng.normal(size=(2, 2))
        s1, s2 = a @ a.T + 0.01 * np.eye(2), b @ b.T + 0.01 * np.eye(2)
        pad = lambda m, s: (torch.tensor([*m, 0.0], dtype=torch.float64),  # noqa: E731
                            torch.tensor(np.block([[s, np.zeros((2, 1))], [np.zeros((1, 2)), np.eye(1)]])))
        t = [torch.tensor(v, dtype=torch.float64) for v in (m1, s1, m2, s2)]
        fd, kl = frechet_distance(*t), kl_gaussians(*t)
        fd3, kl3 = frechet_distance(*pad(m1, s1), *pad(m2, s2)), kl_gaussians(*pad(m1, s1), *pad(m2, s2))
        worst_fd = max(worst_fd, abs(fd - fd3) / max(fd3, 1e-12))
        worst_kl = max(worst_kl, abs(kl - kl3) / max(kl3, 1e-12))
    assert worst_fd < 1e-9 and worst_kl < 1e-9
    # Negative control: a covariance off by 1e-6 is seen.
    t[1] = t[1] + 1e-6
    assert abs(frechet_distance(*t) - fd) > 1e-9


if __name__ == "__main__":
    STORED.write_text(json.dumps(portable_values(), indent=1) + "\n")
    print(f"wrote {STORED}")
