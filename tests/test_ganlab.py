import pytest
import torch
from matplotlib.collections import PathCollection
from matplotlib.image import AxesImage
from matplotlib.quiver import Quiver, QuiverKey
from PIL import Image
from torch import nn

from gankit.runs.callbacks import Snapshots
from gankit.errors import UserError
from gankit.viz.ganlab import draw_ganlab_run, animate_ganlab, ffmpeg_available, generator_pull, plot_ganlab, run_scale
from gankit.engines.objectives import g_loss_minimax, g_loss_nonsaturating
from gankit.files import load_tensors
from gankit.engines.training import train


def _linear_D(w, c):
    D = nn.Linear(2, 1)
    with torch.no_grad():
        D.weight.copy_(torch.tensor([w]))
        D.bias.fill_(c)
    return D


def test_pull_is_minus_the_gradient_of_the_generator_loss_in_closed_form():
    # o = w.x + c; non-saturating loss softplus(-o): d/dx = -sigmoid(-o) w, so the
    # pull is +sigmoid(-o) w (towards where D says "real"). Minimax, -softplus(o):
    # d/dx = -sigmoid(o) w, pull +sigmoid(o) w: the same direction, vanishing as D(x) -> 0.
    w, c = [0.5, -2.0], 0.3
    D = _linear_D(w, c)
    x = torch.tensor([[0.0, 0.0], [1.0, 2.0], [-3.0, 1.0]])
    o = x @ torch.tensor(w) + c
    expected = torch.sigmoid(-o)[:, None] * torch.tensor(w)
    pull = generator_pull(D, x, g_loss_nonsaturating)
    assert torch.allclose(pull, expected, atol=1e-6)
    assert not torch.allclose(-pull, expected, atol=1e-3)  # the sign matters
    minimax = generator_pull(D, x, g_loss_minimax)
    assert torch.allclose(minimax, torch.sigmoid(o)[:, None] * torch.tensor(w), atol=1e-6)
    assert D.weight.grad is None and D.bias.grad is None  # D's own gradients untouched


def test_recording_arrows_leaves_training_unchanged(tiny_config):
    plain = train(tiny_config)
    snapshots = Snapshots()
    recorded = train(tiny_config, [snapshots])
    assert recorded.history == [{**r, "seconds": s["seconds"]} for r, s in zip(plain.history, recorded.history)]
    tensors = snapshots.tensors()
    assert tensors["pull"].shape == (tiny_config.train.epochs, 100, 2)
    # The last epoch's arrows are the final D's pull on the last recorded points.
    last = generator_pull(recorded.D, tensors["fake"][-1], g_loss_nonsaturating)
    assert torch.allclose(tensors["pull"][-1], last, atol=1e-6)


def test_still_image_has_surface_points_and_arrows(default_run):
    snapshots = load_tensors(default_run / "snapshots.safetensors")
    fig = plot_ganlab(snapshots, -1)
    ax = fig.axes[0]  # fig.axes[1] is the colorbar
    images = [a for a in ax.get_children() if isinstance(a, AxesImage)]
    assert len(images) == 1 and images[0].get_array().shape == snapshots["surface"][-1].shape
    assert images[0].get_array().min() >= 0 and images[0].get_array().max() <= 1
    points = [a for a in ax.collections if isinstance(a, PathCollection)]
    assert len(points) == 2
    real, fake = (p.get_offsets() for p in points)
    assert torch.allclose(torch.as_tensor(real, dtype=torch.float32), snapshots["real"])
    assert torch.allclose(torch.as_tensor(fake, dtype=torch.float32), snapshots["fake"][-1])
    arrows = [a for a in ax.collections if isinstance(a, Quiver)]
    assert len(arrows) == 1 and arrows[0].N == snapshots["fake"].shape[1]
    uv = torch.tensor(list(zip(arrows[0].U, arrows[0].V)), dtype=torch.float32)
    assert torch.allclose(uv, snapshots["pull"][-1], atol=1e-6)
    assert float(uv.norm(dim=1).max()) > 0  # arrows that actually point somewhere
    with Image.open(default_run / "ganlab.png") as im:
        assert im.format == "PNG" and im.size[0] > 300


def test_animation_has_one_frame_per_epoch(default_run, tmp_path):
    snapshots = load_tensors(default_run / "snapshots.safetensors")
    assert not (default_run / "ganlab.gif").exists() or (default_run / "report.html").exists()  # train: still only
    draw_ganlab_run(default_run, animate=True)
    with Image.open(default_run / "ganlab.gif") as im:
        assert im.n_frames == len(snapshots["epochs"]) == 20
    few = {k: (v[:3] if k in ("fake", "surface", "pull", "epochs") else v) for k, v in snapshots.items()}
    assert animate_ganlab(few, tmp_path / "a.gif") == 3
    with Image.open(tmp_path / "a.gif") as im:
        assert im.n_frames == 3


@pytest.mark.skipif(not ffmpeg_available(), reason="ffmpeg is not installed")
def test_mp4_with_ffmpeg(default_run, tmp_path):
    snapshots = load_tensors(default_run / "snapshots.safetensors")
    few = {k: (v[:3] if k in ("fake", "surface", "pull", "epochs") else v) for k, v in snapshots.items()}
    assert animate_ganlab(few, tmp_path / "a.mp4") == 3
    assert (tmp_path / "a.mp4").stat().st_size > 1000


def test_bad_requests_get_clear_errors(default_run, tmp_path, monkeypatch):
    snapshots = load_tensors(default_run / "snapshots.safetensors")
    with pytest.raises(UserError, match="GAN Lab views need 2-D data"):
        plot_ganlab({k: v for k, v in snapshots.items() if k != "surface"})
    with pytest.raises(UserError, match=r"must end in \.gif or \.mp4"):
        animate_ganlab(snapshots, tmp_path / "a.avi")
    monkeypatch.setattr("gankit.viz.ganlab.shutil.which", lambda name: None)
    with pytest.raises(UserError, match="needs ffmpeg"):
        animate_ganlab(snapshots, tmp_path / "a.mp4")
    assert not (tmp_path / "a.mp4").exists()


def _two_frames(strong: float, weak: float):
    """Snapshots of two epochs: the same points, pulled hard then barely."""
    g = torch.Generator().manual_seed(0)
    fake = torch.randn(1, 30, 2, generator=g).repeat(2, 1, 1)
    direction = torch.nn.functional.normalize(torch.randn(30, 2, generator=g), dim=1)
    pull = torch.stack([strong * direction, weak * direction])  # (2, 30, 2)
    extents = torch.tensor([[-4.0, 4.0, -4.0, 4.0]] * 2)
    return {"real": torch.randn(30, 2, generator=g), "fake": fake, "pull": pull, "surface": torch.rand(2, 8, 8, generator=g),
            "extents": extents, "extent": extents[0], "epochs": torch.tensor([1, 2])}


def test_arrow_scale_is_a_round_unit_at_least_the_longest_pull():
    from gankit.viz.ganlab import arrow_scale

    assert arrow_scale(torch.tensor([[3.0, 4.0], [0.1, 0.0]]), 8.0) == (5.0, 1.0)  # |(3, 4)| = 5 fits 5
    assert arrow_scale(torch.tensor([[3.0, 4.1]]), 8.0) == (10.0, 1.0)  # just over 5: the next round unit
    assert arrow_scale(torch.tensor([[0.0, 0.0013]]), 16.0) == (pytest.approx(0.002), 2.0)
    assert arrow_scale(torch.tensor([[float("nan"), 1.0], [0.0, 0.3]]), 8.0)[0] == pytest.approx(0.5)
    assert arrow_scale(torch.zeros(3, 2), 8.0) == (1.0, 1.0)


def test_one_arrow_scale_for_the_whole_run_so_a_weak_pull_looks_weak(tmp_path):
    """scale="run", the animation's scale (`_frames` draws every frame on `run_scale`)."""
    snaps = _two_frames(strong=8.0, weak=0.08)
    quivers = []
    for index in (0, 1):
        ax = plot_ganlab(snaps, index, scale="run").axes[0]
        (q,) = [a for a in ax.collections if isinstance(a, Quiver)]
        quivers.append(q)
        # The legend says what one arrow length means: the run's unit, 10 (>= the longest pull 8).
        (key,) = [a for a in ax.get_children() if isinstance(a, QuiverKey)]
        assert key.text.get_text() == "pull 10" and key.U == 10.0
    assert quivers[0].scale == quivers[1].scale == pytest.approx(10.0 / 1.0)  # unit 10 per (8 / 8) data units
    # Drawn lengths |pull| / scale: the weak pull is a hundredth of the strong one, as it should look.
    strong, weak = (float(torch.as_tensor(q.U).abs().max()) / q.scale for q in quivers)
    assert weak == pytest.approx(strong / 100, rel=1e-3)
    # Negative control: a scale fitted per frame would have drawn them equally long.
    assert not weak == pytest.approx(strong, rel=0.5)
    assert run_scale(snaps) == (10.0, 1.0)  # what the animation draws on
    assert animate_ganlab(snaps, tmp_path / "a.gif") == 2


def test_a_still_draws_its_own_epochs_pull_so_the_arrows_can_be_seen():
    """On the run's scale the last epoch's pull (a hundredth of the first) is a few pixels; a still's is not."""
    snaps = _two_frames(strong=8.0, weak=0.08)
    drawn = {}
    for scale in ("epoch", "run"):
        ax = plot_ganlab(snaps, -1, scale=scale).axes[0]
        (q,) = [a for a in ax.collections if isinstance(a, Quiver)]
        (key,) = [a for a in ax.get_children() if isinstance(a, QuiverKey)]
        longest = float(torch.as_tensor(q.U).abs().max()) / q.scale  # data units
        drawn[scale] = (longest / (ax.get_xlim()[1] - ax.get_xlim()[0]), key.text.get_text())
    (epoch, epoch_key), (run, _) = drawn["epoch"], drawn["run"]
    assert epoch_key == "pull 0.1" and 0.04 <= epoch <= 0.126  # 0.08 of 0.1 of an eighth of the frame
    assert run < 0.002  # the negative control: the run's scale draws it nearly invisible
    with pytest.raises(UserError, match="'epoch' or 'run'"):
        plot_ganlab(snaps, -1, scale="frame")

