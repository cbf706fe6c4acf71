"""Figures drawn from what a run recorded, never from inside the training math.

Uses matplotlib's object API (``Figure`` + Agg canvas): no pyplot, no global
state, safe in threads and headless machines.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch
from matplotlib.figure import Figure
from PIL import Image

from gankit.files import atomic_file
from gankit.viz.style import FAKE_COLOR, REAL_COLOR, figure, frame_extent, frame_limits


def draw_equilibrium(ax, loss: str | None, lines: Sequence = ()) -> None:
    """Dashed lines at objective ``loss``'s equilibrium values (`gankit.engines.objectives.equilibrium`).

    One grey line when loss_D and loss_G share the value (the non-saturating
    objective's ln 2), else one per loss in the colour of its curve (``lines``:
    the loss_D and loss_G curves); none for ``wgan`` (no scale) or ``loss=None``.
    """
    from gankit.engines.objectives import equilibrium

    values = equilibrium(loss) if loss is not None else None
    if values is None:
        return
    eq_d, eq_g = values
    if abs(eq_d - eq_g) < 1e-9:
        ax.axhline(eq_d, color="gray", linestyle="--", linewidth=0.8, label=f"equilibrium {eq_d:.3f}")
        return
    colors = [line.get_color() for line in lines] or ["gray", "gray"]
    for name, value, color in (("loss_D", eq_d, colors[0]), ("loss_G", eq_g, colors[1])):
        ax.axhline(value, color=color, linestyle="--", linewidth=0.8, label=f"{name} equilibrium {value:.3f}")


def plot_losses(history: Sequence[dict[str, Any]], path: Path | None = None, loss: str | None = None) -> Figure:
    """Both losses (summed loss / examples) against the epoch, each objective's equilibrium dashed.

    Args:
        history: rows with ``epoch``, ``loss_d``, ``loss_g``.
        path: also save the figure there.
        loss: the run's objective (``train.loss``): its losses when D outputs 1/2
            are marked (ln 2 for both under the chapter's ``nonsaturating``;
            ln 2 and -ln 2 under ``minimax``; nothing for ``wgan`` or None).
    """
    fig = figure(5, 3.5)
    ax = fig.add_subplot()
    epochs = [row["epoch"] for row in history]
    curves = [ax.plot(epochs, [row[key] for row in history], label=label, marker=".")[0]
              for key, label in (("loss_d", "loss_D"), ("loss_g", "loss_G"))]
    draw_equilibrium(ax, loss, curves)
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss per example")
    ax.set_title(f"losses ({loss})" if loss else "losses")
    ax.legend(fontsize="small")
    if path is not None:
        with atomic_file(path) as tmp:
            fig.savefig(tmp)
    return fig


def draw_scatter(ax, real: torch.Tensor, fake: torch.Tensor, surface: torch.Tensor | None = None,
                 extent: Sequence[float] | None = None, title: str = "",
                 limits: Sequence[float] | None = None) -> None:
    """Real vs generated points (first two coordinates), D's P(real) shaded behind.

    Args:
        real, fake: (N, d) points; 1-D data are drawn as histograms.
        surface: (H, W) D's P(real) on a grid spanning ``extent``, or None.
        extent: (x1_min, x1_max, x2_min, x2_max) of the surface.
        limits: the axes' frame; default: one holding ``extent`` and every finite point.
    """
    if surface is not None and extent is not None:
        image = ax.imshow(surface.numpy(), origin="lower", extent=list(map(float, extent)),
                          cmap="RdBu", vmin=0.0, vmax=1.0, alpha=0.55, aspect="auto")
        ax.figure.colorbar(image, ax=ax, label="D(x) = P(real)", shrink=0.8)
    real, fake = real.numpy(), fake.numpy()
    if real.shape[1] == 1:
        ax.hist([real[:, 0], fake[:, 0]], bins=20, label=["real", "generated"], color=[REAL_COLOR, FAKE_COLOR])
    else:
        ax.scatter(real[:, 0], real[:, 1], s=12, c=REAL_COLOR, label="real", edgecolors="white", linewidths=0.3)
        ax.scatter(fake[:, 0], fake[:, 1], s=12, c=FAKE_COLOR, label="generated", edgecolors="white",
                   linewidths=0.3)
        ax.set_xlabel("x1")
        ax.set_ylabel("x2")
        frame = list(limits) if limits is not None else frame_limits(real, fake, extent=extent)
        ax.set_xlim(frame[0], frame[1])
        ax.set_ylim(frame[2], frame[3])
    ax.legend(loc="upper left", fontsize="small")
    ax.set_title(title)


def plot_samples(snapshots: dict[str, torch.Tensor], index: int = -1, path: Path | None = None,
                 limits: Sequence[float] | None = None) -> Figure:
    """The real-vs-generated panel for one recorded epoch (default: the last).

    Framed on that epoch's real and generated points (and D's surface under them),
    or on ``limits`` when given (an animation's one frame).
    """
    fig = figure(5.5, 4.5)
    ax = fig.add_subplot()
    epoch = int(snapshots["epochs"][index])
    surface = snapshots["surface"][index] if "surface" in snapshots else None
    draw_scatter(ax, snapshots["real"], snapshots["fake"][index], surface, frame_extent(snapshots, index),
                 title=f"real vs generated, epoch {epoch}", limits=limits)
    if path is not None:
        with atomic_file(path) as tmp:
            fig.savefig(tmp)
    return fig


def animate_samples(snapshots: dict[str, torch.Tensor], path: Path, ms_per_frame: int = 250) -> int:
    """An animated GIF of the real-vs-generated panel, one frame per epoch.

    One figure is laid out and drawn once; each frame restores that background
    and redraws only D's surface, the points, the title and the legend.

    Returns:
        The number of frames written.
    """
    n_frames = len(snapshots["epochs"])
    if n_frames == 0:
        return 0
    if snapshots["fake"].shape[-1] < 2:  # 1-D histograms: redraw each frame
        return _animate_by_redrawing(snapshots, path, ms_per_frame)
    # One frame for every epoch: it holds all the real and generated points recorded.
    limits = frame_limits(snapshots["real"], snapshots["fake"].flatten(0, 1), extent=snapshots.get("extent"))
    fig = plot_samples(snapshots, 0, limits=limits)
    fig.set_dpi(70)
    fig.canvas.draw()
    fig.set_layout_engine("none")  # lay out once; frames only change data
    ax = fig.axes[0]
    # Blitting: what changes (surface, points, title, legend on top) is drawn per
    # frame over a saved background of everything else (axes, ticks, colorbar).
    moving = [*ax.images, *ax.collections, ax.title, ax.get_legend()]
    for artist in moving:
        artist.set_animated(True)
    fig.canvas.draw()
    background = fig.canvas.copy_from_bbox(fig.bbox)
    fake_points = ax.collections[-1]  # the generated scatter is drawn last
    surface = ax.images[0] if ax.images else None
    frames = []
    for i in range(n_frames):
        fake_points.set_offsets(snapshots["fake"][i].numpy()[:, :2])
        if surface is not None:
            surface.set_data(snapshots["surface"][i].numpy())
            surface.set_extent([float(v) for v in frame_extent(snapshots, i)])
        ax.set_title(f"real vs generated, epoch {int(snapshots['epochs'][i])}")
        fig.canvas.restore_region(background)
        for artist in moving:
            ax.draw_artist(artist)
        rgba = np.asarray(fig.canvas.buffer_rgba())
        frames.append(Image.fromarray(rgba[..., :3]).quantize(colors=128))
    durations = [ms_per_frame] * (n_frames - 1) + [ms_per_frame * 6]  # linger on the end
    with atomic_file(path) as tmp:
        frames[0].save(tmp, save_all=True, append_images=frames[1:], duration=durations, loop=0)
    return n_frames


def _animate_by_redrawing(snapshots: dict[str, torch.Tensor], path: Path, ms_per_frame: int) -> int:
    frames = []
    for i in range(len(snapshots["epochs"])):
        fig = plot_samples(snapshots, i)
        fig.set_dpi(70)
        fig.canvas.draw()
        frames.append(Image.fromarray(np.asarray(fig.canvas.buffer_rgba())[..., :3]).quantize(colors=128))
    durations = [ms_per_frame] * (len(frames) - 1) + [ms_per_frame * 6]
    with atomic_file(path) as tmp:
        frames[0].save(tmp, save_all=True, append_images=frames[1:], duration=durations, loop=0)
    return len(frames)


def draw_run(run_dir: Path, between: Callable[[], None] = lambda: None) -> list[Path]:
    """Draw ``losses.png``, ``samples.png``, ``training.gif`` (and for 2-D data GAN Lab's
    still, ``ganlab.png``) from a run's records. `gankit.viz.report` adds GAN Lab's animations.

    ``between`` is called after each file (a stop request raises there); each file is written atomically.
    A damaged ``snapshots.safetensors`` is skipped with a one-line note on stderr.
    """
    import sys

    from gankit.errors import UserError
    from gankit.files import load_run_config, read_metrics
    from gankit.viz.snapshots import read_snapshots

    run_dir = Path(run_dir)
    written = []
    config = load_run_config(run_dir)
    history = read_metrics(run_dir)
    if history:
        plot_losses(history, run_dir / "losses.png", loss=config.train.loss)
        written.append(run_dir / "losses.png")
        between()
    snap_path = run_dir / "snapshots.safetensors"
    if snap_path.is_file():
        try:
            snapshots = read_snapshots(snap_path, config.train.epochs)
        except UserError as err:  # the figures are extras: a damaged file is noted and skipped
            print(f"gankit: {err}", file=sys.stderr)
            return written
        plot_samples(snapshots, -1, run_dir / "samples.png")
        between()
        animate_samples(snapshots, run_dir / "training.gif")
        between()
        written += [run_dir / "samples.png", run_dir / "training.gif"]
        from gankit.viz.ganlab import draw_ganlab_run

        written += draw_ganlab_run(run_dir, animate=False)
        between()
    return written
