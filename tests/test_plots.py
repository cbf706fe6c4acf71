import numpy as np
import pytest
import torch
from PIL import Image

from gankit.viz.plots import animate_samples, plot_losses, plot_samples

LN2 = float(np.log(2))


def _snapshots(dim: int, epochs: int = 3, surface: bool = True):
    g = torch.Generator().manual_seed(0)
    snaps = {"real": torch.randn(20, dim, generator=g), "fake": torch.randn(epochs, 20, dim, generator=g),
             "epochs": torch.arange(1, epochs + 1)}
    if surface:
        snaps["surface"] = torch.rand(epochs, 8, 8, generator=g)
        snaps["extent"] = torch.tensor([-3.0, 3.0, -3.0, 3.0])
    return snaps


def test_samples_panel_shows_surface_and_both_clouds():
    fig = plot_samples(_snapshots(2))
    ax = fig.axes[0]
    assert len(ax.images) == 1  # D's surface
    assert ax.images[0].get_array().shape == (8, 8)
    assert [c.get_label() for c in ax.collections] == ["real", "generated"]
    assert ax.collections[1].get_offsets().shape == (20, 2)
    assert ax.get_title() == "real vs generated, epoch 3"


@pytest.mark.parametrize("dim,surface", [(2, True), (1, False), (3, False)])
def test_animation_has_one_frame_per_epoch(tmp_path, dim, surface):
    snaps = _snapshots(dim, surface=surface)
    assert animate_samples(snaps, tmp_path / "a.gif") == 3
    with Image.open(tmp_path / "a.gif") as im:
        assert im.n_frames == 3
        first = np.asarray(im.convert("RGB"))
        im.seek(2)
        last = np.asarray(im.convert("RGB"))
    assert not np.array_equal(first, last)  # the frames really move


def test_loss_curves():
    history = [{"epoch": e, "loss_d": 0.5 + e / 10, "loss_g": 1.0 - e / 10} for e in range(1, 4)]
    ax = plot_losses(history).axes[0]
    labels = [line.get_label() for line in ax.lines]
    assert labels[:2] == ["loss_D", "loss_G"]
    assert list(ax.lines[0].get_ydata()) == pytest.approx([0.6, 0.7, 0.8])


def _dashed(ax):
    return sorted(round(float(line.get_ydata()[0]), 6) for line in ax.lines if line.get_linestyle() == "--")


@pytest.mark.parametrize("loss,expected", [
    ("nonsaturating", [LN2]), ("minimax", [-LN2, LN2]), ("least_squares", [0.5]), ("hinge", [0.0, 2.0]),
    ("wgan", []), (None, []),
])
def test_losses_mark_the_runs_own_objectives_equilibrium(loss, expected):
    history = [{"epoch": e, "loss_d": 0.7, "loss_g": -0.7} for e in (1, 2)]
    ax = plot_losses(history, loss=loss).axes[0]
    assert _dashed(ax) == pytest.approx(expected, abs=1e-6)
    if loss == "minimax":  # the old single ln 2 line would leave G's -ln 2 unmarked
        assert -LN2 == pytest.approx(_dashed(ax)[0], abs=1e-6) and len(_dashed(ax)) == 2


def test_run_figures_read_the_objective_from_the_runs_config(tmp_path, monkeypatch):
    from gankit.config import Config
    from gankit.files import MetricsWriter, write_json
    from gankit.viz import plots

    config = Config()
    config.train.loss = "minimax"
    write_json(tmp_path / "config.json", config.to_dict())
    writer = MetricsWriter(tmp_path)
    for e in (1, 2):
        writer.write({"epoch": e, "step": 4 * e, "loss_d": 0.69, "loss_g": -0.69, "seconds": 0.1})
    seen = {}
    drawn = plots.plot_losses
    monkeypatch.setattr(plots, "plot_losses", lambda h, path, loss: seen.setdefault("loss", loss) and drawn(h, path, loss))
    assert plots.draw_run(tmp_path) == [tmp_path / "losses.png"]
    assert seen["loss"] == "minimax"


def test_frames_hold_generated_points_far_from_the_data():
    snaps = _snapshots(2)
    snaps["fake"][-1, 0] = torch.tensor([9.0, -12.0])  # far outside the surface's extent [-3, 3]
    ax = plot_samples(snaps).axes[0]
    (x0, x1), (y0, y1) = ax.get_xlim(), ax.get_ylim()
    assert x0 <= -3 and x1 > 9.0 and y0 < -12.0 and y1 >= 3  # every point and the whole surface shown
    assert x1 < 9.0 + 0.1 * 12 + 0.5  # but not much more than that
    # Negative control: the first epoch has no such point, so its frame stays near the surface.
    ax = plot_samples(snaps, 0).axes[0]
    assert ax.get_xlim()[1] < 4.0


def test_snapshots_record_a_surface_under_every_generated_point(tiny_config):
    from gankit.engines.training import train
    from gankit.runs.callbacks import Snapshots

    tiny_config.train.epochs = 3
    tiny_config.data.mean = [30.0, -20.0]  # the data far from where G's samples start (near the origin)
    snapshots = Snapshots()
    train(tiny_config, [snapshots])
    t = snapshots.tensors()
    assert t["extents"].shape == (3, 4) and t["surface"].shape == (3, 64, 64)
    for fake, (x0, x1, y0, y1) in zip(t["fake"], t["extents"].tolist()):
        assert (fake[:, 0] > x0).all() and (fake[:, 0] < x1).all() and (fake[:, 1] > y0).all() and (fake[:, 1] < y1).all()
    real = tiny_config.data.mean
    assert all(e[0] < real[0] < e[1] and e[2] < real[1] < e[3] for e in t["extents"].tolist())
    # The run's frame holds every epoch's; a frame fitted to the data alone would miss the origin.
    x0, x1, y0, y1 = t["extent"].tolist()
    assert x0 < 0 < x1 and y0 < 0 < y1 and x1 > 30 and y0 < -20


def test_snapshots_check_refuses_bad_per_frame_extents():
    from gankit.errors import UserError
    from gankit.viz.snapshots import check_snapshots

    snaps = _snapshots(2)
    snaps["pull"] = torch.zeros_like(snaps["fake"])
    snaps["extents"] = snaps["extent"].repeat(3, 1)
    check_snapshots(snaps, "s")  # well-formed: accepted
    snaps["extents"][1] = torch.tensor([3.0, -3.0, -3.0, 3.0])  # x0 > x1
    with pytest.raises(UserError, match="^s: extents must be"):
        check_snapshots(snaps, "s")
    snaps["extents"] = snaps["extent"].repeat(2, 1)  # one frame short
    with pytest.raises(UserError, match=r"extents must be \(3, 4\)"):
        check_snapshots(snaps, "s")
