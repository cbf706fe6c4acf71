import copy
import json
import math

import numpy as np
import pytest
import torch

from gankit import Config, build_state, train
from gankit.errors import UserError
from gankit.engines.general import update_ema
from imagefixtures import write_idx_folder, write_image_folder


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GANKIT_CACHE", str(tmp_path / "cache"))


def tiny_image_config(source: str) -> Config:
    """DCGAN at width 8 on a few 8x8 images: a fraction of a second per epoch."""
    from gankit.presets import preset_config

    config = preset_config("dcgan")
    config.data.source = source
    config.model.g_width = config.model.d_width = 8
    config.model.latent_dim = 8
    config.train.batch_size = 8
    config.train.epochs = 2
    config.quality.kid_subsets = 3
    return config


def test_dcgan_on_an_idx_folder_trains_and_reports_quality(tmp_path):
    config = tiny_image_config(f"idx:{write_idx_folder(tmp_path / 'mnist', n=32)}")
    state = build_state(config)
    before = [p.clone() for p in list(state.G.parameters()) + list(state.D.parameters())]
    result = train(config, state=state)
    after = list(result.G.parameters()) + list(result.D.parameters())
    assert all(not torch.equal(a, b) for a, b in zip(before, after))
    assert all(math.isfinite(r["loss_d"]) and math.isfinite(r["loss_g"]) for r in result.history)
    assert result.history[-1]["step"] == 2 * 2  # 16 training images / batch 8, two epochs
    q = result.summary["quality"]
    assert q["n_generated"] == q["n_reference"] == 16 and q["n_train"] == 16
    assert q["fd_noise"] > 0 and q["fd"] > 0 and len(q["class_fractions"]) == 2
    assert result.summary["sampled_from"] == "G_ema"
    # the moving average lags G
    assert not all(torch.equal(a, b) for a, b in zip(result.G_ema.parameters(), result.G.parameters()))


def test_update_ema_by_hand():
    G = torch.nn.Linear(2, 1)
    G_ema = copy.deepcopy(G)
    with torch.no_grad():
        G.weight.add_(1.0)
    expected = 0.9 * G_ema.weight.detach() + 0.1 * G.weight.detach()
    update_ema(G_ema, G, decay=0.9, step=10_000)  # past the warm-up: decay 0.9
    assert torch.allclose(G_ema.weight, expected)
    early = copy.deepcopy(G_ema)
    update_ema(early, G, decay=0.9, step=0)  # warm-up: d = 1/10
    assert torch.allclose(early.weight, 0.1 * G_ema.weight + 0.9 * G.weight)


def test_n_critic_wgan_gp_records_the_penalty(tmp_path):
    config = tiny_image_config(f"idx:{write_idx_folder(tmp_path / 'mnist', n=32)}")
    config.train.loss, config.train.penalty, config.train.n_critic = "wgan", "gp", 2
    config.train.epochs = 1
    state = build_state(config)
    g_before = [p.detach().clone() for p in state.G.parameters()]
    result = train(config, state=state)
    row = result.history[0]
    assert row["step"] == 2 and row["penalty"] > 0 and math.isfinite(row["loss_g"])
    # exactly one G step happened (after the 2nd D step): one Adam step moves each weight by about lr
    moved = max(float((a - b.detach()).abs().max()) for a, b in zip(g_before, result.G.parameters()))
    assert 0 < moved < 3 * config.train.lr_g


def test_conditional_models_on_a_labelled_folder(tmp_path):
    config = tiny_image_config(f"folder:{write_image_folder(tmp_path / 'imgs', n=24)}")
    config.model.conditional = True
    result = train(config)
    assert config.model.n_classes == 2  # taken from the data and kept in the config
    assert result.G.embed.num_embeddings == 2 and result.D.embed is not None
    q = result.summary["quality"]
    assert q["class_fractions"] is not None and q["classes"] == ["left", "right"]
    assert 0 <= q["label_accuracy"] <= 1 and len(q["label_accuracy_by_class"]) == 2
    assert q["n_label_accuracy"] == q["n_generated"] * q["fd_sets"]


def test_conditional_needs_labels(tmp_path):
    import numpy as np

    np.savez(tmp_path / "x.npz", images=np.zeros((8, 8, 8), np.uint8))
    config = tiny_image_config(str(tmp_path / "x.npz"))
    config.model.conditional = True
    with pytest.raises(UserError, match="needs class labels"):
        build_state(config)


def test_same_seed_same_images(tmp_path):
    config = tiny_image_config(f"idx:{write_idx_folder(tmp_path / 'mnist', n=32)}")
    config.train.epochs = 1
    a, b = train(config), train(copy.deepcopy(config))
    assert a.summary["quality"]["fd"] == b.summary["quality"]["fd"]
    assert all(torch.equal(p, q) for p, q in zip(a.G_ema.state_dict().values(), b.G_ema.state_dict().values()))


def test_cli_image_run_writes_pictures_and_sample_pngs(tmp_path, capsys):
    from PIL import Image

    from gankit.cli import main

    folder = write_image_folder(tmp_path / "imgs", n=24)
    run = tmp_path / "run"
    code = main(["train", "--data", f"folder:{folder}", "--model", "dcgan", "--epochs", "2", "--batch-size", "8",
                 "--set", "model.g_width=8", "--set", "model.d_width=8", "--set", "quality.kid_subsets=2",
                 "--out", str(run)])
    assert code == 0
    out = capsys.readouterr().out
    assert "preset: dcgan" in out and "FD " in out and "real halves" in out
    for name in ["samples.png", "real.png", "training.gif", "interpolation.png", "losses.png", "generator_ema.safetensors",
                 "samples/epoch_0002.png"]:
        assert (run / name).is_file(), name
    assert Image.open(run / "training.gif").n_frames == 2
    summary = json.loads((run / "summary.json").read_text())
    assert summary["quality"]["n_generated"] == 12 and summary["data_shape"] == [1, 8, 8]
    assert "diversity" in json.loads((run / "metrics.jsonl").read_text().splitlines()[-1])

    from gankit.metrics.images import evaluate_run

    again = evaluate_run(run)  # from the run directory alone: the same scores as its summary
    assert again["fd"] == pytest.approx(summary["quality"]["fd"], rel=1e-9)
    assert again["fd_real_halves"] == pytest.approx(summary["quality"]["fd_real_halves"], rel=1e-9)

    assert main(["sample", str(run), "-n", "6", "--out", str(tmp_path / "grid.png")]) == 0
    assert Image.open(tmp_path / "grid.png").size[0] > 8
    assert main(["sample", str(run), "-n", "3", "--out", str(tmp_path / "pngs")]) == 0
    files = sorted((tmp_path / "pngs").glob("*.png"))
    assert len(files) == 3 and Image.open(files[0]).size == (8, 8)
    assert main(["sample", str(run), "-n", "3"]) == 2  # images need --out
    assert "needs --out" in capsys.readouterr().err


def test_cli_bad_image_inputs_exit_2(tmp_path, capsys):
    from gankit.cli import main

    (tmp_path / "empty").mkdir()
    assert main(["train", "--data", f"folder:{tmp_path / 'empty'}", "--model", "dcgan"]) == 2
    assert "no PNG or JPEG" in capsys.readouterr().err
    assert main(["train", "--data", "digits", "--model", "dcgan", "--preset", "nope"]) == 2
    assert "unknown preset 'nope'" in capsys.readouterr().err
    assert main(["train", "--data", "digits", "--model", "dcgan", "--penalty", "l2"]) == 2
    assert "unknown penalty 'l2'" in capsys.readouterr().err


def test_cli_skip_corrupt_flag(tmp_path, capsys):
    from gankit.cli import main

    folder = write_image_folder(tmp_path / "imgs", n=16)
    (folder / "left" / "broken.png").write_bytes(b"not a png")
    args = ["train", "--data", f"folder:{folder}", "--model", "dcgan", "--epochs", "1", "--batch-size", "8",
            "--set", "model.g_width=4", "--set", "model.d_width=4", "--set", "quality.kid_subsets=2", "--no-plots",
            "--quiet"]
    assert main(args + ["--out", str(tmp_path / "a")]) == 2
    assert "broken.png: unreadable image" in capsys.readouterr().err
    assert not (tmp_path / "a").exists()  # nothing half-written
    assert main(args + ["--out", str(tmp_path / "b"), "--skip-corrupt"]) == 0
    assert "skipped 1 unreadable image" in capsys.readouterr().err


def test_recalibrate_batchnorm_is_the_exact_average_of_its_own_samples():
    from gankit.models.dcgan import DCGANGenerator
    from gankit.engines.general import recalibrate_batchnorm

    G = DCGANGenerator(4, 1, 8, 4)
    G.init_weights(0.02, torch.Generator().manual_seed(0))
    bn = G.project[1]
    bn.running_mean.fill_(5.0)  # stale statistics, as copied from another network
    recalibrate_batchnorm(G, 4, torch.Generator().manual_seed(3), n=75, batch_size=25)
    rng = torch.Generator().manual_seed(3)
    z = torch.cat([torch.randn(25, 4, generator=rng) for _ in range(3)])
    pre = G.project[0](z).detach()  # (75, C0*s0*s0), the first batch norm's input
    assert torch.allclose(bn.running_mean, pre.mean(0), atol=1e-6)
    assert bn.momentum == 0.1 and G.training  # restored


def test_gankit_eval_on_an_image_run_reproduces_its_summary(tmp_path, capsys):
    from gankit.cli import main
    from gankit.runs.experiment import run_experiment

    config = tiny_image_config(f"idx:{write_idx_folder(tmp_path / 'mnist', n=32)}")
    config.train.seed = 3  # not eval's 2-D default of 0: the run's own seed is the default for images
    run_dir = run_experiment(config, out=tmp_path / "run", plots=False, progress=False).run_dir
    capsys.readouterr()
    assert main(["eval", str(run_dir), "--seed", "0"]) == 0  # other generated sets: other scores
    assert json.loads((run_dir / "eval.json").read_text())["quality"]["fd"] != pytest.approx(
        json.loads((run_dir / "summary.json").read_text())["quality"]["fd"], rel=1e-6)
    assert main(["eval", str(run_dir)]) == 0
    out = capsys.readouterr().out
    assert "feature space" in out and "written to" in out
    evaluation = json.loads((run_dir / "eval.json").read_text())
    summary = json.loads((run_dir / "summary.json").read_text())
    assert evaluation["kind"] == "images"
    assert evaluation["quality"]["fd"] == pytest.approx(summary["quality"]["fd"], rel=1e-6)
    assert main(["eval", str(run_dir), "--n", "0"]) == 2


def test_label_accuracy_counts_each_drawn_class():
    from gankit.metrics.images import label_accuracy

    drawn_for = torch.arange(8) % 2  # 0, 1, 0, 1, ...
    got = label_accuracy(torch.tensor([0, 1, 0, 1, 0, 0, 0, 0]), 2)
    assert got["label_accuracy"] == 6 / 8 and got["label_accuracy_by_class"] == [1.0, 0.5]
    assert label_accuracy(drawn_for, 2)["label_accuracy"] == 1.0


def test_sample_a_conditional_run_by_class_name(tmp_path, capsys):
    from gankit.cli import main
    from gankit.runs.sample import resolve_label

    assert resolve_label("right", ["left", "right"], 2) == 1 and resolve_label("0", ["left", "right"], 2) == 0
    assert resolve_label("10", ["1", "10", "2"], 3) == 1  # a name wins over an index
    root = write_image_folder(tmp_path / "imgs", n=16)
    run = tmp_path / "run"
    assert main(["train", "--data", f"folder:{root}", "--model", "dcgan", "--set", "model.conditional=true",
                 "--set", "model.g_width=4", "--set", "model.d_width=4", "--set", "quality.kid_subsets=2",
                 "--epochs", "1", "--out", str(run), "--no-plots", "--quiet"]) == 0
    assert json.loads((run / "summary.json").read_text())["classes"] == ["left", "right"]
    capsys.readouterr()
    assert main(["sample", str(run), "-n", "4", "--label", "right", "--out", str(tmp_path / "right.png")]) == 0
    assert (tmp_path / "right.png").is_file()
    capsys.readouterr()
    assert main(["sample", str(run), "-n", "4", "--label", "circle", "--out", str(tmp_path / "x.png")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "'circle' is not a class of this run (classes: left, right)" in err
    assert not (tmp_path / "x.png").exists()


def test_a_conditional_grid_gives_each_class_its_own_columns(tmp_path):
    """Samples drawn for the classes in turn: 10 classes in 8 columns wander; in class_columns they do not."""
    from types import SimpleNamespace

    from PIL import Image

    from gankit.data.points import Dataset
    from gankit.viz.pictures import SampleGrids, class_columns, image_grid, real_examples

    assert class_columns(10, 64) == 10 and class_columns(2, 64) == 8 and class_columns(3, 64) == 9
    assert class_columns(1, 64) is None and class_columns(17, 64) is None  # a square grid
    labels = torch.arange(60) % 10
    images = (labels.float() / 10 * 2 - 1)[:, None, None, None].expand(60, 1, 4, 4)  # the class as brightness

    def column_classes(nrow):
        tiles = np.asarray(image_grid(images, nrow=nrow, pad=0, scale=1))[::4, ::4]  # one pixel per tile
        return [set(tiles[:, k][tiles[:, k] != 255]) for k in range(nrow)]  # white: no tile there

    assert all(len(c) == 1 for c in column_classes(class_columns(10, 64)))
    assert any(len(c) > 1 for c in column_classes(8))  # the negative control: the old square grid
    grids = SampleGrids(tmp_path)
    config = Config()
    config.model.conditional, config.model.n_classes = True, 10
    order = torch.randperm(60, generator=torch.Generator().manual_seed(0))  # a data set in no class order
    dataset = Dataset(images[order], None, None, "brightness", labels=labels[order])
    grids.on_train_start(SimpleNamespace(config=config, dataset=dataset))
    assert (grids.n, grids.columns) == (60, 10)  # whole rows: six of each class
    # real.png beside it: training images of class k in the columns of class k.
    real = real_examples(dataset, labels, 60, seed=0)
    assert torch.equal(real, images) and not torch.equal(dataset.train, images)
    with Image.open(tmp_path / "real.png") as im:
        assert im.size == image_grid(images, nrow=10).size
