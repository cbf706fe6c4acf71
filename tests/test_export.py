import sys
from pathlib import Path

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


@pytest.mark.parametrize("model", ["dcgan", "resnet"])
def test_a_conditional_image_generator_exports_with_a_labels_input(tmp_path, model):
    import json

    import onnx

    from imagefixtures import write_image_folder

    root = write_image_folder(tmp_path / "imgs", n=16)
    run = tmp_path / "run"
    assert main(["train", "--data", f"folder:{root}", "--model", model, "--set", "model.conditional=true",
                 "--set", "model.g_width=4", "--set", "model.d_width=4", "--set", "model.latent_dim=8",
                 "--set", "quality.kid_subsets=2", "--epochs", "1", "--batch-size", "8",
                 "--out", str(run), "--no-plots", "--quiet"]) == 0
    assert main(["export", str(run), "--onnx", str(tmp_path / "g.onnx")]) == 0
    from gankit.files import the_generator

    _, G, _ = the_generator(run)
    z = torch.randn(10, 8, generator=torch.Generator().manual_seed(2))
    labels = torch.tensor([0, 1] * 5)
    with torch.no_grad():
        expected = G(z, labels).numpy()  # (10, 1, 8, 8)
    session = ort.InferenceSession(str(tmp_path / "g.onnx"), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["z", "labels"]
    got = session.run(["x"], {"z": z.numpy(), "labels": labels.numpy()})[0]
    assert got.shape == (10, 1, 8, 8) and np.abs(got - expected).max() <= 1e-5
    other = session.run(["x"], {"z": z.numpy(), "labels": (1 - labels).numpy()})[0]
    with torch.no_grad():
        assert np.abs(other - G(z, 1 - labels).numpy()).max() <= 1e-5
    if model == "dcgan":  # its label embedding joins z from the start (resnet's gains start at 0)
        assert np.abs(other - got).max() > 1e-4  # the labels input is used, not baked in
    meta = {p.key: p.value for p in onnx.load(str(tmp_path / "g.onnx")).metadata_props}
    assert json.loads(meta["gankit.classes"]) == ["left", "right"]
    readme = (Path(__file__).resolve().parents[1] / "docs" / "how-to" / "export.md").read_text()
    onnx_doc = " ".join(readme[readme.index("- **ONNX**"):].split("\n- ")[0].split())
    for name in [i.name for i in session.get_inputs()] + ["gankit.classes"]:  # every input is documented
        assert f"`{name}`" in onnx_doc, name


def test_export_replaces_an_existing_file_only_when_asked(tmp_path, capsys):
    from gankit.cli import main

    run = tmp_path / "run"
    assert main(["train", "--n", "64", "--epochs", "1", "--out", str(run), "--no-plots", "--quiet"]) == 0
    onnx = tmp_path / "g.onnx"
    onnx.write_bytes(b"mine")
    capsys.readouterr()
    assert main(["export", str(run), "--onnx", str(onnx)]) == 2
    assert "--onnx" in capsys.readouterr().err and onnx.read_bytes() == b"mine"
    assert main(["export", str(run), "--onnx", str(onnx), "--force"]) == 0 and onnx.read_bytes() != b"mine"
