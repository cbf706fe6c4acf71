import sys

import numpy as np
import pytest
import torch

from gankit.cli import main
from gankit.errors import UserError
from gankit.runs.export import export_onnx
from gankit.files import load_network

ort = pytest.importorskip("onnxruntime")


def _onnx_sample(path, z):
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(["x"], {"z": z})[0]


def test_onnx_generator_matches_pytorch_on_1000_latent_vectors(default_run, tmp_path):
    path = export_onnx(default_run, tmp_path / "G.onnx")
    config, G = load_network(default_run, "generator")
    z = torch.randn(1000, config.model.latent_dim, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected = G(z).numpy()  # (1000, 2)
    got = _onnx_sample(path, z.numpy())
    assert got.shape == (1000, 2)
    assert np.abs(got - expected).max() <= 1e-5
    # The check can fail: a generator with every parameter moved by 1e-4 is told apart.
    with torch.no_grad():
        for p in G.parameters():
            p.add_(1e-4)
        moved = G(z).numpy()
    assert np.abs(got - moved).max() > 1e-5
    assert _onnx_sample(path, z[:1].numpy()).shape == (1, 2)  # dynamic batch axis


def test_mlp_generator_and_metadata(tmp_path, tiny_config):
    import onnx

    from gankit.runs.experiment import run_experiment

    tiny_config.model.generator = "mlp"
    tiny_config.model.latent_dim = 3
    run = run_experiment(tiny_config, out=tmp_path / "run", plots=False, progress=False).run_dir
    assert main(["export", str(run), "--onnx", str(tmp_path / "g.onnx")]) == 0
    _, G = load_network(run, "generator")
    z = torch.randn(257, 3)
    with torch.no_grad():
        expected = G(z).numpy()
    assert np.abs(_onnx_sample(tmp_path / "g.onnx", z.numpy()) - expected).max() <= 1e-5
    meta = {p.key: p.value for p in onnx.load(str(tmp_path / "g.onnx")).metadata_props}
    assert meta["gankit.latent_dim"] == "3" and '"generator": "mlp"' in meta["gankit.config"]


def test_bad_input_is_a_clear_error(default_run, tmp_path, capsys, monkeypatch):
    with pytest.raises(UserError, match=r"must end in \.onnx"):
        export_onnx(default_run, tmp_path / "g.pt")
    with pytest.raises(UserError, match="directory not found"):
        export_onnx(default_run, tmp_path / "no" / "g.onnx")
    assert main(["export", str(tmp_path / "missing"), "--onnx", str(tmp_path / "g.onnx")]) == 2
    assert "run directory not found" in capsys.readouterr().err
    monkeypatch.setitem(sys.modules, "onnx", None)  # as if the extra were not installed
    with pytest.raises(UserError, match=r"pip install 'gankit\[onnx\]'"):
        export_onnx(default_run, tmp_path / "g.onnx")
    assert list(tmp_path.iterdir()) == []  # nothing written
