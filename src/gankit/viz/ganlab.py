"""GAN Lab's views, in Python: D's surface, G's samples and the pull on each sample.

For 2-D data, one panel shows

- the discriminator's probability D(x) = P(real) as a heatmap over the plane;
- the real points and the generated points over it;
- an arrow on every generated point: minus the gradient of the generator's
  loss with respect to that point, -d loss_G / d x. This is the direction in
  which the G step pushes the point (its parameters only move it through x),
  so the arrows show where the generator is being pulled, epoch by epoch.
  In an animation one scale holds for every frame of a run (`arrow_scale`,
  from all its recorded pulls), so a weak pull looks weak next to the strong
  pulls of early training; a still is drawn on its own epoch's scale, since
  on the run's the last epoch's pull, often a hundredth of the first's, is
  too short to see. A legend arrow says what one arrow length means.

Each panel is framed on the real and that epoch's generated points; an
animation keeps one frame holding every epoch's points.

The arrows are computed here from D and the objective, never inside the
training loop; `gankit.runs.callbacks.Snapshots` records them per epoch with
`generator_pull` so that an animation can be drawn from a saved run.
"""

from __future__ import annotations

import math
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Sequence

import numpy as np
import torch
from PIL import Image
from torch import Tensor, nn

from gankit.errors import UserError
from gankit.files import atomic_file
if TYPE_CHECKING:  # matplotlib is imported only where a figure is drawn (viz.style.figure)
    from matplotlib.figure import Figure

from gankit.viz.style import ARROW_COLOR, FAKE_COLOR, REAL_COLOR, figure, frame_extent, frame_limits


def generator_pull(D: nn.Module, fake: Tensor, g_loss: Callable[[Tensor], Tensor]) -> Tensor:
    """The pull the generator's loss puts on each generated point: -d loss_G / d x.

    The losses are sums over the batch, so row i of the gradient depends only
    on point i: one backward pass gives every point's own arrow. D's parameter
    gradients are left untouched (only the input's gradient is taken).

    Args:
        D: the discriminator, (N, d) -> (N, 1) logits.
        fake: (N, d) generated points.
        g_loss: the generator's loss, a function of D's logits on ``fake``.

    Returns:
        (N, d) float32: the descent direction for each point.
    """
    x = fake.detach().clone().requires_grad_(True)  # (N, d)
    with torch.enable_grad():
        (grad,) = torch.autograd.grad(g_loss(D(x)), x)
    return -grad.float()



def arrow_scale(pull, width: float) -> tuple[float, float]:
    """One scale for a run's arrows: (pull per legend arrow, the legend arrow's length in data units).

    The legend arrow is an eighth of ``width`` (the frame's); it stands for the
    longest finite pull in ``pull``, rounded up to 1, 2 or 5 times a power of ten, so
    no arrow is longer than it and each is drawn |pull| / unit times its length.

    Args:
        pull: (..., 2) every pull to be drawn on this scale, e.g. all of a run's frames (E, F, 2).
        width: the frame's width in data units.
    """
    norms = np.linalg.norm(np.asarray(pull, dtype=np.float64).reshape(-1, 2), axis=1)
    norms = norms[np.isfinite(norms)]
    longest = float(norms.max()) if len(norms) else 0.0
    length = width / 8 if width > 0 else 1.0
    return (_nice_ceil(longest) if longest > 0 else 1.0), length


def _nice_ceil(x: float) -> float:
    """The smallest of 1, 2, 5 times a power of ten that is at least ``x`` (> 0)."""
    power = 10.0 ** math.floor(math.log10(x))
    return next(m * power for m in (1.0, 2.0, 5.0, 10.0) if m * power >= x * (1 - 1e-12))


def draw_ganlab(ax, real: Tensor, fake: Tensor, surface: Tensor, extent: Sequence[float],
                pull: Tensor | None = None, title: str = "", limits: Sequence[float] | None = None,
                scale: tuple[float, float] | None = None) -> dict:
    """GAN Lab's panel on ``ax``: surface heatmap, real and generated points, arrows.

    Args:
        real: (R, 2) real points.
        fake: (F, 2) generated points.
        surface: (H, W) D's P(real) on a grid spanning ``extent`` (rows along x2).
        extent: (x1_min, x1_max, x2_min, x2_max) of the grid.
        pull: (F, 2) arrow per generated point (`generator_pull`), or None.
        limits: the axes' frame; default: one holding ``extent`` and every finite point.
        scale: the arrows' (unit, length) from `arrow_scale` (a whole run's); default: from ``pull`` alone.

    Returns:
        The artists, by name (``surface``, ``real``, ``fake``, ``pull``, ``key``), for animation.
    """
    extent = [float(v) for v in extent]
    real, fake = np.asarray(real), np.asarray(fake)
    frame = list(limits) if limits is not None else frame_limits(real, fake, extent=extent)
    image = ax.imshow(np.asarray(surface), origin="lower", extent=extent, cmap="RdBu",
                      vmin=0.0, vmax=1.0, alpha=0.6, aspect="auto", interpolation="bilinear")
    ax.figure.colorbar(image, ax=ax, label="D(x) = P(real)", shrink=0.8)
    artists = {"surface": image, "pull": None, "key": None}
    artists["real"] = ax.scatter(real[:, 0], real[:, 1], s=14, c=REAL_COLOR, label="real",
                                 edgecolors="white", linewidths=0.4)
    artists["fake"] = ax.scatter(fake[:, 0], fake[:, 1], s=14, c=FAKE_COLOR, label="generated",
                                 edgecolors="white", linewidths=0.4)
    if pull is not None:
        pull = np.asarray(pull)
        unit, length = scale if scale is not None else arrow_scale(pull, frame[1] - frame[0])
        # scale_units="xy": an arrow is |pull| / scale data units long, so the unit spans `length`.
        artists["pull"] = ax.quiver(fake[:, 0], fake[:, 1], pull[:, 0], pull[:, 1], color=ARROW_COLOR,
                                    angles="xy", scale_units="xy", scale=unit / length,
                                    width=0.004, label="pull on G's samples")
        # The legend arrow, bottom right: its tail at x = 0.97 - its length, in axes fractions.
        tail = 0.97 - length / (frame[1] - frame[0])
        artists["key"] = ax.quiverkey(artists["pull"], tail, 0.04, unit, f"pull {unit:g}", labelpos="W",
                                      coordinates="axes", fontproperties={"size": "small"})
    ax.set_xlim(frame[0], frame[1])
    ax.set_ylim(frame[2], frame[3])
    ax.set_xlabel("x1")
    ax.set_ylabel("x2")
    ax.legend(loc="upper left", fontsize="small")
    ax.set_title(title)
    return artists


def run_scale(snapshots: dict[str, Tensor]) -> tuple[float, float] | None:
    """`arrow_scale` of every recorded pull, the legend arrow an eighth of the run's whole frame wide."""
    if "pull" not in snapshots:
        return None
    extent = [float(v) for v in snapshots["extent"]]
    return arrow_scale(snapshots["pull"], extent[1] - extent[0])


def _check_snapshots(snapshots: dict[str, Tensor]) -> None:
    missing = [k for k in ("real", "fake", "surface", "extent", "epochs") if k not in snapshots]
    if missing:
        raise UserError(f"snapshots lack {', '.join(missing)}: GAN Lab views need 2-D data")


def plot_ganlab(snapshots: dict[str, Tensor], index: int = -1, path: Path | None = None,
                scale: str = "epoch") -> Figure:
    """GAN Lab's view of one recorded epoch (default: the last).

    Args:
        snapshots: a run's ``snapshots.safetensors`` (``real``, ``fake``
            (E, F, 2), ``surface`` (E, H, W), ``extent``, ``epochs``, and
            ``pull`` (E, F, 2) when recorded).
        index: which recorded epoch.
        path: also save the figure there.
        scale: the arrows' scale: ``"epoch"``, this epoch's own longest pull (so they can be
            seen), or ``"run"``, the whole run's, as in the animation (so epochs compare).
    """
    if scale not in ("epoch", "run"):
        raise UserError(f"the arrows' scale is 'epoch' or 'run', got {scale!r}")
    _check_snapshots(snapshots)
    fig = figure(5.5, 4.5)
    pull = snapshots["pull"][index] if "pull" in snapshots else None
    extent = frame_extent(snapshots, index)
    limits = frame_limits(snapshots["real"], snapshots["fake"][index], extent=extent)
    draw_ganlab(fig.add_subplot(), snapshots["real"], snapshots["fake"][index], snapshots["surface"][index],
                extent, pull, title=f"GAN Lab view, epoch {int(snapshots['epochs'][index])}",
                limits=limits, scale=run_scale(snapshots) if scale == "run" else None)
    if path is not None:
        with atomic_file(path) as tmp:
            fig.savefig(tmp)
    return fig


def animate_ganlab(snapshots: dict[str, Tensor], path: Path, ms_per_frame: int = 300) -> int:
    """The GAN Lab view over training, one frame per recorded epoch.

    ``.gif`` is written with Pillow; ``.mp4`` needs ffmpeg on the PATH.

    Returns:
        The number of frames written.
    """
    _check_snapshots(snapshots)
    path = Path(path)
    n = len(snapshots["epochs"])
    if path.suffix.lower() == ".mp4":
        return _write_mp4(snapshots, path, ms_per_frame)
    if path.suffix.lower() != ".gif":
        raise UserError(f"animation must end in .gif or .mp4, got {path}")
    frames = [Image.fromarray(rgb).convert("P", palette=Image.Palette.ADAPTIVE)
              for rgb in _frames(snapshots, dpi=70)]
    if frames:
        durations = [ms_per_frame] * (n - 1) + [ms_per_frame * 5]  # linger on the end
        with atomic_file(path) as tmp:
            frames[0].save(tmp, save_all=True, append_images=frames[1:], duration=durations, loop=0)
    return len(frames)


def _frames(snapshots: dict[str, Tensor], dpi: int = 100):
    """Yield (H, W, 3) uint8 frames, one per recorded epoch.

    One figure is laid out once and its artists are updated in place, which is
    about twice as fast as drawing a new figure per epoch.
    """
    fig = figure(5.5, 4.5)
    fig.set_dpi(dpi)
    canvas = fig.canvas
    ax = fig.add_subplot()
    has_pull = "pull" in snapshots
    # One frame holding every epoch's points, and one arrow scale for the whole run.
    limits = frame_limits(snapshots["real"], snapshots["fake"].flatten(0, 1), extent=snapshots["extent"])
    scale = run_scale(snapshots)
    for i in range(len(snapshots["epochs"])):
        fake = snapshots["fake"][i].numpy()
        pull = snapshots["pull"][i].numpy() if has_pull else None
        title = f"GAN Lab view, epoch {int(snapshots['epochs'][i])}"
        if i == 0:
            artists = draw_ganlab(ax, snapshots["real"], fake, snapshots["surface"][i], frame_extent(snapshots, i),
                                  pull, title, limits=limits, scale=scale)
            canvas.draw()
            fig.set_layout_engine("none")  # freeze the layout for every later frame
        else:
            artists["surface"].set_data(snapshots["surface"][i].numpy())
            artists["surface"].set_extent([float(v) for v in frame_extent(snapshots, i)])
            artists["fake"].set_offsets(fake)
            if has_pull:
                artists["pull"].set_offsets(fake)
                artists["pull"].set_UVC(pull[:, 0], pull[:, 1])  # on the run's one scale
            ax.set_title(title)
            canvas.draw()
        yield np.asarray(canvas.buffer_rgba())[..., :3].copy()


def ffmpeg_available() -> bool:
    return shutil.which("ffmpeg") is not None


def _write_mp4(snapshots: dict[str, Tensor], path: Path, ms_per_frame: int) -> int:
    if not ffmpeg_available():
        raise UserError("writing .mp4 needs ffmpeg on the PATH (or write a .gif)")
    import subprocess

    frames = list(_frames(snapshots, dpi=100))
    height, width = frames[0].shape[:2]
    tmp = path.with_name(f".{path.stem}.tmp.mp4")
    # Raw RGB frames piped to ffmpeg; H.264 needs even sizes, hence the crop.
    command = ["ffmpeg", "-loglevel", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24",
               "-s", f"{width}x{height}", "-r", f"{1000 / ms_per_frame:g}", "-i", "-",
               "-vf", "crop=trunc(iw/2)*2:trunc(ih/2)*2", "-pix_fmt", "yuv420p", str(tmp)]
    try:
        subprocess.run(command, input=b"".join(f.tobytes() for f in frames), check=True,
                       capture_output=True)
        tmp.replace(path)
    except subprocess.CalledProcessError as err:
        tmp.unlink(missing_ok=True)
        raise UserError(f"ffmpeg failed writing {path}: {err.stderr.decode(errors='replace').strip()}") from None
    return len(frames)


def draw_ganlab_run(run_dir: Path, animate: bool = True) -> list[Path]:
    """Draw ``ganlab.png`` and, with ``animate``, ``ganlab.gif`` (and ``ganlab.mp4`` with ffmpeg) for a 2-D run.

    ``gankit train`` draws the still only (the animations cost seconds);
    ``gankit report`` draws the animations when they are missing.

    Raises:
        UserError: the snapshots file is damaged (see `gankit.viz.snapshots.check_snapshots`).
    """
    from gankit.files import load_run_config
    from gankit.viz.snapshots import read_snapshots

    snap_path = Path(run_dir) / "snapshots.safetensors"
    if not snap_path.is_file():
        return []
    snapshots = read_snapshots(snap_path, load_run_config(run_dir).train.epochs)  # checked: one line if bad
    if "surface" not in snapshots:
        return []
    written = [Path(run_dir) / "ganlab.png"]
    plot_ganlab(snapshots, -1, written[0])
    if not animate:
        return written
    written.append(Path(run_dir) / "ganlab.gif")
    animate_ganlab(snapshots, written[1])
    if ffmpeg_available():
        animate_ganlab(snapshots, Path(run_dir) / "ganlab.mp4")
        written.append(Path(run_dir) / "ganlab.mp4")
    return written


__all__ = ["arrow_scale", "generator_pull", "draw_ganlab", "run_scale", "plot_ganlab", "animate_ganlab", "draw_ganlab_run",
           "ffmpeg_available"]
